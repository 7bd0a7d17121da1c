//! EncryptionConfiguration for Secrets: provider and keys, keys derived from the seed by provider and name.

use super::seed::Secrets;
use crate::error::Result;
use crate::fmt::templates;
use crate::model::{EncryptionKey, Topology};
use base64::Engine;
use serde::Serialize;

#[derive(Serialize)]
struct KeyEntry {
    name: String,
    secret: String,
}

/// One provider block of the config: consecutive keys of one provider.
#[derive(Serialize)]
struct ProviderBlock {
    provider: &'static str,
    keys: Vec<KeyEntry>,
}

/// The 32-byte key for one encryption key name under its provider (secretbox and AES-256 both take 32
/// bytes).
pub fn key_bytes(secrets: &Secrets, key: &EncryptionKey) -> Result<[u8; 32]> {
    secrets.derive(&format!("encryption/{}/{}", key.provider.as_str(), key.name))
}

/// The EncryptionConfiguration (keys derived from the seed, or placeholders when `redact`).
pub fn render(t: &Topology, secrets: &Secrets, redact: bool) -> Result<String> {
    let mut blocks: Vec<ProviderBlock> = Vec::new();
    for k in &t.encryption_keys {
        let key = key_bytes(secrets, k)?;
        let entry = KeyEntry {
            name: k.name.clone(),
            secret: if redact {
                super::redact::placeholder(&format!("encryption key {}", k.name), &key)
            } else {
                base64::engine::general_purpose::STANDARD.encode(key)
            },
        };
        match blocks.last_mut() {
            Some(b) if b.provider == k.provider.as_str() => b.keys.push(entry),
            _ => blocks.push(ProviderBlock { provider: k.provider.as_str(), keys: vec![entry] }),
        }
    }
    templates::render("encryption-config.yaml.j2", minijinja::context! { blocks => blocks })
}
