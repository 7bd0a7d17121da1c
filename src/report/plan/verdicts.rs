//! The transitions a running cluster would not survive, each with the step that would have made it
//! safe: bundles of another cluster or seed, keys and CAs replaced outside their rotation steps,
//! versions skipped or downgraded, etcd membership changed by more than one member, re-armed bootstrap
//! tokens, and changes Kubernetes cannot roll (the service range).

use super::{NodePlan, NodeState, Side, Verdict};
use crate::catalog::paths;
use serde::Deserialize;
use std::collections::BTreeMap;

struct Verdicts(Vec<Verdict>);

impl Verdicts {
    fn bad(&mut self, problem: impl Into<String>, safe_step: impl Into<String>) {
        self.0.push(Verdict { problem: problem.into(), safe_step: safe_step.into() });
    }
}

/// `major.minor.patch` of a version string (a leading `v` allowed; missing parts are 0).
fn version(s: &str) -> (u64, u64, u64) {
    let mut it = s.trim_start_matches('v').split(['.', '-', '+']).map(|p| p.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// The public key (SubjectPublicKeyInfo DER) of a PEM certificate.
fn spki(pem_text: &str) -> Option<Vec<u8>> {
    let der = ::pem::parse(pem_text).ok()?.into_contents();
    let (_, c) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(c.public_key().raw.to_vec())
}

/// CA name and generation -> its certificate's bundle path.
fn cas(s: &Side) -> BTreeMap<(String, u32), String> {
    s.index
        .certificates
        .iter()
        .filter(|c| c.node.is_none() && c.issuer == c.name)
        .map(|c| ((c.name.clone(), c.generation), c.cert.clone()))
        .collect()
}

#[derive(Deserialize)]
struct EncryptionConfig {
    resources: Vec<EncryptionResource>,
}
#[derive(Deserialize)]
struct EncryptionResource {
    providers: Vec<BTreeMap<String, EncryptionProvider>>,
}
#[derive(Deserialize)]
struct EncryptionProvider {
    #[serde(default)]
    keys: Vec<EncryptionKey>,
}
#[derive(Deserialize)]
struct EncryptionKey {
    name: String,
    secret: String,
}

/// Key name -> (provider, secret or its redaction placeholder) of the bundle's encryption config.
fn encryption_material(s: &Side) -> BTreeMap<String, (String, String)> {
    let Ok(cfg) = serde_saphyr::from_str::<EncryptionConfig>(s.text(&s.index.encryption.path)) else {
        return BTreeMap::new();
    };
    let mut m = BTreeMap::new();
    for r in cfg.resources {
        for p in r.providers {
            for (provider, block) in p {
                for k in block.keys {
                    m.insert(k.name, (provider.clone(), k.secret));
                }
            }
        }
    }
    m
}

/// The latest instant the NEW bundle says it was rendered for: its leaves' or newest CA's notBefore.
/// (A plan reads no clock: a token expiring before this is expired by the time NEW is rolled out.)
pub(super) fn render_time(s: &Side) -> String {
    let mut t = s.index.pki.leaf_not_before.clone();
    for g in &s.index.pki.ca_generations {
        if g.not_before > t {
            t = g.not_before.clone();
        }
    }
    t
}

fn key_short(k: &str) -> &str {
    k.rsplit('/').next().unwrap_or(k)
}

pub(super) fn verdicts(o: &Side, n: &Side, nodes: &[NodePlan]) -> Vec<Verdict> {
    let mut v = Verdicts(Vec::new());
    let (oi, ni) = (&o.index, &n.index);
    if oi.cluster != ni.cluster {
        v.bad(
            format!(
                "the bundles are of different clusters ({} and {}): nothing of one is valid in the other",
                oi.cluster, ni.cluster
            ),
            "plan between two renders of the same cluster; a new cluster is built, not rolled out",
        );
    }
    seed_and_keys(o, n, &mut v);
    pki_rotation(o, n, &mut v);
    encryption(o, n, &mut v);
    service_accounts(o, n, &mut v);
    versions(o, n, &mut v);
    if oi.network.service_cidr != ni.network.service_cidr {
        v.bad(
            format!("the service range changes ({} -> {}): Service ClusterIPs are immutable, and the kubernetes and DNS Services keep their addresses; kubelets and pods would point at addresses outside the new range", oi.network.service_cidr, ni.network.service_cidr),
            "keep network.serviceCIDR; moving it means recreating every Service (and the kubernetes and kube-dns Services, the apiserver certificate and every kubelet's clusterDNS) in a maintenance window, or a new cluster",
        );
    }
    etcd(o, n, &mut v);
    tokens(o, n, nodes, &mut v);
    v.0
}

/// Keys that must stay the same between renders: the CAs of each generation both bundles hold, the
/// service-account keys of each generation both hold, encryption key material under one name.
fn seed_and_keys(o: &Side, n: &Side, v: &mut Verdicts) {
    let (oc, nc) = (cas(o), cas(n));
    let mut replaced = Vec::new();
    for ((name, g), op) in &oc {
        if let Some(np) = nc.get(&(name.clone(), *g)) {
            if spki(o.text(op)) != spki(n.text(np)) {
                replaced.push(format!("{name} generation {g}"));
            }
        }
    }
    if !replaced.is_empty() {
        v.bad(
            format!("the CA key pair changes outside a rotation ({}): every certificate the running cluster holds is rejected at once (another seed, or another cluster's bundle?)", replaced.join(", ")),
            "render NEW with OLD's seed; to replace a CA, rotate it (pki.caGenerations, trustedCAs, signingCA: README, Day 2)",
        );
    }
    let sa = |s: &Side| s.index.pki.service_account_keys.trusted.clone();
    for g in sa(o).iter().filter(|g| sa(n).contains(g)) {
        let p = paths::sa_paths(*g).1;
        if o.text(&p) != n.text(&p) {
            v.bad(
                format!("service-account key generation {g} changes (another seed?): every token issued in the running cluster is rejected at once"),
                "render NEW with OLD's seed; to replace the key, rotate it (pki.serviceAccountKeys: README, Day 2)",
            );
        }
    }
    let (om, nm) = (encryption_material(o), encryption_material(n));
    for (name, (op, os)) in &om {
        if let Some((np, ns)) = nm.get(name) {
            if os != ns {
                let why =
                    if op != np { format!("its provider changes ({op} -> {np})") } else { "another seed?".into() };
                v.bad(
                    format!("encryption key {name} keeps its name but not its material ({why}): Secrets encrypted with it become unreadable"),
                    format!("keep key {name} as it is; a new key gets a new name (add it second, roll out, move it first, re-encrypt, then remove {name})"),
                );
            }
        }
    }
}

fn pki_rotation(o: &Side, n: &Side, v: &mut Verdicts) {
    let (op, np) = (&o.index.pki, &n.index.pki);
    let (o_sign, n_sign) = (op.signing_ca, np.signing_ca);
    if !op.trusted_cas.contains(&n_sign) {
        v.bad(
            format!("CA generation {n_sign} signs the new leaves, but the running cluster does not trust it yet (trustedCAs {:?}): nodes restarted first would present certificates the others reject", op.trusted_cas),
            format!("first render with pki.trustedCAs including {n_sign} and pki.signingCA: {o_sign}, roll that out everywhere, then sign with {n_sign}"),
        );
    }
    for g in op.trusted_cas.iter().filter(|g| !np.trusted_cas.contains(g)) {
        if *g == o_sign {
            v.bad(
                format!("CA generation {g} is no longer trusted, but it signed the leaves the running cluster uses: until every node has its new certificates, they are rejected"),
                format!("first re-issue every leaf with the new generation (pki.signingCA, keeping {g} in pki.trustedCAs) and roll that out, then drop {g}"),
            );
        }
    }
}

fn encryption(o: &Side, n: &Side, v: &mut Verdicts) {
    let (ok, nk) = (o.index.encryption.qualified_keys(), n.index.encryption.qualified_keys());
    if let Some(first) = nk.first() {
        if !ok.contains(first) {
            let (provider, name) = first.split_once('/').unwrap_or(("secretbox", first));
            // The running cluster's keys as the topology writes them, then the new key second: under a
            // name of its own when only the provider changed (names are unique in a topology).
            let written: Vec<String> = ok
                .iter()
                .map(|k| {
                    let (p, n) = k.split_once('/').unwrap_or(("", k));
                    if p == o.index.encryption.provider {
                        n.to_string()
                    } else {
                        format!("{{name: {n}, provider: {p}}}")
                    }
                })
                .collect();
            let taken = |x: &str| ok.iter().chain(&nk).any(|k| key_short(k) == x);
            let fresh = if taken(name) && ok.iter().any(|k| key_short(k) == name) {
                (2..).map(|i| format!("key{i}")).find(|x| !taken(x)).unwrap_or_else(|| "key2".into())
            } else {
                name.to_string()
            };
            let entry = if provider == o.index.encryption.provider {
                fresh.clone()
            } else {
                format!("{{name: {fresh}, provider: {provider}}}")
            };
            let mut keys = written.clone();
            keys.insert(1.min(keys.len()), entry);
            v.bad(
                format!("encryption key {first} encrypts at once, but the running apiservers do not know it: Secrets written by a restarted apiserver are unreadable to the others"),
                format!("first add the new key second (encryption.keys: [{}]), roll it out to every apiserver, then move it first", keys.join(", ")),
            );
        }
    }
    if let Some(first) = ok.first() {
        if !nk.contains(first) {
            v.bad(
                format!("encryption key {first}, which the running cluster writes with, is removed: Secrets it encrypted become unreadable"),
                format!("first promote another key, roll it out and re-encrypt every Secret (kubectl get secrets -A -o json | kubectl replace -f -), then remove {}", key_short(first)),
            );
        }
    }
}

fn service_accounts(o: &Side, n: &Side, v: &mut Verdicts) {
    let (os_, ns_) = (&o.index.pki.service_account_keys, &n.index.pki.service_account_keys);
    let (os, ns) = (os_.signing, ns_.signing);
    if !os_.trusted.contains(&ns) {
        v.bad(
            format!("service-account key generation {ns} signs tokens, but the running apiservers do not trust it yet: tokens from a restarted controller-manager are rejected"),
            format!("first trust {ns} (pki.serviceAccountKeys.trusted) while {os} signs, roll it out, then sign with {ns}"),
        );
    }
    let removed: Vec<u32> = os_.trusted.iter().filter(|g| !ns_.trusted.contains(g)).copied().collect();
    if !removed.is_empty() && os != ns {
        v.bad(
            format!("service-account public key(s) {removed:?} are removed in the same step that changes the signing key: tokens already issued fail before pods get new ones"),
            "first change the signing key and let every token be re-issued (restart the pods that mount tokens), then remove the old public key",
        );
    } else if removed.contains(&os) {
        v.bad(
            format!("service-account key generation {os} signed the running cluster's tokens and is no longer trusted"),
            format!("first sign with another generation and let every token be re-issued, then remove {os}"),
        );
    }
}

fn versions(o: &Side, n: &Side, v: &mut Verdicts) {
    let (ov, nv) = (version(&o.index.kubernetes_version), version(&n.index.kubernetes_version));
    if nv < ov {
        v.bad(
            format!("Kubernetes goes down from {} to {}: downgrades are not supported (stored objects and feature states of the newer release may not be readable)", o.index.kubernetes_version, n.index.kubernetes_version),
            format!("keep cluster.kubernetesVersion at {} or later", o.index.kubernetes_version),
        );
    } else if nv.1 > ov.1 + 1 || nv.0 != ov.0 {
        v.bad(
            format!(
                "Kubernetes skips a minor release ({} -> {}): the version-skew policy allows one minor at a time",
                o.index.kubernetes_version, n.index.kubernetes_version
            ),
            format!("upgrade to 1.{}.x first, roll it out, then to {}", ov.1 + 1, n.index.kubernetes_version),
        );
    }
    let (oe, ne) = (version(&o.index.versions.etcd), version(&n.index.versions.etcd));
    if o.index.versions.etcd.is_empty() || n.index.versions.etcd.is_empty() {
        // A bundle of a hardway that did not record etcd's version: nothing to compare.
    } else if ne < oe {
        v.bad(
            format!("etcd goes down from {} to {}: etcd cannot be downgraded by replacing its binary (its own procedure, `etcdutl migrate` and a downgrade-enabled cluster, is needed first)", o.index.versions.etcd, n.index.versions.etcd),
            format!("keep binaries.versions.etcd at {} or later", o.index.versions.etcd),
        );
    } else if ne.1 > oe.1 + 1 || ne.0 != oe.0 {
        v.bad(
            format!(
                "etcd skips a minor release ({} -> {}): etcd upgrades one minor at a time",
                o.index.versions.etcd, n.index.versions.etcd
            ),
            format!("upgrade etcd to {}.{}.x first, roll it out, then to {}", oe.0, oe.1 + 1, n.index.versions.etcd),
        );
    }
}

fn etcd(o: &Side, n: &Side, v: &mut Verdicts) {
    let (om, nm) = (&o.index.etcd.members, &n.index.etcd.members);
    let ip = |s: &Side, m: &str| s.index.node(m).map(|x| x.internal_ip.clone());
    let kept = om.iter().filter(|m| nm.contains(m)).count();
    let moved: Vec<&String> = om.iter().filter(|m| nm.contains(m) && ip(o, m) != ip(n, m)).collect();
    let changes =
        om.iter().filter(|m| !nm.contains(m)).count() + nm.iter().filter(|m| !om.contains(m)).count() + moved.len();
    let quorum = om.len() / 2 + 1;
    if !om.is_empty() && (changes > 1 || kept < quorum) {
        v.bad(
            format!("etcd membership changes by {changes} member(s) in one step (added, removed or moved to another address; {kept} kept of {}, quorum {quorum}): the cluster can lose quorum", om.len()),
            "change one member at a time: add, remove or move one, roll it out and wait for a healthy cluster, then the next",
        );
    }
    for m in nm.iter().filter(|m| !om.is_empty() && !om.contains(m) && !n.index.etcd.joining.contains(m)) {
        v.bad(
            format!("etcd member {m} is new to the running cluster, but its unit says --initial-cluster-state=new: it would not join the running members"),
            format!("set etcdInitialClusterState: existing on node {m}, render again, and add it with etcdctl member add before starting it"),
        );
    }
}

/// Bootstrap tokens: never re-armed (an id kept with a new expiry), and valid for the workers that
/// will use them (new bootstrap workers; bootstrap workers re-issuing their certificates in a CA
/// rotation).
fn tokens(o: &Side, n: &Side, nodes: &[NodePlan], v: &mut Verdicts) {
    let now = render_time(n);
    for t in &n.index.bootstrap_tokens {
        if let Some(old) = o.index.bootstrap_tokens.iter().find(|x| x.id == t.id) {
            if old.expiration != t.expiration {
                v.bad(
                    format!("bootstrap token {} keeps its id and secret but its expiry moves ({} -> {}): a token that expired (and that the token cleaner deleted) would be valid again, and it is still in the workers' user-data", t.id, old.expiration, t.expiration),
                    "change cluster.bootstrapTokensExpire only together with a new cluster.bootstrapTokenGeneration (every token gets a new value)",
                );
            }
        }
    }
    let token_of =
        |node: &str| n.index.bootstrap_tokens.iter().find(|t| t.node.as_deref() == Some(node) || t.node.is_none());
    let expired = |node: &str| token_of(node).is_some_and(|t| t.expiration <= now);
    let step = format!("set cluster.bootstrapTokensExpire after {now} and a new cluster.bootstrapTokenGeneration, render again (apply the new token Secrets before the workers use them)");
    for p in nodes.iter().filter(|p| p.state == NodeState::Added) {
        if n.index.node(&p.name).is_some_and(|e| e.bootstraps()) && expired(&p.name) {
            v.bad(format!("new bootstrap worker {} would join with a token that expires before {now}: its kubelet cannot register", p.name), step.clone());
        }
    }
    if o.index.pki.signing_ca != n.index.pki.signing_ca {
        for e in n.index.nodes.iter().filter(|e| e.bootstraps() && o.index.node(&e.name).is_some()) {
            if expired(&e.name) {
                v.bad(
                    format!("bootstrap worker {} must re-issue its kubelet certificates under CA generation {} (before generation {} can be dropped), but its bootstrap token expires before {now}", e.name, n.index.pki.signing_ca, o.index.pki.signing_ca),
                    step.clone(),
                );
            }
        }
    }
}
