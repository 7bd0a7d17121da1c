//! P-256 public keys and RFC 6979 ECDSA signatures, byte for byte what the `p256` crate computes, at about
//! half its cost. Only the multiplication by the generator is ours; everything else is `p256`/`rfc6979`.
//!
//! Why: at 5,000 workers the PKI is 10,000 keys and 10,000 signatures, each one multiplication `k × G`.
//! `p256` 0.14 spends ~60 µs on one (generic crypto-bigint field arithmetic, projective table entries);
//! this module spends ~30 µs: fiat-crypto's verified P-256 field arithmetic (crypto-bigint's inversion),
//! signed 6-bit windows over a table of affine multiples of G (built once with `p256`'s own arithmetic),
//! and the complete mixed addition of Renes–Costello–Batina (2015, algorithm 5), the formula `p256`
//! itself uses. Constant time in the scalar: every window does the same additions, table rows are read
//! whole under masks. Tests compare every result with `p256` (keys, signatures, every table entry).

use fiat::fiat_p256_montgomery_domain_field_element as Mont;
use fiat_crypto::p256_64 as fiat;
use p256::elliptic_curve::{bigint::Odd, ops::Invert, ops::Reduce, Curve, PrimeField};
use p256::{NistP256, NonZeroScalar, Scalar, U256};
use std::sync::OnceLock;

/// The field modulus p = 2^256 − 2^224 + 2^192 + 2^96 − 1.
const P: Odd<U256> = Odd::<U256>::from_be_hex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff");

/// Window width of the signed-digit recoding.
const W: usize = 6;
/// Table entries per row: |digit| in 1..=32.
const ENTRIES: usize = 1 << (W - 1);
/// Windows covering 256 bits plus the recoding's carry (43 × 6 = 258 bits).
const ROWS: usize = 256 / W + 1;

/// The curve constant b (y² = x³ − 3x + b), big-endian.
const B: [u8; 32] = [
    0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc, 0x65, 0x1d, 0x06,
    0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
];

/// A field element mod p in Montgomery form (fiat-crypto's representation).
#[derive(Clone, Copy)]
struct Fe(Mont);

impl Fe {
    const ZERO: Fe = Fe(Mont([0; 4]));

    fn one() -> Fe {
        let mut r = Mont([0; 4]);
        fiat::fiat_p256_set_one(&mut r);
        Fe(r)
    }
    /// `op(self, o)` for one of fiat's two-operand functions.
    #[inline(always)]
    fn apply(&self, op: fn(&mut Mont, &Mont, &Mont), o: &Fe) -> Fe {
        let mut r = Mont([0; 4]);
        op(&mut r, &self.0, &o.0);
        Fe(r)
    }
    fn mul(&self, o: &Fe) -> Fe {
        self.apply(fiat::fiat_p256_mul, o)
    }
    fn add(&self, o: &Fe) -> Fe {
        self.apply(fiat::fiat_p256_add, o)
    }
    fn sub(&self, o: &Fe) -> Fe {
        self.apply(fiat::fiat_p256_sub, o)
    }
    fn double(&self) -> Fe {
        self.add(self)
    }
    /// `b` if `choice` is 1, `a` if it is 0, without a branch.
    fn select(choice: u8, a: &Fe, b: &Fe) -> Fe {
        let mut r = [0u64; 4];
        fiat::fiat_p256_selectznz(&mut r, choice, &a.0 .0, &b.0 .0);
        Fe(Mont(r))
    }
    /// From 32 big-endian bytes of a value below p.
    fn from_be(bytes: &[u8; 32]) -> Fe {
        let mut le = *bytes;
        le.reverse();
        let mut w = [0u64; 4];
        fiat::fiat_p256_from_bytes(&mut w, &le);
        let mut r = Mont([0; 4]);
        fiat::fiat_p256_to_montgomery(&mut r, &fiat::fiat_p256_non_montgomery_domain_field_element(w));
        Fe(r)
    }
    fn to_be(self) -> [u8; 32] {
        let mut n = fiat::fiat_p256_non_montgomery_domain_field_element([0; 4]);
        fiat::fiat_p256_from_montgomery(&mut n, &self.0);
        let mut b = [0u8; 32];
        fiat::fiat_p256_to_bytes(&mut b, &n.0);
        b.reverse();
        b
    }
    /// 1/self for a nonzero self: crypto-bigint's constant-time safegcd on the canonical value
    /// (faster than a Fermat power with fiat's squaring).
    fn invert(self) -> Fe {
        let inverse = U256::from_be_slice(&self.to_be()).invert_odd_mod(&P).unwrap_or(U256::ZERO);
        Fe::from_be(&inverse.to_be_bytes().into())
    }
}

/// Row i, entry j: the affine point (j + 1) × 2^(6i) × G as x and y limbs.
struct Table {
    b: Fe,
    rows: Vec<[[u64; 8]; ENTRIES]>,
}

/// Built once per process (about 3 ms) with `p256`'s arithmetic, so the table does not depend on ours.
fn table() -> Result<&'static Table, String> {
    static TABLE: OnceLock<Result<Table, String>> = OnceLock::new();
    TABLE.get_or_init(build_table).as_ref().map_err(Clone::clone)
}

fn build_table() -> Result<Table, String> {
    use p256::elliptic_curve::group::{Curve as _, Group as _};
    use p256::elliptic_curve::sec1::ToSec1Point;
    use p256::{AffinePoint, ProjectivePoint};
    let mut points = Vec::with_capacity(ROWS * ENTRIES);
    let mut base = ProjectivePoint::GENERATOR;
    for _ in 0..ROWS {
        let mut multiple = base;
        for _ in 0..ENTRIES {
            points.push(multiple);
            multiple += base;
        }
        for _ in 0..W {
            base = base.double();
        }
    }
    let mut affine = vec![AffinePoint::IDENTITY; points.len()];
    ProjectivePoint::batch_normalize(&points, &mut affine);
    let mut rows = Vec::with_capacity(ROWS);
    for chunk in affine.chunks(ENTRIES) {
        let mut row = [[0u64; 8]; ENTRIES];
        for (limbs, point) in row.iter_mut().zip(chunk) {
            let sec1 = point.to_sec1_point(false);
            let coordinate = |range: std::ops::Range<usize>| -> Result<Fe, String> {
                let bytes = sec1.as_bytes().get(range).ok_or("table point is the identity")?;
                Ok(Fe::from_be(bytes.try_into().map_err(|_| "table coordinate is not 32 bytes")?))
            };
            limbs[..4].copy_from_slice(&coordinate(1..33)?.0 .0);
            limbs[4..].copy_from_slice(&coordinate(33..65)?.0 .0);
        }
        rows.push(row);
    }
    Ok(Table { b: Fe::from_be(&B), rows })
}

/// Signed radix-2^6 digits of a big-endian scalar, least significant first, each in [−32, 32).
fn digits(scalar: &[u8; 32]) -> [i8; ROWS] {
    // Bit i (0 = least significant); the bits past 255 that the last window covers are 0.
    let bit = |i: usize| scalar.get(31usize.wrapping_sub(i / 8)).map_or(0, |byte| i16::from((byte >> (i % 8)) & 1));
    let mut d = [0i8; ROWS];
    let mut carry = 0i16;
    for (w, digit) in d.iter_mut().enumerate() {
        let mut v = carry;
        for k in 0..W {
            v += bit(w * W + k) << k;
        }
        carry = (v + (1 << (W - 1))) >> W;
        // In [−32, 32) by construction; the last window holds 2 bits + carry, so nothing carries out.
        *digit = (v - (carry << W)) as i8;
    }
    d
}

/// 1 if a == b, else 0, without a branch.
fn ct_eq(a: u8, b: u8) -> u8 {
    let d = u32::from(a ^ b);
    (((d | d.wrapping_neg()) >> 31) as u8) ^ 1
}

/// The affine coordinates (big-endian x, y) of scalar × G, for a scalar in 1..n (big-endian).
fn mul_generator(scalar: &[u8; 32]) -> Result<([u8; 32], [u8; 32]), String> {
    let t = table()?;
    let b = t.b;
    // The identity in projective coordinates; the mixed addition below is complete for it.
    let (mut x, mut y, mut z) = (Fe::ZERO, Fe::one(), Fe::ZERO);
    for (row, &digit) in t.rows.iter().zip(digits(scalar).iter()) {
        let negative = (digit as u8) >> 7;
        let abs = ((digit as u8) ^ 0u8.wrapping_sub(negative)).wrapping_add(negative);
        // Read the whole row, keeping only entry |digit| − 1 (none when the digit is 0).
        let mut q = [0u64; 8];
        for (j, entry) in row.iter().enumerate() {
            let mask = std::hint::black_box(0u64.wrapping_sub(u64::from(ct_eq(abs, j as u8 + 1))));
            for (acc, limb) in q.iter_mut().zip(entry) {
                *acc |= limb & mask;
            }
        }
        let qx = Fe(Mont([q[0], q[1], q[2], q[3]]));
        let qy = Fe(Mont([q[4], q[5], q[6], q[7]]));
        let qy = Fe::select(negative, &qy, &Fe::ZERO.sub(&qy));
        // Renes–Costello–Batina 2015, algorithm 5: (x:y:z) + (qx, qy), a = −3.
        let xx = x.mul(&qx);
        let yy = y.mul(&qy);
        let xy_pairs = x.add(&y).mul(&qx.add(&qy)).sub(&xx.add(&yy));
        let yz_pairs = qy.mul(&z).add(&y);
        let xz_pairs = qx.mul(&z).add(&x);
        let bz_part = xz_pairs.sub(&b.mul(&z));
        let bz3_part = bz_part.double().add(&bz_part);
        let yy_m_bzz3 = yy.sub(&bz3_part);
        let yy_p_bzz3 = yy.add(&bz3_part);
        let z3 = z.double().add(&z);
        let bxz_part = b.mul(&xz_pairs).sub(&z3.add(&xx));
        let bxz3_part = bxz_part.double().add(&bxz_part);
        let xx3_m_zz3 = xx.double().add(&xx).sub(&z3);
        let nx = yy_p_bzz3.mul(&xy_pairs).sub(&yz_pairs.mul(&bxz3_part));
        let ny = yy_p_bzz3.mul(&yy_m_bzz3).add(&xx3_m_zz3.mul(&bxz3_part));
        let nz = yy_m_bzz3.mul(&yz_pairs).add(&xy_pairs.mul(&xx3_m_zz3));
        // A zero digit adds nothing: keep the old point.
        let nonzero = 1 ^ ct_eq(abs, 0);
        x = Fe::select(nonzero, &x, &nx);
        y = Fe::select(nonzero, &y, &ny);
        z = Fe::select(nonzero, &z, &nz);
    }
    let z_inv = z.invert();
    Ok((x.mul(&z_inv).to_be(), y.mul(&z_inv).to_be()))
}

/// The uncompressed SEC1 public point (0x04 ‖ x ‖ y) of a private scalar.
pub fn public_point(d: &NonZeroScalar) -> Result<Vec<u8>, String> {
    let (x, y) = mul_generator(&d.to_repr().into())?;
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend_from_slice(&x);
    point.extend_from_slice(&y);
    Ok(point)
}

/// ECDSA P-256 with SHA-256 and an RFC 6979 nonce: the DER signature `p256::ecdsa::SigningKey::sign`
/// gives (same steps as `ecdsa::hazmat::sign_prehashed_rfc6979`, with our `k × G`).
pub fn sign(d: &NonZeroScalar, msg: &[u8]) -> Result<Vec<u8>, String> {
    use sha2::Digest;
    let z: [u8; 32] = sha2::Sha256::digest(msg).into();
    let order = NistP256::ORDER;
    let mut nonces = rfc6979::KGenerator::<sha2_011::Sha256, U256>::new(&d.to_repr(), &z, &[], &order);
    // A big-endian integer reduced mod n (ecdsa's bits2field for a 256-bit curve and digest).
    let reduce = |bytes: &[u8]| <Scalar as Reduce<U256>>::reduce(&U256::from_be_slice(bytes));
    let z = reduce(&z);
    // A nonce fails only with probability ~2^-128; RFC 6979 then takes the next one.
    for _ in 0..64 {
        let mut k_bytes = p256::FieldBytes::default();
        nonces.fill_next_k(&mut k_bytes);
        let Some(k) = Option::<NonZeroScalar>::from(NonZeroScalar::from_repr(k_bytes)) else { continue };
        let (rx, _) = mul_generator(&k_bytes.into())?;
        let r = reduce(&rx);
        let s = *Invert::invert(&k) * (z + r * d.as_ref());
        if let Ok(sig) = p256::ecdsa::Signature::from_scalars(r, s) {
            return Ok(sig.to_der().as_bytes().to_vec());
        }
    }
    Err("no valid RFC 6979 nonce in 64 tries".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::elliptic_curve::group::Group as _;
    use p256::elliptic_curve::sec1::ToSec1Point;
    use p256::ProjectivePoint;

    /// Scalars that stress the recoding (all-ones, alternating, top and bottom bits, n − 1, n − 2, 1, 2)
    /// and a chain of pseudo-random ones.
    fn scalars(random: usize) -> Vec<NonZeroScalar> {
        let mut bytes: Vec<[u8; 32]> = Vec::new();
        let n_minus = |k: u8| {
            let mut n: [u8; 32] = NistP256::ORDER.to_be_bytes().into();
            n[31] -= k;
            n
        };
        bytes.extend([n_minus(1), n_minus(2), [0x7f; 32], [0x55; 32], [0xaa; 32], [0x80; 32], [0x01; 32]]);
        for small in [1u8, 2, 31, 32, 33, 63, 64, 65] {
            let mut b = [0u8; 32];
            b[31] = small;
            bytes.push(b);
        }
        let mut top = [0u8; 32];
        top[0] = 0x80;
        bytes.push(top);
        let mut state = [7u8; 32];
        for _ in 0..random {
            use sha2::Digest;
            state = sha2::Sha256::digest(state).into();
            bytes.push(state);
        }
        bytes.iter().filter_map(|b| Option::from(NonZeroScalar::from_repr((*b).into()))).collect()
    }

    #[test]
    fn table_entries_are_the_multiples_of_g() {
        let t = table().unwrap();
        let mut base = ProjectivePoint::GENERATOR;
        for row in &t.rows {
            let mut multiple = base;
            for entry in row {
                let sec1 = multiple.to_affine().to_sec1_point(false);
                let x = Fe(Mont([entry[0], entry[1], entry[2], entry[3]])).to_be();
                let y = Fe(Mont([entry[4], entry[5], entry[6], entry[7]])).to_be();
                assert_eq!(&sec1.as_bytes()[1..], [x, y].concat());
                multiple += base;
            }
            for _ in 0..W {
                base = base.double();
            }
        }
        assert_eq!(t.rows.len(), ROWS);
    }

    #[test]
    fn digits_recompose_the_scalar() {
        for d in scalars(200) {
            let bytes: [u8; 32] = d.to_repr().into();
            // Σ digit_i · 64^i, evaluated in the scalar field.
            let mut sum = Scalar::ZERO;
            for &digit in digits(&bytes).iter().rev() {
                sum *= Scalar::from(64u64);
                let magnitude = Scalar::from(u64::from(digit.unsigned_abs()));
                sum = if digit < 0 { sum - magnitude } else { sum + magnitude };
            }
            assert_eq!(sum, *d.as_ref());
            assert!(digits(&bytes).iter().all(|&x| (-32..32).contains(&x)));
        }
    }

    #[test]
    fn public_points_match_p256() {
        for d in scalars(2000) {
            let reference = (ProjectivePoint::GENERATOR * *d.as_ref()).to_affine().to_sec1_point(false);
            assert_eq!(public_point(&d).unwrap(), reference.as_bytes(), "{:x?}", d.to_repr());
        }
    }

    #[test]
    fn signatures_match_p256() {
        for (i, d) in scalars(500).into_iter().enumerate() {
            let key = p256::ecdsa::SigningKey::from(d);
            let msg = format!("tbs {i} {}", "x".repeat(i % 200));
            for msg in [msg.as_bytes(), b""] {
                let reference: p256::ecdsa::Signature = key.sign(msg);
                assert_eq!(sign(&d, msg).unwrap(), reference.to_der().as_bytes());
            }
        }
    }
}
