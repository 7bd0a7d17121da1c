//! Per-node cloud-init user-data: a `#cloud-config` document, a serde struct written by serde-saphyr
//! (file contents as literal blocks), that writes every file of the node, sets its name, installs
//! its packages, runs install.sh and starts its units in order; and its gzip copy (libdeflate level 9,
//! level 12 where level 9 is over `userData.budgetBytes`; mtime 0), checked against that budget.

use super::placement::Placed;
use super::record::NodeRecord;
use crate::bundle::Bundle;
use crate::catalog::paths;
use crate::error::{Error, Result};
use crate::fmt::templates;
use crate::model::{KeyAlgorithm, PodRoutes, Topology};
use base64::Engine;
use serde::Serialize;

#[derive(Serialize)]
struct CloudConfig<'a> {
    /// Before write_files: the node's directories with their modes, those that will hold keys 0700
    /// (write_files would create them 0755).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bootcmd: Vec<serde_saphyr::FlowSeq<Vec<&'a str>>>,
    write_files: Vec<WriteFile<'a>>,
    hostname: &'a str,
    preserve_hostname: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    package_update: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    packages: Vec<&'a str>,
    runcmd: Vec<serde_saphyr::FlowSeq<Vec<&'a str>>>,
}

#[derive(Serialize)]
struct WriteFile<'a> {
    path: &'a str,
    owner: &'static str,
    permissions: &'a str,
    encoding: &'static str,
    content: Content<'a>,
}

/// Text as a literal block (serde-saphyr quotes it instead where YAML cannot carry it verbatim);
/// anything that is not UTF-8 as base64.
#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(serde_saphyr::LitStr<'a>),
    Base64(String),
}

/// A node's user-data, plain and gzipped.
pub struct UserData {
    /// The cloud-config.
    pub plain: Vec<u8>,
    /// It gzipped (what the budget counts).
    pub gzip: Vec<u8>,
    /// The libdeflate level of the gzip copy: `LEVEL`, or `LEVEL_OVER_BUDGET` where that was over budget.
    pub level: u8,
}

/// libdeflate's level for user-data: smaller than zlib's level 9 and fast.
pub const LEVEL: u8 = 9;
/// The level for a node whose level-9 copy is over `userData.budgetBytes`: near-optimal parsing, a few
/// percent smaller and about three times slower. A pure function of the bytes, like level 9.
pub const LEVEL_OVER_BUDGET: u8 = 12;

/// Whether a node's file is a cluster-level one (the same bytes on every node that has it).
fn is_shared(f: &Placed) -> bool {
    !f.source.starts_with("nodes/")
}

/// Renders the user-data of node `n` from its file list, contents taken from the bundle.
pub fn render(t: &Topology, r: &NodeRecord<'_>, bundle: &Bundle) -> Result<UserData> {
    let (n, files) = (r.node, r.files.as_slice());
    let mut write_files = Vec::with_capacity(files.len());
    // With secrets.delivery: archive the secret files (or all but the boot files) come in the node's
    // archive, never here.
    let carried = |f: &&Placed| !super::archive::in_archive(t, &f.path);
    // Cluster-level files first, then the node's own, each in path order.
    for f in files.iter().filter(|f| is_shared(f)).chain(files.iter().filter(|f| !is_shared(f))).filter(carried) {
        let entry =
            bundle.get(&f.source).ok_or_else(|| Error::internal(&n.name, format!("{} not rendered", f.source)))?;
        let (encoding, content) = match std::str::from_utf8(&entry.bytes) {
            Ok(text) => ("text/plain", Content::Text(serde_saphyr::LitStr(text))),
            Err(_) => ("b64", Content::Base64(base64::engine::general_purpose::STANDARD.encode(&entry.bytes))),
        };
        write_files.push(WriteFile { path: &f.path, owner: "root:root", permissions: &f.mode, encoding, content });
    }
    let packages = r.packages.clone();
    let bootcmd =
        r.dirs.iter().map(|d| serde_saphyr::FlowSeq(vec!["install", "-d", "-m", d.mode.as_str(), &d.path])).collect();
    let script = paths::node_path(&n.name, paths::INSTALL_SCRIPT);
    let install = files.iter().find(|f| f.source == script).ok_or_else(|| Error::internal(&n.name, "no install.sh"))?;
    // One command: install.sh enables and starts the units itself, only once every step before
    // succeeded, and its failure is cloud-init's (status: error).
    let runcmd = vec![serde_saphyr::FlowSeq(vec![install.path.as_str()])];
    let doc = CloudConfig {
        bootcmd,
        write_files,
        hostname: &n.name,
        preserve_hostname: false,
        package_update: !packages.is_empty(),
        packages,
        runcmd,
    };
    let mut plain = templates::render(
        "user-data-head.yaml.j2",
        minijinja::context! { node => n.name.as_str(), cluster => t.name.as_str(), version => t.version.to_string() },
    )?;
    plain.push_str(&serde_saphyr::to_string(&doc).map_err(|e| Error::internal(&n.name, e))?);
    let mut level = LEVEL;
    let mut gz = gzip(plain.as_bytes(), level)?;
    if gz.len() > t.user_data_budget {
        level = LEVEL_OVER_BUDGET;
        gz = gzip(plain.as_bytes(), level)?;
    }
    Ok(UserData { plain: plain.into_bytes(), gzip: gz, level })
}

thread_local! {
    /// One compressor per thread and level: a compressor's tables are large, and libdeflate keeps no
    /// state from one call to the next, so reusing it changes no byte.
    static COMPRESSORS: std::cell::RefCell<Vec<(u8, libdeflater::Compressor)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One gzip member of `bytes` at libdeflate `level`, with mtime 0. libdeflate's output depends only on
/// its version (pinned) and the level.
pub fn gzip(bytes: &[u8], level: u8) -> Result<Vec<u8>> {
    let lvl = libdeflater::CompressionLvl::new(i32::from(level))
        .map_err(|e| Error::internal("gzip", format!("level {level}: {e:?}")))?;
    COMPRESSORS.with_borrow_mut(|cs| {
        let i = match cs.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                cs.push((level, libdeflater::Compressor::new(lvl)));
                cs.len() - 1
            }
        };
        let c = &mut cs[i].1;
        let mut out = vec![0; c.gzip_compress_bound(bytes.len())];
        let n = c.gzip_compress(bytes, &mut out).map_err(|e| Error::internal("gzip", format!("{e:?}")))?;
        out.truncate(n);
        Ok(out)
    })
}

/// The error naming every node whose user-data is over its budget (with its largest files and the ways
/// out), if any is.
pub fn over_budget(t: &Topology, records: &[NodeRecord<'_>], bundle: &Bundle) -> Option<Error> {
    let mut lines = Vec::new();
    for r in records {
        let (n, files, (plain, gz, _)) = (r.node, &r.files, r.user_data);
        if gz <= t.user_data_budget {
            continue;
        }
        let mut by_size: Vec<(usize, &str)> = files
            .iter()
            .filter(|f| !super::archive::in_archive(t, &f.path))
            .filter_map(|f| bundle.get(&f.source).map(|e| (e.bytes.len(), f.path.as_str())))
            .collect();
        by_size.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let largest: Vec<String> = by_size.iter().take(3).map(|(s, p)| format!("{p} ({s} bytes)")).collect();
        lines.push(format!("{}: {gz} bytes gzipped ({plain} plain); largest files: {}", n.name, largest.join(", ")));
    }
    if lines.is_empty() {
        return None;
    }
    let mut ways = Vec::new();
    if t.key_algorithm != KeyAlgorithm::EcdsaP256 {
        ways.push("pki.keyAlgorithm: ecdsa-p256 (RSA keys and certificates are several times larger)".to_string());
    }
    if t.secrets == crate::model::SecretDelivery::Inline {
        ways.push("secrets.delivery: archive (the private keys leave the user-data)".to_string());
    } else if !t.archive_all {
        ways.push("secrets.archiveContents: all (every file but install.sh and the fetch script travels in the node's archive)".to_string());
    }
    ways.push("a larger userData.budgetBytes where the cloud allows it (EC2 16384, Azure 65535, GCP 262144)".into());
    if t.pod_routes == PodRoutes::Static {
        ways.push("network.podRoutes: none for large clusters (the route table is in every node's user-data)".into());
    }
    Some(Error::OverBudget { file: None, budget: t.user_data_budget, nodes: lines, ways, predicted: false })
}

#[cfg(test)]
mod tests {
    #[test]
    fn gzip_is_one_timeless_member_that_unpacks() {
        use std::io::Read;
        let text = include_bytes!("../../templates/install.sh.j2");
        let g = super::gzip(text, super::LEVEL).unwrap();
        assert_eq!(&g[..4], &[0x1f, 0x8b, 8, 0], "gzip magic, deflate, no flags");
        assert_eq!(&g[4..8], &[0, 0, 0, 0], "mtime must be 0");
        assert_eq!(g, super::gzip(text, super::LEVEL).unwrap());
        assert!(super::gzip(text, super::LEVEL_OVER_BUDGET).unwrap().len() <= g.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&g[..]).read_to_end(&mut back).unwrap();
        assert_eq!(&back[..], &text[..]);
    }
}
