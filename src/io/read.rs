//! Reads a rendered bundle back from a directory or a zip file (for `inspect`, `plan`,
//! `cloudformation`), refusing symbolic links.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Bundle { path: path.display().to_string(), message: message.into() }
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    err(path, format!("{what}: {e}"))
}

/// Reads a rendered bundle back from a directory or a zip file (symbolic links are refused).
pub fn read_bundle(path: &Path) -> Result<Bundle> {
    let meta = fs::symlink_metadata(path).map_err(|e| io_err(path, "cannot read", e))?;
    let mut b = Bundle::new();
    if meta.is_dir() {
        fn walk(root: &Path, dir: &Path, b: &mut Bundle) -> Result<()> {
            let mut entries: Vec<_> = fs::read_dir(dir)
                .map_err(|e| io_err(dir, "cannot read", e))?
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| io_err(dir, "cannot read", e))?;
            entries.sort_by_key(|e| e.file_name());
            for e in entries {
                let p = e.path();
                let m = fs::symlink_metadata(&p).map_err(|e| io_err(&p, "cannot read", e))?;
                if m.file_type().is_symlink() {
                    return Err(err(&p, "is a symbolic link; a hardway bundle has none"));
                } else if m.is_dir() {
                    walk(root, &p, b)?;
                } else {
                    let rel = p.strip_prefix(root).map_err(|_| err(&p, "outside the bundle"))?;
                    let rel = rel.to_str().ok_or_else(|| err(&p, "file name is not UTF-8"))?;
                    let bytes = fs::read(&p).map_err(|e| io_err(&p, "cannot read", e))?;
                    b.add(rel, bytes, m.permissions().mode() & 0o777).map_err(|e| err(&p, e.to_string()))?;
                }
            }
            Ok(())
        }
        walk(path, path, &mut b)?;
    } else if meta.is_file() {
        let bytes = fs::read(path).map_err(|e| io_err(path, "cannot read", e))?;
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| err(path, format!("not a zip archive: {e}")))?;
        for i in 0..z.len() {
            let mut f = z.by_index(i).map_err(|e| err(path, format!("entry {i}: {e}")))?;
            if f.is_dir() {
                continue;
            }
            let name = f.name().to_string();
            let mode = f.unix_mode().unwrap_or(0o644) & 0o777;
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut data).map_err(|e| io_err(path, &name, e))?;
            b.add(name.clone(), data, mode).map_err(|e| err(path, format!("{name}: {e}")))?;
        }
    } else {
        return Err(err(path, "is neither a directory nor a zip file"));
    }
    Ok(b)
}
