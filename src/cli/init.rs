//! `hardway init`: an example topology valid from today and a new random seed (the only reads of the
//! clock and of OS randomness, besides `inspect`'s default "now").

use super::out;
use crate::error::{Error, Result};
use crate::io as output;
use crate::model;
use crate::render::seed::Secrets;
use std::path::Path;

/// The example topology `init` writes (and `make demo` renders).
pub(crate) const EXAMPLE_TOPOLOGY: &str = include_str!("../../examples/cluster.yaml");
const EXAMPLE_NOT_BEFORE: &str = "notBefore: \"2026-11-01T00:00:00Z\"";

pub(crate) const SCHEMA_FILE: &str = "hardway.schema.json";

/// The example topology with `notBefore` set to `day_start` (today 00:00 UTC), pointing editors at the
/// schema file `init` writes beside it.
pub(crate) fn init_topology(day_start: time::OffsetDateTime) -> Result<String> {
    let ts = crate::fmt::rfc3339(day_start)?;
    if !EXAMPLE_TOPOLOGY.contains(EXAMPLE_NOT_BEFORE) {
        return Err(Error::internal("init", "example topology lost its notBefore line"));
    }
    Ok(format!(
        "# yaml-language-server: $schema=./{SCHEMA_FILE}\n{}",
        EXAMPLE_TOPOLOGY.replace(EXAMPLE_NOT_BEFORE, &format!("notBefore: \"{ts}\""))
    ))
}

pub(crate) fn init(dir: &Path) -> Result<()> {
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
    output::create_new_file(&schema_path, model::json_schema().as_bytes(), 0o644)?;
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
        let c = crate::model::load("init.yaml", y.as_bytes())?;
        assert_eq!(c.topology.not_before, day);
        Ok(())
    }
}
