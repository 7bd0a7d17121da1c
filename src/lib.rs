//! hardway: topology file + secret seed -> a bit-identical bundle of everything a Kubernetes cluster
//! needs before boot. `render` is pure; only `cli` and `output` touch the outside world.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod addons;
pub mod bootstrap;
pub mod bundle;
pub mod cli;
pub mod cloudformation;
pub mod encryption;
pub mod error;
mod groups;
pub mod index;
pub mod inspect;
pub mod kubeconfig;
pub mod net;
pub mod nodeconf;
pub mod nodes;
pub mod output;
mod par;
pub mod pki;
pub mod redact;
pub mod secrets;
mod templates;
pub mod topology;
pub mod userdata;
pub mod versions;
pub mod zipenc;

pub use bundle::{Bundle, Entry};
pub use error::{Error, Problem, Result};
pub use secrets::Secrets;
pub use topology::Topology;

use bundle::{MODE_PUBLIC, MODE_SECRET};
use sha2::Digest;

/// How to render.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Replace every secret (private keys, encryption keys, bootstrap tokens, and the same material in
    /// kubeconfigs and user-data) with a placeholder naming it and fingerprinting its value.
    pub redact: bool,
    /// Real keys from the seed, or stand-ins of the same sizes (to predict sizes; see `predict_sizes`).
    pub keys: pki::keys::KeyMode,
}

/// Renders the whole bundle. Pure: reads no clock, environment, file or OS randomness; the same
/// topology and secrets give the same bytes on every machine.
pub fn render(t: &Topology, secrets: &Secrets) -> Result<Bundle> {
    render_with(t, secrets, Options::default())
}

/// `render` with options (e.g. a redacted bundle, safe to commit).
pub fn render_with(t: &Topology, secrets: &Secrets, opts: Options) -> Result<Bundle> {
    let mut pki = pki::issue_all(t, secrets, opts.redact, opts.keys)?;
    let mut b = Bundle::new();
    let mut tokens = bootstrap::tokens(t, secrets);
    if opts.redact {
        for k in &mut tokens {
            k.secret = redact::placeholder(&format!("bootstrap token secret {}", k.id), k.secret.as_bytes());
        }
    }
    let mut kcs = kubeconfig::build_all(t, &pki)?;
    kcs.extend(bootstrap::kubeconfigs(t, &pki, &tokens)?);
    // The kubeconfigs hold what they need of the PEM texts: those move into the bundle (not copied).
    for c in &mut pki.certs {
        let (cert, key) = c.paths();
        b.add(cert, std::mem::take(&mut c.cert_pem), MODE_PUBLIC)?;
        b.add(key, std::mem::take(&mut c.key_pem), MODE_SECRET)?;
    }
    b.add(nodes::SA_KEY, pki.sa_private_pem.as_bytes(), MODE_SECRET)?;
    b.add(nodes::SA_PUB, pki.sa_public_pem.as_bytes(), MODE_PUBLIC)?;
    for k in &mut kcs {
        b.add(k.path.clone(), std::mem::take(&mut k.text), MODE_SECRET)?;
    }
    b.add(nodes::ENCRYPTION_CONFIG, encryption::render(t, secrets, opts.redact)?, MODE_SECRET)?;
    let manifests = addons::add(t, &pki, &tokens, &mut b)?;

    nodeconf::add_shared(t, &mut b)?;
    // Per-node work runs on every core; results come back in node order, so bytes do not change.
    let threads = par::threads();
    let install = nodeconf::InstallBodies::build(t)?;
    let indices: Vec<usize> = (0..t.nodes.len()).collect();
    let own = par::map(&indices, threads, |&i| -> Result<Bundle> {
        let mut nb = Bundle::new();
        nodeconf::add_node(t, &t.nodes[i], &mut nb)?;
        nodeconf::add_install_script(t, i, &install, &mut nb)?;
        Ok(nb)
    });
    for nb in own {
        b.merge(nb?)?;
    }
    let kc_index = nodes::KubeconfigIndex::new(&kcs);
    let node_files = par::map(&t.nodes, threads, |n| nodes::files_for(t, n, &pki, &kc_index, &b))
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let shared = userdata::Shared::build(t, &node_files, &b, &install)?;
    let rendered = par::map(&indices, threads, |&i| userdata::render(t, i, &node_files[i], &b, &shared));
    let mut sizes = Vec::with_capacity(t.nodes.len());
    let mut user_data = Vec::with_capacity(t.nodes.len());
    for ud in rendered {
        let ud = ud?;
        sizes.push((ud.plain.len(), ud.gzip.len()));
        user_data.push(ud);
    }
    if let Some(e) = userdata::over_budget(t, &node_files, &b, &sizes) {
        return Err(e);
    }
    for (n, ud) in t.nodes.iter().zip(user_data) {
        b.add(userdata::plain_path(&n.name), ud.plain, MODE_SECRET)?;
        b.add(userdata::gzip_path(&n.name), ud.gzip, MODE_SECRET)?;
    }
    // While every core hashes the bundle, one more builds the index, hashes it and frees the working
    // data of the render (the index is its last reader).
    let (index, mut digests) = std::thread::scope(|s| {
        let index = s.spawn(move || {
            let json = index::build(t, &pki, &kcs, &node_files, &sizes, &tokens, &manifests);
            drop((pki, kcs, node_files, shared, install));
            json.map(|json| {
                let digest: [u8; 32] = sha2::Sha256::digest(&json).into();
                (json, digest)
            })
        });
        let digests = b.digests();
        (index.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), digests)
    });
    let (index_json, index_digest) = index?;
    let readme = readme(t)?.into_bytes();
    digests.push(("index.json".into(), index_digest));
    digests.push(("README.md".into(), sha2::Sha256::digest(&readme).into()));
    b.add("index.json", index_json, MODE_PUBLIC)?;
    b.add("README.md", readme, MODE_PUBLIC)?;
    digests.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    b.add("SHA256SUMS", bundle::sums_listing(&digests), MODE_PUBLIC)?;
    Ok(b)
}

/// Renders with stand-in keys (no secret needed; RSA without the cost of key generation) to learn what
/// the sizes of a real render will be: `Err(Error::Limit)` names every node whose user-data would be
/// over the budget. The stand-ins' sizes match real keys' to within a few bytes.
pub fn predict_sizes(t: &Topology) -> Result<()> {
    let opts = Options { redact: false, keys: pki::keys::KeyMode::StandIn };
    render_with(t, &Secrets::from_seed([0; 32]), opts).map(drop).map_err(|e| match e {
        Error::Limit(m) => Error::Limit(format!("predicted from the sizes of keys and certificates: {m}")),
        other => other,
    })
}

/// The fuzz target's body: parse, validate and, for small ECDSA topologies, render `bytes` with a fixed
/// seed, discarding the result. Any panic here is a bug (fuzz/ and the corpus replay test check that).
#[doc(hidden)]
pub fn fuzz_one(bytes: &[u8]) {
    if let Ok(c) = topology::load("fuzz.yaml", bytes) {
        let t = &c.topology;
        if t.nodes.len() <= 16 && t.key_algorithm == topology::KeyAlgorithm::EcdsaP256 {
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
        1 => topology::MAX_VALIDITY_DAYS - b(i + 1) % 4 + 2,
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
    fuzz_one(yaml.as_bytes());
}

fn readme(t: &Topology) -> Result<String> {
    #[derive(serde::Serialize)]
    struct Row {
        name: &'static str,
        issuer: &'static str,
        subject: String,
        usages: String,
        purpose: &'static str,
    }
    let mut rows: Vec<Row> = Vec::new();
    for p in pki::profiles::PROFILES {
        let subject = match p.subject {
            pki::profiles::Subject::Fixed(s) => format!("CN={s}"),
            pki::profiles::Subject::NodeName => "CN=<node>".into(),
            pki::profiles::Subject::NodePrefixed(pre) => format!("CN={pre}<node>"),
        };
        let subject = match p.org {
            Some(o) => format!("{subject},O={o}"),
            None => subject,
        };
        let usages = if p.is_ca() {
            "CA (pathlen 0)".into()
        } else {
            p.usages.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", ")
        };
        let issuer = match p.issuer {
            pki::profiles::Issuer::SelfSigned => "self-signed",
            pki::profiles::Issuer::Ca(c) => c,
        };
        rows.push(Row { name: p.name, issuer, subject: subject.replace('|', "\\|"), usages, purpose: p.purpose });
    }
    templates::render(
        "bundle-README.md.j2",
        minijinja::context! {
            cluster => t.name,
            version => t.version.to_string(),
            provider => t.provider.as_str(),
            certs => rows,
            not_before => index::rfc3339(t.not_before)?,
            ca_days => t.ca_validity_days,
            cert_days => t.cert_validity_days,
            key_algorithm => t.key_algorithm.as_str(),
        },
    )
}
