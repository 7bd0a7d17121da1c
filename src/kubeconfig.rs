//! The kubeconfig table (who connects where with which certificate) and rendering to YAML.

use crate::error::Result;
use crate::pki::{Issued, Pki};
use crate::templates;
use crate::topology::Topology;
use base64::Engine;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Server {
    /// The cluster endpoint (load balancer): for clients off the controlplane nodes.
    Endpoint,
    /// https://127.0.0.1:<port>: components running next to an apiserver.
    Local,
}

#[derive(Debug)]
pub struct KubeconfigProfile {
    pub name: &'static str,
    /// Certificate profile whose certificate and key are embedded; its scope is the kubeconfig's scope.
    pub cert: &'static str,
    pub server: Server,
    /// Bundle directory for cluster-scoped kubeconfigs (per-node ones live in `nodes/<name>/`).
    pub dir: &'static str,
    pub purpose: &'static str,
}

#[rustfmt::skip]
pub const KUBECONFIGS: &[KubeconfigProfile] = &[
    KubeconfigProfile { name: "admin", cert: "admin", server: Server::Endpoint, dir: "kubeconfigs", purpose: "Cluster admin kubeconfig (group kubeadm:cluster-admins, bound to cluster-admin)." },
    KubeconfigProfile { name: "super-admin", cert: "super-admin", server: Server::Endpoint, dir: "break-glass", purpose: "BREAK-GLASS kubeconfig in system:masters: bypasses RBAC and cannot be revoked. Keep offline." },
    KubeconfigProfile { name: "kube-controller-manager", cert: "kube-controller-manager", server: Server::Local, dir: "kubeconfigs", purpose: "kube-controller-manager -> local kube-apiserver." },
    KubeconfigProfile { name: "kube-scheduler", cert: "kube-scheduler", server: Server::Local, dir: "kubeconfigs", purpose: "kube-scheduler -> local kube-apiserver." },
    KubeconfigProfile { name: "kube-proxy", cert: "kube-proxy", server: Server::Endpoint, dir: "kubeconfigs", purpose: "kube-proxy -> cluster endpoint." },
    KubeconfigProfile { name: "kubelet", cert: "kubelet-client", server: Server::Endpoint, dir: "kubeconfigs", purpose: "kubelet -> cluster endpoint, as system:node:<name>." },
];

/// One rendered kubeconfig.
#[derive(Debug)]
pub struct Kubeconfig {
    pub profile: &'static KubeconfigProfile,
    pub node: Option<String>,
    pub path: String,
    pub user: String,
    pub groups: Vec<String>,
    pub server: String,
    pub text: String,
}

pub fn bundle_path(p: &KubeconfigProfile, node: Option<&str>) -> String {
    match node {
        Some(n) => format!("nodes/{n}/{}.kubeconfig", p.name),
        None => format!("{}/{}.kubeconfig", p.dir, p.name),
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn render_one(t: &Topology, p: &'static KubeconfigProfile, cert: &Issued, ca: &Issued) -> Result<Kubeconfig> {
    let server = match p.server {
        Server::Endpoint => t.endpoint_url(),
        Server::Local => t.local_url(),
    };
    let user = cert.common_name.clone();
    let groups: Vec<String> = cert.profile.org.iter().map(|o| o.to_string()).collect();
    let text = templates::render(
        "kubeconfig.yaml.j2",
        minijinja::context! {
            purpose => p.purpose,
            cluster => t.name,
            server => server,
            user => user,
            groups => groups,
            context => format!("{}@{}", user, t.name),
            ca_data => b64(&ca.cert_pem),
            cert_data => b64(&cert.cert_pem),
            key_data => if cert.key_redacted { cert.key_pem.trim_end().to_string() } else { b64(&cert.key_pem) },
        },
    )?;
    Ok(Kubeconfig {
        profile: p,
        node: cert.node.clone(),
        path: bundle_path(p, cert.node.as_deref()),
        user,
        groups,
        server,
        text,
    })
}

/// Renders every kubeconfig of the table: one per certificate of its profile (so per node where the
/// certificate is per node).
pub fn build_all(t: &Topology, pki: &Pki) -> Result<Vec<Kubeconfig>> {
    let mut todo = Vec::new();
    for p in KUBECONFIGS {
        for cert in pki.certs.iter().filter(|c| c.profile.name == p.cert) {
            todo.push((p, cert, pki.get(cert.issuer_name(), None)?));
        }
    }
    // One per worker: on every core, in table order.
    crate::par::map(&todo, crate::par::threads(), |(p, cert, ca)| render_one(t, p, cert, ca)).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pki::profiles::{self, Usage};
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
