//! Every path of the bundle, defined once: cluster-level files by constant, per-node files relative to
//! `nodes/<name>/`, and the formulas for per-node, certificate, kubeconfig and user-data paths.

use super::certs::CertProfile;
use super::kubeconfigs::KubeconfigProfile;

/// The bundle's machine-readable index.
pub const INDEX: &str = "index.json";
/// The bundle's own README (how to deploy it).
pub const README: &str = "README.md";
/// Digest of every other file of the bundle (`sha256sum -c`).
pub const SUMS: &str = "SHA256SUMS";

/// The service-account signing key of generation 1.
pub const SA_KEY: &str = "pki/service-account.key";
/// Its public key, which the apiservers verify tokens with.
pub const SA_PUB: &str = "pki/service-account.pub";
/// The apiservers' EncryptionConfiguration.
pub const ENCRYPTION_CONFIG: &str = "encryption/encryption-config.yaml";

/// Configuration shared by all nodes of a role.
pub const KCM_UNIT: &str = "config/systemd/kube-controller-manager.service";
/// kube-scheduler's unit (every controller).
pub const SCHEDULER_UNIT: &str = "config/systemd/kube-scheduler.service";
/// containerd's unit (every worker, tarball runtime).
pub const CONTAINERD_UNIT: &str = "config/systemd/containerd.service";
/// KubeSchedulerConfiguration.
pub const SCHEDULER_CONFIG: &str = "config/kubernetes/kube-scheduler.yaml";
/// The apiservers' audit policy.
pub const AUDIT_POLICY: &str = "config/kubernetes/audit-policy.yaml";
/// KubeProxyConfiguration of workers with bundle certificates.
pub const KUBE_PROXY_CONFIG: &str = "config/kube-proxy/config.yaml";
/// KubeProxyConfiguration of TLS-bootstrapped workers.
pub const KUBE_PROXY_CONFIG_BOOTSTRAP: &str = "config/kube-proxy/config-bootstrap.yaml";
/// containerd's config.toml.
pub const CONTAINERD_CONFIG: &str = "config/containerd/config.toml";
/// crictl's configuration (containerd's socket).
pub const CRICTL_CONFIG: &str = "config/crictl.yaml";
/// The CNI loopback network.
pub const CNI_LOOPBACK: &str = "config/cni/99-loopback.conf";
/// Kernel modules every node loads at boot (overlay, br_netfilter).
pub const MODULES_LOAD: &str = "config/host/modules-load.conf";
/// sysctls every node sets (forwarding, bridge netfilter).
pub const SYSCTL: &str = "config/host/sysctl.conf";
/// HAProxy's configuration (load balancers).
pub const HAPROXY_CONFIG: &str = "config/haproxy/haproxy.cfg";
/// The load balancer's admin-socket helper (`hardway-lb drain|ready NODE`, used by plans).
pub const LB_HELPER: &str = "config/haproxy/hardway-lb";
/// HAProxy's systemd drop-in.
pub const HAPROXY_DROPIN: &str = "config/systemd/haproxy.service.d/10-hardway.conf";
/// The pod-range route table (`network.podRoutes: static`).
pub const POD_ROUTES: &str = "config/network/pod-routes";
/// The script that installs those routes.
pub const ROUTES_SCRIPT: &str = "config/network/routes.sh";
/// The unit that runs it at boot.
pub const ROUTES_UNIT: &str = "config/systemd/hardway-routes.service";

/// Per-node files, relative to `nodes/<name>/`.
pub const ETCD_UNIT: &str = "systemd/etcd.service";
/// kube-apiserver's unit.
pub const APISERVER_UNIT: &str = "systemd/kube-apiserver.service";
/// The kubelet's unit.
pub const KUBELET_UNIT: &str = "systemd/kubelet.service";
/// kube-proxy's unit.
pub const KUBE_PROXY_UNIT: &str = "systemd/kube-proxy.service";
/// KubeletConfiguration.
pub const KUBELET_CONFIG: &str = "kubelet-config.yaml";
/// The worker's CNI bridge network (its pod range).
pub const CNI_BRIDGE: &str = "cni/10-bridge.conf";
/// The script cloud-init runs once: downloads, host setup, units started in order.
pub const INSTALL_SCRIPT: &str = "install.sh";
/// With `secrets.delivery: archive`: obtains, checks and unpacks the node's secrets archive.
pub const FETCH_SECRETS: &str = "fetch-secrets.sh";
/// With the https secrets source: the CA of the server the archives come from.
pub const SECRETS_CA: &str = "config/secrets/ca.crt";

/// A node's secrets archive (`secrets.delivery: archive`).
pub fn secrets_archive(node: &str) -> String {
    format!("secrets/{node}.tar")
}

/// On a worker: the kubelet's `resolvConf`, a link install.sh makes to the host's upstream resolvers.
pub const RESOLV_CONF: &str = "/etc/kubernetes/resolv.conf";

/// On the node: what install.sh reached, "ok" or "failed: STEP" (index.json `nodeHealth`).
pub const NODE_STATUS: &str = "/var/lib/hardway/status";

/// Cluster manifests, in apply order, and the scripts that apply them.
pub const ADMIN_BINDING: &str = "manifests/00-admin-clusterrolebinding.yaml";
/// RBAC for the apiserver's calls to kubelets (logs, exec, nodes/proxy).
pub const APISERVER_TO_KUBELET: &str = "manifests/01-apiserver-to-kubelet-rbac.yaml";
/// CoreDNS: Deployment, Service, ConfigMap and RBAC.
pub const COREDNS: &str = "manifests/02-coredns.yaml";
/// RBAC of TLS bootstrap: CSR creation, auto-approval and renewal.
pub const BOOTSTRAP_RBAC: &str = "manifests/03-kubelet-bootstrap-rbac.yaml";
/// The bootstrap token Secrets.
pub const BOOTSTRAP_SECRETS: &str = "manifests/04-bootstrap-token-secrets.yaml";
/// Applies the manifests in order with the admin kubeconfig.
pub const APPLY: &str = "manifests/apply.sh";
/// Approves kubelet serving CSRs whose names and addresses match the topology.
pub const APPROVE_CSRS: &str = "manifests/approve-kubelet-serving-csrs.sh";

/// `nodes/<node>/<rel>`.
pub fn node_path(node: &str, rel: &str) -> String {
    format!("nodes/{node}/{rel}")
}

/// Where a certificate and its key live: `(cert, key)`; per-node ones under `nodes/<name>/pki/`; a CA
/// generation after the first as `pki/<ca>-genN`.
pub fn cert_paths(p: &CertProfile, node: Option<&str>, generation: u32) -> (String, String) {
    let stem = match node {
        Some(n) => node_path(n, &format!("pki/{}", p.name)),
        None if p.is_ca() && generation > 1 => format!("{}/{}-gen{generation}", p.dir, p.name),
        None => format!("{}/{}", p.dir, p.name),
    };
    (format!("{stem}.crt"), format!("{stem}.key"))
}

/// The trust bundle of a CA, which nodes and kubeconfigs trust: its certificate while only
/// generation 1 is trusted, else `pki/<ca>-trust.crt` (every trusted generation, the signing one first).
pub fn trust_bundle(p: &CertProfile, trusted: &[u32]) -> String {
    match trusted {
        [1] => cert_paths(p, None, 1).0,
        _ => format!("{}/{}-trust.crt", p.dir, p.name),
    }
}

/// The service-account key pair of generation `g`: `(private, public)`.
pub fn sa_paths(g: u32) -> (String, String) {
    match g {
        1 => (SA_KEY.into(), SA_PUB.into()),
        g => (format!("pki/service-account-gen{g}.key"), format!("pki/service-account-gen{g}.pub")),
    }
}

/// The public keys the apiservers trust for service-account tokens: generation 1's key file while
/// only it is trusted, else a file of every trusted generation's key, the signing one first.
pub fn sa_trust_bundle(trusted: &[u32]) -> String {
    match trusted {
        [1] => SA_PUB.into(),
        _ => "pki/service-account-trust.pub".into(),
    }
}

/// Where a kubeconfig lives: per node `nodes/<name>/<name>.kubeconfig`, else in the profile's dir.
pub fn kubeconfig_path(p: &KubeconfigProfile, node: Option<&str>) -> String {
    match node {
        Some(n) => node_path(n, &format!("{}.kubeconfig", p.name)),
        None => format!("{}/{}.kubeconfig", p.dir, p.name),
    }
}

/// A node's plain user-data (cloud-config).
pub fn user_data_plain(node: &str) -> String {
    format!("user-data/{node}.yaml")
}

/// A node's gzipped user-data.
pub fn user_data_gzip(node: &str) -> String {
    format!("user-data/{node}.yaml.gz")
}
