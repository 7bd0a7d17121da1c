//! IP addresses and CIDR blocks: parsing, containment, overlap and sub-block arithmetic (IPv4 and IPv6).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A CIDR block in canonical form (host bits zero).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::y/n`; host bits must be zero, so a typo is not silently masked.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let q = crate::fmt::quoted(s);
        if s.contains(',') {
            return Err(format!("{q}: dual-stack (an IPv4 and an IPv6 range) is not supported yet; give one range"));
        }
        let (a, p) = s.split_once('/').ok_or_else(|| format!("{q} is not a CIDR block (expected address/prefix)"))?;
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{q} is not a CIDR block: {} is not an IP address", crate::fmt::quoted(a)))?;
        let max = max_prefix(addr);
        let prefix: u8 = match p.parse::<u8>() {
            Ok(n) if n <= max && !p.starts_with('+') => n,
            _ => return Err(format!("{q} is not a CIDR block: prefix must be 0..={max}")),
        };
        let c = Cidr { addr, prefix };
        if c.network_bits() != to_bits(addr) {
            return Err(format!(
                "{q} has host bits set; did you mean {}?",
                Cidr::from_bits(c.network_bits(), addr.is_ipv6(), prefix)
            ));
        }
        Ok(c)
    }

    fn from_bits(bits: u128, v6: bool, prefix: u8) -> Cidr {
        Cidr { addr: from_bits(bits, v6), prefix }
    }

    /// The network address.
    pub fn addr(&self) -> IpAddr {
        self.addr
    }
    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }
    /// Whether it is an IPv6 range.
    pub fn is_ipv6(&self) -> bool {
        self.addr.is_ipv6()
    }
    fn host_bits(&self) -> u32 {
        u32::from(max_prefix(self.addr) - self.prefix)
    }
    fn network_bits(&self) -> u128 {
        let hb = self.host_bits();
        let mask = if hb >= 128 { 0 } else { !0u128 << hb };
        to_bits(self.addr) & mask
    }
    fn last_bits(&self) -> u128 {
        let hb = self.host_bits();
        let span = if hb >= 128 { !0u128 } else { (1u128 << hb) - 1 };
        self.network_bits() | span
    }

    /// Number of addresses, saturating at u128::MAX.
    pub fn size(&self) -> u128 {
        let hb = self.host_bits();
        if hb >= 128 {
            u128::MAX
        } else {
            1u128 << hb
        }
    }

    /// The n-th address of the block (0 = network address), if inside it.
    pub fn nth(&self, n: u128) -> Option<IpAddr> {
        if n >= self.size() {
            return None;
        }
        Some(from_bits(self.network_bits() + n, self.is_ipv6()))
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv6() == self.is_ipv6() && {
            let b = to_bits(ip);
            b >= self.network_bits() && b <= self.last_bits()
        }
    }

    /// Whether the ranges share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.is_ipv6() == other.is_ipv6()
            && self.network_bits() <= other.last_bits()
            && other.network_bits() <= self.last_bits()
    }

    /// True when `other` lies entirely inside `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.is_ipv6() == other.is_ipv6() && other.prefix >= self.prefix && self.contains(other.addr)
    }

    /// How many sub-blocks of length `prefix` fit (None when `prefix` is shorter than ours).
    pub fn subnet_count(&self, prefix: u8) -> Option<u128> {
        if prefix < self.prefix || prefix > max_prefix(self.addr) {
            return None;
        }
        let d = u32::from(prefix - self.prefix);
        Some(if d >= 128 { u128::MAX } else { 1u128 << d })
    }

    /// Indices (first, last) of the sub-blocks of length `prefix` that `other` touches, when inside us.
    pub fn subnet_span(&self, prefix: u8, other: &Cidr) -> Option<(u128, u128)> {
        if !self.covers(other) || prefix < self.prefix || prefix > max_prefix(self.addr) {
            return None;
        }
        let hb = u32::from(max_prefix(self.addr) - prefix);
        let shift = |v: u128| v.checked_shr(hb).unwrap_or(0);
        let base = self.network_bits();
        Some((shift(other.network_bits() - base), shift(other.last_bits() - base)))
    }

    /// The i-th sub-block of length `prefix`.
    pub fn subnet(&self, prefix: u8, i: u128) -> Option<Cidr> {
        let count = self.subnet_count(prefix)?;
        if i >= count {
            return None;
        }
        let hb = u32::from(max_prefix(self.addr) - prefix);
        let off = if hb >= 128 { 0 } else { i << hb };
        Some(Cidr::from_bits(self.network_bits() + off, self.is_ipv6(), prefix))
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn max_prefix(ip: IpAddr) -> u8 {
    if ip.is_ipv6() {
        128
    } else {
        32
    }
}

fn to_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(bits: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(Ipv6Addr::from(bits))
    } else {
        // Only called with bits produced from an IPv4 block, so the value fits.
        IpAddr::V4(Ipv4Addr::from(u32::try_from(bits).unwrap_or(u32::MAX)))
    }
}

/// `https://host:port`, bracketing IPv6 literals.
pub fn url(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("https://[{host}]:{port}")
    } else {
        format!("https://{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Cidr {
        match Cidr::parse(s) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn parses_and_rejects() {
        assert_eq!(c("10.32.0.0/24").to_string(), "10.32.0.0/24");
        assert!(Cidr::parse("10.32.0.1/24").unwrap_err().contains("10.32.0.0/24"));
        assert!(Cidr::parse("10.32.0.0/33").is_err());
        assert!(Cidr::parse("10.32.0.0").is_err());
        assert!(Cidr::parse("10.32.0.0/+8").is_err());
        assert_eq!(c("fd00::/64").nth(1).map(|a| a.to_string()), Some("fd00::1".into()));
    }

    #[test]
    fn arithmetic() {
        let p = c("10.200.0.0/16");
        assert_eq!(p.subnet_count(24), Some(256));
        assert_eq!(p.subnet(24, 3), Some(c("10.200.3.0/24")));
        assert_eq!(p.subnet(24, 256), None);
        assert_eq!(p.subnet_span(24, &c("10.200.3.0/24")), Some((3, 3)));
        assert_eq!(p.subnet_span(24, &c("10.200.4.0/23")), Some((4, 5)));
        assert_eq!(p.subnet_span(24, &c("10.200.7.128/25")), Some((7, 7)));
        assert_eq!(p.subnet_span(24, &c("10.201.0.0/24")), None);
        assert!(p.covers(&c("10.200.3.0/24")));
        assert!(!p.covers(&c("10.0.0.0/8")));
        assert!(c("10.0.0.0/8").overlaps(&p));
        assert!(!c("10.32.0.0/24").overlaps(&p));
        assert_eq!(c("10.32.0.0/24").nth(10).map(|a| a.to_string()), Some("10.32.0.10".into()));
        assert_eq!(c("10.32.0.0/24").nth(256), None);
        assert!(!p.contains("fd00::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))));
        assert_eq!(c("0.0.0.0/0").size(), 1u128 << 32);
        assert_eq!(url("::1", 6443), "https://[::1]:6443");
    }
}
