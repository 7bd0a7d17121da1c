//! The validated model: a `Topology` can only be made by parsing and validating a topology file
//! (`load`), so everything downstream can trust it. Raw types, parsing, validation, pod-range
//! allocation, names, networks and supported versions live in the submodules.

pub mod names;
pub mod net;
mod parse;
mod pods;
pub mod raw;
mod validate;
pub mod versions;

pub use names::Name;
pub use parse::parse;
pub use raw::{
    json_schema, Arch, ArchiveContents, BinarySource, BootstrapTokens, EtcdClusterState, KeyAlgorithm,
    KubeletCredentials, PodRoutes, Provider, RawTopology, Runtime, SecretsDelivery,
};
pub use validate::{earliest_time, latest_time, node_ports, url_problem, validate};

use crate::error::{Error, Problem};
use net::Cidr;
use std::collections::BTreeMap;
use std::net::IpAddr;
use time::OffsetDateTime;

/// Largest topology file read (10 MiB): a larger one is refused before parsing.
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Upper bound for any validity period (100 years).
pub const MAX_VALIDITY_DAYS: u32 = 36_500;
/// More etcd members than this only slows consensus down; etcd recommends at most 7.
pub const MAX_ETCD_MEMBERS: usize = 7;

/// Versions of the components that are not Kubernetes itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentVersions {
    /// etcd's version.
    pub etcd: String,
    /// containerd's version.
    pub containerd: String,
    /// runc's version.
    pub runc: String,
    /// The CNI plugins' version.
    pub cni_plugins: String,
    /// crictl's version.
    pub crictl: String,
    /// The pause image's tag.
    pub pause: String,
}

/// Where the nodes' binaries come from (`binaries`, defaults filled in).
#[derive(Clone, Debug)]
pub struct Binaries {
    /// `download` or `preinstalled` (a node may override it).
    pub source: BinarySource,
    /// Kubernetes release binaries' base URL.
    pub base_url: String,
    /// etcd release tarballs' base URL.
    pub etcd_base_url: String,
    /// containerd, runc, CNI plugins and crictl releases' base URL.
    pub runtime_base_url: String,
    /// Release tarballs or distribution packages for the container runtime.
    pub runtime: Runtime,
    /// `component/arch` -> pinned sha256 hex.
    pub sha256: BTreeMap<String, String>,
    /// Versions of the components around Kubernetes.
    pub versions: ComponentVersions,
    /// `binaries.paths`: where the units run a binary, when not /usr/local/bin.
    pub paths: BTreeMap<String, String>,
}

/// The binaries systemd units run, whose place `binaries.paths` may give.
pub const UNIT_BINARIES: &[&str] = &[
    "etcd",
    "etcdctl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "containerd",
];

/// Default `binaries.baseURL`.
pub const DEFAULT_BASE_URL: &str = "https://dl.k8s.io/release";
/// Default `binaries.etcdBaseURL`.
pub const DEFAULT_ETCD_BASE_URL: &str = "https://github.com/etcd-io/etcd/releases/download";
/// Default `binaries.runtimeBaseURL`.
pub const DEFAULT_RUNTIME_BASE_URL: &str = "https://github.com";
/// EC2's limit on raw user-data.
pub const DEFAULT_USER_DATA_BUDGET: usize = 16_384;
/// Components whose checksums may be pinned in `binaries.sha256` as `component/arch`.
pub const COMPONENTS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
    "etcd",
    "containerd",
    "runc",
    "cni-plugins",
    "crictl",
];

/// What a node does in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// kube-apiserver, kube-controller-manager, kube-scheduler.
    ControlPlane,
    /// An etcd member.
    Etcd,
    /// kubelet, kube-proxy, containerd: runs pods.
    Worker,
    /// HAProxy in front of the apiservers.
    LoadBalancer,
}

impl Role {
    /// Every role, in the order of `roles` lists.
    pub const ALL: [Role; 4] = [Role::ControlPlane, Role::Etcd, Role::Worker, Role::LoadBalancer];
    /// The name as written in topologies and index.json.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "controlplane",
            Role::Etcd => "etcd",
            Role::Worker => "worker",
            Role::LoadBalancer => "loadbalancer",
        }
    }
    fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// A host named in a certificate or URL: an IP address or a DNS name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Host {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS name.
    Dns(String),
}

impl Host {
    /// The address or name as text (no brackets for IPv6).
    pub fn as_string(&self) -> String {
        match self {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(d) => d.clone(),
        }
    }
}

/// A validated node.
#[derive(Clone, Debug)]
pub struct Node {
    pub(crate) name: Name,
    pub(crate) internal_ip: IpAddr,
    pub(crate) external_ip: Option<IpAddr>,
    /// Sorted, unique.
    pub(crate) roles: Vec<Role>,
    /// Workers only: given in the topology or allocated from the cluster pod CIDR.
    pub(crate) pod_cidr: Option<Cidr>,
    /// Whether `pod_cidr` was allocated (not given in the topology).
    pub(crate) pod_cidr_allocated: bool,
    pub(crate) arch: Arch,
    pub(crate) binaries: BinarySource,
    pub(crate) kubelet_credentials: KubeletCredentials,
    /// etcd members: whether the member forms the cluster or joins a running one.
    pub(crate) etcd_state: EtcdClusterState,
}

impl Node {
    /// Its name.
    pub fn name(&self) -> &Name {
        &self.name
    }
    /// The address other nodes reach it at.
    pub fn internal_ip(&self) -> IpAddr {
        self.internal_ip
    }
    /// Its address outside the cluster network, if any.
    pub fn external_ip(&self) -> Option<IpAddr> {
        self.external_ip
    }
    /// Its roles, sorted, unique.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }
    /// A worker's pod range.
    pub fn pod_cidr(&self) -> Option<Cidr> {
        self.pod_cidr
    }
    /// A worker whose kubelet uses TLS bootstrap.
    pub fn bootstraps(&self) -> bool {
        self.has(Role::Worker) && self.kubelet_credentials == KubeletCredentials::Bootstrap
    }
    /// A worker whose kubelet certificates come from the bundle.
    pub fn has_kubelet_certs(&self) -> bool {
        self.has(Role::Worker) && self.kubelet_credentials == KubeletCredentials::Certificates
    }
    /// An etcd member joining a running cluster (`--initial-cluster-state=existing`).
    pub fn joins_etcd(&self) -> bool {
        self.has(Role::Etcd) && self.etcd_state == EtcdClusterState::Existing
    }
    /// Whether the node has `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    /// Its addresses: internal, then external.
    pub fn ips(&self) -> Vec<IpAddr> {
        let mut v = vec![self.internal_ip];
        v.extend(self.external_ip);
        v
    }
}

/// A Kubernetes version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    /// Major (1).
    pub major: u32,
    /// Minor.
    pub minor: u32,
    /// Patch.
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A validated topology: only `validate` makes one, so everything the render reads has been checked.
#[derive(Clone, Debug)]
pub struct Topology {
    pub(crate) name: Name,
    pub(crate) version: Version,
    pub(crate) endpoint: Host,
    pub(crate) port: u16,
    pub(crate) extra_sans: Vec<Host>,
    pub(crate) service_cidr: Cidr,
    pub(crate) pod_cidr: Cidr,
    pub(crate) dns_domain: String,
    /// The start of CA generation 1 (`pki.notBefore`).
    pub(crate) not_before: OffsetDateTime,
    pub(crate) ca_validity_days: u32,
    pub(crate) cert_validity_days: u32,
    /// Every CA generation the bundle holds (trusted ones), by number, with its notBefore.
    pub(crate) ca_generations: BTreeMap<u32, OffsetDateTime>,
    /// The CA generation that signs the leaves.
    pub(crate) signing_ca: u32,
    /// The CA generations every trust bundle carries, the signing one first.
    pub(crate) trusted_cas: Vec<u32>,
    /// When the leaves start (`pki.leafNotBefore`, else `pki.notBefore`).
    pub(crate) leaf_not_before: OffsetDateTime,
    pub(crate) leaf_key_generation: u32,
    /// Service-account keys: the signing generation, and the trusted ones (signing first).
    pub(crate) sa_signing: u32,
    pub(crate) sa_trusted: Vec<u32>,
    pub(crate) key_algorithm: KeyAlgorithm,
    pub(crate) provider: Provider,
    /// Encryption keys, the first encrypts.
    pub(crate) encryption_keys: Vec<EncryptionKey>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) cluster_dns: IpAddr,
    pub(crate) binaries: Binaries,
    pub(crate) user_data_budget: usize,
    pub(crate) bootstrap_tokens: BootstrapTokens,
    /// When every bootstrap token expires.
    pub(crate) bootstrap_tokens_expire: OffsetDateTime,
    /// Bumped to give every bootstrap token a new value.
    pub(crate) bootstrap_token_generation: u32,
    pub(crate) pod_routes: PodRoutes,
    /// The cluster-wide default of `kubeletCredentials`.
    pub(crate) kubelet_credentials: KubeletCredentials,
    /// `cluster.failCgroupV1`, written into every KubeletConfiguration when given.
    pub(crate) fail_cgroup_v1: Option<bool>,
    /// `cluster.restrictOOMScoreAdj`: containerd's restrict_oom_score_adj.
    pub(crate) restrict_oom_score_adj: bool,
    pub(crate) images: Images,
    pub(crate) secrets: SecretDelivery,
    /// `secrets.archiveContents: all`: every file but the boot files travels in the archive.
    pub(crate) archive_all: bool,
}

/// How the nodes get their secret files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretDelivery {
    /// In the user-data, with every other file.
    Inline,
    /// In `secrets/<node>.tar`, fetched at boot from the source and checked against its pinned SHA-256.
    Archive(SecretsSource),
}

/// Where a node obtains its secrets archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretsSource {
    /// The operator's tool puts the archive on the node.
    File {
        /// Where it appears.
        path: String,
        /// How long the node waits for it.
        wait_seconds: u32,
    },
    /// `url` with `{cluster}` and `{node}` placeholders; `ca_pem` the only CA trusted for it.
    Https {
        /// The archive's URL, `{cluster}` and `{node}` replaced.
        url: String,
        /// The CA (PEM) trusted for the download, and no other.
        ca_pem: String,
    },
    /// The node fetches the archive from S3 with the AWS CLI.
    S3 {
        /// `s3://bucket/prefix/{node}.tar`.
        url: String,
        /// An S3-compatible endpoint instead of AWS's.
        endpoint_url: Option<String>,
        /// Delete the object once fetched and checked.
        delete_after_fetch: bool,
    },
}

/// Default of `secrets.source.file.path` and `waitSeconds`.
pub const DEFAULT_SECRETS_FILE: &str = "/run/hardway/secrets.tar";
/// Default `secrets.source.file.waitSeconds`.
pub const DEFAULT_SECRETS_WAIT: u32 = 900;

/// An encryption key: its name and the provider it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptionKey {
    /// The key's name.
    pub name: String,
    /// Its provider.
    pub provider: Provider,
}

/// The images the cluster runs besides the Kubernetes binaries, and archives workers import at boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// The pod sandbox (pause) image.
    pub sandbox: String,
    /// CoreDNS's image.
    pub coredns: String,
    /// Archives every worker imports into containerd at boot.
    pub archives: Vec<ImageArchive>,
}

/// An image archive a worker imports: a file on the node, or a download with its sha256.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageArchive {
    /// A file already on the node, checked against `sha256` when given.
    Path {
        /// Absolute path on the node.
        path: String,
        /// Its sha256 hex, checked before the import.
        sha256: Option<String>,
    },
    /// A download, checked against `sha256`.
    Url {
        /// Where install.sh downloads it from.
        url: String,
        /// Its sha256 hex, checked after the download.
        sha256: String,
    },
}

impl ImageArchive {
    /// Where the archive is on the node when install.sh imports it.
    pub fn node_path(&self) -> String {
        match self {
            ImageArchive::Path { path, .. } => path.clone(),
            ImageArchive::Url { url, .. } => {
                format!("{IMAGE_ARCHIVE_DIR}/{}", url.rsplit('/').next().unwrap_or("image.tar"))
            }
        }
    }
}

/// Where install.sh keeps downloaded image archives on a worker.
pub const IMAGE_ARCHIVE_DIR: &str = "/var/lib/hardway/images";

/// Read access for library users; inside the crate the fields are used directly.
impl Topology {
    /// The cluster's name.
    pub fn name(&self) -> &Name {
        &self.name
    }
    /// Every node, in topology order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }
    /// The Kubernetes version.
    pub fn version(&self) -> Version {
        self.version
    }
    /// The algorithm of every key.
    pub fn key_algorithm(&self) -> KeyAlgorithm {
        self.key_algorithm
    }
    /// The start of CA generation 1 (`pki.notBefore`).
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }
    /// When CA generation `g` starts and ends.
    pub fn ca_validity(&self, g: u32) -> Option<(OffsetDateTime, OffsetDateTime)> {
        let nb = *self.ca_generations.get(&g)?;
        Some((nb, nb + time::Duration::days(i64::from(self.ca_validity_days))))
    }
    /// When every leaf certificate starts and ends.
    pub fn leaf_validity(&self) -> (OffsetDateTime, OffsetDateTime) {
        (self.leaf_not_before, self.leaf_not_before + time::Duration::days(i64::from(self.cert_validity_days)))
    }
    /// The CA generation that signs the leaves.
    pub fn signing_ca(&self) -> u32 {
        self.signing_ca
    }
    /// The CA generations every trust bundle carries, the signing one first.
    pub fn trusted_cas(&self) -> &[u32] {
        &self.trusted_cas
    }
    /// The largest gzipped user-data a node may get, in bytes.
    pub fn user_data_budget(&self) -> usize {
        self.user_data_budget
    }

    /// Whether the cluster runs the TLS bootstrap machinery (token auth, RBAC, token signing): when it
    /// is the cluster default, even before any worker exists, so adding workers does not change the
    /// control plane; or when some worker opts in.
    pub fn bootstrap_enabled(&self) -> bool {
        self.kubelet_credentials == KubeletCredentials::Bootstrap || self.nodes.iter().any(Node::bootstraps)
    }

    /// Whether secret files travel in per-node archives (`secrets.delivery: archive`).
    pub fn archives_secrets(&self) -> bool {
        matches!(self.secrets, SecretDelivery::Archive(_))
    }
    /// The nodes with `role`, in topology order.
    pub fn nodes_with(&self, role: Role) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(move |n| n.has(role))
    }
    /// The first address of the service range: the `kubernetes` Service's ClusterIP.
    pub fn kubernetes_service_ip(&self) -> Option<IpAddr> {
        self.service_cidr.nth(1)
    }
    /// The cluster DNS Service address: `network.clusterDNS`, by default the 10th address of the
    /// service range (kubeadm's convention).
    pub fn cluster_dns_ip(&self) -> Option<IpAddr> {
        Some(self.cluster_dns)
    }
    /// Where units run binary `name`: `binaries.paths`, else /usr/local/bin.
    pub fn binary_path(&self, name: &str) -> String {
        self.binaries.paths.get(name).cloned().unwrap_or_else(|| format!("/usr/local/bin/{name}"))
    }
    /// `https://ENDPOINT:PORT`, the server URL of kubeconfigs used off the control plane.
    pub fn endpoint_url(&self) -> String {
        net::url(&self.endpoint.as_string(), self.port)
    }
    /// `https://127.0.0.1:PORT`, the server URL of kubeconfigs of components beside an apiserver.
    pub fn local_url(&self) -> String {
        net::url("127.0.0.1", self.port)
    }
}

/// A validated topology plus the warnings (legal but risky choices) found on the way.
#[derive(Debug)]
pub struct Checked {
    /// The topology.
    pub topology: Topology,
    /// Legal but risky choices.
    pub warnings: Vec<Problem>,
}

/// Parse then validate: the common path for `check` and `render`. A topology that names other files
/// (`secrets.source.https.caFile`) needs `load_with`.
pub fn load(file: &str, bytes: &[u8]) -> Result<Checked, Error> {
    load_with(file, bytes, &|name: &str| Err(format!("{name} cannot be read here")))
}

/// `load`, with `read` giving the bytes of the files the topology names (relative to it).
pub fn load_with(file: &str, bytes: &[u8], read: validate::Reader) -> Result<Checked, Error> {
    let raw = parse(file, bytes)?;
    validate::validate_with(&raw, read).map_err(|problems| Error::Invalid { file: file.into(), problems })
}
