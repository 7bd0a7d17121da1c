//! Formatting shared by every layer: templates (compiled in, strict), escaping for each kind of sink,
//! hex, RFC 3339 times and quoted values in messages. Imports nothing of hardway's but the error type.

pub mod escape;
pub mod templates;

use crate::error::{Error, Result};

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// `2026-11-01T00:00:00Z`.
pub fn rfc3339(t: time::OffsetDateTime) -> Result<String> {
    t.format(&time::format_description::well_known::Rfc3339).map_err(|e| Error::internal("time format", e))
}

/// Most characters of an offending value an error message quotes.
pub const QUOTE_MAX: usize = 80;

/// A user's value as an error message quotes it: a double-quoted, escaped string of at most
/// `QUOTE_MAX` characters (longer ones end in `…`), so a huge value cannot flood the terminal.
pub fn quoted(s: &str) -> String {
    match s.char_indices().nth(QUOTE_MAX) {
        None => format!("{s:?}"),
        Some((cut, _)) => {
            let q = format!("{:?}", &s[..cut]);
            format!("{}…\"", &q[..q.len() - 1])
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hex_and_quotes() {
        assert_eq!(super::hex(&[0, 0xab, 0x7f]), "00ab7f");
        assert_eq!(super::quoted("a\"b"), "\"a\\\"b\"");
        let long = "é".repeat(200);
        let q = super::quoted(&long);
        assert_eq!(q.chars().count(), 80 + 3, "{q}");
        assert!(q.ends_with("é…\""), "{q}");
    }
}
