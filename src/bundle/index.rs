//! `index.json`, the machine-readable contract of a bundle: one set of types that the render writes
//! and every reader (plan, inspect, cloudformation, io) reads back, and its JSON Schema.

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning or disappears.
pub const INDEX_VERSION: u32 = 1;

/// The whole index. Every field is required when read back: a file missing one is not a hardway index.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[schemars(title = "hardway bundle index (index.json)")]
pub struct Index {
    pub index_version: u32,
    pub cluster: String,
    pub kubernetes_version: String,
    pub api_server: ApiServer,
    pub network: Network,
    pub nodes: Vec<NodeEntry>,
    pub certificates: Vec<CertEntry>,
    pub kubeconfigs: Vec<KubeconfigEntry>,
    pub encryption: Encryption,
    pub etcd: Etcd,
    pub routes: Vec<Route>,
    /// Manifests in apply order (bundle paths).
    pub manifests: Vec<String>,
    pub bootstrap_tokens: Vec<TokenEntry>,
    pub node_health: NodeHealth,
    pub pki: PkiState,
    /// Versions of the components around Kubernetes (etcd, containerd, ...) and the images. (Fields
    /// added after indexVersion 1 was first written default when read, so newer hardway reads older
    /// bundles.)
    #[serde(default)]
    pub versions: Versions,
    /// Secrets replaced by placeholders (`render --redact`): only comparable with another redacted bundle.
    pub redacted: bool,
}

/// Which CA and service-account key generations sign and are trusted; when each CA generation is valid.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct PkiState {
    #[serde(rename = "signingCA")]
    pub signing_ca: u32,
    #[serde(rename = "trustedCAs")]
    pub trusted_cas: Vec<u32>,
    pub ca_generations: Vec<Generation>,
    pub leaf_not_before: String,
    pub leaf_not_after: String,
    pub leaf_key_generation: u32,
    pub service_account_keys: SaState,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    pub generation: u32,
    pub not_before: String,
    pub not_after: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct SaState {
    pub signing: u32,
    pub trusted: Vec<u32>,
}

/// How to tell, on a node, whether its preparation succeeded.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct NodeHealth {
    /// Prints "ok" or "failed: STEP" once cloud-init is done; exits non-zero unless ok.
    pub command: String,
    /// Written by install.sh: "running: STEP", "ok" or "failed: STEP".
    pub status_file: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Etcd {
    pub members: Vec<String>,
    pub quorum: usize,
    pub failure_tolerance: usize,
    /// "stacked", "external" or "mixed".
    pub topology: String,
    /// Members joining a running cluster (`etcdInitialClusterState: existing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joining: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct TokenEntry {
    pub id: String,
    pub node: Option<String>,
    pub kubeconfig: String,
    pub expiration: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Target {
    pub node: String,
    pub address: String,
    pub port: u16,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct HealthCheck {
    pub protocol: String,
    pub path: String,
    pub port: u16,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    pub endpoint: String,
    pub port: u16,
    pub url: String,
    /// What a load balancer in front of the apiservers must do: forward TCP to these targets...
    pub targets: Vec<Target>,
    /// ...and consider one healthy when this answers 200.
    pub health_check: HealthCheck,
    /// Nodes with the loadbalancer role (HAProxy), if any.
    pub load_balancers: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    pub dns_domain: String,
    #[serde(rename = "kubernetesServiceIP")]
    pub kubernetes_service_ip: Option<String>,
    #[serde(rename = "clusterDNS")]
    pub cluster_dns: Option<String>,
}

/// One file on one node.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Placed {
    /// Absolute path on the node.
    pub path: String,
    /// Path inside the bundle.
    pub source: String,
    /// Octal mode as a string, e.g. "0600".
    pub mode: String,
}

/// A directory on a node and its mode, e.g. "0700".
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct PlacedDir {
    pub path: String,
    pub mode: String,
}

/// A route to one worker's pod range.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Route {
    pub destination: String,
    pub node: String,
    pub via: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct NodeEntry {
    pub name: String,
    pub roles: Vec<String>,
    #[serde(rename = "internalIP")]
    pub internal_ip: String,
    #[serde(rename = "externalIP")]
    pub external_ip: Option<String>,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<String>,
    pub arch: String,
    /// "download" or "preinstalled".
    pub binaries: String,
    /// Every file the node gets, sorted by node path.
    pub files: Vec<Placed>,
    pub directories: Vec<PlacedDir>,
    #[serde(rename = "userData")]
    pub user_data: String,
    #[serde(rename = "userDataBytes")]
    pub user_data_bytes: usize,
    #[serde(rename = "userDataGzip")]
    pub user_data_gzip: String,
    #[serde(rename = "userDataGzipBytes")]
    pub user_data_gzip_bytes: usize,
    /// libdeflate level of the gzip copy: 9, or 12 where level 9 was over `userData.budgetBytes`.
    #[serde(rename = "userDataGzipLevel", default)]
    pub user_data_gzip_level: u8,
    /// The node's systemd units in the order install.sh enables and restarts them.
    pub units: Vec<String>,
    pub downloads: Vec<DownloadEntry>,
    /// `secrets.delivery: archive`: the node's secrets archive (its secret files are listed in `files`
    /// too, but reach the node through the archive, not the user-data).
    #[serde(rename = "secretsArchive", default, skip_serializing_if = "Option::is_none")]
    pub secrets_archive: Option<ArchiveEntry>,
    /// A worker's kubelet credentials: "certificates" or "bootstrap" (absent on other nodes).
    #[serde(rename = "kubeletCredentials", default, skip_serializing_if = "Option::is_none")]
    pub kubelet_credentials: Option<String>,
}

impl NodeEntry {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    pub fn runs(&self, unit: &str) -> bool {
        self.units.iter().any(|u| u.strip_suffix(".service") == Some(unit))
    }
    pub fn bootstraps(&self) -> bool {
        self.kubelet_credentials.as_deref() == Some("bootstrap")
    }
}

/// A node's secrets archive: where it is in the bundle, its digest and size, and what it holds (node
/// paths, modes, digests of the contents; never the contents).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct ArchiveEntry {
    pub path: String,
    pub sha256: String,
    pub size: usize,
    pub files: Vec<ArchiveFile>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct ArchiveFile {
    pub path: String,
    pub mode: String,
    pub sha256: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DownloadEntry {
    pub component: String,
    pub version: String,
    pub url: String,
    /// Where the expected sha256 comes from: "topology" (pinned) or the URL of the published checksum.
    pub sha256_source: String,
    pub sha256: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertEntry {
    pub name: String,
    pub node: Option<String>,
    pub cert: String,
    pub key: String,
    pub issuer: String,
    pub subject: String,
    pub sans: Vec<String>,
    pub usages: Vec<String>,
    pub key_algorithm: String,
    pub not_before: String,
    pub not_after: String,
    /// A CA's own generation; a leaf's is the CA generation that signed it.
    pub generation: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct KubeconfigEntry {
    pub name: String,
    pub node: Option<String>,
    pub path: String,
    pub user: String,
    pub groups: Vec<String>,
    pub server: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Encryption {
    /// The provider of `encryption.provider` (keys may name their own, see `providers`).
    pub provider: String,
    pub keys: Vec<String>,
    pub path: String,
    /// Per key, in order: its provider.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
}

impl Encryption {
    /// `provider/name` of each key, in order (the first encrypts).
    pub fn qualified_keys(&self) -> Vec<String> {
        self.keys
            .iter()
            .enumerate()
            .map(|(i, k)| format!("{}/{k}", self.providers.get(i).unwrap_or(&self.provider)))
            .collect()
    }
}

/// Versions of the components around Kubernetes and the images the cluster runs (empty when read from
/// a bundle of a hardway that did not record them).
#[derive(Clone, Debug, Default, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Versions {
    pub etcd: String,
    pub containerd: String,
    pub runc: String,
    pub cni_plugins: String,
    pub crictl: String,
    pub sandbox_image: String,
    pub coredns_image: String,
}

impl Index {
    /// Parses index.json: every field present and of its type, and hardway's `indexVersion`.
    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        let index: Index = serde_json::from_slice(bytes).map_err(|e| format!("not a hardway index.json: {e}"))?;
        if index.index_version != INDEX_VERSION {
            return Err(format!(
                "indexVersion {} is not {INDEX_VERSION}, the version this hardway reads",
                index.index_version
            ));
        }
        Ok(index)
    }

    /// Pretty JSON with a final newline, as written into bundles.
    pub fn to_json(&self) -> Result<Vec<u8>, String> {
        let mut json = serde_json::to_vec_pretty(self).map_err(|e| e.to_string())?;
        json.push(b'\n');
        Ok(json)
    }

    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.name == name)
    }
}

/// The JSON Schema of index.json (`hardway schema --index`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(Index);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
