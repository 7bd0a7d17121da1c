//! `index.json`: the machine-readable contract other tools read (nodes and their files, certificates,
//! kubeconfigs), built from the render's own records.

use crate::error::{Error, Result};
use crate::kubeconfig::Kubeconfig;
use crate::nodes::Placed;
use crate::pki::Pki;
use crate::topology::Topology;
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
    routes: Vec<crate::nodeconf::Route>,
    manifests: &'a [String],
    bootstrap_tokens: Vec<TokenEntry<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Etcd {
    members: Vec<String>,
    quorum: usize,
    failure_tolerance: usize,
    topology: &'static str,
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

pub fn rfc3339(t: time::OffsetDateTime) -> Result<String> {
    t.format(&time::format_description::well_known::Rfc3339).map_err(|e| Error::internal("time format", e))
}

pub fn build(
    t: &Topology,
    pki: &Pki,
    kcs: &[Kubeconfig],
    node_files: &[Vec<Placed>],
    user_data_sizes: &[(usize, usize)],
    tokens: &[crate::bootstrap::Token],
    manifests: &[String],
) -> Result<Vec<u8>> {
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
                crate::topology::BinarySource::Download => "download",
                crate::topology::BinarySource::Preinstalled => "preinstalled",
            },
            files,
            user_data: crate::userdata::plain_path(&n.name),
            user_data_bytes: *plain,
            user_data_gzip: crate::userdata::gzip_path(&n.name),
            user_data_gzip_bytes: *gz,
            units: crate::nodeconf::units(t, n),
            downloads: crate::nodeconf::downloads(t, n)
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
            targets: crate::nodeconf::api_targets(t)
                .into_iter()
                .map(|(node, address)| Target { node, address, port: t.port })
                .collect(),
            health_check: HealthCheck { protocol: "HTTPS", path: "/readyz", port: t.port },
            load_balancers: t.nodes_with(crate::topology::Role::LoadBalancer).map(|n| n.name.clone()).collect(),
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
            path: crate::nodes::ENCRYPTION_CONFIG,
        },
        etcd: {
            let members: Vec<String> = t.nodes_with(crate::topology::Role::Etcd).map(|n| n.name.clone()).collect();
            let on_cp = t
                .nodes_with(crate::topology::Role::Etcd)
                .filter(|n| n.has(crate::topology::Role::ControlPlane))
                .count();
            Etcd {
                quorum: members.len() / 2 + 1,
                failure_tolerance: members.len().saturating_sub(1) / 2,
                topology: match on_cp {
                    0 => "external",
                    n if n == members.len() => "stacked",
                    _ => "mixed",
                },
                members,
            }
        },
        routes: crate::nodeconf::routes(t),
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
    };
    // Room for the whole text up front (about 7 KB per node at most, 0.5 KB per certificate and so on;
    // room not written to costs nothing): grown by doubling, the copies of a 5,000-worker index touch
    // twice its 33 MB.
    let room = 8192 * t.nodes.len() + 1024 * pki.certs.len() + 512 * kcs.len() + 65_536;
    let mut json = Vec::with_capacity(room);
    serde_json::to_writer_pretty(&mut json, &idx).map_err(|e| Error::internal("index.json", e))?;
    json.push(b'\n');
    Ok(json)
}
