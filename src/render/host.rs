//! Host configuration: the files every node of a role shares (component configs, containerd, CNI,
//! kernel modules and sysctls, HAProxy, pod routes) and each node's own kubelet config and CNI bridge.

use crate::bundle::{Bundle, MODE_EXEC, MODE_PUBLIC};
use crate::catalog::node_files::{self, Source::*};
use crate::catalog::{flags, paths};
use crate::error::{Error, Result};
use crate::fmt::templates;
use crate::model::{Node, PodRoutes, Role, Runtime, Topology};
use serde::Serialize;

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
    b.add(
        paths::SCHEDULER_CONFIG,
        templates::render(
            "kube-scheduler.yaml.j2",
            minijinja::context! {
                api => flags::SCHEDULER_CONFIG_API,
                kubeconfig => node_files::at(Kubeconfig("kube-scheduler"))?,
            },
        )?,
        MODE_PUBLIC,
    )?;
    b.add(paths::AUDIT_POLICY, templates::render("audit-policy.yaml.j2", minijinja::context! {})?, MODE_PUBLIC)?;
    for (path, kubeconfig, note) in [
        (
            paths::KUBE_PROXY_CONFIG,
            node_files::at(Kubeconfig("kube-proxy"))?,
            "as system:kube-proxy (certificate from the bundle)",
        ),
        (
            paths::KUBE_PROXY_CONFIG_BOOTSTRAP,
            // The kubelet's own kubeconfig, which a bootstrapping kubelet writes there.
            node_files::at(Kubeconfig("kubelet"))?,
            "with the node's own bootstrapped credentials (no key from the bundle on bootstrap workers)",
        ),
    ] {
        if path == paths::KUBE_PROXY_CONFIG_BOOTSTRAP && !t.bootstrap_enabled() {
            continue;
        }
        b.add(
            path,
            templates::render(
                "kube-proxy-config.yaml.j2",
                minijinja::context! {
                    api => flags::KUBE_PROXY_CONFIG_API,
                    cluster_cidr => t.pod_cidr.to_string(),
                    kubeconfig => kubeconfig,
                    note => note,
                },
            )?,
            MODE_PUBLIC,
        )?;
    }
    b.add(
        paths::CONTAINERD_CONFIG,
        templates::render(
            "containerd-config.toml.j2",
            minijinja::context! {
                sandbox_image => t.images.sandbox.as_str(),
                restrict_oom_score_adj => t.restrict_oom_score_adj,
                cni_bin_dir => cni_bin_dir(t),
            },
        )?,
        MODE_PUBLIC,
    )?;
    b.add(paths::CRICTL_CONFIG, templates::render("crictl.yaml.j2", minijinja::context! {})?, MODE_PUBLIC)?;
    b.add(
        paths::CNI_LOOPBACK,
        json(&serde_json::json!({ "cniVersion": "1.0.0", "name": "lo", "type": "loopback" }))?,
        MODE_PUBLIC,
    )?;
    b.add(paths::MODULES_LOAD, templates::render("modules-load.conf", minijinja::context! {})?, MODE_PUBLIC)?;
    b.add(
        paths::SYSCTL,
        templates::render("sysctl.conf", minijinja::context! { ipv6 => t.service_cidr.is_ipv6() })?,
        MODE_PUBLIC,
    )?;
    if t.nodes.iter().any(|n| n.has(Role::LoadBalancer)) {
        b.add(paths::HAPROXY_CONFIG, haproxy_config(t)?, MODE_PUBLIC)?;
        b.add(paths::LB_HELPER, templates::render("hardway-lb", minijinja::context! {})?, MODE_EXEC)?;
    }
    if t.pod_routes == PodRoutes::Static {
        let mut table = String::from(
            "# Pod ranges and the node that holds each: CIDR  VIA  NODE. Read by routes.sh at boot on every\n\
             # controlplane and worker node (a node skips its own ranges).\n",
        );
        for r in routes(t) {
            table.push_str(&format!("{} {} {}\n", r.destination, r.via, r.node));
        }
        b.add(paths::POD_ROUTES, table, MODE_PUBLIC)?;
        b.add(paths::ROUTES_SCRIPT, templates::render("routes.sh", minijinja::context! {})?, MODE_EXEC)?;
    }
    Ok(())
}

pub use crate::bundle::index::Route;

/// One route per worker pod range, through the worker's internal address.
pub fn routes(t: &Topology) -> Vec<Route> {
    t.nodes
        .iter()
        .filter_map(|n| {
            n.pod_cidr.map(|c| Route {
                destination: c.to_string(),
                node: n.name.to_string(),
                via: n.internal_ip.to_string(),
            })
        })
        .collect()
}

/// The API servers a load balancer sends traffic to.
pub fn api_targets(t: &Topology) -> Vec<(String, String)> {
    t.nodes_with(Role::ControlPlane).map(|n| (n.name.to_string(), n.internal_ip.to_string())).collect()
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
    templates::render(
        "haproxy.cfg.j2",
        minijinja::context! {
            cluster => t.name,
            bind => bind,
            servers => servers,
            ca_file => node_files::at_role(Role::LoadBalancer, Cert("kubernetes-ca"))?,
            lb_helper => node_files::at(Shared(paths::LB_HELPER))?,
        },
    )
}

/// Adds the node's own configuration files: a worker's kubelet config and CNI bridge.
pub fn add_node(t: &Topology, n: &Node, b: &mut Bundle) -> Result<()> {
    let p = |rel: &str| paths::node_path(&n.name, rel);
    if n.has(Role::Worker) {
        let pod_cidr = n.pod_cidr.ok_or_else(|| Error::internal(&n.name, "worker without pod range"))?;
        b.add(
            p(paths::KUBELET_CONFIG),
            templates::render(
                "kubelet-config.yaml.j2",
                minijinja::context! {
                    api => flags::KUBELET_CONFIG_API,
                    node => n.name.as_str(),
                    cluster_domain => t.dns_domain,
                    cluster_dns => t.cluster_dns.to_string(),
                    pod_cidr => pod_cidr.to_string(),
                    bootstrap => n.bootstraps(),
                    fail_cgroup_v1 => t.fail_cgroup_v1,
                    client_ca_file => node_files::ca_file()?,
                    resolv_conf => paths::RESOLV_CONF,
                    tls_cert_file => node_files::at(Cert("kubelet-server"))?,
                    tls_key_file => node_files::at(Key("kubelet-server"))?,
                },
            )?,
            MODE_PUBLIC,
        )?;
        let default_route = if pod_cidr.is_ipv6() { "::/0" } else { "0.0.0.0/0" };
        b.add(
            p(paths::CNI_BRIDGE),
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

/// Whether the node installs the static pod routes at boot.
pub fn routes_pods(t: &Topology, n: &Node) -> bool {
    t.pod_routes == PodRoutes::Static && (n.has(Role::ControlPlane) || n.has(Role::Worker))
}
