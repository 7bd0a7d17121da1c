//! The cluster secret: a 32-byte seed from which every key, serial and token is derived with HKDF-SHA256.

use hkdf::Hkdf;
use sha2::Sha256;
use std::fmt;

/// Fixed HKDF salt: changing it changes every derived value, so it is versioned.
const SALT: &[u8] = b"hardway/v1";

/// The secret seed. Deliberately has no `Display`, and its `Debug` shows no bytes.
#[derive(Clone)]
pub struct Secrets {
    seed: [u8; 32],
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secrets(<redacted>)")
    }
}

impl Drop for Secrets {
    /// The seed does not outlive its use in memory.
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.seed);
    }
}

impl Secrets {
    /// Secrets from a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Secrets {
        Secrets { seed }
    }

    /// Parses a secret file: `#` comment lines and blank lines are ignored; exactly one line of 64 hex
    /// digits must remain. Error messages describe the shape of the problem, never the content.
    pub fn parse(text: &[u8]) -> Result<Secrets, String> {
        let text =
            std::str::from_utf8(text).map_err(|_| "is not a hardway secret file (not UTF-8 text)".to_string())?;
        let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
        let line = match lines.as_slice() {
            [one] => *one,
            [] => return Err("holds no seed (expected one line of 64 hex digits)".into()),
            more => {
                return Err(format!(
                    "holds {} non-comment lines; expected exactly one line of 64 hex digits",
                    more.len()
                ))
            }
        };
        if line.len() != 64 {
            return Err(format!(
                "seed line has {} characters; expected 64 hex digits (32 bytes)",
                line.chars().count()
            ));
        }
        let mut seed = [0u8; 32];
        for (i, pair) in line.as_bytes().chunks(2).enumerate() {
            let hi = hex_val(pair[0]);
            let lo = hex_val(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => seed[i] = h << 4 | l,
                _ => return Err("seed line is not hexadecimal (expected 64 digits 0-9a-f)".into()),
            }
        }
        Ok(Secrets { seed })
    }

    /// The text of a secret file for `seed`, as `hardway init` writes it.
    pub fn file_text(seed: &[u8; 32]) -> String {
        let mut s = String::from(
            "# hardway cluster secret: every key, certificate serial and token of the bundle derives from it.\n\
             # Keep it private (mode 0600). Losing it does not break a rendered cluster; leaking it leaks every key.\n",
        );
        s.push_str(&crate::fmt::hex(seed));
        s.push('\n');
        s
    }

    /// 32 bytes for one purpose. Distinct labels give independent values.
    pub fn derive(&self, label: &str) -> Result<[u8; 32], crate::Error> {
        let mut out = [0u8; 32];
        self.derive_into(label, &mut out)?;
        Ok(out)
    }

    /// Fills `out` (at most 8160 bytes, HKDF-SHA256's limit) with bytes for one purpose; longer is an
    /// error, never a key of zeros.
    pub fn derive_into(&self, label: &str, out: &mut [u8]) -> Result<(), crate::Error> {
        let hk = Hkdf::<Sha256>::new(Some(SALT), &self.seed);
        hk.expand(label.as_bytes(), out)
            .map_err(|_| crate::Error::internal(label, format!("HKDF cannot give {} bytes", out.len())))
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_errors() {
        let seed = [7u8; 32];
        let s = Secrets::parse(Secrets::file_text(&seed).as_bytes()).map_err(|e| e.to_string());
        assert_eq!(s.map(|s| s.seed), Ok(seed));
        assert!(Secrets::parse(b"").unwrap_err().contains("no seed"));
        assert!(Secrets::parse(b"abcd\n").unwrap_err().contains("4 characters"));
        let bad = "zz".repeat(32);
        let e = Secrets::parse(bad.as_bytes()).unwrap_err();
        assert!(!e.contains("zz"), "error must not echo the secret: {e}");
        assert!(Secrets::parse(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn derive_is_label_separated_and_stable() {
        let s = Secrets::from_seed([1u8; 32]);
        assert_ne!(s.derive("a").unwrap(), s.derive("b").unwrap());
        assert_eq!(s.derive("a").unwrap(), s.derive("a").unwrap());
        let mut too_long = vec![0u8; 255 * 32 + 1];
        assert!(s.derive_into("a", &mut too_long).is_err(), "an HKDF failure is an error, never zeros");
        // HKDF-SHA256 (RFC 5869) computed independently with Python's hmac module:
        // salt "hardway/v1", ikm 32 bytes of 0x01, info "a", first output block.
        assert_eq!(
            crate::fmt::hex(&s.derive("a").unwrap()),
            "367d73d754e768d70077e708ea0a67f30908a9c9525a102099c9cb90c7726cb8"
        );
        assert_eq!(format!("{:?}", s), "Secrets(<redacted>)");
    }
}
