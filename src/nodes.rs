//! Which bundle files each node needs and where they go on the node: a table by role.

use crate::bundle::{MODE_PUBLIC, MODE_SECRET};
use crate::error::Result;
use crate::kubeconfig::Kubeconfig;
use crate::pki::{profiles, Pki};
use crate::topology::{Node, Role};
use serde::Serialize;

pub const SA_KEY: &str = "pki/service-account.key";
pub const SA_PUB: &str = "pki/service-account.pub";
pub const ENCRYPTION_CONFIG: &str = "encryption/encryption-config.yaml";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Certificate of a profile (the node's own for per-node profiles).
    Cert(&'static str),
    /// Private key of a profile.
    Key(&'static str),
    /// A kubeconfig of the kubeconfig table (the node's own for per-node ones).
    Kubeconfig(&'static str),
    SaKey,
    SaPub,
    Encryption,
}

#[derive(Debug)]
pub struct NodeFile {
    pub role: Role,
    pub source: Source,
    /// Absolute path on the node (kubeadm layout).
    pub path: &'static str,
}

use Role::*;
use Source::*;

/// kubeadm's layout: /etc/kubernetes/pki for the control plane, /etc/kubernetes/pki/etcd for etcd,
/// /var/lib/kubelet/pki for the kubelet's serving pair.
#[rustfmt::skip]
pub const NODE_FILES: &[NodeFile] = &[
    NodeFile { role: ControlPlane, source: Cert("kubernetes-ca"), path: "/etc/kubernetes/pki/ca.crt" },
    NodeFile { role: ControlPlane, source: Key("kubernetes-ca"), path: "/etc/kubernetes/pki/ca.key" },
    NodeFile { role: ControlPlane, source: Cert("apiserver"), path: "/etc/kubernetes/pki/apiserver.crt" },
    NodeFile { role: ControlPlane, source: Key("apiserver"), path: "/etc/kubernetes/pki/apiserver.key" },
    NodeFile { role: ControlPlane, source: Cert("apiserver-kubelet-client"), path: "/etc/kubernetes/pki/apiserver-kubelet-client.crt" },
    NodeFile { role: ControlPlane, source: Key("apiserver-kubelet-client"), path: "/etc/kubernetes/pki/apiserver-kubelet-client.key" },
    NodeFile { role: ControlPlane, source: Cert("etcd-ca"), path: "/etc/kubernetes/pki/etcd/ca.crt" },
    NodeFile { role: ControlPlane, source: Cert("apiserver-etcd-client"), path: "/etc/kubernetes/pki/apiserver-etcd-client.crt" },
    NodeFile { role: ControlPlane, source: Key("apiserver-etcd-client"), path: "/etc/kubernetes/pki/apiserver-etcd-client.key" },
    NodeFile { role: ControlPlane, source: Cert("front-proxy-ca"), path: "/etc/kubernetes/pki/front-proxy-ca.crt" },
    NodeFile { role: ControlPlane, source: Cert("front-proxy-client"), path: "/etc/kubernetes/pki/front-proxy-client.crt" },
    NodeFile { role: ControlPlane, source: Key("front-proxy-client"), path: "/etc/kubernetes/pki/front-proxy-client.key" },
    NodeFile { role: ControlPlane, source: SaKey, path: "/etc/kubernetes/pki/sa.key" },
    NodeFile { role: ControlPlane, source: SaPub, path: "/etc/kubernetes/pki/sa.pub" },
    NodeFile { role: ControlPlane, source: Encryption, path: "/etc/kubernetes/encryption-config.yaml" },
    NodeFile { role: ControlPlane, source: Kubeconfig("kube-controller-manager"), path: "/etc/kubernetes/controller-manager.conf" },
    NodeFile { role: ControlPlane, source: Kubeconfig("kube-scheduler"), path: "/etc/kubernetes/scheduler.conf" },
    NodeFile { role: ControlPlane, source: Kubeconfig("admin"), path: "/etc/kubernetes/admin.conf" },
    NodeFile { role: Etcd, source: Cert("etcd-ca"), path: "/etc/kubernetes/pki/etcd/ca.crt" },
    NodeFile { role: Etcd, source: Cert("etcd-server"), path: "/etc/kubernetes/pki/etcd/server.crt" },
    NodeFile { role: Etcd, source: Key("etcd-server"), path: "/etc/kubernetes/pki/etcd/server.key" },
    NodeFile { role: Etcd, source: Cert("etcd-peer"), path: "/etc/kubernetes/pki/etcd/peer.crt" },
    NodeFile { role: Etcd, source: Key("etcd-peer"), path: "/etc/kubernetes/pki/etcd/peer.key" },
    NodeFile { role: Etcd, source: Cert("etcd-healthcheck-client"), path: "/etc/kubernetes/pki/etcd/healthcheck-client.crt" },
    NodeFile { role: Etcd, source: Key("etcd-healthcheck-client"), path: "/etc/kubernetes/pki/etcd/healthcheck-client.key" },
    NodeFile { role: Worker, source: Cert("kubernetes-ca"), path: "/etc/kubernetes/pki/ca.crt" },
    NodeFile { role: Worker, source: Cert("kubelet-server"), path: "/var/lib/kubelet/pki/kubelet.crt" },
    NodeFile { role: Worker, source: Key("kubelet-server"), path: "/var/lib/kubelet/pki/kubelet.key" },
    NodeFile { role: Worker, source: Kubeconfig("kubelet"), path: "/etc/kubernetes/kubelet.conf" },
    NodeFile { role: Worker, source: Kubeconfig("kube-proxy"), path: "/etc/kubernetes/kube-proxy.conf" },
];

/// One file on one node.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Placed {
    /// Absolute path on the node.
    pub path: String,
    /// Path inside the bundle.
    pub source: String,
    /// Octal mode as a string, e.g. "0600".
    pub mode: String,
}

pub fn mode_string(mode: u32) -> String {
    format!("{mode:04o}")
}

fn node_arg(per_node: bool, node: &Node) -> Option<&str> {
    per_node.then_some(node.name.as_str())
}

/// The bundle source and mode of a table entry for `node`.
fn resolve(source: Source, node: &Node, pki: &Pki, kcs: &[Kubeconfig]) -> Result<(String, u32)> {
    let cert_node = |name: &str| -> Result<Option<&str>> {
        let p =
            profiles::find(name).ok_or_else(|| crate::error::Error::internal(name, "no such certificate profile"))?;
        Ok(node_arg(matches!(p.scope, profiles::Scope::PerNode(_)), node))
    };
    Ok(match source {
        Cert(name) => (pki.get(name, cert_node(name)?)?.paths().0, MODE_PUBLIC),
        Key(name) => (pki.get(name, cert_node(name)?)?.paths().1, MODE_SECRET),
        Kubeconfig(name) => {
            let kc = kcs
                .iter()
                .find(|k| k.profile.name == name && (k.node.is_none() || k.node.as_deref() == Some(node.name.as_str())))
                .ok_or_else(|| crate::error::Error::internal(name, "kubeconfig not rendered"))?;
            (kc.path.clone(), MODE_SECRET)
        }
        SaKey => (SA_KEY.into(), MODE_SECRET),
        SaPub => (SA_PUB.into(), MODE_PUBLIC),
        Encryption => (ENCRYPTION_CONFIG.into(), MODE_SECRET),
    })
}

/// Every file `node` needs, sorted by path on the node, each path once.
pub fn files_for(node: &Node, pki: &Pki, kcs: &[Kubeconfig]) -> Result<Vec<Placed>> {
    let mut out: Vec<Placed> = Vec::new();
    for f in NODE_FILES.iter().filter(|f| node.has(f.role)) {
        if out.iter().any(|p| p.path == f.path) {
            continue; // e.g. etcd/ca.crt on a stacked controlplane+etcd node
        }
        let (source, mode) = resolve(f.source, node, pki, kcs)?;
        out.push(Placed { path: f.path.to_string(), source, mode: mode_string(mode) });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_refers_to_known_things_and_paths_agree() {
        for f in NODE_FILES {
            assert!(f.path.starts_with('/'), "{}", f.path);
            match f.source {
                Cert(n) | Key(n) => {
                    let p = profiles::find(n).unwrap_or_else(|| panic!("unknown cert {n}"));
                    if let profiles::Scope::PerNode(r) = p.scope {
                        assert_eq!(r, f.role, "{n} is issued only to {r:?} nodes");
                    }
                }
                Kubeconfig(n) => {
                    assert!(crate::kubeconfig::KUBECONFIGS.iter().any(|k| k.name == n), "unknown kubeconfig {n}")
                }
                _ => {}
            }
            // The same node path must always mean the same source, whatever role brings it.
            for g in NODE_FILES.iter().filter(|g| g.path == f.path) {
                assert_eq!(g.source, f.source, "{}", f.path);
            }
        }
    }

    #[test]
    fn workers_never_get_a_ca_key_or_cluster_secrets() {
        for f in NODE_FILES.iter().filter(|f| f.role != ControlPlane) {
            if let Key(n) = f.source {
                assert!(!profiles::find(n).is_some_and(|p| p.is_ca()), "{:?} gets CA key {n}", f.role);
            }
            assert!(!matches!(f.source, SaKey | Encryption | Kubeconfig("admin") | Kubeconfig("super-admin")));
        }
        assert!(!NODE_FILES
            .iter()
            .any(|f| matches!(f.source, Cert("super-admin") | Key("super-admin") | Kubeconfig("super-admin"))));
    }
}
