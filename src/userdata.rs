//! Per-node cloud-init user-data: a `#cloud-config` that writes every file of the node, installs the
//! binaries and starts the units in order; plus its gzip copy, checked against the size budget.

use crate::bundle::Bundle;
use crate::error::{Error, Result};
use crate::groups::PerGroup;
use crate::nodeconf;
use crate::nodes::Placed;
use crate::templates;
use crate::topology::Topology;
use base64::Engine;
use std::cell::RefCell;
use std::collections::BTreeMap;

pub fn plain_path(node: &str) -> String {
    format!("user-data/{node}.yaml")
}

pub fn gzip_path(node: &str) -> String {
    format!("user-data/{node}.yaml.gz")
}

/// Appends one `write_files` item for `f` with content `bytes` (its lines, each ending in a line break)
/// to `out`. Written out here rather than by a template: a worker has a dozen, and a template render
/// each cost a tenth of the user-data time. Every value goes in as a JSON string (what `tojson`
/// gives); the content verbatim as a literal block when YAML can carry it, else as base64.
fn push_item(out: &mut String, f: &Placed, bytes: &[u8]) -> Result<()> {
    let json = |s: &str| serde_json::to_string(s).map_err(|e| Error::internal("user-data", e));
    let text = std::str::from_utf8(bytes).ok().filter(|s| yaml_can_carry(s));
    let encoding = if text.is_some() { "text/plain" } else { "b64" };
    let fields = [
        ("  - path: ", json(&f.path)?),
        ("    owner: ", json("root:root")?),
        ("    permissions: ", json(&f.mode)?),
        ("    encoding: ", json(encoding)?),
    ];
    for (key, value) in fields {
        out.push_str(key);
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("    content: ");
    match text {
        Some(text) => push_block_scalar(out, text, INDENT),
        None => {
            out.push('"');
            base64::engine::general_purpose::STANDARD.encode_string(bytes, out);
            out.push('"');
        }
    }
    out.push('\n');
    Ok(())
}

/// Whether a node's file is a cluster-level one (the same bytes on every node that has it).
fn is_shared(f: &Placed) -> bool {
    !f.source.starts_with("nodes/")
}

/// Text that a group of nodes' user-data carry alike, with its deflate segment (ending in a full
/// flush): made once per group, not once per node. There are two kinds: a start (header, then the
/// `write_files` items of the node's cluster-level files) and the install-script body (only its first
/// lines name the node), as the indented lines ending its item.
struct Segment {
    text: String,
    deflated: Vec<u8>,
}

impl Segment {
    fn new(text: String) -> Result<Segment> {
        let deflated = deflate_segment(text.as_bytes(), LEVEL_FAST, false)?;
        Ok(Segment { text, deflated })
    }
}

/// What the user-data of a cluster's nodes share: the starts, and the install-script bodies.
pub struct Shared {
    starts: PerGroup<Segment>,
    tails: PerGroup<Segment>,
}

impl Shared {
    pub fn build(
        t: &Topology,
        node_files: &[Vec<Placed>],
        bundle: &Bundle,
        install: &nodeconf::InstallBodies,
    ) -> Result<Shared> {
        let header = templates::render(
            "user-data-start.yaml.j2",
            minijinja::context! { cluster => t.name, version => t.version.to_string() },
        )?;
        // Each distinct cluster-level item is formatted once; a node's key is the list of its items.
        let mut item_of: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        let mut items: Vec<String> = Vec::new();
        let mut keys = Vec::with_capacity(node_files.len());
        for files in node_files {
            let mut key = Vec::new();
            for f in files.iter().filter(|f| is_shared(f)) {
                let id = (f.path.as_str(), f.source.as_str(), f.mode.as_str());
                let i = match item_of.get(&id) {
                    Some(i) => *i,
                    None => {
                        let entry = bundle.get(&f.source).ok_or_else(|| Error::internal(&f.source, "not rendered"))?;
                        let mut item = String::new();
                        push_item(&mut item, f, &entry.bytes)?;
                        items.push(item);
                        item_of.insert(id, items.len() - 1);
                        items.len() - 1
                    }
                };
                key.push(i);
            }
            keys.push(key);
        }
        let starts = PerGroup::build(keys, |_, key: &Vec<usize>| {
            let mut text = header.clone();
            key.iter().for_each(|&i| text.push_str(&items[i]));
            Segment::new(text)
        })?;
        let tails = install.groups().map(|body| Segment::new(body_lines(body)))?;
        Ok(Shared { starts, tails })
    }
}

/// The indented lines that end the `write_files` item of an install script with `body`.
fn body_lines(body: &str) -> String {
    let mut lines = String::with_capacity(body.len() + body.len() / 8);
    push_lines(&mut lines, body.strip_suffix('\n').unwrap_or(body), &" ".repeat(INDENT));
    lines
}

/// An install-script body as the user-data of every node with that body carries it: the indented
/// lines ending its item, and their deflate segment in the fast gzip copy.
pub fn body_segment(body: &str) -> Result<(String, Vec<u8>)> {
    let s = Segment::new(body_lines(body))?;
    Ok((s.text, s.deflated))
}

/// Indentation of `content` lines under a `write_files` item.
const INDENT: usize = 6;

/// `text` as a YAML literal block scalar indented by `indent`, when YAML can carry it verbatim
/// (printable characters, LF line ends); `None` otherwise.
pub fn block_scalar(text: &str, indent: usize) -> Option<String> {
    yaml_can_carry(text).then(|| {
        let mut out = String::with_capacity(text.len() + text.len() / 4 + 8);
        push_block_scalar(&mut out, text, indent);
        out
    })
}

/// Whether a block scalar carries `text` verbatim: no control characters but line feeds and tabs, no
/// byte-order mark or Unicode line separators.
fn yaml_can_carry(text: &str) -> bool {
    let unsafe_char =
        |c: char| (c.is_control() && c != '\n' && c != '\t') || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}');
    // Printable ASCII, line feeds and tabs (nearly every file) need no look at the characters.
    text.bytes().all(|b| (0x20..0x7f).contains(&b) || b == b'\n' || b == b'\t') || !text.chars().any(unsafe_char)
}

/// Appends `text` (one `yaml_can_carry` accepts) as a literal block scalar indented by `indent`.
fn push_block_scalar(out: &mut String, text: &str, indent: usize) {
    if text.is_empty() {
        out.push_str("\"\"");
        return;
    }
    let trailing = text.len() - text.trim_end_matches('\n').len();
    // Clip keeps one final line break, keep all of them, strip none; content made only of line
    // breaks must be kept (clip would turn it into the empty string).
    let only_breaks = trailing == text.len();
    let chomp = match trailing {
        0 => "-",
        1 if !only_breaks => "",
        _ => "+",
    };
    // Indentation is detected from the first non-empty line; state it when that line starts with
    // white space (or when there is no non-empty line at all).
    let first = text.split('\n').find(|l| !l.is_empty());
    out.push('|');
    if !matches!(first, Some(l) if !l.starts_with([' ', '\t'])) {
        out.push_str(&indent.to_string());
    }
    out.push_str(chomp);
    let body = if trailing >= 1 { &text[..text.len() - 1] } else { text };
    push_lines(out, body, &" ".repeat(indent));
}

/// The lines of a block scalar's `body`: each after a line break, indented by `pad` unless empty.
fn push_lines(out: &mut String, body: &str, pad: &str) {
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(pad);
            out.push_str(line);
        }
    }
}

pub struct UserData {
    pub plain: Vec<u8>,
    pub gzip: Vec<u8>,
}

/// Fast compression: a third of level 6's time on a worker's user-data. With the shared start and
/// install-script body compressed apart, a demo worker's copy is 10.1 KB where one level-6 stream is
/// 7.4 KB.
pub const LEVEL_FAST: u32 = 1;
/// What a node gets when the fast copy is over its budget: 0.2% larger than level 9, in half its time.
pub const LEVEL_BEST: u32 = 6;

/// This thread's raw-deflate compressors (one per level, reset before every use: setting one up
/// costs as much as compressing a worker's user-data).
#[derive(Default)]
struct Deflaters {
    by_level: Vec<(u32, flate2::Compress)>,
}

thread_local! {
    static DEFLATERS: RefCell<Deflaters> = RefCell::new(Deflaters::default());
}

/// Appends the raw deflate (RFC 1951) of `bytes` at `level` to `out`. With `last` the stream ends;
/// otherwise the output ends byte-aligned after a full flush, and another segment compressed on its
/// own may follow it (it refers to nothing before it), so a segment shared by many nodes is compressed
/// once.
fn deflate_into(out: &mut Vec<u8>, bytes: &[u8], level: u32, last: bool) -> Result<()> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    DEFLATERS.with_borrow_mut(|ds| {
        let i = match ds.by_level.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                ds.by_level.push((level, Compress::new(Compression::new(level), false)));
                ds.by_level.len() - 1
            }
        };
        let d = &mut ds.by_level[i].1;
        d.reset();
        // Room for the worst case (stored blocks: 5 bytes per 16 KiB), so the compressor finishes in
        // one call: its output never depends on how much room it was given.
        out.reserve(bytes.len() + 5 * (bytes.len() / 16_384 + 2) + 64);
        let flush = if last { FlushCompress::Finish } else { FlushCompress::Full };
        let status = d.compress_vec(bytes, out, flush).map_err(|e| Error::internal("gzip", e))?;
        let done = if last { status == Status::StreamEnd } else { status == Status::Ok };
        if !done || d.total_in() != bytes.len() as u64 || out.capacity() == out.len() {
            return Err(Error::internal("gzip", "deflate did not finish in one call"));
        }
        Ok(())
    })
}

fn deflate_segment(bytes: &[u8], level: u32, last: bool) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    deflate_into(&mut out, bytes, level, last)?;
    Ok(out)
}

/// The header of a gzip member (RFC 1952) as flate2's `GzBuilder` writes it: magic, deflate, no flags,
/// mtime 0, extra flags by level, OS unknown (255).
fn gzip_header(level: u32) -> [u8; 10] {
    let xfl = match level {
        9.. => 2,
        0 | 1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// Ends a gzip member whose deflate stream is in `gz`: the CRC-32 and length (mod 2^32) of `plain`.
fn push_gzip_trailer(gz: &mut Vec<u8>, plain: &[u8]) {
    gz.extend_from_slice(&crc32fast::hash(plain).to_le_bytes());
    gz.extend_from_slice(&(plain.len() as u32).to_le_bytes());
}

/// Gzip of `bytes` at `level` in one deflate stream (miniz_oxide: pure Rust, the same bytes on every
/// machine).
pub fn gzip(bytes: &[u8], level: u32) -> Result<Vec<u8>> {
    let mut gz = gzip_header(level).to_vec();
    deflate_into(&mut gz, bytes, level, true)?;
    push_gzip_trailer(&mut gz, bytes);
    Ok(gz)
}

/// Renders the node (index `i` of the topology) from its file list, contents taken from the bundle:
/// the start it shares with nodes that have the same cluster-level files, then its own files and
/// settings.
pub fn render(t: &Topology, i: usize, files: &[Placed], bundle: &Bundle, shared: &Shared) -> Result<UserData> {
    // Built in this thread's scratch buffers (no fresh memory per node), then copied out at their size.
    SCRATCH.with_borrow_mut(|scratch| render_into(t, i, files, bundle, shared, scratch))
}

thread_local! {
    static SCRATCH: RefCell<(String, Vec<u8>)> = RefCell::default();
}

fn render_into(
    t: &Topology,
    i: usize,
    files: &[Placed],
    bundle: &Bundle,
    shared: &Shared,
    (plain, gz): &mut (String, Vec<u8>),
) -> Result<UserData> {
    let n = t.nodes.get(i).ok_or_else(|| Error::internal("user-data", format!("no node {i}")))?;
    let start = shared.starts.of(i).ok_or_else(|| Error::internal(&n.name, "no user-data start"))?;
    let tail = shared.tails.of(i);
    let install = nodeconf::node_path(&n.name, nodeconf::INSTALL_SCRIPT);
    plain.clear();
    plain.push_str(&start.text);
    // Where the install-script body's lines are (they end its item, before the item's line break).
    let mut tail_at = None;
    for f in files.iter().filter(|f| !is_shared(f)) {
        let entry =
            bundle.get(&f.source).ok_or_else(|| Error::internal(&n.name, format!("{} not rendered", f.source)))?;
        push_item(plain, f, &entry.bytes)?;
        if let (true, Some(tail), Some(text)) = (f.source == install, tail, plain.strip_suffix('\n')) {
            if text.ends_with(&tail.text) {
                tail_at = Some(text.len() - tail.text.len()..text.len());
            }
        }
    }
    plain.push_str(&templates::render(
        "user-data-end.yaml.j2",
        minijinja::context! {
            node => n.name,
            packages => nodeconf::packages(t, n),
            units => nodeconf::units(t, n),
        },
    )?);
    let plain = plain.as_bytes();
    // Most nodes fit their budget with room to spare, so the fast copy serves them: the segments
    // shared with other nodes compressed once, the node's own text around them here. A node whose
    // fast copy does not fit gets one strong stream. The choice is a function of the bytes and the
    // budget.
    let own = start.text.len();
    gz.clear();
    gz.extend_from_slice(&gzip_header(LEVEL_FAST));
    gz.extend_from_slice(&start.deflated);
    match (tail, tail_at) {
        (Some(tail), Some(at)) => {
            deflate_into(gz, &plain[own..at.start], LEVEL_FAST, false)?;
            gz.extend_from_slice(&tail.deflated);
            deflate_into(gz, &plain[at.end..], LEVEL_FAST, true)?;
        }
        _ => deflate_into(gz, &plain[own..], LEVEL_FAST, true)?,
    }
    push_gzip_trailer(gz, plain);
    let gz = if gz.len() > t.user_data_budget { gzip(plain, LEVEL_BEST)? } else { gz.to_vec() };
    Ok(UserData { plain: plain.to_vec(), gzip: gz })
}

/// The error for every node whose gzip user-data is over `userData.budgetBytes`, with the node's
/// largest files and the ways out; `None` when every node fits. `sizes[i]` is node `i`'s (plain, gzip).
pub fn over_budget(
    t: &Topology,
    node_files: &[Vec<Placed>],
    bundle: &Bundle,
    sizes: &[(usize, usize)],
) -> Option<Error> {
    let mut lines = Vec::new();
    for ((n, files), (plain, gz)) in t.nodes.iter().zip(node_files).zip(sizes) {
        if *gz <= t.user_data_budget {
            continue;
        }
        let mut by_size: Vec<(usize, &str)> =
            files.iter().filter_map(|f| bundle.get(&f.source).map(|e| (e.bytes.len(), f.path.as_str()))).collect();
        by_size.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
        let largest: Vec<String> = by_size.iter().take(3).map(|(s, p)| format!("{p} ({s} bytes)")).collect();
        lines.push(format!(
            "  - {}: {gz} bytes gzipped ({plain} plain); largest files: {}",
            n.name,
            largest.join(", ")
        ));
    }
    if lines.is_empty() {
        return None;
    }
    let mut ways = Vec::new();
    if t.key_algorithm != crate::topology::KeyAlgorithm::EcdsaP256 {
        ways.push("pki.keyAlgorithm: ecdsa-p256 (RSA keys and certificates are several times larger)".to_string());
    }
    ways.push("a larger userData.budgetBytes where the cloud allows it (EC2 16384, Azure 65535, GCP 262144)".into());
    if t.pod_routes == crate::topology::PodRoutes::Static {
        ways.push("network.podRoutes: none for large clusters (the route table is in every node's user-data)".into());
    }
    Some(Error::Limit(format!(
        "user-data of {} node{} is over the budget of {} bytes (userData.budgetBytes) even gzipped:\n{}\nways out: {}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        t.user_data_budget,
        lines.join("\n"),
        ways.join("; ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Doc {
        c: String,
    }

    /// Every block scalar parses back to exactly the original text.
    #[test]
    fn block_scalars_round_trip() {
        for text in [
            "a\nb\n",
            "a\nb",
            "a\n\n\n",
            "  leading spaces\nx\n",
            "\n\nafter blank lines\n",
            "\n",
            "\n  indented after blank\n",
            "tab\there\n",
            "trailing spaces   \n  \n",
            "# comment-like\n- list-like: {x}\n\"quoted\" 'single' &anchor *alias\n",
            "ünïcödé ✓\n",
        ] {
            let scalar = block_scalar(text, 2).unwrap();
            let yaml = format!("c: {scalar}\n");
            let doc: Doc = serde_saphyr::from_str(&yaml).unwrap_or_else(|e| panic!("{text:?} -> {yaml:?}: {e}"));
            assert_eq!(doc.c, text, "{yaml:?}");
        }
        assert!(block_scalar("crlf\r\n", 2).is_none());
        for bad in ["del\u{7f}", "c1\u{85}x", "bom\u{feff}", "ls\u{2028}", "ps\u{2029}", "esc\u{1b}[0m", "cr\r"] {
            assert!(block_scalar(bad, 2).is_none(), "{bad:?}");
        }
        assert!(block_scalar("nul\0", 2).is_none());
    }

    /// Reused compressors give what a fresh one gives, input after input; up to the 32 KiB of output
    /// flate2's writer buffers per call (every user-data so far), that is byte for byte `GzBuilder`.
    #[test]
    fn gzip_is_independent_of_earlier_inputs_and_matches_flate2() {
        use std::io::{Read, Write};
        let big: Vec<u8> = (0..200_000u32).flat_map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()).collect();
        let inputs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"hello hello hello\n".to_vec(),
            include_bytes!("../templates/install.sh.j2").to_vec(),
            big,
            include_bytes!("../templates/coredns.yaml.j2").repeat(20),
            include_bytes!("../templates/user-data-end.yaml.j2").to_vec(),
        ];
        for level in [LEVEL_FAST, LEVEL_BEST, 9] {
            for input in inputs.iter().chain(inputs.iter().rev()) {
                let ctx = format!("level {level}, {} bytes", input.len());
                let reused = gzip(input, level).unwrap();
                let fresh = std::thread::scope(|s| s.spawn(|| gzip(input, level).unwrap()).join().unwrap());
                assert_eq!(reused, fresh, "{ctx}");
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&reused[..]).read_to_end(&mut back).unwrap();
                assert_eq!(&back, input, "{ctx}");
                if reused.len() < 32 * 1024 {
                    let mut w = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::new(level));
                    w.write_all(input).unwrap();
                    assert_eq!(reused, w.finish().unwrap(), "{ctx}");
                }
            }
        }
    }

    /// A start compressed once and a rest compressed on its own make one valid gzip member of both,
    /// for GNU gzip too (see the node tests); whatever the sizes, including empty parts.
    #[test]
    fn segments_concatenate_into_one_member() {
        use std::io::Read;
        let text = include_bytes!("../templates/install.sh.j2");
        for (a, b) in [(&text[..], &text[..]), (&b""[..], &text[..]), (&text[..], &b""[..]), (&b""[..], &b""[..])] {
            for level in [LEVEL_FAST, LEVEL_BEST] {
                let plain = [a, b].concat();
                let start = deflate_segment(a, level, false).unwrap();
                let mut gz = gzip_header(level).to_vec();
                gz.extend_from_slice(&start);
                deflate_into(&mut gz, b, level, true).unwrap();
                push_gzip_trailer(&mut gz, &plain);
                let mut back = Vec::new();
                flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
                assert_eq!(back, plain, "{} + {} bytes at level {level}", a.len(), b.len());
                // The start alone ends byte-aligned after a full flush: an empty stored block.
                assert!(start.ends_with(&[0, 0, 0xff, 0xff]), "{start:?}");
            }
        }
    }

    #[test]
    fn gzip_has_no_timestamp() {
        for level in [LEVEL_FAST, LEVEL_BEST] {
            let g = gzip(b"hello", level).unwrap();
            assert_eq!(&g[4..8], &[0, 0, 0, 0], "mtime must be 0");
            assert_eq!(g, gzip(b"hello", level).unwrap());
        }
    }
}
