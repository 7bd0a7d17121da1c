//! Kubeconfigs: one per certificate of each profile in the kubeconfig table, rendered to YAML (naming
//! the node's files for kubeconfigs used on nodes, embedding the credentials for the others).

use super::pki::{Issued, Pki};
use crate::catalog::kubeconfigs::{KubeconfigProfile, Server, KUBECONFIGS};
use crate::catalog::node_files;
use crate::catalog::paths;
use crate::error::Result;
use crate::fmt::templates;
use crate::model::Topology;
use base64::Engine;
use rayon::prelude::*;

/// One rendered kubeconfig. Its `Debug` shows no text (some embed a client key).
pub struct Kubeconfig {
    /// Its row of the kubeconfig table.
    pub profile: &'static KubeconfigProfile,
    /// The node it is for (per-node ones).
    pub node: Option<String>,
    /// Bundle path.
    pub path: String,
    /// The user it authenticates as.
    pub user: String,
    /// The user's groups.
    pub groups: Vec<String>,
    /// The server URL.
    pub server: String,
    /// The kubeconfig's YAML.
    pub text: String,
}

impl std::fmt::Debug for Kubeconfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubeconfig")
            .field("profile", &self.profile.name)
            .field("node", &self.node)
            .field("path", &self.path)
            .field("user", &self.user)
            .field("text", &format_args!("<{} bytes>", self.text.len()))
            .finish_non_exhaustive()
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

fn render_one(t: &Topology, p: &'static KubeconfigProfile, cert: &Issued, ca_pem: &str) -> Result<Kubeconfig> {
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
            cluster => t.name.as_str(),
            server => server,
            user => user,
            groups => groups,
            context => format!("{}@{}", user, t.name),
            refs => node_files::node_refs(p)?.map(|(ca, cert, key)| minijinja::context! { ca => ca, cert => cert, key => key }),
            ca_data => b64(ca_pem),
            cert_data => b64(&cert.cert_pem),
            key_data => if cert.key_redacted { cert.key_pem.trim_end().to_string() } else { b64(&cert.key_pem) },
        },
    )?;
    Ok(Kubeconfig {
        profile: p,
        node: cert.node.clone(),
        path: paths::kubeconfig_path(p, cert.node.as_deref()),
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
            todo.push((p, cert, pki.trust_pem(cert.issuer_name())));
        }
    }
    // One per worker: on every core of the pool, in table order.
    todo.par_iter().map(|(p, cert, ca)| render_one(t, p, cert, ca)).collect()
}
