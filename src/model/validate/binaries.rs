//! Validation of `binaries`: where the Kubernetes binaries come from (URLs without credentials,
//! versions, checksums, preinstalled paths).

use super::*;

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

pub(super) fn validate_binaries(raw: &RawBinaries, version: Option<Version>, c: &mut Collector) -> Option<Binaries> {
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
