//! Which files each kind of node gets and where they go on the node (kubeadm's layout): a table by
//! role, plain data checked by the tests below.

use crate::error::{Error, Result};
use crate::model::Role;

/// Where a node file's contents come from in the bundle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Certificate of a profile (the node's own for per-node profiles).
    Cert(&'static str),
    /// Private key of a profile.
    Key(&'static str),
    /// The certificate of a CA's signing generation alone (never a trust bundle): for flags that take
    /// exactly one certificate, like the controller-manager's `--cluster-signing-cert-file`.
    SigningCert(&'static str),
    /// A kubeconfig of the kubeconfig table (the node's own for per-node ones).
    Kubeconfig(&'static str),
    /// The service-account signing key.
    SaKey,
    /// The service-account public keys (a trust bundle during a rotation).
    SaPub,
    /// The EncryptionConfiguration.
    Encryption,
    /// A cluster-level configuration file, by bundle path.
    Shared(&'static str),
    /// One of the node's own generated files, relative to `nodes/<name>/`.
    Own(&'static str),
    /// The bootstrap-token kubeconfig of the worker (its own, or the shared one).
    BootstrapKubeconfig,
}

impl Source {
    /// Whether the file is a secret: a private key, the encryption config, a bootstrap token, a
    /// kubeconfig embedding credentials. Secret files go into a node's secrets archive with
    /// `secrets.delivery: archive`, never into its user-data.
    pub fn is_secret(self) -> bool {
        match self {
            Key(_) | SaKey | Encryption | BootstrapKubeconfig => true,
            Kubeconfig(name) => crate::catalog::kubeconfigs::KUBECONFIGS.iter().any(|k| k.name == name && !k.on_node),
            _ => false,
        }
    }

    /// Files a node needs to obtain its archive (`secrets.delivery: archive`), so they always travel in
    /// the user-data: install.sh, the fetch script, the https source's CA.
    pub fn is_boot(self) -> bool {
        matches!(
            self,
            Own(super::paths::INSTALL_SCRIPT) | Own(super::paths::FETCH_SECRETS) | Shared(super::paths::SECRETS_CA)
        )
    }

    /// Files rendered after every other file is placed, because they describe the others (the fetch
    /// script pins the digest of the archive made of the node's secret files).
    pub fn is_late(self) -> bool {
        self == Own(super::paths::FETCH_SECRETS)
    }
}

/// When a table entry applies, beyond the role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    /// Whenever the node has the role.
    Always,
    /// containerd comes from its release tarball, so hardway supplies its unit.
    RuntimeTarballs,
    /// The worker's kubelet certificates come from the bundle.
    KubeletCertificates,
    /// The worker's kubelet uses TLS bootstrap.
    KubeletBootstrap,
    /// Controlplane and worker nodes: they reach pods on other nodes.
    RoutesPods,
    /// `secrets.delivery: archive`.
    SecretsArchive,
    /// `secrets.delivery: archive` with the https source (its CA).
    SecretsHttps,
}

/// What picks a node file up when it changes (for `hardway plan`): the units to restart (those the
/// node runs; `daemon-reload` first for unit files), or a special action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consumer {
    /// Restart these units where the node runs them.
    Restart(&'static [&'static str]),
    /// A unit file (or drop-in) of this unit: daemon-reload, then restart it.
    Unit(&'static str),
    /// Read when used (CNI configs, crictl): nothing to restart.
    Nothing,
    /// Run the node's install.sh again (binaries, host setup; it restarts the node's units).
    Install,
    /// Reload these units where the node runs them (they take the change without dropping connections).
    Reload(&'static [&'static str]),
}

use Consumer::{Install, Nothing, Reload, Restart, Unit};

/// One row of the node-file table: which nodes get which bundle file where, and what reads it.
#[derive(Debug)]
pub struct NodeFile {
    /// `None`: every node.
    pub role: Option<Role>,
    /// The bundle file.
    pub source: Source,
    /// Absolute path on the node (kubeadm layout).
    pub path: &'static str,
    /// What picks the file up when it changes (rows with the same path agree: tested).
    pub consumer: Consumer,
    /// A further condition.
    pub when: When,
}

use super::paths as nc;
use Role::*;
use Source::*;

const fn cp(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: Some(ControlPlane), source, path, consumer, when: When::Always }
}
const fn etcd(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: Some(Etcd), source, path, consumer, when: When::Always }
}
const fn worker(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: Some(Worker), source, path, consumer, when: When::Always }
}
const fn kubelet(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: Some(Worker), source, path, consumer, when: When::KubeletCertificates }
}
const fn lb(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: Some(LoadBalancer), source, path, consumer, when: When::Always }
}
const fn routed(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: None, source, path, consumer, when: When::RoutesPods }
}
const fn every(source: Source, path: &'static str, consumer: Consumer) -> NodeFile {
    NodeFile { role: None, source, path, consumer, when: When::Always }
}

/// A directory a node needs with its mode: those holding private keys are 0700, made before any file is
/// written (cloud-init bootcmd) and again by install.sh.
#[derive(Debug)]
pub struct NodeDir {
    /// `None`: every node.
    pub roles: &'static [Role],
    /// Absolute path on the node.
    pub path: &'static str,
    /// Its mode (0700 where private keys are).
    pub mode: u32,
    /// A further condition.
    pub when: When,
}

const fn dir(roles: &'static [Role], path: &'static str, mode: u32, when: When) -> NodeDir {
    NodeDir { roles, path, mode, when }
}

/// Directories by role, parents before children. `roles` empty: every node.
#[rustfmt::skip]
pub const NODE_DIRS: &[NodeDir] = &[
    dir(&[ControlPlane, Etcd, Worker], "/etc/kubernetes", 0o755, When::Always),
    dir(&[ControlPlane, Etcd, Worker], "/etc/kubernetes/pki", 0o700, When::Always),
    dir(&[ControlPlane, Etcd], "/etc/kubernetes/pki/etcd", 0o700, When::Always),
    dir(&[Etcd], "/var/lib/etcd", 0o700, When::Always),
    dir(&[ControlPlane], "/var/log/kubernetes", 0o750, When::Always),
    dir(&[Worker], "/var/lib/kubelet", 0o755, When::Always),
    dir(&[Worker], "/var/lib/kubelet/pki", 0o700, When::Always),
    dir(&[Worker], "/opt/cni/bin", 0o755, When::RuntimeTarballs),
];

/// kubeadm's layout: /etc/kubernetes/pki for the control plane, /etc/kubernetes/pki/etcd for etcd,
/// /var/lib/kubelet/pki for the kubelet's serving pair; units in /etc/systemd/system.
#[rustfmt::skip]
pub const NODE_FILES: &[NodeFile] = &[
    // Every component's kubeconfig names the CA file (node_refs), so all of them read it.
    cp(Cert("kubernetes-ca"), "/etc/kubernetes/pki/ca.crt", Restart(&["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"])),
    cp(Key("kubernetes-ca"), "/etc/kubernetes/pki/ca.key", Restart(&["kube-controller-manager"])),
    cp(SigningCert("kubernetes-ca"), "/etc/kubernetes/pki/ca-signing.crt", Restart(&["kube-controller-manager"])),
    cp(Cert("apiserver"), "/etc/kubernetes/pki/apiserver.crt", Restart(&["kube-apiserver"])),
    cp(Key("apiserver"), "/etc/kubernetes/pki/apiserver.key", Restart(&["kube-apiserver"])),
    cp(Cert("apiserver-kubelet-client"), "/etc/kubernetes/pki/apiserver-kubelet-client.crt", Restart(&["kube-apiserver"])),
    cp(Key("apiserver-kubelet-client"), "/etc/kubernetes/pki/apiserver-kubelet-client.key", Restart(&["kube-apiserver"])),
    cp(Cert("etcd-ca"), "/etc/kubernetes/pki/etcd/ca.crt", Restart(&["etcd", "kube-apiserver"])),
    cp(Cert("apiserver-etcd-client"), "/etc/kubernetes/pki/apiserver-etcd-client.crt", Restart(&["kube-apiserver"])),
    cp(Key("apiserver-etcd-client"), "/etc/kubernetes/pki/apiserver-etcd-client.key", Restart(&["kube-apiserver"])),
    cp(Cert("front-proxy-ca"), "/etc/kubernetes/pki/front-proxy-ca.crt", Restart(&["kube-apiserver", "kube-controller-manager"])),
    cp(Cert("front-proxy-client"), "/etc/kubernetes/pki/front-proxy-client.crt", Restart(&["kube-apiserver"])),
    cp(Key("front-proxy-client"), "/etc/kubernetes/pki/front-proxy-client.key", Restart(&["kube-apiserver"])),
    cp(SaKey, "/etc/kubernetes/pki/sa.key", Restart(&["kube-apiserver", "kube-controller-manager"])),
    cp(SaPub, "/etc/kubernetes/pki/sa.pub", Restart(&["kube-apiserver"])),
    cp(Encryption, "/etc/kubernetes/encryption-config.yaml", Restart(&["kube-apiserver"])),
    cp(Kubeconfig("kube-controller-manager"), "/etc/kubernetes/controller-manager.conf", Restart(&["kube-controller-manager"])),
    cp(Cert("kube-controller-manager"), "/etc/kubernetes/pki/kube-controller-manager.crt", Restart(&["kube-controller-manager"])),
    cp(Key("kube-controller-manager"), "/etc/kubernetes/pki/kube-controller-manager.key", Restart(&["kube-controller-manager"])),
    cp(Kubeconfig("kube-scheduler"), "/etc/kubernetes/scheduler.conf", Restart(&["kube-scheduler"])),
    cp(Cert("kube-scheduler"), "/etc/kubernetes/pki/kube-scheduler.crt", Restart(&["kube-scheduler"])),
    cp(Key("kube-scheduler"), "/etc/kubernetes/pki/kube-scheduler.key", Restart(&["kube-scheduler"])),
    cp(Own(nc::APISERVER_UNIT), "/etc/systemd/system/kube-apiserver.service", Unit("kube-apiserver")),
    cp(Shared(nc::KCM_UNIT), "/etc/systemd/system/kube-controller-manager.service", Unit("kube-controller-manager")),
    cp(Shared(nc::SCHEDULER_UNIT), "/etc/systemd/system/kube-scheduler.service", Unit("kube-scheduler")),
    cp(Shared(nc::SCHEDULER_CONFIG), "/etc/kubernetes/kube-scheduler.yaml", Restart(&["kube-scheduler"])),
    cp(Shared(nc::AUDIT_POLICY), "/etc/kubernetes/audit-policy.yaml", Restart(&["kube-apiserver"])),
    etcd(Cert("etcd-ca"), "/etc/kubernetes/pki/etcd/ca.crt", Restart(&["etcd", "kube-apiserver"])),
    etcd(Cert("etcd-server"), "/etc/kubernetes/pki/etcd/server.crt", Restart(&["etcd"])),
    etcd(Key("etcd-server"), "/etc/kubernetes/pki/etcd/server.key", Restart(&["etcd"])),
    etcd(Cert("etcd-peer"), "/etc/kubernetes/pki/etcd/peer.crt", Restart(&["etcd"])),
    etcd(Key("etcd-peer"), "/etc/kubernetes/pki/etcd/peer.key", Restart(&["etcd"])),
    etcd(Cert("etcd-healthcheck-client"), "/etc/kubernetes/pki/etcd/healthcheck-client.crt", Nothing),
    etcd(Key("etcd-healthcheck-client"), "/etc/kubernetes/pki/etcd/healthcheck-client.key", Nothing),
    etcd(Own(nc::ETCD_UNIT), "/etc/systemd/system/etcd.service", Unit("etcd")),
    worker(Cert("kubernetes-ca"), "/etc/kubernetes/pki/ca.crt", Restart(&["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"])),
    kubelet(Cert("kubelet-server"), "/var/lib/kubelet/pki/kubelet.crt", Restart(&["kubelet"])),
    kubelet(Key("kubelet-server"), "/var/lib/kubelet/pki/kubelet.key", Restart(&["kubelet"])),
    kubelet(Kubeconfig("kubelet"), "/etc/kubernetes/kubelet.conf", Restart(&["kubelet", "kube-proxy"])),
    kubelet(Cert("kubelet-client"), "/var/lib/kubelet/pki/kubelet-client.crt", Restart(&["kubelet"])),
    kubelet(Key("kubelet-client"), "/var/lib/kubelet/pki/kubelet-client.key", Restart(&["kubelet"])),
    NodeFile { role: Some(Worker), source: BootstrapKubeconfig, path: "/etc/kubernetes/bootstrap-kubelet.conf", consumer: Restart(&["kubelet"]), when: When::KubeletBootstrap },
    kubelet(Kubeconfig("kube-proxy"), "/etc/kubernetes/kube-proxy.conf", Restart(&["kube-proxy"])),
    kubelet(Cert("kube-proxy"), "/etc/kubernetes/pki/kube-proxy.crt", Restart(&["kube-proxy"])),
    kubelet(Key("kube-proxy"), "/etc/kubernetes/pki/kube-proxy.key", Restart(&["kube-proxy"])),
    worker(Own(nc::KUBELET_UNIT), "/etc/systemd/system/kubelet.service", Unit("kubelet")),
    worker(Own(nc::KUBELET_CONFIG), "/var/lib/kubelet/config.yaml", Restart(&["kubelet"])),
    worker(Own(nc::KUBE_PROXY_UNIT), "/etc/systemd/system/kube-proxy.service", Unit("kube-proxy")),
    kubelet(Shared(nc::KUBE_PROXY_CONFIG), "/var/lib/kube-proxy/config.yaml", Restart(&["kube-proxy"])),
    NodeFile { role: Some(Worker), source: Shared(nc::KUBE_PROXY_CONFIG_BOOTSTRAP), path: "/var/lib/kube-proxy/config.yaml", consumer: Restart(&["kube-proxy"]), when: When::KubeletBootstrap },
    worker(Own(nc::CNI_BRIDGE), "/etc/cni/net.d/10-bridge.conf", Nothing),
    worker(Shared(nc::CNI_LOOPBACK), "/etc/cni/net.d/99-loopback.conf", Nothing),
    worker(Shared(nc::CONTAINERD_CONFIG), "/etc/containerd/config.toml", Restart(&["containerd"])),
    worker(Shared(nc::CRICTL_CONFIG), "/etc/crictl.yaml", Nothing),
    NodeFile { role: Some(Worker), source: Shared(nc::CONTAINERD_UNIT), path: "/etc/systemd/system/containerd.service", consumer: Unit("containerd"), when: When::RuntimeTarballs },
    lb(Shared(nc::HAPROXY_CONFIG), "/etc/haproxy/haproxy.cfg", Reload(&["haproxy"])),
    lb(Shared(nc::HAPROXY_DROPIN), "/etc/systemd/system/haproxy.service.d/10-hardway.conf", Unit("haproxy")),
    lb(Cert("kubernetes-ca"), "/etc/haproxy/kubernetes-ca.crt", Reload(&["haproxy"])),
    lb(Shared(nc::LB_HELPER), "/usr/local/lib/hardway/hardway-lb", Nothing),
    routed(Shared(nc::POD_ROUTES), "/etc/hardway/pod-routes", Restart(&["hardway-routes"])),
    routed(Shared(nc::ROUTES_SCRIPT), "/usr/local/lib/hardway/routes.sh", Restart(&["hardway-routes"])),
    routed(Shared(nc::ROUTES_UNIT), "/etc/systemd/system/hardway-routes.service", Unit("hardway-routes")),
    every(Shared(nc::MODULES_LOAD), "/etc/modules-load.d/kubernetes.conf", Restart(&["systemd-modules-load"])),
    every(Shared(nc::SYSCTL), "/etc/sysctl.d/99-kubernetes.conf", Restart(&["systemd-sysctl"])),
    every(Own(nc::INSTALL_SCRIPT), "/usr/local/lib/hardway/install.sh", Install),
    // Read at first boot only: a running node keeps the files it unpacked.
    NodeFile { role: None, source: Own(nc::FETCH_SECRETS), path: "/usr/local/lib/hardway/fetch-secrets.sh", consumer: Nothing, when: When::SecretsArchive },
    NodeFile { role: None, source: Shared(nc::SECRETS_CA), path: "/etc/hardway/secrets-ca.crt", consumer: Nothing, when: When::SecretsHttps },
];

/// Whether the file a node gets at `path` is a secret (see `Source::is_secret`).
pub fn is_secret_path(path: &str) -> bool {
    NODE_FILES.iter().any(|f| f.path == path && f.source.is_secret())
}

/// Whether the file a node gets at `path` is one it needs to obtain its archive (see `Source::is_boot`).
pub fn is_boot_path(path: &str) -> bool {
    NODE_FILES.iter().any(|f| f.path == path && f.source.is_boot())
}

/// The node path of the first table entry from `source` (the same source lands at one path on every
/// node running Kubernetes components; a load balancer keeps its CA beside HAProxy: [`at_role`]).
pub fn path_of(source: Source) -> Option<&'static str> {
    NODE_FILES.iter().find(|f| f.source == source).map(|f| f.path)
}

/// [`path_of`] for flags and configurations, which name only files the table places: a source no row
/// has is a bug of the table.
pub fn at(source: Source) -> Result<&'static str> {
    path_of(source).ok_or_else(|| Error::internal("node files", format!("no node gets {source:?}")))
}

/// The node path of `source` on nodes of `role`.
pub fn at_role(role: Role, source: Source) -> Result<&'static str> {
    NODE_FILES
        .iter()
        .find(|f| f.source == source && f.role == Some(role))
        .map(|f| f.path)
        .ok_or_else(|| Error::internal("node files", format!("no {role:?} node gets {source:?}")))
}

/// The kubernetes CA's trust bundle on every node that runs a Kubernetes component (every node
/// kubeconfig names it).
pub fn ca_file() -> Result<&'static str> {
    at(Cert("kubernetes-ca"))
}

/// The files a node kubeconfig names (`on_node`): `(CA, certificate, key)`, or `None` for one that
/// embeds its credentials.
pub fn node_refs(
    k: &crate::catalog::kubeconfigs::KubeconfigProfile,
) -> Result<Option<(&'static str, &'static str, &'static str)>> {
    if !k.on_node {
        return Ok(None);
    }
    Ok(Some((ca_file()?, at(Cert(k.cert))?, at(Key(k.cert))?)))
}

/// What picks up the node file at `path` (None for a path no node gets).
pub fn consumer(path: &str) -> Option<Consumer> {
    NODE_FILES.iter().find(|f| f.path == path).map(|f| f.consumer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::certs;

    #[test]
    fn table_refers_to_known_things_and_paths_agree() {
        for f in NODE_FILES {
            assert!(f.path.starts_with('/'), "{}", f.path);
            match f.source {
                SigningCert(n) => assert!(certs::find(n).is_some_and(|p| p.is_ca()), "{n} is no CA"),
                Cert(n) | Key(n) => {
                    let p = certs::find(n).unwrap_or_else(|| panic!("unknown cert {n}"));
                    match p.scope {
                        certs::Scope::PerNode(r) => assert_eq!(Some(r), f.role, "{n} is issued only to {r:?} nodes"),
                        certs::Scope::PerKubelet => {
                            assert_eq!((f.role, f.when), (Some(Worker), When::KubeletCertificates), "{n}")
                        }
                        certs::Scope::Cluster => {}
                    }
                }
                Kubeconfig(n) => {
                    assert!(
                        crate::catalog::kubeconfigs::KUBECONFIGS.iter().any(|k| k.name == n),
                        "unknown kubeconfig {n}"
                    )
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

    /// One path, one consumer: the rows that place a file at the same path agree on what picks it up.
    #[test]
    fn rows_of_one_path_agree_on_its_consumer() {
        for f in NODE_FILES {
            assert_eq!(consumer(f.path), Some(f.consumer), "{}", f.path);
        }
    }

    /// A kubeconfig naming node files is only placed where those files are placed too, from the right
    /// sources; one embedding its credentials is never placed on a node.
    #[test]
    fn node_kubeconfigs_find_their_files_on_the_same_nodes() {
        use crate::catalog::kubeconfigs::KUBECONFIGS;
        let ca = ca_file().unwrap();
        // Whether the nodes that get `f` also get `path` from `source`.
        let beside = |f: &NodeFile, path: &str, source: Source| {
            NODE_FILES.iter().any(|g| {
                g.path == path
                    && g.source == source
                    && (g.role.is_none() || g.role == f.role)
                    && (g.when == When::Always || g.when == f.when)
            })
        };
        for f in NODE_FILES {
            let named = match f.source {
                // Names the node's CA only (its credential is a token).
                BootstrapKubeconfig => vec![(ca, Cert("kubernetes-ca"))],
                Kubeconfig(name) => {
                    let k = KUBECONFIGS.iter().find(|k| k.name == name).unwrap();
                    let (ca, cert, key) = node_refs(k)
                        .unwrap()
                        .unwrap_or_else(|| panic!("{name} embeds credentials but goes to {}", f.path));
                    vec![(ca, Cert("kubernetes-ca")), (cert, Cert(k.cert)), (key, Key(k.cert))]
                }
                _ => continue,
            };
            for (path, source) in named {
                assert!(
                    beside(f, path, source),
                    "{} names {path}, which the same nodes do not get from {source:?}",
                    f.path
                );
            }
        }
    }

    #[test]
    fn workers_never_get_a_ca_key_or_cluster_secrets() {
        for f in NODE_FILES.iter().filter(|f| f.role != Some(ControlPlane)) {
            if let Key(n) = f.source {
                assert!(!certs::find(n).is_some_and(|p| p.is_ca()), "{:?} gets CA key {n}", f.role);
            }
            assert!(!matches!(f.source, SaKey | Encryption | Kubeconfig("admin") | Kubeconfig("super-admin")));
        }
        assert!(!NODE_FILES
            .iter()
            .any(|f| matches!(f.source, Cert("super-admin") | Key("super-admin") | Kubeconfig("super-admin"))));
    }
}
