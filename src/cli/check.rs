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

/// When the leaves and the CA generations expire, measured at `at`; within 30 days, which field to
/// change (README, Day 2).
pub fn expiry(t: &Topology, at: time::OffsetDateTime) -> String {
    let day = |d: time::OffsetDateTime| crate::fmt::rfc3339(d).unwrap_or_default();
    let left = |end: time::OffsetDateTime| (end - at).whole_days();
    let (_, leaf_end) = t.leaf_validity();
    let mut s = format!(
        "expiry at {}: leaves {} ({} days left, signed by CA generation {})",
        day(at),
        day(leaf_end),
        left(leaf_end),
        t.signing_ca()
    );
    for g in t.trusted_cas() {
        if let Some((_, end)) = t.ca_validity(*g) {
            s.push_str(&format!("; CA generation {g} {} ({} days left)", day(end), left(end)));
        }
    }
    s.push('\n');
    if left(leaf_end) < 30 {
        s.push_str(&format!(
            "renew: the leaves end {}: set pki.leafNotBefore to today (every leaf re-issued from it, same keys, CAs unchanged), render, run hardway plan and roll out (README: Day 2)\n",
            day(leaf_end)
        ));
    }
    for g in t.trusted_cas() {
        if let Some((_, end)) = t.ca_validity(*g) {
            if left(end) < 30 {
                s.push_str(&format!(
                    "rotate: CA generation {g} ends {}: add pki.caGenerations.{} and trust it, then sign with it, then drop {g} (README: Day 2)\n",
                    day(end),
                    t.trusted_cas().iter().max().copied().unwrap_or(*g) + 1
                ));
            }
        }
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
