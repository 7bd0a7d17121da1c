//! Issues every certificate of the table for a topology: profile + topology + seed -> signed PEM.

use super::keys::{pem_encode, Key, KeyMode};
use super::seed::Secrets;
use crate::catalog::certs::{CertProfile, Issuer as IssuerRule, SanRule, Scope, Subject, Usage, PROFILES};
use crate::catalog::paths;
use crate::error::{Error, Result};
use crate::fmt::hex;
use crate::model::{Host, Node, Role, Topology};
use rayon::prelude::*;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod,
    KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use time::OffsetDateTime;

/// A subject alternative name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum San {
    /// A DNS name.
    Dns(String),
    /// An IP address.
    Ip(IpAddr),
}

impl San {
    /// `DNS:name` or `IP:address`.
    pub fn render(&self) -> String {
        match self {
            San::Dns(d) => format!("DNS:{d}"),
            San::Ip(ip) => format!("IP:{ip}"),
        }
    }
}

/// One issued certificate with everything the bundle and index need to describe it. Its `Debug` shows
/// no key.
pub struct Issued {
    /// Its row of the certificate table.
    pub profile: &'static CertProfile,
    /// The node it is for (per-node profiles).
    pub node: Option<String>,
    /// The PEM certificate (moved into the bundle once the kubeconfigs embedding it are built).
    pub cert_pem: String,
    /// The PEM private key, or a placeholder line in a redacted render (moved into the bundle like `cert_pem`).
    pub key_pem: String,
    /// Whether `key_pem` is a placeholder.
    pub key_redacted: bool,
    /// RFC 4514 form, most specific first (as `openssl x509 -subject -nameopt RFC2253` prints it).
    pub subject: String,
    /// Its common name.
    pub common_name: String,
    /// Its subject alternative names.
    pub sans: Vec<San>,
    /// Key usages (digitalSignature, keyCertSign, ...).
    pub key_usages: Vec<&'static str>,
    /// Extended key usages (serverAuth, clientAuth).
    pub ext_usages: Vec<&'static str>,
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
    /// "ecdsa-p256", "rsa-2048", ...
    pub key_algorithm: &'static str,
    /// The CA generation: a CA's own, a leaf's signing one.
    pub generation: u32,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("profile", &self.profile.name)
            .field("node", &self.node)
            .field("subject", &self.subject)
            .field("generation", &self.generation)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// Bundle paths of the certificate and its key.
    pub fn paths(&self) -> (String, String) {
        paths::cert_paths(self.profile, self.node.as_deref(), self.generation)
    }
    /// Profile name of the CA that signed it (its own for a CA).
    pub fn issuer_name(&self) -> &'static str {
        match self.profile.issuer {
            IssuerRule::SelfSigned => self.profile.name,
            IssuerRule::Ca(ca) => ca,
        }
    }
}

/// A service-account key generation: its public key, and its private key where it signs.
pub struct SaKey {
    /// The generation.
    pub generation: u32,
    /// The public key (PEM).
    pub public_pem: String,
    /// The signing generation only (a placeholder line in a redacted render).
    pub private_pem: Option<String>,
}

/// All certificates (every trusted CA generation, every leaf) plus the service-account keys.
pub struct Pki {
    /// Every certificate: CAs of every trusted generation, then leaves.
    pub certs: Vec<Issued>,
    /// (profile, node) -> the certificate; for a CA, its signing generation.
    index: BTreeMap<(String, Option<String>), usize>,
    /// Trusted generations, the signing one first.
    trusted: Vec<u32>,
    /// CA name -> its trust bundle (see `trust_pem`), made once.
    trust: BTreeMap<&'static str, String>,
    /// Service-account keys of the trusted generations, the signing one first.
    pub sa_keys: Vec<SaKey>,
}

impl Pki {
    /// The certificate of profile `name` (the node's own for per-node profiles; for a CA, the
    /// generation that signs).
    pub fn get(&self, name: &str, node: Option<&str>) -> Result<&Issued> {
        self.index
            .get(&(name.to_string(), node.map(str::to_string)))
            .and_then(|&i| self.certs.get(i))
            .ok_or_else(|| Error::internal(name, format!("certificate not issued for node {node:?}")))
    }

    /// The trust bundle of CA `name`: the PEM certificates of every trusted generation, the signing one
    /// first (it is the certificate a signer reading the file takes; the rest is chain).
    pub fn trust_pem(&self, name: &str) -> String {
        self.trust.get(name).cloned().unwrap_or_default()
    }

    /// Whether trust bundles hold more than generation 1's certificate (then they have files of
    /// their own; see `paths::trust_bundle`).
    pub fn trusted(&self) -> &[u32] {
        &self.trusted
    }

    /// The public keys of every trusted service-account key generation, signing first.
    pub fn sa_trust_pem(&self) -> String {
        self.sa_keys.iter().map(|k| k.public_pem.as_str()).collect()
    }
}

/// Validity window of a profile: CAs per generation, leaves from `leaf_not_before`.
fn validity(t: &Topology, p: &CertProfile, generation: u32) -> (OffsetDateTime, OffsetDateTime) {
    if p.is_ca() {
        t.ca_validity(generation).unwrap_or((t.not_before, t.not_before))
    } else {
        t.leaf_validity()
    }
}

fn common_name(p: &CertProfile, node: Option<&Node>, generation: u32) -> String {
    match (p.subject, node) {
        // A later CA generation's name tells it apart from the first, which keeps its name.
        (Subject::Fixed(s), _) if p.is_ca() && generation > 1 => format!("{s}-gen{generation}"),
        (Subject::Fixed(s), _) => s.to_string(),
        (Subject::NodeName, Some(n)) => n.name.to_string(),
        (Subject::NodePrefixed(pre), Some(n)) => format!("{pre}{}", n.name),
        // Per-node subjects on a cluster-scoped profile are ruled out by the profile tests.
        (_, None) => p.name.to_string(),
    }
}

fn push_unique(v: &mut Vec<San>, s: San) {
    if !v.contains(&s) {
        v.push(s);
    }
}

fn host_san(h: &Host) -> San {
    match h {
        Host::Ip(ip) => San::Ip(*ip),
        Host::Dns(d) => San::Dns(d.clone()),
    }
}

/// Subject alternative names for a profile, in a fixed order, without duplicates.
pub fn sans(t: &Topology, rule: SanRule, node: Option<&Node>) -> Vec<San> {
    let mut v = Vec::new();
    let localhost = |v: &mut Vec<San>, v6: bool| {
        push_unique(v, San::Dns("localhost".into()));
        push_unique(v, San::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        if v6 {
            push_unique(v, San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        }
    };
    match rule {
        SanRule::None => {}
        SanRule::ApiServer => {
            if let Some(ip) = t.kubernetes_service_ip() {
                push_unique(&mut v, San::Ip(ip));
            }
            for d in ["kubernetes", "kubernetes.default", "kubernetes.default.svc"] {
                push_unique(&mut v, San::Dns(d.into()));
            }
            push_unique(&mut v, San::Dns(format!("kubernetes.default.svc.{}", t.dns_domain)));
            push_unique(&mut v, host_san(&t.endpoint));
            for h in &t.extra_sans {
                push_unique(&mut v, host_san(h));
            }
            for n in t.nodes_with(Role::ControlPlane) {
                for ip in n.ips() {
                    push_unique(&mut v, San::Ip(ip));
                }
            }
            localhost(&mut v, t.service_cidr.is_ipv6());
        }
        SanRule::EtcdMember | SanRule::Kubelet => {
            if let Some(n) = node {
                push_unique(&mut v, San::Dns(n.name.to_string()));
                for ip in n.ips() {
                    push_unique(&mut v, San::Ip(ip));
                }
            }
            if rule == SanRule::EtcdMember {
                localhost(&mut v, true);
            }
        }
    }
    v
}

/// Everything a certificate says, computed before any key work.
struct Plan<'t> {
    profile: &'static CertProfile,
    node: Option<&'t Node>,
    cn: String,
    sans: Vec<San>,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    /// A CA's own generation, a leaf's signing one.
    generation: u32,
}

impl Plan<'_> {
    /// `profile`, `profile/node`, or for a CA generation after the first `profile/genN`.
    fn id(&self) -> String {
        match self.node {
            Some(n) => format!("{}/{}", self.profile.name, n.name),
            None if self.profile.is_ca() && self.generation > 1 => {
                format!("{}/gen{}", self.profile.name, self.generation)
            }
            None => self.profile.name.to_string(),
        }
    }
}

/// Every certificate: each CA once per trusted generation (the signing one first), then the leaves.
fn plans<'t>(t: &'t Topology) -> Vec<Plan<'t>> {
    let mut out = Vec::new();
    for p in PROFILES {
        let gens: Vec<u32> = if p.is_ca() { t.trusted_cas.clone() } else { vec![t.signing_ca] };
        for g in gens {
            let mut add = |node: Option<&'t Node>| {
                let (nb, na) = validity(t, p, g);
                out.push(Plan {
                    profile: p,
                    node,
                    cn: common_name(p, node, g),
                    sans: sans(t, p.sans, node),
                    not_before: nb,
                    not_after: na,
                    generation: g,
                })
            };
            add_scope(t, p.scope, &mut add);
        }
    }
    out
}

fn add_scope<'t>(t: &'t Topology, scope: Scope, add: &mut impl FnMut(Option<&'t Node>)) {
    match scope {
        Scope::Cluster => add(None),
        Scope::PerNode(role) => t.nodes_with(role).for_each(|n| add(Some(n))),
        Scope::PerKubelet => t.nodes.iter().filter(|n| n.has_kubelet_certs()).for_each(|n| add(Some(n))),
    }
}

fn params(
    plan: &Plan<'_>,
    key: &Key,
    secrets: &Secrets,
) -> Result<(CertificateParams, Vec<&'static str>, Vec<&'static str>)> {
    let p = plan.profile;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    // Go's pkix order: O before CN.
    if let Some(o) = p.org {
        dn.push(DnType::OrganizationName, o);
    }
    dn.push(DnType::CommonName, plan.cn.as_str());
    params.distinguished_name = dn;
    params.not_before = plan.not_before;
    params.not_after = plan.not_after;
    params.key_identifier_method = KeyIdMethod::PreSpecified(key.key_id());
    let mut kus = vec![KeyUsagePurpose::DigitalSignature];
    let mut ku_names = vec!["digitalSignature"];
    if p.is_ca() {
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        kus.extend([KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]);
        ku_names.extend(["keyCertSign", "cRLSign"]);
    } else {
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        if key.is_rsa() {
            // TLS 1.2 RSA key exchange needs keyEncipherment; ECDSA keys never encipher.
            kus.push(KeyUsagePurpose::KeyEncipherment);
            ku_names.push("keyEncipherment");
        }
    }
    params.key_usages = kus;
    params.extended_key_usages = p
        .usages
        .iter()
        .map(|u| match u {
            Usage::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
            Usage::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
        })
        .collect();
    let ekus: Vec<&'static str> = p.usages.iter().map(|u| u.as_str()).collect();
    for s in &plan.sans {
        params.subject_alt_names.push(match s {
            San::Ip(ip) => SanType::IpAddress(*ip),
            San::Dns(d) => SanType::DnsName(
                d.as_str().try_into().map_err(|e| Error::internal(plan.id(), format!("SAN {d}: {e}")))?,
            ),
        });
    }
    // Serial: from the seed and everything the certificate says, so a changed certificate gets a
    // new serial and an unchanged one keeps its own.
    let fingerprint = serial_input(plan, &key.key_id());
    let mut serial = [0u8; 16];
    secrets.derive_into(&format!("serial/{}", hex(&Sha256::digest(fingerprint.as_bytes()))), &mut serial)?;
    serial[0] = (serial[0] & 0x7f) | 0x40; // positive, always 16 bytes long
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok((params, ku_names, ekus))
}

/// The text a certificate's serial is derived from (hashed, then HKDF with the seed), encoding v1:
///
/// `ID|CN|ORG|SANS|NOT_BEFORE|NOT_AFTER|USAGES|KEY_ID`, where ID is `profile` or `profile/node`; ORG is
/// `None` or `Some("org")`; SANS is `[` + the SANs joined by `, ` + `]`, each `Dns("name")`,
/// `Ip(address)` (IPv6 in its canonical text); the times are Unix seconds; USAGES is `[` + `ServerAuth` /
/// `ClientAuth` joined by `, ` + `]`; KEY_ID is the subject key identifier in lower-case hex. Strings
/// are quoted and escaped as Rust's `str` Debug does (names here never need escaping). The format
/// began as Rust's derived Debug output of these values; it is written out so that renaming a type
/// or variant can never change a serial. Changing it changes every serial: bump the version.
fn serial_input(plan: &Plan<'_>, key_id: &[u8]) -> String {
    let org = match plan.profile.org {
        Some(o) => format!("Some({o:?})"),
        None => "None".into(),
    };
    let sans: Vec<String> = plan
        .sans
        .iter()
        .map(|s| match s {
            San::Dns(d) => format!("Dns({:?})", d.as_str()),
            San::Ip(ip) => format!("Ip({ip})"),
        })
        .collect();
    let usages: Vec<&str> = plan
        .profile
        .usages
        .iter()
        .map(|u| match u {
            Usage::ServerAuth => "ServerAuth",
            Usage::ClientAuth => "ClientAuth",
        })
        .collect();
    format!(
        "{}|{}|{org}|[{}]|{}|{}|[{}]|{}",
        plan.id(),
        plan.cn,
        sans.join(", "),
        plan.not_before.unix_timestamp(),
        plan.not_after.unix_timestamp(),
        usages.join(", "),
        hex(key_id)
    )
}

fn subject_string(p: &CertProfile, cn: &str) -> String {
    match p.org {
        Some(o) => format!("CN={cn},O={o}"),
        None => format!("CN={cn}"),
    }
}

fn finish(
    plan: &Plan<'_>,
    der: Vec<u8>,
    key: &Key,
    kus: Vec<&'static str>,
    ekus: Vec<&'static str>,
    redact: bool,
) -> Result<Issued> {
    let key_pem = if redact {
        let (_, key_path) = paths::cert_paths(plan.profile, plan.node.map(|n| n.name.as_str()), plan.generation);
        format!("{}\n", super::redact::placeholder(&format!("private key {key_path}"), &key.pkcs8_der()?))
    } else {
        key.private_pem()?
    };
    Ok(Issued {
        profile: plan.profile,
        node: plan.node.map(|n| n.name.to_string()),
        cert_pem: pem_encode("CERTIFICATE", &der),
        key_pem,
        key_redacted: redact,
        subject: subject_string(plan.profile, &plan.cn),
        common_name: plan.cn.clone(),
        sans: plan.sans.clone(),
        key_usages: kus,
        ext_usages: ekus,
        not_before: plan.not_before,
        not_after: plan.not_after,
        key_algorithm: key.algorithm_name(),
        generation: plan.generation,
    })
}

/// Key purpose label: per profile and node (and CA generation), so adding a node never changes another
/// key; a leaf key generation after 0 (`pki.leafKeyGeneration`) gives every leaf a new key.
fn key_purpose(t: &Topology, plan: &Plan<'_>) -> String {
    match t.leaf_key_generation {
        g if g > 0 && !plan.profile.is_ca() => format!("cert/{}/key-gen{g}", plan.id()),
        _ => format!("cert/{}", plan.id()),
    }
}

/// The service-account key of generation `g` (generation 1 keeps the label it always had).
fn sa_purpose(g: u32) -> String {
    match g {
        1 => "service-account".into(),
        g => format!("service-account/gen{g}"),
    }
}

/// Issues every certificate for the topology, plus the service-account keys. Every key is derived on
/// every core of the calling pool first (RSA key generation dominates), then the CAs sign
/// themselves, then the leaves are signed by the signing generation; the order of the result is the
/// table's, whatever the number of threads.
pub fn issue_all(t: &Topology, secrets: &Secrets, redact: bool, mode: KeyMode) -> Result<Pki> {
    let plans = plans(t);
    let mut purposes: Vec<String> = plans.iter().map(|p| key_purpose(t, p)).collect();
    purposes.extend(t.sa_trusted.iter().map(|g| sa_purpose(*g)));
    let mut keys =
        purposes.par_iter().map(|p| Key::make(secrets, t.key_algorithm, p, mode)).collect::<Result<Vec<Key>>>()?;
    let sa = keys.split_off(plans.len());
    let mut keyed: Vec<(Plan<'_>, Key)> = plans.into_iter().zip(keys).collect();
    let leaves = keyed.split_off(keyed.iter().take_while(|(p, _)| p.profile.is_ca()).count());
    let cas = keyed
        .into_par_iter()
        .map(|(plan, key)| -> Result<(Issued, Issuer<'static, Key>)> {
            let (params, kus, ekus) = params(&plan, &key, secrets)?;
            let cert = params.self_signed(&key).map_err(|e| Error::internal(plan.id(), e))?;
            Ok((finish(&plan, cert.der().to_vec(), &key, kus, ekus, redact)?, Issuer::new(params, key)))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut certs = Vec::with_capacity(cas.len() + leaves.len());
    let mut issuers: BTreeMap<(&'static str, u32), Issuer<'static, Key>> = BTreeMap::new();
    for (issued, issuer) in cas {
        issuers.insert((issued.profile.name, issued.generation), issuer);
        certs.push(issued);
    }
    let issued = leaves
        .par_iter()
        .map(|(plan, key)| -> Result<Issued> {
            let (params, kus, ekus) = params(plan, key, secrets)?;
            let IssuerRule::Ca(ca) = plan.profile.issuer else {
                return Err(Error::internal(plan.id(), "leaf without issuer"));
            };
            let issuer = issuers.get(&(ca, plan.generation)).ok_or_else(|| {
                Error::internal(plan.id(), format!("issuer {ca} generation {} missing", plan.generation))
            })?;
            let cert = params.signed_by(key, issuer).map_err(|e| Error::internal(plan.id(), e))?;
            finish(plan, cert.der().to_vec(), key, kus, ekus, redact)
        })
        .collect::<Result<Vec<_>>>()?;
    certs.extend(issued);
    // A CA's entry is its signing generation.
    let index = certs
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.profile.is_ca() || c.generation == t.signing_ca)
        .map(|(i, c)| ((c.profile.name.to_string(), c.node.clone()), i))
        .collect();
    let mut sa_keys = Vec::with_capacity(sa.len());
    for (g, key) in t.sa_trusted.iter().zip(sa) {
        let private_pem = match (*g == t.sa_signing, redact) {
            (false, _) => None,
            (true, false) => Some(key.private_pem()?),
            (true, true) => {
                let path = paths::sa_paths(*g).0;
                Some(format!("{}\n", super::redact::placeholder(&format!("private key {path}"), &key.pkcs8_der()?)))
            }
        };
        sa_keys.push(SaKey { generation: *g, public_pem: key.public_pem(), private_pem });
    }
    let trust = PROFILES
        .iter()
        .filter(|p| p.is_ca())
        .map(|p| {
            let pem: String = t
                .trusted_cas
                .iter()
                .filter_map(|g| certs.iter().find(|c| c.profile.name == p.name && c.generation == *g))
                .map(|c| c.cert_pem.as_str())
                .collect();
            (p.name, pem)
        })
        .collect();
    Ok(Pki { certs, index, trusted: t.trusted_cas.clone(), trust, sa_keys })
}

/// The certificates a topology will get, as a text table (for `check`: no secret needed).
pub fn inventory(t: &Topology) -> String {
    let mut out = String::from("planned certificates:\n");
    for p in plans(t) {
        let issuer = match p.profile.issuer {
            IssuerRule::SelfSigned => "self-signed",
            IssuerRule::Ca(c) => c,
        };
        let sans: Vec<String> = p.sans.iter().map(San::render).collect();
        out.push_str(&format!(
            "  {:<34} {:<40} issuer {:<15} until {}{}\n",
            p.id(),
            subject_string(p.profile, &p.cn),
            issuer,
            crate::fmt::rfc3339(p.not_after).unwrap_or_default(),
            if sans.is_empty() { String::new() } else { format!("  {}", sans.join(",")) }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::certs as profiles;

    /// The serial input is spelled out, not derived from type names: this exact text for this plan.
    #[test]
    fn serial_input_has_a_fixed_documented_encoding() {
        let p = profiles::find("etcd-server").unwrap();
        let plan = Plan {
            profile: p,
            node: None,
            cn: "m0".into(),
            sans: vec![
                San::Dns("m0".into()),
                San::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
                San::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            ],
            not_before: OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
            not_after: OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
            generation: 1,
        };
        assert_eq!(
            serial_input(&plan, &[0xab, 0x01]),
            "etcd-server|m0|None|[Dns(\"m0\"), Ip(10.0.0.1), Ip(::1)]|1790000000|1800000000|[ServerAuth, ClientAuth]|ab01"
        );
        let admin = Plan { profile: profiles::find("admin").unwrap(), sans: vec![], ..plan };
        assert!(serial_input(&admin, &[]).starts_with("admin|m0|Some(\"kubeadm:cluster-admins\")|[]|"));
    }
}
