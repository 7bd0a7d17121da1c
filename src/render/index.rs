//! `index.json`: the machine-readable contract other tools read (nodes and their files, certificates,
//! kubeconfigs), built from the render's own records.

use super::bootstrap::Token;
use super::kubeconfig::Kubeconfig;
use super::pki::Pki;
use super::placement::Placed;
use crate::catalog::paths;
use crate::error::{Error, Result};
use crate::fmt::rfc3339;
use crate::model::{BinarySource, Role, Topology};
use serde::Serialize;

/// Bumped when a field changes meaning or disappears.
pub const INDEX_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Index<'a> {
    index_version: u32,
    cluster: &'a str,
    kubernetes_version: String,
    api_server: ApiServer,
    network: Network,
    nodes: Vec<NodeEntry<'a>>,
    certificates: Vec<CertEntry<'a>>,
    kubeconfigs: Vec<KubeconfigEntry<'a>>,
    encryption: Encryption<'a>,
    etcd: Etcd,
    routes: Vec<super::host::Route>,
    manifests: &'a [String],
    bootstrap_tokens: Vec<TokenEntry<'a>>,
    node_health: NodeHealth,
    pki: PkiState,
    /// Secrets replaced by placeholders (`render --redact`): only comparable with another redacted bundle.
    redacted: bool,
}

/// Which CA and service-account key generations sign and are trusted; when each CA generation is valid.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PkiState {
    #[serde(rename = "signingCA")]
    signing_ca: u32,
    #[serde(rename = "trustedCAs")]
    trusted_cas: Vec<u32>,
    ca_generations: Vec<Generation>,
    leaf_not_before: String,
    leaf_not_after: String,
    leaf_key_generation: u32,
    service_account_keys: SaState,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Generation {
    generation: u32,
    not_before: String,
    not_after: String,
}

#[derive(Serialize)]
struct SaState {
    signing: u32,
    trusted: Vec<u32>,
}

/// How to tell, on a node, whether its preparation succeeded.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct NodeHealth {
    /// Prints "ok" or "failed: STEP" once cloud-init is done; exits non-zero unless ok.
    command: String,
    /// Written by install.sh: "running: STEP", "ok" or "failed: STEP".
    status_file: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Etcd {
    members: Vec<String>,
    quorum: usize,
    failure_tolerance: usize,
    topology: &'static str,
    /// Members joining a running cluster (`etcdInitialClusterState: existing`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    joining: Vec<String>,
}

#[derive(Serialize)]
struct TokenEntry<'a> {
    id: &'a str,
    node: Option<&'a str>,
    kubeconfig: String,
    expiration: String,
}

#[derive(Serialize)]
struct Target {
    node: String,
    address: String,
    port: u16,
}

#[derive(Serialize)]
struct HealthCheck {
    protocol: &'static str,
    path: &'static str,
    port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ApiServer {
    endpoint: String,
    port: u16,
    url: String,
    /// What a load balancer in front of the apiservers must do: forward TCP to these targets...
    targets: Vec<Target>,
    /// ...and consider one healthy when this answers 200.
    health_check: HealthCheck,
    /// Nodes with the loadbalancer role (HAProxy), if any.
    load_balancers: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Network {
    #[serde(rename = "serviceCIDR")]
    service_cidr: String,
    #[serde(rename = "podCIDR")]
    pod_cidr: String,
    dns_domain: String,
    #[serde(rename = "kubernetesServiceIP")]
    kubernetes_service_ip: Option<String>,
    #[serde(rename = "clusterDNS")]
    cluster_dns: Option<String>,
}

#[derive(Serialize)]
struct NodeEntry<'a> {
    name: &'a str,
    roles: Vec<&'static str>,
    #[serde(rename = "internalIP")]
    internal_ip: String,
    #[serde(rename = "externalIP")]
    external_ip: Option<String>,
    #[serde(rename = "podCIDR")]
    pod_cidr: Option<String>,
    arch: &'static str,
    binaries: &'static str,
    files: &'a [Placed],
    directories: Vec<super::placement::PlacedDir>,
    #[serde(rename = "userData")]
    user_data: String,
    #[serde(rename = "userDataBytes")]
    user_data_bytes: usize,
    #[serde(rename = "userDataGzip")]
    user_data_gzip: String,
    #[serde(rename = "userDataGzipBytes")]
    user_data_gzip_bytes: usize,
    units: Vec<&'static str>,
    downloads: Vec<DownloadEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DownloadEntry {
    component: &'static str,
    version: String,
    url: String,
    /// Where the expected sha256 comes from: "topology" (pinned) or the URL of the published checksum.
    sha256_source: String,
    sha256: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CertEntry<'a> {
    name: &'static str,
    node: Option<&'a str>,
    cert: String,
    key: String,
    issuer: &'static str,
    subject: &'a str,
    sans: Vec<String>,
    usages: Vec<&'static str>,
    key_algorithm: &'static str,
    not_before: String,
    not_after: String,
    /// A CA's own generation; a leaf's is the CA generation that signed it.
    generation: u32,
}

#[derive(Serialize)]
struct KubeconfigEntry<'a> {
    name: &'static str,
    node: Option<&'a str>,
    path: &'a str,
    user: &'a str,
    groups: &'a [String],
    server: &'a str,
}

#[derive(Serialize)]
struct Encryption<'a> {
    provider: &'static str,
    keys: &'a [String],
    path: &'static str,
}

/// What the render made that index.json describes.
pub struct Records<'a> {
    pub pki: &'a Pki,
    pub kcs: &'a [Kubeconfig],
    pub node_files: &'a [Vec<Placed>],
    /// Per node: (plain, gzip) user-data bytes.
    pub user_data_sizes: &'a [(usize, usize)],
    pub tokens: &'a [Token],
    pub manifests: &'a [String],
    pub redacted: bool,
}

pub fn build(t: &Topology, r: &Records<'_>) -> Result<Vec<u8>> {
    let Records { pki, kcs, node_files, user_data_sizes, tokens, manifests, redacted } = *r;
    let nodes = t
        .nodes
        .iter()
        .zip(node_files)
        .zip(user_data_sizes)
        .map(|((n, files), (plain, gz))| NodeEntry {
            name: &n.name,
            roles: n.roles.iter().map(|r| r.as_str()).collect(),
            internal_ip: n.internal_ip.to_string(),
            external_ip: n.external_ip.map(|i| i.to_string()),
            pod_cidr: n.pod_cidr.map(|c| c.to_string()),
            arch: n.arch.as_str(),
            binaries: match n.binaries {
                BinarySource::Download => "download",
                BinarySource::Preinstalled => "preinstalled",
            },
            files,
            directories: super::placement::dirs_for(t, n),
            user_data: paths::user_data_plain(&n.name),
            user_data_bytes: *plain,
            user_data_gzip: paths::user_data_gzip(&n.name),
            user_data_gzip_bytes: *gz,
            units: super::units::node_units(t, n),
            downloads: super::install::downloads(t, n)
                .into_iter()
                .map(|d| DownloadEntry {
                    component: d.component,
                    version: d.version,
                    sha256_source: if d.sha256.is_empty() { d.sums_url } else { "topology".into() },
                    sha256: (!d.sha256.is_empty()).then_some(d.sha256),
                    url: d.url,
                })
                .collect(),
        })
        .collect();
    let mut certificates = Vec::with_capacity(pki.certs.len());
    for c in &pki.certs {
        let (cert, key) = c.paths();
        certificates.push(CertEntry {
            name: c.profile.name,
            node: c.node.as_deref(),
            cert,
            key,
            issuer: c.issuer_name(),
            subject: &c.subject,
            sans: c.sans.iter().map(|s| s.render()).collect(),
            usages: c.key_usages.iter().chain(&c.ext_usages).copied().collect(),
            key_algorithm: c.key_algorithm,
            not_before: rfc3339(c.not_before)?,
            not_after: rfc3339(c.not_after)?,
            generation: c.generation,
        });
    }
    let kubeconfigs = kcs
        .iter()
        .map(|k| KubeconfigEntry {
            name: k.profile.name,
            node: k.node.as_deref(),
            path: &k.path,
            user: &k.user,
            groups: &k.groups,
            server: &k.server,
        })
        .collect();
    let idx = Index {
        index_version: INDEX_VERSION,
        cluster: &t.name,
        kubernetes_version: t.version.to_string(),
        api_server: ApiServer {
            endpoint: t.endpoint.as_string(),
            port: t.port,
            url: t.endpoint_url(),
            targets: super::host::api_targets(t)
                .into_iter()
                .map(|(node, address)| Target { node, address, port: t.port })
                .collect(),
            health_check: HealthCheck { protocol: "HTTPS", path: "/readyz", port: t.port },
            load_balancers: t.nodes_with(Role::LoadBalancer).map(|n| n.name.to_string()).collect(),
        },
        network: Network {
            service_cidr: t.service_cidr.to_string(),
            pod_cidr: t.pod_cidr.to_string(),
            dns_domain: t.dns_domain.clone(),
            kubernetes_service_ip: t.kubernetes_service_ip().map(|i| i.to_string()),
            cluster_dns: t.cluster_dns_ip().map(|i| i.to_string()),
        },
        nodes,
        certificates,
        kubeconfigs,
        encryption: Encryption {
            provider: t.provider.as_str(),
            keys: &t.encryption_keys,
            path: paths::ENCRYPTION_CONFIG,
        },
        etcd: {
            let members: Vec<String> = t.nodes_with(Role::Etcd).map(|n| n.name.to_string()).collect();
            let on_cp = t.nodes_with(Role::Etcd).filter(|n| n.has(Role::ControlPlane)).count();
            Etcd {
                quorum: members.len() / 2 + 1,
                failure_tolerance: members.len().saturating_sub(1) / 2,
                topology: match on_cp {
                    0 => "external",
                    n if n == members.len() => "stacked",
                    _ => "mixed",
                },
                joining: t.nodes_with(Role::Etcd).filter(|n| n.joins_etcd()).map(|n| n.name.to_string()).collect(),
                members,
            }
        },
        routes: super::host::routes(t),
        manifests,
        bootstrap_tokens: tokens
            .iter()
            .map(|k| {
                Ok(TokenEntry {
                    id: &k.id,
                    node: k.node.as_deref(),
                    kubeconfig: k.kubeconfig_path(),
                    expiration: rfc3339(t.bootstrap_tokens_expire)?,
                })
            })
            .collect::<Result<Vec<_>>>()?,
        pki: PkiState {
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
        },
        redacted,
        node_health: NodeHealth {
            command: format!(
                "cloud-init status --wait >/dev/null; cat {s}; test \"$(cat {s})\" = ok",
                s = paths::NODE_STATUS
            ),
            status_file: paths::NODE_STATUS,
        },
    };
    let mut json = serde_json::to_vec_pretty(&idx).map_err(|e| Error::internal("index.json", e))?;
    json.push(b'\n');
    Ok(json)
}
