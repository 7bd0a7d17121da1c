//! Shared test helpers: temporary directories, the built binary, golden inputs, real-tool lookup.

use hardway::{Bundle, Secrets};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hardway"))
}

/// A fresh, empty temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("hardway-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Loads a topology file and a secret file and renders, as the CLI does.
pub fn render_files(topology: &Path, secret: &Path) -> hardway::Result<Bundle> {
    let checked = hardway::topology::load("topology.yaml", &std::fs::read(topology).unwrap())?;
    let secrets = Secrets::parse(&std::fs::read(secret).unwrap()).unwrap();
    hardway::render(&checked.topology, &secrets)
}

/// Renders a topology given as text with a fixed test seed.
pub fn render_text(yaml: &str, seed: u8) -> Bundle {
    let checked = hardway::topology::load("t.yaml", yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    hardway::render(&checked.topology, &Secrets::from_seed([seed; 32])).unwrap()
}

pub fn demo_yaml() -> String {
    std::fs::read_to_string(repo().join("examples/cluster.yaml")).unwrap()
}

/// Writes every file of the bundle under `dir` (test helper; the product uses `hardway::output`).
pub fn write_bundle(b: &Bundle, dir: &Path) {
    hardway::output::write_dir(b, dir, &hardway::output::WriteOptions::force()).unwrap();
}

/// Looks a real program up. When it is missing, the test is skipped with a message, unless
/// HARDWAY_REQUIRE_TOOLS is set (CI), where a missing tool is a failure.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = if name.starts_with('/') {
        Some(PathBuf::from(name)).filter(|p| p.exists())
    } else {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| p.is_file()))
    };
    if found.is_none() {
        if std::env::var_os("HARDWAY_REQUIRE_TOOLS").is_some() {
            panic!("{name} is required (HARDWAY_REQUIRE_TOOLS is set) but not installed");
        }
        eprintln!("SKIP: {name} is not installed; install it to run this check");
    }
    found
}

/// Whether private network namespaces work here (root, or user namespaces enabled).
pub fn netns_ok() -> bool {
    let ok = Command::new("unshare").args(["-n", "true"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if std::env::var_os("HARDWAY_REQUIRE_TOOLS").is_some() {
            panic!("unshare -n does not work here, but HARDWAY_REQUIRE_TOOLS is set");
        }
        eprintln!("SKIP: cannot create a private network namespace (unshare -n)");
    }
    ok
}
