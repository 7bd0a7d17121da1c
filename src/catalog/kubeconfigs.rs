//! The kubeconfig table: who connects where with which certificate (plain data), and the bootstrap
//! token kubeconfig's profile.

/// Which server URL a kubeconfig names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// The cluster endpoint (load balancer): for clients off the controlplane nodes.
    Endpoint,
    /// https://127.0.0.1:<port>: components running next to an apiserver.
    Local,
}

/// One row of the kubeconfig table.
#[derive(Debug)]
pub struct KubeconfigProfile {
    /// Profile name, also the file name (`<name>.kubeconfig`).
    pub name: &'static str,
    /// Certificate profile whose certificate and key the kubeconfig presents; its scope is the
    /// kubeconfig's scope.
    pub cert: &'static str,
    /// `false`: CA, certificate and key are embedded (kubeconfigs used off the nodes). `true`: the
    /// kubeconfig names the node's files instead (`node_files::node_refs`: the CA, certificate and key
    /// reach the node once, as PEM, as kubeadm's kubelet.conf does); it is meant for the nodes only.
    pub on_node: bool,
    /// The endpoint or the local apiserver.
    pub server: Server,
    /// Bundle directory for cluster-scoped kubeconfigs (per-node ones live in `nodes/<name>/`).
    pub dir: &'static str,
    /// What it is for (the bundle README).
    pub purpose: &'static str,
}

/// Every kubeconfig hardway writes, but the bootstrap-token ones.
#[rustfmt::skip]
pub const KUBECONFIGS: &[KubeconfigProfile] = &[
    KubeconfigProfile { name: "admin", cert: "admin", on_node: false, server: Server::Endpoint, dir: "kubeconfigs", purpose: "Cluster admin kubeconfig (group kubeadm:cluster-admins, bound to cluster-admin)." },
    KubeconfigProfile { name: "super-admin", cert: "super-admin", on_node: false, server: Server::Endpoint, dir: "break-glass", purpose: "BREAK-GLASS kubeconfig in system:masters: bypasses RBAC and cannot be revoked. Keep offline." },
    KubeconfigProfile { name: "kube-controller-manager", cert: "kube-controller-manager", on_node: true, server: Server::Local, dir: "kubeconfigs", purpose: "kube-controller-manager -> local kube-apiserver." },
    KubeconfigProfile { name: "kube-scheduler", cert: "kube-scheduler", on_node: true, server: Server::Local, dir: "kubeconfigs", purpose: "kube-scheduler -> local kube-apiserver." },
    KubeconfigProfile { name: "kube-proxy", cert: "kube-proxy", on_node: true, server: Server::Endpoint, dir: "kubeconfigs", purpose: "kube-proxy -> cluster endpoint." },
    KubeconfigProfile { name: "kubelet", cert: "kubelet-client", on_node: true, server: Server::Endpoint, dir: "kubeconfigs", purpose: "kubelet -> cluster endpoint, as system:node:<name>." },
];

/// The TLS-bootstrap kubeconfig: a bootstrap token that may only request the node's certificates. It
/// names the node's CA file (`node_files::ca_file`); the kubelet writes that name into the kubeconfig it makes for
/// itself, so a CA rotation reaches it through the node's file.
pub const BOOTSTRAP: KubeconfigProfile = KubeconfigProfile {
    name: "bootstrap-kubelet",
    cert: "",
    on_node: false,
    server: Server::Endpoint,
    dir: "kubeconfigs",
    purpose: "kubelet TLS bootstrap: a bootstrap token that may only request the node's certificates.",
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::certs::{self as profiles, Usage};
    use std::collections::BTreeSet;

    #[test]
    fn table_refers_to_client_certificates_and_names_are_unique() {
        let mut names = BTreeSet::new();
        for k in KUBECONFIGS {
            assert!(names.insert(k.name), "duplicate {}", k.name);
            let cert = profiles::find(k.cert).unwrap_or_else(|| panic!("{}: unknown cert {}", k.name, k.cert));
            assert!(cert.usages.contains(&Usage::ClientAuth), "{}: {} is not a client cert", k.name, k.cert);
            assert_eq!(
                cert.issuer,
                profiles::Issuer::Ca("kubernetes-ca"),
                "{}: must be trusted by the apiserver",
                k.name
            );
            // Break-glass material stays together.
            assert_eq!(k.dir == "break-glass", cert.dir == "break-glass", "{}", k.name);
        }
    }
}
