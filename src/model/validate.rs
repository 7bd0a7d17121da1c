//! Validation: the raw topology into a `Topology`, collecting every problem with its field path and
//! the warnings (legal but risky choices) on the way.

use super::names::{dns_label_problem, host_problem, is_dns_subdomain, parse_host};
use super::net::Cidr;
use super::raw::*;
use super::*;
use crate::fmt::quoted;
use std::collections::BTreeSet;

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
pub fn latest_time() -> OffsetDateTime {
    time::macros::datetime!(9999-12-31 23:59:59 UTC)
}

/// Validates the raw topology, collecting every problem. On success also returns warnings.
pub fn validate(raw: &RawTopology) -> Result<Checked, Vec<Problem>> {
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
    let leaf_nb = generations.as_ref().map(|g| g.leaf_not_before);
    let bootstrap_tokens_expire = match (&raw.cluster.bootstrap_tokens_expire, leaf_nb) {
        (Some(s), nb) => match parse_time(s) {
            Ok(t) if nb.is_some_and(|nb| t <= nb) => {
                c.err(
                    "cluster.bootstrapTokensExpire",
                    format!("{} is not after the leaves' notBefore: every bootstrap token would be expired", quoted(s)),
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
    for (i, k) in enc.keys.iter().enumerate() {
        let ok = !k.is_empty()
            && k.len() <= 63
            && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            c.err(
                format!("encryption.keys[{i}]"),
                format!("{} is not a key name (letters, digits, '-', '_', '.', at most 63)", quoted(k)),
            );
        } else if !seen_keys.insert(k.as_str()) {
            c.err(format!("encryption.keys[{i}]"), format!("duplicate key name {}", quoted(k)));
        }
    }
    if enc.provider == Provider::Aescbc {
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
                encryption_keys: enc.keys.clone(),
                nodes,
                cluster_dns,
                binaries,
                user_data_budget,
                bootstrap_tokens: raw.cluster.bootstrap_tokens,
                bootstrap_tokens_expire,
                bootstrap_token_generation: raw.cluster.bootstrap_token_generation,
                pod_routes: net.pod_routes,
                kubelet_credentials: raw.cluster.kubelet_credentials,
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

/// The PKI's generations, validated.
struct Generations {
    cas: BTreeMap<u32, OffsetDateTime>,
    signing: u32,
    trusted: Vec<u32>,
    leaf_not_before: OffsetDateTime,
    sa_signing: u32,
    sa_trusted: Vec<u32>,
}

/// `signing` first, then the rest of `trusted` in ascending order; problems for generations that are
/// unknown, repeated, or a trusted list without the signing one.
fn trust_order(
    c: &mut Collector,
    field: &str,
    signing: u32,
    trusted: Option<&Vec<u32>>,
    known: impl Fn(u32) -> bool,
) -> Vec<u32> {
    let list = trusted.cloned().unwrap_or_else(|| vec![signing]);
    let mut seen = BTreeSet::new();
    for (i, g) in list.iter().enumerate() {
        if !known(*g) {
            c.err(format!("{field}[{i}]"), format!("generation {g} is not defined"));
        }
        if !seen.insert(*g) {
            c.err(format!("{field}[{i}]"), format!("generation {g} is listed twice"));
        }
    }
    if list.is_empty() {
        c.err(field, "at least the signing generation must be trusted");
    } else if !list.contains(&signing) {
        c.err(field, format!("does not hold the signing generation {signing}: what it signs would be trusted nowhere"));
    }
    let mut out = vec![signing];
    out.extend(seen.into_iter().filter(|g| *g != signing));
    out
}

fn validate_generations(pki: &RawPki, not_before: OffsetDateTime, c: &mut Collector) -> Option<Generations> {
    let before = c.problems.len();
    let mut cas = BTreeMap::from([(1u32, not_before)]);
    for (g, s) in &pki.ca_generations {
        let path = format!("pki.caGenerations.{g}");
        if *g < 2 {
            c.err(&path, "generation 1 is pki.notBefore; further generations are numbered from 2");
            continue;
        }
        match parse_time(s) {
            Ok(t) => {
                if t.checked_add(time::Duration::days(i64::from(pki.ca_validity_days)))
                    .is_none_or(|e| e > latest_time())
                {
                    c.err(&path, "with pki.caValidityDays it ends after 9999-12-31T23:59:59Z");
                }
                cas.insert(*g, t);
            }
            Err(e) => c.err(&path, e),
        }
    }
    let signing = pki.signing_ca.unwrap_or(1);
    if !cas.contains_key(&signing) {
        c.err(
            "pki.signingCA",
            format!(
                "generation {signing} is not defined (generation 1 is pki.notBefore; add pki.caGenerations.{signing})"
            ),
        );
    }
    let trusted = trust_order(c, "pki.trustedCAs", signing, pki.trusted_cas.as_ref(), |g| cas.contains_key(&g));
    let leaf_not_before = match &pki.leaf_not_before {
        Some(s) => parse_time(s).map_err(|e| c.err("pki.leafNotBefore", e)).ok(),
        None => Some(not_before),
    };
    let ca_end = |nb: OffsetDateTime| nb.checked_add(time::Duration::days(i64::from(pki.ca_validity_days)));
    // (A CA generation past the last date X.509 holds has its own problem above.)
    if let (Some(leaf), Some(&ca_nb), Some(ca_end)) =
        (leaf_not_before, cas.get(&signing), cas.get(&signing).and_then(|nb| ca_end(*nb)))
    {
        let field = if pki.leaf_not_before.is_some() { "pki.leafNotBefore" } else { "pki.notBefore" };
        let end = leaf.checked_add(time::Duration::days(i64::from(pki.cert_validity_days)));
        if leaf < ca_nb {
            c.err(
                field,
                format!(
                    "the leaves would start at {}, before CA generation {signing} (pki.signingCA), which starts at {}: set pki.leafNotBefore to {} or later",
                    rfc3339(leaf),
                    rfc3339(ca_nb),
                    rfc3339(ca_nb)
                ),
            );
        } else if end.is_none_or(|e| e > ca_end) {
            c.err(
                "pki.certValidityDays",
                format!(
                    "the leaves would end at {}, after CA generation {signing} (kubernetes-ca, etcd-ca, front-proxy-ca; pki.signingCA) ends at {}: a leaf must expire no later than its CA; rotate the CAs (pki.caGenerations) or shorten the leaves",
                    end.map(rfc3339).unwrap_or_else(|| "beyond 9999".into()),
                    rfc3339(ca_end)
                ),
            );
        }
    }
    let sa = pki.service_account_keys.as_ref();
    let sa_signing = sa.and_then(|s| s.signing).unwrap_or(1);
    if sa_signing == 0 {
        c.err("pki.serviceAccountKeys.signing", "generations are numbered from 1");
    }
    let sa_trusted =
        trust_order(c, "pki.serviceAccountKeys.trusted", sa_signing, sa.and_then(|s| s.trusted.as_ref()), |g| g >= 1);
    // Only the generations a trust bundle carries are rendered.
    cas.retain(|g, _| trusted.contains(g));
    (c.problems.len() == before).then_some(Generations {
        cas,
        signing,
        trusted,
        leaf_not_before: leaf_not_before?,
        sa_signing,
        sa_trusted,
    })
}

/// Default lifetime of bootstrap tokens from the leaves' notBefore (kubeadm's default token TTL).
pub const BOOTSTRAP_TOKEN_HOURS: i64 = 24;

/// The longest prefix a node's pod range may have: room for the network, the bridge gateway and pods.
fn max_pod_prefix(c: Cidr) -> u8 {
    if c.is_ipv6() {
        126
    } else {
        30
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    crate::fmt::rfc3339(t).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// What makes a URL in binaries.* unusable, or `None`. Such URLs end up in shell scripts, units,
/// index.json and user-data: `https://host[:port][/path]` with a DNS name, an IPv4 address or a
/// bracketed IPv6 literal as host; no credentials, query, fragment, quotes, spaces or shell syntax.
pub fn url_problem(u: &str) -> Option<String> {
    let q = quoted(u);
    let Some(rest) = u.strip_prefix("https://") else {
        return Some(format!("{q} must be an https:// URL"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Some(format!(
            "{q} carries credentials (user@ or user:password@): refused, because the URL is written into install.sh, user-data and index.json, which are meant to be reviewed and committed (even a --redact bundle keeps URLs); use a mirror that needs no credentials"
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Some(format!("{q}: an IPv6 host must be in brackets, like https://[fd00::1]:8443"));
        };
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Some(format!("{q}: {} is not an IPv6 address", quoted(addr)));
        }
        match after {
            "" => (addr, None),
            p => match p.strip_prefix(':') {
                Some(p) => (addr, Some(p)),
                None => return Some(format!("{q}: expected :port after the IPv6 host")),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if !authority.starts_with('[') && host.parse::<std::net::Ipv4Addr>().is_err() && !is_dns_subdomain(host) {
        return Some(format!("{q}: {} is not a DNS name or an IP address (lower-case)", quoted(host)));
    }
    if let Some(p) = port {
        if !p.bytes().all(|b| b.is_ascii_digit()) || !matches!(p.parse::<u16>(), Ok(1..)) {
            return Some(format!("{q}: port {} is not 1-65535", quoted(p)));
        }
    }
    if path.ends_with('/') {
        return Some(format!("{q} must not end in a slash"));
    }
    if !path.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~:/%+@".contains(&b)) {
        return Some(format!(
            "{q}: the path may hold only letters, digits and -._~:/%+@ (no spaces, quotes, query or shell characters)"
        ));
    }
    None
}

fn is_plain_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.+".contains(&b))
}

fn validate_binaries(raw: &RawBinaries, version: Option<Version>, c: &mut Collector) -> Option<Binaries> {
    let before = c.problems.len();
    let mut url = |field: &str, v: &Option<String>, default: &str| -> String {
        let u = v.clone().unwrap_or_else(|| default.to_string());
        if let Some(p) = url_problem(&u) {
            c.err(format!("binaries.{field}"), p);
        }
        u
    };
    let base_url = url("baseURL", &raw.base_url, DEFAULT_BASE_URL);
    let etcd_base_url = url("etcdBaseURL", &raw.etcd_base_url, DEFAULT_ETCD_BASE_URL);
    let runtime_base_url = url("runtimeBaseURL", &raw.runtime_base_url, DEFAULT_RUNTIME_BASE_URL);
    for (k, v) in &raw.sha256 {
        let path = format!("binaries.sha256.{}", quoted(k));
        match k.split_once('/') {
            Some((comp, arch)) if COMPONENTS.contains(&comp) && ["amd64", "arm64"].contains(&arch) => {}
            _ => c.err(
                &path,
                format!(
                    "keys are component/arch with a component of {} and arch amd64 or arm64",
                    COMPONENTS.join(", ")
                ),
            ),
        }
        if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            c.err(&path, "must be 64 lowercase hex digits (a sha256)");
        }
    }
    for (k, v) in &raw.paths {
        let path = format!("binaries.paths.{}", quoted(k));
        if !UNIT_BINARIES.contains(&k.as_str()) {
            c.err(&path, format!("not a binary a unit runs; expected one of {}", UNIT_BINARIES.join(", ")));
        }
        let plain = v.starts_with('/')
            && !v.ends_with('/')
            && v.split('/').all(|part| part != ".." && part != ".")
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._/+".contains(&b));
        if !plain {
            c.err(&path, format!("{} must be an absolute path of letters, digits and -._/+", quoted(v)));
        }
    }
    let defaults = version.and_then(versions::lookup)?;
    let rv = &raw.versions;
    let mut pick = |field: &str, v: &Option<String>, default: &str| -> String {
        let s = v.clone().unwrap_or_else(|| default.to_string());
        if !is_plain_version(&s) {
            c.err(
                format!("binaries.versions.{field}"),
                format!("{} is not a release version like \"3.6.4\"", quoted(&s)),
            );
        }
        s
    };
    let versions = ComponentVersions {
        etcd: pick("etcd", &rv.etcd, defaults.etcd),
        containerd: pick("containerd", &rv.containerd, defaults.containerd),
        runc: pick("runc", &rv.runc, defaults.runc),
        cni_plugins: pick("cniPlugins", &rv.cni_plugins, defaults.cni_plugins),
        crictl: pick("crictl", &rv.crictl, defaults.crictl),
        pause: pick("pause", &rv.pause, defaults.pause),
    };
    (c.problems.len() == before).then(|| Binaries {
        source: raw.source,
        base_url,
        etcd_base_url,
        runtime_base_url,
        runtime: raw.runtime,
        sha256: raw.sha256.clone(),
        versions,
        paths: raw.paths.clone(),
    })
}

/// Ports that components of a node with these roles listen on, besides the API port, by owner.
pub fn node_ports(roles: &[Role]) -> Vec<(u16, &'static str)> {
    let mut v = vec![(22, "SSH")];
    if roles.contains(&Role::ControlPlane) {
        v.extend([(10257, "kube-controller-manager"), (10259, "kube-scheduler")]);
    }
    if roles.contains(&Role::Etcd) {
        v.extend([(2379, "etcd (clients)"), (2380, "etcd (peers)"), (2381, "etcd (metrics)")]);
    }
    if roles.contains(&Role::Worker) {
        v.extend([
            (10248, "kubelet (healthz)"),
            (10249, "kube-proxy (metrics)"),
            (10250, "kubelet"),
            (10256, "kube-proxy (healthz)"),
        ]);
    }
    v
}

/// Whether the address can never be dialled as a unicast endpoint or be a host's own address.
fn unusable_address(ip: IpAddr) -> Option<&'static str> {
    match ip {
        _ if ip.is_unspecified() => Some("the unspecified address"),
        _ if ip.is_multicast() => Some("a multicast address"),
        IpAddr::V4(a) if a.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(a) if a.octets() == [169, 254, 169, 254] => Some("the cloud metadata service's address"),
        IpAddr::V4(a) if a.is_link_local() => Some("a link-local address (not routed between hosts)"),
        IpAddr::V6(a) if a.is_unicast_link_local() => Some("a link-local address (not routed between hosts)"),
        _ => None,
    }
}

fn is_loopback_host(h: &Host) -> bool {
    match h {
        Host::Ip(ip) => ip.is_loopback(),
        Host::Dns(d) => d == "localhost" || d.ends_with(".localhost"),
    }
}

/// The API endpoint and port against the nodes: what can never work is an error, what only works
/// for local test clusters a warning.
fn check_endpoint(
    c: &mut Collector,
    nodes: &[Node],
    endpoint: &Host,
    port: u16,
    service_cidr: Option<Cidr>,
    pod_cidr: Option<Cidr>,
) {
    const E: &str = "cluster.apiServer.endpoint";
    if let Host::Ip(ip) = endpoint {
        if let Some(what) = unusable_address(*ip) {
            c.err(E, format!("{ip} is {what}: clients cannot reach an API server there"));
        }
        if let Some(sc) = service_cidr.filter(|sc| sc.contains(*ip)) {
            c.err(
                E,
                format!("{ip} lies inside serviceCIDR {sc}: Service addresses only work through kube-proxy on a running node, but kubelets and kube-proxy need the endpoint to start; use the load balancer's or a controlplane's address"),
            );
        }
        if let Some(pc) = pod_cidr.filter(|pc| pc.contains(*ip)) {
            c.err(E, format!("{ip} lies inside podCIDR {pc}: pod addresses are not API servers"));
        }
        if let Some(n) = nodes.iter().find(|n| n.ips().contains(ip)) {
            if !n.has(Role::ControlPlane) && !n.has(Role::LoadBalancer) {
                c.err(
                    E,
                    format!(
                        "{ip} is node {}'s address, and it runs no API server (roles: {}); use a loadbalancer or controlplane address",
                        n.name,
                        n.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        let cps: Vec<&Node> = nodes.iter().filter(|n| n.has(Role::ControlPlane)).collect();
        if cps.len() > 1 {
            if let Some(n) = cps.iter().find(|n| n.ips().contains(ip)) {
                c.warn(
                    E,
                    format!(
                        "{ip} is controlplane node {}'s own address: with {} controlplanes the endpoint should be a load balancer, or clients lose the API when that node is down",
                        n.name,
                        cps.len()
                    ),
                );
            }
        }
    }
    if is_loopback_host(endpoint) {
        let all_local = nodes.iter().all(|n| n.internal_ip.is_loopback());
        if nodes.len() > 1 && !all_local {
            c.err(
                E,
                format!(
                    "{} is a loopback endpoint in a cluster of {} nodes: every other node would dial itself; use a load balancer's or a controlplane's address",
                    endpoint.as_string(),
                    nodes.len()
                ),
            );
        } else {
            c.warn(
                E,
                format!(
                    "{} is a loopback endpoint: only clients on the node itself reach it (local test clusters)",
                    endpoint.as_string()
                ),
            );
        }
    }
    // The API port must not be one that something else on a listening node already uses.
    for n in nodes.iter().filter(|n| n.has(Role::ControlPlane) || n.has(Role::LoadBalancer)) {
        if let Some((_, owner)) = node_ports(&n.roles).into_iter().find(|(p, _)| *p == port) {
            c.err(
                "cluster.apiServer.port",
                format!(
                    "{port} is already used by {owner} on node {}: choose another port (6443 is the usual one)",
                    n.name
                ),
            );
            break;
        }
    }
}

fn validate_nodes(
    raw: &RawTopology,
    c: &mut Collector,
    service_cidr: Option<Cidr>,
    pod_cidr: Option<Cidr>,
    mask: Option<u8>,
) -> Option<Vec<Node>> {
    if raw.nodes.is_empty() {
        c.err("nodes", "at least one node is required");
        return None;
    }
    let before = c.problems.len();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut ips: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(raw.nodes.len());
    let family_v6 = service_cidr.map(|s| s.is_ipv6());
    for (i, rn) in raw.nodes.iter().enumerate() {
        let p = |f: &str| format!("nodes[{i}].{f}");
        if let Some(problem) = dns_label_problem(&rn.name) {
            c.err(p("name"), problem);
        }
        match names.get(&rn.name.to_ascii_lowercase()) {
            Some(j) => c.err(p("name"), format!("{} is already the name of nodes[{j}]", quoted(&rn.name))),
            None => {
                names.insert(rn.name.to_ascii_lowercase(), i);
            }
        }
        let mut check_ip = |field: &str, s: &str, c: &mut Collector| -> Option<IpAddr> {
            let Ok(ip) = s.parse::<IpAddr>() else {
                c.err(p(field), format!("{} is not an IP address", quoted(s)));
                return None;
            };
            if let Some(prev) = ips.get(&ip) {
                c.err(p(field), format!("{ip} is already used by {prev}"));
            } else {
                ips.insert(ip, format!("nodes[{i}].{field}"));
            }
            if let Some(what) = unusable_address(ip) {
                c.err(p(field), format!("{ip} is {what}: it cannot be a node address"));
            }
            if let Some(v6) = family_v6 {
                if ip.is_ipv6() != v6 && field == "internalIP" {
                    c.err(
                        p(field),
                        format!(
                            "{ip} is not of the cluster's IP family (serviceCIDR); dual-stack is not supported yet"
                        ),
                    );
                }
            }
            for (cidr, what) in [(service_cidr, "serviceCIDR"), (pod_cidr, "podCIDR")] {
                if let Some(cidr) = cidr {
                    if cidr.contains(ip) {
                        c.err(p(field), format!("{ip} lies inside the cluster {what} {cidr}"));
                    }
                }
            }
            if ip.is_loopback() {
                c.warn(p(field), format!("{ip} is a loopback address: only useful for local test clusters"));
            }
            Some(ip)
        };
        let internal_ip = check_ip("internalIP", &rn.internal_ip, c);
        let external_ip = rn.external_ip.as_ref().map(|s| check_ip("externalIP", s, c));

        let mut roles = Vec::new();
        if rn.roles.is_empty() {
            c.err(p("roles"), "at least one role is required (controlplane, etcd, worker, loadbalancer)");
        }
        for (k, r) in rn.roles.iter().enumerate() {
            match Role::parse(r) {
                Some(role) if roles.contains(&role) => {
                    c.err(format!("nodes[{i}].roles[{k}]"), format!("role {} is listed twice", quoted(r)))
                }
                Some(role) => roles.push(role),
                None => c.err(
                    format!("nodes[{i}].roles[{k}]"),
                    format!("unknown role {} (expected controlplane, etcd, worker or loadbalancer)", quoted(r)),
                ),
            }
        }
        roles.sort();
        if roles.contains(&Role::LoadBalancer) && roles.contains(&Role::ControlPlane) {
            c.err(p("roles"), "loadbalancer and controlplane cannot share a node: both listen on the API port");
        }
        if rn.kubelet_credentials.is_some() && !roles.contains(&Role::Worker) {
            c.err(
                p("kubeletCredentials"),
                "only workers run a kubelet; remove kubeletCredentials or add the worker role",
            );
        }
        let mut node_pod_cidr = None;
        if let Some(s) = &rn.pod_cidr {
            if !roles.contains(&Role::Worker) {
                c.err(p("podCIDR"), "only workers have a pod range; remove podCIDR or add the worker role");
            }
            match Cidr::parse(s) {
                Ok(nc) => {
                    if let Some(pc) = pod_cidr {
                        if !pc.covers(&nc) {
                            c.err(p("podCIDR"), format!("{nc} is not inside the cluster podCIDR {pc}"));
                        }
                    }
                    if nc.prefix() > max_pod_prefix(nc) {
                        c.err(
                            p("podCIDR"),
                            format!(
                                "{nc} has no room for pods: a node's range needs at least a /{}",
                                max_pod_prefix(nc)
                            ),
                        );
                    }
                    node_pod_cidr = Some(nc);
                }
                Err(e) => c.err(p("podCIDR"), e),
            }
        }
        let external_ok = !matches!(external_ip, Some(None));
        if let (Some(name), Some(internal_ip), true) = (Name::new(&rn.name), internal_ip, external_ok) {
            nodes.push(Node {
                name,
                internal_ip,
                external_ip: external_ip.flatten(),
                roles,
                pod_cidr: node_pod_cidr,
                pod_cidr_allocated: false,
                arch: rn.arch,
                binaries: rn.binaries.unwrap_or(raw.binaries.source),
                kubelet_credentials: rn.kubelet_credentials.unwrap_or(raw.cluster.kubelet_credentials),
            });
        }
    }

    let count = |r: Role| nodes.iter().filter(|n| n.has(r)).count();
    if c.problems.len() == before {
        if count(Role::ControlPlane) == 0 {
            c.err("nodes", "no node has the controlplane role");
        }
        let etcd = count(Role::Etcd);
        if etcd == 0 {
            c.err("nodes", "no node has the etcd role");
        } else if etcd > MAX_ETCD_MEMBERS {
            c.err("nodes", format!("{etcd} etcd members: more than {MAX_ETCD_MEMBERS} slows every write and adds no useful fault tolerance"));
        } else if etcd == 1 {
            c.warn("nodes", "1 etcd member: no HA, losing that node loses the cluster state");
        } else if etcd % 2 == 0 {
            c.warn(
                "nodes",
                format!(
                    "{etcd} etcd members tolerate {} failure(s), no more than {}: use an odd count",
                    (etcd - 1) / 2,
                    etcd - 1
                ),
            );
        }
    }

    // Pod ranges: explicit ones must not overlap; the rest are allocated.
    let mut explicit: Vec<(usize, Cidr)> = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if let Some(nc) = n.pod_cidr {
            if let Some((j, _)) = explicit.iter().find(|(_, o)| o.overlaps(&nc)) {
                c.err(format!("nodes[{i}].podCIDR"), format!("{nc} overlaps the podCIDR of nodes[{j}]"));
            }
            explicit.push((i, nc));
        }
    }
    if c.problems.len() != before {
        return None;
    }
    if let (Some(pc), Some(mask)) = (pod_cidr, mask) {
        if let Err(p) = super::pods::allocate(&mut nodes, pc, mask) {
            c.problems.push(p);
        }
    }
    (c.problems.len() == before).then_some(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "cluster:\n  name: t\n  kubernetesVersion: \"1.36.0\"\n  apiServer: {endpoint: 10.0.0.1}\n  network: {serviceCIDR: 10.32.0.0/24, podCIDR: 10.200.0.0/22}\npki: {notBefore: \"2026-11-01T00:00:00Z\"}\nencryption: {keys: [key1]}\nnodes:\n  - {name: cp, internalIP: 10.0.0.2, roles: [controlplane, etcd]}\n";

    fn pods(extra: &str) -> Result<Vec<(String, Option<String>)>, Error> {
        let c = load("t.yaml", format!("{BASE}{extra}").as_bytes())?;
        Ok(c.topology.nodes.iter().map(|n| (n.name.to_string(), n.pod_cidr.map(|c| c.to_string()))).collect())
    }

    fn errors(yaml: &str) -> String {
        load("t.yaml", yaml.as_bytes()).err().map(|e| e.to_string()).unwrap_or_default()
    }

    fn warnings(yaml: &str) -> String {
        let c = load("t.yaml", yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        c.warnings.iter().map(|w| format!("{w}\n")).collect()
    }

    const WORKER: &str = "  - {name: w, internalIP: 10.0.0.3, roles: [worker]}\n";

    fn with_endpoint(endpoint: &str, nodes: &str) -> String {
        format!("{BASE}{nodes}").replace("endpoint: 10.0.0.1", &format!("endpoint: \"{endpoint}\""))
    }

    #[test]
    fn endpoints_that_can_never_work_are_rejected() {
        for (endpoint, why) in [
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("169.254.169.254", "metadata"),
            ("10.32.0.1", "inside serviceCIDR"),
            ("10.200.1.7", "inside podCIDR"),
            ("10.0.0.3", "node w's address, and it runs no API server"),
            ("127.0.0.1", "loopback endpoint in a cluster of 2 nodes"),
            ("localhost", "loopback endpoint in a cluster of 2 nodes"),
        ] {
            let e = errors(&with_endpoint(endpoint, WORKER));
            assert!(e.contains("cluster.apiServer.endpoint") && e.contains(why), "{endpoint}: {e}");
        }
        // Loopback only works for local test clusters: warned about, on one node or all-loopback nodes.
        assert!(warnings(&with_endpoint("127.0.0.1", "")).contains("loopback endpoint"));
        let local = with_endpoint("127.0.0.1", "  - {name: w, internalIP: 127.0.20.1, roles: [worker]}\n")
            .replace("internalIP: 10.0.0.2", "internalIP: 127.0.10.1");
        assert!(warnings(&local).contains("loopback endpoint"));
        // A controlplane's own address is fine for one controlplane.
        assert_eq!(errors(&with_endpoint("10.0.0.2", WORKER)), "");
    }

    #[test]
    fn api_ports_are_checked_against_what_runs_beside_the_apiserver() {
        let with_port = |p: &str| {
            format!("{BASE}{WORKER}").replace("endpoint: 10.0.0.1}", &format!("endpoint: 10.0.0.1, port: {p}}}"))
        };
        for (port, owner) in [
            ("2379", "etcd (clients)"),
            ("2380", "etcd (peers)"),
            ("10257", "kube-controller-manager"),
            ("10259", "kube-scheduler"),
            ("22", "SSH"),
        ] {
            let e = errors(&with_port(port));
            assert!(
                e.contains(&format!("cluster.apiServer.port: {port} is already used by {owner} on node cp")),
                "{port}: {e}"
            );
        }
        // The kubelet's port collides only where a kubelet runs beside the apiserver.
        assert_eq!(errors(&with_port("10250")), "");
        let aio = with_port("10250").replace("roles: [controlplane, etcd]", "roles: [controlplane, etcd, worker]");
        assert!(errors(&aio).contains("10250 is already used by kubelet"), "{}", errors(&aio));
        for bad in ["70000", "0", "-1"] {
            let e = errors(&with_port(bad));
            assert!(e.contains(&format!("cluster.apiServer.port: {bad} is not a port: a port must be 1-65535")), "{e}");
        }
        assert_eq!(errors(&with_port("8443")), "");
    }

    #[test]
    fn node_addresses_and_pod_ranges_that_cannot_work_are_rejected() {
        for (ip, why) in [
            ("255.255.255.255", "broadcast"),
            ("169.254.169.254", "metadata"),
            ("169.254.3.4", "link-local"),
            ("fe80::1", "link-local"),
        ] {
            let e = errors(&format!("{BASE}  - {{name: w, internalIP: \"{ip}\", roles: [worker]}}\n"));
            assert!(e.contains(&format!("nodes[1].internalIP: {ip} is")) && e.contains(why), "{ip}: {e}");
        }
        let mask = |m: u8| {
            format!("{BASE}{WORKER}")
                .replace("podCIDR: 10.200.0.0/22}", &format!("podCIDR: 10.200.0.0/22, nodeCIDRMaskSize: {m}}}"))
        };
        for m in [31, 32] {
            assert!(
                errors(&mask(m))
                    .contains(&format!("/{m} does not fit podCIDR 10.200.0.0/22: it must lie between /22 and /30")),
                "{}",
                errors(&mask(m))
            );
        }
        assert_eq!(errors(&mask(30)), "");
        let tiny = format!("{BASE}  - {{name: w, internalIP: 10.0.0.3, roles: [worker], podCIDR: 10.200.0.4/31}}\n");
        assert!(errors(&tiny).contains("10.200.0.4/31 has no room for pods"), "{}", errors(&tiny));
    }

    #[test]
    fn download_urls_are_plain_https_without_credentials() {
        let with = |u: &str| format!("{BASE}binaries: {{baseURL: \"{u}\"}}\n");
        let e = errors(&with("https://user:pass@mirror.example/k8s"));
        assert!(e.contains("carries credentials") && e.contains("reviewed and committed"), "{e}");
        assert!(errors(&with("https://user@mirror.example")).contains("carries credentials"));
        for ok in [
            "https://[fd00::1]:8443/k8s",
            "https://10.1.2.3/r",
            "https://mirror.example:8080",
            "https://dl.k8s.io/release",
        ] {
            assert_eq!(errors(&with(ok)), "", "{ok}");
        }
        for (bad, why) in [
            ("https://mirror.example:99999/x", "port \"99999\" is not 1-65535"),
            ("https://mirror.example:0", "is not 1-65535"),
            ("https://[fd00::1/x", "must be in brackets"),
            ("https://[nope]:1/x", "is not an IPv6 address"),
            ("http://mirror.example", "must be an https:// URL"),
            ("https://bad_host/x", "is not a DNS name"),
            ("https://m.example/a b", "the path may hold only"),
            ("https://m.example/x/", "must not end in a slash"),
        ] {
            let e = errors(&with(bad));
            assert!(e.contains("binaries.baseURL") && e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn dates_are_bounded_to_what_certificates_hold() {
        let with = |nb: &str, days: u32| {
            BASE.replace(
                "notBefore: \"2026-11-01T00:00:00Z\"}",
                &format!("notBefore: \"{nb}\", caValidityDays: {days}}}"),
            )
        };
        let e = errors(&with("9990-06-01T00:00:00Z", 3650));
        assert!(
            e.contains(
                "pki.caValidityDays: 3650 days from pki.notBefore 9990-06-01T00:00:00Z ends after 9999-12-31T23:59:59Z"
            ),
            "{e}"
        );
        assert!(errors(&with("0000-01-01T00:00:00Z", 3650)).contains("is before 1950-01-01"));
        assert!(errors(&with("1949-12-31T23:59:59Z", 3650)).contains("is before 1950-01-01"));
        // The bounds themselves render.
        for (nb, days) in [("1950-01-01T00:00:00Z", 365), ("9998-12-31T23:59:59Z", 365)] {
            let c = load("t.yaml", with(nb, days).as_bytes()).unwrap_or_else(|e| panic!("{nb}: {e}"));
            crate::render(&c.topology, &crate::Secrets::from_seed([1; 32])).unwrap_or_else(|e| panic!("{nb}: {e}"));
        }
    }

    #[test]
    fn messages_name_the_fix_and_quote_at_most_80_characters() {
        let e = errors(&BASE.replace("name: t\n", "name: Prod\n"));
        assert!(
            e.contains(
                "cluster.name: \"Prod\" is not a DNS-1123 label: names must be lower-case (did you mean \"prod\"?)"
            ),
            "{e}"
        );
        let e = errors(&BASE.replace("{name: cp,", "{name: CP_1,"));
        assert!(e.contains("names must be lower-case, with only a-z, 0-9 and '-'"), "{e}");
        let e = errors(&BASE.replace("endpoint: 10.0.0.1", "endpoint: API.example.com"));
        assert!(e.contains("names must be lower-case (did you mean \"api.example.com\"?)"), "{e}");
        for dual in ["serviceCIDR: \"10.32.0.0/24,fd00::/108\"", "serviceCIDR: [10.32.0.0/24, \"fd00::/108\"]"] {
            let e = errors(&BASE.replace("serviceCIDR: 10.32.0.0/24", dual));
            assert!(
                e.contains("cluster.network.serviceCIDR")
                    && e.contains("dual-stack")
                    && e.contains("not supported yet"),
                "{dual}: {e}"
            );
            assert!(!e.contains("prefix must be"), "{e}");
        }
        let long = "x".repeat(500);
        let e = errors(&BASE.replace("name: t\n", &format!("name: {long}\n")));
        assert!(e.contains(&format!("\"{}…\"", "x".repeat(80))) && !e.contains(&"x".repeat(81)), "{e}");
    }

    /// The reported case: a huge explicit range and many small automatic ones (more slots than the
    /// old per-slot marking covered).
    #[test]
    fn allocation_never_overlaps_a_huge_explicit_range() -> Result<(), Error> {
        let mut y = BASE
            .replace("10.0.0.", "192.168.0.")
            .replace("podCIDR: 10.200.0.0/22}", "podCIDR: 10.0.0.0/8, nodeCIDRMaskSize: 30}")
            .replace("serviceCIDR: 10.32.0.0/24", "serviceCIDR: 172.16.0.0/24");
        y.push_str("  - {name: big, internalIP: 192.168.1.1, roles: [worker], podCIDR: 10.0.0.0/9}\n");
        for i in 0..12 {
            y.push_str(&format!("  - {{name: w{i}, internalIP: 192.168.2.{}, roles: [worker]}}\n", i + 1));
        }
        let c = load("t.yaml", y.as_bytes())?;
        let big = Cidr::parse("10.0.0.0/9").map_err(|e| Error::internal("t", e))?;
        for n in c.topology.nodes.iter().filter(|n| n.name.starts_with('w')) {
            let r = n.pod_cidr.ok_or_else(|| Error::internal("t", "no range"))?;
            assert!(!r.overlaps(&big), "{} got {r} inside {big}", n.name);
        }
        Ok(())
    }

    mod allocation {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]
            /// Whatever the explicit ranges (any size, any place) and automatic workers, no two pod
            /// ranges overlap, or the topology is rejected for lack of room.
            #[test]
            fn pod_ranges_never_overlap(
                cluster_prefix in 8u8..=20,
                extra in 0u8..=22,
                explicit in prop::collection::vec((0u32..64, 0u8..=12), 0..5),
                autos in 0usize..20,
            ) {
                let mask = (cluster_prefix + extra).min(30);
                let cluster = Cidr::parse(&format!("10.0.0.0/{cluster_prefix}")).unwrap();
                let mut y = BASE
                    .replace("10.0.0.", "192.168.0.")
                    .replace("podCIDR: 10.200.0.0/22}", &format!("podCIDR: 10.0.0.0/{cluster_prefix}, nodeCIDRMaskSize: {mask}}}"))
                    .replace("serviceCIDR: 10.32.0.0/24", "serviceCIDR: 172.16.0.0/24");
                let mut placed: Vec<Cidr> = Vec::new();
                for (i, (slot, grow)) in explicit.iter().enumerate() {
                    let prefix = (cluster_prefix + grow).min(30);
                    let Some(r) = cluster.subnet(prefix, u128::from(*slot) % cluster.subnet_count(prefix).unwrap()) else { continue };
                    if placed.iter().any(|p| p.overlaps(&r)) { continue }
                    placed.push(r);
                    y.push_str(&format!("  - {{name: e{i}, internalIP: 192.168.1.{}, roles: [worker], podCIDR: {r}}}\n", i + 1));
                }
                for i in 0..autos {
                    y.push_str(&format!("  - {{name: a{i}, internalIP: 192.168.2.{}, roles: [worker]}}\n", i + 1));
                }
                match load("t.yaml", y.as_bytes()) {
                    Ok(c) => {
                        let ranges: Vec<Cidr> = c.topology.nodes.iter().filter_map(|n| n.pod_cidr).collect();
                        prop_assert_eq!(ranges.len(), placed.len() + autos);
                        for (i, a) in ranges.iter().enumerate() {
                            prop_assert!(cluster.covers(a), "{} outside {}", a, cluster);
                            for b in &ranges[i + 1..] {
                                prop_assert!(!a.overlaps(b), "{} overlaps {}", a, b);
                            }
                        }
                    }
                    Err(e) => prop_assert!(e.to_string().contains("free /"), "{}", e),
                }
            }
        }
    }

    #[test]
    fn pod_ranges_are_stable_when_nodes_are_appended() -> Result<(), Error> {
        let a = "  - {name: a, internalIP: 10.0.1.1, roles: [worker]}\n  - {name: b, internalIP: 10.0.1.2, roles: [worker]}\n";
        let c = "  - {name: c, internalIP: 10.0.1.3, roles: [worker]}\n";
        let two = pods(a)?;
        let three = pods(&format!("{a}{c}"))?;
        assert_eq!(two[..], three[..3]);
        let all: BTreeSet<_> = three.iter().filter_map(|(_, p)| p.clone()).collect();
        assert_eq!(all.len(), 3, "ranges must be distinct: {three:?}");
        assert!(three[0].1.is_none(), "controlplane-only nodes get no pod range");
        Ok(())
    }

    #[test]
    fn allocation_skips_explicit_ranges_and_reports_exhaustion() -> Result<(), Error> {
        // /22 holds four /24s: three explicit, one left for the automatic worker.
        let explicit = "  - {name: a, internalIP: 10.0.1.1, roles: [worker], podCIDR: 10.200.0.0/24}\n  - {name: b, internalIP: 10.0.1.2, roles: [worker], podCIDR: 10.200.1.0/24}\n  - {name: c, internalIP: 10.0.1.3, roles: [worker], podCIDR: 10.200.3.0/24}\n";
        let d = "  - {name: d, internalIP: 10.0.1.4, roles: [worker]}\n";
        let got = pods(&format!("{explicit}{d}"))?;
        assert_eq!(got[4].1.as_deref(), Some("10.200.2.0/24"));
        let e = "  - {name: e, internalIP: 10.0.1.5, roles: [worker]}\n";
        let err = pods(&format!("{explicit}{d}{e}")).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains("holds 1 free /24 ranges but 2 workers need one"), "{err}");
        Ok(())
    }
}
