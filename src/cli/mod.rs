//! The command line: argument parsing, each command's I/O, and (with `io`) the only code that reads
//! files, the clock, OS randomness, the environment and the machine. Everything it computes goes
//! through the pure `render`; errors are printed once, with the exit code.

mod check;
mod init;

use crate::error::{Error, Problem, Result};
use crate::io as output;
use crate::model::{self, Checked};
use crate::render::seed::Secrets;
use clap::{Parser, Subcommand};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

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
    /// Parse and validate TOPOLOGY; print every problem, or a summary, when certificates expire, and the planned certificates. Needs no secret.
    Check {
        topology: PathBuf,
        /// Moment to measure expiry against: YYYY-MM-DD or an RFC 3339 time (default: now).
        #[arg(long, value_parser = parse_at)]
        at: Option<time::OffsetDateTime>,
    },
    /// What going from rendered bundle OLD to NEW means for the running cluster: files and services per node, rollout order, cluster steps, unsafe transitions (exit 1).
    Plan {
        old: PathBuf,
        new: PathBuf,
        /// Print the plan as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print an AWS CloudFormation template with one instance per node of a rendered BUNDLE.
    Cloudformation { bundle: PathBuf },
    /// Print the JSON Schema of the topology file (for editors and CI validators), or with --index
    /// that of a bundle's index.json (for Terraform and CI readers).
    Schema {
        /// The schema of a bundle's index.json instead of the topology's.
        #[arg(long)]
        index: bool,
    },
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
            ExitCode::from(e.exit_code())
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
        Cmd::Init { dir } => init::init(&dir),
        Cmd::Plan { old, new, json } => {
            let (ob, nb) = (output::read_bundle(&old)?, output::read_bundle(&new)?);
            let (ol, nl) = (old.display().to_string(), new.display().to_string());
            let plan = crate::report::plan::plan(&ol, &ob, &nl, &nb)?;
            if json {
                let mut s = serde_json::to_string_pretty(&plan).map_err(|e| Error::internal("plan", e))?;
                s.push('\n');
                out(&s)?;
            } else {
                out(&crate::report::plan::text(&plan, &ol, &nl))?;
            }
            if plan.safe() {
                Ok(())
            } else {
                Err(Error::UnsafePlan { count: plan.unsafe_transitions.len() })
            }
        }
        Cmd::Check { topology, at } => {
            let at = at.unwrap_or_else(time::OffsetDateTime::now_utc);
            let checked = load_topology(&topology)?;
            print_warnings(&topology, &checked.warnings);
            let strong = crate::render::predict_sizes(&checked.topology, threads()).map_err(|e| match e {
                Error::OverBudget { budget, nodes, ways, predicted, .. } => {
                    Error::OverBudget { file: Some(topology.display().to_string()), budget, nodes, ways, predicted }
                }
                other => other,
            })?;
            out(&format!("{}\n", check::summary(&checked)))?;
            if !strong.is_empty() {
                out(&format!(
                    "note: the user-data of {} fit the budget only at gzip level {} (level {} is over it): these nodes render slower\n",
                    strong.join(", "),
                    crate::render::userdata::LEVEL_OVER_BUDGET,
                    crate::render::userdata::LEVEL
                ))?;
            }
            out(&check::notes(&checked.topology))?;
            let (expiry, expired) = check::expiry(&checked.topology, at);
            out(&expiry)?;
            out(&check::pod_ranges(&checked.topology))?;
            out(&crate::render::pki::inventory(&checked.topology))?;
            if expired.is_empty() {
                Ok(())
            } else {
                Err(Error::Expired { file: topology.display().to_string(), what: expired })
            }
        }
        Cmd::Cloudformation { bundle } => out(&crate::report::cloudformation::template(
            &bundle.display().to_string(),
            &output::read_bundle(&bundle)?,
        )?),
        Cmd::Schema { index: false } => out(&model::json_schema()),
        Cmd::Schema { index: true } => out(&crate::bundle::index::json_schema()),
        Cmd::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "hardway", &mut script);
            out(&String::from_utf8_lossy(&script))
        }
        Cmd::Inspect { path, at, warn_days, json } => {
            let at = at.unwrap_or_else(time::OffsetDateTime::now_utc);
            let bundle = output::read_bundle(&path)?;
            let report = crate::report::inspect::inspect(&bundle, at, warn_days);
            if json {
                let mut s = serde_json::to_string_pretty(&report).map_err(|e| Error::internal("inspect", e))?;
                s.push('\n');
                out(&s)?;
            } else {
                out(&crate::report::inspect::table(&report))?;
            }
            if report.ok() {
                Ok(())
            } else {
                Err(Error::BundleProblems { path: path.display().to_string(), count: report.problems.len() })
            }
        }
        Cmd::Render { topology, secret, out, force, redact } => {
            let checked = load_topology(&topology)?;
            let secrets = load_secret(&secret)?;
            print_warnings(&topology, &checked.warnings);
            let bundle = crate::render_with(
                &checked.topology,
                &secrets,
                crate::Options { redact, threads: threads(), ..crate::Options::default() },
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
            ))
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
        .map_err(|_| format!("{} is neither YYYY-MM-DD nor an RFC 3339 time", crate::fmt::quoted(s)))
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
    let bytes = read_limited(path, model::MAX_FILE_BYTES)?;
    // Files the topology names are relative to it.
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let read = |name: &str| -> std::result::Result<Vec<u8>, String> {
        read_limited(&dir.join(name), model::MAX_FILE_BYTES).map_err(|e| match e {
            Error::Input { message, .. } => message,
            other => other.to_string(),
        })
    };
    model::load_with(&path.display().to_string(), &bytes, &read)
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

/// Threads to render on: the machine's parallelism (speed only, never bytes).
fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
