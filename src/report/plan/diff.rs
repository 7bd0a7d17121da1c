//! The difference between two bundles: per node the files that appear, change or disappear and what
//! picks each up (restart, reload, daemon-reload, install.sh), and the changed files no node gets.

use super::{Change, FileChange, NodePlan, NodeState, Side};
use crate::bundle::index::NodeEntry;
use crate::catalog::node_files::{consumer, Consumer};
use crate::catalog::paths;
use std::collections::{BTreeMap, BTreeSet};

/// node path -> (source, mode).
fn files(n: Option<&NodeEntry>) -> BTreeMap<&str, (&str, &str)> {
    n.into_iter().flat_map(|n| &n.files).map(|f| (f.path.as_str(), (f.source.as_str(), f.mode.as_str()))).collect()
}

/// An etcd unit whose only change is the member list (`--initial-cluster`, `--initial-cluster-state`):
/// etcd reads those flags only when it first forms or joins, so a running member needs no restart.
fn membership_only(o: &Side, n: &Side, old_source: &str, new_source: &str) -> bool {
    let strip = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.contains("--initial-cluster=") && !l.contains("--initial-cluster-state="))
            .filter(|l| !l.starts_with('#'))
            .map(String::from)
            .collect()
    };
    strip(o.text(old_source)) == strip(n.text(new_source))
}

pub(super) fn diff(o: &Side, n: &Side) -> (Vec<NodePlan>, Vec<FileChange>) {
    let old_nodes: BTreeMap<&str, &NodeEntry> = o.index.nodes.iter().map(|x| (x.name.as_str(), x)).collect();
    let new_nodes: BTreeMap<&str, &NodeEntry> = n.index.nodes.iter().map(|x| (x.name.as_str(), x)).collect();
    // NEW's node order, then the removed nodes in OLD's order.
    let mut order: Vec<&str> = n.index.nodes.iter().map(|x| x.name.as_str()).collect();
    order.extend(o.index.nodes.iter().map(|x| x.name.as_str()).filter(|x| !new_nodes.contains_key(x)));
    let mut placed: BTreeSet<&str> = BTreeSet::new();
    let mut nodes = Vec::new();
    for name in order {
        let (on, nn) = (old_nodes.get(name).copied(), new_nodes.get(name).copied());
        let (of, nf) = (files(on), files(nn));
        placed.extend(of.values().chain(nf.values()).map(|(s, _)| *s));
        let mut changes = Vec::new();
        let all: BTreeSet<&str> = of.keys().chain(nf.keys()).copied().collect();
        for p in all {
            let change = match (of.get(p), nf.get(p)) {
                (None, Some((s, m))) => Some((Change::Added, *s, *m)),
                (Some((s, m)), None) => Some((Change::Removed, *s, *m)),
                (Some((os, om)), Some((ns, nm))) => {
                    (o.sums.get(*os) != n.sums.get(*ns) || om != nm).then_some((Change::Changed, *ns, *nm))
                }
                (None, None) => None,
            };
            if let Some((change, source, mode)) = change {
                changes.push(FileChange { path: p.into(), change, source: source.into(), mode: mode.into() });
            }
        }
        let entry = nn.or(on);
        let runs = |u: &str| u.starts_with("systemd-") || entry.is_some_and(|e| e.runs(u));
        let (mut restart, mut reload) = (BTreeSet::new(), BTreeSet::new());
        let (mut daemon_reload, mut rerun_install) = (false, false);
        if on.is_some() && nn.is_some() {
            for f in &changes {
                match consumer(&f.path) {
                    Some(Consumer::Restart(us)) => restart.extend(us.iter().copied().filter(|u| runs(u))),
                    Some(Consumer::Reload(us)) => reload.extend(us.iter().copied().filter(|u| runs(u))),
                    Some(Consumer::Unit(u)) => {
                        daemon_reload = true;
                        let membership = u == "etcd"
                            && f.change == Change::Changed
                            && of.get(f.path.as_str()).is_some_and(|(os, _)| membership_only(o, n, os, &f.source));
                        if runs(u) && !membership {
                            restart.insert(u);
                        }
                    }
                    Some(Consumer::Install) => rerun_install = true,
                    Some(Consumer::Nothing) | None => {}
                }
            }
        }
        // A restart includes what a reload would do.
        reload.retain(|u| !restart.contains(u));
        let units: Vec<&str> =
            entry.map(|e| e.units.iter().map(|u| u.trim_end_matches(".service")).collect()).unwrap_or_default();
        let in_order = |set: &BTreeSet<&str>| -> Vec<String> {
            let mut v: Vec<String> = set.iter().filter(|u| u.starts_with("systemd-")).map(|u| u.to_string()).collect();
            v.extend(units.iter().filter(|u| set.contains(*u)).map(|u| u.to_string()));
            v
        };
        let state = match (on, nn) {
            (None, Some(_)) => NodeState::Added,
            (Some(_), None) => NodeState::Removed,
            _ if changes.is_empty() => NodeState::Unchanged,
            _ => NodeState::Changed,
        };
        nodes.push(NodePlan {
            name: name.into(),
            state,
            roles: entry.map(|e| e.roles.clone()).unwrap_or_default(),
            files: changes,
            restart: in_order(&restart),
            reload: in_order(&reload),
            daemon_reload,
            rerun_install,
            units: units.iter().map(|u| u.to_string()).collect(),
        });
    }
    let mut other = Vec::new();
    let all: BTreeSet<&String> = o.sums.keys().chain(n.sums.keys()).collect();
    for p in all {
        let bookkeeping = [paths::SUMS, paths::INDEX, paths::README].contains(&p.as_str());
        // Per-node files (their changes are the nodes'), user-data and secrets archives (made of the
        // nodes' files) are not listed again.
        let per_node = p.starts_with("user-data/") || p.starts_with("nodes/") || p.starts_with("secrets/");
        if placed.contains(p.as_str()) || bookkeeping || per_node {
            continue;
        }
        let change = match (o.sums.get(p), n.sums.get(p)) {
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            (Some(a), Some(b)) if a != b => Some(Change::Changed),
            _ => None,
        };
        if let Some(change) = change {
            let side = if change == Change::Removed { o.bundle } else { n.bundle };
            let mode = side.get(p).map(|e| format!("{:04o}", e.mode)).unwrap_or_default();
            other.push(FileChange { path: p.clone(), change, source: p.clone(), mode });
        }
    }
    (nodes, other)
}
