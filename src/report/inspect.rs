//! `hardway inspect`: the certificate inventory of a rendered bundle with days left, chain and
//! key/cert checks done here (p256 / rsa signature verification), and the SHA256SUMS check.

use crate::bundle::Bundle;
use ::time::OffsetDateTime;
use p256::pkcs8::DecodePrivateKey;
use serde::Serialize;
use sha2::Sha256;
use x509_parser::prelude::*;

/// One certificate of the inventory.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Profile name.
    pub name: String,
    /// The node it is for (per-node ones).
    pub node: Option<String>,
    /// Bundle path of the certificate.
    pub cert: String,
    /// Subject, as read from the certificate.
    pub subject: String,
    /// Issuer, as read from the certificate.
    pub issuer: String,
    /// Subject alternative names.
    pub sans: Vec<String>,
    /// Key usages and extended key usages.
    pub usages: Vec<String>,
    /// "ecdsa-p256", "rsa-2048", ...
    pub key_algorithm: String,
    /// A CA's generation, or the generation of the CA that signed a leaf.
    pub generation: u64,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Days left at the moment inspected (negative once expired).
    pub days_left: i64,
    /// "ok", or why the chain does not verify.
    pub chain: String,
    /// "ok", "redacted", or why the key does not match.
    pub key: String,
}

/// A bootstrap token of the bundle and its expiry at the moment inspected.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenRow {
    /// The token id.
    pub id: String,
    /// The worker it is for (none: shared).
    pub node: Option<String>,
    /// When it expires (RFC 3339).
    pub expiration: String,
    /// Negative once expired.
    pub days_left: i64,
}

/// What `hardway inspect` found.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The moment inspected (RFC 3339).
    pub at: String,
    /// Certificates expiring within this many days are problems.
    pub warn_days: i64,
    /// Every certificate of the bundle.
    pub certificates: Vec<Row>,
    /// "ok", or what is wrong with SHA256SUMS.
    pub checksums: String,
    /// Bootstrap tokens and when they expire (they expire by design once workers joined).
    pub bootstrap_tokens: Vec<TokenRow>,
    /// Everything wrong or expiring soon, one line each; empty when all is well.
    pub problems: Vec<String>,
}

impl Report {
    /// Nothing wrong and nothing expiring soon.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    crate::fmt::rfc3339(t).unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn pem_der(bytes: &[u8], tag: &str) -> Result<Vec<u8>, String> {
    let p = ::pem::parse(bytes).map_err(|e| format!("not PEM: {e}"))?;
    if p.tag() != tag {
        return Err(format!("PEM block is {:?}, expected {tag:?}", p.tag()));
    }
    Ok(p.contents().to_vec())
}

fn rdn_string(name: &X509Name<'_>) -> String {
    // RFC 4514: most specific first.
    let mut parts: Vec<String> = Vec::new();
    for rdn in name.iter() {
        for atv in rdn.iter() {
            let key = match atv.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                other => other.to_string(),
            };
            parts.push(format!("{key}={}", atv.as_str().unwrap_or("?")));
        }
    }
    parts.reverse();
    parts.join(",")
}

fn sans(c: &X509Certificate<'_>) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(Some(san)) = c.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => v.push(format!("DNS:{d}")),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => v.push(format!("IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]))),
                    16 => {
                        let mut a = [0u8; 16];
                        a.copy_from_slice(b);
                        v.push(format!("IP:{}", std::net::Ipv6Addr::from(a)));
                    }
                    _ => v.push("IP:?".into()),
                },
                other => v.push(format!("{other:?}")),
            }
        }
    }
    v
}

fn usages(c: &X509Certificate<'_>) -> Vec<String> {
    let mut v = Vec::new();
    if let Ok(Some(ku)) = c.key_usage() {
        let k = ku.value;
        for (on, name) in [
            (k.digital_signature(), "digitalSignature"),
            (k.key_encipherment(), "keyEncipherment"),
            (k.key_cert_sign(), "keyCertSign"),
            (k.crl_sign(), "cRLSign"),
        ] {
            if on {
                v.push(name.to_string());
            }
        }
    }
    if let Ok(Some(eku)) = c.extended_key_usage() {
        if eku.value.server_auth {
            v.push("serverAuth".into());
        }
        if eku.value.client_auth {
            v.push("clientAuth".into());
        }
    }
    v
}

fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> String {
    match spki.parsed() {
        Ok(x509_parser::public_key::PublicKey::EC(p)) => format!("ecdsa-p{}", p.key_size()),
        Ok(x509_parser::public_key::PublicKey::RSA(r)) => format!("rsa-{}", r.key_size()),
        _ => spki.algorithm.algorithm.to_id_string(),
    }
}

/// Checks `c`'s signature with `issuer`'s public key (ECDSA P-256 SHA-256 or RSA PKCS#1 v1.5 SHA-256).
fn verify_signature(c: &X509Certificate<'_>, issuer: &X509Certificate<'_>) -> Result<(), String> {
    if c.issuer() != issuer.subject() {
        return Err("issuer name does not match the issuing certificate's subject".into());
    }
    let tbs: &[u8] = c.tbs_certificate.as_ref();
    let sig = &c.signature_value.data;
    let key = &issuer.public_key().subject_public_key.data;
    match c.signature_algorithm.algorithm.to_id_string().as_str() {
        "1.2.840.10045.4.3.2" => {
            use p256::ecdsa::signature::Verifier;
            let vk = p256::ecdsa::VerifyingKey::from_sec1_bytes(key).map_err(|_| "issuer key is not P-256")?;
            let s = p256::ecdsa::Signature::from_der(sig).map_err(|_| "malformed ECDSA signature")?;
            vk.verify(tbs, &s).map_err(|_| "bad signature".to_string())
        }
        "1.2.840.113549.1.1.11" => {
            use rsa::pkcs1::DecodeRsaPublicKey;
            use rsa::signature::Verifier;
            let pk = rsa::RsaPublicKey::from_pkcs1_der(key).map_err(|_| "issuer key is not RSA")?;
            let vk = rsa::pkcs1v15::VerifyingKey::<Sha256>::new(pk);
            let s = rsa::pkcs1v15::Signature::try_from(&sig[..]).map_err(|_| "malformed RSA signature")?;
            vk.verify(tbs, &s).map_err(|_| "bad signature".to_string())
        }
        other => Err(format!("unsupported signature algorithm {other}")),
    }
}

/// Whether the PEM private key `key` belongs to the certificate's public key.
fn check_key(c: &X509Certificate<'_>, key: &[u8]) -> String {
    if key.starts_with(b"REDACTED") {
        return "redacted".into();
    }
    let Ok(text) = std::str::from_utf8(key) else { return "key file is not text".into() };
    let cert_key = &c.public_key().subject_public_key.data;
    if let Ok(k) = p256::SecretKey::from_pkcs8_pem(text) {
        let public = k.public_key();
        let point = p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&public, false);
        return if point.as_bytes() == cert_key.as_ref() {
            "ok".into()
        } else {
            "key does not match certificate".into()
        };
    }
    if let Ok(k) = <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(text) {
        use rsa::pkcs1::EncodeRsaPublicKey;
        return match k.to_public_key().to_pkcs1_der() {
            Ok(d) if d.as_bytes() == cert_key.as_ref() => "ok".into(),
            _ => "key does not match certificate".into(),
        };
    }
    "key is not a PKCS#8 P-256 or RSA private key".into()
}

/// Every secrets archive: present with the digest and size index.json gives, and holding exactly the
/// files it lists (node path, mode, digest), each the bundle file the node gets at that path.
fn check_archives(b: &Bundle, index: &crate::bundle::index::Index) -> Vec<String> {
    use crate::bundle::sha256_hex;
    use std::io::Read;
    let mut problems = Vec::new();
    for n in &index.nodes {
        let Some(a) = &n.secrets_archive else { continue };
        let Some(e) = b.get(&a.path) else {
            problems.push(format!("{}: secrets archive {} missing", n.name, a.path));
            continue;
        };
        if sha256_hex(&e.bytes) != a.sha256 || e.bytes.len() != a.size {
            problems.push(format!(
                "{}: secrets archive {} does not match its digest and size in index.json",
                n.name, a.path
            ));
            continue;
        }
        let mut found = Vec::new();
        let mut archive = tar::Archive::new(&e.bytes[..]);
        let entries = match archive.entries() {
            Ok(x) => x,
            Err(err) => {
                problems.push(format!("{}: secrets archive {}: {err}", n.name, a.path));
                continue;
            }
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(x) => x,
                Err(err) => {
                    problems.push(format!("{}: secrets archive {}: {err}", n.name, a.path));
                    break;
                }
            };
            let path = format!("/{}", entry.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default());
            let mode = entry.header().mode().map(|m| format!("{m:04o}")).unwrap_or_default();
            let mut data = Vec::new();
            if entry.read_to_end(&mut data).is_err() {
                problems.push(format!("{}: secrets archive {}: cannot read {path}", n.name, a.path));
                continue;
            }
            let from_bundle = n.files.iter().find(|f| f.path == path).and_then(|f| b.get(&f.source));
            if from_bundle.is_none_or(|f| f.bytes != data) {
                problems.push(format!(
                    "{}: secrets archive {}: {path} is not the bundle's file for that path",
                    n.name, a.path
                ));
            }
            found.push(crate::bundle::index::ArchiveFile { path, mode, sha256: sha256_hex(&data) });
        }
        if found != a.files {
            problems.push(format!("{}: secrets archive {} holds other files than index.json lists", n.name, a.path));
        }
    }
    problems
}

/// Inspects a bundle at moment `at`; certificates expiring within `warn_days` are problems too.
pub fn inspect(b: &Bundle, at: OffsetDateTime, warn_days: i64) -> Report {
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    let checksums = match super::verify::checksums(b) {
        Ok(_) => "ok".to_string(),
        Err(e) => e,
    };
    if checksums != "ok" {
        problems.push(format!("SHA256SUMS: {checksums}"));
    }
    let index = match super::verify::index(b) {
        Ok(i) => i,
        Err(e) => {
            problems.push(format!("{e}: not a hardway bundle"));
            return Report {
                at: rfc3339(at),
                warn_days,
                certificates: rows,
                checksums,
                bootstrap_tokens: Vec::new(),
                problems,
            };
        }
    };
    let entries = &index.certificates;
    let der_of = |path: &str| -> Result<Vec<u8>, String> {
        let e = b.get(path).ok_or_else(|| format!("{path} missing"))?;
        pem_der(&e.bytes, "CERTIFICATE")
    };
    for e in entries {
        let (name, cert_path, key_path) = (e.name.clone(), e.cert.clone(), e.key.clone());
        let node = e.node.clone();
        let generation = u64::from(e.generation);
        let label = match &node {
            Some(n) => format!("{name}/{n}"),
            None if generation > 1 && e.issuer == name => format!("{name}/gen{generation}"),
            None => name.clone(),
        };
        let der = match der_of(&cert_path) {
            Ok(d) => d,
            Err(err) => {
                problems.push(format!("{label}: {err}"));
                continue;
            }
        };
        let Ok((_, c)) = X509Certificate::from_der(&der) else {
            problems.push(format!("{label}: {cert_path} is not an X.509 certificate"));
            continue;
        };
        let issuer_name = e.issuer.clone();
        let issuer_path = entries
            .iter()
            .find(|x| x.name == issuer_name && x.node.is_none() && u64::from(x.generation) == generation)
            .map(|x| x.cert.clone())
            .unwrap_or_default();
        let chain = match der_of(&issuer_path) {
            Err(err) => format!("issuer {issuer_name}: {err}"),
            Ok(idr) => match X509Certificate::from_der(&idr) {
                Err(_) => format!("issuer {issuer_name} is not a certificate"),
                Ok((_, issuer)) => match verify_signature(&c, &issuer) {
                    Ok(()) if c.validity().not_after.timestamp() > issuer.validity().not_after.timestamp() => {
                        "outlives its issuer".into()
                    }
                    Ok(()) => "ok".into(),
                    Err(err) => err,
                },
            },
        };
        let key = match b.get(&key_path) {
            Some(k) => check_key(&c, &k.bytes),
            None => format!("{key_path} missing"),
        };
        let not_after = c.validity().not_after.to_datetime();
        let not_before = c.validity().not_before.to_datetime();
        let days_left = (not_after - at).whole_days();
        if chain != "ok" {
            problems.push(format!("{label}: chain: {chain}"));
        }
        if key != "ok" && key != "redacted" {
            problems.push(format!("{label}: key: {key}"));
        }
        if at < not_before {
            problems.push(format!("{label}: not valid until {}", rfc3339(not_before)));
        } else if not_after <= at {
            problems.push(format!("{label}: expired on {}", rfc3339(not_after)));
        } else if days_left < warn_days {
            problems.push(format!("{label}: expires in {days_left} days ({})", rfc3339(not_after)));
        }
        rows.push(Row {
            name,
            node,
            cert: cert_path,
            subject: rdn_string(c.subject()),
            issuer: issuer_name,
            sans: sans(&c),
            usages: usages(&c),
            key_algorithm: key_algorithm(c.public_key()),
            generation,
            not_after: rfc3339(not_after),
            days_left,
            chain,
            key,
        });
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push("index.json lists no certificates".into());
    }
    problems.extend(check_archives(b, &index));
    let bootstrap_tokens = index
        .bootstrap_tokens
        .iter()
        .map(|t| {
            let end = OffsetDateTime::parse(&t.expiration, &::time::format_description::well_known::Rfc3339).ok();
            TokenRow {
                id: t.id.clone(),
                node: t.node.clone(),
                expiration: t.expiration.clone(),
                days_left: end.map(|e| (e - at).whole_days() - i64::from(e <= at)).unwrap_or_default(),
            }
        })
        .collect();
    Report { at: rfc3339(at), warn_days, certificates: rows, checksums, bootstrap_tokens, problems }
}

/// The inventory as an aligned text table, then the verdict.
pub fn table(r: &Report) -> String {
    let head =
        ["CERTIFICATE", "SUBJECT", "ISSUER", "GEN", "KEY", "NOT AFTER", "DAYS", "CHAIN", "KEYPAIR", "USAGES", "SANS"];
    let mut lines: Vec<Vec<String>> = vec![head.iter().map(|s| s.to_string()).collect()];
    for row in &r.certificates {
        lines.push(vec![
            match &row.node {
                Some(n) => format!("{}/{n}", row.name),
                None => row.name.clone(),
            },
            row.subject.clone(),
            row.issuer.clone(),
            row.generation.to_string(),
            row.key_algorithm.clone(),
            row.not_after.clone(),
            row.days_left.to_string(),
            row.chain.clone(),
            row.key.clone(),
            row.usages.join(","),
            row.sans.join(","),
        ]);
    }
    let widths: Vec<usize> =
        (0..head.len()).map(|i| lines.iter().map(|l| l[i].chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for l in &lines {
        let cells: Vec<String> = l.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    for t in &r.bootstrap_tokens {
        let who = t.node.as_deref().unwrap_or("every bootstrapping worker");
        let state = if t.days_left < 0 { "expired".to_string() } else { format!("{} days left", t.days_left) };
        out.push_str(&format!("bootstrap token {} ({who}): expires {} ({state})\n", t.id, t.expiration));
    }
    out.push_str(&format!("\nchecked at {}; SHA256SUMS: {}\n", r.at, r.checksums));
    if r.problems.is_empty() {
        let redacted = r.certificates.iter().filter(|c| c.key == "redacted").count();
        let pairs = match redacted {
            0 => "chains and key pairs verified".to_string(),
            n if n == r.certificates.len() => {
                "chains verified; key pairs NOT checked (redacted bundle: the private keys are placeholders)"
                    .to_string()
            }
            n => format!("chains verified; key pairs verified except {n} redacted ones (NOT checked)"),
        };
        out.push_str(&format!(
            "ok: {} certificates, {pairs}, none expires within {} days\n",
            r.certificates.len(),
            r.warn_days
        ));
    } else {
        for p in &r.problems {
            out.push_str(&format!("problem: {p}\n"));
        }
    }
    out
}
