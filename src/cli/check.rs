//! What `check` prints besides problems: the summary, notes on the version, and the pod ranges.

use crate::model::{Checked, Node, Role, Topology};

/// What `check` says about the Kubernetes version and the nodes it needs.
pub fn notes(t: &Topology) -> String {
    let mut s = String::new();
    if t.version.minor >= 35 {
        s.push_str(&format!(
            "note: Kubernetes {} kubelets refuse hosts with cgroup v1 (failCgroupV1): workers need cgroup v2 (Ubuntu 22.04+, Debian 11+; stat -fc %T /sys/fs/cgroup says cgroup2fs)\n",
            t.version
        ));
    }
    s
}

/// Every worker's pod range, saying which ones were allocated (hashed from the node's name).
pub fn pod_ranges(t: &Topology) -> String {
    let workers: Vec<&Node> = t.nodes_with(Role::Worker).collect();
    if workers.is_empty() {
        return String::new();
    }
    let mut s = String::from("pod ranges:\n");
    for n in workers {
        let range = n.pod_cidr.map(|c| c.to_string()).unwrap_or_default();
        let how = if n.pod_cidr_allocated { "allocated (set podCIDR to choose)" } else { "from the topology" };
        s.push_str(&format!("  {:<34} {:<20} {how}\n", n.name, range));
    }
    s
}

pub fn summary(c: &Checked) -> String {
    let t = &c.topology;
    let count = |r: Role| t.nodes_with(r).count();
    let etcd = count(Role::Etcd);
    let lbs = count(Role::LoadBalancer);
    format!(
        "ok: {} (Kubernetes {}), {} nodes: {} controlplane, {} etcd, {} worker{}; endpoint {}\n\
         etcd: {} member{}, quorum {}, tolerates {} failure{}{}",
        t.name,
        t.version,
        t.nodes.len(),
        count(Role::ControlPlane),
        etcd,
        count(Role::Worker),
        if lbs > 0 { format!(", {lbs} loadbalancer") } else { String::new() },
        t.endpoint_url(),
        etcd,
        if etcd == 1 { "" } else { "s" },
        etcd / 2 + 1,
        (etcd - 1) / 2,
        if (etcd - 1) / 2 == 1 { "" } else { "s" },
        if c.warnings.is_empty() { String::new() } else { format!("; {} warning(s)", c.warnings.len()) }
    )
}
