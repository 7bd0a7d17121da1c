//! Parsing: YAML bytes into the raw form; syntax and type errors carry `file:line:column`.

use super::raw::RawTopology;
use super::MAX_FILE_BYTES;
use crate::error::Error;

/// Parses YAML text into the raw form; syntax and type errors carry `file:line:column`.
pub fn parse(file: &str, bytes: &[u8]) -> Result<RawTopology, Error> {
    let input = |message: &str| Error::Input { file: file.into(), message: message.into() };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(input(&format!(
            "is {} bytes; topology files are limited to {} bytes",
            bytes.len(),
            MAX_FILE_BYTES
        )));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(input("is empty; expected a topology (see `hardway init`)"));
    }
    if bytes.contains(&0) {
        return Err(input("is a binary file (contains NUL bytes), not a YAML topology"));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| input(&format!("is not UTF-8 text (invalid byte at offset {})", e.valid_up_to())))?;
    serde_saphyr::from_str::<RawTopology>(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        Error::Parse { file: file.into(), line, column, message: clean_message(&e.to_string()) }
    })
}

/// serde-saphyr's display text carries its own "error: line X column Y: " prefix, and sometimes a
/// hint about its own options; we print `file:line:column` ourselves and keep only the message.
fn clean_message(s: &str) -> String {
    let mut m = s.lines().next().unwrap_or(s).trim();
    m = m.strip_prefix("error: ").unwrap_or(m);
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some(i) = rest.find(": ") {
            if rest[..i].split(" column ").all(|n| n.bytes().all(|b| b.is_ascii_digit())) {
                m = &rest[i + 2..];
            }
        }
    }
    let m = m.split(", set DuplicateKeyPolicy").next().unwrap_or(m);
    if m.starts_with("multiple YAML documents") {
        return "multiple YAML documents: a topology is a single document (remove the `---` separator)".into();
    }
    m.trim_end_matches([',', ':']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lose_the_parser_prefix_and_hints() {
        assert_eq!(
            clean_message("error: line 26 column 43: duplicate mapping key: internalIP, set DuplicateKeyPolicy in Options if acceptable"),
            "duplicate mapping key: internalIP"
        );
        assert_eq!(clean_message("error: line 6 column 11: invalid u16"), "invalid u16");
    }
}
