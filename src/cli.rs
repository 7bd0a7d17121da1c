//! The command line: argument parsing and the only code that reads files, the clock, OS randomness
//! and the process environment. Everything it computes goes through the pure `render`.

use crate::error::{Error, Problem, Result};
use crate::output;
use crate::secrets::Secrets;
use crate::topology::{self, Checked, Role};
use clap::{Parser, Subcommand};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The example topology `init` writes (and `make demo` renders).
pub const EXAMPLE_TOPOLOGY: &str = include_str!("../examples/cluster.yaml");
const EXAMPLE_NOT_BEFORE: &str = "notBefore: \"2026-11-01T00:00:00Z\"";

#[derive(Parser, Debug)]
#[command(
    name = "hardway",
    version,
    about = "Kubernetes the hard way, reproducibly: topology + secret seed -> PKI, kubeconfigs and configs, bit-identical every time"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write DIR/cluster.yaml (an example topology, valid from today) and DIR/cluster.secret (a new random seed).
    Init { dir: PathBuf },
    /// Render the bundle for TOPOLOGY with the seed in --secret into --out (a directory, or a .zip file).
    Render {
        topology: PathBuf,
        /// Secret seed file (from `hardway init`).
        #[arg(long)]
        secret: PathBuf,
        /// Output directory, or a path ending in .zip for a reproducible archive.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing output (atomically: the old one stays if rendering fails).
        #[arg(long)]
        force: bool,
        /// Replace every secret with a placeholder and fingerprint: a bundle safe to commit and diff.
        #[arg(long)]
        redact: bool,
    },
    /// Parse and validate TOPOLOGY; print every problem, or a summary and the planned certificates. Needs no secret.
    Check { topology: PathBuf },
    /// Print an AWS CloudFormation template with one instance per node of a rendered BUNDLE.
    Cloudformation { bundle: PathBuf },
    /// Print the JSON Schema of the topology file (for editors and CI validators).
    Schema,
    /// Print a shell completion script.
    Completions { shell: clap_complete::Shell },
    /// Certificate inventory of a rendered bundle (directory or zip): days left, chains, key pairs, SHA256SUMS.
    Inspect {
        path: PathBuf,
        /// Moment to check against: YYYY-MM-DD or an RFC 3339 time (default: now).
        #[arg(long, value_parser = parse_at)]
        at: Option<time::OffsetDateTime>,
        /// Fail when a certificate expires within this many days.
        #[arg(long, default_value_t = 30)]
        warn_days: i64,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Entry point used by `main`: exit 0 on success, 1 when input is rejected, 2 on usage errors.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that went away (`hardway check x | head`) is not an error: stop quietly.
        Err(Error::StdoutClosed) => ExitCode::SUCCESS,
        Err(e) => {
            warn(&format!("error: {e}"));
            ExitCode::from(1)
        }
    }
}

/// Writes `s` to standard output; a closed pipe becomes `Error::StdoutClosed`.
fn out(s: &str) -> Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes()).and_then(|()| o.flush()).map_err(|e| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Error::StdoutClosed,
        _ => Error::Output { path: "standard output".into(), message: e.to_string() },
    })
}

/// One line to standard error; nothing to be done if that is closed too.
fn warn(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn run(cli: Cli) -> Result<()> {
    match cli.cmd {
        Cmd::Init { dir } => init(&dir),
        Cmd::Check { topology } => {
            let checked = load_topology(&topology)?;
            print_warnings(&topology, &checked.warnings);
            crate::predict_sizes(&checked.topology).map_err(|e| match e {
                Error::Limit(m) => Error::Input { file: topology.display().to_string(), message: m },
                other => other,
            })?;
            out(&format!("{}\n", summary(&checked)))?;
            out(&notes(&checked.topology))?;
            out(&pod_ranges(&checked.topology))?;
            out(&crate::pki::issue::inventory(&checked.topology))
        }
        Cmd::Cloudformation { bundle } => out(&crate::cloudformation::template(&output::read_bundle(&bundle)?)?),
        Cmd::Schema => out(&topology::json_schema()),
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hardway", &mut script);
            out(&String::from_utf8_lossy(&script))
        }
        Cmd::Inspect { path, at, warn_days, json } => {
            let at = at.unwrap_or_else(time::OffsetDateTime::now_utc);
            let bundle = output::read_bundle(&path)?;
            let report = crate::inspect::inspect(&bundle, at, warn_days);
            if json {
                let mut s = serde_json::to_string_pretty(&report).map_err(|e| Error::internal("inspect", e))?;
                s.push('\n');
                out(&s)?;
            } else {
                out(&crate::inspect::table(&report))?;
            }
            if report.ok() {
                Ok(())
            } else {
                Err(Error::Limit(format!("{}: {} problem(s) found", path.display(), report.problems.len())))
            }
        }
        Cmd::Render { topology, secret, out, force, redact } => {
            let checked = load_topology(&topology)?;
            let secrets = load_secret(&secret)?;
            print_warnings(&topology, &checked.warnings);
            let bundle = crate::render_with(
                &checked.topology,
                &secrets,
                crate::Options { redact, ..crate::Options::default() },
            )?;
            let is_zip = out.extension().is_some_and(|e| e.eq_ignore_ascii_case("zip"));
            let opts = output::WriteOptions {
                force,
                inputs: vec![topology.clone(), secret.clone()],
                home: std::env::var_os("HOME").map(PathBuf::from),
            };
            let removed = if is_zip {
                output::write_zip(&bundle, &out, &opts)?
            } else {
                output::write_dir(&bundle, &out, &opts)?
            };
            for r in removed {
                warn(&format!("note: removed {}, left by a render that was killed", r.display()));
            }
            self::out(&format!(
                "rendered {} files ({} bytes) for {} to {}\n",
                bundle.len(),
                bundle.total_bytes(),
                checked.topology.name,
                out.display()
            ))?;
            // Tens of thousands of buffers: the exit returns them to the OS faster than dropping would.
            std::mem::forget(bundle);
            Ok(())
        }
    }
}

/// `--at`: a date (midnight UTC) or an RFC 3339 time; anything else is a usage error (exit 2).
fn parse_at(s: &str) -> std::result::Result<time::OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &fmt)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| format!("{} is neither YYYY-MM-DD nor an RFC 3339 time", crate::error::quoted(s)))
}

/// What `check` says about the Kubernetes version and the nodes it needs.
fn notes(t: &crate::Topology) -> String {
    let mut s = String::new();
    if t.version.minor >= 35 {
        s.push_str(&format!(
            "note: Kubernetes {} kubelets refuse hosts with cgroup v1 (failCgroupV1): workers need cgroup v2 (Ubuntu 22.04+, Debian 11+; stat -fc %T /sys/fs/cgroup says cgroup2fs)\n",
            t.version
        ));
    }
    s
}

/// Every worker's pod range, saying which ones were allocated (hashed from the node's name).
fn pod_ranges(t: &crate::Topology) -> String {
    let workers: Vec<&topology::Node> = t.nodes_with(Role::Worker).collect();
    if workers.is_empty() {
        return String::new();
    }
    let mut s = String::from("pod ranges:\n");
    for n in workers {
        let range = n.pod_cidr.map(|c| c.to_string()).unwrap_or_default();
        let how = if n.pod_cidr_allocated { "allocated (set podCIDR to choose)" } else { "from the topology" };
        s.push_str(&format!("  {:<34} {:<20} {how}\n", n.name, range));
    }
    s
}

fn summary(c: &Checked) -> String {
    let t = &c.topology;
    let count = |r: Role| t.nodes_with(r).count();
    let etcd = count(Role::Etcd);
    let lbs = count(Role::LoadBalancer);
    format!(
        "ok: {} (Kubernetes {}), {} nodes: {} controlplane, {} etcd, {} worker{}; endpoint {}\n\
         etcd: {} member{}, quorum {}, tolerates {} failure{}{}",
        t.name,
        t.version,
        t.nodes.len(),
        count(Role::ControlPlane),
        etcd,
        count(Role::Worker),
        if lbs > 0 { format!(", {lbs} loadbalancer") } else { String::new() },
        t.endpoint_url(),
        etcd,
        if etcd == 1 { "" } else { "s" },
        etcd / 2 + 1,
        (etcd - 1) / 2,
        if (etcd - 1) / 2 == 1 { "" } else { "s" },
        if c.warnings.is_empty() { String::new() } else { format!("; {} warning(s)", c.warnings.len()) }
    )
}

fn print_warnings(file: &Path, warnings: &[Problem]) {
    for w in warnings {
        warn(&format!("warning: {}: {w}", file.display()));
    }
}

/// Reads at most `limit + 1` bytes, so a huge file is refused without reading all of it.
fn read_limited(path: &Path, limit: usize) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::Input { file: path.display().to_string(), message: format!("cannot read: {e}") })?;
    let mut buf = Vec::new();
    f.take(limit as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::Input { file: path.display().to_string(), message: format!("cannot read: {e}") })?;
    Ok(buf)
}

fn load_topology(path: &Path) -> Result<Checked> {
    let bytes = read_limited(path, topology::MAX_FILE_BYTES)?;
    topology::load(&path.display().to_string(), &bytes)
}

fn load_secret(path: &Path) -> Result<Secrets> {
    let file = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::Secret { file: file.clone(), message: format!("cannot read: {e}") })?;
    if !meta.is_file() {
        return Err(Error::Secret { file, message: "is not a regular file".into() });
    }
    let bytes =
        read_limited(path, 4096).map_err(|_| Error::Secret { file: file.clone(), message: "cannot read".into() })?;
    if bytes.len() > 4096 {
        return Err(Error::Secret { file, message: "is too large to be a hardway secret file".into() });
    }
    let secrets = Secrets::parse(&bytes).map_err(|message| Error::Secret { file: file.clone(), message })?;
    if meta.permissions().mode() & 0o077 != 0 {
        warn(&format!(
            "warning: {file}: readable by group or others (mode {:04o}); it holds the key to every credential of the cluster: chmod 600 {file}",
            meta.permissions().mode() & 0o777
        ));
    }
    Ok(secrets)
}

pub const SCHEMA_FILE: &str = "hardway.schema.json";

/// The example topology with `notBefore` set to `day_start` (today 00:00 UTC), pointing editors at the
/// schema file `init` writes beside it.
pub fn init_topology(day_start: time::OffsetDateTime) -> Result<String> {
    let ts = crate::index::rfc3339(day_start)?;
    if !EXAMPLE_TOPOLOGY.contains(EXAMPLE_NOT_BEFORE) {
        return Err(Error::internal("init", "example topology lost its notBefore line"));
    }
    Ok(format!(
        "# yaml-language-server: $schema=./{SCHEMA_FILE}\n{}",
        EXAMPLE_TOPOLOGY.replace(EXAMPLE_NOT_BEFORE, &format!("notBefore: \"{ts}\""))
    ))
}

fn init(dir: &Path) -> Result<()> {
    let out_err = |message: String| Error::Output { path: dir.display().to_string(), message };
    std::fs::create_dir_all(dir).map_err(|e| out_err(format!("cannot create: {e}")))?;
    let topo_path = dir.join("cluster.yaml");
    let secret_path = dir.join("cluster.secret");
    let schema_path = dir.join(SCHEMA_FILE);
    for p in [&topo_path, &secret_path, &schema_path] {
        if std::fs::symlink_metadata(p).is_ok() {
            return Err(Error::Output {
                path: p.display().to_string(),
                message: "already exists; refusing to overwrite it".into(),
            });
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| out_err(format!("system clock is before 1970: {e}")))?
        .as_secs();
    let day = (now / 86_400 * 86_400) as i64;
    let day_start = time::OffsetDateTime::from_unix_timestamp(day).map_err(|e| Error::internal("init", e))?;
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| Error::internal("init: OS random source", e))?;
    output::create_new_file(&topo_path, init_topology(day_start)?.as_bytes(), 0o644)?;
    output::create_new_file(&secret_path, Secrets::file_text(&seed).as_bytes(), 0o600)?;
    output::create_new_file(&schema_path, topology::json_schema().as_bytes(), 0o644)?;
    out(&format!("wrote {} and {} (keep the secret private)\n", topo_path.display(), secret_path.display()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn init_topology_moves_not_before_and_stays_valid() -> crate::Result<()> {
        let day = time::OffsetDateTime::from_unix_timestamp(1_900_000_000 / 86_400 * 86_400)
            .map_err(|e| crate::Error::internal("t", e))?;
        let y = super::init_topology(day)?;
        assert!(y.contains("notBefore: \"2030-03-17T00:00:00Z\""), "{y}");
        let c = crate::topology::load("init.yaml", y.as_bytes())?;
        assert_eq!(c.topology.not_before, day);
        Ok(())
    }
}
