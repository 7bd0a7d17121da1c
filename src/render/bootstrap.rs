//! Kubelet TLS bootstrap: seed-derived bootstrap tokens, their kubeconfigs and Secret manifests.

use super::kubeconfig::Kubeconfig;
use super::seed::Secrets;
use crate::catalog::kubeconfigs::{KubeconfigProfile, BOOTSTRAP as PROFILE};
use crate::catalog::paths;
use crate::error::Result;
use crate::fmt::templates;
use crate::model::{BootstrapTokens, Node, Topology};
use serde::Serialize;

static PROFILE_REF: &KubeconfigProfile = &PROFILE;

/// A bootstrap token `id.secret` ([a-z0-9]{6}.[a-z0-9]{16}), for one worker or shared by all.
#[derive(Clone, Serialize)]
pub struct Token {
    /// The public half (6 characters).
    pub id: String,
    /// The secret half (16 characters).
    pub secret: String,
    /// `None` for the shared token.
    pub node: Option<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token").field("id", &self.id).field("node", &self.node).field("secret", &"<redacted>").finish()
    }
}

impl Token {
    /// `id.secret`, as a kubeconfig carries it.
    pub fn value(&self) -> String {
        format!("{}.{}", self.id, self.secret)
    }
    /// Bundle path of this token's kubeconfig: per node, or the shared one.
    pub fn kubeconfig_path(&self) -> String {
        paths::kubeconfig_path(&PROFILE, self.node.as_deref())
    }
}

const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// Uniform characters of [a-z0-9] from seed-derived bytes (rejection sampling, no modulo bias).
fn token_chars(secrets: &Secrets, label: &str, n: usize) -> Result<String> {
    let mut out = String::with_capacity(n);
    let mut counter = 0u32;
    while out.len() < n {
        let bytes = secrets.derive(&format!("{label}/{counter}"))?;
        for b in bytes {
            if out.len() < n && usize::from(b) < 252 {
                out.push(char::from(ALPHABET[usize::from(b) % 36]));
            }
        }
        counter += 1;
    }
    Ok(out)
}

/// The label all of a token's values derive from: per node (or shared) and per token generation
/// (generation 0 keeps the labels of bundles made before generations existed).
fn token_label(node: Option<&str>, generation: u32) -> String {
    let base = format!("bootstrap-token/{}", node.unwrap_or("shared"));
    match generation {
        0 => base,
        g => format!("{base}/generation-{g}"),
    }
}

/// Token IDs for `labels`, in order, each unique: an ID already taken by an earlier label is drawn
/// again (`derive(label, attempt)` with the next attempt), so adding a node at the end changes no
/// earlier token. A Secret is named after its token ID: two equal IDs would let one overwrite the other.
fn unique_ids(labels: &[String], derive: impl Fn(&str, u32) -> Result<String>) -> Result<Vec<String>> {
    let mut seen = std::collections::BTreeSet::new();
    labels
        .iter()
        .map(|label| {
            let mut attempt = 0;
            loop {
                let id = derive(label, attempt)?;
                if seen.insert(id.clone()) {
                    return Ok(id);
                }
                attempt += 1;
            }
        })
        .collect()
}

fn id_chars(secrets: &Secrets, label: &str, attempt: u32) -> Result<String> {
    match attempt {
        0 => token_chars(secrets, &format!("{label}/id"), 6),
        a => token_chars(secrets, &format!("{label}/id/retry-{a}"), 6),
    }
}

/// Every token the cluster needs: one per bootstrapping worker, or one shared.
pub fn tokens(t: &Topology, secrets: &Secrets) -> Result<Vec<Token>> {
    if !t.bootstrap_enabled() {
        return Ok(Vec::new());
    }
    let nodes: Vec<Option<&str>> = match t.bootstrap_tokens {
        BootstrapTokens::Shared => vec![None],
        BootstrapTokens::PerNode => t.nodes.iter().filter(|n| n.bootstraps()).map(|n| Some(n.name.as_str())).collect(),
    };
    let labels: Vec<String> = nodes.iter().map(|n| token_label(*n, t.bootstrap_token_generation)).collect();
    let ids = unique_ids(&labels, |label, attempt| id_chars(secrets, label, attempt))?;
    nodes
        .into_iter()
        .zip(labels.iter().zip(ids))
        .map(|(node, (label, id))| {
            Ok(Token {
                id,
                secret: token_chars(secrets, &format!("{label}/secret"), 16)?,
                node: node.map(str::to_string),
            })
        })
        .collect()
}

/// Bundle path of the bootstrap kubeconfig `node` uses.
pub fn kubeconfig_path(t: &Topology, node: &Node) -> String {
    let own = (t.bootstrap_tokens == BootstrapTokens::PerNode).then_some(node.name.as_str());
    paths::kubeconfig_path(&PROFILE, own)
}

/// The bootstrap kubeconfigs (one per token).
pub fn kubeconfigs(t: &Topology, tokens: &[Token]) -> Result<Vec<Kubeconfig>> {
    let mut out = Vec::new();
    for tok in tokens {
        let path = tok.kubeconfig_path();
        let user = format!("system:bootstrap:{}", tok.id);
        let text = templates::render(
            "kubeconfig-token.yaml.j2",
            minijinja::context! {
                purpose => PROFILE.purpose,
                cluster => t.name.as_str(),
                server => t.endpoint_url(),
                user => user,
                context => format!("kubelet-bootstrap@{}", t.name),
                ca_file => crate::catalog::node_files::ca_file()?,
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
        let token = |node: Option<&str>| {
            let label = token_label(node, 0);
            Token {
                id: id_chars(&s, &label, 0).unwrap(),
                secret: token_chars(&s, &format!("{label}/secret"), 16).unwrap(),
                node: None,
            }
        };
        let a = token(Some("a"));
        let b = token(Some("b"));
        for t in [&a, &b] {
            assert_eq!(t.id.len(), 6);
            assert_eq!(t.secret.len(), 16);
            assert!(t.value().bytes().all(|c| c == b'.' || c.is_ascii_lowercase() || c.is_ascii_digit()));
        }
        assert_ne!(a.value(), b.value());
        assert_eq!(a.value(), token(Some("a")).value());
        assert_ne!(token_label(Some("a"), 0), token_label(Some("a"), 1));
    }

    /// IDs drawn alike for different nodes are drawn again until unique, earlier nodes first.
    #[test]
    fn token_ids_are_unique_even_when_draws_collide() {
        let labels: Vec<String> = ["a", "b", "c", "d"].iter().map(|n| token_label(Some(n), 0)).collect();
        // Every first draw collides; "b"'s second draw collides with "a"'s first as well.
        let ids = unique_ids(&labels, |label, attempt| {
            Ok(match attempt {
                0 => "aaaaaa".into(),
                a => format!("{}{a:05}", &label[label.len() - 1..]),
            })
        })
        .unwrap();
        assert_eq!(ids, ["aaaaaa", "b00001", "c00001", "d00001"]);
        let s = Secrets::from_seed([4u8; 32]);
        let real = unique_ids(&labels, |l, a| id_chars(&s, l, a)).unwrap();
        assert_eq!(real.iter().collect::<std::collections::BTreeSet<_>>().len(), 4);
    }
}
