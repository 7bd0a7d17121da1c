//! `hardway plan OLD NEW`: what going from one rendered bundle to another means for a running cluster.
//! Both are read back (directories or zips, redacted or not, but alike) and compared by their
//! SHA256SUMS and index.json: per node the files that change and the services that pick them up (the
//! consumer table of catalog::node_files), the order of the rollout, the cluster steps, and verdicts
//! on transitions that are unsafe, each with the step that would have made it safe.

use crate::bundle::Bundle;
use crate::catalog::node_files::{consumer, Consumer};
use crate::error::{Error, Result};
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// How many kubelets (and their kube-proxies) restart together.
pub const BATCH: usize = 10;

#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    Added,
    Changed,
    Removed,
}

impl Change {
    fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Changed => '~',
            Change::Removed => '-',
        }
    }
}

#[derive(Debug, Serialize)]
pub struct FileChange {
    pub path: String,
    pub change: Change,
    /// The bundle file the node path comes from (in NEW, or OLD when removed).
    pub source: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePlan {
    pub name: String,
    /// `added`, `removed`, `changed` or `unchanged`.
    pub state: &'static str,
    pub files: Vec<FileChange>,
    /// Units to restart (after a daemon-reload where `daemon_reload`), in the node's unit order.
    pub restart: Vec<String>,
    pub daemon_reload: bool,
    /// install.sh changed: run it again (it restarts the node's units itself).
    pub rerun_install: bool,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    pub problem: String,
    /// The step that would have made the transition safe.
    pub safe_step: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub cluster: String,
    pub nodes: Vec<NodePlan>,
    /// Bundle files no node gets that changed (admin kubeconfigs, break-glass, manifests...).
    pub other_files: Vec<FileChange>,
    pub rollout: Vec<String>,
    pub cluster_steps: Vec<String>,
    pub unsafe_transitions: Vec<Verdict>,
}

impl Plan {
    pub fn safe(&self) -> bool {
        self.unsafe_transitions.is_empty()
    }
    pub fn no_changes(&self) -> bool {
        self.nodes.iter().all(|n| n.state == "unchanged") && self.other_files.is_empty()
    }
}

struct Side {
    index: Value,
    sums: BTreeMap<String, String>,
}

fn side(what: &str, b: &Bundle) -> Result<Side> {
    let bad = |m: String| Error::Input { file: what.into(), message: m };
    let index: Value = b
        .get("index.json")
        .and_then(|e| serde_json::from_slice(&e.bytes).ok())
        .ok_or_else(|| bad("index.json missing or not JSON: not a hardway bundle".into()))?;
    let sums_text = b.get("SHA256SUMS").ok_or_else(|| bad("SHA256SUMS missing".into()))?;
    let text = std::str::from_utf8(&sums_text.bytes).map_err(|_| bad("SHA256SUMS is not text".into()))?;
    let mut sums = BTreeMap::new();
    for line in text.lines() {
        let (hash, path) = line.split_once("  ").ok_or_else(|| bad(format!("SHA256SUMS: malformed line {line:?}")))?;
        sums.insert(path.to_string(), hash.to_string());
    }
    Ok(Side { index, sums })
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(|x| x.as_str().map(String::from)).collect()
}

fn nums(v: &Value, default: &[u64]) -> Vec<u64> {
    let n: Vec<u64> = v.as_array().into_iter().flatten().filter_map(Value::as_u64).collect();
    if n.is_empty() {
        default.to_vec()
    } else {
        n
    }
}

/// node path -> (source, mode) of a node entry of index.json.
fn node_files(node: &Value) -> BTreeMap<String, (String, String)> {
    node["files"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| {
            Some((
                f["path"].as_str()?.to_string(),
                (f["source"].as_str()?.to_string(), f["mode"].as_str()?.to_string()),
            ))
        })
        .collect()
}

fn nodes_by_name(index: &Value) -> BTreeMap<String, Value> {
    index["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["name"].as_str()?.to_string(), n.clone())))
        .collect()
}

/// The plan of going from `old` to `new` (labels name them in messages).
pub fn plan(old_label: &str, old: &Bundle, new_label: &str, new: &Bundle) -> Result<Plan> {
    let (o, n) = (side(old_label, old)?, side(new_label, new)?);
    if o.index["redacted"].as_bool().unwrap_or(false) != n.index["redacted"].as_bool().unwrap_or(false) {
        return Err(Error::Input {
            file: new_label.into(),
            message: "one bundle is redacted and the other is not: every secret would look changed; render both alike (--redact for a committed bundle)".into(),
        });
    }
    let cluster = n.index["cluster"].as_str().unwrap_or_default().to_string();
    let (old_nodes, new_nodes) = (nodes_by_name(&o.index), nodes_by_name(&n.index));
    let names: BTreeSet<&String> = old_nodes.keys().chain(new_nodes.keys()).collect();
    let mut nodes = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    // New node order first (then removed nodes), as index.json lists them.
    let new_order: Vec<String> = n.index["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x["name"].as_str().map(String::from))
        .collect();
    let mut ordered: Vec<&String> = new_order.iter().filter_map(|nm| names.get(nm).copied()).collect();
    ordered.extend(names.iter().filter(|nm| !new_nodes.contains_key(**nm)).copied());
    for name in ordered {
        let (on, nn) = (old_nodes.get(name), new_nodes.get(name));
        let of = on.map(node_files).unwrap_or_default();
        let nf = nn.map(node_files).unwrap_or_default();
        for (_, (src, _)) in of.iter().chain(nf.iter()) {
            placed.insert(src.clone());
        }
        let mut files = Vec::new();
        let paths: BTreeSet<&String> = of.keys().chain(nf.keys()).collect();
        for p in paths {
            let change = match (of.get(p), nf.get(p)) {
                (None, Some((s, _))) => Some((Change::Added, s)),
                (Some((s, _)), None) => Some((Change::Removed, s)),
                (Some((os, om)), Some((ns, nm))) => {
                    (o.sums.get(os) != n.sums.get(ns) || om != nm).then_some((Change::Changed, ns))
                }
                (None, None) => None,
            };
            if let Some((change, source)) = change {
                files.push(FileChange { path: p.clone(), change, source: source.clone() });
            }
        }
        let units: Vec<String> = nn.or(on).map(|x| strs(&x["units"])).unwrap_or_default();
        let runs = |u: &str| units.iter().any(|x| x == &format!("{u}.service")) || u.starts_with("systemd-");
        let mut restart: BTreeSet<String> = BTreeSet::new();
        let (mut daemon_reload, mut rerun_install) = (false, false);
        if nn.is_some() {
            for f in &files {
                match consumer(&f.path) {
                    Some(Consumer::Restart(us)) => restart.extend(us.iter().filter(|u| runs(u)).map(|u| u.to_string())),
                    Some(Consumer::Unit(u)) => {
                        daemon_reload = true;
                        if runs(u) {
                            restart.insert(u.to_string());
                        }
                    }
                    Some(Consumer::Install) => rerun_install = true,
                    Some(Consumer::Nothing) | None => {}
                }
            }
        }
        // In the node's unit order (dependency order), host services first.
        let mut restart_ordered: Vec<String> = restart.iter().filter(|u| u.starts_with("systemd-")).cloned().collect();
        restart_ordered
            .extend(units.iter().map(|u| u.trim_end_matches(".service").to_string()).filter(|u| restart.contains(u)));
        let state = match (on, nn) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            _ if files.is_empty() => "unchanged",
            _ => "changed",
        };
        nodes.push(NodePlan {
            name: name.clone(),
            state,
            files,
            restart: restart_ordered,
            daemon_reload,
            rerun_install,
        });
    }
    // Bundle files no node gets (admin kubeconfigs, break-glass, manifests, scripts).
    let mut other_files = Vec::new();
    let bookkeeping = ["SHA256SUMS", "index.json", "README.md"];
    let all: BTreeSet<&String> = o.sums.keys().chain(n.sums.keys()).collect();
    for p in all {
        if placed.contains(p)
            || bookkeeping.contains(&p.as_str())
            || p.starts_with("user-data/")
            || p.starts_with("nodes/")
        {
            continue;
        }
        let change = match (o.sums.get(p), n.sums.get(p)) {
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            (Some(a), Some(b)) if a != b => Some(Change::Changed),
            _ => None,
        };
        if let Some(change) = change {
            other_files.push(FileChange { path: p.clone(), change, source: p.clone() });
        }
    }
    let rollout = rollout(&nodes, &new_nodes);
    let cluster_steps = cluster_steps(&o.index, &n.index, &other_files);
    let unsafe_transitions = verdicts(&o.index, &n.index);
    Ok(Plan { cluster, nodes, other_files, rollout, cluster_steps, unsafe_transitions })
}

/// The order of the rollout: etcd members one at a time with a health check between, then the
/// apiservers one at a time, then controller-manager and scheduler, then load balancers, then
/// kubelets and kube-proxies in batches.
fn rollout(nodes: &[NodePlan], new_nodes: &BTreeMap<String, Value>) -> Vec<String> {
    let mut steps = Vec::new();
    let prepare = |n: &NodePlan| {
        let mut s = format!("on {}: install its {} changed file(s) (index.json nodes[].files)", n.name, n.files.len());
        if n.rerun_install {
            s.push_str(", run /usr/local/lib/hardway/install.sh (it restarts every unit of the node)");
        } else if n.daemon_reload {
            s.push_str(", systemctl daemon-reload");
        }
        s
    };
    let restarts = |n: &NodePlan, units: &[&str]| -> Vec<String> {
        n.restart.iter().filter(|u| units.contains(&u.as_str())).cloned().collect()
    };
    let changed: Vec<&NodePlan> = nodes.iter().filter(|n| n.state == "changed").collect();
    let mut prepared: BTreeSet<&str> = BTreeSet::new();
    let mut stage = |title: &str, units: &[&str], batch: usize, check: &str, steps: &mut Vec<String>| {
        let todo: Vec<(&NodePlan, Vec<String>)> = changed
            .iter()
            .map(|n| (*n, restarts(n, units)))
            .filter(|(n, r)| !r.is_empty() || (units.contains(&"*") && !prepared.contains(n.name.as_str())))
            .collect();
        if todo.is_empty() {
            return;
        }
        steps.push(title.to_string());
        for chunk in todo.chunks(batch) {
            let mut parts = Vec::new();
            for (n, r) in chunk {
                let mut s = String::new();
                if prepared.insert(n.name.as_str()) {
                    s = prepare(n);
                    s.push_str("; ");
                }
                if r.is_empty() {
                    s.push_str(&format!("on {}: nothing to restart", n.name));
                } else {
                    s.push_str(&format!("restart {} on {}", r.join(", "), n.name));
                }
                parts.push(s);
            }
            let mut line = format!("  - {}", parts.join(" | "));
            if !check.is_empty() {
                line.push_str(&format!("; then {check}"));
            }
            steps.push(line);
        }
    };
    stage(
        "host services (any order):",
        &["systemd-sysctl", "systemd-modules-load", "hardway-routes", "containerd"],
        BATCH,
        "",
        &mut steps,
    );
    stage(
        "etcd, one member at a time:",
        &["etcd"],
        1,
        "wait until `etcdctl endpoint health --cluster` (healthcheck client) reports every member healthy",
        &mut steps,
    );
    stage("kube-apiserver, one at a time:", &["kube-apiserver"], 1, "wait until its /readyz answers 200", &mut steps);
    stage(
        "kube-controller-manager and kube-scheduler:",
        &["kube-controller-manager", "kube-scheduler"],
        1,
        "",
        &mut steps,
    );
    stage("load balancers:", &["haproxy"], 1, "check that every apiserver is UP behind it", &mut steps);
    stage(
        &format!("kubelet and kube-proxy, in batches of up to {BATCH}:"),
        &["kubelet", "kube-proxy"],
        BATCH,
        "wait until the batch's nodes are Ready",
        &mut steps,
    );
    stage("the rest (files only):", &["*"], BATCH, "", &mut steps);
    for n in nodes.iter().filter(|n| n.state == "added") {
        let roles = new_nodes.get(&n.name).map(|x| strs(&x["roles"]).join(", ")).unwrap_or_default();
        steps.push(format!("new node {} ({roles}): boot it with its user-data (index.json nodes[].userData)", n.name));
    }
    for n in nodes.iter().filter(|n| n.state == "removed") {
        steps.push(format!(
            "removed node {}: drain it (kubectl drain), delete it (kubectl delete node), then retire the machine",
            n.name
        ));
    }
    steps
}

fn first_key(index: &Value) -> Option<String> {
    let provider = index["encryption"]["provider"].as_str().unwrap_or_default();
    index["encryption"]["keys"].as_array()?.first()?.as_str().map(|k| format!("{provider}/{k}"))
}

fn keys(index: &Value) -> Vec<String> {
    let provider = index["encryption"]["provider"].as_str().unwrap_or_default();
    strs(&index["encryption"]["keys"]).into_iter().map(|k| format!("{provider}/{k}")).collect()
}

fn cluster_steps(o: &Value, n: &Value, other: &[FileChange]) -> Vec<String> {
    let mut steps = Vec::new();
    let manifests: Vec<&str> = other
        .iter()
        .filter(|f| f.path.starts_with("manifests/") && f.path.ends_with(".yaml") && f.change != Change::Removed)
        .map(|f| f.path.as_str())
        .collect();
    if !manifests.is_empty() {
        steps.push(format!("apply the changed manifests ({}): sh manifests/apply.sh", manifests.join(", ")));
    }
    if first_key(o) != first_key(n) && keys(o).contains(&first_key(n).unwrap_or_default()) {
        steps.push("once every apiserver runs the new encryption config: re-encrypt every Secret with the key now first: kubectl get secrets -A -o json | kubectl replace -f -".into());
    }
    let ca_changed = o["pki"]["signingCA"] != n["pki"]["signingCA"] || o["pki"]["trustedCAs"] != n["pki"]["trustedCAs"];
    let sa_changed = o["pki"]["serviceAccountKeys"] != n["pki"]["serviceAccountKeys"];
    if ca_changed || sa_changed {
        steps.push("once every component restarted: restart the pods that mount service-account tokens or the cluster CA (kubectl rollout restart deployment,daemonset,statefulset -A), so they hold tokens and trust of the new keys".into());
    }
    if ca_changed {
        steps.push("if you publish kube-public/cluster-info (kubeadm-style joins): update its certificate-authority-data to the new trust bundle".into());
    }
    let off_node: Vec<&str> = other
        .iter()
        .filter(|f| f.path.ends_with(".kubeconfig") && f.change != Change::Removed)
        .map(|f| f.path.as_str())
        .collect();
    if !off_node.is_empty() {
        steps.push(format!("hand out the changed off-node kubeconfigs: {}", off_node.join(", ")));
    }
    let old_members = strs(&o["etcd"]["members"]);
    let new_members = strs(&n["etcd"]["members"]);
    for m in new_members.iter().filter(|m| !old_members.contains(m)) {
        let ip = n["nodes"].as_array().into_iter().flatten().find(|x| x["name"] == m.as_str());
        let peer = crate::model::net::url(ip.and_then(|x| x["internalIP"].as_str()).unwrap_or("<its address>"), 2380);
        steps.push(format!("etcd: before starting {m}, add it to the running cluster (from a healthy member): etcdctl member add {m} --peer-urls={peer}; its unit says --initial-cluster-state=existing"));
    }
    for m in old_members.iter().filter(|m| !new_members.contains(m)) {
        steps.push(format!("etcd: remove {m} from the cluster before retiring it: etcdctl member remove <its ID>"));
    }
    steps
}

fn verdicts(o: &Value, n: &Value) -> Vec<Verdict> {
    let mut v = Vec::new();
    let mut bad = |problem: String, safe_step: String| v.push(Verdict { problem, safe_step });
    let (o_sign, n_sign) = (o["pki"]["signingCA"].as_u64().unwrap_or(1), n["pki"]["signingCA"].as_u64().unwrap_or(1));
    let (o_trust, n_trust) = (nums(&o["pki"]["trustedCAs"], &[1]), nums(&n["pki"]["trustedCAs"], &[1]));
    if !o_trust.contains(&n_sign) {
        bad(
            format!("CA generation {n_sign} signs the new leaves, but the running cluster does not trust it yet (trustedCAs {o_trust:?}): nodes restarted first would present certificates the others reject"),
            format!("first render with pki.trustedCAs including {n_sign} and pki.signingCA: {o_sign}, roll that out everywhere, then sign with {n_sign}"),
        );
    }
    for g in o_trust.iter().filter(|g| !n_trust.contains(g)) {
        if *g == o_sign {
            bad(
                format!("CA generation {g} is no longer trusted, but it signed the leaves the running cluster uses: until every node has its new certificates, they are rejected"),
                format!("first re-issue every leaf with the new generation (pki.signingCA, keeping {g} in pki.trustedCAs) and roll that out, then drop {g}"),
            );
        }
    }
    let (ok, nk) = (keys(o), keys(n));
    if let Some(first) = first_key(n) {
        if !ok.contains(&first) {
            bad(
                format!("encryption key {first} encrypts at once, but the running apiservers do not know it: Secrets written by a restarted apiserver are unreadable to the others"),
                format!("first add {first} as the second key (encryption.keys: [{}, {}]), roll it out to every apiserver, then move it first", ok.first().map(|k| k.rsplit('/').next().unwrap_or(k)).unwrap_or("old"), first.rsplit('/').next().unwrap_or(&first)),
            );
        }
    }
    if let Some(first) = first_key(o) {
        if !nk.contains(&first) {
            bad(
                format!("encryption key {first}, which the running cluster writes with, is removed: Secrets it encrypted become unreadable"),
                format!("first promote another key, roll it out and re-encrypt every Secret (kubectl get secrets -A -o json | kubectl replace -f -), then remove {first}"),
            );
        }
    }
    let sa = |x: &Value| {
        (
            x["pki"]["serviceAccountKeys"]["signing"].as_u64().unwrap_or(1),
            nums(&x["pki"]["serviceAccountKeys"]["trusted"], &[1]),
        )
    };
    let ((os, ot), (ns, nt)) = (sa(o), sa(n));
    if !ot.contains(&ns) {
        bad(
            format!("service-account key generation {ns} signs tokens, but the running apiservers do not trust it yet: tokens from a restarted controller-manager are rejected"),
            format!("first trust {ns} (pki.serviceAccountKeys.trusted) while {os} signs, roll it out, then sign with {ns}"),
        );
    }
    let removed: Vec<u64> = ot.iter().filter(|g| !nt.contains(g)).copied().collect();
    if !removed.is_empty() && os != ns {
        bad(
            format!("service-account public key(s) {removed:?} are removed in the same step that changes the signing key: tokens already issued fail before pods get new ones"),
            "first change the signing key and let every token be re-issued (restart the pods that mount tokens), then remove the old public key".into(),
        );
    } else if removed.contains(&os) {
        bad(
            format!("service-account key generation {os} signed the running cluster's tokens and is no longer trusted"),
            format!("first sign with another generation and let every token be re-issued, then remove {os}"),
        );
    }
    let (om, nm) = (strs(&o["etcd"]["members"]), strs(&n["etcd"]["members"]));
    let kept = om.iter().filter(|m| nm.contains(m)).count();
    let changes = om.iter().filter(|m| !nm.contains(m)).count() + nm.iter().filter(|m| !om.contains(m)).count();
    let quorum = om.len() / 2 + 1;
    if !om.is_empty() && (changes > 1 || kept < quorum) {
        bad(
            format!("etcd membership changes by {changes} member(s) in one step ({} kept of {}, quorum {quorum}): the cluster can lose quorum", kept, om.len()),
            "change one member at a time: add (or remove) one, roll it out and wait for a healthy cluster, then the next".into(),
        );
    }
    let joining = strs(&n["etcd"]["joining"]);
    for m in nm.iter().filter(|m| !om.is_empty() && !om.contains(m) && !joining.contains(m)) {
        bad(
            format!("etcd member {m} is new to the running cluster, but its unit says --initial-cluster-state=new: it would not join the running members"),
            format!("set etcdInitialClusterState: existing on node {m}, render again, and add it with etcdctl member add before starting it"),
        );
    }
    v
}

/// The plan as text, like `terraform plan`.
pub fn text(p: &Plan, old: &str, new: &str) -> String {
    let mut s = format!("hardway plan: {old} -> {new} (cluster {})\n", p.cluster);
    if p.no_changes() {
        s.push_str("\nno changes: the bundles are the same for every node\n");
        return s;
    }
    s.push_str("\nnodes:\n");
    for n in &p.nodes {
        let sign = match n.state {
            "added" => '+',
            "removed" => '-',
            "changed" => '~',
            _ => '=',
        };
        let mut head = format!("  {sign} {}", n.name);
        match n.state {
            "unchanged" => head.push_str(": no change"),
            "added" => head.push_str(": new node"),
            "removed" => head.push_str(": removed"),
            _ => {
                head.push_str(&format!(": {} file(s)", n.files.len()));
                if n.rerun_install {
                    head.push_str("; run install.sh again");
                } else if n.daemon_reload {
                    head.push_str("; daemon-reload");
                }
                if !n.restart.is_empty() {
                    head.push_str(&format!("; restart {}", n.restart.join(", ")));
                }
            }
        }
        s.push_str(&head);
        s.push('\n');
        if n.state == "changed" {
            for f in &n.files {
                s.push_str(&format!("      {} {}  ({})\n", f.change.sign(), f.path, f.source));
            }
        }
    }
    if !p.other_files.is_empty() {
        s.push_str("\nfiles on no node:\n");
        for f in &p.other_files {
            s.push_str(&format!("  {} {}\n", f.change.sign(), f.path));
        }
    }
    if !p.rollout.is_empty() {
        s.push_str("\nrollout, in this order:\n");
        for r in &p.rollout {
            s.push_str(&format!("  {r}\n"));
        }
    }
    if !p.cluster_steps.is_empty() {
        s.push_str("\ncluster steps:\n");
        for c in &p.cluster_steps {
            s.push_str(&format!("  - {c}\n"));
        }
    }
    let changed = p.nodes.iter().filter(|n| n.state != "unchanged").count();
    if p.safe() {
        s.push_str(&format!("\nplan: {changed} node(s) change; safe\n"));
    } else {
        s.push_str("\nUNSAFE:\n");
        for v in &p.unsafe_transitions {
            s.push_str(&format!("  - {}\n    safe instead: {}\n", v.problem, v.safe_step));
        }
        s.push_str(&format!("\nplan: {changed} node(s) change; UNSAFE ({} problem(s))\n", p.unsafe_transitions.len()));
    }
    s
}
