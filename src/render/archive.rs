//! `secrets.delivery: archive`: each node's secret files (those the node-file catalogue marks secret; with
//! `archiveContents: all` every file but those that obtain the archive)
//! as one tar archive with their node paths and modes (sorted, mtime 0, uid/gid 0), and the script that
//! obtains it at boot, checks it against the SHA-256 pinned in the user-data, and unpacks it.

use super::placement::Placed;
use crate::bundle::index::{ArchiveEntry, ArchiveFile};
use crate::bundle::{sha256_hex, Bundle};
use crate::catalog::node_files::{is_boot_path, is_secret_path};
use crate::error::{Error, Result};
use crate::fmt::templates;
use crate::model::{Node, SecretsSource, Topology};
use serde::Serialize;

/// Whether the node file at `path` travels in the node's archive instead of its user-data: with
/// `secrets.delivery: archive` every secret file, and with `archiveContents: all` every file but those
/// that obtain the archive.
pub fn in_archive(t: &Topology, path: &str) -> bool {
    t.archives_secrets() && (is_secret_path(path) || (t.archive_all && !is_boot_path(path)))
}

/// A node's secrets archive.
pub struct Archive {
    /// The tar archive.
    pub bytes: Vec<u8>,
    /// What index.json says of it.
    pub entry: ArchiveEntry,
}

/// The archive of the `files` that travel in it (`in_archive`: node path, mode, bytes from the bundle),
/// in path order.
pub fn build(t: &Topology, n: &Node, files: &[Placed], bundle: &Bundle) -> Result<Archive> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let mut listed = Vec::new();
    for f in files.iter().filter(|f| in_archive(t, &f.path)) {
        let e = bundle.get(&f.source).ok_or_else(|| Error::internal(&n.name, format!("{} not rendered", f.source)))?;
        let mode = u32::from_str_radix(&f.mode, 8).map_err(|e| Error::internal(&f.path, e))?;
        let mut h = tar::Header::new_ustar();
        h.set_size(e.bytes.len() as u64);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut h, f.path.trim_start_matches('/'), &e.bytes[..])
            .map_err(|err| Error::internal(&f.path, err))?;
        listed.push(ArchiveFile { path: f.path.clone(), mode: f.mode.clone(), sha256: sha256_hex(&e.bytes) });
    }
    let bytes = builder.into_inner().map_err(|e| Error::internal(&n.name, e))?;
    let entry = ArchiveEntry {
        path: crate::catalog::paths::secrets_archive(&n.name),
        sha256: sha256_hex(&bytes),
        size: bytes.len(),
        files: listed,
    };
    Ok(Archive { bytes, entry })
}

#[derive(Serialize)]
struct Fetch<'a> {
    node: &'a str,
    sha256: &'a str,
    /// Where the archive is on the node before it is unpacked.
    archive: String,
    kind: &'static str,
    wait_seconds: u32,
    url: String,
    ca_file: &'static str,
    endpoint_url: Option<&'a str>,
    delete_after_fetch: bool,
}

/// Where a fetched archive waits to be checked (not the file source's own path).
const FETCHED: &str = "/run/hardway/secrets.tar";

/// The fetch script of node `n`, pinning `sha256` (of the archive with the real secrets, also in a
/// redacted render, whose user-data is then the same).
pub fn fetch_script(
    t: &Topology,
    n: &Node,
    source: &SecretsSource,
    sha256: &str,
    ca_file: &'static str,
) -> Result<String> {
    let fill = |u: &str| u.replace("{cluster}", t.name.as_str()).replace("{node}", n.name.as_str());
    let base = Fetch {
        node: &n.name,
        sha256,
        archive: FETCHED.into(),
        kind: "",
        wait_seconds: 0,
        url: String::new(),
        ca_file,
        endpoint_url: None,
        delete_after_fetch: false,
    };
    let f = match source {
        SecretsSource::File { path, wait_seconds } => {
            Fetch { kind: "file", archive: path.clone(), wait_seconds: *wait_seconds, ..base }
        }
        SecretsSource::Https { url, .. } => Fetch { kind: "https", url: fill(url), ..base },
        SecretsSource::S3 { url, endpoint_url, delete_after_fetch } => Fetch {
            kind: "s3",
            url: fill(url),
            endpoint_url: endpoint_url.as_deref(),
            delete_after_fetch: *delete_after_fetch,
            ..base
        },
    };
    templates::render("fetch-secrets.sh.j2", f)
}
