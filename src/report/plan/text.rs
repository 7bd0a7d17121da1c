//! The plan as text, like `terraform plan`: the nodes and their files, the steps in order with their
//! commands, and the verdicts.

use super::{Change, NodeState, Plan};

fn sign(c: Change) -> char {
    match c {
        Change::Added => '+',
        Change::Changed => '~',
        Change::Removed => '-',
    }
}

/// The plan as text for a reviewer (`hardway plan` without --json).
pub fn text(p: &Plan, old: &str, new: &str) -> String {
    let mut s = format!("hardway plan: {old} -> {new} (cluster {})\n", p.cluster);
    if p.no_changes() && p.safe() {
        s.push_str("\nno changes: the bundles are the same for every node\n");
        return s;
    }
    s.push_str("\nnodes:\n");
    for n in &p.nodes {
        let mut head = match n.state {
            NodeState::Unchanged => format!("  = {}: no change", n.name),
            NodeState::Added => format!("  + {}: new node", n.name),
            NodeState::Removed => format!("  - {}: removed", n.name),
            NodeState::Changed => format!("  ~ {}: {} file(s)", n.name, n.files.len()),
        };
        if n.state == NodeState::Changed {
            if n.rerun_install {
                head.push_str("; run install.sh again");
            } else if n.daemon_reload {
                head.push_str("; daemon-reload");
            }
            if !n.restart.is_empty() {
                head.push_str(&format!("; restart {}", n.restart.join(", ")));
            }
            if !n.reload.is_empty() {
                head.push_str(&format!("; reload {}", n.reload.join(", ")));
            }
        }
        s.push_str(&head);
        s.push('\n');
        if n.state == NodeState::Changed {
            for f in &n.files {
                s.push_str(&format!("      {} {}  ({})\n", sign(f.change), f.path, f.source));
            }
        }
    }
    if !p.other_files.is_empty() {
        s.push_str("\nfiles on no node:\n");
        for f in &p.other_files {
            s.push_str(&format!("  {} {}\n", sign(f.change), f.path));
        }
    }
    if !p.steps.is_empty() {
        s.push_str(
            "\nsteps, in this order (commands without a node run beside the NEW bundle, with its kubeconfigs):\n",
        );
        for (i, st) in p.steps.iter().enumerate() {
            let at = st.node.as_deref().map(|n| format!(" [on {n}]")).unwrap_or_default();
            s.push_str(&format!("  {}. {}{at}\n", i + 1, st.title));
            for f in &st.install {
                s.push_str(&format!("       install {} -> {} (mode {})\n", f.source, f.path, f.mode));
            }
            for r in &st.remove {
                s.push_str(&format!("       delete {r}\n"));
            }
            if let Some(m) = &st.manual {
                s.push_str(&format!("       by hand: {m}\n"));
            }
            for c in &st.commands {
                s.push_str(&format!("       $ {c}\n"));
            }
            if let Some(w) = &st.wait {
                s.push_str(&format!("       wait up to {} s until: {}\n", w.timeout_seconds, w.command));
            }
        }
    }
    let changed = p.nodes.iter().filter(|n| n.state != NodeState::Unchanged).count();
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
