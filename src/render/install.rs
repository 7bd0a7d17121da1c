//! The install script each node runs once from cloud-init: host prerequisites, downloads checked
//! with sha256 (or, for preinstalled binaries, where each one is), and the packages it needs.

use crate::bundle::{Bundle, MODE_EXEC};
use crate::catalog::node_files::Source;
use crate::catalog::paths;
use crate::error::Result;
use crate::fmt::escape::shell_word as shq;
use crate::fmt::templates;
use crate::model::{Arch, BinarySource, ImageArchive, Node, Role, Runtime, Topology};
use serde::Serialize;

/// A download of the install script.
#[derive(Serialize, Debug, Clone)]
pub struct Download {
    /// "kubelet", "etcd", "containerd", "image-archive", ...
    pub component: &'static str,
    /// Its version.
    pub version: String,
    /// "amd64" or "arm64".
    pub arch: &'static str,
    /// Where it comes from.
    pub url: String,
    /// File name in the script's temporary directory.
    pub file: String,
    /// Pinned in the topology, or empty: then taken from `sums_url`.
    pub sha256: String,
    /// Where its published sha256 is, when the topology pins none.
    pub sums_url: String,
    /// Shell commands that install the verified file.
    pub install: Vec<String>,
}

fn k8s_download(t: &Topology, arch: Arch, name: &'static str) -> Download {
    let url = format!("{}/v{}/bin/linux/{}/{name}", t.binaries.base_url, t.version, arch.as_str());
    Download {
        component: name,
        version: t.version.to_string(),
        arch: arch.as_str(),
        sha256: pinned(t, name, arch),
        sums_url: format!("{url}.sha256"),
        url,
        file: name.to_string(),
        install: vec![format!("install -m 0755 \"$tmp\"/{} {}", shq(name), shq(&format!("/usr/local/bin/{name}")))],
    }
}

fn pinned(t: &Topology, component: &str, arch: Arch) -> String {
    t.binaries.sha256.get(&format!("{component}/{}", arch.as_str())).cloned().unwrap_or_default()
}

/// Everything the node downloads, in install order: binaries (none for `preinstalled`), then the
/// image archives a worker imports that come from a URL.
pub fn downloads(t: &Topology, n: &Node) -> Vec<Download> {
    let mut out = binary_downloads(t, n);
    if n.has(Role::Worker) {
        for a in &t.images.archives {
            if let ImageArchive::Url { url, sha256 } = a {
                let dest = a.node_path();
                let file = dest.rsplit('/').next().unwrap_or_default().to_string();
                out.push(Download {
                    component: "image-archive",
                    version: file.clone(),
                    arch: n.arch.as_str(),
                    url: url.clone(),
                    sha256: sha256.clone(),
                    sums_url: String::new(),
                    install: vec![format!("install -D -m 0644 \"$tmp\"/{} {}", shq(&file), shq(&dest))],
                    file,
                });
            }
        }
    }
    out
}

fn binary_downloads(t: &Topology, n: &Node) -> Vec<Download> {
    if n.binaries == BinarySource::Preinstalled {
        return Vec::new();
    }
    let arch = n.arch;
    let a = arch.as_str();
    let v = &t.binaries.versions;
    let rb = &t.binaries.runtime_base_url;
    let mut out = Vec::new();
    if n.has(Role::Etcd) {
        let dir = format!("etcd-v{}-linux-{a}", v.etcd);
        let file = format!("{dir}.tar.gz");
        out.push(Download {
            component: "etcd",
            version: v.etcd.clone(),
            arch: a,
            url: format!("{}/v{}/{file}", t.binaries.etcd_base_url, v.etcd),
            sha256: pinned(t, "etcd", arch),
            sums_url: format!("{}/v{}/SHA256SUMS", t.binaries.etcd_base_url, v.etcd),
            install: vec![
                format!("tar -xzf \"$tmp\"/{} -C \"$tmp\"", shq(&file)),
                format!(
                    "install -m 0755 \"$tmp\"/{} \"$tmp\"/{} /usr/local/bin/",
                    shq(&format!("{dir}/etcd")),
                    shq(&format!("{dir}/etcdctl"))
                ),
            ],
            file,
        });
    }
    if n.has(Role::ControlPlane) {
        for name in ["kube-apiserver", "kube-controller-manager", "kube-scheduler"] {
            out.push(k8s_download(t, arch, name));
        }
    }
    if n.has(Role::ControlPlane) || n.has(Role::Worker) {
        out.push(k8s_download(t, arch, "kubectl"));
    }
    if n.has(Role::Worker) {
        for name in ["kubelet", "kube-proxy"] {
            out.push(k8s_download(t, arch, name));
        }
        if t.binaries.runtime == Runtime::Tarballs {
            let file = format!("containerd-{}-linux-{a}.tar.gz", v.containerd);
            let url = format!("{rb}/containerd/containerd/releases/download/v{}/{file}", v.containerd);
            out.push(Download {
                component: "containerd",
                version: v.containerd.clone(),
                arch: a,
                sha256: pinned(t, "containerd", arch),
                sums_url: format!("{url}.sha256sum"),
                url,
                install: vec![format!("tar -xzf \"$tmp\"/{} -C /usr/local", shq(&file))],
                file,
            });
            let file = format!("runc.{a}");
            let base = format!("{rb}/opencontainers/runc/releases/download/v{}", v.runc);
            out.push(Download {
                component: "runc",
                version: v.runc.clone(),
                arch: a,
                url: format!("{base}/{file}"),
                sha256: pinned(t, "runc", arch),
                sums_url: format!("{base}/runc.sha256sum"),
                install: vec![format!("install -m 0755 \"$tmp\"/{} /usr/local/sbin/runc", shq(&file))],
                file,
            });
            let file = format!("cni-plugins-linux-{a}-v{}.tgz", v.cni_plugins);
            let url = format!("{rb}/containernetworking/plugins/releases/download/v{}/{file}", v.cni_plugins);
            out.push(Download {
                component: "cni-plugins",
                version: v.cni_plugins.clone(),
                arch: a,
                sha256: pinned(t, "cni-plugins", arch),
                sums_url: format!("{url}.sha256"),
                url,
                install: vec![format!("tar -xzf \"$tmp\"/{} -C /opt/cni/bin", shq(&file))],
                file,
            });
        }
        // Distributions do not package crictl consistently: always the release tarball.
        let file = format!("crictl-v{}-linux-{a}.tar.gz", v.crictl);
        let url = format!("{rb}/kubernetes-sigs/cri-tools/releases/download/v{}/{file}", v.crictl);
        out.push(Download {
            component: "crictl",
            version: v.crictl.clone(),
            arch: a,
            sha256: pinned(t, "crictl", arch),
            sums_url: format!("{url}.sha256"),
            url,
            install: vec![format!("tar -xzf \"$tmp\"/{} -C /usr/local/bin crictl", shq(&file))],
            file,
        });
    }
    out
}

/// Debian/Ubuntu packages the node installs through cloud-init (none for `preinstalled`).
pub fn packages(t: &Topology, n: &Node) -> Vec<&'static str> {
    if n.binaries == BinarySource::Preinstalled {
        return Vec::new();
    }
    let mut p = vec!["ca-certificates", "curl"];
    if n.has(Role::LoadBalancer) {
        p.push("haproxy");
    }
    if n.has(Role::Worker) {
        p.extend(["conntrack", "ipset", "iptables", "socat"]);
        if t.binaries.runtime == Runtime::Packages {
            p.extend(["containerd", "runc", "containernetworking-plugins"]);
        }
    }
    p
}

/// Binaries the node's units run, with the path they run them at (`binaries.paths` or /usr/local/bin),
/// and whether that path came from the topology. etcdctl too on etcd members (health checks).
fn unit_binaries(t: &Topology, n: &Node) -> Vec<Binary> {
    let mut names = Vec::new();
    if n.has(Role::Etcd) {
        names.extend(["etcd", "etcdctl"]);
    }
    if n.has(Role::ControlPlane) {
        names.extend(["kube-apiserver", "kube-controller-manager", "kube-scheduler"]);
    }
    if n.has(Role::Worker) {
        names.extend(["kubelet", "kube-proxy"]);
        if t.binaries.runtime == Runtime::Tarballs {
            names.push("containerd");
        }
    }
    names
        .into_iter()
        .map(|name| Binary { name, path: t.binary_path(name), given: t.binaries.paths.contains_key(name) })
        .collect()
}

/// What else must be on the node: found on PATH or at the absolute path.
fn other_binaries(t: &Topology, n: &Node, downloads: &[Download]) -> Vec<&'static str> {
    let mut r = Vec::new();
    if n.has(Role::LoadBalancer) {
        r.push("haproxy");
    }
    if n.has(Role::Worker) {
        if t.binaries.runtime == Runtime::Packages {
            r.push("containerd");
        }
        r.push("runc");
        r.push(match t.binaries.runtime {
            Runtime::Tarballs => "/opt/cni/bin/bridge",
            Runtime::Packages => "/usr/lib/cni/bridge",
        });
        if !t.images.archives.is_empty() {
            r.push("ctr");
        }
    }
    if n.binaries == BinarySource::Preinstalled && !downloads.is_empty() {
        r.push("curl");
    }
    r
}

/// An image archive a worker imports after containerd started and before the kubelet does.
#[derive(Serialize)]
struct ImageImport {
    path: String,
    /// Checked before the import when the topology pins it for a file on the node (downloads are
    /// checked when fetched).
    sha256: Option<String>,
}

fn image_imports(t: &Topology, n: &Node) -> Vec<ImageImport> {
    if !n.has(Role::Worker) {
        return Vec::new();
    }
    t.images
        .archives
        .iter()
        .map(|a| ImageImport {
            path: a.node_path(),
            sha256: match a {
                ImageArchive::Path { sha256, .. } => sha256.clone(),
                ImageArchive::Url { .. } => None,
            },
        })
        .collect()
}

#[derive(Serialize)]
struct Binary {
    name: &'static str,
    path: String,
    /// From `binaries.paths`: used as is, never searched for.
    given: bool,
}

/// Where a preinstalled node looks for a binary its units run at another path (then linked there).
pub const SEARCH_PATH: &[&str] =
    &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin", "/opt/bin"];

/// What an install script says.
#[derive(Serialize)]
struct Install<'a> {
    node: &'a str,
    cluster: &'a str,
    version: String,
    roles: String,
    dirs: &'a [crate::bundle::index::PlacedDir],
    downloads: &'a [Download],
    preinstalled: bool,
    binaries: Vec<Binary>,
    search: String,
    required: Vec<&'static str>,
    worker: bool,
    units: &'a [&'static str],
    images: Vec<ImageImport>,
    /// `secrets.delivery: archive`: the script that obtains, checks and unpacks the node's secrets.
    fetch_secrets: Option<&'static str>,
    sysctl_file: &'static str,
    status: &'static str,
    resolv_conf: &'static str,
}

/// What install.sh says of a node that its record (`render::record`) computed once: its directories,
/// downloads and units.
pub struct Planned<'a> {
    /// Directories with their modes.
    pub dirs: &'a [crate::bundle::index::PlacedDir],
    /// What it downloads.
    pub downloads: &'a [Download],
    /// Units it enables and starts, in order.
    pub units: &'a [&'static str],
}

/// Adds `nodes/<name>/install.sh`.
pub fn add_install_script(t: &Topology, n: &Node, r: Planned<'_>, b: &mut Bundle) -> Result<()> {
    let sysctl_file = crate::catalog::node_files::at(Source::Shared(paths::SYSCTL))?;
    let install = Install {
        node: &n.name,
        cluster: &t.name,
        version: t.version.to_string(),
        roles: n.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
        dirs: r.dirs,
        downloads: r.downloads,
        preinstalled: n.binaries == BinarySource::Preinstalled,
        binaries: unit_binaries(t, n),
        search: SEARCH_PATH.join(" "),
        required: other_binaries(t, n, r.downloads),
        worker: n.has(Role::Worker),
        units: r.units,
        images: image_imports(t, n),
        fetch_secrets: t
            .archives_secrets()
            .then(|| crate::catalog::node_files::path_of(Source::Own(paths::FETCH_SECRETS)))
            .flatten(),
        sysctl_file,
        status: paths::NODE_STATUS,
        resolv_conf: paths::RESOLV_CONF,
    };
    b.add(paths::node_path(&n.name, paths::INSTALL_SCRIPT), templates::render("install.sh.j2", install)?, MODE_EXEC)
}
