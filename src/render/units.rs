//! systemd units with version-checked flags: one table of flags per component and Kubernetes minor
//! (catalog::flags), every argument escaped for systemd (fmt::escape::systemd_word).

use crate::bundle::{Bundle, MODE_PUBLIC};
use crate::catalog::flags::{self, Component};
use crate::catalog::node_files::{self, Source, Source::*};
use crate::catalog::paths;
use crate::error::{Error, Result};
use crate::fmt::escape::systemd_word;
use crate::fmt::templates;
use crate::model::{net, Node, Role, Topology};
use serde::Serialize;

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
        if !flags::accepts(self.component, name, self.minor) {
            return Err(Error::internal(
                "units",
                format!("--{name} is not accepted by {:?} of Kubernetes 1.{}", self.component, self.minor),
            ));
        }
        self.args.push(systemd_word(&format!("--{name}={value}")));
        Ok(self)
    }
    /// A flag naming a node file: its path is the node-file table's for `source`.
    fn file(&mut self, name: &str, source: Source) -> Result<&mut Flags> {
        self.add(name, node_files::at(source)?)
    }
}

#[derive(Serialize, Default)]
struct Unit {
    comment: String,
    description: String,
    documentation: String,
    after: Vec<&'static str>,
    wants: Vec<&'static str>,
    requires: Vec<&'static str>,
    service: Vec<&'static str>,
    exec: String,
    args: Vec<String>,
}

fn render_unit(u: &Unit) -> Result<String> {
    templates::render("unit.service.j2", u)
}

const RESTART: &[&str] = &["Restart=on-failure", "RestartSec=5", "LimitNOFILE=65536"];

fn etcd_unit(t: &Topology, n: &Node) -> Result<String> {
    let ip = net::url(&n.internal_ip.to_string(), 2379);
    let peer = net::url(&n.internal_ip.to_string(), 2380);
    let cluster: Vec<String> = t
        .nodes_with(Role::Etcd)
        .map(|m| format!("{}={}", m.name, net::url(&m.internal_ip.to_string(), 2380)))
        .collect();
    let mut f = Flags::new(Component::Etcd, t);
    f.add("name", &n.name)?
        .add("data-dir", "/var/lib/etcd")?
        .file("cert-file", Cert("etcd-server"))?
        .file("key-file", Key("etcd-server"))?
        .file("peer-cert-file", Cert("etcd-peer"))?
        .file("peer-key-file", Key("etcd-peer"))?
        .file("trusted-ca-file", Cert("etcd-ca"))?
        .file("peer-trusted-ca-file", Cert("etcd-ca"))?
        .add("client-cert-auth", "true")?
        .add("peer-client-cert-auth", "true")?
        .add("listen-client-urls", format!("{ip},https://127.0.0.1:2379"))?
        .add("advertise-client-urls", &ip)?
        .add("listen-peer-urls", &peer)?
        .add("initial-advertise-peer-urls", &peer)?
        .add("initial-cluster", cluster.join(","))?
        .add("initial-cluster-token", &t.name)?
        .add("initial-cluster-state", n.etcd_state.as_str())?
        .add("listen-metrics-urls", "http://127.0.0.1:2381")?;
    render_unit(&Unit {
        comment: format!(
            "etcd member {} of {} ({} members, mutual TLS with the etcd CA).",
            n.name,
            t.name,
            cluster.len()
        ),
        description: format!("etcd member {}", n.name),
        documentation: "https://etcd.io/docs/".into(),
        after: vec!["network-online.target"],
        wants: vec!["network-online.target"],
        // A member is ready once it reached a quorum, which may take as long as the other members take
        // to boot: systemd must never give up on it (install.sh starts it without waiting).
        service: [&["Type=notify", "TimeoutStartSec=infinity"][..], RESTART].concat(),
        exec: t.binary_path("etcd"),
        args: f.args,
        ..Default::default()
    })
}

fn apiserver_unit(t: &Topology, n: &Node) -> Result<String> {
    let etcd: Vec<String> = t.nodes_with(Role::Etcd).map(|m| net::url(&m.internal_ip.to_string(), 2379)).collect();
    let mut f = Flags::new(Component::ApiServer, t);
    f.add("advertise-address", n.internal_ip)?
        .add("allow-privileged", "true")?
        .add("audit-log-maxage", 30)?
        .add("audit-log-maxbackup", 10)?
        .add("audit-log-maxsize", 100)?
        .add("audit-log-path", "/var/log/kubernetes/audit.log")?
        .file("audit-policy-file", Shared(paths::AUDIT_POLICY))?
        .add("authorization-mode", "Node,RBAC")?
        .add("bind-address", "0.0.0.0")?
        .file("client-ca-file", Cert("kubernetes-ca"))?
        .add("enable-admission-plugins", "NodeRestriction")?
        .file("encryption-provider-config", Source::Encryption)?
        .file("etcd-cafile", Cert("etcd-ca"))?
        .file("etcd-certfile", Cert("apiserver-etcd-client"))?
        .file("etcd-keyfile", Key("apiserver-etcd-client"))?
        .add("etcd-servers", etcd.join(","))?
        .file("kubelet-certificate-authority", Cert("kubernetes-ca"))?
        .file("kubelet-client-certificate", Cert("apiserver-kubelet-client"))?
        .file("kubelet-client-key", Key("apiserver-kubelet-client"))?
        .add("kubelet-preferred-address-types", "InternalIP,ExternalIP,Hostname")?
        .file("proxy-client-cert-file", Cert("front-proxy-client"))?
        .file("proxy-client-key-file", Key("front-proxy-client"))?
        .add("requestheader-allowed-names", "front-proxy-client")?
        .file("requestheader-client-ca-file", Cert("front-proxy-ca"))?
        .add("requestheader-extra-headers-prefix", "X-Remote-Extra-")?
        .add("requestheader-group-headers", "X-Remote-Group")?
        .add("requestheader-username-headers", "X-Remote-User")?
        .add("secure-port", t.port)?
        .add("service-account-issuer", format!("https://kubernetes.default.svc.{}", t.dns_domain))?
        .file("service-account-key-file", SaPub)?
        .file("service-account-signing-key-file", SaKey)?
        .add("service-cluster-ip-range", t.service_cidr)?
        .add("service-node-port-range", "30000-32767")?
        // On stop: leave the kubernetes Service's endpoints at once, keep serving 5 s while every
        // kube-proxy catches up, then drain requests in flight (new ones get 429 with Retry-After, which
        // clients retry) and close within 2 s instead of holding watches for the request timeout (60 s).
        .add("shutdown-delay-duration", "5s")?
        .add("shutdown-send-retry-after", "true")?
        .file("tls-cert-file", Cert("apiserver"))?
        .file("tls-private-key-file", Key("apiserver"))?;
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
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/".into(),
        // Not After=etcd.service: etcd may wait minutes for its peers; the apiserver retries etcd itself.
        after: vec!["network-online.target"],
        wants: vec!["network-online.target"],
        service: RESTART.to_vec(),
        exec: t.binary_path("kube-apiserver"),
        args: f.args,
        ..Default::default()
    })
}

fn kcm_unit(t: &Topology) -> Result<String> {
    let kc = node_files::at(Kubeconfig("kube-controller-manager"))?;
    let mut f = Flags::new(Component::ControllerManager, t);
    f.add("allocate-node-cidrs", "false")?
        .add("authentication-kubeconfig", kc)?
        .add("authorization-kubeconfig", kc)?
        .add("bind-address", "127.0.0.1")?
        .file("client-ca-file", Cert("kubernetes-ca"))?
        .add("cluster-cidr", t.pod_cidr)?
        .add("cluster-name", &t.name)?
        // Exactly one certificate (the CSR signer refuses a bundle); ca.crt is the trust bundle.
        .file("cluster-signing-cert-file", SigningCert("kubernetes-ca"))?
        .file("cluster-signing-key-file", Key("kubernetes-ca"))?
        .add("controllers", "*,bootstrapsigner,tokencleaner")?
        .add("kubeconfig", kc)?
        .add("leader-elect", "true")?
        .file("requestheader-client-ca-file", Cert("front-proxy-ca"))?
        .file("root-ca-file", Cert("kubernetes-ca"))?
        .file("service-account-private-key-file", SaKey)?
        .add("service-cluster-ip-range", t.service_cidr)?
        .add("use-service-account-credentials", "true")?
        .add("v", 2)?;
    render_unit(&Unit {
        comment: "kube-controller-manager, leader-elected across the controlplane nodes; pod ranges are hardway's (allocate-node-cidrs=false).".into(),
        description: "Kubernetes controller manager".into(),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-controller-manager/".into(),
        after: vec!["kube-apiserver.service"],
        service: RESTART.to_vec(),
        exec: t.binary_path("kube-controller-manager"),
        args: f.args,
        ..Default::default()
    })
}

fn scheduler_unit(t: &Topology) -> Result<String> {
    let kc = node_files::at(Kubeconfig("kube-scheduler"))?;
    let mut f = Flags::new(Component::Scheduler, t);
    f.file("config", Shared(paths::SCHEDULER_CONFIG))?
        .add("authentication-kubeconfig", kc)?
        .add("authorization-kubeconfig", kc)?
        .add("bind-address", "127.0.0.1")?
        .add("v", 2)?;
    render_unit(&Unit {
        comment: "kube-scheduler, leader-elected across the controlplane nodes.".into(),
        description: "Kubernetes scheduler".into(),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-scheduler/".into(),
        after: vec!["kube-apiserver.service"],
        service: RESTART.to_vec(),
        exec: t.binary_path("kube-scheduler"),
        args: f.args,
        ..Default::default()
    })
}

fn containerd_unit(t: &Topology) -> Result<String> {
    render_unit(&Unit {
        comment: "containerd from its release tarball (the upstream unit).".into(),
        description: "containerd container runtime".into(),
        documentation: "https://containerd.io".into(),
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
        exec: t.binary_path("containerd"),
        ..Default::default()
    })
}

fn kubelet_unit(t: &Topology, n: &Node) -> Result<String> {
    let mut f = Flags::new(Component::Kubelet, t);
    f.file("config", Own(paths::KUBELET_CONFIG))?;
    if n.bootstraps() {
        f.file("bootstrap-kubeconfig", BootstrapKubeconfig)?;
    }
    // A bootstrapping kubelet writes this file itself, at the path the table gives the bundle's one.
    f.file("kubeconfig", Kubeconfig("kubelet"))?
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
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kubelet/".into(),
        // Wants, not Requires (as kubeadm's and KTHW's kubelet units): a containerd that fails once
        // must not stop the kubelet for good; the kubelet retries until containerd is back.
        after: vec!["containerd.service"],
        wants: vec!["containerd.service"],
        service: vec!["Restart=always", "RestartSec=10"],
        exec: t.binary_path("kubelet"),
        args: f.args,
        ..Default::default()
    })
}

fn kube_proxy_unit(t: &Topology, n: &Node) -> Result<String> {
    let mut f = Flags::new(Component::KubeProxy, t);
    f.file("config", Shared(paths::KUBE_PROXY_CONFIG))?.add("hostname-override", &n.name)?.add("v", 2)?;
    render_unit(&Unit {
        comment: format!("kube-proxy on {} (iptables mode).", n.name),
        description: format!("Kubernetes kube-proxy on {}", n.name),
        documentation: "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/".into(),
        after: vec!["network-online.target"],
        wants: vec!["network-online.target"],
        service: vec!["Restart=always", "RestartSec=10"],
        exec: t.binary_path("kube-proxy"),
        args: f.args,
        ..Default::default()
    })
}

/// The systemd units the node runs, in the order cloud-init enables and starts them.
pub fn node_units(t: &Topology, n: &Node) -> Vec<&'static str> {
    let mut u = Vec::new();
    if super::host::routes_pods(t, n) {
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

/// Adds the units every node of a role shares: controller-manager, scheduler, containerd (tarball
/// runtime) and the pod routes.
pub fn add_shared(t: &Topology, b: &mut Bundle) -> Result<()> {
    b.add(paths::KCM_UNIT, kcm_unit(t)?, MODE_PUBLIC)?;
    b.add(paths::SCHEDULER_UNIT, scheduler_unit(t)?, MODE_PUBLIC)?;
    b.add(paths::CONTAINERD_UNIT, containerd_unit(t)?, MODE_PUBLIC)?;
    if t.nodes.iter().any(|n| n.has(Role::LoadBalancer)) {
        b.add(paths::HAPROXY_DROPIN, templates::render("haproxy-limits.conf", minijinja::context! {})?, MODE_PUBLIC)?;
    }
    if t.pod_routes == crate::model::PodRoutes::Static {
        b.add(
            paths::ROUTES_UNIT,
            render_unit(&Unit {
                comment: "Routes to the pod ranges of the other workers (pod-to-pod traffic across nodes).".into(),
                description: "hardway pod network routes".into(),
                documentation: format!("file:{}", node_files::at(Shared(paths::POD_ROUTES))?),
                after: vec!["network-online.target"],
                wants: vec!["network-online.target"],
                service: vec!["Type=oneshot", "RemainAfterExit=yes"],
                exec: node_files::at(Shared(paths::ROUTES_SCRIPT))?.into(),
                ..Default::default()
            })?,
            MODE_PUBLIC,
        )?;
    }
    Ok(())
}

/// Adds the node's own units: etcd, kube-apiserver, kubelet, kube-proxy (those its roles run).
pub fn add_node(t: &Topology, n: &Node, b: &mut Bundle) -> Result<()> {
    let p = |rel: &str| paths::node_path(&n.name, rel);
    if n.has(Role::Etcd) {
        b.add(p(paths::ETCD_UNIT), etcd_unit(t, n)?, MODE_PUBLIC)?;
    }
    if n.has(Role::ControlPlane) {
        b.add(p(paths::APISERVER_UNIT), apiserver_unit(t, n)?, MODE_PUBLIC)?;
    }
    if n.has(Role::Worker) {
        b.add(p(paths::KUBELET_UNIT), kubelet_unit(t, n)?, MODE_PUBLIC)?;
        b.add(p(paths::KUBE_PROXY_UNIT), kube_proxy_unit(t, n)?, MODE_PUBLIC)?;
    }
    Ok(())
}
