//! Supported Kubernetes releases: per minor, the default versions of the components around Kubernetes.

use super::Version;

/// One supported minor release and the component versions used with it by default (each can be
/// overridden in the topology under `binaries.versions`).
///
/// Sources: kubeadm's `cmd/kubeadm/app/constants/constants.go` of each release (`DefaultEtcdVersion`,
/// `PauseVersion`, `CoreDNSVersion`; read from the k8s.io/kubernetes module: v1.34.4, v1.35.4, v1.36.3,
/// v1.37.2). containerd per containerd's RELEASES.md (1.34: 2.1.3+; 1.35: 2.1.5+, 2.2.0+; 1.36: 2.2.0+,
/// 2.3.0+); 1.36 names the containerd, runc and CNI plugins the cluster test runs. crictl follows the
/// Kubernetes minor (cri-tools releases one per minor).
#[derive(Debug)]
pub struct Minor {
    /// The Kubernetes minor (1.x).
    pub minor: u32,
    /// etcd's version kubeadm ships for it.
    pub etcd: &'static str,
    /// The pause image's tag.
    pub pause: &'static str,
    /// CoreDNS's image tag.
    pub coredns: &'static str,
    /// crictl's version.
    pub crictl: &'static str,
    /// containerd's version.
    pub containerd: &'static str,
    /// runc's version.
    pub runc: &'static str,
    /// The CNI plugins' version.
    pub cni_plugins: &'static str,
}

/// Supported minors, oldest first.
#[rustfmt::skip]
pub const MINORS: &[Minor] = &[
    Minor { minor: 33, etcd: "3.5.21", pause: "3.10",   coredns: "v1.12.0", crictl: "1.33.0", containerd: "2.1.5", runc: "1.3.4", cni_plugins: "1.6.2" },
    Minor { minor: 34, etcd: "3.6.5",  pause: "3.10.1", coredns: "v1.12.1", crictl: "1.34.0", containerd: "2.1.5", runc: "1.3.4", cni_plugins: "1.6.2" },
    Minor { minor: 35, etcd: "3.6.6",  pause: "3.10.1", coredns: "v1.13.1", crictl: "1.35.0", containerd: "2.2.9", runc: "1.3.4", cni_plugins: "1.6.2" },
    Minor { minor: 36, etcd: "3.6.8",  pause: "3.10.2", coredns: "v1.14.2", crictl: "1.36.0", containerd: "2.3.7", runc: "1.4.4", cni_plugins: "1.9.1" },
    Minor { minor: 37, etcd: "3.7.0",  pause: "3.10.2", coredns: "v1.14.6", crictl: "1.37.0", containerd: "2.3.7", runc: "1.4.4", cni_plugins: "1.9.1" },
];

/// The row of `v`'s minor, if supported.
pub fn lookup(v: Version) -> Option<&'static Minor> {
    if v.major != 1 {
        return None;
    }
    MINORS.iter().find(|m| m.minor == v.minor)
}

/// Whether hardway supports `v`'s minor.
pub fn is_supported(v: Version) -> bool {
    lookup(v).is_some()
}

/// "1.33, 1.34, ..." for error messages.
pub fn supported_list() -> String {
    MINORS.iter().map(|m| format!("1.{}", m.minor)).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_contiguous() {
        for w in MINORS.windows(2) {
            assert_eq!(w[0].minor + 1, w[1].minor);
        }
        assert!(is_supported(Version { major: 1, minor: 36, patch: 2 }));
        assert!(!is_supported(Version { major: 2, minor: 36, patch: 0 }));
        assert!(!is_supported(Version { major: 1, minor: 32, patch: 0 }));
        assert_eq!(supported_list(), "1.33, 1.34, 1.35, 1.36, 1.37");
    }
}
