//! Names: DNS-1123 labels and subdomains, hosts (IP or DNS name), and `Name`, a validated label.

use super::Host;
use crate::fmt::quoted;
use std::net::IpAddr;

/// A DNS-1123 label that passed validation: the cluster's and every node's name. Only validation
/// makes one, so a name can never carry a line break, a quote or a shell character into a file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// `s` as a name, when it is a DNS-1123 label.
    pub(super) fn new(s: &str) -> Option<Name> {
        is_dns_label(s).then(|| Name(s.to_string()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&Name> for String {
    fn from(n: &Name) -> String {
        n.0.clone()
    }
}

impl serde::Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Why `s` is not a DNS-1123 label (`None` when it is one), quoting it.
pub fn dns_label_problem(s: &str) -> Option<String> {
    if is_dns_label(s) {
        return None;
    }
    let q = quoted(s);
    let lower = s.to_ascii_lowercase();
    Some(if s.bytes().any(|b| b.is_ascii_uppercase()) && is_dns_label(&lower) {
        format!("{q} is not a DNS-1123 label: names must be lower-case (did you mean {}?)", quoted(&lower))
    } else if s.bytes().any(|b| b.is_ascii_uppercase()) {
        format!("{q} is not a DNS-1123 label: names must be lower-case, with only a-z, 0-9 and '-' (at most 63)")
    } else {
        format!("{q} is not a DNS-1123 label (lower-case a-z, 0-9 and '-', starting and ending with a letter or digit, at most 63)")
    })
}

/// RFC 1123 label: lowercase alphanumerics and '-', starting and ending alphanumeric, at most 63.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// RFC 1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns_label)
}

/// Why `s` is neither an IP address nor a DNS name, for an error message.
pub(super) fn host_problem(s: &str) -> String {
    if s.bytes().any(|b| b.is_ascii_uppercase()) && parse_host(&s.to_ascii_lowercase()).is_some() {
        format!(
            "{} is not a DNS name: names must be lower-case (did you mean {}?)",
            quoted(s),
            quoted(&s.to_ascii_lowercase())
        )
    } else {
        format!("{} is neither an IP address nor a DNS name", quoted(s))
    }
}

pub(super) fn parse_host(s: &str) -> Option<Host> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(Host::Ip(ip));
    }
    // A name that looks like a dotted quad but failed to parse is a typo, not a DNS name.
    if s.split('.').all(|p| p.bytes().all(|b| b.is_ascii_digit())) {
        return None;
    }
    is_dns_subdomain(s).then(|| Host::Dns(s.to_string()))
}
