//! Writes a bundle to disk: a directory (built in a temporary sibling from `tempfile`, then swapped in
//! with one `renameat2(RENAME_EXCHANGE)`) or a zip file (streamed by zip's ZipWriter into a temporary
//! sibling, then renamed), never through a symlink, never half-written, and replacing only an earlier
//! hardway bundle.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

fn err(path: &Path, message: impl Into<String>) -> Error {
    Error::Output { path: path.display().to_string(), message: message.into() }
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    err(path, format!("{what}: {e}"))
}

/// What exists at the output path now.
enum Existing {
    Nothing,
    EmptyDir,
    NonEmptyDir,
    File,
}

fn inspect(path: &Path) -> Result<Existing> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Existing::Nothing),
        Err(e) => Err(io_err(path, "cannot inspect", e)),
        Ok(m) if m.file_type().is_symlink() => {
            Err(err(path, "is a symbolic link; refusing to write through it (remove it or choose another path)"))
        }
        Ok(m) if m.is_dir() => {
            let mut it = fs::read_dir(path).map_err(|e| io_err(path, "cannot read directory", e))?;
            Ok(if it.next().is_none() { Existing::EmptyDir } else { Existing::NonEmptyDir })
        }
        Ok(m) if m.is_file() => Ok(Existing::File),
        Ok(_) => Err(err(path, "exists and is not a regular file or directory")),
    }
}

/// `(parent, file name)` of the output path; the parent must exist and must not be a symlink trap.
fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .ok_or_else(|| err(path, "needs a final file or directory name"))?
        .to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(err(path, format!("parent directory {} does not exist", parent.display())));
    }
    Ok((parent, name))
}

/// The name prefix of a temporary sibling of `parent/name`: `.NAME.hardway-TAG-PID.`, to which
/// `tempfile` appends random letters (no name a stranger could create first).
fn temp_prefix(name: &str, tag: &str) -> String {
    format!(".{name}.hardway-{tag}-{}.", std::process::id())
}

/// How an output may be written.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    /// Replace an earlier hardway bundle at the path (never anything else).
    pub force: bool,
    /// Files the render read (topology, secret): a directory holding one is never replaced.
    pub inputs: Vec<PathBuf>,
    /// The user's home directory, never replaced.
    pub home: Option<PathBuf>,
}

impl WriteOptions {
    /// `--force` without protected inputs (tests and library callers).
    pub fn force() -> WriteOptions {
        WriteOptions { force: true, ..WriteOptions::default() }
    }
}

/// Temporary siblings (`.NAME.hardway-new-PID.RANDOM`, `.NAME.hardway-old-PID.RANDOM`) that a killed
/// render left next to `parent/name`: those whose process no longer runs are removed. Returns what was
/// removed.
fn remove_stale_siblings(parent: &Path, name: &str) -> Result<Vec<PathBuf>> {
    let prefix = format!(".{name}.hardway-");
    let mut removed = Vec::new();
    let entries = fs::read_dir(parent).map_err(|e| io_err(parent, "cannot read directory", e))?;
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(&prefix)) else { continue };
        let Some(pid) = rest.strip_prefix("new-").or_else(|| rest.strip_prefix("old-")) else { continue };
        let Ok(pid) = pid.split('.').next().unwrap_or_default().parse::<u32>() else { continue };
        // A live process (ours, or a concurrent render) keeps its temporaries.
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let meta = fs::symlink_metadata(&p).map_err(|e| io_err(&p, "cannot inspect", e))?;
        let gone = if meta.is_dir() { fs::remove_dir_all(&p) } else { fs::remove_file(&p) };
        gone.map_err(|e| io_err(&p, "cannot remove the stale temporary of a killed render", e))?;
        removed.push(p);
    }
    removed.sort();
    Ok(removed)
}

/// Refuses to replace `/`, the current or home directory, or a directory holding one of them or
/// an input file, whatever it holds.
fn refuse_protected(path: &Path, opts: &WriteOptions) -> Result<()> {
    let canon = fs::canonicalize(path).map_err(|e| io_err(path, "cannot resolve", e))?;
    let refuse = |what: String| err(path, format!("{what}; --force never replaces it"));
    if canon.parent().is_none() {
        return Err(refuse("is the root directory".into()));
    }
    let mut guarded: Vec<(PathBuf, String)> = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        guarded.push((cwd, "the current directory".into()));
    }
    if let Some(home) = &opts.home {
        guarded.push((home.clone(), "your home directory".into()));
    }
    for input in &opts.inputs {
        guarded.push((input.clone(), format!("the input file {}", input.display())));
    }
    for (g, what) in guarded {
        let Ok(g) = fs::canonicalize(&g) else { continue };
        if g == canon {
            return Err(refuse(format!("is {what}")));
        }
        if g.starts_with(&canon) {
            return Err(refuse(format!("holds {what}")));
        }
    }
    Ok(())
}

/// Why the directory at `path` is not an earlier hardway bundle, or `None` when it is one: an
/// `index.json` with hardway's `indexVersion`, a `SHA256SUMS`, and nothing that SHA256SUMS does not
/// list (no other file, directory or link).
fn not_a_bundle(path: &Path) -> Option<String> {
    let Ok(index) = fs::read(path.join("index.json")) else {
        let mut names: Vec<String> = fs::read_dir(path)
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        let more = if names.len() > 3 { ", ..." } else { "" };
        names.truncate(3);
        return Some(format!("it has no index.json; it holds {}{more}", names.join(", ")));
    };
    let marked = serde_json::from_slice::<serde_json::Value>(&index)
        .ok()
        .is_some_and(|v| v["indexVersion"].is_u64() && v["cluster"].is_string());
    if !marked {
        return Some("its index.json is not a hardway index".into());
    }
    let Ok(sums) = fs::read_to_string(path.join("SHA256SUMS")) else {
        return Some("it has no SHA256SUMS".into());
    };
    let mut listed: std::collections::BTreeSet<String> =
        sums.lines().filter_map(|l| l.split_once("  ").map(|(_, p)| p.to_string())).collect();
    listed.insert("SHA256SUMS".into());
    let dirs: std::collections::BTreeSet<String> =
        listed.iter().flat_map(|p| p.match_indices('/').map(|(i, _)| p[..i].to_string()).collect::<Vec<_>>()).collect();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else { return Some(format!("{} cannot be read", dir.display())) };
        for e in entries.flatten() {
            let p = e.path();
            let rel = p.strip_prefix(path).ok().and_then(|r| r.to_str()).unwrap_or("?").to_string();
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() && dirs.contains(&rel) => stack.push(p),
                Ok(m) if m.is_file() && listed.contains(&rel) => {}
                _ => return Some(format!("{rel} is not part of it (not listed in its SHA256SUMS)")),
            }
        }
    }
    None
}

/// Whether the file at `path` is a zip written by hardway (it holds index.json and SHA256SUMS).
fn is_bundle_zip(path: &Path) -> bool {
    let Ok(f) = fs::File::open(path) else { return false };
    let Ok(z) = zip::ZipArchive::new(std::io::BufReader::new(f)) else { return false };
    let names: Vec<&str> = z.file_names().collect();
    names.contains(&"index.json") && names.contains(&"SHA256SUMS")
}

/// Every directory of the bundle (`""` is the root) with its mode: 0700 when it holds a private file at
/// any depth, else 0755.
pub fn dir_modes(bundle: &Bundle) -> BTreeMap<&str, u32> {
    let mut modes: BTreeMap<&str, u32> = BTreeMap::new();
    for (rel, e) in bundle.iter() {
        let secret = e.mode & 0o077 == 0;
        let mut dir = rel.as_str();
        loop {
            dir = match dir.rfind('/') {
                Some(i) => &dir[..i],
                None => "",
            };
            match modes.get_mut(dir) {
                // Known, and so are its parents: done unless this file makes them private.
                Some(m) if !secret || *m == 0o700 => break,
                Some(m) => *m = 0o700,
                None => {
                    modes.insert(dir, if secret { 0o700 } else { 0o755 });
                }
            }
            if dir.is_empty() {
                break;
            }
        }
    }
    modes
}

/// Creates a new file with exactly `mode` (set again after creation, whatever the umask). No fsync per
/// file: the rename that publishes the tree already makes a killed process leave the old output or
/// nothing (README). `create_new` means O_CREAT|O_EXCL, which also fails on a symlink at `path`, so
/// nothing is ever written through a link.
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut f = create_exclusive(path, mode)?;
    f.set_permissions(fs::Permissions::from_mode(mode)).map_err(|e| io_err(path, "cannot chmod", e))?;
    f.write_all(bytes).map_err(|e| io_err(path, "cannot write", e))
}

/// Opens a new file for writing with O_CREAT|O_EXCL (never an existing file or a link).
fn create_exclusive(path: &Path, mode: u32) -> Result<fs::File> {
    OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|e| io_err(path, "cannot create", e))
}

fn create_dir(path: &Path, mode: u32) -> Result<()> {
    fs::DirBuilder::new().mode(mode).create(path).map_err(|e| io_err(path, "cannot create", e))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| io_err(path, "cannot chmod", e))
}

/// Fills the empty directory `root` (private, 0700, while it is filled) on every core: directories
/// level by level (parents first), then the files, handed out to the threads in runs of path order;
/// `root`'s own mode is set last.
fn write_tree(root: &Path, bundle: &Bundle) -> Result<()> {
    let modes = dir_modes(bundle);
    let mut levels: BTreeMap<usize, Vec<(PathBuf, u32)>> = BTreeMap::new();
    for (d, mode) in modes.iter().filter(|(d, _)| !d.is_empty()) {
        levels.entry(d.matches('/').count()).or_default().push((root.join(d), *mode));
    }
    // The first error in path order is reported, whatever the scheduling.
    for dirs in levels.values() {
        dirs.par_iter().map(|(p, mode)| create_dir(p, *mode)).collect::<Result<()>>()?;
    }
    let files: Vec<(&String, &crate::bundle::Entry)> = bundle.iter().collect();
    files.par_iter().map(|(rel, e)| write_file(&root.join(rel), &e.bytes, e.mode)).collect::<Result<()>>()?;
    let root_mode = modes.get("").copied().unwrap_or(0o755);
    fs::set_permissions(root, fs::Permissions::from_mode(root_mode)).map_err(|e| io_err(root, "cannot chmod", e))
}

/// Writes the bundle as a directory at `path`. An existing non-empty directory is replaced only with
/// `force`, only when it is an earlier hardway bundle, and only after the new tree is complete: a
/// failure or a kill leaves the old one in place. Returns the stale temporaries of killed renders
/// that were removed on the way.
pub fn write_dir(bundle: &Bundle, path: &Path, opts: &WriteOptions) -> Result<Vec<PathBuf>> {
    let existing = inspect(path)?;
    match existing {
        Existing::File => {
            return Err(err(path, "exists and is a file; choose a directory path (or a name ending in .zip)"))
        }
        Existing::NonEmptyDir if !opts.force => {
            return Err(err(
                path,
                "exists and is not empty; pass --force to replace it (an earlier hardway bundle only)",
            ))
        }
        Existing::NonEmptyDir => {
            refuse_protected(path, opts)?;
            if let Some(why) = not_a_bundle(path) {
                return Err(err(
                    path,
                    format!("is not an earlier hardway bundle ({why}); --force replaces only those: choose another output path"),
                ));
            }
        }
        _ => {}
    }
    let (parent, name) = split(path)?;
    let removed = remove_stale_siblings(&parent, &name)?;
    // Removed with everything in it if the render fails or panics before the swap.
    let tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&name, "new"))
        .rand_bytes(8)
        .tempdir_in(&parent)
        .map_err(|e| io_err(&parent, "cannot create a temporary directory in", e))?;
    write_tree(tmp.path(), bundle)?;
    match existing {
        Existing::NonEmptyDir => swap_in(tmp, path, &parent, &name)?,
        // rename(2) replaces an empty directory atomically.
        _ => {
            let tmp = tmp.keep();
            fs::rename(&tmp, path).map_err(|e| {
                let _ = fs::remove_dir_all(&tmp);
                io_err(path, "cannot move the new output into place", e)
            })?
        }
    }
    Ok(removed)
}

/// Puts the complete tree `tmp` in the place of the earlier bundle at `path`: one
/// `renameat2(RENAME_EXCHANGE)`, so `path` is never missing, the old tree landing on `tmp`'s name; where
/// the file system cannot exchange, the old tree is renamed onto an empty temporary directory first. The
/// old tree is deleted only if it is still a hardway bundle (it was checked before the render; a
/// directory put there meanwhile is kept and named).
fn swap_in(tmp: tempfile::TempDir, path: &Path, parent: &Path, name: &str) -> Result<()> {
    let tmp = tmp.keep();
    let old = match rustix::fs::renameat_with(
        rustix::fs::CWD,
        &tmp,
        rustix::fs::CWD,
        path,
        rustix::fs::RenameFlags::EXCHANGE,
    ) {
        Ok(()) => tmp,
        Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOSYS || e == rustix::io::Errno::NOTSUP => {
            let aside = tempfile::Builder::new()
                .prefix(&temp_prefix(name, "old"))
                .rand_bytes(8)
                .tempdir_in(parent)
                .map(tempfile::TempDir::keep);
            let moved = aside.and_then(|old| fs::rename(path, &old).map(|()| old));
            let old = match moved {
                Ok(old) => old,
                Err(e) => {
                    let _ = fs::remove_dir_all(&tmp);
                    return Err(io_err(path, "cannot move the old output aside", e));
                }
            };
            if let Err(e) = fs::rename(&tmp, path) {
                let _ = fs::rename(&old, path);
                let _ = fs::remove_dir_all(&tmp);
                return Err(io_err(path, "cannot move the new output into place", e));
            }
            old
        }
        Err(e) => {
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_err(path, "cannot swap the new output into place", e.into()));
        }
    };
    if let Some(why) = not_a_bundle(&old) {
        return Err(err(
            path,
            format!(
                "the new output is in place, but what it replaced is no longer a hardway bundle ({why}): it was changed during the render and is kept at {}",
                old.display()
            ),
        ));
    }
    fs::remove_dir_all(&old)
        .map_err(|e| io_err(&old, "new output is in place but the old copy could not be removed", e))
}

/// Writes the bundle as a zip at `path`, streamed into a temporary sibling and renamed into place. An
/// existing file is replaced only with `force` and only when it is a hardway zip.
pub fn write_zip(bundle: &Bundle, path: &Path, opts: &WriteOptions) -> Result<Vec<PathBuf>> {
    match inspect(path)? {
        Existing::File if !opts.force => return Err(err(path, "exists; pass --force to replace it")),
        Existing::File => {
            refuse_protected(path, opts)?;
            if !is_bundle_zip(path) {
                return Err(err(
                    path,
                    "is not an earlier hardway zip (no index.json and SHA256SUMS inside); --force replaces only those: choose another output path",
                ));
            }
        }
        Existing::EmptyDir | Existing::NonEmptyDir => {
            return Err(err(path, "is a directory; a .zip output must be a file"))
        }
        _ => {}
    }
    let (parent, name) = split(path)?;
    let removed = remove_stale_siblings(&parent, &name)?;
    // The archive holds private keys: 0600. Removed on any failure before it is persisted.
    let mut tmp = tempfile::Builder::new()
        .prefix(&temp_prefix(&name, "new"))
        .rand_bytes(8)
        .permissions(fs::Permissions::from_mode(0o600))
        .tempfile_in(&parent)
        .map_err(|e| io_err(&parent, "cannot create a temporary file in", e))?;
    let at = tmp.path().to_path_buf();
    tmp.as_file().set_permissions(fs::Permissions::from_mode(0o600)).map_err(|e| io_err(&at, "cannot chmod", e))?;
    let w = write_zip_to(bundle, std::io::BufWriter::with_capacity(1 << 20, tmp.as_file_mut()))
        .map_err(|e| err(&at, format!("cannot write: {e}")))?;
    w.into_inner().map_err(|e| io_err(&at, "cannot write", e.into_error()))?;
    tmp.persist(path).map_err(|e| io_err(path, "cannot move the new archive into place", e.error))?;
    Ok(removed)
}

/// Creates `path` with `bytes` and `mode`, refusing to overwrite anything (used by `init`).
pub fn create_new_file(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(err(path, "already exists; refusing to overwrite it"));
    }
    write_file(path, bytes, mode)
}

/// The zip of a bundle, streamed to `out` by zip's ZipWriter: the directories with their modes (so
/// unzip recreates 0700 key directories), then the files in path order, all stored (no compressor
/// whose output could vary), dated 1980-01-01, with Unix modes; ZIP64 records where the zip crate
/// needs them (past 65,535 entries). The bytes depend on the bundle alone.
pub fn write_zip_to<W: std::io::Write + std::io::Seek>(bundle: &Bundle, out: W) -> zip::result::ZipResult<W> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(out);
    let base = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    for (dir, mode) in dir_modes(bundle).into_iter().filter(|(d, _)| !d.is_empty()) {
        z.add_directory(format!("{dir}/"), base.unix_permissions(mode))?;
    }
    for (path, e) in bundle.iter() {
        z.start_file(path.as_str(), base.unix_permissions(e.mode))?;
        z.write_all(&e.bytes)?;
    }
    z.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{MODE_PUBLIC, MODE_SECRET};
    use std::io::{Cursor, Read};

    fn zip_of(b: &Bundle) -> Vec<u8> {
        write_zip_to(b, Cursor::new(Vec::new())).unwrap().into_inner()
    }

    #[test]
    fn zip_is_reproducible_with_modes_and_directory_entries() {
        let mut b = Bundle::new();
        b.add("pki/k.key", "secret", MODE_SECRET).unwrap();
        b.add("pki/c.crt", "public", MODE_PUBLIC).unwrap();
        b.add("manifests/a.yaml", "a: 1\n", MODE_PUBLIC).unwrap();
        let z1 = zip_of(&b);
        assert_eq!(z1, zip_of(&b.clone()));
        let mut r = zip::ZipArchive::new(Cursor::new(z1)).unwrap();
        let names: Vec<String> = r.file_names().map(String::from).collect();
        assert_eq!(names, ["manifests/", "pki/", "manifests/a.yaml", "pki/c.crt", "pki/k.key"]);
        for (name, mode, dir) in [("pki/", 0o700, true), ("manifests/", 0o755, true), ("pki/k.key", 0o600, false)] {
            let f = r.by_name(name).unwrap();
            assert_eq!(f.is_dir(), dir, "{name}");
            assert_eq!(f.unix_mode().map(|m| m & 0o777), Some(mode), "{name}");
            assert_eq!(f.last_modified().map(|t| (t.year(), t.month(), t.day())), Some((1980, 1, 1)), "{name}");
            assert_eq!(f.compression(), zip::CompressionMethod::Stored, "{name}");
        }
        let mut text = String::new();
        r.by_name("pki/k.key").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "secret");
    }

    /// The swap puts the new tree in place and deletes the old one only while it is still a bundle: a
    /// directory that changed during the render is kept, and the error names where.
    #[test]
    fn swap_deletes_only_what_is_still_a_bundle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut b = Bundle::new();
        b.add("index.json", r#"{"indexVersion": 1, "cluster": "c"}"#, MODE_PUBLIC).unwrap();
        b.add("a.txt", "one", MODE_PUBLIC).unwrap();
        b.add("SHA256SUMS", "x  a.txt\nx  index.json\n", MODE_PUBLIC).unwrap();
        write_dir(&b, &path, &WriteOptions::force()).unwrap();
        // Replacing a bundle: nothing left beside it.
        b.add("b.txt", "two", MODE_PUBLIC).unwrap();
        write_dir(&b, &path, &WriteOptions::force()).unwrap();
        assert_eq!(fs::read_to_string(path.join("b.txt")).unwrap(), "two");
        let siblings = || fs::read_dir(dir.path()).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>();
        assert_eq!(siblings(), ["out"]);
        // What was checked as a bundle gains a stranger's file before the swap.
        fs::write(path.join("theirs.txt"), "keep me").unwrap();
        let tmp = tempfile::Builder::new().prefix(&temp_prefix("out", "new")).tempdir_in(dir.path()).unwrap();
        write_tree(tmp.path(), &b).unwrap();
        let e = swap_in(tmp, &path, dir.path(), "out").unwrap_err().to_string();
        assert!(e.contains("theirs.txt is not part of it") && e.contains("kept at"), "{e}");
        assert!(!path.join("theirs.txt").exists());
        let kept: Vec<_> = siblings().into_iter().filter(|n| n != "out").collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(fs::read_to_string(dir.path().join(&kept[0]).join("theirs.txt")).unwrap(), "keep me");
    }

    /// Past 65,535 entries the archive needs ZIP64 end records; the zip crate writes them and reads
    /// every entry back.
    #[test]
    fn zip64_end_records_past_65535_entries() {
        let mut b = Bundle::new();
        for i in 0..70_000u32 {
            b.add(format!("d{}/f{i}", i % 7), i.to_le_bytes().to_vec(), MODE_PUBLIC).unwrap();
        }
        let z = zip_of(&b);
        assert!(z.windows(4).any(|w| w == [0x50, 0x4b, 0x06, 0x06]), "no ZIP64 end of central directory record");
        let mut r = zip::ZipArchive::new(Cursor::new(z)).unwrap();
        assert_eq!(r.len(), 70_000 + 7);
        let mut f = r.by_name(&format!("d{}/f69998", 69_998 % 7)).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        assert_eq!(bytes, 69_998u32.to_le_bytes());
    }
}
