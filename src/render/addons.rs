//! Cluster manifests to `kubectl apply` after the control plane is up, in order, and the scripts that
//! apply them: admin binding, apiserver-to-kubelet RBAC, CoreDNS, kubelet TLS bootstrap.

use super::bootstrap::Token;
use super::pki::Pki;
use crate::bundle::{Bundle, MODE_EXEC, MODE_PUBLIC, MODE_SECRET};
use crate::catalog::paths::{
    ADMIN_BINDING, APISERVER_TO_KUBELET, APPLY, APPROVE_CSRS, BOOTSTRAP_RBAC, BOOTSTRAP_SECRETS, COREDNS,
};
use crate::error::{Error, Result};
use crate::fmt::templates;
use crate::model::{versions, BootstrapTokens, Topology};
use serde::Serialize;

fn corefile(t: &Topology) -> String {
    format!(
        ".:53 {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n    ready\n    kubernetes {} in-addr.arpa ip6.arpa {{\n       pods insecure\n       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n    prometheus :9153\n    forward . /etc/resolv.conf {{\n       max_concurrent 1000\n    }}\n    cache 30\n    loop\n    reload\n    loadbalance\n}}\n",
        t.dns_domain
    )
}

#[derive(Serialize)]
struct TokenEntry<'a> {
    id: &'a str,
    secret: &'a str,
    description: String,
}

/// Adds every manifest and the apply scripts; returns the manifest paths in apply order.
pub fn add(t: &Topology, pki: &Pki, tokens: &[Token], b: &mut Bundle) -> Result<Vec<String>> {
    let mut order = Vec::new();
    let mut put = |b: &mut Bundle, path: &str, text: String, mode: u32| -> Result<()> {
        b.add(path, text, mode)?;
        order.push(path.to_string());
        Ok(())
    };
    let admin_group = crate::catalog::certs::find("admin").and_then(|p| p.org).unwrap_or("kubeadm:cluster-admins");
    put(
        b,
        ADMIN_BINDING,
        templates::render("admin-rbac.yaml.j2", minijinja::context! { group => admin_group })?,
        MODE_PUBLIC,
    )?;
    let kubelet_client = pki.get("apiserver-kubelet-client", None)?;
    put(
        b,
        APISERVER_TO_KUBELET,
        templates::render("apiserver-to-kubelet.yaml.j2", minijinja::context! { user => kubelet_client.common_name })?,
        MODE_PUBLIC,
    )?;
    let minor = versions::lookup(t.version).ok_or_else(|| Error::internal("coredns", "unsupported version"))?;
    put(
        b,
        COREDNS,
        templates::render(
            "coredns.yaml.j2",
            minijinja::context! {
                image_version => minor.coredns,
                minor => minor.minor,
                image => t.images.coredns.as_str(),
                domain => t.dns_domain.as_str(),
                dns_ip => t.cluster_dns.to_string(),
                corefile => corefile(t),
            },
        )?,
        MODE_PUBLIC,
    )?;
    if t.bootstrap_enabled() {
        put(b, BOOTSTRAP_RBAC, templates::render("bootstrap-rbac.yaml.j2", minijinja::context! {})?, MODE_PUBLIC)?;
        let entries: Vec<TokenEntry<'_>> = tokens
            .iter()
            .map(|k| TokenEntry {
                id: &k.id,
                secret: &k.secret,
                description: match &k.node {
                    Some(n) => format!("hardway bootstrap token for node {n}"),
                    None => "hardway bootstrap token shared by every bootstrapping worker".into(),
                },
            })
            .collect();
        let mode = match t.bootstrap_tokens {
            BootstrapTokens::PerNode => "one per worker",
            BootstrapTokens::Shared => "one shared by every worker",
        };
        if !tokens.is_empty() {
            put(
                b,
                BOOTSTRAP_SECRETS,
                templates::render(
                    "bootstrap-secrets.yaml.j2",
                    minijinja::context! {
                        tokens => entries,
                        mode => mode,
                        expiration => crate::fmt::rfc3339(t.bootstrap_tokens_expire)?,
                        generation => t.bootstrap_token_generation,
                    },
                )?,
                MODE_SECRET,
            )?;
        }
        // One line per bootstrapping worker: its user name, then every name and address its serving
        // certificate may hold (the script approves a CSR only if it asks for nothing else).
        let nodes: Vec<String> = t
            .nodes
            .iter()
            .filter(|n| n.bootstraps())
            .map(|n| {
                let mut line = format!("system:node:{} DNS:{}", n.name, n.name);
                for ip in n.ips() {
                    line.push_str(&format!(" IP:{ip}"));
                }
                line
            })
            .collect();
        b.add(
            APPROVE_CSRS,
            templates::render(
                "approve-csrs.sh.j2",
                minijinja::context! { cluster => t.name.as_str(), nodes => nodes },
            )?,
            MODE_EXEC,
        )?;
    }
    // What must exist before the admin identity has any rights: applied as super-admin on a fresh cluster.
    let first: Vec<&str> = [ADMIN_BINDING].iter().filter_map(|p| p.strip_prefix("manifests/")).collect();
    b.add(
        APPLY,
        templates::render(
            "apply.sh.j2",
            minijinja::context! { cluster => t.name.as_str(), first => first, admin_group => admin_group },
        )?,
        MODE_EXEC,
    )?;
    Ok(order)
}
