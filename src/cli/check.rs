//! What `check` prints besides problems: the summary, notes on the version, and the pod ranges.

use crate::model::{Checked, Node, Role, Topology};

/// What `check` says about the Kubernetes version and the nodes it needs.
pub(crate) fn notes(t: &Topology) -> String {
    let mut s = String::new();
    if t.version.minor >= 35 && t.fail_cgroup_v1 != Some(false) {
        s.push_str(&format!(
            "note: Kubernetes {} kubelets refuse hosts with cgroup v1 (failCgroupV1): workers need cgroup v2 (Ubuntu 24.04, Debian 12/13 boot with it; stat -fc %T /sys/fs/cgroup says cgroup2fs), or cluster.failCgroupV1: false\n",
            t.version
        ));
    } else if t.fail_cgroup_v1 == Some(false) {
        s.push_str("note: cluster.failCgroupV1: false: kubelets also run on cgroup v1 hosts (deprecated upstream)\n");
    }
    if t.restrict_oom_score_adj {
        s.push_str("note: cluster.restrictOOMScoreAdj: containerd keeps pods' OOM score adjustments at or above its own (for nodes without CAP_SYS_RESOURCE)\n");
    }
    s
}

/// Every worker's pod range, saying which ones were allocated (hashed from the node's name).
pub(crate) fn pod_ranges(t: &Topology) -> String {
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

/// When the leaves, the CA generations and the bootstrap tokens expire, measured at `at`; within 30 days,
/// which field to change (README, Day 2). The second value lists what has already expired at `at`
/// (then `check` fails).
pub(crate) fn expiry(t: &Topology, at: time::OffsetDateTime) -> (String, Vec<String>) {
    let day = |d: time::OffsetDateTime| crate::fmt::rfc3339(d).unwrap_or_default();
    let left = |end: time::OffsetDateTime| (end - at).whole_days();
    let state = |end: time::OffsetDateTime| {
        if end <= at {
            format!("expired {} days ago", (at - end).whole_days())
        } else {
            format!("{} days left", left(end))
        }
    };
    let mut expired = Vec::new();
    let (_, leaf_end) = t.leaf_validity();
    let mut s = format!(
        "expiry at {}: leaves {} ({}, signed by CA generation {})",
        day(at),
        day(leaf_end),
        state(leaf_end),
        t.signing_ca()
    );
    if leaf_end <= at {
        expired.push(format!(
            "the leaf certificates expired {} days ago ({})",
            (at - leaf_end).whole_days(),
            day(leaf_end)
        ));
    }
    for g in t.trusted_cas() {
        if let Some((_, end)) = t.ca_validity(*g) {
            s.push_str(&format!("; CA generation {g} {} ({})", day(end), state(end)));
            if end <= at {
                expired.push(format!("CA generation {g} expired {} days ago ({})", (at - end).whole_days(), day(end)));
            }
        }
    }
    if t.bootstrap_enabled() {
        let end = t.bootstrap_tokens_expire;
        s.push_str(&format!("; bootstrap tokens {} ({})", day(end), state(end)));
        if end <= at && t.nodes.iter().any(|n| n.bootstraps()) {
            expired.push(format!(
                "the bootstrap tokens expired {} days ago ({}): workers that join now need cluster.bootstrapTokensExpire later than today and a new cluster.bootstrapTokenGeneration",
                (at - end).whole_days(),
                day(end)
            ));
        }
    }
    s.push('\n');
    let next_ca = t.trusted_cas().iter().max().copied().unwrap_or(1) + 1;
    if left(leaf_end) < 30 {
        // A renewal from `at` must still end before the signing CA does (render refuses otherwise).
        let renewed_end = at + time::Duration::days(i64::from(t.cert_validity_days));
        let ca_end = t.ca_validity(t.signing_ca()).map(|(_, e)| e);
        if ca_end.is_some_and(|e| renewed_end > e) {
            s.push_str(&format!(
                "rotate the CAs first: the leaves end {}, but leaves renewed today would outlive CA generation {} ({}), which render refuses: add pki.caGenerations.{next_ca} and trust it, then sign with it (that re-issues every leaf), then drop generation {} (README: Day 2)\n",
                day(leaf_end),
                t.signing_ca(),
                ca_end.map(day).unwrap_or_default(),
                t.signing_ca()
            ));
        } else {
            s.push_str(&format!(
                "renew: the leaves end {}: set pki.leafNotBefore to today (every leaf re-issued from it, same keys, CAs unchanged), render, run hardway plan and roll out (README: Day 2)\n",
                day(leaf_end)
            ));
        }
    }
    for g in t.trusted_cas() {
        if let Some((_, end)) = t.ca_validity(*g) {
            if left(end) < 30 && end > at {
                s.push_str(&format!(
                    "rotate: CA generation {g} ends {}: add pki.caGenerations.{next_ca} and trust it, then sign with it, then drop {g} (README: Day 2)\n",
                    day(end),
                ));
            }
        }
    }
    (s, expired)
}

pub(crate) fn summary(c: &Checked) -> String {
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
