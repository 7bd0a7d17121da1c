//! Entry points of the fuzz targets (fuzz/): parse, validate and render arbitrary input, discarding the
//! result. Any panic here is a bug (the corpus replay and the dates test in `make test` check that).

use crate::model::{self, KeyAlgorithm};
use crate::render::{render, seed::Secrets};

/// The parse_render target: parse, validate and, for small ECDSA topologies, render `bytes` with a
/// fixed seed.
pub fn fuzz_one(bytes: &[u8]) {
    if let Ok(c) = model::load("fuzz.yaml", bytes) {
        let t = &c.topology;
        if t.nodes().len() <= 16 && t.key_algorithm() == KeyAlgorithm::EcdsaP256 {
            let _ = render(t, &Secrets::from_seed([0x42; 32]));
        }
    }
}

/// The dates fuzz target's body: a one-node topology whose `notBefore`, validities and token expiry
/// come from `bytes`, most of them near the edges (years 1950 and 9999, validities 0 and
/// `MAX_VALIDITY_DAYS`, impossible days of a month), through validate and render. A date beyond what
/// X.509 or the time crate holds must be rejected, never panic.
#[doc(hidden)]
pub fn fuzz_dates(bytes: &[u8]) {
    let _ = dates_outcome(bytes);
}

/// What became of a `fuzz_dates` input: rendered, rejected by validation (the message), or accepted
/// by validation and then refused by the render (a bug: validation must catch every bad date).
#[doc(hidden)]
#[derive(Debug)]
pub enum DatesOutcome {
    Rendered,
    Rejected(String),
    RenderFailed(String),
}

/// `fuzz_dates`, saying what happened.
#[doc(hidden)]
pub fn dates_outcome(bytes: &[u8]) -> DatesOutcome {
    let b = |i: usize| u32::from(bytes.get(i).copied().unwrap_or(0));
    let w = |i: usize| b(i) << 8 | b(i + 1);
    let year = match b(0) % 4 {
        0 => 1940 + b(1) % 30,
        1 => 9970 + b(1) % 40,
        2 => w(1) % 10_000,
        _ => 2000 + b(1),
    };
    let days = |i: usize| match b(i) % 4 {
        0 => b(i + 1) % 4,
        1 => model::MAX_VALIDITY_DAYS - b(i + 1) % 4 + 2,
        _ => w(i + 1) % 40_000,
    };
    let (ca, cert) = (days(3), days(6));
    let expire = match b(9) % 3 {
        0 => String::new(),
        1 => format!("  bootstrapTokensExpire: \"{:04}-12-31T23:59:59Z\"\n", year + b(10) % 3),
        _ => format!("  bootstrapTokensExpire: \"{:04}-01-01T00:00:00Z\"\n", w(10) % 10_000),
    };
    let yaml = format!(
        "cluster:\n  name: f\n  kubernetesVersion: \"1.36.0\"\n  apiServer: {{endpoint: 10.0.0.1}}\n  network: {{serviceCIDR: 10.32.0.0/24, podCIDR: 10.200.0.0/16}}\n  kubeletCredentials: bootstrap\n{expire}pki: {{notBefore: \"{year:04}-{:02}-{:02}T{:02}:59:59Z\", caValidityDays: {ca}, certValidityDays: {cert}}}\nencryption: {{keys: [k]}}\nnodes:\n  - {{name: n, internalIP: 10.0.0.1, roles: [controlplane, etcd, worker]}}\n",
        1 + b(12) % 12,
        1 + b(13) % 31,
        b(14) % 24,
    );
    match model::load("fuzz.yaml", yaml.as_bytes()) {
        Err(e) => DatesOutcome::Rejected(e.to_string()),
        Ok(c) => match render(&c.topology, &Secrets::from_seed([0x42; 32])) {
            Ok(_) => DatesOutcome::Rendered,
            Err(e) => DatesOutcome::RenderFailed(e.to_string()),
        },
    }
}
