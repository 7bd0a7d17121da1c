//! Validation: the raw topology into a `Topology`, collecting every problem with its field path and
//! the warnings (legal but risky choices) on the way. The PKI generations, the binaries and the nodes
//! (addresses, ports, the API endpoint, pod ranges) are checked in their own files.

use super::names::{dns_label_problem, host_problem, is_dns_subdomain, parse_host};
use super::net::Cidr;
use super::raw::*;
use super::*;
use crate::fmt::quoted;
use std::collections::BTreeSet;

mod binaries;
mod images;
mod nodes;
mod pki;
mod secrets;
#[cfg(test)]
mod tests;

pub use binaries::url_problem;
use binaries::validate_binaries;
use images::{check_cgroup_v1, validate_images};
pub use nodes::node_ports;
use nodes::{check_endpoint, max_pod_prefix, validate_nodes};
use pki::validate_generations;
use secrets::validate_secrets;
pub(crate) use secrets::Reader;

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

fn parse_version(s: &str) -> Result<Version, String> {
    let parts: Vec<&str> = s.strip_prefix('v').unwrap_or(s).split('.').collect();
    let nums: Option<Vec<u32>> = parts
        .iter()
        .map(|p| if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) { None } else { p.parse().ok() })
        .collect();
    match nums.as_deref() {
        Some([major, minor, patch]) => Ok(Version { major: *major, minor: *minor, patch: *patch }),
        _ => Err(format!("{} is not a Kubernetes release version like \"1.36.2\"", quoted(s))),
    }
}

fn parse_time(s: &str) -> Result<OffsetDateTime, String> {
    use time::format_description::well_known::Rfc3339;
    let q = quoted(s);
    let t = OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|_| format!("{q} is not an RFC 3339 timestamp like \"2026-11-01T00:00:00Z\""))?;
    if !s.ends_with('Z') || t.offset() != time::UtcOffset::UTC {
        return Err(format!("{q} must be in UTC, ending in \"Z\""));
    }
    if t.nanosecond() != 0 {
        return Err(format!("{q} has fractional seconds; certificates hold whole seconds"));
    }
    if t < earliest_time() {
        return Err(format!("{q} is before 1950-01-01, the earliest time an X.509 certificate can hold"));
    }
    if t > latest_time() {
        return Err(format!("{q} is after 9999-12-31T23:59:59Z, the latest time an X.509 certificate can hold"));
    }
    Ok(t)
}

/// The earliest and latest instants X.509 (RFC 5280 UTCTime / GeneralizedTime) can hold.
pub fn earliest_time() -> OffsetDateTime {
    time::macros::datetime!(1950-01-01 0:00 UTC)
}
/// The latest instant X.509 can hold (9999-12-31T23:59:59Z).
pub fn latest_time() -> OffsetDateTime {
    time::macros::datetime!(9999-12-31 23:59:59 UTC)
}

/// Validates the raw topology, collecting every problem. On success also returns warnings.
pub fn validate(raw: &RawTopology) -> Result<Checked, Vec<Problem>> {
    validate_with(raw, &|name: &str| Err(format!("{name} cannot be read here")))
}

/// `validate`, with `read` giving the bytes of the files the topology names.
pub(crate) fn validate_with(raw: &RawTopology, read: Reader) -> Result<Checked, Vec<Problem>> {
    let mut c = Collector { problems: Vec::new(), warnings: Vec::new() };

    // cluster
    let name = Name::new(&raw.cluster.name);
    if let Some(p) = dns_label_problem(&raw.cluster.name) {
        c.err("cluster.name", p);
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
        c.err("cluster.apiServer.endpoint", host_problem(&api.endpoint));
    }
    let port = match u16::try_from(api.port) {
        Ok(p) if p > 0 => Some(p),
        _ => {
            c.err("cluster.apiServer.port", format!("{} is not a port: a port must be 1-65535", api.port));
            None
        }
    };
    let mut extra_sans = Vec::new();
    for (i, s) in api.extra_sans.iter().enumerate() {
        match parse_host(s) {
            Some(h) => extra_sans.push(h),
            None => c.err(format!("cluster.apiServer.extraSANs[{i}]"), host_problem(s)),
        }
    }

    // network
    let net = &raw.cluster.network;
    let service_cidr = net.service_cidr.parse().map_err(|e| c.err("cluster.network.serviceCIDR", e)).ok();
    let pod_cidr = net.pod_cidr.parse().map_err(|e| c.err("cluster.network.podCIDR", e)).ok();
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
                format!("{p} and serviceCIDR {s} are of different IP families; dual-stack is not supported yet"),
            );
        } else if s.overlaps(&p) {
            c.err("cluster.network.podCIDR", format!("{p} overlaps serviceCIDR {s}"));
        }
    }
    if !is_dns_subdomain(&net.dns_domain) {
        let d = &net.dns_domain;
        let lower = d.to_ascii_lowercase();
        let hint = if d != &lower && is_dns_subdomain(&lower) {
            format!(": names must be lower-case (did you mean {}?)", quoted(&lower))
        } else {
            String::new()
        };
        c.err("cluster.network.dnsDomain", format!("{} is not a DNS name{hint}", quoted(d)));
    }
    let mask = match (net.node_cidr_mask_size, pod_cidr) {
        (Some(m), Some(p)) if m < p.prefix() || m > max_pod_prefix(p) => {
            c.err(
                "cluster.network.nodeCIDRMaskSize",
                format!(
                    "/{m} does not fit podCIDR {p}: it must lie between /{} and /{} (a node's range needs a gateway and room for pods)",
                    p.prefix(),
                    max_pod_prefix(p)
                ),
            );
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
        } else if let Some(nb) = not_before {
            if nb.checked_add(time::Duration::days(i64::from(days))).is_none_or(|end| end > latest_time()) {
                c.err(
                    path,
                    format!(
                        "{days} days from pki.notBefore {} ends after 9999-12-31T23:59:59Z, the latest time an X.509 certificate can hold",
                        rfc3339(nb)
                    ),
                );
            }
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
    let generations = not_before.and_then(|nb| validate_generations(pki, nb, &mut c));
    // Tokens belong to the cluster's first boot: their expiry follows pki.notBefore, never a renewal's
    // leafNotBefore (which would re-arm tokens that expired long ago).
    let bootstrap_tokens_expire = match (&raw.cluster.bootstrap_tokens_expire, not_before) {
        (Some(s), nb) => match parse_time(s) {
            Ok(t) if nb.is_some_and(|nb| t <= nb) => {
                c.err(
                    "cluster.bootstrapTokensExpire",
                    format!(
                        "{} is not after pki.notBefore: every bootstrap token would be expired from the start",
                        quoted(s)
                    ),
                );
                None
            }
            Ok(t) => Some(t),
            Err(e) => {
                c.err("cluster.bootstrapTokensExpire", e);
                None
            }
        },
        (None, Some(nb)) => {
            let end = nb.checked_add(time::Duration::hours(BOOTSTRAP_TOKEN_HOURS)).filter(|e| *e <= latest_time());
            if end.is_none() {
                c.err(
                    "pki.notBefore",
                    "is less than a day before 9999-12-31T23:59:59Z: no room for certificates or tokens",
                );
            }
            end
        }
        (None, None) => None,
    };

    // encryption
    let enc = &raw.encryption;
    if enc.keys.is_empty() {
        c.err("encryption.keys", "at least one key name is required (the first one encrypts)");
    }
    let mut seen_keys = BTreeSet::new();
    for (i, k) in enc.keys.iter().map(RawKey::name).enumerate() {
        let ok = !k.is_empty()
            && k.len() <= 63
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            c.err(
                format!("encryption.keys[{i}]"),
                format!("{} is not a key name (letters, digits, '-', '_', '.', at most 63)", quoted(k)),
            );
        } else if !seen_keys.insert(k) {
            c.err(format!("encryption.keys[{i}]"), format!("duplicate key name {}", quoted(k)));
        }
    }
    let aescbc = |k: &RawKey| matches!(k, RawKey::WithProvider(s) if s.provider == Provider::Aescbc);
    if enc.provider == Provider::Aescbc || enc.keys.iter().any(aescbc) {
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
                c.err("cluster.network.clusterDNS", format!("{} is not an IP address", quoted(s)));
                None
            }
        },
        (None, Some(sc)) => sc.nth(10),
        (_, None) => None,
    };
    let binaries = validate_binaries(&raw.binaries, version, &mut c);
    let images = validate_images(&raw.images, binaries.as_ref(), version, &mut c);
    check_cgroup_v1(&raw.cluster, version, &mut c);
    let secrets = validate_secrets(&raw.secrets, read, &mut c);
    let user_data_budget = raw.user_data.budget_bytes.unwrap_or(DEFAULT_USER_DATA_BUDGET);
    if user_data_budget < 4096 {
        c.err(
            "userData.budgetBytes",
            format!("{user_data_budget} bytes cannot hold any node's user-data; use at least 4096"),
        );
    }

    // nodes
    let nodes = validate_nodes(raw, &mut c, service_cidr, pod_cidr, mask);

    if let (Some(nodes), Some(endpoint), Some(port)) = (&nodes, &endpoint, port) {
        check_endpoint(&mut c, nodes, endpoint, port, service_cidr, pod_cidr);
    }

    if !c.problems.is_empty() {
        return Err(c.problems);
    }
    match (
        generations,
        name,
        version,
        endpoint,
        port,
        service_cidr,
        pod_cidr,
        not_before,
        nodes,
        cluster_dns,
        binaries,
        bootstrap_tokens_expire,
        images,
        secrets,
    ) {
        (
            Some(generations),
            Some(name),
            Some(version),
            Some(endpoint),
            Some(port),
            Some(service_cidr),
            Some(pod_cidr),
            Some(not_before),
            Some(nodes),
            Some(cluster_dns),
            Some(binaries),
            Some(bootstrap_tokens_expire),
            Some(images),
            Some(secrets),
        ) => {
            let topology = Topology {
                name,
                version,
                endpoint,
                port,
                extra_sans,
                service_cidr,
                pod_cidr,
                dns_domain: net.dns_domain.clone(),
                not_before,
                ca_validity_days: pki.ca_validity_days,
                cert_validity_days: pki.cert_validity_days,
                ca_generations: generations.cas,
                signing_ca: generations.signing,
                trusted_cas: generations.trusted,
                leaf_not_before: generations.leaf_not_before,
                leaf_key_generation: pki.leaf_key_generation,
                sa_signing: generations.sa_signing,
                sa_trusted: generations.sa_trusted,
                key_algorithm: pki.key_algorithm,
                provider: enc.provider,
                encryption_keys: enc
                    .keys
                    .iter()
                    .map(|k| EncryptionKey {
                        name: k.name().to_string(),
                        provider: match k {
                            RawKey::Name(_) => enc.provider,
                            RawKey::WithProvider(s) => s.provider,
                        },
                    })
                    .collect(),
                nodes,
                cluster_dns,
                binaries,
                user_data_budget,
                bootstrap_tokens: raw.cluster.bootstrap_tokens,
                bootstrap_tokens_expire,
                bootstrap_token_generation: raw.cluster.bootstrap_token_generation,
                pod_routes: net.pod_routes,
                kubelet_credentials: raw.cluster.kubelet_credentials,
                fail_cgroup_v1: raw.cluster.fail_cgroup_v1,
                archive_all: raw.secrets.archive_contents == ArchiveContents::All,
                secrets,
                restrict_oom_score_adj: raw.cluster.restrict_oom_score_adj,
                images,
            };
            if topology.binaries.runtime == Runtime::Packages && topology.version.minor >= 36 {
                c.warn(
                    "binaries.runtime",
                    "distribution packages ship containerd 1.x (Debian 12/13, Ubuntu 24.04); Kubernetes 1.36 and later need containerd 2.x: prefer runtime: tarballs",
                );
            }
            Ok(Checked { topology, warnings: c.warnings })
        }
        // Every None above recorded a problem, so this arm is unreachable in practice.
        _ => Err(vec![Problem::new("", "topology is incomplete")]),
    }
}

/// Default lifetime of bootstrap tokens from the leaves' notBefore (kubeadm's default token TTL).
pub(crate) const BOOTSTRAP_TOKEN_HOURS: i64 = 24;

fn rfc3339(t: OffsetDateTime) -> String {
    crate::fmt::rfc3339(t).unwrap_or_else(|_| t.unix_timestamp().to_string())
}
