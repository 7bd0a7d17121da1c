//! The certificate table: every CA and leaf certificate hardway issues, as plain data.

use crate::model::Role;

/// Who signs a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Issuer {
    /// A CA: it signs itself.
    SelfSigned,
    /// A leaf, signed by the CA of that profile name.
    Ca(&'static str),
}

/// A certificate's common name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// The same for every certificate of the profile.
    Fixed(&'static str),
    /// The node's name.
    NodeName,
    /// A fixed prefix followed by the node's name (`system:node:` + name).
    NodePrefixed(&'static str),
}

/// An extended key usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Usage {
    /// TLS server.
    ServerAuth,
    /// TLS client.
    ClientAuth,
}

impl Usage {
    /// The name as index.json and openssl write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Usage::ServerAuth => "serverAuth",
            Usage::ClientAuth => "clientAuth",
        }
    }
}

/// Which subject alternative names a certificate gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SanRule {
    /// None (clients and CAs).
    None,
    /// First service IP, kubernetes.default.svc.<domain> names, the endpoint, extra SANs, every
    /// controlplane address, 127.0.0.1 and localhost (and ::1 in IPv6 clusters).
    ApiServer,
    /// Member name and addresses plus localhost, 127.0.0.1 and ::1 (as kubeadm does).
    EtcdMember,
    /// Node name and addresses.
    Kubelet,
}

/// How many certificates a profile makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One for the cluster.
    Cluster,
    /// One per node with the role.
    PerNode(Role),
    /// Per worker whose kubelet credentials come from the bundle (not TLS bootstrap).
    PerKubelet,
}

impl Scope {
    /// Whether each node gets its own.
    pub fn is_per_node(self) -> bool {
        !matches!(self, Scope::Cluster)
    }
}

/// One row of the certificate table.
#[derive(Debug)]
pub struct CertProfile {
    /// Profile name, also the file name (`pki/<name>.crt`).
    pub name: &'static str,
    /// Who signs it.
    pub issuer: Issuer,
    /// Its common name.
    pub subject: Subject,
    /// Its organization (O), which Kubernetes reads as the group.
    pub org: Option<&'static str>,
    /// Extended key usages; empty for CAs only.
    pub usages: &'static [Usage],
    /// Its subject alternative names.
    pub sans: SanRule,
    /// One for the cluster or one per node.
    pub scope: Scope,
    /// Bundle directory for cluster-scoped certificates (per-node ones live in `nodes/<name>/pki`).
    pub dir: &'static str,
    /// What it is for (the bundle README's table).
    pub purpose: &'static str,
}

impl CertProfile {
    /// Whether it is a CA.
    pub fn is_ca(&self) -> bool {
        self.issuer == Issuer::SelfSigned
    }
}

use Issuer::*;
use SanRule as S;
use Scope::*;
use Subject::*;
use Usage::*;

const CA: &[Usage] = &[];
const SERVER: &[Usage] = &[ServerAuth];
const CLIENT: &[Usage] = &[ClientAuth];
const BOTH: &[Usage] = &[ServerAuth, ClientAuth];

/// CAs first (issuers before the certificates they sign), then cluster leaves, then per-node leaves.
#[rustfmt::skip]
pub const PROFILES: &[CertProfile] = &[
    CertProfile { name: "kubernetes-ca", issuer: SelfSigned, subject: Fixed("kubernetes-ca"), org: None, usages: CA, sans: S::None, scope: Cluster, dir: "pki", purpose: "cluster CA: signs apiserver, component and kubelet certificates; controller-manager signs CSRs with it" },
    CertProfile { name: "etcd-ca", issuer: SelfSigned, subject: Fixed("etcd-ca"), org: None, usages: CA, sans: S::None, scope: Cluster, dir: "pki", purpose: "etcd CA: trusted only by etcd and for etcd clients" },
    CertProfile { name: "front-proxy-ca", issuer: SelfSigned, subject: Fixed("front-proxy-ca"), org: None, usages: CA, sans: S::None, scope: Cluster, dir: "pki", purpose: "aggregation layer CA (requestheader client CA)" },
    CertProfile { name: "apiserver", issuer: Ca("kubernetes-ca"), subject: Fixed("kube-apiserver"), org: None, usages: SERVER, sans: S::ApiServer, scope: Cluster, dir: "pki", purpose: "kube-apiserver serving certificate" },
    CertProfile { name: "apiserver-kubelet-client", issuer: Ca("kubernetes-ca"), subject: Fixed("kube-apiserver-kubelet-client"), org: None, usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "kube-apiserver -> kubelet client (logs, exec, port-forward)" },
    CertProfile { name: "apiserver-etcd-client", issuer: Ca("etcd-ca"), subject: Fixed("kube-apiserver-etcd-client"), org: None, usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "kube-apiserver -> etcd client" },
    CertProfile { name: "front-proxy-client", issuer: Ca("front-proxy-ca"), subject: Fixed("front-proxy-client"), org: None, usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "kube-apiserver -> aggregated API servers (proxy client)" },
    CertProfile { name: "etcd-healthcheck-client", issuer: Ca("etcd-ca"), subject: Fixed("kube-etcd-healthcheck-client"), org: None, usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "etcdctl health checks on etcd members" },
    CertProfile { name: "kube-controller-manager", issuer: Ca("kubernetes-ca"), subject: Fixed("system:kube-controller-manager"), org: None, usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "kube-controller-manager -> apiserver client" },
    CertProfile { name: "kube-scheduler", issuer: Ca("kubernetes-ca"), subject: Fixed("system:kube-scheduler"), org: None, usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "kube-scheduler -> apiserver client" },
    CertProfile { name: "kube-proxy", issuer: Ca("kubernetes-ca"), subject: Fixed("system:kube-proxy"), org: Some("system:node-proxier"), usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "kube-proxy -> apiserver client" },
    CertProfile { name: "admin", issuer: Ca("kubernetes-ca"), subject: Fixed("kubernetes-admin"), org: Some("kubeadm:cluster-admins"), usages: CLIENT, sans: S::None, scope: Cluster, dir: "pki", purpose: "day-to-day cluster admin (cluster-admin via the ClusterRoleBinding in manifests/)" },
    CertProfile { name: "super-admin", issuer: Ca("kubernetes-ca"), subject: Fixed("kubernetes-super-admin"), org: Some("system:masters"), usages: CLIENT, sans: S::None, scope: Cluster, dir: "break-glass", purpose: "break-glass admin in system:masters: bypasses RBAC, cannot be revoked; keep offline" },
    CertProfile { name: "etcd-server", issuer: Ca("etcd-ca"), subject: NodeName, org: None, usages: BOTH, sans: S::EtcdMember, scope: PerNode(Role::Etcd), dir: "pki", purpose: "etcd member serving certificate (client port 2379)" },
    CertProfile { name: "etcd-peer", issuer: Ca("etcd-ca"), subject: NodeName, org: None, usages: BOTH, sans: S::EtcdMember, scope: PerNode(Role::Etcd), dir: "pki", purpose: "etcd member peer certificate (peer port 2380, both directions)" },
    CertProfile { name: "kubelet-client", issuer: Ca("kubernetes-ca"), subject: NodePrefixed("system:node:"), org: Some("system:nodes"), usages: CLIENT, sans: S::None, scope: PerKubelet, dir: "pki", purpose: "kubelet -> apiserver client (Node authorizer identity)" },
    CertProfile { name: "kubelet-server", issuer: Ca("kubernetes-ca"), subject: NodePrefixed("system:node:"), org: Some("system:nodes"), usages: SERVER, sans: S::Kubelet, scope: PerKubelet, dir: "pki", purpose: "kubelet serving certificate (port 10250), verified by the apiserver" },
];

/// The profile of that name.
pub fn find(name: &str) -> Option<&'static CertProfile> {
    PROFILES.iter().find(|p| p.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::paths::cert_paths as bundle_paths;
    use std::collections::BTreeSet;

    #[test]
    fn names_unique_and_issuers_come_first() {
        let mut seen = BTreeSet::new();
        for p in PROFILES {
            assert!(seen.insert(p.name), "duplicate profile {}", p.name);
            if let Ca(issuer) = p.issuer {
                let ca = find(issuer).unwrap_or_else(|| panic!("{}: unknown issuer {issuer}", p.name));
                assert!(ca.is_ca(), "{}: issuer {issuer} is not a CA", p.name);
                assert!(seen.contains(issuer), "{}: issuer {issuer} must come earlier", p.name);
            }
        }
    }

    #[test]
    fn only_cas_lack_usages_and_cas_are_plain() {
        for p in PROFILES {
            assert_eq!(p.usages.is_empty(), p.is_ca(), "{}", p.name);
            if p.is_ca() {
                assert_eq!(p.scope, Cluster, "{}", p.name);
                assert_eq!(p.sans, S::None, "{}", p.name);
            }
            // Serving certificates need names to be verified against.
            if p.usages.contains(&ServerAuth) {
                assert_ne!(p.sans, S::None, "{} serves TLS but has no SAN rule", p.name);
            }
        }
    }

    #[test]
    fn cluster_paths_unique_and_super_admin_apart() {
        let paths: BTreeSet<String> = PROFILES.iter().map(|p| bundle_paths(p, None, 1).0).collect();
        assert_eq!(paths.len(), PROFILES.len());
        let sa = find("super-admin").map(|p| bundle_paths(p, None, 1).0);
        assert_eq!(sa.as_deref(), Some("break-glass/super-admin.crt"));
        // Only the break-glass identity may be in system:masters.
        for p in PROFILES {
            if p.org == Some("system:masters") {
                assert_eq!(p.dir, "break-glass", "{}", p.name);
            }
        }
    }
}
