//! Validation of the nodes and the API endpoint: names, roles, addresses, ports that collide with
//! what runs on a node, and pod ranges.

use super::*;

/// The longest prefix a node's pod range may have: room for the network, the bridge gateway and pods.
pub(super) fn max_pod_prefix(c: Cidr) -> u8 {
    if c.is_ipv6() {
        126
    } else {
        30
    }
}

/// Ports that components of a node with these roles listen on, besides the API port, by owner.
pub fn node_ports(roles: &[Role]) -> Vec<(u16, &'static str)> {
    let mut v = vec![(22, "SSH")];
    if roles.contains(&Role::ControlPlane) {
        v.extend([(10257, "kube-controller-manager"), (10259, "kube-scheduler")]);
    }
    if roles.contains(&Role::Etcd) {
        v.extend([(2379, "etcd (clients)"), (2380, "etcd (peers)"), (2381, "etcd (metrics)")]);
    }
    if roles.contains(&Role::Worker) {
        v.extend([
            (10248, "kubelet (healthz)"),
            (10249, "kube-proxy (metrics)"),
            (10250, "kubelet"),
            (10256, "kube-proxy (healthz)"),
        ]);
    }
    v
}

/// Whether the address can never be dialled as a unicast endpoint or be a host's own address.
fn unusable_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        _ if ip.is_unspecified() => Some("the unspecified address"),
        _ if ip.is_multicast() => Some("a multicast address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(a) if a.octets() == [169, 254, 169, 254] => Some("the cloud metadata service's address"),
        IpAddr::V4(a) if a.is_link_local() => Some("a link-local address (not routed between hosts)"),
        IpAddr::V6(a) if a.is_unicast_link_local() => Some("a link-local address (not routed between hosts)"),
        _ => None,
    }
}

fn is_loopback_host(h: &Host) -> bool {
    match h {
        Host::Ip(ip) => ip.is_loopback(),
        Host::Dns(d) => d == "localhost" || d.ends_with(".localhost"),
    }
}

/// The API endpoint and port against the nodes: what can never work is an error, what only works
/// for local test clusters a warning.
pub(super) fn check_endpoint(
    c: &mut Collector,
    nodes: &[Node],
    endpoint: &Host,
    port: u16,
    service_cidr: Option<Cidr>,
    pod_cidr: Option<Cidr>,
) {
    const E: &str = "cluster.apiServer.endpoint";
    if let Host::Ip(ip) = endpoint {
        if let Some(what) = unusable_address(*ip) {
            c.err(E, format!("{ip} is {what}: clients cannot reach an API server there"));
        }
        if let Some(sc) = service_cidr.filter(|sc| sc.contains(*ip)) {
            c.err(
                E,
                format!("{ip} lies inside serviceCIDR {sc}: Service addresses only work through kube-proxy on a running node, but kubelets and kube-proxy need the endpoint to start; use the load balancer's or a controlplane's address"),
            );
        }
        if let Some(pc) = pod_cidr.filter(|pc| pc.contains(*ip)) {
            c.err(E, format!("{ip} lies inside podCIDR {pc}: pod addresses are not API servers"));
        }
        if let Some(n) = nodes.iter().find(|n| n.ips().contains(ip)) {
            if !n.has(Role::ControlPlane) && !n.has(Role::LoadBalancer) {
                c.err(
                    E,
                    format!(
                        "{ip} is node {}'s address, and it runs no API server (roles: {}); use a loadbalancer or controlplane address",
                        n.name,
                        n.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        let cps: Vec<&Node> = nodes.iter().filter(|n| n.has(Role::ControlPlane)).collect();
        if cps.len() > 1 {
            if let Some(n) = cps.iter().find(|n| n.ips().contains(ip)) {
                c.warn(
                    E,
                    format!(
                        "{ip} is controlplane node {}'s own address: with {} controlplanes the endpoint should be a load balancer, or clients lose the API when that node is down",
                        n.name,
                        cps.len()
                    ),
                );
            }
        }
    }
    if is_loopback_host(endpoint) {
        let all_local = nodes.iter().all(|n| n.internal_ip.is_loopback());
        if nodes.len() > 1 && !all_local {
            c.err(
                E,
                format!(
                    "{} is a loopback endpoint in a cluster of {} nodes: every other node would dial itself; use a load balancer's or a controlplane's address",
                    endpoint.as_string(),
                    nodes.len()
                ),
            );
        } else {
            c.warn(
                E,
                format!(
                    "{} is a loopback endpoint: only clients on the node itself reach it (local test clusters)",
                    endpoint.as_string()
                ),
            );
        }
    }
    // The API port must not be one that something else on a listening node already uses.
    for n in nodes.iter().filter(|n| n.has(Role::ControlPlane) || n.has(Role::LoadBalancer)) {
        if let Some((_, owner)) = node_ports(&n.roles).into_iter().find(|(p, _)| *p == port) {
            c.err(
                "cluster.apiServer.port",
                format!(
                    "{port} is already used by {owner} on node {}: choose another port (6443 is the usual one)",
                    n.name
                ),
            );
            break;
        }
    }
}

pub(super) fn validate_nodes(
    raw: &RawTopology,
    c: &mut Collector,
    service_cidr: Option<Cidr>,
    pod_cidr: Option<Cidr>,
    mask: Option<u8>,
) -> Option<Vec<Node>> {
    if raw.nodes.is_empty() {
        c.err("nodes", "at least one node is required");
        return None;
    }
    let before = c.problems.len();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut ips: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(raw.nodes.len());
    let family_v6 = service_cidr.map(|s| s.is_ipv6());
    for (i, rn) in raw.nodes.iter().enumerate() {
        let p = |f: &str| format!("nodes[{i}].{f}");
        if let Some(problem) = dns_label_problem(&rn.name) {
            c.err(p("name"), problem);
        }
        match names.get(&rn.name.to_ascii_lowercase()) {
            Some(j) => c.err(p("name"), format!("{} is already the name of nodes[{j}]", quoted(&rn.name))),
            None => {
                names.insert(rn.name.to_ascii_lowercase(), i);
            }
        }
        let mut check_ip = |field: &str, s: &str, c: &mut Collector| -> Option<IpAddr> {
            let Ok(ip) = s.parse::<IpAddr>() else {
                c.err(p(field), format!("{} is not an IP address", quoted(s)));
                return None;
            };
            if let Some(prev) = ips.get(&ip) {
                c.err(p(field), format!("{ip} is already used by {prev}"));
            } else {
                ips.insert(ip, format!("nodes[{i}].{field}"));
            }
            if let Some(what) = unusable_address(ip) {
                c.err(p(field), format!("{ip} is {what}: it cannot be a node address"));
            }
            if let Some(v6) = family_v6 {
                if ip.is_ipv6() != v6 && field == "internalIP" {
                    c.err(
                        p(field),
                        format!(
                            "{ip} is not of the cluster's IP family (serviceCIDR); dual-stack is not supported yet"
                        ),
                    );
                }
            }
            for (cidr, what) in [(service_cidr, "serviceCIDR"), (pod_cidr, "podCIDR")] {
                if let Some(cidr) = cidr {
                    if cidr.contains(ip) {
                        c.err(p(field), format!("{ip} lies inside the cluster {what} {cidr}"));
                    }
                }
            }
            if ip.is_loopback() {
                c.warn(p(field), format!("{ip} is a loopback address: only useful for local test clusters"));
            }
            Some(ip)
        };
        let internal_ip = check_ip("internalIP", &rn.internal_ip, c);
        let external_ip = rn.external_ip.as_ref().map(|s| check_ip("externalIP", s, c));

        let mut roles = Vec::new();
        if rn.roles.is_empty() {
            c.err(p("roles"), "at least one role is required (controlplane, etcd, worker, loadbalancer)");
        }
        for (k, r) in rn.roles.iter().enumerate() {
            match Role::parse(r) {
                Some(role) if roles.contains(&role) => {
                    c.err(format!("nodes[{i}].roles[{k}]"), format!("role {} is listed twice", quoted(r)))
                }
                Some(role) => roles.push(role),
                None => c.err(
                    format!("nodes[{i}].roles[{k}]"),
                    format!("unknown role {} (expected controlplane, etcd, worker or loadbalancer)", quoted(r)),
                ),
            }
        }
        roles.sort();
        if roles.contains(&Role::LoadBalancer) && roles.contains(&Role::ControlPlane) {
            c.err(p("roles"), "loadbalancer and controlplane cannot share a node: both listen on the API port");
        }
        if rn.kubelet_credentials.is_some() && !roles.contains(&Role::Worker) {
            c.err(
                p("kubeletCredentials"),
                "only workers run a kubelet; remove kubeletCredentials or add the worker role",
            );
        }
        if rn.etcd_initial_cluster_state.is_some() && !roles.contains(&Role::Etcd) {
            c.err(
                p("etcdInitialClusterState"),
                "only etcd members have it; remove etcdInitialClusterState or add the etcd role",
            );
        }
        let mut node_pod_cidr = None;
        if let Some(s) = &rn.pod_cidr {
            if !roles.contains(&Role::Worker) {
                c.err(p("podCIDR"), "only workers have a pod range; remove podCIDR or add the worker role");
            }
            match Cidr::parse(s) {
                Ok(nc) => {
                    if let Some(pc) = pod_cidr {
                        if !pc.covers(&nc) {
                            c.err(p("podCIDR"), format!("{nc} is not inside the cluster podCIDR {pc}"));
                        }
                    }
                    if nc.prefix() > max_pod_prefix(nc) {
                        c.err(
                            p("podCIDR"),
                            format!(
                                "{nc} has no room for pods: a node's range needs at least a /{}",
                                max_pod_prefix(nc)
                            ),
                        );
                    }
                    node_pod_cidr = Some(nc);
                }
                Err(e) => c.err(p("podCIDR"), e),
            }
        }
        let external_ok = !matches!(external_ip, Some(None));
        if let (Some(name), Some(internal_ip), true) = (Name::new(&rn.name), internal_ip, external_ok) {
            nodes.push(Node {
                name,
                internal_ip,
                external_ip: external_ip.flatten(),
                roles,
                pod_cidr: node_pod_cidr,
                pod_cidr_allocated: false,
                arch: rn.arch,
                binaries: rn.binaries.unwrap_or(raw.binaries.source),
                kubelet_credentials: rn.kubelet_credentials.unwrap_or(raw.cluster.kubelet_credentials),
                etcd_state: rn.etcd_initial_cluster_state.unwrap_or_default(),
            });
        }
    }

    let count = |r: Role| nodes.iter().filter(|n| n.has(r)).count();
    if c.problems.len() == before {
        if count(Role::ControlPlane) == 0 {
            c.err("nodes", "no node has the controlplane role");
        }
        let etcd = count(Role::Etcd);
        if etcd == 0 {
            c.err("nodes", "no node has the etcd role");
        } else if etcd > MAX_ETCD_MEMBERS {
            c.err("nodes", format!("{etcd} etcd members: more than {MAX_ETCD_MEMBERS} slows every write and adds no useful fault tolerance"));
        } else if etcd == 1 {
            c.warn("nodes", "1 etcd member: no HA, losing that node loses the cluster state");
        } else if etcd % 2 == 0 {
            c.warn(
                "nodes",
                format!(
                    "{etcd} etcd members tolerate {} failure(s), no more than {}: use an odd count",
                    (etcd - 1) / 2,
                    etcd - 1
                ),
            );
        }
    }

    // Pod ranges: explicit ones must not overlap; the rest are allocated.
    let mut explicit: Vec<(usize, Cidr)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(nc) = n.pod_cidr {
            if let Some((j, _)) = explicit.iter().find(|(_, o)| o.overlaps(&nc)) {
                c.err(format!("nodes[{i}].podCIDR"), format!("{nc} overlaps the podCIDR of nodes[{j}]"));
            }
            explicit.push((i, nc));
        }
    }
    if c.problems.len() != before {
        return None;
    }
    if let (Some(pc), Some(mask)) = (pod_cidr, mask) {
        if let Err(p) = super::pods::allocate(&mut nodes, pc, mask) {
            c.problems.push(p);
        }
    }
    (c.problems.len() == before).then_some(nodes)
}
