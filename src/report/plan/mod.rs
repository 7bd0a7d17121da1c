//! `hardway plan OLD NEW`: what going from one rendered bundle to another means for a running cluster.
//! Both bundles are read back whole (checksums verified, index parsed; directories or zips, redacted or
//! not, but alike). `diff` finds per node the files that change and what picks them up (the consumer
//! table of catalog::node_files), `verdicts` the transitions the cluster would not survive (each with
//! the step that would have made it safe), `steps` the rollout as commands to run in order, and `text`
//! prints it like `terraform plan`.

mod diff;
mod steps;
mod text;
mod verdicts;

use crate::bundle::index::Index;
use crate::bundle::Bundle;
use crate::error::{Error, Result};
use serde::Serialize;
use std::collections::BTreeMap;

pub use text::text;

/// How many kubelets (and their kube-proxies) restart together.
pub const BATCH: usize = 10;

/// How a file differs between the bundles.
#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Only in NEW.
    Added,
    /// In both, with other bytes or mode.
    Changed,
    /// Only in OLD.
    Removed,
}

/// One file of a node (or of the bundle) that differs between the bundles.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FileChange {
    /// The path on the node (or in the bundle, for files no node gets).
    pub path: String,
    /// Added, changed or removed.
    pub change: Change,
    /// The bundle file the node path comes from (in NEW, or OLD when removed).
    pub source: String,
    /// The mode to install it with (as in NEW; OLD's when removed).
    pub mode: String,
}

/// How a node differs between the bundles.
#[derive(Debug, Serialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Only in NEW: a machine to boot.
    Added,
    /// Only in OLD: a machine to retire.
    Removed,
    /// Some of its files differ.
    Changed,
    /// Nothing of it differs.
    Unchanged,
}

/// What changes on one node.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePlan {
    /// Node name.
    pub name: String,
    /// Added, removed, changed or unchanged.
    pub state: NodeState,
    /// Its roles (in NEW, OLD's when removed).
    pub roles: Vec<String>,
    /// Its files that differ.
    pub files: Vec<FileChange>,
    /// Units to restart, in the node's unit order (host services first).
    pub restart: Vec<String>,
    /// Units to reload (they take the change without dropping connections).
    pub reload: Vec<String>,
    /// A unit file changed: `systemctl daemon-reload` before the restarts.
    pub daemon_reload: bool,
    /// install.sh changed: run it again (it installs binaries and restarts the node's units).
    pub rerun_install: bool,
    /// The node's units (without `.service`), in its order.
    #[serde(skip)]
    pub units: Vec<String>,
}

impl NodePlan {
    /// Whether any unit of `units` is restarted (or, by install.sh, every unit the node runs).
    fn restarts_any(&self, units: &[&str]) -> bool {
        let list = if self.rerun_install { &self.units } else { &self.restart };
        list.iter().any(|u| units.contains(&u.as_str()))
    }
}

/// A transition the running cluster would not survive.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    /// What would break.
    pub problem: String,
    /// The step that would have made the transition safe.
    pub safe_step: String,
}

/// Where in the rollout a step belongs.
#[derive(Debug, Serialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    /// Before any node changes: etcd membership, token Secrets new nodes need.
    Prepare,
    /// etcd members, one at a time.
    Etcd,
    /// kube-apiservers, one at a time.
    ApiServer,
    /// controller-manager and scheduler.
    ControlPlane,
    /// HAProxy.
    LoadBalancer,
    /// kubelets and kube-proxies, in batches.
    Workers,
    /// Nodes whose changes need no restart.
    Files,
    /// Machines to boot from their user-data.
    NewNodes,
    /// Machines to retire.
    RemovedNodes,
    /// After every node: manifests, re-encryption, pods, kubeconfigs handed out.
    Cluster,
}

/// A bounded wait: run `command` (where the step runs) until it succeeds, for at most `timeout_seconds`.
#[derive(Debug, Serialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Wait {
    /// Shell command, where the step runs.
    pub command: String,
    /// Give up after this many seconds.
    pub timeout_seconds: u32,
}

/// One step of the rollout. Run in order: copy `install` (from the NEW bundle) onto `node` with their
/// modes, delete `remove`, run `commands` one by one (on `node`, or without a node from a machine
/// with the NEW bundle as working directory, kubectl and the bundle's kubeconfigs), then `wait`.
/// `manual` is what no command can do (boot or retire a machine, replace preinstalled binaries).
#[derive(Debug, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Where in the rollout it belongs.
    pub stage: Stage,
    /// What it does, in a line.
    pub title: String,
    /// The node it runs on; none: from a machine with the NEW bundle and kubectl.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Files to copy from NEW onto the node, with their modes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub install: Vec<FileChange>,
    /// Node paths to delete.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub remove: Vec<String>,
    /// Shell commands, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    /// What to wait for afterwards.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<Wait>,
    /// What no command can do (boot or retire a machine, replace preinstalled binaries).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
}

impl Step {
    fn new(stage: Stage, title: impl Into<String>, node: Option<&str>) -> Step {
        Step {
            stage,
            title: title.into(),
            node: node.map(String::from),
            install: Vec::new(),
            remove: Vec::new(),
            commands: Vec::new(),
            wait: None,
            manual: None,
        }
    }
    fn command(mut self, c: impl Into<String>) -> Step {
        self.commands.push(c.into());
        self
    }
    fn wait(mut self, command: impl Into<String>, timeout_seconds: u32) -> Step {
        self.wait = Some(Wait { command: command.into(), timeout_seconds });
        self
    }
    fn manual(mut self, m: impl Into<String>) -> Step {
        self.manual = Some(m.into());
        self
    }
}

/// The rollout from one bundle to the next (`hardway plan OLD NEW`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The cluster's name.
    pub cluster: String,
    /// No unsafe transition: the steps may be carried out as they are.
    pub safe: bool,
    /// Every node of either bundle, in NEW's order then OLD's removed ones.
    pub nodes: Vec<NodePlan>,
    /// Bundle files no node gets that changed (admin kubeconfigs, break-glass, manifests...).
    pub other_files: Vec<FileChange>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Transitions the running cluster would not survive: then the plan is refused (exit 1).
    pub unsafe_transitions: Vec<Verdict>,
}

impl Plan {
    /// No unsafe transition.
    pub fn safe(&self) -> bool {
        self.unsafe_transitions.is_empty()
    }
    /// Nothing to do: no node and no other file differs.
    pub fn no_changes(&self) -> bool {
        self.nodes.iter().all(|n| n.state == NodeState::Unchanged) && self.other_files.is_empty()
    }
}

/// One bundle, verified and parsed.
struct Side<'a> {
    bundle: &'a Bundle,
    index: Index,
    sums: BTreeMap<String, String>,
}

impl Side<'_> {
    fn text(&self, path: &str) -> &str {
        self.bundle.get(path).and_then(|e| std::str::from_utf8(&e.bytes).ok()).unwrap_or_default()
    }
}

/// The plan of going from `old` to `new` (labels name them in messages).
pub fn plan(old_label: &str, old: &Bundle, new_label: &str, new: &Bundle) -> Result<Plan> {
    let o = super::verify::verified(old_label, old)?;
    let n = super::verify::verified(new_label, new)?;
    if o.index.redacted != n.index.redacted {
        return Err(Error::Bundle {
            path: new_label.into(),
            message: "one bundle is redacted and the other is not: every secret would look changed; render both alike (--redact for a committed bundle)".into(),
        });
    }
    let o = Side { bundle: old, index: o.index, sums: o.sums };
    let n = Side { bundle: new, index: n.index, sums: n.sums };
    let (nodes, other_files) = diff::diff(&o, &n);
    let unsafe_transitions = verdicts::verdicts(&o, &n, &nodes);
    let steps = steps::steps(&o, &n, &nodes, &other_files);
    Ok(Plan {
        cluster: n.index.cluster.clone(),
        safe: unsafe_transitions.is_empty(),
        nodes,
        other_files,
        steps,
        unsafe_transitions,
    })
}
