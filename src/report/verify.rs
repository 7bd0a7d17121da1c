//! Reading a bundle back as a whole: its SHA256SUMS checked against every file (each listed once, none
//! missing, none unlisted) and its index.json parsed into the typed index. Readers that act on a
//! bundle (plan, cloudformation) refuse anything less; inspect reports the same findings.

use crate::bundle::index::Index;
use crate::bundle::{parse_sums, sha256_hex, Bundle};
use crate::catalog::paths;
use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// A bundle whose checksums held and whose index parsed.
pub struct Verified {
    /// Its parsed index.json.
    pub index: Index,
    /// Bundle path -> sha256 hex, from SHA256SUMS (verified).
    pub sums: BTreeMap<String, String>,
}

/// SHA256SUMS of `b`, verified: every file listed, every listed file present with that digest.
pub fn checksums(b: &Bundle) -> std::result::Result<BTreeMap<String, String>, String> {
    let sums = b.get(paths::SUMS).ok_or_else(|| format!("{} missing", paths::SUMS))?;
    let text = std::str::from_utf8(&sums.bytes).map_err(|_| format!("{} is not text", paths::SUMS))?;
    let listed = parse_sums(text).map_err(|e| format!("{}: {e}", paths::SUMS))?;
    for (path, hash) in &listed {
        let e = b.get(path).ok_or_else(|| format!("{path} listed but missing"))?;
        if &sha256_hex(&e.bytes) != hash {
            return Err(format!("{path} does not match its checksum"));
        }
    }
    for (path, _) in b.iter() {
        if path != paths::SUMS && !listed.contains_key(path) {
            return Err(format!("{path} is not listed in {}", paths::SUMS));
        }
    }
    Ok(listed)
}

/// The bundle's index, parsed (every field present).
pub fn index(b: &Bundle) -> std::result::Result<Index, String> {
    let e = b.get(paths::INDEX).ok_or_else(|| format!("{} missing", paths::INDEX))?;
    Index::parse(&e.bytes).map_err(|e| format!("{}: {e}", paths::INDEX))
}

/// `b` checked as a whole hardway bundle; `label` names it in the error.
pub fn verified(label: &str, b: &Bundle) -> Result<Verified> {
    let bad = |m: String| Error::Bundle { path: label.into(), message: format!("not a whole hardway bundle: {m}") };
    let sums = checksums(b).map_err(bad)?;
    let index = index(b).map_err(bad)?;
    for n in &index.nodes {
        for f in &n.files {
            if !sums.contains_key(&f.source) {
                return Err(bad(format!(
                    "index.json places {} on {}, but the bundle has no such file",
                    f.source, n.name
                )));
            }
        }
    }
    Ok(Verified { index, sums })
}
