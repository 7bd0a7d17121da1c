//! Seed-derived private keys and the deterministic rcgen `SigningKey`: P-256 with p256's RFC 6979
//! ECDSA, RSA with PKCS#1 v1.5 (both deterministic); PKCS#8 through the pkcs8/sec1 crates.

use super::seed::Secrets;
use crate::error::{Error, Result};
use crate::model::KeyAlgorithm;
use rand_chacha::rand_core::SeedableRng;
use rcgen::{PublicKeyData, SignatureAlgorithm, SigningKey};
use sha2::{Digest, Sha256};

/// A private key derived from the seed for one purpose.
pub struct Key {
    alg: KeyAlgorithm,
    inner: Inner,
    /// The subjectPublicKey bits: the uncompressed EC point, or the PKCS#1 RSAPublicKey DER.
    public: Vec<u8>,
}

enum Inner {
    Ec(Box<p256::ecdsa::SigningKey>),
    Rsa(Box<rsa::RsaPrivateKey>),
    /// An RSA stand-in for size estimates: random-looking bytes of an RSA key's sizes (see `stand_in`).
    RsaStandIn {
        bits: usize,
        label: String,
        n: Vec<u8>,
    },
}

/// Where keys come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeyMode {
    /// Derived from the seed: the real keys.
    #[default]
    Derived,
    /// For predicting sizes without the secret or the cost of RSA key generation: P-256 keys as
    /// usual (cheap), RSA keys replaced by stand-ins whose public key, private key and signatures
    /// have the real sizes and random-looking bytes. A bundle made with them is not usable.
    StandIn,
}

/// Pseudo-random bytes for a stand-in (not secret: stand-ins are only ever measured).
fn filler(label: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 32);
    let mut counter = 0u32;
    while out.len() < n {
        out.extend_from_slice(&Sha256::digest(format!("hardway stand-in/{label}/{counter}").as_bytes()));
        counter += 1;
    }
    out.truncate(n);
    out
}

impl Key {
    /// Derives the key for `purpose` (a label unique to the key's role). Same seed, algorithm and
    /// purpose give the same key on every machine.
    pub fn derive(secrets: &Secrets, alg: KeyAlgorithm, purpose: &str) -> Result<Key> {
        Key::make(secrets, alg, purpose, KeyMode::Derived)
    }

    /// A key for `purpose` as `mode` says.
    pub fn make(secrets: &Secrets, alg: KeyAlgorithm, purpose: &str, mode: KeyMode) -> Result<Key> {
        let label = format!("key/{}/{purpose}", alg.as_str());
        if mode == KeyMode::StandIn && alg != KeyAlgorithm::EcdsaP256 {
            return Key::rsa_stand_in(alg, &label);
        }
        match alg {
            KeyAlgorithm::EcdsaP256 => {
                // Rejection sampling: a scalar must be in 1..n; a miss (probability ~2^-32) takes the next counter.
                for counter in 0u32..64 {
                    let bytes = secrets.derive(&format!("{label}/{counter}"))?;
                    if let Some(d) = Option::<p256::NonZeroScalar>::from(p256::NonZeroScalar::from_repr(bytes.into())) {
                        // The verifying key is computed once here; PKCS#8 and SPKI reuse it.
                        let sk = p256::ecdsa::SigningKey::from(d);
                        let point = p256::PublicKey::from(sk.verifying_key());
                        let public =
                            p256::elliptic_curve::sec1::ToSec1Point::to_sec1_point(&point, false).as_bytes().to_vec();
                        return Ok(Key { alg, inner: Inner::Ec(Box::new(sk)), public });
                    }
                }
                Err(Error::internal(purpose, "no valid P-256 scalar in 64 tries"))
            }
            KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
                let bits = rsa_bits(alg);
                // Reproducible only with the exact rsa and rand_chacha versions pinned in Cargo.toml.
                let mut rng = rand_chacha::ChaCha20Rng::from_seed(secrets.derive(&label)?);
                let key = rsa::RsaPrivateKey::new(&mut rng, bits).map_err(|e| Error::internal(purpose, e))?;
                use rsa::pkcs1::EncodeRsaPublicKey;
                let public =
                    key.to_public_key().to_pkcs1_der().map_err(|e| Error::internal(purpose, e))?.as_bytes().to_vec();
                Ok(Key { alg, inner: Inner::Rsa(Box::new(key)), public })
            }
        }
    }

    fn rsa_stand_in(alg: KeyAlgorithm, label: &str) -> Result<Key> {
        use rsa::pkcs1::EncodeRsaPublicKey;
        let bits = rsa_bits(alg);
        let mut n = filler(&format!("{label}/n"), bits / 8);
        n[0] |= 0x80;
        if let Some(last) = n.last_mut() {
            *last |= 1;
        }
        let public = rsa::RsaPublicKey::new(rsa::BigUint::from_bytes_be(&n), rsa::BigUint::from(65_537u32))
            .and_then(|k| k.to_pkcs1_der().map_err(rsa::Error::from))
            .map_err(|e| Error::internal(label, e))?
            .as_bytes()
            .to_vec();
        Ok(Key { alg, inner: Inner::RsaStandIn { bits, label: label.to_string(), n }, public })
    }

    /// "ecdsa-p256", "rsa-2048", ...
    pub fn algorithm_name(&self) -> &'static str {
        self.alg.as_str()
    }

    /// Whether it is an RSA key.
    pub fn is_rsa(&self) -> bool {
        matches!(self.inner, Inner::Rsa(_) | Inner::RsaStandIn { .. })
    }

    /// PKCS#8 DER of the private key.
    pub fn pkcs8_der(&self) -> Result<Vec<u8>> {
        let err = |e: &dyn std::fmt::Display| Error::internal("private key encoding", e);
        match &self.inner {
            Inner::Ec(sk) => ec_pkcs8_der(&sk.to_bytes(), &self.public).map_err(|e| err(&e)),
            Inner::Rsa(k) => rsa::pkcs8::EncodePrivateKey::to_pkcs8_der(k.as_ref())
                .map(|d| d.as_bytes().to_vec())
                .map_err(|e| err(&e)),
            // A real PKCS#8 structure (its modulus the stand-in's public one, as in a real key, where
            // it repeats the certificate's) around random private numbers of the real sizes.
            Inner::RsaStandIn { bits, label, n } => rsa_stand_in_pkcs8(*bits, label, n).map_err(|e| err(&e)),
        }
    }

    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8), LF line endings.
    pub fn private_pem(&self) -> Result<String> {
        Ok(pem_encode("PRIVATE KEY", &self.pkcs8_der()?))
    }

    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo).
    pub fn public_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.subject_public_key_info())
    }

    /// Subject key identifier: the leftmost 160 bits of SHA-256 over the subjectPublicKey (RFC 7093, method 1).
    pub fn key_id(&self) -> Vec<u8> {
        Sha256::digest(&self.public)[..20].to_vec()
    }
}

impl PublicKeyData for Key {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }
    fn algorithm(&self) -> &'static SignatureAlgorithm {
        match self.inner {
            Inner::Ec(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
            Inner::Rsa(_) | Inner::RsaStandIn { .. } => &rcgen::PKCS_RSA_SHA256,
        }
    }
}

impl SigningKey for Key {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match &self.inner {
            // RFC 6979: the nonce is derived from the key and message, so signatures are reproducible.
            Inner::Ec(sk) => {
                let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::try_sign(sk.as_ref(), msg)
                    .map_err(|_| rcgen::Error::RemoteKeyError)?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Inner::Rsa(k) => {
                use rsa::signature::{SignatureEncoding as _, Signer as _};
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.as_ref().clone());
                let sig = signer.try_sign(msg).map_err(|_| rcgen::Error::RemoteKeyError)?;
                Ok(sig.to_vec())
            }
            Inner::RsaStandIn { bits, label, .. } => {
                Ok(filler(&format!("{label}/sig/{}", hex_of(&Sha256::digest(msg))), bits / 8))
            }
        }
    }
}

/// PKCS#8 (RFC 5208) of a P-256 key wrapping an RFC 5915 ECPrivateKey that carries the public key,
/// encoded by the pkcs8 and sec1 crates as elliptic-curve's own encoder does, from the public point
/// already derived (the encoder would derive it again).
fn ec_pkcs8_der(scalar: &[u8], public: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use pkcs8::der::Encode;
    let ec = sec1::EcPrivateKey { private_key: scalar, parameters: None, public_key: Some(public) }
        .to_der()
        .map_err(|e| e.to_string())?;
    const ID_EC_PUBLIC_KEY: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const PRIME256V1: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    let algorithm = pkcs8::AlgorithmIdentifierRef { oid: ID_EC_PUBLIC_KEY, parameters: Some((&PRIME256V1).into()) };
    let octets = pkcs8::der::asn1::OctetStringRef::new(&ec).map_err(|e| e.to_string())?;
    pkcs8::PrivateKeyInfoRef::new(algorithm, octets).to_der().map_err(|e| e.to_string())
}

/// PKCS#8 of an RSA stand-in: modulus `n`, exponent 65537, the private numbers random, as long as real
/// ones usually are (primes with their top bit set, the rest just below it).
fn rsa_stand_in_pkcs8(bits: usize, label: &str, n: &[u8]) -> std::result::Result<Vec<u8>, String> {
    use rsa::pkcs1::der::{asn1::UintRef, Encode};
    let num = |what: &str, len: usize, top: bool| {
        let mut v = filler(&format!("{label}/{what}"), len);
        v[0] = if top { v[0] | 0x80 } else { (v[0] & 0x7f) | 0x40 };
        v
    };
    let (d, half) = (num("d", bits / 8, false), bits / 16);
    let (p, q) = (num("p", half, true), num("q", half, true));
    let (dp, dq, qi) = (num("dp", half, false), num("dq", half, false), num("qi", half, false));
    fn u(b: &[u8]) -> std::result::Result<UintRef<'_>, String> {
        UintRef::new(b).map_err(|e| e.to_string())
    }
    let e = [1u8, 0, 1];
    let key = rsa::pkcs1::RsaPrivateKey {
        modulus: u(n)?,
        public_exponent: u(&e)?,
        private_exponent: u(&d)?,
        prime1: u(&p)?,
        prime2: u(&q)?,
        exponent1: u(&dp)?,
        exponent2: u(&dq)?,
        coefficient: u(&qi)?,
        other_prime_infos: None,
    };
    let der = key.to_der().map_err(|e| e.to_string())?;
    rsa::pkcs8::PrivateKeyInfo::new(rsa::pkcs1::ALGORITHM_ID, &der).to_der().map_err(|e| e.to_string())
}

fn rsa_bits(alg: KeyAlgorithm) -> usize {
    match alg {
        KeyAlgorithm::Rsa2048 => 2048,
        KeyAlgorithm::Rsa3072 => 3072,
        _ => 4096,
    }
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// PEM with LF line endings on every platform.
pub fn pem_encode(tag: &str, der: &[u8]) -> String {
    let cfg = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF);
    pem::encode_config(&pem::Pem::new(tag, der.to_vec()), cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec_keys_are_deterministic_and_purpose_separated() -> Result<()> {
        let s = Secrets::from_seed([9u8; 32]);
        let a = Key::derive(&s, KeyAlgorithm::EcdsaP256, "a")?;
        let a2 = Key::derive(&s, KeyAlgorithm::EcdsaP256, "a")?;
        let b = Key::derive(&s, KeyAlgorithm::EcdsaP256, "b")?;
        assert_eq!(a.pkcs8_der()?, a2.pkcs8_der()?);
        assert_ne!(a.pkcs8_der()?, b.pkcs8_der()?);
        assert_eq!(a.sign(b"msg").ok(), a2.sign(b"msg").ok());
        assert!(a.private_pem()?.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert!(!a.private_pem()?.contains('\r'));
        assert_eq!(a.key_id().len(), 20);
        Ok(())
    }

    /// Our PKCS#8 is byte for byte what p256's own encoder writes (and parses back to the key);
    /// signatures are p256's RFC 6979 ones.
    #[test]
    fn ec_pkcs8_matches_the_p256_encoder() -> Result<()> {
        let s = Secrets::from_seed([5u8; 32]);
        for purpose in ["a", "b", "c", "d"] {
            let k = Key::derive(&s, KeyAlgorithm::EcdsaP256, purpose)?;
            let Inner::Ec(sk) = &k.inner else { panic!("not EC") };
            let sk = sk.as_ref().clone();
            let reference = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&sk).unwrap();
            assert_eq!(k.pkcs8_der()?, reference.as_bytes());
            let back: p256::ecdsa::SigningKey = p256::pkcs8::DecodePrivateKey::from_pkcs8_der(&k.pkcs8_der()?).unwrap();
            assert_eq!(back, sk);
        }
        Ok(())
    }

    /// RSA stand-ins have the real sizes: public key exactly, private key and signature within a few bytes.
    #[test]
    fn rsa_stand_ins_have_the_sizes_of_real_keys() -> Result<()> {
        let s = Secrets::from_seed([3u8; 32]);
        let real = Key::derive(&s, KeyAlgorithm::Rsa2048, "x")?;
        let fake = Key::make(&s, KeyAlgorithm::Rsa2048, "x", KeyMode::StandIn)?;
        assert_eq!(real.public.len(), fake.public.len());
        let (r, f) = (real.pkcs8_der()?.len() as i64, fake.pkcs8_der()?.len() as i64);
        assert!((r - f).abs() <= 8, "{r} vs {f}");
        assert_eq!(real.sign(b"m").ok().map(|v| v.len()), fake.sign(b"m").ok().map(|v| v.len()));
        assert!(fake.is_rsa());
        // P-256 keys are the real ones either way.
        let e1 = Key::make(&s, KeyAlgorithm::EcdsaP256, "x", KeyMode::StandIn)?;
        assert_eq!(e1.pkcs8_der()?, Key::derive(&s, KeyAlgorithm::EcdsaP256, "x")?.pkcs8_der()?);
        Ok(())
    }

    #[test]
    fn rsa_keys_are_deterministic() -> Result<()> {
        let s = Secrets::from_seed([3u8; 32]);
        let a = Key::derive(&s, KeyAlgorithm::Rsa2048, "x")?;
        let b = Key::derive(&s, KeyAlgorithm::Rsa2048, "x")?;
        assert_eq!(a.pkcs8_der()?, b.pkcs8_der()?);
        assert_eq!(a.sign(b"m").ok(), b.sign(b"m").ok());
        assert!(a.is_rsa());
        Ok(())
    }
}
