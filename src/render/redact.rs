//! Redaction: stable placeholders for secrets, naming what they stand for and a short fingerprint of
//! the real value, so a rotation shows in a diff while the value does not.

use sha2::{Digest, Sha256};

/// `REDACTED <what> sha256:<first 8 bytes of SHA-256 of the real value, hex>`.
pub fn placeholder(what: &str, secret: &[u8]) -> String {
    let fp = crate::fmt::hex(&Sha256::digest(secret)[..8]);
    format!("REDACTED {what} sha256:{fp}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholder_names_and_fingerprints() {
        // sha256("abc") starts with ba7816bf8f01cfea (FIPS 180-2 test vector).
        assert_eq!(super::placeholder("key x", b"abc"), "REDACTED key x sha256:ba7816bf8f01cfea");
    }
}
