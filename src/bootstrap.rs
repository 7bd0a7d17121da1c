//! Kubelet TLS bootstrap: seed-derived bootstrap tokens, their kubeconfigs and Secret manifests.

use crate::error::Result;
use crate::kubeconfig::{Kubeconfig, KubeconfigProfile, Server};
use crate::pki::Pki;
use crate::secrets::Secrets;
use crate::templates;
use crate::topology::{BootstrapTokens, Node, Topology};
use base64::Engine;
use serde::Serialize;

pub const PROFILE: KubeconfigProfile = KubeconfigProfile {
    name: "bootstrap-kubelet",
    cert: "",
    server: Server::Endpoint,
    dir: "kubeconfigs",
    purpose: "kubelet TLS bootstrap: a bootstrap token that may only request the node's certificates.",
};
static PROFILE_REF: &KubeconfigProfile = &PROFILE;

/// A bootstrap token `id.secret` ([a-z0-9]{6}.[a-z0-9]{16}), for one worker or shared by all.
#[derive(Clone, Debug, Serialize)]
pub struct Token {
    pub id: String,
    pub secret: String,
    /// `None` for the shared token.
    pub node: Option<String>,
}

impl Token {
    pub fn value(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
    /// Bundle path of this token's kubeconfig: per node, or the shared one.
    pub fn kubeconfig_path(&self) -> String {
        crate::kubeconfig::bundle_path(&PROFILE, self.node.as_deref())
    }
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Uniform characters of [a-z0-9] from seed-derived bytes (rejection sampling, no modulo bias).
fn token_chars(secrets: &Secrets, label: &str, n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut counter = 0u32;
    while out.len() < n {
        let bytes = secrets.derive(&format!("{label}/{counter}"));
        for b in bytes {
            if out.len() < n && usize::from(b) < 252 {
                out.push(char::from(ALPHABET[usize::from(b) % 36]));
            }
        }
        counter += 1;
    }
    out
}

fn token(secrets: &Secrets, node: Option<&str>) -> Token {
    let label = format!("bootstrap-token/{}", node.unwrap_or("shared"));
    Token {
        id: token_chars(secrets, &format!("{label}/id"), 6),
        secret: token_chars(secrets, &format!("{label}/secret"), 16),
        node: node.map(str::to_string),
    }
}

/// Every token the cluster needs: one per bootstrapping worker, or one shared.
pub fn tokens(t: &Topology, secrets: &Secrets) -> Vec<Token> {
    let workers: Vec<&Node> = t.nodes.iter().filter(|n| n.bootstraps()).collect();
    if !t.bootstrap_enabled() {
        return Vec::new();
    }
    match t.bootstrap_tokens {
        BootstrapTokens::Shared => vec![token(secrets, None)],
        BootstrapTokens::PerNode => workers.iter().map(|n| token(secrets, Some(&n.name))).collect(),
    }
}

/// Bundle path of the bootstrap kubeconfig `node` uses.
pub fn kubeconfig_path(t: &Topology, node: &Node) -> String {
    let own = (t.bootstrap_tokens == BootstrapTokens::PerNode).then_some(node.name.as_str());
    crate::kubeconfig::bundle_path(&PROFILE, own)
}

/// The bootstrap kubeconfigs (one per token).
pub fn kubeconfigs(t: &Topology, pki: &Pki, tokens: &[Token]) -> Result<Vec<Kubeconfig>> {
    let ca = pki.get("kubernetes-ca", None)?;
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca.cert_pem.as_bytes());
    let mut out = Vec::new();
    for tok in tokens {
        let path = tok.kubeconfig_path();
        let user = format!("system:bootstrap:{}", tok.id);
        let text = templates::render(
            "kubeconfig-token.yaml.j2",
            minijinja::context! {
                purpose => PROFILE.purpose,
                cluster => t.name,
                server => t.endpoint_url(),
                user => user,
                context => format!("kubelet-bootstrap@{}", t.name),
                ca_data => ca_data,
                token => tok.value(),
            },
        )?;
        out.push(Kubeconfig {
            profile: PROFILE_REF,
            node: tok.node.clone(),
            path,
            user,
            groups: vec!["system:bootstrappers".into()],
            server: t.endpoint_url(),
            text,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_bootstrap_format_and_differ_per_node() {
        let s = Secrets::from_seed([4u8; 32]);
        let a = token(&s, Some("a"));
        let b = token(&s, Some("b"));
        for t in [&a, &b] {
            assert_eq!(t.id.len(), 6);
            assert_eq!(t.secret.len(), 16);
            assert!(t.value().bytes().all(|c| c == b'.' || c.is_ascii_lowercase() || c.is_ascii_digit()));
        }
        assert_ne!(a.value(), b.value());
        assert_eq!(a.value(), token(&s, Some("a")).value());
    }
}
