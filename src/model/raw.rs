//! The topology file as written: raw serde types (unknown fields are errors), the settings enums
//! shared with the validated model, and the JSON Schema generated from them.

use super::net::Cidr;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A hardway topology: the cluster, its PKI and encryption settings, and its nodes.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "hardway topology")]
pub struct RawTopology {
    /// The cluster: name, Kubernetes version, API endpoint, network, kubelet credentials.
    pub cluster: RawCluster,
    /// Certificates and keys: validity, key algorithm, renewal and rotation settings.
    pub pki: RawPki,
    /// Encryption at rest of Secrets: the provider and key names (the keys come from the seed).
    pub encryption: RawEncryption,
    /// The machines, each with its roles and addresses.
    pub nodes: Vec<RawNode>,
    /// Where binaries come from and which versions.
    #[serde(default)]
    pub binaries: RawBinaries,
    /// User-data limits.
    #[serde(default, rename = "userData")]
    pub user_data: RawUserData,
    /// Images and image archives (air-gapped clusters).
    #[serde(default)]
    pub images: RawImages,
    /// How secret files reach the nodes.
    #[serde(default)]
    pub secrets: RawSecrets,
}

/// How the nodes' secret files (private keys, the encryption config, bootstrap tokens) reach them.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecrets {
    /// `inline` (default): in the user-data with every other file. `archive`: in a per-node archive
    /// (`secrets/<node>.tar`) the node fetches at boot and checks against the SHA-256 its user-data pins.
    #[serde(default)]
    pub delivery: SecretsDelivery,
    /// Where a node obtains its archive (archive delivery).
    pub source: Option<RawSecretsSource>,
    /// What the archive holds (archive delivery): `secrets` (default), the secret files only; `all`, every
    /// file of the node but install.sh and what fetches the archive, for user-data that must be small
    /// (RSA-4096 certificates alone are too large for a 16 KiB budget).
    #[serde(default, rename = "archiveContents")]
    pub archive_contents: ArchiveContents,
}

/// Which of a node's files its secrets archive holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ArchiveContents {
    /// The secret files: private keys, the encryption config, kubeconfigs with credentials, tokens.
    #[default]
    Secrets,
    /// Every file but install.sh, the fetch script and the https source's CA.
    All,
}

/// Where a node's secret files travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecretsDelivery {
    /// In the user-data with every other file (its readers read the keys).
    #[default]
    Inline,
    /// In a per-node archive, fetched at boot and checked against the digest the user-data pins.
    Archive,
}

/// Exactly one of `file`, `https`, `s3`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSecretsSource {
    /// The archive is put on the node by the operator's tool (Terraform file provisioner, scp, SSM,
    /// a config drive): the node waits for it.
    pub file: Option<RawFileSource>,
    /// The node downloads its archive (curl, the given CA only, bounded retries).
    pub https: Option<RawHttpsSource>,
    /// The node fetches its archive with the AWS CLI and its instance role.
    pub s3: Option<RawS3Source>,
}

/// An archive the operator's tool puts on the node.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawFileSource {
    /// Where the archive appears on the node (default /run/hardway/secrets.tar).
    #[serde(default)]
    pub path: Option<String>,
    /// How long the node waits for it (default 900 s).
    #[serde(default)]
    pub wait_seconds: Option<u32>,
}

/// An archive the node downloads over HTTPS.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawHttpsSource {
    /// https URL; `{cluster}` and `{node}` are replaced by the cluster's and the node's names.
    pub url: String,
    /// The CA that signs the server's certificate (PEM file, relative to the topology file): the only
    /// one the node trusts for this download.
    pub ca_file: String,
}

/// An archive the node fetches from S3 (or an S3-compatible store).
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawS3Source {
    /// `s3://bucket/prefix/{node}.tar` (`{cluster}` and `{node}` replaced).
    pub url: String,
    /// An S3-compatible endpoint instead of AWS's.
    #[serde(default, rename = "endpointURL")]
    pub endpoint_url: Option<String>,
    /// Delete the object once fetched and checked (it holds the node's keys).
    #[serde(default)]
    pub delete_after_fetch: bool,
}

/// Container images the cluster runs that are not Kubernetes binaries, and image archives for
/// clusters without a registry (air-gapped).
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawImages {
    /// The pod sandbox ("pause") image containerd runs for every pod. Default:
    /// `registry.k8s.io/pause:<binaries.versions.pause>`.
    pub sandbox: Option<String>,
    /// The CoreDNS image of the add-on manifest. Default: `registry.k8s.io/coredns/coredns:<the version
    /// kubeadm ships with the Kubernetes minor>`.
    pub coredns: Option<String>,
    /// Image archives (docker or OCI archive tarballs) every worker imports into containerd's `k8s.io`
    /// namespace at boot, pinned so the kubelet's image garbage collection never removes them, before
    /// the kubelet starts: an air-gapped cluster's sandbox, CoreDNS and workload images.
    #[serde(default)]
    pub archives: Vec<RawImageArchive>,
}

/// One image archive: a file already on the node (`path`) or a download checked against `sha256`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawImageArchive {
    /// Absolute path of the archive on the node (baked into the image, or placed there).
    pub path: Option<String>,
    /// https URL to download the archive from (needs `sha256`).
    pub url: Option<String>,
    /// sha256 of the archive: required with `url`, checked when given with `path`.
    pub sha256: Option<String>,
}

/// How binaries reach the nodes.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawBinaries {
    /// `download` (default) or `preinstalled`.
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
    /// Where containerd, runc and the CNI plugins come from: release `tarballs` (default) or distribution `packages`.
    #[serde(default)]
    pub runtime: Runtime,
    /// `component/arch` -> sha256 hex. Absent ones are fetched from the checksum files published
    /// beside the downloads.
    #[serde(default)]
    pub sha256: BTreeMap<String, String>,
    /// Versions of etcd, containerd, runc, CNI plugins, crictl and pause (default: what kubeadm ships for the Kubernetes minor).
    #[serde(default)]
    pub versions: RawComponentVersions,
    /// Absolute paths of binaries the units run, by name (e.g. `etcd: /usr/bin/etcd`), for images
    /// that have them elsewhere than /usr/local/bin. Without one, a `preinstalled` node finds each
    /// binary itself (see the README).
    #[serde(default)]
    pub paths: BTreeMap<String, String>,
}

/// Versions of the components around Kubernetes; absent ones default to the Kubernetes minor's.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawComponentVersions {
    /// etcd, e.g. 3.6.8.
    pub etcd: Option<String>,
    /// containerd, e.g. 2.3.7.
    pub containerd: Option<String>,
    /// runc, e.g. 1.4.4.
    pub runc: Option<String>,
    /// CNI plugins, e.g. 1.9.1.
    pub cni_plugins: Option<String>,
    /// crictl, e.g. 1.36.0.
    pub crictl: Option<String>,
    /// The pause image's tag, e.g. 3.10.2 (the default sandbox image).
    pub pause: Option<String>,
}

/// User-data limits.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawUserData {
    /// Maximum size of a node's user-data in bytes (the gzip copy must fit). Default: EC2's 16,384.
    pub budget_bytes: Option<usize>,
}

/// The cluster as a whole.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawCluster {
    /// The cluster's name (kubeconfigs' cluster and context names, index.json).
    pub name: String,
    /// The Kubernetes version, e.g. 1.36.3 (a supported minor).
    pub kubernetes_version: String,
    /// How clients reach the apiservers.
    pub api_server: RawApiServer,
    /// Address ranges and DNS.
    pub network: RawNetwork,
    /// How kubelets get their credentials (default `certificates`); overridable per node.
    #[serde(default)]
    pub kubelet_credentials: KubeletCredentials,
    /// In bootstrap mode: one token per node (default) or one shared by all.
    #[serde(default)]
    pub bootstrap_tokens: BootstrapTokens,
    /// When bootstrap tokens stop working (RFC 3339 UTC). Default: 24 hours after `pki.notBefore`
    /// (never moved by a renewal's `leafNotBefore`).
    #[serde(default)]
    pub bootstrap_tokens_expire: Option<String>,
    /// A new number gives every bootstrap token a new value (for workers that join later).
    #[serde(default)]
    pub bootstrap_token_generation: u32,
    /// The kubelets' `failCgroupV1` (KubeletConfiguration): since Kubernetes 1.35 a kubelet refuses
    /// a host with cgroup v1 unless this is false. Set false only for hosts that cannot run cgroup v2
    /// (e.g. Amazon Linux 2, hybrid hierarchies); cgroup v1 support is deprecated upstream.
    #[serde(default, rename = "failCgroupV1")]
    pub fail_cgroup_v1: Option<bool>,
    /// containerd's `restrict_oom_score_adj`: pods' OOM score adjustments never go below containerd's
    /// own. For nodes whose root cannot lower OOM scores (no CAP_SYS_RESOURCE: unprivileged or
    /// restricted system containers), where the pod sandbox's -998 would fail every pod.
    #[serde(default, rename = "restrictOOMScoreAdj")]
    pub restrict_oom_score_adj: bool,
}

/// How workers' kubelets get their credentials.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KubeletCredentials {
    /// The bundle holds each kubelet's client and serving certificates, signed by the cluster CA.
    #[default]
    Certificates,
    /// TLS bootstrap: a bootstrap token; the kubelet requests its certificates from the cluster.
    Bootstrap,
}

/// How many bootstrap tokens TLS-bootstrapped workers share.
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

/// The API endpoint.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawApiServer {
    /// Host name or IP in every kubeconfig's server URL (a load balancer, or one controller).
    pub endpoint: String,
    /// 1-65535, default 6443.
    #[serde(default = "default_port")]
    pub port: i64,
    /// More names and addresses for the apiserver certificate.
    #[serde(default, rename = "extraSANs")]
    pub extra_sans: Vec<String>,
}

fn default_port() -> i64 {
    6443
}

/// The cluster's address ranges and DNS.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    /// Services' virtual IP range, e.g. 10.32.0.0/24.
    #[serde(rename = "serviceCIDR")]
    #[schemars(with = "String")]
    pub service_cidr: CidrText,
    /// All pods' addresses, e.g. 10.200.0.0/16; each worker gets a part.
    #[serde(rename = "podCIDR")]
    #[schemars(with = "String")]
    pub pod_cidr: CidrText,
    /// The cluster DNS domain (default cluster.local).
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

/// How pods on different workers reach each other.
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

/// A CIDR as written: one string, or a list (dual-stack, which validation refuses with its own message).
#[derive(Debug)]
pub enum CidrText {
    /// One range.
    One(String),
    /// A list of ranges.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for CidrText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CidrText, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = CidrText;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a CIDR block like 10.32.0.0/24")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<CidrText, E> {
                Ok(CidrText::One(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<CidrText, A::Error> {
                let mut v = Vec::new();
                while let Some(s) = a.next_element::<String>()? {
                    v.push(s);
                }
                Ok(CidrText::List(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl CidrText {
    pub(super) fn parse(&self) -> Result<Cidr, String> {
        match self {
            CidrText::One(s) => Cidr::parse(s),
            CidrText::List(v) if v.len() == 1 => Cidr::parse(&v[0]),
            CidrText::List(_) => {
                Err("dual-stack (a list of an IPv4 and an IPv6 range) is not supported yet; give one range".into())
            }
        }
    }
}

fn default_dns_domain() -> String {
    "cluster.local".into()
}

/// Certificates and keys.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RawPki {
    /// Start of CA generation 1, and of the leaves unless `leafNotBefore`.
    pub not_before: String,
    /// How long each CA generation is valid (default 3650 days).
    #[serde(default = "default_ca_days")]
    pub ca_validity_days: u32,
    /// How long each leaf certificate is valid (default 365 days).
    #[serde(default = "default_cert_days")]
    pub cert_validity_days: u32,
    /// The algorithm of every key (default ecdsa-p256).
    #[serde(default)]
    pub key_algorithm: KeyAlgorithm,
    /// Renewal: every leaf certificate re-issued from this instant, with the same keys.
    #[serde(default)]
    pub leaf_not_before: Option<String>,
    /// Rekey: a new number gives every leaf a new key.
    #[serde(default)]
    pub leaf_key_generation: u32,
    /// CA rotation: the notBefore of each CA generation after the first, by generation number.
    #[serde(default, rename = "caGenerations")]
    pub ca_generations: BTreeMap<u32, String>,
    /// The CA generation that signs the leaves (default 1).
    #[serde(default, rename = "signingCA")]
    pub signing_ca: Option<u32>,
    /// The CA generations every trust bundle carries (default: the signing one).
    #[serde(default, rename = "trustedCAs")]
    pub trusted_cas: Option<Vec<u32>>,
    /// Service-account token key rotation.
    #[serde(default)]
    pub service_account_keys: Option<RawServiceAccountKeys>,
}

/// Which service-account key generations sign and are trusted.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServiceAccountKeys {
    /// The key generation that signs tokens (default 1).
    #[serde(default)]
    pub signing: Option<u32>,
    /// The key generations whose tokens the apiservers accept (default: the signing one).
    #[serde(default)]
    pub trusted: Option<Vec<u32>>,
}

fn default_ca_days() -> u32 {
    3650
}
fn default_cert_days() -> u32 {
    365
}

/// Encryption at rest of Secrets.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawEncryption {
    /// The provider of every key that names none.
    #[serde(default)]
    pub provider: Provider,
    /// Key names, the first encrypts; a key under another provider is `{name, provider}` (a provider
    /// change: add a new key under the new provider second, roll out, move it first, re-encrypt).
    pub keys: Vec<RawKey>,
}

/// An encryption key: its name (under `encryption.provider`), or its name and its own provider.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum RawKey {
    /// A key under `encryption.provider`.
    Name(String),
    /// A key under a provider of its own.
    WithProvider(RawKeySpec),
}

/// A key with its own provider.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKeySpec {
    /// The key's name (its material comes from the seed and the name).
    pub name: String,
    /// Its provider.
    pub provider: Provider,
}

impl RawKey {
    /// The key's name.
    pub fn name(&self) -> &str {
        match self {
            RawKey::Name(n) => n,
            RawKey::WithProvider(k) => &k.name,
        }
    }
}

/// One machine.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawNode {
    /// Its name: host name, certificate CN of its kubelet, and file names in the bundle.
    pub name: String,
    /// The address the other nodes reach it at.
    #[serde(rename = "internalIP")]
    pub internal_ip: String,
    /// An address outside the cluster network (added to its certificates' SANs).
    #[serde(rename = "externalIP", default)]
    pub external_ip: Option<String>,
    /// Any of controlplane, etcd, worker, loadbalancer.
    pub roles: Vec<String>,
    /// A worker's pod range (default: allocated from podCIDR in node order).
    #[serde(rename = "podCIDR", default)]
    pub pod_cidr: Option<String>,
    /// amd64 (default) or arm64.
    #[serde(default)]
    pub arch: Arch,
    /// Overrides `binaries.source` for this node.
    #[serde(default)]
    pub binaries: Option<BinarySource>,
    /// Overrides `cluster.kubeletCredentials` for this worker.
    #[serde(rename = "kubeletCredentials", default)]
    pub kubelet_credentials: Option<KubeletCredentials>,
    /// etcd members only: `existing` for a member added to a running cluster (after `etcdctl member
    /// add`); its unit then says `--initial-cluster-state=existing`. Ignored by etcd once the member
    /// has data, so it may stay set.
    #[serde(rename = "etcdInitialClusterState", default)]
    pub etcd_initial_cluster_state: Option<EtcdClusterState>,
}

/// How an etcd member starts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EtcdClusterState {
    /// The member forms the cluster with the others of the topology (first boot).
    #[default]
    New,
    /// The member joins a running cluster that already lists it (`etcdctl member add`).
    Existing,
}

impl EtcdClusterState {
    /// The value of etcd's `--initial-cluster-state`.
    pub fn as_str(self) -> &'static str {
        match self {
            EtcdClusterState::New => "new",
            EtcdClusterState::Existing => "existing",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validated form.

/// The algorithm of every key hardway derives.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum KeyAlgorithm {
    /// ECDSA on P-256 (small: fits user-data budgets).
    #[default]
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
    /// RSA, 2048 bits.
    #[serde(rename = "rsa-2048")]
    Rsa2048,
    /// RSA, 3072 bits.
    #[serde(rename = "rsa-3072")]
    Rsa3072,
    /// RSA, 4096 bits.
    #[serde(rename = "rsa-4096")]
    Rsa4096,
}

impl KeyAlgorithm {
    /// The name as written in topologies.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ecdsa-p256",
            KeyAlgorithm::Rsa2048 => "rsa-2048",
            KeyAlgorithm::Rsa3072 => "rsa-3072",
            KeyAlgorithm::Rsa4096 => "rsa-4096",
        }
    }
}

/// An EncryptionConfiguration provider.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// XSalsa20 and Poly1305 (Kubernetes' recommended local provider).
    #[default]
    Secretbox,
    /// AES-GCM (Kubernetes: rotate a key before about 200,000 writes).
    Aesgcm,
    /// AES-CBC (not recommended: vulnerable to padding-oracle attacks).
    Aescbc,
}

impl Provider {
    /// The provider's name in the EncryptionConfiguration.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Secretbox => "secretbox",
            Provider::Aesgcm => "aesgcm",
            Provider::Aescbc => "aescbc",
        }
    }
}

/// How a node gets its binaries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BinarySource {
    /// Download and sha256-verify every binary at first boot.
    #[default]
    Download,
    /// The image already has every binary; user-data only configures.
    Preinstalled,
}

/// Where the container runtime's binaries come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// containerd, runc, CNI plugins and crictl from their release tarballs (/usr/local/bin, /opt/cni/bin).
    #[default]
    Tarballs,
    /// containerd, runc and CNI plugins from the distribution's packages (/usr/bin, /usr/lib/cni).
    Packages,
}

/// A node's CPU architecture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86-64.
    #[default]
    Amd64,
    /// 64-bit ARM.
    Arm64,
}

impl Arch {
    /// The name in release URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// The JSON Schema of the topology file, generated from the raw types above (`hardway schema`).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(RawTopology);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}
