//! The table of every command-line flag hardway writes into a unit, with the Kubernetes minors that
//! accept it, and the config API versions (plain data, checked by the tests below).

/// A program whose unit takes flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// etcd.
    Etcd,
    /// kube-apiserver.
    ApiServer,
    /// kube-controller-manager.
    ControllerManager,
    /// kube-scheduler.
    Scheduler,
    /// kubelet.
    Kubelet,
    /// kube-proxy.
    KubeProxy,
}

/// A flag and the Kubernetes minors (inclusive) whose component accepts it. For etcd the range is
/// Kubernetes minors too, and every etcd flag listed is accepted by etcd 3.4, 3.5 and 3.6.
#[derive(Debug)]
pub struct Flag {
    /// The program.
    pub component: Component,
    /// The flag without its dashes.
    pub name: &'static str,
    /// The first Kubernetes minor that accepts it.
    pub since: u32,
    /// The last Kubernetes minor known to accept it.
    pub until: u32,
}

const fn f(component: Component, name: &'static str) -> Flag {
    Flag { component, name, since: 33, until: 37 }
}

use Component::*;

/// Every flag hardway writes into a unit. Sources, per component, for the 1.33-1.37 range:
/// - etcd: `server/etcdmain/config.go` (flags present since etcd 3.3 and still in 3.6; the removed
///   ones, e.g. `--enable-v2`, `--experimental-*` renames in 3.6, are not used).
/// - kube-apiserver: `cmd/kube-apiserver/app/options/options.go` and
///   `staging/src/k8s.io/apiserver/pkg/server/options/*` (`--cloud-provider`/`--cloud-config` were
///   removed in 1.33 and are not used; `--service-account-issuer` and `--service-account-signing-key-file`
///   are required since 1.20).
/// - kube-controller-manager: `cmd/kube-controller-manager/app/options/*`.
/// - kube-scheduler: `cmd/kube-scheduler/app/options/*` (configuration in KubeSchedulerConfiguration v1).
/// - kubelet: `cmd/kubelet/app/options/options.go`; everything else is in KubeletConfiguration
///   (`--pod-infra-container-image` removed in 1.35, `--cloud-config` in 1.34, `--container-runtime`
///   in 1.27: none used).
/// - kube-proxy: `cmd/kube-proxy/app/options.go` (configuration in KubeProxyConfiguration v1alpha1).
pub const FLAGS: &[Flag] = &[
    // etcd
    f(Etcd, "name"),
    f(Etcd, "data-dir"),
    f(Etcd, "cert-file"),
    f(Etcd, "key-file"),
    f(Etcd, "peer-cert-file"),
    f(Etcd, "peer-key-file"),
    f(Etcd, "trusted-ca-file"),
    f(Etcd, "peer-trusted-ca-file"),
    f(Etcd, "client-cert-auth"),
    f(Etcd, "peer-client-cert-auth"),
    f(Etcd, "listen-client-urls"),
    f(Etcd, "advertise-client-urls"),
    f(Etcd, "listen-peer-urls"),
    f(Etcd, "initial-advertise-peer-urls"),
    f(Etcd, "initial-cluster"),
    f(Etcd, "initial-cluster-token"),
    f(Etcd, "initial-cluster-state"),
    f(Etcd, "listen-metrics-urls"),
    // kube-apiserver
    f(ApiServer, "advertise-address"),
    f(ApiServer, "allow-privileged"),
    f(ApiServer, "audit-log-maxage"),
    f(ApiServer, "audit-log-maxbackup"),
    f(ApiServer, "audit-log-maxsize"),
    f(ApiServer, "audit-log-path"),
    f(ApiServer, "audit-policy-file"),
    f(ApiServer, "authorization-mode"),
    f(ApiServer, "bind-address"),
    f(ApiServer, "client-ca-file"),
    f(ApiServer, "enable-admission-plugins"),
    f(ApiServer, "enable-bootstrap-token-auth"),
    f(ApiServer, "encryption-provider-config"),
    f(ApiServer, "etcd-cafile"),
    f(ApiServer, "etcd-certfile"),
    f(ApiServer, "etcd-keyfile"),
    f(ApiServer, "etcd-servers"),
    f(ApiServer, "kubelet-certificate-authority"),
    f(ApiServer, "kubelet-client-certificate"),
    f(ApiServer, "kubelet-client-key"),
    f(ApiServer, "kubelet-preferred-address-types"),
    f(ApiServer, "proxy-client-cert-file"),
    f(ApiServer, "proxy-client-key-file"),
    f(ApiServer, "requestheader-allowed-names"),
    f(ApiServer, "requestheader-client-ca-file"),
    f(ApiServer, "requestheader-extra-headers-prefix"),
    f(ApiServer, "requestheader-group-headers"),
    f(ApiServer, "requestheader-username-headers"),
    f(ApiServer, "secure-port"),
    f(ApiServer, "service-account-issuer"),
    f(ApiServer, "service-account-key-file"),
    f(ApiServer, "service-account-signing-key-file"),
    f(ApiServer, "service-cluster-ip-range"),
    f(ApiServer, "service-node-port-range"),
    f(ApiServer, "shutdown-delay-duration"),
    f(ApiServer, "shutdown-send-retry-after"),
    f(ApiServer, "tls-cert-file"),
    f(ApiServer, "tls-private-key-file"),
    f(ApiServer, "v"),
    // kube-controller-manager
    f(ControllerManager, "allocate-node-cidrs"),
    f(ControllerManager, "authentication-kubeconfig"),
    f(ControllerManager, "authorization-kubeconfig"),
    f(ControllerManager, "bind-address"),
    f(ControllerManager, "client-ca-file"),
    f(ControllerManager, "cluster-cidr"),
    f(ControllerManager, "cluster-name"),
    f(ControllerManager, "cluster-signing-cert-file"),
    f(ControllerManager, "cluster-signing-key-file"),
    f(ControllerManager, "controllers"),
    f(ControllerManager, "kubeconfig"),
    f(ControllerManager, "leader-elect"),
    f(ControllerManager, "requestheader-client-ca-file"),
    f(ControllerManager, "root-ca-file"),
    f(ControllerManager, "service-account-private-key-file"),
    f(ControllerManager, "service-cluster-ip-range"),
    f(ControllerManager, "use-service-account-credentials"),
    f(ControllerManager, "v"),
    // kube-scheduler
    f(Scheduler, "config"),
    f(Scheduler, "authentication-kubeconfig"),
    f(Scheduler, "authorization-kubeconfig"),
    f(Scheduler, "bind-address"),
    f(Scheduler, "v"),
    // kubelet
    f(Kubelet, "config"),
    f(Kubelet, "kubeconfig"),
    f(Kubelet, "bootstrap-kubeconfig"),
    f(Kubelet, "hostname-override"),
    f(Kubelet, "node-ip"),
    f(Kubelet, "v"),
    // kube-proxy
    f(KubeProxy, "config"),
    f(KubeProxy, "hostname-override"),
    f(KubeProxy, "v"),
];

/// Whether `component` of Kubernetes `minor` accepts `--name`.
pub fn accepts(component: Component, name: &str, minor: u32) -> bool {
    FLAGS.iter().any(|f| f.component == component && f.name == name && (f.since..=f.until).contains(&minor))
}

/// Config API versions, the same across 1.33-1.37: KubeSchedulerConfiguration v1 (v1beta3 removed in
/// 1.29), KubeletConfiguration v1beta1, KubeProxyConfiguration v1alpha1, EncryptionConfiguration v1,
/// audit Policy v1.
pub const SCHEDULER_CONFIG_API: &str = "kubescheduler.config.k8s.io/v1";
/// KubeletConfiguration's apiVersion.
pub const KUBELET_CONFIG_API: &str = "kubelet.config.k8s.io/v1beta1";
/// KubeProxyConfiguration's apiVersion.
pub const KUBE_PROXY_CONFIG_API: &str = "kubeproxy.config.k8s.io/v1alpha1";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::versions::MINORS;

    #[test]
    fn flags_are_unique_and_ranges_cover_supported_minors_only() {
        let (lo, hi) = (MINORS[0].minor, MINORS[MINORS.len() - 1].minor);
        for (i, a) in FLAGS.iter().enumerate() {
            assert!(a.since <= a.until && a.since >= lo && a.until <= hi, "{a:?}");
            assert!(!a.name.starts_with('-'), "{a:?}");
            for b in &FLAGS[i + 1..] {
                assert!(!(a.component == b.component && a.name == b.name), "duplicate {a:?}");
            }
        }
        // Flags removed upstream must never be in the table (reference: flags removed per version).
        for (c, name) in [
            (ApiServer, "insecure-port"),
            (ApiServer, "kubelet-https"),
            (ApiServer, "cloud-provider"),
            (ApiServer, "experimental-encryption-provider-config"),
            (Kubelet, "network-plugin"),
            (Kubelet, "container-runtime"),
            (Kubelet, "pod-infra-container-image"),
            (Kubelet, "cloud-config"),
            (Kubelet, "keep-terminated-pod-volumes"),
            (ControllerManager, "port"),
            (ControllerManager, "address"),
        ] {
            assert!(!FLAGS.iter().any(|f| f.component == c && f.name == name), "{name} was removed upstream");
        }
    }
}
