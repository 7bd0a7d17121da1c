//! Which bundle files each node needs and where they go on the node: a table by role.

use crate::bundle::Bundle;
use crate::error::Result;
use crate::kubeconfig::Kubeconfig;
use crate::pki::{profiles, Pki};
use crate::topology::{Node, Role, Runtime, Topology};
use serde::Serialize;
use std::collections::BTreeMap;

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
    /// A cluster-level configuration file, by bundle path.
    Shared(&'static str),
    /// One of the node's own generated files, relative to `nodes/<name>/`.
    Own(&'static str),
    /// The bootstrap-token kubeconfig of the worker (its own, or the shared one).
    BootstrapKubeconfig,
}

/// When a table entry applies, beyond the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// containerd comes from its release tarball, so hardway supplies its unit.
    RuntimeTarballs,
    /// The worker's kubelet certificates come from the bundle.
    KubeletCertificates,
    /// The worker's kubelet uses TLS bootstrap.
    KubeletBootstrap,
    /// Controlplane and worker nodes: they reach pods on other nodes.
    RoutesPods,
}

#[derive(Debug)]
pub struct NodeFile {
    /// `None`: every node.
    pub role: Option<Role>,
    pub source: Source,
    /// Absolute path on the node (kubeadm layout).
    pub path: &'static str,
    pub when: When,
}

use crate::nodeconf as nc;
use Role::*;
use Source::*;

const fn cp(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: Some(ControlPlane), source, path, when: When::Always }
}
const fn etcd(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: Some(Etcd), source, path, when: When::Always }
}
const fn worker(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: Some(Worker), source, path, when: When::Always }
}
const fn kubelet(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: Some(Worker), source, path, when: When::KubeletCertificates }
}
const fn lb(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: Some(LoadBalancer), source, path, when: When::Always }
}
const fn routed(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: None, source, path, when: When::RoutesPods }
}
const fn every(source: Source, path: &'static str) -> NodeFile {
    NodeFile { role: None, source, path, when: When::Always }
}

/// kubeadm's layout: /etc/kubernetes/pki for the control plane, /etc/kubernetes/pki/etcd for etcd,
/// /var/lib/kubelet/pki for the kubelet's serving pair; units in /etc/systemd/system.
#[rustfmt::skip]
pub const NODE_FILES: &[NodeFile] = &[
    cp(Cert("kubernetes-ca"), "/etc/kubernetes/pki/ca.crt"),
    cp(Key("kubernetes-ca"), "/etc/kubernetes/pki/ca.key"),
    cp(Cert("apiserver"), "/etc/kubernetes/pki/apiserver.crt"),
    cp(Key("apiserver"), "/etc/kubernetes/pki/apiserver.key"),
    cp(Cert("apiserver-kubelet-client"), "/etc/kubernetes/pki/apiserver-kubelet-client.crt"),
    cp(Key("apiserver-kubelet-client"), "/etc/kubernetes/pki/apiserver-kubelet-client.key"),
    cp(Cert("etcd-ca"), "/etc/kubernetes/pki/etcd/ca.crt"),
    cp(Cert("apiserver-etcd-client"), "/etc/kubernetes/pki/apiserver-etcd-client.crt"),
    cp(Key("apiserver-etcd-client"), "/etc/kubernetes/pki/apiserver-etcd-client.key"),
    cp(Cert("front-proxy-ca"), "/etc/kubernetes/pki/front-proxy-ca.crt"),
    cp(Cert("front-proxy-client"), "/etc/kubernetes/pki/front-proxy-client.crt"),
    cp(Key("front-proxy-client"), "/etc/kubernetes/pki/front-proxy-client.key"),
    cp(SaKey, "/etc/kubernetes/pki/sa.key"),
    cp(SaPub, "/etc/kubernetes/pki/sa.pub"),
    cp(Encryption, "/etc/kubernetes/encryption-config.yaml"),
    cp(Kubeconfig("kube-controller-manager"), "/etc/kubernetes/controller-manager.conf"),
    cp(Kubeconfig("kube-scheduler"), "/etc/kubernetes/scheduler.conf"),
    cp(Own(nc::APISERVER_UNIT), "/etc/systemd/system/kube-apiserver.service"),
    cp(Shared(nc::KCM_UNIT), "/etc/systemd/system/kube-controller-manager.service"),
    cp(Shared(nc::SCHEDULER_UNIT), "/etc/systemd/system/kube-scheduler.service"),
    cp(Shared(nc::SCHEDULER_CONFIG), "/etc/kubernetes/kube-scheduler.yaml"),
    cp(Shared(nc::AUDIT_POLICY), "/etc/kubernetes/audit-policy.yaml"),
    etcd(Cert("etcd-ca"), "/etc/kubernetes/pki/etcd/ca.crt"),
    etcd(Cert("etcd-server"), "/etc/kubernetes/pki/etcd/server.crt"),
    etcd(Key("etcd-server"), "/etc/kubernetes/pki/etcd/server.key"),
    etcd(Cert("etcd-peer"), "/etc/kubernetes/pki/etcd/peer.crt"),
    etcd(Key("etcd-peer"), "/etc/kubernetes/pki/etcd/peer.key"),
    etcd(Cert("etcd-healthcheck-client"), "/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
    etcd(Key("etcd-healthcheck-client"), "/etc/kubernetes/pki/etcd/healthcheck-client.key"),
    etcd(Own(nc::ETCD_UNIT), "/etc/systemd/system/etcd.service"),
    worker(Cert("kubernetes-ca"), "/etc/kubernetes/pki/ca.crt"),
    kubelet(Cert("kubelet-server"), "/var/lib/kubelet/pki/kubelet.crt"),
    kubelet(Key("kubelet-server"), "/var/lib/kubelet/pki/kubelet.key"),
    kubelet(Kubeconfig("kubelet"), "/etc/kubernetes/kubelet.conf"),
    NodeFile { role: Some(Worker), source: BootstrapKubeconfig, path: "/etc/kubernetes/bootstrap-kubelet.conf", when: When::KubeletBootstrap },
    kubelet(Kubeconfig("kube-proxy"), "/etc/kubernetes/kube-proxy.conf"),
    worker(Own(nc::KUBELET_UNIT), "/etc/systemd/system/kubelet.service"),
    worker(Own(nc::KUBELET_CONFIG), "/var/lib/kubelet/config.yaml"),
    worker(Own(nc::KUBE_PROXY_UNIT), "/etc/systemd/system/kube-proxy.service"),
    kubelet(Shared(nc::KUBE_PROXY_CONFIG), "/var/lib/kube-proxy/config.yaml"),
    NodeFile { role: Some(Worker), source: Shared(nc::KUBE_PROXY_CONFIG_BOOTSTRAP), path: "/var/lib/kube-proxy/config.yaml", when: When::KubeletBootstrap },
    worker(Own(nc::CNI_BRIDGE), "/etc/cni/net.d/10-bridge.conf"),
    worker(Shared(nc::CNI_LOOPBACK), "/etc/cni/net.d/99-loopback.conf"),
    worker(Shared(nc::CONTAINERD_CONFIG), "/etc/containerd/config.toml"),
    worker(Shared(nc::CRICTL_CONFIG), "/etc/crictl.yaml"),
    NodeFile { role: Some(Worker), source: Shared(nc::CONTAINERD_UNIT), path: "/etc/systemd/system/containerd.service", when: When::RuntimeTarballs },
    lb(Shared(nc::HAPROXY_CONFIG), "/etc/haproxy/haproxy.cfg"),
    lb(Cert("kubernetes-ca"), "/etc/haproxy/kubernetes-ca.crt"),
    routed(Shared(nc::POD_ROUTES), "/etc/hardway/pod-routes"),
    routed(Shared(nc::ROUTES_SCRIPT), "/usr/local/lib/hardway/routes.sh"),
    routed(Shared(nc::ROUTES_UNIT), "/etc/systemd/system/hardway-routes.service"),
    every(Shared(nc::MODULES_LOAD), "/etc/modules-load.d/kubernetes.conf"),
    every(Shared(nc::SYSCTL), "/etc/sysctl.d/99-kubernetes.conf"),
    every(Own(nc::INSTALL_SCRIPT), "/usr/local/lib/hardway/install.sh"),
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

/// Kubeconfigs by (profile, node), so finding a node's kubeconfig is no scan of every worker's.
pub struct KubeconfigIndex<'a> {
    kcs: &'a [Kubeconfig],
    first: BTreeMap<(&'a str, Option<&'a str>), usize>,
}

impl<'a> KubeconfigIndex<'a> {
    pub fn new(kcs: &'a [Kubeconfig]) -> KubeconfigIndex<'a> {
        let mut first = BTreeMap::new();
        for (i, k) in kcs.iter().enumerate() {
            first.entry((k.profile.name, k.node.as_deref())).or_insert(i);
        }
        KubeconfigIndex { kcs, first }
    }

    /// The first kubeconfig of profile `name` that is `node`'s own or the cluster's.
    fn find(&self, name: &str, node: &str) -> Option<&'a Kubeconfig> {
        let own = self.first.get(&(name, Some(node)));
        let cluster = self.first.get(&(name, None));
        own.into_iter().chain(cluster).min().and_then(|&i| self.kcs.get(i))
    }
}

/// The bundle path of a table entry for `node`.
fn resolve(t: &Topology, source: Source, node: &Node, pki: &Pki, kcs: &KubeconfigIndex) -> Result<String> {
    let cert_node = |name: &str| -> Result<Option<&str>> {
        let p =
            profiles::find(name).ok_or_else(|| crate::error::Error::internal(name, "no such certificate profile"))?;
        Ok(node_arg(p.scope.is_per_node(), node))
    };
    Ok(match source {
        Cert(name) => pki.get(name, cert_node(name)?)?.paths().0,
        Key(name) => pki.get(name, cert_node(name)?)?.paths().1,
        Kubeconfig(name) => {
            let kc = kcs
                .find(name, &node.name)
                .ok_or_else(|| crate::error::Error::internal(name, "kubeconfig not rendered"))?;
            kc.path.clone()
        }
        SaKey => SA_KEY.into(),
        SaPub => SA_PUB.into(),
        Encryption => ENCRYPTION_CONFIG.into(),
        Shared(path) => path.into(),
        BootstrapKubeconfig => crate::bootstrap::kubeconfig_path(t, node),
        Own(rel) => nc::node_path(&node.name, rel),
    })
}

/// Every file `node` needs, sorted by path on the node, each path once; the mode is the one the
/// bundle gives the source file.
pub fn files_for(t: &Topology, node: &Node, pki: &Pki, kcs: &KubeconfigIndex, bundle: &Bundle) -> Result<Vec<Placed>> {
    let mut out: Vec<Placed> = Vec::new();
    let applies = |f: &NodeFile| {
        f.role.is_none_or(|r| node.has(r))
            && match f.when {
                When::Always => true,
                When::RuntimeTarballs => t.binaries.runtime == Runtime::Tarballs,
                When::KubeletCertificates => node.has_kubelet_certs(),
                When::KubeletBootstrap => node.bootstraps(),
                When::RoutesPods => crate::nodeconf::routes_pods(t, node),
            }
    };
    for f in NODE_FILES.iter().filter(|f| applies(f)) {
        if out.iter().any(|p| p.path == f.path) {
            continue; // e.g. etcd/ca.crt on a stacked controlplane+etcd node
        }
        let source = resolve(t, f.source, node, pki, kcs)?;
        let mode = bundle
            .get(&source)
            .ok_or_else(|| crate::error::Error::internal(&node.name, format!("{source} is not in the bundle")))?
            .mode;
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
                    match p.scope {
                        profiles::Scope::PerNode(r) => assert_eq!(Some(r), f.role, "{n} is issued only to {r:?} nodes"),
                        profiles::Scope::PerKubelet => {
                            assert_eq!((f.role, f.when), (Some(Worker), When::KubeletCertificates), "{n}")
                        }
                        profiles::Scope::Cluster => {}
                    }
                }
                Kubeconfig(n) => {
                    assert!(crate::kubeconfig::KUBECONFIGS.iter().any(|k| k.name == n), "unknown kubeconfig {n}")
                }
                _ => {}
            }
            // The same node path must always mean the same source, whatever role brings it, unless the
            // two entries exclude each other.
            let exclusive = |a: When, b: When| {
                matches!(
                    (a, b),
                    (When::KubeletCertificates, When::KubeletBootstrap)
                        | (When::KubeletBootstrap, When::KubeletCertificates)
                )
            };
            for g in NODE_FILES.iter().filter(|g| g.path == f.path && !exclusive(g.when, f.when)) {
                assert_eq!(g.source, f.source, "{}", f.path);
            }
        }
    }

    #[test]
    fn workers_never_get_a_ca_key_or_cluster_secrets() {
        for f in NODE_FILES.iter().filter(|f| f.role != Some(ControlPlane)) {
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
