//! Placement: which bundle file each node gets at which path with which mode, resolved from the
//! node-file table for one node.

use crate::bundle::Bundle;
use crate::catalog::node_files::{NodeFile, Source, Source::*, When, NODE_DIRS, NODE_FILES};
use crate::catalog::{certs, paths};
use crate::error::{Error, Result};
use crate::model::{Node, Runtime, SecretDelivery, SecretsSource, Topology};
use crate::render::kubeconfig::Kubeconfig;
use crate::render::pki::Pki;
use std::collections::BTreeMap;

pub use crate::bundle::index::{Placed, PlacedDir};

/// A mode as index.json writes it ("0600").
pub fn mode_string(mode: u32) -> String {
    format!("{mode:04o}")
}

fn node_arg(per_node: bool, node: &Node) -> Option<&str> {
    per_node.then_some(node.name.as_str())
}

/// Kubeconfigs by (profile, node), so finding a node's kubeconfig is no scan of every worker's.
pub struct KubeconfigIndex<'a> {
    kcs: &'a [Kubeconfig],
    first: BTreeMap<(&'a str, Option<&'a str>), usize>,
}

impl<'a> KubeconfigIndex<'a> {
    /// Indexes `kcs`.
    pub fn new(kcs: &'a [Kubeconfig]) -> KubeconfigIndex<'a> {
        let mut first = BTreeMap::new();
        for (i, k) in kcs.iter().enumerate() {
            first.entry((k.profile.name, k.node.as_deref())).or_insert(i);
        }
        KubeconfigIndex { kcs, first }
    }

    /// The first kubeconfig of profile `name` that is `node`'s own or the cluster's.
    fn find(&self, name: &str, node: &str) -> Option<&'a Kubeconfig> {
        let own = self.first.get(&(name, Some(node)));
        let cluster = self.first.get(&(name, None));
        own.into_iter().chain(cluster).min().and_then(|&i| self.kcs.get(i))
    }
}

/// The bundle path of a table entry for `node`.
fn resolve(t: &Topology, source: Source, node: &Node, pki: &Pki, kcs: &KubeconfigIndex) -> Result<String> {
    let cert_node = |name: &str| -> Result<Option<&str>> {
        let p = certs::find(name).ok_or_else(|| Error::internal(name, "no such certificate profile"))?;
        Ok(node_arg(p.scope.is_per_node(), node))
    };
    Ok(match source {
        Cert(name) => match certs::find(name) {
            // A CA is trusted through its trust bundle (every trusted generation).
            Some(p) if p.is_ca() => paths::trust_bundle(p, pki.trusted()),
            _ => pki.get(name, cert_node(name)?)?.paths().0,
        },
        Key(name) => pki.get(name, cert_node(name)?)?.paths().1,
        SigningCert(name) => {
            let p = certs::find(name).ok_or_else(|| Error::internal(name, "no such certificate profile"))?;
            paths::cert_paths(p, None, t.signing_ca).0
        }
        Kubeconfig(name) => {
            let kc = kcs.find(name, &node.name).ok_or_else(|| Error::internal(name, "kubeconfig not rendered"))?;
            kc.path.clone()
        }
        SaKey => paths::sa_paths(t.sa_signing).0,
        SaPub => paths::sa_trust_bundle(&t.sa_trusted),
        Encryption => paths::ENCRYPTION_CONFIG.into(),
        Shared(path) => path.into(),
        BootstrapKubeconfig => crate::render::bootstrap::kubeconfig_path(t, node),
        Own(rel) => paths::node_path(&node.name, rel),
    })
}

/// Every file `node` needs, sorted by path on the node, each path once; the mode is the one the
/// bundle gives the source file.
fn holds(t: &Topology, node: &Node, when: When) -> bool {
    match when {
        When::Always => true,
        When::RuntimeTarballs => t.binaries.runtime == Runtime::Tarballs,
        When::KubeletCertificates => node.has_kubelet_certs(),
        When::KubeletBootstrap => node.bootstraps(),
        When::RoutesPods => crate::render::host::routes_pods(t, node),
        When::SecretsArchive => t.archives_secrets(),
        When::SecretsHttps => matches!(t.secrets, SecretDelivery::Archive(SecretsSource::Https { .. })),
    }
}

/// The directories `node` needs, parents first, with their modes (those holding keys 0700).
pub fn dirs_for(t: &Topology, node: &Node) -> Vec<PlacedDir> {
    NODE_DIRS
        .iter()
        .filter(|d| d.roles.iter().any(|r| node.has(*r)) && holds(t, node, d.when))
        .map(|d| PlacedDir { path: d.path.to_string(), mode: mode_string(d.mode) })
        .collect()
}

/// The files of `node` (`late`: only those rendered after the others are placed; else all but those).
pub fn files_for(
    t: &Topology,
    node: &Node,
    pki: &Pki,
    kcs: &KubeconfigIndex,
    bundle: &Bundle,
    late: bool,
) -> Result<Vec<Placed>> {
    let mut out: Vec<Placed> = Vec::new();
    let applies =
        |f: &NodeFile| f.role.is_none_or(|r| node.has(r)) && holds(t, node, f.when) && f.source.is_late() == late;
    for f in NODE_FILES.iter().filter(|f| applies(f)) {
        if out.iter().any(|p| p.path == f.path) {
            continue; // e.g. etcd/ca.crt on a stacked controlplane+etcd node
        }
        let source = resolve(t, f.source, node, pki, kcs)?;
        let mode = bundle
            .get(&source)
            .ok_or_else(|| Error::internal(&node.name, format!("{source} is not in the bundle")))?
            .mode;
        out.push(Placed { path: f.path.to_string(), source, mode: mode_string(mode) });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}
