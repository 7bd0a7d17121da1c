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
    /// `INDEX_VERSION` of the hardway that wrote it.
    pub index_version: u32,
    /// The cluster's name (`cluster.name`).
    pub cluster: String,
    /// The Kubernetes version every node runs, without a leading v.
    pub kubernetes_version: String,
    /// The API server endpoint and what a load balancer in front of it needs.
    pub api_server: ApiServer,
    /// The cluster's address ranges and DNS.
    pub network: Network,
    /// Every node of the topology, in topology order.
    pub nodes: Vec<NodeEntry>,
    /// Every certificate of the bundle, CAs included.
    pub certificates: Vec<CertEntry>,
    /// Every kubeconfig of the bundle.
    pub kubeconfigs: Vec<KubeconfigEntry>,
    /// Encryption at rest of Secrets.
    pub encryption: Encryption,
    /// The etcd cluster.
    pub etcd: Etcd,
    /// Static routes to the workers' pod ranges (`network.podRoutes: static`), else empty.
    pub routes: Vec<Route>,
    /// Manifests in apply order (bundle paths).
    pub manifests: Vec<String>,
    /// Bootstrap tokens of TLS-bootstrapped workers.
    pub bootstrap_tokens: Vec<TokenEntry>,
    /// How to read a node's preparation result.
    pub node_health: NodeHealth,
    /// CA, leaf and service-account key generations and validity.
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
    /// The CA generation that signs leaves.
    #[serde(rename = "signingCA")]
    pub signing_ca: u32,
    /// The CA generations every trust bundle holds, in order.
    #[serde(rename = "trustedCAs")]
    pub trusted_cas: Vec<u32>,
    /// When each trusted CA generation is valid.
    pub ca_generations: Vec<Generation>,
    /// Start of every leaf certificate's validity (RFC 3339).
    pub leaf_not_before: String,
    /// End of every leaf certificate's validity (RFC 3339).
    pub leaf_not_after: String,
    /// The generation of the leaves' private keys (`pki.leafKeyGeneration`).
    pub leaf_key_generation: u32,
    /// Service-account signing key generations.
    pub service_account_keys: SaState,
}

/// One CA generation's validity.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Generation {
    /// The CA generation.
    pub generation: u32,
    /// Start of its validity (RFC 3339).
    pub not_before: String,
    /// End of its validity (RFC 3339).
    pub not_after: String,
}

/// Which service-account key signs tokens and which are accepted.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct SaState {
    /// The generation that signs new tokens.
    pub signing: u32,
    /// The generations whose tokens the apiservers accept.
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

/// The etcd cluster: its members and what failures it survives.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Etcd {
    /// Node names of the members.
    pub members: Vec<String>,
    /// Members that must be up for etcd to accept writes.
    pub quorum: usize,
    /// Members that may fail at once without losing quorum.
    pub failure_tolerance: usize,
    /// "stacked", "external" or "mixed".
    pub topology: String,
    /// Members joining a running cluster (`etcdInitialClusterState: existing`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub joining: Vec<String>,
}

/// A bootstrap token (TLS bootstrap of a worker's kubelet).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct TokenEntry {
    /// The token id (the public half of `id.secret`).
    pub id: String,
    /// The worker it is for.
    pub node: Option<String>,
    /// Bundle path of the bootstrap kubeconfig that carries it.
    pub kubeconfig: String,
    /// When it expires (RFC 3339), `pki.bootstrapTokensExpire`.
    pub expiration: String,
}

/// An apiserver a load balancer forwards to.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Target {
    /// The control-plane node.
    pub node: String,
    /// Its address (the node's internal IP).
    pub address: String,
    /// The apiserver's port.
    pub port: u16,
}

/// A load balancer's health check of one apiserver.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct HealthCheck {
    /// "HTTPS".
    pub protocol: String,
    /// "/readyz".
    pub path: String,
    /// The apiserver's port.
    pub port: u16,
}

/// How clients reach the apiservers.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    /// Host name or address in every kubeconfig's server URL (`cluster.endpoint`).
    pub endpoint: String,
    /// Its port.
    pub port: u16,
    /// The server URL of every kubeconfig.
    pub url: String,
    /// What a load balancer in front of the apiservers must do: forward TCP to these targets...
    pub targets: Vec<Target>,
    /// ...and consider one healthy when this answers 200.
    pub health_check: HealthCheck,
    /// Nodes with the loadbalancer role (HAProxy), if any.
    pub load_balancers: Vec<String>,
}

/// The cluster's address ranges and DNS.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Network {
    /// Services' virtual IPs (`network.serviceCIDR`).
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    /// All pods' addresses (`network.podCIDR`); each worker has a part.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    /// The cluster DNS domain, e.g. cluster.local.
    pub dns_domain: String,
    /// The `kubernetes` Service's IP (first of the service range).
    #[serde(rename = "kubernetesServiceIP")]
    pub kubernetes_service_ip: Option<String>,
    /// CoreDNS's Service IP (the kubelets' clusterDNS).
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
    /// Absolute path on the node.
    pub path: String,
    /// Octal mode as a string.
    pub mode: String,
}

/// A route to one worker's pod range.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Route {
    /// The worker's pod range.
    pub destination: String,
    /// The worker.
    pub node: String,
    /// Its internal IP, the next hop.
    pub via: String,
}

/// One node: its roles, addresses, files, directories, user-data, units and downloads.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct NodeEntry {
    /// Node name (also its host name).
    pub name: String,
    /// "controlplane", "etcd", "worker", "loadbalancer".
    pub roles: Vec<String>,
    /// The address other nodes reach it at.
    #[serde(rename = "internalIP")]
    pub internal_ip: String,
    /// An address outside the cluster network, if given (in the apiserver certificate's SANs).
    #[serde(rename = "externalIP")]
    pub external_ip: Option<String>,
    /// A worker's pod range.
    #[serde(rename = "podCIDR")]
    pub pod_cidr: Option<String>,
    /// "amd64" or "arm64".
    pub arch: String,
    /// "download" or "preinstalled".
    pub binaries: String,
    /// Every file the node gets, sorted by node path.
    pub files: Vec<Placed>,
    /// Directories made before any file is written, with their modes.
    pub directories: Vec<PlacedDir>,
    /// Bundle path of its plain user-data (cloud-config).
    #[serde(rename = "userData")]
    pub user_data: String,
    /// Its size in bytes.
    #[serde(rename = "userDataBytes")]
    pub user_data_bytes: usize,
    /// Bundle path of its gzipped user-data (what the budget counts).
    #[serde(rename = "userDataGzip")]
    pub user_data_gzip: String,
    /// Its size in bytes.
    #[serde(rename = "userDataGzipBytes")]
    pub user_data_gzip_bytes: usize,
    /// libdeflate level of the gzip copy: 9, or 12 where level 9 was over `userData.budgetBytes`.
    #[serde(rename = "userDataGzipLevel", default)]
    pub user_data_gzip_level: u8,
    /// The node's systemd units in the order install.sh enables and restarts them.
    pub units: Vec<String>,
    /// What install.sh downloads, in order.
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
    /// Whether the node has the role ("worker", ...).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    /// Whether the node runs the unit (`kubelet` for kubelet.service).
    pub fn runs(&self, unit: &str) -> bool {
        self.units.iter().any(|u| u.strip_suffix(".service") == Some(unit))
    }
    /// Whether its kubelet joins with a bootstrap token.
    pub fn bootstraps(&self) -> bool {
        self.kubelet_credentials.as_deref() == Some("bootstrap")
    }
}

/// A node's secrets archive: where it is in the bundle, its digest and size, and what it holds (node
/// paths, modes, digests of the contents; never the contents).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// Bundle path of the archive (secrets/NODE.tar).
    pub path: String,
    /// SHA-256 of the archive, hex; the node's user-data pins it.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
    /// What it unpacks, in path order.
    pub files: Vec<ArchiveFile>,
}

/// One member of a secrets archive.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct ArchiveFile {
    /// Absolute path on the node.
    pub path: String,
    /// Octal mode as a string.
    pub mode: String,
    /// SHA-256 of its contents, hex.
    pub sha256: String,
}

/// One download of install.sh.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct DownloadEntry {
    /// "kubelet", "etcd", "containerd", "image-archive", ...
    pub component: String,
    /// Its version (an image archive: its file name).
    pub version: String,
    /// Where it comes from.
    pub url: String,
    /// Where the expected sha256 comes from: "topology" (pinned) or the URL of the published checksum.
    pub sha256_source: String,
    /// The pinned SHA-256, hex, when `sha256Source` is "topology".
    pub sha256: Option<String>,
}

/// One certificate and its key.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct CertEntry {
    /// Profile name (the certificate table's row: "ca", "apiserver", "kubelet", ...).
    pub name: String,
    /// The node it is for (per-node certificates).
    pub node: Option<String>,
    /// Bundle path of the certificate (PEM).
    pub cert: String,
    /// Bundle path of its private key (PEM).
    pub key: String,
    /// Profile name of the CA that signed it (itself for a CA).
    pub issuer: String,
    /// Subject distinguished name.
    pub subject: String,
    /// Subject alternative names ("DNS:...", "IP:...").
    pub sans: Vec<String>,
    /// Key usages and extended key usages.
    pub usages: Vec<String>,
    /// "ecdsa-p256", "rsa-2048", ...
    pub key_algorithm: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// A CA's own generation; a leaf's is the CA generation that signed it.
    pub generation: u32,
}

/// One kubeconfig.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct KubeconfigEntry {
    /// Profile name ("admin", "kubelet", "kube-proxy", ...).
    pub name: String,
    /// The node it is for (per-node kubeconfigs).
    pub node: Option<String>,
    /// Bundle path.
    pub path: String,
    /// The user it authenticates as.
    pub user: String,
    /// The user's groups (certificate O).
    pub groups: Vec<String>,
    /// The server URL it talks to.
    pub server: String,
}

/// Encryption at rest of Secrets (the apiservers' EncryptionConfiguration).
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema, PartialEq, Eq)]
pub struct Encryption {
    /// The provider of `encryption.provider` (keys may name their own, see `providers`).
    pub provider: String,
    /// Key names in order; the first encrypts, all decrypt.
    pub keys: Vec<String>,
    /// Node path of the EncryptionConfiguration.
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
    /// etcd version.
    pub etcd: String,
    /// containerd version.
    pub containerd: String,
    /// runc version.
    pub runc: String,
    /// CNI plugins version.
    pub cni_plugins: String,
    /// crictl version.
    pub crictl: String,
    /// The pod sandbox (pause) image.
    pub sandbox_image: String,
    /// CoreDNS's image.
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

    /// The node of that name.
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
