//! Cluster-level pieces: add-on manifests (kubernetes-validate), HAProxy (haproxy -c), TLS bootstrap,
//! pod routes (applied by the generated script inside a private network namespace), apply order.

use crate::common::*;
use hardway::Bundle;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;

fn golden(case: &str) -> Bundle {
    let dir = repo().join("golden").join(case);
    render_files(&dir.join("topology.yaml"), &dir.join("seed")).unwrap()
}

fn index(b: &Bundle) -> Value {
    serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap()
}

fn text_of(b: &Bundle, path: &str) -> String {
    String::from_utf8(b.get(path).unwrap_or_else(|| panic!("{path} missing")).bytes.clone()).unwrap()
}

const CASES: &[&str] = &["demo", "ha-loadbalancer", "bootstrap", "version-1.33", "version-1.37", "external-etcd"];

#[test]
fn every_manifest_passes_kubernetes_validate_for_the_cluster_version() {
    let Some(kv) = tool("kubernetes-validate") else { return };
    for case in CASES {
        let b = golden(case);
        let idx = index(&b);
        let version = idx["kubernetesVersion"].as_str().unwrap();
        let minor: Vec<&str> = version.split('.').collect();
        let t = TempDir::new(&format!("kv-{case}"));
        write_bundle(&b, t.path());
        let manifests: Vec<String> =
            idx["manifests"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().into()).collect();
        assert!(manifests.len() >= 3, "{case}: {manifests:?}");
        let o = run(Command::new(&kv)
            .args(["--strict", "-k", &format!("{}.{}.0", minor[0], minor[1])])
            .args(manifests.iter().map(|m| t.join(m))));
        let out = format!("{}{}", text(&o.stdout), text(&o.stderr));
        assert!(o.status.success() && !out.contains("ERROR"), "{case}: {out}");
        assert!(out.matches("passed").count() >= 9, "{case}: {out}");
    }
    // The validator does reject a broken manifest.
    let t = TempDir::new("kv-bad");
    let bad = t.join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: \"53\"}], bogus: 1}\n",
    )
    .unwrap();
    let o = run(Command::new(&kv).args(["--strict", "-k", "1.36.0"]).arg(&bad));
    assert!(!o.status.success(), "kubernetes-validate accepted a broken Service");
}

#[test]
fn coredns_serves_the_cluster_domain_at_the_kubelets_dns_address() {
    let b = golden("external-etcd");
    let coredns = text_of(&b, "manifests/02-coredns.yaml");
    assert!(coredns.contains("kubernetes k8s.internal in-addr.arpa ip6.arpa {"), "{coredns}");
    assert!(coredns.contains("clusterIP: \"10.32.0.10\""));
    assert!(coredns.contains("replicas: 2") && coredns.contains("podAntiAffinity"));
    // kubeadm's CoreDNS for the cluster's minor (golden external-etcd: 1.37, kubeadm v1.37.2's constant).
    assert!(coredns.contains("registry.k8s.io/coredns/coredns:v1.14.6"), "{coredns}");
    let kubelet = text_of(&b, "nodes/worker-a/kubelet-config.yaml");
    assert!(kubelet.contains("  - \"10.32.0.10\"") && kubelet.contains("clusterDomain: \"k8s.internal\""));
    // The apiserver-to-kubelet binding names the identity of the apiserver's kubelet client certificate.
    let rbac = text_of(&b, "manifests/01-apiserver-to-kubelet-rbac.yaml");
    assert!(rbac.contains("name: \"kube-apiserver-kubelet-client\""), "{rbac}");
}

#[test]
fn haproxy_accepts_the_generated_configuration() {
    let b = golden("ha-loadbalancer");
    let cfg = text_of(&b, "config/haproxy/haproxy.cfg");
    for cp in 0..5 {
        assert!(cfg.contains(&format!("server cp-{cp} 10.0.0.1{cp}:6443")), "{cfg}");
    }
    let idx = index(&b);
    assert_eq!(idx["apiServer"]["targets"].as_array().unwrap().len(), 5);
    assert_eq!(idx["apiServer"]["loadBalancers"][0], "lb-0");
    assert_eq!(idx["etcd"]["failureTolerance"], 2);
    assert_eq!(idx["etcd"]["topology"], "external");
    let lb = idx["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "lb-0").unwrap().clone();
    assert_eq!(lb["units"], serde_json::json!(["haproxy.service"]));
    // HAProxy needs two descriptors per connection: maxconn must fit the drop-in's LimitNOFILE (a host
    // with a 20,000 hard limit refused the 40,000 that maxconn 20000 wanted).
    let dropin = text_of(&b, "config/systemd/haproxy.service.d/10-hardway.conf");
    let limit: u64 = dropin.lines().find_map(|l| l.strip_prefix("LimitNOFILE=")).unwrap().parse().unwrap();
    let maxconn: u64 = cfg.lines().find_map(|l| l.trim().strip_prefix("maxconn ")).unwrap().parse().unwrap();
    assert!(2 * maxconn + 100 <= limit && limit <= 20_000, "maxconn {maxconn}, LimitNOFILE {limit}");
    assert!(lb["files"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "/etc/systemd/system/haproxy.service.d/10-hardway.conf"));
    let Some(haproxy) = tool("haproxy") else { return };
    let t = TempDir::new("haproxy");
    write_bundle(&b, t.path());
    // The CA file the health checks verify against, at its bundle path.
    let ca = t.join("pki/kubernetes-ca.crt");
    let cfg_path = t.join("haproxy.cfg");
    std::fs::write(&cfg_path, cfg.replace("/etc/haproxy/kubernetes-ca.crt", ca.to_str().unwrap())).unwrap();
    let o = run(Command::new(&haproxy).arg("-c").arg("-f").arg(&cfg_path));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    std::fs::write(
        &cfg_path,
        format!("{cfg}\n    bogus-directive 1\n").replace("/etc/haproxy/kubernetes-ca.crt", ca.to_str().unwrap()),
    )
    .unwrap();
    assert!(!run(Command::new(&haproxy).arg("-c").arg("-f").arg(&cfg_path)).status.success());
}

#[derive(Deserialize)]
struct SecretDoc {
    metadata: BTreeMap<String, String>,
    #[serde(rename = "stringData")]
    string_data: BTreeMap<String, String>,
}

#[test]
fn bootstrap_workers_hold_no_ca_signed_key_and_their_token_matches_the_secret() {
    let b = golden("bootstrap");
    let idx = index(&b);
    let secrets_yaml = text_of(&b, "manifests/04-bootstrap-token-secrets.yaml");
    let docs: Vec<SecretDoc> = secrets_yaml
        .split("\n---\n")
        .skip(1)
        .map(|d| {
            #[derive(Deserialize)]
            struct Full {
                metadata: BTreeMap<String, String>,
                #[serde(rename = "stringData")]
                string_data: BTreeMap<String, String>,
                #[serde(rename = "type")]
                kind: String,
            }
            let f: Full = serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}"));
            assert_eq!(f.kind, "bootstrap.kubernetes.io/token");
            SecretDoc { metadata: f.metadata, string_data: f.string_data }
        })
        .collect();
    assert_eq!(docs.len(), 1, "shared mode: one token");
    let secret = &docs[0];
    let token = format!("{}.{}", secret.string_data["token-id"], secret.string_data["token-secret"]);
    assert_eq!(secret.metadata["name"], format!("bootstrap-token-{}", secret.string_data["token-id"]));
    assert_eq!(secret.metadata["namespace"], "kube-system");

    let kc = text_of(&b, "kubeconfigs/bootstrap-kubelet.kubeconfig");
    assert!(kc.contains(&format!("token: \"{token}\"")), "{kc}");
    assert!(kc.contains(&format!("system:bootstrap:{}", secret.string_data["token-id"])));

    for node in idx["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        let files = node["files"].as_array().unwrap();
        let bootstraps = name == "w-0" || name == "w-1";
        if !name.starts_with("w-") {
            continue;
        }
        for f in files {
            let bytes = &b.get(f["source"].as_str().unwrap()).unwrap().bytes;
            let has_key = String::from_utf8_lossy(bytes).contains("PRIVATE KEY")
                || bytes.windows(20).any(|w| w == b"client-key-data: \"LS");
            if bootstraps {
                assert!(!has_key, "{name}: {} holds a private key", f["path"]);
            }
        }
        let paths: Vec<&str> = files.iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(paths.contains(&"/etc/kubernetes/bootstrap-kubelet.conf"), bootstraps, "{name}");
        assert_eq!(paths.contains(&"/var/lib/kubelet/pki/kubelet.key"), !bootstraps, "{name}");
        let unit = text_of(&b, &format!("nodes/{name}/systemd/kubelet.service"));
        assert_eq!(unit.contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf"), bootstraps);
        let cfg = text_of(&b, &format!("nodes/{name}/kubelet-config.yaml"));
        assert_eq!(cfg.contains("rotateCertificates: true") && cfg.contains("serverTLSBootstrap: true"), bootstraps);
    }
    // Only the certificate-mode worker has kubelet certificates.
    let kubelet_certs: Vec<&str> = idx["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("kubelet-"))
        .map(|c| c["node"].as_str().unwrap())
        .collect();
    assert_eq!(kubelet_certs, ["w-2", "w-2"]);
    let apiserver = text_of(&b, "nodes/cp-0/systemd/kube-apiserver.service");
    assert!(apiserver.contains("--enable-bootstrap-token-auth=true"));
    let kcm = text_of(&b, "config/systemd/kube-controller-manager.service");
    assert!(
        kcm.contains("--cluster-signing-key-file=/etc/kubernetes/pki/ca.key")
            && kcm.contains("bootstrapsigner,tokencleaner")
    );
    // Certificate mode never enables bootstrap tokens.
    let demo = render_text(&demo_yaml(), 3);
    assert!(!text_of(&demo, "nodes/controller-0/systemd/kube-apiserver.service").contains("bootstrap-token"));
    assert!(demo.get("manifests/04-bootstrap-token-secrets.yaml").is_none());
}

#[derive(Deserialize)]
struct CloudConfig {
    write_files: Vec<WriteFile>,
}

#[derive(Deserialize)]
struct WriteFile {
    path: String,
    content: String,
}

/// In shared-token mode, two workers' user-data differ only in node-specific values.
#[test]
fn shared_token_workers_differ_only_in_node_values() {
    let b = golden("bootstrap");
    let idx = index(&b);
    let node = |n: &str| idx["nodes"].as_array().unwrap().iter().find(|x| x["name"] == n).unwrap().clone();
    let (a, c) = (node("w-0"), node("w-1"));
    let parse =
        |n: &Value| -> CloudConfig { serde_saphyr::from_str(&text_of(&b, n["userData"].as_str().unwrap())).unwrap() };
    let generic = |n: &Value, s: &str| {
        s.replace(n["name"].as_str().unwrap(), "NODE")
            .replace(n["internalIP"].as_str().unwrap(), "IP")
            .replace(n["podCIDR"].as_str().unwrap(), "PODCIDR")
    };
    let (ua, uc) = (parse(&a), parse(&c));
    assert_eq!(ua.write_files.len(), uc.write_files.len());
    for (fa, fc) in ua.write_files.iter().zip(&uc.write_files) {
        assert_eq!(fa.path, fc.path);
        if fa.path == "/etc/hardway/pod-routes" {
            assert_eq!(fa.content, fc.content, "the routes table is the same everywhere");
        } else {
            assert_eq!(generic(&a, &fa.content), generic(&c, &fc.content), "{}", fa.path);
        }
    }
    let whole_a = generic(&a, &text_of(&b, a["userData"].as_str().unwrap()));
    let whole_c = generic(&c, &text_of(&b, c["userData"].as_str().unwrap()));
    let differing: Vec<(&str, &str)> = whole_a.lines().zip(whole_c.lines()).filter(|(x, y)| x != y).collect();
    // Only the routes table lines (which name both nodes) may differ after substitution.
    assert!(differing.iter().all(|(x, _)| x.contains("10.1.1.1") || x.contains("IP")), "{differing:?}");
}

#[test]
fn pod_routes_cover_every_worker_once_and_no_node_routes_its_own_range() {
    for case in CASES {
        let idx = index(&golden(case));
        let routes = idx["routes"].as_array().unwrap();
        let workers: Vec<&Value> = idx["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["roles"].as_array().unwrap().iter().any(|r| r == "worker"))
            .collect();
        assert_eq!(routes.len(), workers.len(), "{case}");
        for w in &workers {
            let hits: Vec<&Value> = routes.iter().filter(|r| r["destination"] == w["podCIDR"]).collect();
            assert_eq!(hits.len(), 1, "{case}: {}", w["name"]);
            assert_eq!(hits[0]["via"], w["internalIP"]);
            assert_eq!(hits[0]["node"], w["name"]);
        }
    }
}

/// The generated routes.sh, run for real on a node of the demo (its address on a dummy interface,
/// inside a private network namespace), installs the other workers' routes and not its own.
#[test]
fn routes_script_installs_the_other_workers_ranges() {
    if tool("ip").is_none() || tool("unshare").is_none() || !netns_ok() {
        return;
    }
    let b = render_text(&demo_yaml(), 9);
    let t = TempDir::new("routes");
    write_bundle(&b, t.path());
    let table = t.join("config/network/pod-routes");
    let script = text_of(&b, "config/network/routes.sh").replace("/etc/hardway/pod-routes", table.to_str().unwrap());
    let script_path = t.join("routes.sh");
    std::fs::write(&script_path, script).unwrap();
    let setup = "ip link set lo up && ip link add v0 type veth peer name v1 && ip addr add 10.240.0.21/24 dev v0 \
                 && ip link set v0 up && ip link set v1 up && bash \"$0\" && ip route show";
    let o = run(Command::new("timeout").args(["60", "unshare", "-n", "sh", "-c", setup]).arg(&script_path));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let out = text(&o.stdout);
    assert!(out.contains("10.200.0.0/24 via 10.240.0.20 dev v0"), "{out}");
    assert!(out.contains("10.200.2.0/24 via 10.240.0.22 dev v0"), "{out}");
    assert!(!out.contains("10.200.1.0/24 via"), "worker-1 routed its own range: {out}");
}

/// `manifests/apply.sh` against a stand-in kubectl that behaves like a fresh cluster's RBAC and
/// records which identity (client certificate subject) applied each manifest.
#[test]
fn apply_script_bootstraps_the_admin_binding_as_super_admin_then_applies_as_admin() {
    if tool("openssl").is_none() {
        return;
    }
    let b = golden("bootstrap");
    let t = TempDir::new("apply");
    write_bundle(&b, t.path());
    let bin = t.join("fakebin");
    std::fs::create_dir(&bin).unwrap();
    std::fs::copy(repo().join("tests/support/kubectl_standin.sh"), bin.join("kubectl")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(bin.join("kubectl"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let log = t.join("calls");
    let apply = |args: &[&str]| {
        run(Command::new("sh")
            .arg(t.join("manifests/apply.sh"))
            .args(args)
            .current_dir(t.path())
            .env("PATH", &path)
            .env("STANDIN_LOG", &log))
    };
    let applied = || -> Vec<(String, String)> {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                let (m, s) = l.split_once(' ').unwrap();
                (m.to_string(), s.to_string())
            })
            .collect()
    };
    let want: Vec<String> = index(&b)["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().trim_start_matches("manifests/").to_string())
        .collect();
    assert_eq!(want[0], "00-admin-clusterrolebinding.yaml");

    // Fresh cluster, admin alone: refused at the first manifest, with the way out.
    let o = apply(&[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--bootstrap break-glass/super-admin.kubeconfig"), "{}", text(&o.stderr));
    assert!(applied().is_empty());

    // The documented first apply: the binding as super-admin, everything else as admin.
    let o = apply(&["--bootstrap", "break-glass/super-admin.kubeconfig"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let admin = "CN=kubernetes-admin,O=kubeadm:cluster-admins";
    let mut expected: Vec<(String, String)> =
        vec![(want[0].clone(), "CN=kubernetes-super-admin,O=system:masters".into())];
    expected.extend(want[1..].iter().map(|m| (m.clone(), admin.to_string())));
    assert_eq!(applied(), expected);

    // Later runs need no super-admin.
    std::fs::remove_file(&log).unwrap();
    let o = apply(&[]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(applied(), want.iter().map(|m| (m.clone(), admin.to_string())).collect::<Vec<_>>());
    assert_eq!(apply(&["--bootstrap", "nope.kubeconfig"]).status.code(), Some(2));
    assert_eq!(apply(&["--frobnicate"]).status.code(), Some(2));
}

#[test]
fn check_warns_about_a_single_point_of_failure_endpoint_and_explains_quorum() {
    let yaml = demo_yaml().replace("endpoint: 203.0.113.10", "endpoint: 10.240.0.11");
    let c = hardway::model::load("t.yaml", yaml.as_bytes()).unwrap();
    let w: Vec<String> = c.warnings.iter().map(|w| w.to_string()).collect();
    assert!(
        w.iter().any(|w| w
            .starts_with("cluster.apiServer.endpoint: 10.240.0.11 is controlplane node controller-1's own address")),
        "{w:?}"
    );
    let two =
        demo_yaml().replace("  - {name: controller-2, internalIP: 10.240.0.12, roles: [controlplane, etcd]}\n", "");
    let c = hardway::model::load("t.yaml", two.as_bytes()).unwrap();
    assert!(c.warnings.iter().any(|w| w.message.contains("2 etcd members tolerate 0 failure(s)")), "{:?}", c.warnings);
    let o = run(Command::new(bin()).arg("check").arg(repo().join("golden/ha-loadbalancer/topology.yaml")));
    assert!(text(&o.stdout).contains("etcd: 5 members, quorum 3, tolerates 2 failures"), "{}", text(&o.stdout));
}
