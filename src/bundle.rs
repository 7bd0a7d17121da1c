//! `Bundle`: the rendered output as a sorted map of relative path -> bytes + mode, its checksum file
//! and its zip encoding (bytes in, bytes out; no I/O).

use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const MODE_SECRET: u32 = 0o600;
pub const MODE_PUBLIC: u32 = 0o644;
pub const MODE_EXEC: u32 = 0o755;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// Relative path -> file. Iteration order is the sorted path order, so everything derived from it is stable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bundle {
    files: BTreeMap<String, Entry>,
}

impl Bundle {
    pub fn new() -> Bundle {
        Bundle::default()
    }

    /// Adds a file; a second file at the same path is a bug in the render, reported as such.
    pub fn add(&mut self, path: impl Into<String>, bytes: impl Into<Vec<u8>>, mode: u32) -> Result<()> {
        let path = path.into();
        if !is_safe_relative(&path) {
            return Err(Error::internal("bundle", format!("unsafe path {path:?}")));
        }
        let mut bytes = bytes.into();
        // Text grown by doubling may hold twice its length: give the slack back (an in-place shrink).
        bytes.shrink_to_fit();
        let entry = Entry { bytes, mode };
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

    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.files.get(path)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.files.iter()
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.files.values().map(|e| e.bytes.len()).sum()
    }

    /// SHA-256 of every file, in path order, computed on every core (the result does not depend on how many).
    pub fn digests(&self) -> Vec<(String, [u8; 32])> {
        let files: Vec<(&String, &Entry)> = self.files.iter().collect();
        crate::par::map(&files, crate::par::threads(), |(p, e)| ((*p).clone(), Sha256::digest(&e.bytes).into()))
    }
    /// A zip archive of the bundle (see `zipenc`): the bytes depend on the bundle alone.
    pub fn to_zip(&self) -> Result<Vec<u8>> {
        crate::zipenc::write(self, Vec::with_capacity(crate::zipenc::encoded_len(self)))
            .map_err(|e| Error::internal("zip", e))
    }
}

/// `sha256sum`-compatible listing of `(path, digest)` pairs, in the order given.
pub fn sums_listing(digests: &[(String, [u8; 32])]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(digests.iter().map(|(p, _)| p.len() + 67).sum());
    for (path, d) in digests {
        for b in d {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s.push_str("  ");
        s.push_str(path);
        s.push('\n');
    }
    s
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
    use std::io::Cursor;

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
            sums_listing(&b.digests()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a\n\
             ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  z\n"
        );
    }

    #[test]
    fn zip_is_reproducible_and_readable() -> Result<()> {
        let mut b = Bundle::new();
        b.add("k.key", "secret", MODE_SECRET)?;
        b.add("c.crt", "public", MODE_PUBLIC)?;
        let z1 = b.to_zip()?;
        assert_eq!(z1, b.clone().to_zip()?);
        let mut r = zip::ZipArchive::new(Cursor::new(z1)).map_err(|e| Error::internal("t", e))?;
        let names: Vec<String> = r.file_names().map(String::from).collect();
        assert_eq!(names, ["c.crt", "k.key"]);
        let f = r.by_name("k.key").map_err(|e| Error::internal("t", e))?;
        assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(0o600));
        Ok(())
    }
}
