//! Validation of the PKI's generations: CA generations, the signing one and the trusted ones, the
//! leaves' notBefore and the service-account key generations.

use super::*;

/// The PKI's generations, validated.
pub(super) struct Generations {
    pub(super) cas: BTreeMap<u32, OffsetDateTime>,
    pub(super) signing: u32,
    pub(super) trusted: Vec<u32>,
    pub(super) leaf_not_before: OffsetDateTime,
    pub(super) sa_signing: u32,
    pub(super) sa_trusted: Vec<u32>,
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
        // Without the field, the list is the signing generation, whose problem is reported on its own field.
        if trusted.is_some() && !known(*g) {
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

pub(super) fn validate_generations(pki: &RawPki, not_before: OffsetDateTime, c: &mut Collector) -> Option<Generations> {
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
    // Generations in order of number are in order of time, none before generation 1.
    let mut previous = (1u32, not_before);
    for (g, t) in cas.iter().skip(1) {
        if *t < previous.1 {
            c.err(
                format!("pki.caGenerations.{g}"),
                format!(
                    "{} is before generation {} ({}): each generation starts no earlier than the one before it",
                    rfc3339(*t),
                    previous.0,
                    rfc3339(previous.1)
                ),
            );
        }
        previous = (*g, *t);
    }
    let signing = pki.signing_ca.unwrap_or(1);
    if signing == 0 {
        c.err("pki.signingCA", "generations are numbered from 1 (generation 1 is pki.notBefore)");
    } else if !cas.contains_key(&signing) {
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
