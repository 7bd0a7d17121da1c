//! `Bundle`: the rendered output as a sorted map of relative path -> bytes + mode, and its checksum
//! listing (no I/O: `io` writes and reads bundles).

pub mod index;

use crate::error::{Error, Result};
use rayon::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Private keys, kubeconfigs with credentials, user-data: owner only.
pub const MODE_SECRET: u32 = 0o600;
/// Certificates, configuration, manifests.
pub const MODE_PUBLIC: u32 = 0o644;
/// Scripts.
pub const MODE_EXEC: u32 = 0o755;

/// A file of the bundle. Its `Debug` shows the size, never the bytes (keys, tokens).
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file's contents.
    pub bytes: Vec<u8>,
    /// Its Unix mode (MODE_SECRET, MODE_PUBLIC or MODE_EXEC).
    pub mode: u32,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry {{ {} bytes, mode {:04o} }}", self.bytes.len(), self.mode)
    }
}

/// Relative path -> file. Iteration order is the sorted path order, so everything derived from it is stable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Entry>,
}

impl Bundle {
    /// An empty bundle.
    pub fn new() -> Bundle {
        Bundle::default()
    }

    /// Adds a file; a second file at the same path is a bug in the render, reported as such.
    pub fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> Result<()> {
        let path = path.into();
        if !is_safe_relative(&path) {
            return Err(Error::internal("bundle", format!("unsafe path {path:?}")));
        }
        let entry = Entry { bytes: bytes.into(), mode };
        if self.files.insert(path.clone(), entry).is_some() {
            return Err(Error::internal("bundle", format!("two files at {path}")));
        }
        Ok(())
    }

    /// Moves every file of `other` in; a path present in both is a bug, reported as such.
    pub fn merge(&mut self, other: Bundle) -> Result<()> {
        for (path, e) in other.files {
            if self.files.insert(path.clone(), e).is_some() {
                return Err(Error::internal("bundle", format!("two files at {path}")));
            }
        }
        Ok(())
    }

    /// The file at `path`.
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.files.get(path)
    }

    /// Every file, in path order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.files.iter()
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether it holds no file.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The bytes of all files together.
    pub fn total_bytes(&self) -> usize {
        self.files.values().map(|e| e.bytes.len()).sum()
    }

    /// The `sha256sum`-compatible listing of every file, in path order (hashed on every thread of the
    /// calling pool; the text does not depend on how many).
    pub fn sha256sums(&self) -> String {
        let lines: Vec<String> =
            self.files.par_iter().map(|(path, e)| format!("{}  {path}\n", sha256_hex(&e.bytes))).collect();
        lines.concat()
    }
}

/// Parses a SHA256SUMS listing (`HEX  PATH` per line, as `sha256sum` writes it): path -> hex digest.
pub fn parse_sums(text: &str) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let (hash, path) = line.split_once("  ").ok_or_else(|| format!("line {}: not \"HEX  PATH\"", i + 1))?;
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(format!("line {}: {hash:?} is not a sha256", i + 1));
        }
        if sums.insert(path.to_string(), hash.to_string()).is_some() {
            return Err(format!("line {}: {path} listed twice", i + 1));
        }
    }
    Ok(sums)
}

/// The SHA-256 of `bytes` as lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::fmt::hex(&Sha256::digest(bytes))
}

/// Relative, normalized, no `..`, no empty or hidden components: safe to join under any directory.
pub fn is_safe_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.starts_with('.'))
        && !path.contains('\\')
        && !path.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicates_and_unsafe_paths() {
        let mut b = Bundle::new();
        assert!(b.add("a/b", "x", MODE_PUBLIC).is_ok());
        assert!(b.add("a/b", "y", MODE_PUBLIC).is_err());
        for bad in ["/etc/x", "../x", "a/../x", "a//b", "", ".hidden"] {
            assert!(b.add(bad, "", MODE_PUBLIC).is_err(), "{bad}");
        }
    }

    #[test]
    fn sums_match_sha256sum_format() {
        let mut b = Bundle::new();
        b.add("z", "abc", MODE_PUBLIC).ok();
        b.add("a", "", MODE_PUBLIC).ok();
        // sha256("") and sha256("abc"), well-known test vectors.
        assert_eq!(
            b.sha256sums(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  z\n"
        );
    }
}
