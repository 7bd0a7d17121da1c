//! The topology file: raw serde structs as written by the user, and `validate()` into a typed
//! `Topology`, collecting every problem with its field path (nothing here touches the file system).

use crate::error::{Error, Problem};
use crate::net::Cidr;
use crate::versions;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use time::OffsetDateTime;

/// Topology files larger than this are refused before parsing (a topology of 5,000 nodes is ~0.6 MiB).
pub const MAX_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Upper bound for any validity period (100 years).
pub const MAX_VALIDITY_DAYS: u32 = 36_500;
/// More etcd members than this only slows consensus down; etcd recommends at most 7.
pub const MAX_ETCD_MEMBERS: usize = 7;

// ---------------------------------------------------------------------------------------------
// Raw form: exactly what the YAML says. Unknown fields are errors.

/// A hardway topology: the cluster, its PKI and encryption settings, and its nodes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "hardway topology")]
pub struct RawTopology {
    pub cluster: RawCluster,
    pub pki: RawPki,
    pub encryption: RawEncryption,
    pub nodes: Vec<RawNode>,
    #[serde(default)]
    pub binaries: RawBinaries,
    #[serde(default, rename = "userData")]
    pub user_data: RawUserData,
}

/// How binaries reach the nodes.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBinaries {
    #[serde(default)]
    pub source: BinarySource,
    /// Kubernetes release binaries: `{baseURL}/v{version}/bin/linux/{arch}/{name}`.
    #[serde(rename = "baseURL", default)]
    pub base_url: Option<String>,
    /// etcd release tarballs: `{etcdBaseURL}/v{v}/etcd-v{v}-linux-{arch}.tar.gz`.
    #[serde(rename = "etcdBaseURL", default)]
    pub etcd_base_url: Option<String>,
    /// containerd, runc, CNI plugins and crictl release files, laid out as on GitHub releases.
    #[serde(rename = "runtimeBaseURL", default)]
    pub runtime_base_url: Option<String>,
    #[serde(default)]
    pub runtime: Runtime,
    /// `component/arch` -> sha256 hex. Absent ones are fetched from the checksum files published
    /// beside the downloads.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    #[serde(default)]
    pub versions: RawComponentVersions,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawComponentVersions {
    pub etcd: Option<String>,
    pub containerd: Option<String>,
    pub runc: Option<String>,
    pub cni_plugins: Option<String>,
    pub crictl: Option<String>,
    pub pause: Option<String>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawUserData {
    /// Maximum size of a node's user-data in bytes (the gzip copy must fit). Default: EC2's 16,384.
    pub budget_bytes: Option<usize>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCluster {
    pub name: String,
    pub kubernetes_version: String,
    pub api_server: RawApiServer,
    pub network: RawNetwork,
    /// How kubelets get their credentials (default `certificates`); overridable per node.
    #[serde(default)]
    pub kubelet_credentials: KubeletCredentials,
    /// In bootstrap mode: one token per node (default) or one shared by all.
    #[serde(default)]
    pub bootstrap_tokens: BootstrapTokens,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KubeletCredentials {
    /// The bundle holds each kubelet's client and serving certificates, signed by the cluster CA.
    #[default]
    Certificates,
    /// TLS bootstrap: a bootstrap token; the kubelet requests its certificates from the cluster.
    Bootstrap,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum BootstrapTokens {
    /// One token per worker: revocable per node, and user-data differs per node anyway.
    #[default]
    #[serde(rename = "perNode")]
    PerNode,
    /// One token for every worker: identical user-data apart from node values (autoscaling groups),
    /// but a leaked token lets anyone join until it is deleted.
    #[serde(rename = "shared")]
    Shared,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApiServer {
    pub endpoint: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default, rename = "extraSANs")]
    pub extra_sans: Vec<String>,
}

fn default_port() -> u16 {
    6443
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    #[serde(rename = "serviceCIDR")]
    pub service_cidr: String,
    #[serde(rename = "podCIDR")]
    pub pod_cidr: String,
    #[serde(rename = "dnsDomain", default = "default_dns_domain")]
    pub dns_domain: String,
    /// Prefix length of each worker's pod range when allocated automatically (default /24, IPv6 /64).
    #[serde(rename = "nodeCIDRMaskSize", default)]
    pub node_cidr_mask_size: Option<u8>,
    /// Cluster DNS Service address (default: the 10th address of serviceCIDR).
    #[serde(rename = "clusterDNS", default)]
    pub cluster_dns: Option<String>,
    /// How pod ranges reach each other (default `static`).
    #[serde(rename = "podRoutes", default)]
    pub pod_routes: PodRoutes,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PodRoutes {
    /// Every controlplane and worker node gets the table of all pod ranges and routes them at boot.
    #[default]
    Static,
    /// No host routes: a routing CNI or the cloud's route tables (index.json `routes`) do it. For large
    /// clusters, where a table of every worker in every node's user-data does not fit.
    None,
}

fn default_dns_domain() -> String {
    "cluster.local".into()
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPki {
    pub not_before: String,
    #[serde(default = "default_ca_days")]
    pub ca_validity_days: u32,
    #[serde(default = "default_cert_days")]
    pub cert_validity_days: u32,
    #[serde(default)]
    pub key_algorithm: KeyAlgorithm,
}

fn default_ca_days() -> u32 {
    3650
}
fn default_cert_days() -> u32 {
    365
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEncryption {
    #[serde(default)]
    pub provider: Provider,
    pub keys: Vec<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    pub name: String,
    #[serde(rename = "internalIP")]
    pub internal_ip: String,
    #[serde(rename = "externalIP", default)]
    pub external_ip: Option<String>,
    pub roles: Vec<String>,
    #[serde(rename = "podCIDR", default)]
    pub pod_cidr: Option<String>,
    #[serde(default)]
    pub arch: Arch,
    /// Overrides `binaries.source` for this node.
    #[serde(default)]
    pub binaries: Option<BinarySource>,
    /// Overrides `cluster.kubeletCredentials` for this worker.
    #[serde(rename = "kubeletCredentials", default)]
    pub kubelet_credentials: Option<KubeletCredentials>,
}

// ---------------------------------------------------------------------------------------------
// Validated form.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum KeyAlgorithm {
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    #[default]
    Secretbox,
    Aesgcm,
    Aescbc,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Secretbox => "secretbox",
            Provider::Aesgcm => "aesgcm",
            Provider::Aescbc => "aescbc",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BinarySource {
    /// Download and sha256-verify every binary at first boot.
    #[default]
    Download,
    /// The image already has every binary; user-data only configures.
    Preinstalled,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// containerd, runc, CNI plugins and crictl from their release tarballs (/usr/local/bin, /opt/cni/bin).
    #[default]
    Tarballs,
    /// containerd, runc and CNI plugins from the distribution's packages (/usr/bin, /usr/lib/cni).
    Packages,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    #[default]
    Amd64,
    Arm64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Versions of the components that are not Kubernetes itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentVersions {
    pub etcd: String,
    pub containerd: String,
    pub runc: String,
    pub cni_plugins: String,
    pub crictl: String,
    pub pause: String,
}

#[derive(Clone, Debug)]
pub struct Binaries {
    pub source: BinarySource,
    pub base_url: String,
    pub etcd_base_url: String,
    pub runtime_base_url: String,
    pub runtime: Runtime,
    pub sha256: BTreeMap<String, String>,
    pub versions: ComponentVersions,
}

pub const DEFAULT_BASE_URL: &str = "https://dl.k8s.io/release";
pub const DEFAULT_ETCD_BASE_URL: &str = "https://github.com/etcd-io/etcd/releases/download";
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    ControlPlane,
    Etcd,
    Worker,
    LoadBalancer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::ControlPlane, Role::Etcd, Role::Worker, Role::LoadBalancer];
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
    Ip(IpAddr),
    Dns(String),
}

impl Host {
    pub fn as_string(&self) -> String {
        match self {
            Host::Ip(ip) => ip.to_string(),
            Host::Dns(d) => d.clone(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub internal_ip: IpAddr,
    pub external_ip: Option<IpAddr>,
    /// Sorted, unique.
    pub roles: Vec<Role>,
    /// Workers only: given in the topology or allocated from the cluster pod CIDR.
    pub pod_cidr: Option<Cidr>,
    pub arch: Arch,
    pub binaries: BinarySource,
    pub kubelet_credentials: KubeletCredentials,
}

impl Node {
    /// A worker whose kubelet uses TLS bootstrap.
    pub fn bootstraps(&self) -> bool {
        self.has(Role::Worker) && self.kubelet_credentials == KubeletCredentials::Bootstrap
    }
    /// A worker whose kubelet certificates come from the bundle.
    pub fn has_kubelet_certs(&self) -> bool {
        self.has(Role::Worker) && self.kubelet_credentials == KubeletCredentials::Certificates
    }
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
    pub fn ips(&self) -> Vec<IpAddr> {
        let mut v = vec![self.internal_ip];
        v.extend(self.external_ip);
        v
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[derive(Clone, Debug)]
pub struct Topology {
    pub name: String,
    pub version: Version,
    pub endpoint: Host,
    pub port: u16,
    pub extra_sans: Vec<Host>,
    pub service_cidr: Cidr,
    pub pod_cidr: Cidr,
    pub dns_domain: String,
    pub not_before: OffsetDateTime,
    pub ca_validity_days: u32,
    pub cert_validity_days: u32,
    pub key_algorithm: KeyAlgorithm,
    pub provider: Provider,
    pub encryption_keys: Vec<String>,
    pub nodes: Vec<Node>,
    pub cluster_dns: IpAddr,
    pub binaries: Binaries,
    pub user_data_budget: usize,
    pub bootstrap_tokens: BootstrapTokens,
    pub pod_routes: PodRoutes,
    /// The cluster-wide default of `kubeletCredentials`.
    pub kubelet_credentials: KubeletCredentials,
}

impl Topology {
    /// Whether the cluster runs the TLS bootstrap machinery (token auth, RBAC, token signing): when it
    /// is the cluster default, even before any worker exists, so adding workers does not change the
    /// control plane; or when some worker opts in.
    pub fn bootstrap_enabled(&self) -> bool {
        self.kubelet_credentials == KubeletCredentials::Bootstrap || self.nodes.iter().any(Node::bootstraps)
    }

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
    pub fn endpoint_url(&self) -> String {
        crate::net::url(&self.endpoint.as_string(), self.port)
    }
    pub fn local_url(&self) -> String {
        crate::net::url("127.0.0.1", self.port)
    }
}

/// A validated topology plus the warnings (legal but risky choices) found on the way.
#[derive(Debug)]
pub struct Checked {
    pub topology: Topology,
    pub warnings: Vec<Problem>,
}

/// The JSON Schema of the topology file, generated from the raw types above (`hardway schema`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawTopology);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------------
// Parsing.

/// Parses YAML text into the raw form; syntax and type errors carry `file:line:column`.
pub fn parse(file: &str, bytes: &[u8]) -> Result<RawTopology, Error> {
    let input = |message: &str| Error::Input { file: file.into(), message: message.into() };
    if bytes.len() > MAX_FILE_BYTES {
        return Err(input(&format!(
            "is {} bytes; topology files are limited to {} bytes",
            bytes.len(),
            MAX_FILE_BYTES
        )));
    }
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(input("is empty; expected a topology (see `hardway init`)"));
    }
    if bytes.contains(&0) {
        return Err(input("is a binary file (contains NUL bytes), not a YAML topology"));
    }
    let text = std::str::from_utf8(bytes)
        .map_err(|e| input(&format!("is not UTF-8 text (invalid byte at offset {})", e.valid_up_to())))?;
    serde_saphyr::from_str::<RawTopology>(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((0, 0));
        Error::Parse { file: file.into(), line, column, message: clean_message(&e.to_string()) }
    })
}

/// serde-saphyr's display text carries its own "error: line X column Y: " prefix, and sometimes a
/// hint about its own options; we print `file:line:column` ourselves and keep only the message.
fn clean_message(s: &str) -> String {
    let mut m = s.lines().next().unwrap_or(s).trim();
    m = m.strip_prefix("error: ").unwrap_or(m);
    if let Some(rest) = m.strip_prefix("line ") {
        if let Some(i) = rest.find(": ") {
            if rest[..i].split(" column ").all(|n| n.bytes().all(|b| b.is_ascii_digit())) {
                m = &rest[i + 2..];
            }
        }
    }
    let m = m.split(", set DuplicateKeyPolicy").next().unwrap_or(m);
    if m.starts_with("multiple YAML documents") {
        return "multiple YAML documents: a topology is a single document (remove the `---` separator)".into();
    }
    m.trim_end_matches([',', ':']).to_string()
}

/// Parse then validate: the common path for `check` and `render`.
pub fn load(file: &str, bytes: &[u8]) -> Result<Checked, Error> {
    let raw = parse(file, bytes)?;
    validate(&raw).map_err(|problems| Error::Invalid { file: file.into(), problems })
}

// ---------------------------------------------------------------------------------------------
// Validation.

struct Collector {
    problems: Vec<Problem>,
    warnings: Vec<Problem>,
}

impl Collector {
    fn err(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.problems.push(Problem::new(path, msg));
    }
    fn warn(&mut self, path: impl Into<String>, msg: impl Into<String>) {
        self.warnings.push(Problem::new(path, msg));
    }
}

/// RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, at most 63.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn parse_host(s: &str) -> Option<Host> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    // A name that looks like a dotted quad but failed to parse is a typo, not a DNS name.
    if s.split('.').all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    is_dns_subdomain(s).then(|| Host::Dns(s.to_string()))
}

fn parse_version(s: &str) -> Result<Version, String> {
    let parts: Vec<&str> = s.strip_prefix('v').unwrap_or(s).split('.').collect();
    let nums: Option<Vec<u32>> = parts
        .iter()
        .map(|p| if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) { None } else { p.parse().ok() })
        .collect();
    match nums.as_deref() {
        Some([major, minor, patch]) => Ok(Version { major: *major, minor: *minor, patch: *patch }),
        _ => Err(format!("{s:?} is not a Kubernetes release version like \"1.36.2\"")),
    }
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| format!("{s:?} is not an RFC 3339 timestamp like \"2026-11-01T00:00:00Z\""))?;
    if !s.ends_with('Z') || t.offset() != time::UtcOffset::UTC {
        return Err(format!("{s:?} must be in UTC, ending in \"Z\""));
    }
    if t.nanosecond() != 0 {
        return Err(format!("{s:?} has fractional seconds; certificates hold whole seconds"));
    }
    Ok(t)
}

/// Validates the raw topology, collecting every problem. On success also returns warnings.
pub fn validate(raw: &RawTopology) -> Result<Checked, Vec<Problem>> {
    let mut c = Collector { problems: Vec::new(), warnings: Vec::new() };

    // cluster
    let name = raw.cluster.name.clone();
    if !is_dns_label(&name) {
        c.err("cluster.name", format!("{name:?} is not a DNS-1123 label (lowercase a-z, 0-9 and '-', at most 63)"));
    }
    let version = match parse_version(&raw.cluster.kubernetes_version) {
        Ok(v) if versions::is_supported(v) => Some(v),
        Ok(v) => {
            c.err(
                "cluster.kubernetesVersion",
                format!("Kubernetes {v} is not supported; supported minors: {}", versions::supported_list()),
            );
            None
        }
        Err(e) => {
            c.err("cluster.kubernetesVersion", e);
            None
        }
    };
    let api = &raw.cluster.api_server;
    let endpoint = parse_host(&api.endpoint);
    if endpoint.is_none() {
        c.err("cluster.apiServer.endpoint", format!("{:?} is neither an IP address nor a DNS name", api.endpoint));
    }
    if api.port == 0 {
        c.err("cluster.apiServer.port", "must be between 1 and 65535");
    }
    let mut extra_sans = Vec::new();
    for (i, s) in api.extra_sans.iter().enumerate() {
        match parse_host(s) {
            Some(h) => extra_sans.push(h),
            None => c.err(
                format!("cluster.apiServer.extraSANs[{i}]"),
                format!("{s:?} is neither an IP address nor a DNS name"),
            ),
        }
    }

    // network
    let net = &raw.cluster.network;
    let service_cidr = Cidr::parse(&net.service_cidr).map_err(|e| c.err("cluster.network.serviceCIDR", e)).ok();
    let pod_cidr = Cidr::parse(&net.pod_cidr).map_err(|e| c.err("cluster.network.podCIDR", e)).ok();
    if let Some(s) = service_cidr {
        // Address 1 is the kubernetes Service, address 10 the cluster DNS.
        if s.size() < 16 {
            c.err(
                "cluster.network.serviceCIDR",
                format!("{s} is too small: it must hold the kubernetes Service (1st address) and cluster DNS (10th); use at least /28"),
            );
        }
        if s.is_ipv6() && s.prefix() < 108 {
            c.err(
                "cluster.network.serviceCIDR",
                format!("{s}: an IPv6 service range may be at most /108 in size (kube-apiserver limit)"),
            );
        } else if !s.is_ipv6() && s.prefix() < 12 {
            c.err(
                "cluster.network.serviceCIDR",
                format!("{s}: an IPv4 service range may be at most /12 in size (kube-apiserver limit)"),
            );
        }
    }
    if let (Some(s), Some(p)) = (service_cidr, pod_cidr) {
        if s.is_ipv6() != p.is_ipv6() {
            c.err(
                "cluster.network.podCIDR",
                format!("{p} and serviceCIDR {s} are of different IP families; dual-stack is not supported"),
            );
        } else if s.overlaps(&p) {
            c.err("cluster.network.podCIDR", format!("{p} overlaps serviceCIDR {s}"));
        }
    }
    if !is_dns_subdomain(&net.dns_domain) {
        c.err("cluster.network.dnsDomain", format!("{:?} is not a DNS name", net.dns_domain));
    }
    let mask = match (net.node_cidr_mask_size, pod_cidr) {
        (Some(m), Some(p)) if m < p.prefix() || m > if p.is_ipv6() { 128 } else { 32 } => {
            c.err("cluster.network.nodeCIDRMaskSize", format!("/{m} does not fit inside podCIDR {p}"));
            None
        }
        (Some(m), _) => Some(m),
        (None, Some(p)) => Some(if p.is_ipv6() { 64 } else { 24 }.max(p.prefix())),
        (None, None) => None,
    };

    // pki
    let pki = &raw.pki;
    let not_before = parse_time(&pki.not_before).map_err(|e| c.err("pki.notBefore", e)).ok();
    for (path, days) in [("pki.caValidityDays", pki.ca_validity_days), ("pki.certValidityDays", pki.cert_validity_days)]
    {
        if days == 0 || days > MAX_VALIDITY_DAYS {
            c.err(path, format!("{days} days is out of range (1..={MAX_VALIDITY_DAYS})"));
        }
    }
    if pki.cert_validity_days > pki.ca_validity_days {
        c.err(
            "pki.certValidityDays",
            format!(
                "{} days outlives the CAs ({} days, pki.caValidityDays): a leaf certificate must expire no later than its CA",
                pki.cert_validity_days, pki.ca_validity_days
            ),
        );
    }

    // encryption
    let enc = &raw.encryption;
    if enc.keys.is_empty() {
        c.err("encryption.keys", "at least one key name is required (the first one encrypts)");
    }
    let mut seen_keys = BTreeSet::new();
    for (i, k) in enc.keys.iter().enumerate() {
        let ok = !k.is_empty()
            && k.len() <= 63
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            c.err(
                format!("encryption.keys[{i}]"),
                format!("{k:?} is not a key name (letters, digits, '-', '_', '.', at most 63)"),
            );
        } else if !seen_keys.insert(k.as_str()) {
            c.err(format!("encryption.keys[{i}]"), format!("duplicate key name {k:?}"));
        }
    }
    if enc.provider == Provider::Aescbc {
        c.warn(
            "encryption.provider",
            "aescbc is not recommended by the Kubernetes docs due to CBC's vulnerability to padding oracle attacks; prefer secretbox",
        );
    }

    let cluster_dns = match (&net.cluster_dns, service_cidr) {
        (Some(s), Some(sc)) => match s.parse::<IpAddr>() {
            Ok(ip) if sc.contains(ip) && Some(ip) != sc.nth(0) && Some(ip) != sc.nth(1) => Some(ip),
            Ok(ip) => {
                c.err(
                    "cluster.network.clusterDNS",
                    format!("{ip} must be an address of serviceCIDR {sc} other than its first two"),
                );
                None
            }
            Err(_) => {
                c.err("cluster.network.clusterDNS", format!("{s:?} is not an IP address"));
                None
            }
        },
        (None, Some(sc)) => sc.nth(10),
        (_, None) => None,
    };
    let binaries = validate_binaries(&raw.binaries, version, &mut c);
    let user_data_budget = raw.user_data.budget_bytes.unwrap_or(DEFAULT_USER_DATA_BUDGET);
    if user_data_budget < 4096 {
        c.err(
            "userData.budgetBytes",
            format!("{user_data_budget} bytes cannot hold any node's user-data; use at least 4096"),
        );
    }

    // nodes
    let nodes = validate_nodes(raw, &mut c, service_cidr, pod_cidr, mask);

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    match (version, endpoint, service_cidr, pod_cidr, not_before, nodes, cluster_dns, binaries) {
        (
            Some(version),
            Some(endpoint),
            Some(service_cidr),
            Some(pod_cidr),
            Some(not_before),
            Some(nodes),
            Some(cluster_dns),
            Some(binaries),
        ) => {
            let topology = Topology {
                name,
                version,
                endpoint,
                port: api.port,
                extra_sans,
                service_cidr,
                pod_cidr,
                dns_domain: net.dns_domain.clone(),
                not_before,
                ca_validity_days: pki.ca_validity_days,
                cert_validity_days: pki.cert_validity_days,
                key_algorithm: pki.key_algorithm,
                provider: enc.provider,
                encryption_keys: enc.keys.clone(),
                nodes,
                cluster_dns,
                binaries,
                user_data_budget,
                bootstrap_tokens: raw.cluster.bootstrap_tokens,
                pod_routes: net.pod_routes,
                kubelet_credentials: raw.cluster.kubelet_credentials,
            };
            if topology.binaries.runtime == Runtime::Packages && topology.version.minor >= 36 {
                c.warn(
                    "binaries.runtime",
                    "distribution packages ship containerd 1.x (Debian 12/13, Ubuntu 24.04); Kubernetes 1.36 and later need containerd 2.x: prefer runtime: tarballs",
                );
            }
            if let Some(p) = check_endpoint(&topology) {
                c.warnings.push(p);
            }
            Ok(Checked { topology, warnings: c.warnings })
        }
        // Every None above recorded a problem, so this arm is unreachable in practice.
        _ => Err(vec![Problem::new("", "topology is incomplete")]),
    }
}

/// Characters allowed in URLs and versions that end up in shell scripts and unit files: no quotes,
/// spaces, `$`, backquotes or other shell syntax.
fn is_plain_url(s: &str) -> bool {
    s.starts_with("https://")
        && s.len() > "https://".len()
        && !s.ends_with('/')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:/%+@".contains(&b))
}

fn is_plain_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b))
}

fn validate_binaries(raw: &RawBinaries, version: Option<Version>, c: &mut Collector) -> Option<Binaries> {
    let before = c.problems.len();
    let mut url = |field: &str, v: &Option<String>, default: &str| -> String {
        let u = v.clone().unwrap_or_else(|| default.to_string());
        if !is_plain_url(&u) {
            c.err(
                format!("binaries.{field}"),
                format!("{u:?} must be an https:// URL without a trailing slash, spaces, quotes or shell characters"),
            );
        }
        u
    };
    let base_url = url("baseURL", &raw.base_url, DEFAULT_BASE_URL);
    let etcd_base_url = url("etcdBaseURL", &raw.etcd_base_url, DEFAULT_ETCD_BASE_URL);
    let runtime_base_url = url("runtimeBaseURL", &raw.runtime_base_url, DEFAULT_RUNTIME_BASE_URL);
    for (k, v) in &raw.sha256 {
        let path = format!("binaries.sha256.{k:?}");
        match k.split_once('/') {
            Some((comp, arch)) if COMPONENTS.contains(&comp) && ["amd64", "arm64"].contains(&arch) => {}
            _ => c.err(
                &path,
                format!(
                    "keys are component/arch with a component of {} and arch amd64 or arm64",
                    COMPONENTS.join(", ")
                ),
            ),
        }
        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            c.err(&path, "must be 64 lowercase hex digits (a sha256)");
        }
    }
    let defaults = version.and_then(versions::lookup)?;
    let rv = &raw.versions;
    let mut pick = |field: &str, v: &Option<String>, default: &str| -> String {
        let s = v.clone().unwrap_or_else(|| default.to_string());
        if !is_plain_version(&s) {
            c.err(format!("binaries.versions.{field}"), format!("{s:?} is not a release version like \"3.6.4\""));
        }
        s
    };
    let versions = ComponentVersions {
        etcd: pick("etcd", &rv.etcd, defaults.etcd),
        containerd: pick("containerd", &rv.containerd, defaults.containerd),
        runc: pick("runc", &rv.runc, defaults.runc),
        cni_plugins: pick("cniPlugins", &rv.cni_plugins, defaults.cni_plugins),
        crictl: pick("crictl", &rv.crictl, defaults.crictl),
        pause: pick("pause", &rv.pause, defaults.pause),
    };
    (c.problems.len() == before).then(|| Binaries {
        source: raw.source,
        base_url,
        etcd_base_url,
        runtime_base_url,
        runtime: raw.runtime,
        sha256: raw.sha256.clone(),
        versions,
    })
}

fn check_endpoint(t: &Topology) -> Option<Problem> {
    let cps: Vec<&Node> = t.nodes_with(Role::ControlPlane).collect();
    if cps.len() > 1 {
        if let Host::Ip(ip) = t.endpoint {
            if let Some(n) = cps.iter().find(|n| n.ips().contains(&ip)) {
                return Some(Problem::new(
                    "cluster.apiServer.endpoint",
                    format!(
                        "{ip} is controlplane node {}'s own address: with {} controlplanes the endpoint should be a load balancer, or clients lose the API when that node is down",
                        n.name,
                        cps.len()
                    ),
                ));
            }
        }
    }
    None
}

fn validate_nodes(
    raw: &RawTopology,
    c: &mut Collector,
    service_cidr: Option<Cidr>,
    pod_cidr: Option<Cidr>,
    mask: Option<u8>,
) -> Option<Vec<Node>> {
    if raw.nodes.is_empty() {
        c.err("nodes", "at least one node is required");
        return None;
    }
    let before = c.problems.len();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut ips: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(raw.nodes.len());
    let family_v6 = service_cidr.map(|s| s.is_ipv6());
    for (i, rn) in raw.nodes.iter().enumerate() {
        let p = |f: &str| format!("nodes[{i}].{f}");
        if !is_dns_label(&rn.name) {
            c.err(p("name"), format!("{:?} is not a DNS-1123 label (lowercase a-z, 0-9 and '-', at most 63)", rn.name));
        }
        match names.get(&rn.name.to_ascii_lowercase()) {
            Some(j) => c.err(p("name"), format!("{:?} is already the name of nodes[{j}]", rn.name)),
            None => {
                names.insert(rn.name.to_ascii_lowercase(), i);
            }
        }
        let mut check_ip = |field: &str, s: &str, c: &mut Collector| -> Option<IpAddr> {
            let Ok(ip) = s.parse::<IpAddr>() else {
                c.err(p(field), format!("{s:?} is not an IP address"));
                return None;
            };
            if let Some(prev) = ips.get(&ip) {
                c.err(p(field), format!("{ip} is already used by {prev}"));
            } else {
                ips.insert(ip, format!("nodes[{i}].{field}"));
            }
            if ip.is_unspecified() || ip.is_multicast() {
                c.err(p(field), format!("{ip} cannot be a node address"));
            }
            if let Some(v6) = family_v6 {
                if ip.is_ipv6() != v6 && field == "internalIP" {
                    c.err(
                        p(field),
                        format!("{ip} is not of the cluster's IP family (serviceCIDR); dual-stack is not supported"),
                    );
                }
            }
            for (cidr, what) in [(service_cidr, "serviceCIDR"), (pod_cidr, "podCIDR")] {
                if let Some(cidr) = cidr {
                    if cidr.contains(ip) {
                        c.err(p(field), format!("{ip} lies inside the cluster {what} {cidr}"));
                    }
                }
            }
            if ip.is_loopback() {
                c.warn(p(field), format!("{ip} is a loopback address: only useful for local test clusters"));
            }
            Some(ip)
        };
        let internal_ip = check_ip("internalIP", &rn.internal_ip, c);
        let external_ip = rn.external_ip.as_ref().map(|s| check_ip("externalIP", s, c));

        let mut roles = Vec::new();
        if rn.roles.is_empty() {
            c.err(p("roles"), "at least one role is required (controlplane, etcd, worker, loadbalancer)");
        }
        for (k, r) in rn.roles.iter().enumerate() {
            match Role::parse(r) {
                Some(role) if roles.contains(&role) => {
                    c.err(format!("nodes[{i}].roles[{k}]"), format!("role {r:?} is listed twice"))
                }
                Some(role) => roles.push(role),
                None => c.err(
                    format!("nodes[{i}].roles[{k}]"),
                    format!("unknown role {r:?} (expected controlplane, etcd, worker or loadbalancer)"),
                ),
            }
        }
        roles.sort();
        if roles.contains(&Role::LoadBalancer) && roles.contains(&Role::ControlPlane) {
            c.err(p("roles"), "loadbalancer and controlplane cannot share a node: both listen on the API port");
        }
        if rn.kubelet_credentials.is_some() && !roles.contains(&Role::Worker) {
            c.err(
                p("kubeletCredentials"),
                "only workers run a kubelet; remove kubeletCredentials or add the worker role",
            );
        }
        let mut node_pod_cidr = None;
        if let Some(s) = &rn.pod_cidr {
            if !roles.contains(&Role::Worker) {
                c.err(p("podCIDR"), "only workers have a pod range; remove podCIDR or add the worker role");
            }
            match Cidr::parse(s) {
                Ok(nc) => {
                    if let Some(pc) = pod_cidr {
                        if !pc.covers(&nc) {
                            c.err(p("podCIDR"), format!("{nc} is not inside the cluster podCIDR {pc}"));
                        }
                    }
                    node_pod_cidr = Some(nc);
                }
                Err(e) => c.err(p("podCIDR"), e),
            }
        }
        let external_ok = !matches!(external_ip, Some(None));
        if let (Some(internal_ip), true) = (internal_ip, external_ok) {
            nodes.push(Node {
                name: rn.name.clone(),
                internal_ip,
                external_ip: external_ip.flatten(),
                roles,
                pod_cidr: node_pod_cidr,
                arch: rn.arch,
                binaries: rn.binaries.unwrap_or(raw.binaries.source),
                kubelet_credentials: rn.kubelet_credentials.unwrap_or(raw.cluster.kubelet_credentials),
            });
        }
    }

    let count = |r: Role| nodes.iter().filter(|n| n.has(r)).count();
    if c.problems.len() == before {
        if count(Role::ControlPlane) == 0 {
            c.err("nodes", "no node has the controlplane role");
        }
        let etcd = count(Role::Etcd);
        if etcd == 0 {
            c.err("nodes", "no node has the etcd role");
        } else if etcd > MAX_ETCD_MEMBERS {
            c.err("nodes", format!("{etcd} etcd members: more than {MAX_ETCD_MEMBERS} slows every write and adds no useful fault tolerance"));
        } else if etcd == 1 {
            c.warn("nodes", "1 etcd member: no HA, losing that node loses the cluster state");
        } else if etcd % 2 == 0 {
            c.warn(
                "nodes",
                format!(
                    "{etcd} etcd members tolerate {} failure(s), no more than {}: use an odd count",
                    (etcd - 1) / 2,
                    etcd - 1
                ),
            );
        }
    }

    // Pod ranges: explicit ones must not overlap; the rest are allocated.
    let mut explicit: Vec<(usize, Cidr)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(nc) = n.pod_cidr {
            if let Some((j, _)) = explicit.iter().find(|(_, o)| o.overlaps(&nc)) {
                c.err(format!("nodes[{i}].podCIDR"), format!("{nc} overlaps the podCIDR of nodes[{j}]"));
            }
            explicit.push((i, nc));
        }
    }
    if c.problems.len() != before {
        return None;
    }
    if let (Some(pc), Some(mask)) = (pod_cidr, mask) {
        allocate_pod_cidrs(&mut nodes, pc, mask, c);
    }
    (c.problems.len() == before).then_some(nodes)
}

/// Gives every worker without a `podCIDR` a block of `/mask` from `cluster`.
///
/// Stable under change: a node's block is picked by hashing its name to a slot and probing forward
/// past slots already taken by explicit ranges or by auto-allocated nodes listed before it. Adding a
/// node (at the end of the list) therefore never moves another node's range.
fn allocate_pod_cidrs(nodes: &mut [Node], cluster: Cidr, mask: u8, c: &mut Collector) {
    let Some(slots) = cluster.subnet_count(mask) else { return };
    let wanted = nodes.iter().filter(|n| n.has(Role::Worker) && n.pod_cidr.is_none()).count() as u128;
    let mut used: BTreeSet<u128> = BTreeSet::new();
    for t in nodes.iter().filter_map(|n| n.pod_cidr) {
        if let Some((first, last)) = cluster.subnet_span(mask, &t) {
            // An explicit range larger than 2^20 slots cannot coexist with allocation anyway.
            for i in first..=last.min(first + (1 << 20)) {
                used.insert(i);
            }
        }
    }
    let free = slots.saturating_sub(used.len() as u128);
    if wanted > free {
        c.err(
            "cluster.network.podCIDR",
            format!("{cluster} holds {free} free /{mask} ranges but {wanted} workers need one"),
        );
        return;
    }
    for n in nodes.iter_mut().filter(|n| n.has(Role::Worker) && n.pod_cidr.is_none()) {
        let h = Sha256::digest(n.name.as_bytes());
        let mut start = [0u8; 16];
        start.copy_from_slice(&h[..16]);
        let mut slot = u128::from_be_bytes(start) % slots;
        while used.contains(&slot) {
            slot = (slot + 1) % slots;
        }
        used.insert(slot);
        n.pod_cidr = cluster.subnet(mask, slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_lose_the_parser_prefix_and_hints() {
        assert_eq!(
            clean_message("error: line 26 column 43: duplicate mapping key: internalIP, set DuplicateKeyPolicy in Options if acceptable"),
            "duplicate mapping key: internalIP"
        );
        assert_eq!(clean_message("error: line 6 column 11: invalid u16"), "invalid u16");
    }

    const BASE: &str = "cluster:\n  name: t\n  kubernetesVersion: \"1.36.0\"\n  apiServer: {endpoint: 10.0.0.1}\n  network: {serviceCIDR: 10.32.0.0/24, podCIDR: 10.200.0.0/22}\npki: {notBefore: \"2026-11-01T00:00:00Z\"}\nencryption: {keys: [key1]}\nnodes:\n  - {name: cp, internalIP: 10.0.0.2, roles: [controlplane, etcd]}\n";

    fn pods(extra: &str) -> Result<Vec<(String, Option<String>)>, Error> {
        let c = load("t.yaml", format!("{BASE}{extra}").as_bytes())?;
        Ok(c.topology.nodes.iter().map(|n| (n.name.clone(), n.pod_cidr.map(|c| c.to_string()))).collect())
    }

    #[test]
    fn pod_ranges_are_stable_when_nodes_are_appended() -> Result<(), Error> {
        let a = "  - {name: a, internalIP: 10.0.1.1, roles: [worker]}\n  - {name: b, internalIP: 10.0.1.2, roles: [worker]}\n";
        let c = "  - {name: c, internalIP: 10.0.1.3, roles: [worker]}\n";
        let two = pods(a)?;
        let three = pods(&format!("{a}{c}"))?;
        assert_eq!(two[..], three[..3]);
        let all: BTreeSet<_> = three.iter().filter_map(|(_, p)| p.clone()).collect();
        assert_eq!(all.len(), 3, "ranges must be distinct: {three:?}");
        assert!(three[0].1.is_none(), "controlplane-only nodes get no pod range");
        Ok(())
    }

    #[test]
    fn allocation_skips_explicit_ranges_and_reports_exhaustion() -> Result<(), Error> {
        // /22 holds four /24s: three explicit, one left for the automatic worker.
        let explicit = "  - {name: a, internalIP: 10.0.1.1, roles: [worker], podCIDR: 10.200.0.0/24}\n  - {name: b, internalIP: 10.0.1.2, roles: [worker], podCIDR: 10.200.1.0/24}\n  - {name: c, internalIP: 10.0.1.3, roles: [worker], podCIDR: 10.200.3.0/24}\n";
        let d = "  - {name: d, internalIP: 10.0.1.4, roles: [worker]}\n";
        let got = pods(&format!("{explicit}{d}"))?;
        assert_eq!(got[4].1.as_deref(), Some("10.200.2.0/24"));
        let e = "  - {name: e, internalIP: 10.0.1.5, roles: [worker]}\n";
        let err = pods(&format!("{explicit}{d}{e}")).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("holds 1 free /24 ranges but 2 workers need one"), "{err}");
        Ok(())
    }
}
