//! Builds `index.json` (the types of `bundle::index`, which readers parse back) from the render's own
//! records.

use super::bootstrap::Token;
use super::kubeconfig::Kubeconfig;
use super::pki::Pki;
use super::record::NodeRecord;
use crate::bundle::index::*;
use crate::catalog::paths;
use crate::error::{Error, Result};
use crate::fmt::rfc3339;
use crate::model::{BinarySource, KubeletCredentials, Role, Topology};

/// What the render made that index.json describes.
pub struct Records<'a> {
    /// Every certificate.
    pub pki: &'a Pki,
    /// Every kubeconfig.
    pub kcs: &'a [Kubeconfig],
    /// Per node, in topology order, its record (moved into the index).
    pub nodes: Vec<NodeRecord<'a>>,
    /// The bootstrap tokens.
    pub tokens: &'a [Token],
    /// Manifest paths in apply order.
    pub manifests: &'a [String],
    /// A redacted render.
    pub redacted: bool,
}

fn node_entry(r: NodeRecord<'_>) -> NodeEntry {
    let n = r.node;
    let (plain, gzip, level) = r.user_data;
    NodeEntry {
        secrets_archive: r.archive,
        name: n.name.to_string(),
        roles: n.roles.iter().map(|r| r.as_str().to_string()).collect(),
        internal_ip: n.internal_ip.to_string(),
        external_ip: n.external_ip.map(|i| i.to_string()),
        pod_cidr: n.pod_cidr.map(|c| c.to_string()),
        arch: n.arch.as_str().into(),
        binaries: match n.binaries {
            BinarySource::Download => "download",
            BinarySource::Preinstalled => "preinstalled",
        }
        .into(),
        files: r.files,
        directories: r.dirs,
        user_data: paths::user_data_plain(&n.name),
        user_data_bytes: plain,
        user_data_gzip: paths::user_data_gzip(&n.name),
        user_data_gzip_bytes: gzip,
        user_data_gzip_level: level,
        units: r.units.into_iter().map(String::from).collect(),
        downloads: r
            .downloads
            .into_iter()
            .map(|d| DownloadEntry {
                component: d.component.into(),
                version: d.version,
                sha256_source: if d.sha256.is_empty() { d.sums_url } else { "topology".into() },
                sha256: (!d.sha256.is_empty()).then_some(d.sha256),
                url: d.url,
            })
            .collect(),
        kubelet_credentials: n.has(Role::Worker).then(|| {
            match n.kubelet_credentials {
                KubeletCredentials::Certificates => "certificates",
                KubeletCredentials::Bootstrap => "bootstrap",
            }
            .to_string()
        }),
    }
}

fn pki_state(t: &Topology) -> Result<PkiState> {
    Ok(PkiState {
        signing_ca: t.signing_ca,
        trusted_cas: t.trusted_cas.clone(),
        ca_generations: t
            .trusted_cas
            .iter()
            .filter_map(|g| t.ca_validity(*g).map(|v| (*g, v)))
            .map(|(generation, (nb, na))| {
                Ok(Generation { generation, not_before: rfc3339(nb)?, not_after: rfc3339(na)? })
            })
            .collect::<Result<Vec<_>>>()?,
        leaf_not_before: rfc3339(t.leaf_validity().0)?,
        leaf_not_after: rfc3339(t.leaf_validity().1)?,
        leaf_key_generation: t.leaf_key_generation,
        service_account_keys: SaState { signing: t.sa_signing, trusted: t.sa_trusted.clone() },
    })
}

fn etcd(t: &Topology) -> Etcd {
    let members: Vec<String> = t.nodes_with(Role::Etcd).map(|n| n.name.to_string()).collect();
    let on_cp = t.nodes_with(Role::Etcd).filter(|n| n.has(Role::ControlPlane)).count();
    Etcd {
        quorum: members.len() / 2 + 1,
        failure_tolerance: members.len().saturating_sub(1) / 2,
        topology: match on_cp {
            0 => "external",
            n if n == members.len() => "stacked",
            _ => "mixed",
        }
        .into(),
        joining: t.nodes_with(Role::Etcd).filter(|n| n.joins_etcd()).map(|n| n.name.to_string()).collect(),
        members,
    }
}

/// index.json's bytes.
pub fn build(t: &Topology, r: Records<'_>) -> Result<Vec<u8>> {
    let Records { pki, kcs, nodes, tokens, manifests, redacted } = r;
    let mut certificates = Vec::with_capacity(pki.certs.len());
    for c in &pki.certs {
        let (cert, key) = c.paths();
        certificates.push(CertEntry {
            name: c.profile.name.into(),
            node: c.node.clone(),
            cert,
            key,
            issuer: c.issuer_name().into(),
            subject: c.subject.clone(),
            sans: c.sans.iter().map(|s| s.render()).collect(),
            usages: c.key_usages.iter().chain(&c.ext_usages).map(|u| u.to_string()).collect(),
            key_algorithm: c.key_algorithm.into(),
            not_before: rfc3339(c.not_before)?,
            not_after: rfc3339(c.not_after)?,
            generation: c.generation,
        });
    }
    let v = &t.binaries.versions;
    let idx = Index {
        index_version: INDEX_VERSION,
        cluster: t.name.to_string(),
        kubernetes_version: t.version.to_string(),
        api_server: ApiServer {
            endpoint: t.endpoint.as_string(),
            port: t.port,
            url: t.endpoint_url(),
            targets: super::host::api_targets(t)
                .into_iter()
                .map(|(node, address)| Target { node, address, port: t.port })
                .collect(),
            health_check: HealthCheck { protocol: "HTTPS".into(), path: "/readyz".into(), port: t.port },
            load_balancers: t.nodes_with(Role::LoadBalancer).map(|n| n.name.to_string()).collect(),
        },
        network: Network {
            service_cidr: t.service_cidr.to_string(),
            pod_cidr: t.pod_cidr.to_string(),
            dns_domain: t.dns_domain.clone(),
            kubernetes_service_ip: t.kubernetes_service_ip().map(|i| i.to_string()),
            cluster_dns: t.cluster_dns_ip().map(|i| i.to_string()),
        },
        nodes: nodes.into_iter().map(node_entry).collect(),
        certificates,
        kubeconfigs: kcs
            .iter()
            .map(|k| KubeconfigEntry {
                name: k.profile.name.into(),
                node: k.node.clone(),
                path: k.path.clone(),
                user: k.user.clone(),
                groups: k.groups.clone(),
                server: k.server.clone(),
            })
            .collect(),
        encryption: Encryption {
            provider: t.provider.as_str().into(),
            keys: t.encryption_keys.iter().map(|k| k.name.clone()).collect(),
            path: paths::ENCRYPTION_CONFIG.into(),
            // Per key, only when some key has a provider of its own.
            providers: if t.encryption_keys.iter().all(|k| k.provider == t.provider) {
                Vec::new()
            } else {
                t.encryption_keys.iter().map(|k| k.provider.as_str().to_string()).collect()
            },
        },
        etcd: etcd(t),
        routes: super::host::routes(t),
        manifests: manifests.to_vec(),
        bootstrap_tokens: tokens
            .iter()
            .map(|k| {
                Ok(TokenEntry {
                    id: k.id.clone(),
                    node: k.node.clone(),
                    kubeconfig: k.kubeconfig_path(),
                    expiration: rfc3339(t.bootstrap_tokens_expire)?,
                })
            })
            .collect::<Result<Vec<_>>>()?,
        node_health: NodeHealth {
            command: format!(
                "cloud-init status --wait >/dev/null; cat {s}; test \"$(cat {s})\" = ok",
                s = paths::NODE_STATUS
            ),
            status_file: paths::NODE_STATUS.into(),
        },
        pki: pki_state(t)?,
        versions: Versions {
            etcd: v.etcd.clone(),
            containerd: v.containerd.clone(),
            runc: v.runc.clone(),
            cni_plugins: v.cni_plugins.clone(),
            crictl: v.crictl.clone(),
            sandbox_image: t.images.sandbox.clone(),
            coredns_image: t.images.coredns.clone(),
        },
        redacted,
    };
    idx.to_json().map_err(|e| Error::internal("index.json", e))
}
