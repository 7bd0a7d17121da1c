//! Unit tests of validation: pod ranges, endpoints, ports, URLs, dates, generations and etcd joins.

use super::*;

const BASE: &str = "cluster:\n  name: t\n  kubernetesVersion: \"1.36.0\"\n  apiServer: {endpoint: 10.0.0.1}\n  network: {serviceCIDR: 10.32.0.0/24, podCIDR: 10.200.0.0/22}\npki: {notBefore: \"2026-11-01T00:00:00Z\"}\nencryption: {keys: [key1]}\nnodes:\n  - {name: cp, internalIP: 10.0.0.2, roles: [controlplane, etcd]}\n";

fn pods(extra: &str) -> Result<Vec<(String, Option<String>)>, Error> {
    let c = load("t.yaml", format!("{BASE}{extra}").as_bytes())?;
    Ok(c.topology.nodes.iter().map(|n| (n.name.to_string(), n.pod_cidr.map(|c| c.to_string()))).collect())
}

fn errors(yaml: &str) -> String {
    load("t.yaml", yaml.as_bytes()).err().map(|e| e.to_string()).unwrap_or_default()
}

fn warnings(yaml: &str) -> String {
    let c = load("t.yaml", yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    c.warnings.iter().map(|w| format!("{w}\n")).collect()
}

const WORKER: &str = "  - {name: w, internalIP: 10.0.0.3, roles: [worker]}\n";

fn with_endpoint(endpoint: &str, nodes: &str) -> String {
    format!("{BASE}{nodes}").replace("endpoint: 10.0.0.1", &format!("endpoint: \"{endpoint}\""))
}

#[test]
fn endpoints_that_can_never_work_are_rejected() {
    for (endpoint, why) in [
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("169.254.169.254", "metadata"),
        ("10.32.0.1", "inside serviceCIDR"),
        ("10.200.1.7", "inside podCIDR"),
        ("10.0.0.3", "node w's address, and it runs no API server"),
        ("127.0.0.1", "loopback endpoint in a cluster of 2 nodes"),
        ("localhost", "loopback endpoint in a cluster of 2 nodes"),
    ] {
        let e = errors(&with_endpoint(endpoint, WORKER));
        assert!(e.contains("cluster.apiServer.endpoint") && e.contains(why), "{endpoint}: {e}");
    }
    // Loopback only works for local test clusters: warned about, on one node or all-loopback nodes.
    assert!(warnings(&with_endpoint("127.0.0.1", "")).contains("loopback endpoint"));
    let local = with_endpoint("127.0.0.1", "  - {name: w, internalIP: 127.0.20.1, roles: [worker]}\n")
        .replace("internalIP: 10.0.0.2", "internalIP: 127.0.10.1");
    assert!(warnings(&local).contains("loopback endpoint"));
    // A controlplane's own address is fine for one controlplane.
    assert_eq!(errors(&with_endpoint("10.0.0.2", WORKER)), "");
}

#[test]
fn api_ports_are_checked_against_what_runs_beside_the_apiserver() {
    let with_port =
        |p: &str| format!("{BASE}{WORKER}").replace("endpoint: 10.0.0.1}", &format!("endpoint: 10.0.0.1, port: {p}}}"));
    for (port, owner) in [
        ("2379", "etcd (clients)"),
        ("2380", "etcd (peers)"),
        ("10257", "kube-controller-manager"),
        ("10259", "kube-scheduler"),
        ("22", "SSH"),
    ] {
        let e = errors(&with_port(port));
        assert!(
            e.contains(&format!("cluster.apiServer.port: {port} is already used by {owner} on node cp")),
            "{port}: {e}"
        );
    }
    // The kubelet's port collides only where a kubelet runs beside the apiserver.
    assert_eq!(errors(&with_port("10250")), "");
    let aio = with_port("10250").replace("roles: [controlplane, etcd]", "roles: [controlplane, etcd, worker]");
    assert!(errors(&aio).contains("10250 is already used by kubelet"), "{}", errors(&aio));
    for bad in ["70000", "0", "-1"] {
        let e = errors(&with_port(bad));
        assert!(e.contains(&format!("cluster.apiServer.port: {bad} is not a port: a port must be 1-65535")), "{e}");
    }
    assert_eq!(errors(&with_port("8443")), "");
}

#[test]
fn node_addresses_and_pod_ranges_that_cannot_work_are_rejected() {
    for (ip, why) in [
        ("255.255.255.255", "broadcast"),
        ("169.254.169.254", "metadata"),
        ("169.254.3.4", "link-local"),
        ("fe80::1", "link-local"),
    ] {
        let e = errors(&format!("{BASE}  - {{name: w, internalIP: \"{ip}\", roles: [worker]}}\n"));
        assert!(e.contains(&format!("nodes[1].internalIP: {ip} is")) && e.contains(why), "{ip}: {e}");
    }
    let mask = |m: u8| {
        format!("{BASE}{WORKER}")
            .replace("podCIDR: 10.200.0.0/22}", &format!("podCIDR: 10.200.0.0/22, nodeCIDRMaskSize: {m}}}"))
    };
    for m in [31, 32] {
        assert!(
            errors(&mask(m))
                .contains(&format!("/{m} does not fit podCIDR 10.200.0.0/22: it must lie between /22 and /30")),
            "{}",
            errors(&mask(m))
        );
    }
    assert_eq!(errors(&mask(30)), "");
    let tiny = format!("{BASE}  - {{name: w, internalIP: 10.0.0.3, roles: [worker], podCIDR: 10.200.0.4/31}}\n");
    assert!(errors(&tiny).contains("10.200.0.4/31 has no room for pods"), "{}", errors(&tiny));
}

#[test]
fn only_etcd_members_join_a_running_etcd_cluster() {
    let w =
        format!("{BASE}  - {{name: w, internalIP: 10.0.0.3, roles: [worker], etcdInitialClusterState: existing}}\n");
    assert!(errors(&w).contains("nodes[1].etcdInitialClusterState: only etcd members have it"), "{}", errors(&w));
    let m = format!("{BASE}  - {{name: e, internalIP: 10.0.0.4, roles: [etcd], etcdInitialClusterState: existing}}\n");
    let c = load("t.yaml", m.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let joins: Vec<bool> = c.topology.nodes.iter().map(|n| n.joins_etcd()).collect();
    assert_eq!(joins, [false, true]);
    let bad = m.replace("existing", "joined");
    assert!(
        errors(&bad).contains("t.yaml:10:77: unknown variant `joined`, expected one of new, existing"),
        "{}",
        errors(&bad)
    );
}

#[test]
fn download_urls_are_plain_https_without_credentials() {
    let with = |u: &str| format!("{BASE}binaries: {{baseURL: \"{u}\"}}\n");
    let e = errors(&with("https://user:pass@mirror.example/k8s"));
    assert!(e.contains("carries credentials") && e.contains("reviewed and committed"), "{e}");
    assert!(errors(&with("https://user@mirror.example")).contains("carries credentials"));
    for ok in
        ["https://[fd00::1]:8443/k8s", "https://10.1.2.3/r", "https://mirror.example:8080", "https://dl.k8s.io/release"]
    {
        assert_eq!(errors(&with(ok)), "", "{ok}");
    }
    for (bad, why) in [
        ("https://mirror.example:99999/x", "port \"99999\" is not 1-65535"),
        ("https://mirror.example:0", "is not 1-65535"),
        ("https://[fd00::1/x", "must be in brackets"),
        ("https://[nope]:1/x", "is not an IPv6 address"),
        ("http://mirror.example", "must be an https:// URL"),
        ("https://bad_host/x", "is not a DNS name"),
        ("https://m.example/a b", "the path may hold only"),
        ("https://m.example/x/", "must not end in a slash"),
    ] {
        let e = errors(&with(bad));
        assert!(e.contains("binaries.baseURL") && e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn dates_are_bounded_to_what_certificates_hold() {
    let with = |nb: &str, days: u32| {
        BASE.replace("notBefore: \"2026-11-01T00:00:00Z\"}", &format!("notBefore: \"{nb}\", caValidityDays: {days}}}"))
    };
    let e = errors(&with("9990-06-01T00:00:00Z", 3650));
    assert!(
        e.contains(
            "pki.caValidityDays: 3650 days from pki.notBefore 9990-06-01T00:00:00Z ends after 9999-12-31T23:59:59Z"
        ),
        "{e}"
    );
    assert!(errors(&with("0000-01-01T00:00:00Z", 3650)).contains("is before 1950-01-01"));
    assert!(errors(&with("1949-12-31T23:59:59Z", 3650)).contains("is before 1950-01-01"));
    // The bounds themselves render.
    for (nb, days) in [("1950-01-01T00:00:00Z", 365), ("9998-12-31T23:59:59Z", 365)] {
        let c = load("t.yaml", with(nb, days).as_bytes()).unwrap_or_else(|e| panic!("{nb}: {e}"));
        crate::render(&c.topology, &crate::Secrets::from_seed([1; 32])).unwrap_or_else(|e| panic!("{nb}: {e}"));
    }
}

#[test]
fn messages_name_the_fix_and_quote_at_most_80_characters() {
    let e = errors(&BASE.replace("name: t\n", "name: Prod\n"));
    assert!(
        e.contains("cluster.name: \"Prod\" is not a DNS-1123 label: names must be lower-case (did you mean \"prod\"?)"),
        "{e}"
    );
    let e = errors(&BASE.replace("{name: cp,", "{name: CP_1,"));
    assert!(e.contains("names must be lower-case, with only a-z, 0-9 and '-'"), "{e}");
    let e = errors(&BASE.replace("endpoint: 10.0.0.1", "endpoint: API.example.com"));
    assert!(e.contains("names must be lower-case (did you mean \"api.example.com\"?)"), "{e}");
    for dual in ["serviceCIDR: \"10.32.0.0/24,fd00::/108\"", "serviceCIDR: [10.32.0.0/24, \"fd00::/108\"]"] {
        let e = errors(&BASE.replace("serviceCIDR: 10.32.0.0/24", dual));
        assert!(
            e.contains("cluster.network.serviceCIDR") && e.contains("dual-stack") && e.contains("not supported yet"),
            "{dual}: {e}"
        );
        assert!(!e.contains("prefix must be"), "{e}");
    }
    let long = "x".repeat(500);
    let e = errors(&BASE.replace("name: t\n", &format!("name: {long}\n")));
    assert!(e.contains(&format!("\"{}…\"", "x".repeat(80))) && !e.contains(&"x".repeat(81)), "{e}");
}

/// The reported case: a huge explicit range and many small automatic ones (more slots than the
/// old per-slot marking covered).
#[test]
fn allocation_never_overlaps_a_huge_explicit_range() -> Result<(), Error> {
    let mut y = BASE
        .replace("10.0.0.", "192.168.0.")
        .replace("podCIDR: 10.200.0.0/22}", "podCIDR: 10.0.0.0/8, nodeCIDRMaskSize: 30}")
        .replace("serviceCIDR: 10.32.0.0/24", "serviceCIDR: 172.16.0.0/24");
    y.push_str("  - {name: big, internalIP: 192.168.1.1, roles: [worker], podCIDR: 10.0.0.0/9}\n");
    for i in 0..12 {
        y.push_str(&format!("  - {{name: w{i}, internalIP: 192.168.2.{}, roles: [worker]}}\n", i + 1));
    }
    let c = load("t.yaml", y.as_bytes())?;
    let big = Cidr::parse("10.0.0.0/9").map_err(|e| Error::internal("t", e))?;
    for n in c.topology.nodes.iter().filter(|n| n.name.starts_with('w')) {
        let r = n.pod_cidr.ok_or_else(|| Error::internal("t", "no range"))?;
        assert!(!r.overlaps(&big), "{} got {r} inside {big}", n.name);
    }
    Ok(())
}

mod allocation {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
        /// Whatever the explicit ranges (any size, any place) and automatic workers, no two pod
        /// ranges overlap, or the topology is rejected for lack of room.
        #[test]
        fn pod_ranges_never_overlap(
            cluster_prefix in 8u8..=20,
            extra in 0u8..=22,
            explicit in prop::collection::vec((0u32..64, 0u8..=12), 0..5),
            autos in 0usize..20,
        ) {
            let mask = (cluster_prefix + extra).min(30);
            let cluster = Cidr::parse(&format!("10.0.0.0/{cluster_prefix}")).unwrap();
            let mut y = BASE
                .replace("10.0.0.", "192.168.0.")
                .replace("podCIDR: 10.200.0.0/22}", &format!("podCIDR: 10.0.0.0/{cluster_prefix}, nodeCIDRMaskSize: {mask}}}"))
                .replace("serviceCIDR: 10.32.0.0/24", "serviceCIDR: 172.16.0.0/24");
            let mut placed: Vec<Cidr> = Vec::new();
            for (i, (slot, grow)) in explicit.iter().enumerate() {
                let prefix = (cluster_prefix + grow).min(30);
                let Some(r) = cluster.subnet(prefix, u128::from(*slot) % cluster.subnet_count(prefix).unwrap()) else { continue };
                if placed.iter().any(|p| p.overlaps(&r)) { continue }
                placed.push(r);
                y.push_str(&format!("  - {{name: e{i}, internalIP: 192.168.1.{}, roles: [worker], podCIDR: {r}}}\n", i + 1));
            }
            for i in 0..autos {
                y.push_str(&format!("  - {{name: a{i}, internalIP: 192.168.2.{}, roles: [worker]}}\n", i + 1));
            }
            match load("t.yaml", y.as_bytes()) {
                Ok(c) => {
                    let ranges: Vec<Cidr> = c.topology.nodes.iter().filter_map(|n| n.pod_cidr).collect();
                    prop_assert_eq!(ranges.len(), placed.len() + autos);
                    for (i, a) in ranges.iter().enumerate() {
                        prop_assert!(cluster.covers(a), "{} outside {}", a, cluster);
                        for b in &ranges[i + 1..] {
                            prop_assert!(!a.overlaps(b), "{} overlaps {}", a, b);
                        }
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("free /"), "{}", e),
            }
        }
    }
}

#[test]
fn pod_ranges_are_stable_when_nodes_are_appended() -> Result<(), Error> {
    let a =
        "  - {name: a, internalIP: 10.0.1.1, roles: [worker]}\n  - {name: b, internalIP: 10.0.1.2, roles: [worker]}\n";
    let c = "  - {name: c, internalIP: 10.0.1.3, roles: [worker]}\n";
    let two = pods(a)?;
    let three = pods(&format!("{a}{c}"))?;
    assert_eq!(two[..], three[..3]);
    let all: BTreeSet<_> = three.iter().filter_map(|(_, p)| p.clone()).collect();
    assert_eq!(all.len(), 3, "ranges must be distinct: {three:?}");
    assert!(three[0].1.is_none(), "controlplane-only nodes get no pod range");
    Ok(())
}

#[test]
fn allocation_skips_explicit_ranges_and_reports_exhaustion() -> Result<(), Error> {
    // /22 holds four /24s: three explicit, one left for the automatic worker.
    let explicit = "  - {name: a, internalIP: 10.0.1.1, roles: [worker], podCIDR: 10.200.0.0/24}\n  - {name: b, internalIP: 10.0.1.2, roles: [worker], podCIDR: 10.200.1.0/24}\n  - {name: c, internalIP: 10.0.1.3, roles: [worker], podCIDR: 10.200.3.0/24}\n";
    let d = "  - {name: d, internalIP: 10.0.1.4, roles: [worker]}\n";
    let got = pods(&format!("{explicit}{d}"))?;
    assert_eq!(got[4].1.as_deref(), Some("10.200.2.0/24"));
    let e = "  - {name: e, internalIP: 10.0.1.5, roles: [worker]}\n";
    let err = pods(&format!("{explicit}{d}{e}")).map(|_| ()).unwrap_err().to_string();
    assert!(err.contains("holds 1 free /24 ranges but 2 workers need one"), "{err}");
    Ok(())
}
