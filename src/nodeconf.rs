//! What runs on each node: systemd units with version-checked flags, component configurations, CNI
//! configs, host prerequisites and the install script (downloads with sha256 checks).

use crate::bundle::{Bundle, MODE_EXEC, MODE_PUBLIC};
use crate::error::{Error, Result};
use crate::groups::PerGroup;
use crate::templates;
use crate::topology::{Arch, BinarySource, Node, PodRoutes, Role, Runtime, Topology};
use crate::versions::{self, Component};
use serde::Serialize;

/// Shared (cluster-level) configuration files, by bundle path.
pub const KCM_UNIT: &str = "config/systemd/kube-controller-manager.service";
pub const SCHEDULER_UNIT: &str = "config/systemd/kube-scheduler.service";
pub const CONTAINERD_UNIT: &str = "config/systemd/containerd.service";
pub const SCHEDULER_CONFIG: &str = "config/kubernetes/kube-scheduler.yaml";
pub const AUDIT_POLICY: &str = "config/kubernetes/audit-policy.yaml";
pub const KUBE_PROXY_CONFIG: &str = "config/kube-proxy/config.yaml";
pub const KUBE_PROXY_CONFIG_BOOTSTRAP: &str = "config/kube-proxy/config-bootstrap.yaml";
pub const CONTAINERD_CONFIG: &str = "config/containerd/config.toml";
pub const CRICTL_CONFIG: &str = "config/crictl.yaml";
pub const CNI_LOOPBACK: &str = "config/cni/99-loopback.conf";
pub const MODULES_LOAD: &str = "config/host/modules-load.conf";
pub const SYSCTL: &str = "config/host/sysctl.conf";
pub const HAPROXY_CONFIG: &str = "config/haproxy/haproxy.cfg";
pub const POD_ROUTES: &str = "config/network/pod-routes";
pub const ROUTES_SCRIPT: &str = "config/network/routes.sh";
pub const ROUTES_UNIT: &str = "config/systemd/hardway-routes.service";

/// Per-node files, relative to `nodes/<name>/`.
pub const ETCD_UNIT: &str = "systemd/etcd.service";
pub const APISERVER_UNIT: &str = "systemd/kube-apiserver.service";
pub const KUBELET_UNIT: &str = "systemd/kubelet.service";
pub const KUBE_PROXY_UNIT: &str = "systemd/kube-proxy.service";
pub const KUBELET_CONFIG: &str = "kubelet-config.yaml";
pub const CNI_BRIDGE: &str = "cni/10-bridge.conf";
pub const INSTALL_SCRIPT: &str = "install.sh";

pub fn node_path(node: &str, rel: &str) -> String {
    format!("nodes/{node}/{rel}")
}

/// One argument of an ExecStart line, quoted for systemd when it needs it.
fn systemd_word(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/:=,@+-*".contains(&b)) {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' | '\\' => {
                q.push('\\');
                q.push(ch);
            }
            '%' => q.push_str("%%"),
            '$' => q.push_str("$$"),
            _ => q.push(ch),
        }
    }
    q.push('"');
    q
}

/// Flags of one component for one Kubernetes minor: every flag is checked against the version table.
struct Flags {
    component: Component,
    minor: u32,
    args: Vec<String>,
}

impl Flags {
    fn new(component: Component, t: &Topology) -> Flags {
        Flags { component, minor: t.version.minor, args: Vec::new() }
    }
    fn add(&mut self, name: &str, value: impl std::fmt::Display) -> Result<&mut Flags> {
        if !versions::accepts(self.component, name, self.minor) {
            return Err(Error::internal(
                "units",
                format!("--{name} is not accepted by {:?} of Kubernetes 1.{}", self.component, self.minor),
            ));
        }
        self.args.push(systemd_word(&format!("--{name}={value}")));
        Ok(self)
    }
}

#[derive(Serialize, Default)]
struct Unit {
    comment: String,
    description: String,
    documentation: &'static str,
    after: Vec<&'static str>,
    wants: Vec<&'static str>,
    requires: Vec<&'static str>,
    service: Vec<&'static str>,
    exec: &'static str,
    args: Vec<String>,
}

fn render_unit(u: &Unit) -> Result<String> {
    templates::render("unit.service.j2", u)
}

const RESTART: &[&str] = &["Restart=on-failure", "RestartSec=5", "LimitNOFILE=65536"];

fn etcd_unit(t: &Topology, n: &Node) -> Result<String> {
    let ip = crate::net::url(&n.internal_ip.to_string(), 2379);
    let peer = crate::net::url(&n.internal_ip.to_string(), 2380);
    let cluster: Vec<String> = t
        .nodes_with(Role::Etcd)
        .map(|m| format!("{}={}", m.name, crate::net::url(&m.internal_ip.to_string(), 2380)))
        .collect();
    let pki = "/etc/kubernetes/pki/etcd";
    let mut f = Flags::new(Component::Etcd, t);
    f.add("name", &n.name)?
        .add("data-dir", "/var/lib/etcd")?
        .add("cert-file", format!("{pki}/server.crt"))?
        .add("key-file", format!("{pki}/server.key"))?
        .add("peer-cert-file", format!("{pki}/peer.crt"))?
        .add("peer-key-file", format!("{pki}/peer.key"))?
        .add("trusted-ca-file", format!("{pki}/ca.crt"))?
        .add("peer-trusted-ca-file", format!("{pki}/ca.crt"))?
        .add("client-cert-auth", "true")?
        .add("peer-client-cert-auth", "true")?
        .add("listen-client-urls", format!("{ip},https://127.0.0.1:2379"))?
        .add("advertise-client-urls", &ip)?
        .add("listen-peer-urls", &peer)?
        .add("initial-advertise-peer-urls", &peer)?
        .add("initial-cluster", cluster.join(","))?
        .add("initial-cluster-token", &t.name)?
        .add("initial-cluster-state", "new")?
        .add("listen-metrics-urls", "http://127.0.0.1:2381")?;
    render_unit(&Unit {
        comment: format!(
            "etcd member {} of {} ({} members, mutual TLS with the etcd CA).",
            n.name,
            t.name,
            cluster.len()
        ),
        description: format!("etcd member {}", n.name),
        documentation: "https://etcd.io/docs/",
        after: vec!["network-online.target"],
        wants: vec!["network-online.target"],
        service: [&["Type=notify"][..], RESTART].concat(),
        exec: "/usr/local/bin/etcd",
        args: f.args,
        ..Default::default()
    })
}

fn apiserver_unit(t: &Topology, n: &Node) -> Result<String> {
    let pki = "/etc/kubernetes/pki";
    let etcd: Vec<String> =
        t.nodes_with(Role::Etcd).map(|m| crate::net::url(&m.internal_ip.to_string(), 2379)).collect();
    let mut f = Flags::new(Component::ApiServer, t);
    f.add("advertise-address", n.internal_ip)?
        .add("allow-privileged", "true")?
        .add("audit-log-maxage", 30)?
        .add("audit-log-maxbackup", 10)?
        .add("audit-log-maxsize", 100)?
        .add("audit-log-path", "/var/log/kubernetes/audit.log")?
        .add("audit-policy-file", "/etc/kubernetes/audit-policy.yaml")?
        .add("authorization-mode", "Node,RBAC")?
        .add("bind-address", "0.0.0.0")?
        .add("client-ca-file", format!("{pki}/ca.crt"))?
        .add("enable-admission-plugins", "NodeRestriction")?
        .add("encryption-provider-config", "/etc/kubernetes/encryption-config.yaml")?
        .add("etcd-cafile", format!("{pki}/etcd/ca.crt"))?
        .add("etcd-certfile", format!("{pki}/apiserver-etcd-client.crt"))?
        .add("etcd-keyfile", format!("{pki}/apiserver-etcd-client.key"))?
        .add("etcd-servers", etcd.join(","))?
        .add("kubelet-certificate-authority", format!("{pki}/ca.crt"))?
        .add("kubelet-client-certificate", format!("{pki}/apiserver-kubelet-client.crt"))?
        .add("kubelet-client-key", format!("{pki}/apiserver-kubelet-client.key"))?
        .add("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname")?
        .add("proxy-client-cert-file", format!("{pki}/front-proxy-client.crt"))?
        .add("proxy-client-key-file", format!("{pki}/front-proxy-client.key"))?
        .add("requestheader-allowed-names", "front-proxy-client")?
        .add("requestheader-client-ca-file", format!("{pki}/front-proxy-ca.crt"))?
        .add("requestheader-extra-headers-prefix", "X-Remote-Extra-")?
        .add("requestheader-group-headers", "X-Remote-Group")?
        .add("requestheader-username-headers", "X-Remote-User")?
        .add("secure-port", t.port)?
        .add("service-account-issuer", format!("https://kubernetes.default.svc.{}", t.dns_domain))?
        .add("service-account-key-file", format!("{pki}/sa.pub"))?
        .add("service-account-signing-key-file", format!("{pki}/sa.key"))?
        .add("service-cluster-ip-range", t.service_cidr)?
        .add("service-node-port-range", "30000-32767")?
        .add("tls-cert-file", format!("{pki}/apiserver.crt"))?
        .add("tls-private-key-file", format!("{pki}/apiserver.key"))?;
    if t.bootstrap_enabled() {
        f.add("enable-bootstrap-token-auth", "true")?;
    }
    f.add("v", 2)?;
    let stacked = n.has(Role::Etcd);
    render_unit(&Unit {
        comment: format!(
            "kube-apiserver on {} ({} etcd: {}).",
            n.name,
            if stacked { "stacked" } else { "external" },
            etcd.join(" ")
        ),
        description: format!("Kubernetes API server on {}", n.name),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/",
        after: if stacked { vec!["network-online.target", "etcd.service"] } else { vec!["network-online.target"] },
        wants: vec!["network-online.target"],
        service: RESTART.to_vec(),
        exec: "/usr/local/bin/kube-apiserver",
        args: f.args,
        ..Default::default()
    })
}

fn kcm_unit(t: &Topology) -> Result<String> {
    let pki = "/etc/kubernetes/pki";
    let kc = "/etc/kubernetes/controller-manager.conf";
    let mut f = Flags::new(Component::ControllerManager, t);
    f.add("allocate-node-cidrs", "false")?
        .add("authentication-kubeconfig", kc)?
        .add("authorization-kubeconfig", kc)?
        .add("bind-address", "127.0.0.1")?
        .add("client-ca-file", format!("{pki}/ca.crt"))?
        .add("cluster-cidr", t.pod_cidr)?
        .add("cluster-name", &t.name)?
        .add("cluster-signing-cert-file", format!("{pki}/ca.crt"))?
        .add("cluster-signing-key-file", format!("{pki}/ca.key"))?
        .add("controllers", "*,bootstrapsigner,tokencleaner")?
        .add("kubeconfig", kc)?
        .add("leader-elect", "true")?
        .add("requestheader-client-ca-file", format!("{pki}/front-proxy-ca.crt"))?
        .add("root-ca-file", format!("{pki}/ca.crt"))?
        .add("service-account-private-key-file", format!("{pki}/sa.key"))?
        .add("service-cluster-ip-range", t.service_cidr)?
        .add("use-service-account-credentials", "true")?
        .add("v", 2)?;
    render_unit(&Unit {
        comment: "kube-controller-manager, leader-elected across the controlplane nodes; pod ranges are hardway's (allocate-node-cidrs=false).".into(),
        description: "Kubernetes controller manager".into(),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-controller-manager/",
        after: vec!["kube-apiserver.service"],
        service: RESTART.to_vec(),
        exec: "/usr/local/bin/kube-controller-manager",
        args: f.args,
        ..Default::default()
    })
}

fn scheduler_unit(t: &Topology) -> Result<String> {
    let kc = "/etc/kubernetes/scheduler.conf";
    let mut f = Flags::new(Component::Scheduler, t);
    f.add("config", "/etc/kubernetes/kube-scheduler.yaml")?
        .add("authentication-kubeconfig", kc)?
        .add("authorization-kubeconfig", kc)?
        .add("bind-address", "127.0.0.1")?
        .add("v", 2)?;
    render_unit(&Unit {
        comment: "kube-scheduler, leader-elected across the controlplane nodes.".into(),
        description: "Kubernetes scheduler".into(),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-scheduler/",
        after: vec!["kube-apiserver.service"],
        service: RESTART.to_vec(),
        exec: "/usr/local/bin/kube-scheduler",
        args: f.args,
        ..Default::default()
    })
}

fn containerd_unit() -> Result<String> {
    render_unit(&Unit {
        comment: "containerd from its release tarball (the upstream unit).".into(),
        description: "containerd container runtime".into(),
        documentation: "https://containerd.io",
        after: vec!["network.target", "local-fs.target"],
        service: vec![
            "ExecStartPre=-/sbin/modprobe overlay",
            "Type=notify",
            "Delegate=yes",
            "KillMode=process",
            "Restart=always",
            "RestartSec=5",
            "LimitNPROC=infinity",
            "LimitCORE=infinity",
            "TasksMax=infinity",
            "OOMScoreAdjust=-999",
        ],
        exec: "/usr/local/bin/containerd",
        ..Default::default()
    })
}

fn kubelet_unit(t: &Topology, n: &Node) -> Result<String> {
    let mut f = Flags::new(Component::Kubelet, t);
    f.add("config", "/var/lib/kubelet/config.yaml")?;
    if n.bootstraps() {
        f.add("bootstrap-kubeconfig", "/etc/kubernetes/bootstrap-kubelet.conf")?;
    }
    f.add("kubeconfig", "/etc/kubernetes/kubelet.conf")?
        .add("hostname-override", &n.name)?
        .add("node-ip", n.internal_ip)?
        .add("v", 2)?;
    render_unit(&Unit {
        comment: format!(
            "kubelet on {} (identity system:node:{}; {}).",
            n.name,
            n.name,
            if n.bootstraps() { "certificates by TLS bootstrap" } else { "certificates from the bundle" }
        ),
        description: format!("Kubernetes kubelet on {}", n.name),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/",
        after: vec!["containerd.service"],
        requires: vec!["containerd.service"],
        service: vec!["Restart=always", "RestartSec=10"],
        exec: "/usr/local/bin/kubelet",
        args: f.args,
        ..Default::default()
    })
}

fn kube_proxy_unit(t: &Topology, n: &Node) -> Result<String> {
    let mut f = Flags::new(Component::KubeProxy, t);
    f.add("config", "/var/lib/kube-proxy/config.yaml")?.add("hostname-override", &n.name)?.add("v", 2)?;
    render_unit(&Unit {
        comment: format!("kube-proxy on {} (iptables mode).", n.name),
        description: format!("Kubernetes kube-proxy on {}", n.name),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/",
        after: vec!["network-online.target"],
        wants: vec!["network-online.target"],
        service: vec!["Restart=always", "RestartSec=10"],
        exec: "/usr/local/bin/kube-proxy",
        args: f.args,
        ..Default::default()
    })
}

fn cni_bin_dir(t: &Topology) -> &'static str {
    match t.binaries.runtime {
        Runtime::Tarballs => "/opt/cni/bin",
        Runtime::Packages => "/usr/lib/cni",
    }
}

fn json(v: &serde_json::Value) -> Result<String> {
    let mut s = serde_json::to_string_pretty(v).map_err(|e| Error::internal("json", e))?;
    s.push('\n');
    Ok(s)
}

/// Adds the configuration files every node of a role shares.
pub fn add_shared(t: &Topology, b: &mut Bundle) -> Result<()> {
    let api = |a: &str| minijinja::context! { api => a };
    b.add(KCM_UNIT, kcm_unit(t)?, MODE_PUBLIC)?;
    b.add(SCHEDULER_UNIT, scheduler_unit(t)?, MODE_PUBLIC)?;
    b.add(
        SCHEDULER_CONFIG,
        templates::render("kube-scheduler.yaml.j2", api(versions::SCHEDULER_CONFIG_API))?,
        MODE_PUBLIC,
    )?;
    b.add(AUDIT_POLICY, templates::render("audit-policy.yaml.j2", minijinja::context! {})?, MODE_PUBLIC)?;
    for (path, kubeconfig, note) in [
        (KUBE_PROXY_CONFIG, "/etc/kubernetes/kube-proxy.conf", "as system:kube-proxy (certificate from the bundle)"),
        (
            KUBE_PROXY_CONFIG_BOOTSTRAP,
            "/etc/kubernetes/kubelet.conf",
            "with the node's own bootstrapped credentials (no key from the bundle on bootstrap workers)",
        ),
    ] {
        if path == KUBE_PROXY_CONFIG_BOOTSTRAP && !t.bootstrap_enabled() {
            continue;
        }
        b.add(
            path,
            templates::render(
                "kube-proxy-config.yaml.j2",
                minijinja::context! {
                    api => versions::KUBE_PROXY_CONFIG_API,
                    cluster_cidr => t.pod_cidr.to_string(),
                    kubeconfig => kubeconfig,
                    note => note,
                },
            )?,
            MODE_PUBLIC,
        )?;
    }
    b.add(
        CONTAINERD_CONFIG,
        templates::render(
            "containerd-config.toml.j2",
            minijinja::context! {
                sandbox_image => format!("registry.k8s.io/pause:{}", t.binaries.versions.pause),
                cni_bin_dir => cni_bin_dir(t),
            },
        )?,
        MODE_PUBLIC,
    )?;
    b.add(CONTAINERD_UNIT, containerd_unit()?, MODE_PUBLIC)?;
    b.add(CRICTL_CONFIG, templates::render("crictl.yaml.j2", minijinja::context! {})?, MODE_PUBLIC)?;
    b.add(
        CNI_LOOPBACK,
        json(&serde_json::json!({ "cniVersion": "1.0.0", "name": "lo", "type": "loopback" }))?,
        MODE_PUBLIC,
    )?;
    b.add(MODULES_LOAD, templates::render("modules-load.conf", minijinja::context! {})?, MODE_PUBLIC)?;
    b.add(
        SYSCTL,
        templates::render("sysctl.conf", minijinja::context! { ipv6 => t.service_cidr.is_ipv6() })?,
        MODE_PUBLIC,
    )?;
    if t.nodes.iter().any(|n| n.has(Role::LoadBalancer)) {
        b.add(HAPROXY_CONFIG, haproxy_config(t)?, MODE_PUBLIC)?;
    }
    if t.pod_routes == PodRoutes::Static {
        let mut table = String::from(
            "# Pod ranges and the node that holds each: CIDR  VIA  NODE. Read by routes.sh at boot on every\n\
             # controlplane and worker node (a node skips its own ranges).\n",
        );
        for r in routes(t) {
            table.push_str(&format!("{} {} {}\n", r.destination, r.via, r.node));
        }
        b.add(POD_ROUTES, table, MODE_PUBLIC)?;
        b.add(ROUTES_SCRIPT, templates::render("routes.sh", minijinja::context! {})?, MODE_EXEC)?;
        b.add(
            ROUTES_UNIT,
            render_unit(&Unit {
                comment: "Routes to the pod ranges of the other workers (pod-to-pod traffic across nodes).".into(),
                description: "hardway pod network routes".into(),
                documentation: "file:/etc/hardway/pod-routes",
                after: vec!["network-online.target"],
                wants: vec!["network-online.target"],
                service: vec!["Type=oneshot", "RemainAfterExit=yes"],
                exec: "/usr/local/lib/hardway/routes.sh",
                ..Default::default()
            })?,
            MODE_PUBLIC,
        )?;
    }
    Ok(())
}

/// A route to one worker's pod range.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub destination: String,
    pub node: String,
    pub via: String,
}

/// One route per worker pod range, through the worker's internal address.
pub fn routes(t: &Topology) -> Vec<Route> {
    t.nodes
        .iter()
        .filter_map(|n| {
            n.pod_cidr.map(|c| Route {
                destination: c.to_string(),
                node: n.name.clone(),
                via: n.internal_ip.to_string(),
            })
        })
        .collect()
}

/// The API servers a load balancer sends traffic to.
pub fn api_targets(t: &Topology) -> Vec<(String, String)> {
    t.nodes_with(Role::ControlPlane).map(|n| (n.name.clone(), n.internal_ip.to_string())).collect()
}

fn haproxy_config(t: &Topology) -> Result<String> {
    #[derive(Serialize)]
    struct Server {
        name: String,
        address: String,
    }
    let servers: Vec<Server> = api_targets(t)
        .into_iter()
        .map(|(name, ip)| Server {
            name,
            address: if ip.contains(':') { format!("[{ip}]:{}", t.port) } else { format!("{ip}:{}", t.port) },
        })
        .collect();
    let bind = if t.service_cidr.is_ipv6() { format!(":::{}", t.port) } else { format!("*:{}", t.port) };
    templates::render("haproxy.cfg.j2", minijinja::context! { cluster => t.name, bind => bind, servers => servers })
}

/// Adds the node's own units and configs (not the install script, see `add_install_script`).
pub fn add_node(t: &Topology, n: &Node, b: &mut Bundle) -> Result<()> {
    let p = |rel: &str| node_path(&n.name, rel);
    if n.has(Role::Etcd) {
        b.add(p(ETCD_UNIT), etcd_unit(t, n)?, MODE_PUBLIC)?;
    }
    if n.has(Role::ControlPlane) {
        b.add(p(APISERVER_UNIT), apiserver_unit(t, n)?, MODE_PUBLIC)?;
    }
    if n.has(Role::Worker) {
        let pod_cidr = n.pod_cidr.ok_or_else(|| Error::internal(&n.name, "worker without pod range"))?;
        b.add(p(KUBELET_UNIT), kubelet_unit(t, n)?, MODE_PUBLIC)?;
        b.add(p(KUBE_PROXY_UNIT), kube_proxy_unit(t, n)?, MODE_PUBLIC)?;
        b.add(
            p(KUBELET_CONFIG),
            templates::render(
                "kubelet-config.yaml.j2",
                minijinja::context! {
                    api => versions::KUBELET_CONFIG_API,
                    node => n.name,
                    cluster_domain => t.dns_domain,
                    cluster_dns => t.cluster_dns.to_string(),
                    pod_cidr => pod_cidr.to_string(),
                    bootstrap => n.bootstraps(),
                },
            )?,
            MODE_PUBLIC,
        )?;
        let default_route = if pod_cidr.is_ipv6() { "::/0" } else { "0.0.0.0/0" };
        b.add(
            p(CNI_BRIDGE),
            json(&serde_json::json!({
                "cniVersion": "1.0.0",
                "name": "bridge",
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": true,
                "ipMasq": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{ "subnet": pod_cidr.to_string() }]],
                    "routes": [{ "dst": default_route }],
                },
            }))?,
            MODE_PUBLIC,
        )?;
    }
    Ok(())
}

/// A download of the install script.
#[derive(Serialize, Debug, Clone)]
pub struct Download {
    pub component: &'static str,
    pub version: String,
    pub arch: &'static str,
    pub url: String,
    /// File name in the script's temporary directory.
    pub file: String,
    /// Pinned in the topology, or empty: then taken from `sums_url`.
    pub sha256: String,
    pub sums_url: String,
    /// Shell commands that install the verified file.
    pub install: Vec<String>,
}

fn shq(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
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
        install: vec![format!("install -m 0755 \"$tmp/{name}\" /usr/local/bin/{name}")],
    }
}

fn pinned(t: &Topology, component: &str, arch: Arch) -> String {
    t.binaries.sha256.get(&format!("{component}/{}", arch.as_str())).cloned().unwrap_or_default()
}

/// Everything the node downloads, in install order (empty for `preinstalled`).
pub fn downloads(t: &Topology, n: &Node) -> Vec<Download> {
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
                format!("tar -xzf \"$tmp/{file}\" -C \"$tmp\""),
                format!("install -m 0755 \"$tmp/{dir}/etcd\" \"$tmp/{dir}/etcdctl\" /usr/local/bin/"),
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
                install: vec![format!("tar -xzf \"$tmp/{file}\" -C /usr/local")],
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
                install: vec![format!("install -m 0755 \"$tmp/{file}\" /usr/local/sbin/runc")],
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
                install: vec![format!("tar -xzf \"$tmp/{file}\" -C /opt/cni/bin")],
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
            install: vec![format!("tar -xzf \"$tmp/{file}\" -C /usr/local/bin crictl")],
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

/// The systemd units the node runs, in the order cloud-init enables and starts them.
/// Whether the node installs the static pod routes at boot.
pub fn routes_pods(t: &Topology, n: &Node) -> bool {
    t.pod_routes == PodRoutes::Static && (n.has(Role::ControlPlane) || n.has(Role::Worker))
}

pub fn units(t: &Topology, n: &Node) -> Vec<&'static str> {
    let mut u = Vec::new();
    if routes_pods(t, n) {
        u.push("hardway-routes.service");
    }
    if n.has(Role::LoadBalancer) {
        u.push("haproxy.service");
    }
    if n.has(Role::Worker) {
        u.push("containerd.service");
    }
    if n.has(Role::Etcd) {
        u.push("etcd.service");
    }
    if n.has(Role::ControlPlane) {
        u.extend(["kube-apiserver.service", "kube-controller-manager.service", "kube-scheduler.service"]);
    }
    if n.has(Role::Worker) {
        u.extend(["kubelet.service", "kube-proxy.service"]);
    }
    u
}

fn required_binaries(t: &Topology, n: &Node) -> Vec<&'static str> {
    let mut r = Vec::new();
    if n.has(Role::LoadBalancer) {
        r.push("haproxy");
    }
    if n.has(Role::Etcd) {
        r.extend(["etcd", "etcdctl"]);
    }
    if n.has(Role::ControlPlane) {
        r.extend(["kube-apiserver", "kube-controller-manager", "kube-scheduler"]);
    }
    if n.has(Role::Worker) {
        r.extend(["kubelet", "kube-proxy", "containerd", "runc"]);
        r.push(match t.binaries.runtime {
            Runtime::Tarballs => "/opt/cni/bin/bridge",
            Runtime::Packages => "/usr/lib/cni/bridge",
        });
    }
    r
}

#[derive(Serialize)]
struct Dir {
    path: &'static str,
    mode: &'static str,
}

/// What an install script says below its first two lines (which name the node).
#[derive(Serialize)]
struct InstallBody {
    dirs: Vec<Dir>,
    downloads: Vec<Download>,
    required: Vec<&'static str>,
    worker: bool,
    units: Vec<&'static str>,
}

fn install_body(t: &Topology, n: &Node) -> InstallBody {
    let mut dirs = Vec::new();
    if n.has(Role::Etcd) {
        dirs.push(Dir { path: "/var/lib/etcd", mode: "0700" });
    }
    if n.has(Role::ControlPlane) {
        dirs.push(Dir { path: "/var/log/kubernetes", mode: "0750" });
    }
    if n.has(Role::Worker) {
        dirs.push(Dir { path: "/etc/kubernetes", mode: "0755" });
        if t.binaries.runtime == Runtime::Tarballs {
            dirs.push(Dir { path: "/opt/cni/bin", mode: "0755" });
        }
    }
    InstallBody {
        dirs,
        downloads: downloads(t, n),
        required: required_binaries(t, n),
        worker: n.has(Role::Worker),
        units: units(t, n),
    }
}

/// The install scripts' bodies of a cluster: nodes whose bodies would say the same (most workers)
/// share one, rendered once.
pub struct InstallBodies(PerGroup<String>);

impl InstallBodies {
    pub fn build(t: &Topology) -> Result<InstallBodies> {
        // The body's whole context, as JSON, tells which nodes share a body.
        let keys = crate::par::map(&t.nodes, crate::par::threads(), |n| {
            serde_json::to_string(&install_body(t, n)).map_err(|e| Error::internal(&n.name, e))
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let bodies = PerGroup::build(keys, |i, _| match t.nodes.get(i) {
            Some(n) => templates::render("install.sh.j2", install_body(t, n)),
            None => Err(Error::internal("install script", format!("no node {i}"))),
        })?;
        Ok(InstallBodies(bodies))
    }

    /// Each distinct body, and which one each node has.
    pub fn groups(&self) -> &PerGroup<String> {
        &self.0
    }
}

/// Adds `nodes/<name>/install.sh` for the node at index `i`: its own first lines, then its body.
pub fn add_install_script(t: &Topology, i: usize, bodies: &InstallBodies, b: &mut Bundle) -> Result<()> {
    let n = t.nodes.get(i).ok_or_else(|| Error::internal("install script", format!("no node {i}")))?;
    let body = bodies.0.of(i).ok_or_else(|| Error::internal(&n.name, "no install script body"))?;
    let roles: Vec<&str> = n.roles.iter().map(|r| r.as_str()).collect();
    let mut text = templates::render(
        "install-head.sh.j2",
        minijinja::context! {
            node => n.name,
            cluster => t.name,
            version => t.version.to_string(),
            roles => roles.join(", "),
        },
    )?;
    text.push_str(body);
    b.add(node_path(&n.name, INSTALL_SCRIPT), text, MODE_EXEC)
}

/// Registers the `shq` (POSIX shell single-quote) filter.
pub fn shell_quote_filter(s: String) -> String {
    shq(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn systemd_words_are_quoted_only_when_needed() {
        assert_eq!(systemd_word("--name=a-b_c.d/e:f,g"), "--name=a-b_c.d/e:f,g");
        assert_eq!(systemd_word("--x=a b"), "\"--x=a b\"");
        assert_eq!(systemd_word("--x=50%$"), "\"--x=50%%$$\"");
        assert_eq!(shq("it's"), "'it'\\''s'");
    }
}
