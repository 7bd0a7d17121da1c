//! EncryptionConfiguration for Secrets: provider and keys, keys derived from the seed by provider and name.

use super::seed::Secrets;
use crate::error::Result;
use crate::fmt::templates;
use crate::model::Topology;
use base64::Engine;
use serde::Serialize;

#[derive(Serialize)]
struct KeyEntry {
    name: String,
    secret: String,
}

/// The 32-byte key for one encryption key name (secretbox and AES-256 both take 32 bytes).
pub fn key_bytes(t: &Topology, secrets: &Secrets, name: &str) -> [u8; 32] {
    secrets.derive(&format!("encryption/{}/{name}", t.provider.as_str()))
}

pub fn render(t: &Topology, secrets: &Secrets, redact: bool) -> Result<String> {
    let keys: Vec<KeyEntry> = t
        .encryption_keys
        .iter()
        .map(|name| {
            let key = key_bytes(t, secrets, name);
            KeyEntry {
                name: name.clone(),
                secret: if redact {
                    super::redact::placeholder(&format!("encryption key {name}"), &key)
                } else {
                    base64::engine::general_purpose::STANDARD.encode(key)
                },
            }
        })
        .collect();
    templates::render(
        "encryption-config.yaml.j2",
        minijinja::context! { provider => t.provider.as_str(), keys => keys },
    )
}
