//! Shared test helpers: temporary directories, the built binary, golden inputs, real-tool lookup.

use hardway::{Bundle, Secrets};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub(crate) fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hardway"))
}

/// A fresh, empty temporary directory, removed when dropped.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("hardway-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
    pub(crate) fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Loads a topology file and a secret file and renders, as the CLI does.
pub(crate) fn render_files(topology: &Path, secret: &Path) -> hardway::Result<Bundle> {
    let checked = hardway::model::load("topology.yaml", &std::fs::read(topology).unwrap())?;
    let secrets = Secrets::parse(&std::fs::read(secret).unwrap()).unwrap();
    hardway::render(&checked.topology, &secrets)
}

/// Renders a topology given as text with a fixed test seed.
pub(crate) fn render_text(yaml: &str, seed: u8) -> Bundle {
    let checked = hardway::model::load("t.yaml", yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    hardway::render(&checked.topology, &Secrets::from_seed([seed; 32])).unwrap()
}

/// `yaml` with its `pki.notBefore` three days before today: for checks by programs that judge the
/// certificates by the clock (kubectl, etcd), which would otherwise fail once the fixture's certificates
/// expired (2026-11-01 plus a year).
pub(crate) fn valid_now(yaml: &str) -> String {
    let day = (time::OffsetDateTime::now_utc() - time::Duration::days(3))
        .format(&time::macros::format_description!("[year]-[month]-[day]T00:00:00Z"))
        .unwrap();
    let fixed = "notBefore: \"2026-11-01T00:00:00Z\"";
    assert!(yaml.contains(fixed), "no fixed notBefore to move");
    yaml.replace(fixed, &format!("notBefore: \"{day}\""))
}

pub(crate) fn demo_yaml() -> String {
    std::fs::read_to_string(repo().join("examples/cluster.yaml")).unwrap()
}

/// Writes every file of the bundle under `dir` (test helper; the product uses `hardway::output`).
pub(crate) fn write_bundle(b: &Bundle, dir: &Path) {
    hardway::io::write_dir(b, dir, &hardway::io::WriteOptions::force()).unwrap();
}

/// Whether missing real programs may skip their checks: only when HARDWAY_ALLOW_SKIP=1 is set (a
/// machine without them); otherwise, as in CI, a missing program fails the test that needs it.
fn skips_allowed() -> bool {
    std::env::var_os("HARDWAY_ALLOW_SKIP").is_some_and(|v| v == "1")
}

/// A real-program check that cannot run for `why`: fails, or with HARDWAY_ALLOW_SKIP=1 says SKIPPED.
pub(crate) fn skip(why: &str) {
    if !skips_allowed() {
        panic!("{why}: install it (see README, .ci/run) or set HARDWAY_ALLOW_SKIP=1 to skip this check");
    }
    eprintln!("SKIPPED: {why} (HARDWAY_ALLOW_SKIP=1); this real-program check did not run");
}

/// Looks a real program up. When it is missing the test fails, or, with HARDWAY_ALLOW_SKIP=1, is
/// skipped with a SKIPPED line on stderr.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let found = if name.starts_with('/') {
        Some(PathBuf::from(name)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
    };
    if found.is_none() {
        if !skips_allowed() {
            panic!("{name} is not installed: install it (see README, .ci/run) or set HARDWAY_ALLOW_SKIP=1 to skip this check");
        }
        eprintln!("SKIPPED: {name} is not installed (HARDWAY_ALLOW_SKIP=1); this real-program check did not run");
    }
    found
}

/// Whether private network namespaces work here (root, or user namespaces enabled).
pub(crate) fn netns_ok() -> bool {
    let ok = Command::new("unshare").args(["-n", "true"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if !skips_allowed() {
            panic!("unshare -n does not work here (root needed): set HARDWAY_ALLOW_SKIP=1 to skip this check");
        }
        eprintln!("SKIPPED: cannot create a private network namespace (unshare -n; HARDWAY_ALLOW_SKIP=1)");
    }
    ok
}
