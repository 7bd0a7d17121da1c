//! The render pipeline, pure: a validated topology and the seed in, a `Bundle` out. Nothing here
//! reads the clock, the environment, the file system, OS randomness or the machine (clippy's
//! disallowed-methods enforces it); work runs on a thread pool of the size `Options` says, and the
//! bytes never depend on that size.

pub mod addons;
pub mod archive;
pub mod bootstrap;
pub mod encryption;
pub mod host;
pub mod index;
pub mod install;
pub mod keys;
pub mod kubeconfig;
pub mod pki;
pub mod placement;
pub mod readme;
pub mod record;
pub mod redact;
pub mod seed;
pub mod units;
pub mod userdata;

use crate::bundle::{Bundle, MODE_EXEC, MODE_PUBLIC, MODE_SECRET};
use crate::catalog::certs::PROFILES;
use crate::catalog::paths;
use crate::error::{Error, Result};
use crate::model::{SecretDelivery, SecretsSource, Topology};
use rayon::prelude::*;
use record::NodeRecord;
use seed::Secrets;

/// How to render.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Replace every secret (private keys, encryption keys, bootstrap tokens, and the same material in
    /// kubeconfigs and user-data) with a placeholder naming it and fingerprinting its value.
    pub redact: bool,
    /// Real keys from the seed, or stand-ins of the same sizes (to predict sizes; see `predict_sizes`).
    pub keys: keys::KeyMode,
    /// Threads to render on (speed only: the bytes are the same for any count).
    pub threads: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options { redact: false, keys: keys::KeyMode::Derived, threads: 1 }
    }
}

/// Renders the whole bundle on one thread. The same topology and secrets give the same bytes on
/// every machine.
pub fn render(t: &Topology, secrets: &Secrets) -> Result<Bundle> {
    render_with(t, secrets, Options::default())
}

/// `render` with options (threads, a redacted bundle safe to commit, stand-in keys).
pub fn render_with(t: &Topology, secrets: &Secrets, opts: Options) -> Result<Bundle> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| Error::internal("thread pool", e))?;
    pool.install(|| {
        // A redacted render's user-data pins the digests of the real archives (so it is the real
        // render's user-data, byte for byte): those come from a render of the real secrets.
        let pinned = match (&t.secrets, opts.redact) {
            (SecretDelivery::Archive(_), true) => {
                let real = pipeline(t, secrets, Options { redact: false, ..opts }, None)?;
                let digests: Vec<String> = t
                    .nodes
                    .iter()
                    .map(|n| real.get(&paths::secrets_archive(&n.name)).map(|e| crate::bundle::sha256_hex(&e.bytes)))
                    .collect::<Option<_>>()
                    .ok_or_else(|| Error::internal("secrets archive", "missing in the real render"))?;
                Some(digests)
            }
            _ => None,
        };
        pipeline(t, secrets, opts, pinned.as_deref())
    })
}

/// Renders with stand-in keys (no secret needed; RSA without the cost of key generation) to learn what
/// the sizes of a real render will be: `Err(Error::OverBudget)` names every node whose user-data would be
/// over the budget; `Ok` the nodes whose user-data fits only at the stronger gzip level. The stand-ins'
/// sizes match real keys' to within a few bytes.
pub fn predict_sizes(t: &Topology, threads: usize) -> Result<Vec<String>> {
    let opts = Options { keys: keys::KeyMode::StandIn, threads, ..Options::default() };
    let b = render_with(t, &Secrets::from_seed([0; 32]), opts).map_err(|e| match e {
        Error::OverBudget { file, budget, nodes, ways, .. } => {
            Error::OverBudget { file, budget, nodes, ways, predicted: true }
        }
        other => other,
    })?;
    let index = b
        .get(paths::INDEX)
        .map(|e| crate::bundle::index::Index::parse(&e.bytes))
        .transpose()
        .map_err(|e| Error::internal("index.json", e))?;
    Ok(index
        .map(|i| {
            i.nodes
                .into_iter()
                .filter(|n| n.user_data_gzip_level == userdata::LEVEL_OVER_BUDGET)
                .map(|n| n.name)
                .collect()
        })
        .unwrap_or_default())
}

/// The render; `pinned`: per node, the archive digest its fetch script pins (the real archives' in a
/// redacted render), else the archives' own.
fn pipeline(t: &Topology, secrets: &Secrets, opts: Options, pinned: Option<&[String]>) -> Result<Bundle> {
    let pki = pki::issue_all(t, secrets, opts.redact, opts.keys)?;
    let mut tokens = bootstrap::tokens(t, secrets)?;
    if opts.redact {
        for k in &mut tokens {
            k.secret = redact::placeholder(&format!("bootstrap token secret {}", k.id), k.secret.as_bytes());
        }
    }
    let mut kcs = kubeconfig::build_all(t, &pki)?;
    kcs.extend(bootstrap::kubeconfigs(t, &tokens)?);

    let mut b = Bundle::new();
    for c in &pki.certs {
        let (cert, key) = c.paths();
        b.add(cert, c.cert_pem.as_str(), MODE_PUBLIC)?;
        b.add(key, c.key_pem.as_str(), MODE_SECRET)?;
    }
    // Trust bundles once more than CA generation 1 is trusted (see paths::trust_bundle).
    if pki.trusted() != [1] {
        for p in PROFILES.iter().filter(|p| p.is_ca()) {
            b.add(paths::trust_bundle(p, pki.trusted()), pki.trust_pem(p.name), MODE_PUBLIC)?;
        }
    }
    for k in &pki.sa_keys {
        let (private, public) = paths::sa_paths(k.generation);
        b.add(public, k.public_pem.as_str(), MODE_PUBLIC)?;
        if let Some(pem) = &k.private_pem {
            b.add(private, pem.as_str(), MODE_SECRET)?;
        }
    }
    if t.sa_trusted != [1] {
        b.add(paths::sa_trust_bundle(&t.sa_trusted), pki.sa_trust_pem(), MODE_PUBLIC)?;
    }
    for k in &kcs {
        b.add(k.path.as_str(), k.text.as_str(), MODE_SECRET)?;
    }
    b.add(paths::ENCRYPTION_CONFIG, encryption::render(t, secrets, opts.redact)?, MODE_SECRET)?;
    let manifests = addons::add(t, &pki, &tokens, &mut b)?;
    host::add_shared(t, &mut b)?;
    units::add_shared(t, &mut b)?;

    // Each node's record (directories, downloads, units, packages), its own files, then which files
    // it gets, then its user-data: per node, on every thread of the pool, collected in node order.
    let mut records: Vec<NodeRecord<'_>> = t.nodes.par_iter().map(|n| NodeRecord::new(t, n)).collect();
    let own = records
        .par_iter()
        .map(|r| {
            let mut nb = Bundle::new();
            units::add_node(t, r.node, &mut nb)?;
            host::add_node(t, r.node, &mut nb)?;
            install::add_install_script(t, r.node, r.planned(), &mut nb)?;
            Ok(nb)
        })
        .collect::<Result<Vec<Bundle>>>()?;
    for nb in own {
        b.merge(nb)?;
    }
    if let SecretDelivery::Archive(SecretsSource::Https { ca_pem, .. }) = &t.secrets {
        b.add(paths::SECRETS_CA, ca_pem.as_str(), MODE_PUBLIC)?;
    }
    let kc_index = placement::KubeconfigIndex::new(&kcs);
    let files = records
        .par_iter()
        .map(|r| placement::files_for(t, r.node, &pki, &kc_index, &b, false))
        .collect::<Result<Vec<_>>>()?;
    for (r, files) in records.iter_mut().zip(files) {
        r.files = files;
    }
    if let SecretDelivery::Archive(source) = &t.secrets {
        let ca_file =
            crate::catalog::node_files::path_of(crate::catalog::node_files::Source::Shared(paths::SECRETS_CA))
                .unwrap_or_default();
        let built = records.par_iter().map(|r| archive::build(t, r.node, &r.files, &b)).collect::<Result<Vec<_>>>()?;
        for (i, (r, a)) in records.iter_mut().zip(built).enumerate() {
            let digest = pinned.and_then(|p| p.get(i)).unwrap_or(&a.entry.sha256);
            let script = archive::fetch_script(t, r.node, source, digest, ca_file)?;
            b.add(paths::node_path(&r.node.name, paths::FETCH_SECRETS), script, MODE_EXEC)?;
            b.add(a.entry.path.clone(), a.bytes, MODE_SECRET)?;
            r.archive = Some(a.entry);
        }
        for r in records.iter_mut() {
            r.files.extend(placement::files_for(t, r.node, &pki, &kc_index, &b, true)?);
            r.files.sort_by(|a, b| a.path.cmp(&b.path));
        }
    }
    let user_data = records.par_iter().map(|r| userdata::render(t, r, &b)).collect::<Result<Vec<_>>>()?;
    for (r, ud) in records.iter_mut().zip(&user_data) {
        r.user_data = (ud.plain.len(), ud.gzip.len(), ud.level);
    }
    if let Some(e) = userdata::over_budget(t, &records, &b) {
        return Err(e);
    }
    for (n, ud) in t.nodes.iter().zip(user_data) {
        b.add(paths::user_data_plain(&n.name), ud.plain, MODE_SECRET)?;
        b.add(paths::user_data_gzip(&n.name), ud.gzip, MODE_SECRET)?;
    }
    let records = index::Records {
        pki: &pki,
        kcs: &kcs,
        nodes: records,
        tokens: &tokens,
        manifests: &manifests,
        redacted: opts.redact,
    };
    b.add(paths::INDEX, index::build(t, records)?, MODE_PUBLIC)?;
    b.add(paths::README, readme::render(t)?, MODE_PUBLIC)?;
    let sums = b.sha256sums();
    b.add(paths::SUMS, sums, MODE_PUBLIC)?;
    Ok(b)
}
