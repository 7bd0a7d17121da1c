//! The cluster's life: renewal, CA and service-account rotation, encryption key rotation, and
//! `hardway plan`, checked with openssl, a real etcd and kubectl, and against every unsafe transition.

use crate::common::*;
use hardway::report::plan::{plan, NodeState, Plan};
use hardway::Bundle;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn golden_bundle(case: &str) -> Bundle {
    let d = repo().join("golden").join(case);
    render_files(&d.join("topology.yaml"), &d.join("seed")).unwrap()
}

fn index(b: &Bundle) -> Value {
    serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap()
}

fn pki_lines(extra: &str) -> String {
    demo_yaml().replace(
        "  keyAlgorithm: ecdsa-p256          # also rsa-2048, rsa-3072, rsa-4096\n",
        &format!("  keyAlgorithm: ecdsa-p256\n{extra}"),
    )
}

fn plan_of(a: &Bundle, b: &Bundle) -> Plan {
    plan("old", a, "new", b).unwrap()
}

#[test]
fn renewal_reissues_every_leaf_with_its_old_key_and_keeps_the_cas() {
    let (before, after) = (golden_bundle("demo"), golden_bundle("day2-1-renew"));
    let (bi, ai) = (index(&before), index(&after));
    let mut leaves = 0;
    for (bc, ac) in bi["certificates"].as_array().unwrap().iter().zip(ai["certificates"].as_array().unwrap()) {
        let (cert, key) = (ac["cert"].as_str().unwrap(), ac["key"].as_str().unwrap());
        assert_eq!(before.get(key), after.get(key), "{key}: a renewal keeps every key");
        if ac["issuer"] == ac["name"] {
            assert_eq!(before.get(cert), after.get(cert), "{cert}: CAs are byte-identical");
        } else {
            assert_ne!(before.get(cert), after.get(cert), "{cert}: every leaf is re-issued");
            assert_eq!(ac["notBefore"], "2027-10-01T00:00:00Z");
            assert_ne!(bc["notBefore"], ac["notBefore"]);
            leaves += 1;
        }
    }
    assert!(leaves > 10);
    // Without leafNotBefore a render is today's bytes: the demo golden is unchanged (golden test).
    let Some(openssl) = tool("openssl") else { return };
    let t = TempDir::new("renew");
    write_bundle(&after, &t.join("b"));
    let at = "1823126400"; // 2027-10-10
    for c in ai["certificates"].as_array().unwrap().iter().filter(|c| c["issuer"] != c["name"]) {
        let ca = t.join(&format!("b/pki/{}.crt", c["issuer"].as_str().unwrap()));
        let o = run(Command::new(&openssl)
            .args(["verify", "-attime", at, "-CAfile"])
            .arg(&ca)
            .arg(t.join(&format!("b/{}", c["cert"].as_str().unwrap()))));
        assert!(o.status.success(), "{}: {}", c["cert"], text(&o.stderr));
    }
}

/// Phase 1 trusts both generations everywhere: a leaf of phase 0 (generation 1) and one of phase 2
/// (generation 2) verify against every trust bundle; phase 3 trusts only generation 2.
#[test]
fn ca_rotation_phases_keep_old_and_new_leaves_verifiable_until_the_old_ca_is_dropped() {
    let Some(openssl) = tool("openssl") else { return };
    let t = TempDir::new("rotation");
    for case in ["day2-1-renew", "day2-2-trust-ca2", "day2-3-sign-ca2", "day2-4-drop-ca1"] {
        write_bundle(&golden_bundle(case), &t.join(case));
    }
    let at = "1823126400"; // 2027-10-10
    let verify = |bundle_ca: &Path, leaf: &Path| {
        run(Command::new(&openssl).args(["verify", "-attime", at, "-CAfile"]).arg(bundle_ca).arg(leaf)).status.success()
    };
    let leaves = [
        ("kubernetes-ca", "pki/apiserver.crt"),
        ("etcd-ca", "nodes/controller-0/pki/etcd-server.crt"),
        ("front-proxy-ca", "pki/front-proxy-client.crt"),
    ];
    for (ca, leaf) in leaves {
        let phase0 = t.join("day2-1-renew").join(leaf);
        let phase2 = t.join("day2-3-sign-ca2").join(leaf);
        for phase in ["day2-2-trust-ca2", "day2-3-sign-ca2"] {
            let trust = t.join(phase).join(format!("pki/{ca}-trust.crt"));
            assert!(verify(&trust, &phase0), "{phase}: {ca} trust bundle rejects a generation-1 leaf");
            assert!(verify(&trust, &phase2), "{phase}: {ca} trust bundle rejects a generation-2 leaf");
        }
        let trust3 = t.join("day2-4-drop-ca1").join(format!("pki/{ca}-trust.crt"));
        assert!(verify(&trust3, &phase2), "phase 3: {ca} rejects a generation-2 leaf");
        assert!(!verify(&trust3, &phase0), "phase 3: {ca} still accepts a generation-1 leaf");
    }
    // Every node trusts the bundle: its ca.crt files are the trust bundles in phase 1.
    let b = golden_bundle("day2-2-trust-ca2");
    for n in index(&b)["nodes"].as_array().unwrap() {
        for f in n["files"].as_array().unwrap() {
            if f["path"].as_str().unwrap().ends_with("ca.crt") {
                assert!(f["source"].as_str().unwrap().ends_with("-trust.crt"), "{}: {}", n["name"], f["path"]);
            }
        }
    }
    // Kubeconfigs carry both generations.
    let kc = text(&b.get("kubeconfigs/admin.kubeconfig").unwrap().bytes);
    let data =
        kc.lines().find_map(|l| l.trim().strip_prefix("certificate-authority-data: ")).unwrap().trim_matches('"');
    use base64::Engine;
    let pem = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).unwrap()).unwrap();
    assert_eq!(pem.matches("BEGIN CERTIFICATE").count(), 2);
    // The controller-manager signs with the signing generation: first in ca.crt, with its key in ca.key.
    let p2 = golden_bundle("day2-3-sign-ca2");
    let trust = text(&p2.get("pki/kubernetes-ca-trust.crt").unwrap().bytes);
    let gen2 = text(&p2.get("pki/kubernetes-ca-gen2.crt").unwrap().bytes);
    assert!(trust.starts_with(&gen2), "the signing generation must come first");
    let cp = index(&p2)["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "controller-0").unwrap().clone();
    let key = cp["files"].as_array().unwrap().iter().find(|f| f["path"] == "/etc/kubernetes/pki/ca.key").unwrap();
    assert_eq!(key["source"], "pki/kubernetes-ca-gen2.key");
}

#[test]
fn service_account_keys_rotate_signing_and_trust() {
    let b = golden_bundle("day2-5-sa-trust2");
    let pubs = text(&b.get("pki/service-account-trust.pub").unwrap().bytes);
    assert_eq!(pubs.matches("BEGIN PUBLIC KEY").count(), 2);
    assert!(pubs.starts_with(&text(&b.get("pki/service-account.pub").unwrap().bytes)), "signing key first");
    let signing = golden_bundle("day2-6-sa-sign2");
    let cp = index(&signing)["nodes"][0].clone();
    let find = |p: &str| cp["files"].as_array().unwrap().iter().find(|f| f["path"] == p).unwrap()["source"].clone();
    assert_eq!(find("/etc/kubernetes/pki/sa.key"), "pki/service-account-gen2.key");
    assert_eq!(find("/etc/kubernetes/pki/sa.pub"), "pki/service-account-trust.pub");
    assert!(signing.get("pki/service-account.key").is_none(), "a key that no longer signs is not handed out");
}

/// Every unsafe transition the issue names is refused (exit 1), each with its safe step; the safe
/// phases pass (exit 0).
#[test]
fn plan_refuses_each_unsafe_transition_and_passes_the_safe_ones() {
    let demo = render_text(&demo_yaml(), 9);
    let r = |extra: &str| render_text(&pki_lines(extra), 9);
    let trust2 = r("  caGenerations: {2: \"2026-11-01T00:00:00Z\"}\n  trustedCAs: [1, 2]\n");
    let sign2 = r("  caGenerations: {2: \"2026-11-01T00:00:00Z\"}\n  signingCA: 2\n  trustedCAs: [1, 2]\n");
    let only2 = r("  caGenerations: {2: \"2026-11-01T00:00:00Z\"}\n  signingCA: 2\n  trustedCAs: [2]\n");
    let sa_trust = r("  serviceAccountKeys: {signing: 1, trusted: [1, 2]}\n");
    let sa_only2 = r("  serviceAccountKeys: {signing: 2, trusted: [2]}\n");
    let enc = |keys: &str| render_text(&demo_yaml().replace("keys: [key1]", keys), 9);
    let (enc_add, enc_new_first, enc_gone) =
        (enc("keys: [key1, key2]"), enc("keys: [key2, key1]"), enc("keys: [key2]"));
    let unsafe_cases: Vec<(&str, &Bundle, &Bundle, &str)> = vec![
        (
            "signing CA not yet trusted",
            &demo,
            &sign2,
            "signs the new leaves, but the running cluster does not trust it yet",
        ),
        ("trusted CA dropped while its leaves remain", &trust2, &only2, "no longer trusted, but it signed the leaves"),
        (
            "new encryption key first without being second before",
            &demo,
            &enc_new_first,
            "encrypts at once, but the running apiservers do not know it",
        ),
        (
            "encryption key removed that still wrote",
            &enc_add,
            &enc_gone,
            "which the running cluster writes with, is removed",
        ),
        (
            "SA key removed while the signing key changes",
            &sa_trust,
            &sa_only2,
            "removed in the same step that changes the signing key",
        ),
        (
            "SA signing key not yet trusted",
            &demo,
            &sa_only2,
            "signs tokens, but the running apiservers do not trust it yet",
        ),
    ];
    for (what, a, b, want) in unsafe_cases {
        let p = plan_of(a, b);
        assert!(!p.safe(), "{what}: passed as safe");
        let all: Vec<String> =
            p.unsafe_transitions.iter().map(|v| format!("{} / {}", v.problem, v.safe_step)).collect();
        assert!(all.iter().any(|v| v.contains(want)), "{what}: {all:?}");
        assert!(p.unsafe_transitions.iter().all(|v| v.safe_step.len() > 20), "{what}: no safe step");
    }
    // etcd: replacing two of three members at once loses quorum; one at a time does not.
    let two = demo_yaml().replace("controller-1", "controller-x").replace("controller-2", "controller-y");
    let p = plan_of(&demo, &render_text(&two, 9));
    assert!(p.unsafe_transitions.iter().any(|v| v.problem.contains("etcd membership")), "{:?}", p.unsafe_transitions);
    for (what, a, b) in [
        ("trust", &demo, &trust2),
        ("sign", &trust2, &sign2),
        ("drop", &sign2, &only2),
        ("enc add", &demo, &enc_add),
        ("sa trust", &demo, &sa_trust),
    ] {
        let p = plan_of(a, b);
        assert!(p.safe(), "{what}: {:?}", p.unsafe_transitions);
    }
    // A node added: safe, and what it touches is listed.
    let grown =
        render_text(&format!("{}  - {{name: worker-3, internalIP: 10.240.0.23, roles: [worker]}}\n", demo_yaml()), 9);
    let p = plan_of(&demo, &grown);
    assert!(p.safe());
    assert!(p.nodes.iter().any(|n| n.name == "worker-3" && n.state == NodeState::Added));
    assert!(p.steps.iter().any(|s| s.title.contains("new node worker-3")), "{:?}", p.steps);
    let changed: Vec<&str> =
        p.nodes.iter().filter(|n| n.state == NodeState::Changed).map(|n| n.name.as_str()).collect();
    assert_eq!(
        changed,
        ["controller-0", "controller-1", "controller-2", "worker-0", "worker-1", "worker-2"],
        "the pod-route table lists every worker"
    );
    // An etcd member added: refused until it is marked as joining; then safe, its unit joins the running
    // cluster, and the plan says to add it first.
    let member = |extra: &str| {
        let line = format!("  - {{name: controller-3, internalIP: 10.240.0.13, roles: [etcd]{extra}}}\n");
        render_text(&format!("{}{line}", demo_yaml()), 9)
    };
    let p = plan_of(&demo, &member(""));
    let all: Vec<String> = p.unsafe_transitions.iter().map(|v| format!("{} / {}", v.problem, v.safe_step)).collect();
    assert!(
        all.iter().any(|v| v.contains("controller-3 is new to the running cluster")
            && v.contains("etcdInitialClusterState: existing")),
        "{all:?}"
    );
    let joined = member(", etcdInitialClusterState: existing");
    let p = plan_of(&demo, &joined);
    assert!(p.safe(), "{:?}", p.unsafe_transitions);
    let add = p.steps.iter().position(|s| {
        s.commands.iter().any(|c| c.contains("member add controller-3 --peer-urls=https://10.240.0.13:2380"))
    });
    let boot = p.steps.iter().position(|s| s.title.contains("new node controller-3"));
    assert!(add.is_some() && boot.is_some() && add < boot, "member add before the node boots: {:?}", p.steps);
    // The running members' units list the new member, but etcd reads that only when it forms: no restart.
    assert!(
        p.nodes.iter().filter(|n| n.name != "controller-3").all(|n| !n.restart.iter().any(|u| u == "etcd")),
        "{:?}",
        p.nodes
    );
    let unit = |b: &Bundle, n: &str| text(&b.get(&format!("nodes/{n}/systemd/etcd.service")).unwrap().bytes);
    assert!(unit(&joined, "controller-3").contains("--initial-cluster-state=existing"));
    assert!(unit(&joined, "controller-0").contains("--initial-cluster-state=new"));
    assert_eq!(index(&joined)["etcd"]["joining"], serde_json::json!(["controller-3"]));
    assert!(index(&demo)["etcd"].get("joining").is_none(), "no field when nobody joins");
    // No change at all.
    assert!(plan_of(&demo, &demo).no_changes());
}

/// The CLI: exit 0 for a safe plan, 1 for an unsafe one, 2 for a usage error; zips and redacted bundles.
#[test]
fn plan_command_exit_codes_json_and_redacted_bundles() {
    let t = TempDir::new("plan-cli");
    let demo = repo().join("golden/demo");
    let renew = repo().join("golden/day2-1-renew");
    let sign = repo().join("golden/day2-3-sign-ca2");
    let render = |case: &Path, out: PathBuf, redact: bool| {
        let mut c = Command::new(bin());
        c.arg("render").arg(case.join("topology.yaml")).arg("--secret").arg(case.join("seed")).arg("--out").arg(&out);
        if redact {
            c.arg("--redact");
        }
        assert!(run(&mut c).status.success());
        out
    };
    let (a, b, c) =
        (render(&demo, t.join("a.zip"), true), render(&renew, t.join("b"), true), render(&sign, t.join("c"), true));
    let plain = render(&renew, t.join("plain"), false);
    let p = |x: &Path, y: &Path, extra: &[&str]| run(Command::new(bin()).arg("plan").arg(x).arg(y).args(extra));
    let ok = p(&a, &b, &[]);
    assert_eq!(ok.status.code(), Some(0), "{}{}", text(&ok.stdout), text(&ok.stderr));
    assert!(text(&ok.stdout).contains("etcd member controller-0 [on controller-0]"), "{}", text(&ok.stdout));
    assert!(text(&ok.stdout).contains("$ systemctl restart etcd.service"), "{}", text(&ok.stdout));
    let bad = p(&a, &c, &["--json"]);
    assert_eq!(bad.status.code(), Some(1));
    let json: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert!(!json["unsafeTransitions"].as_array().unwrap().is_empty());
    let mixed = p(&a, &plain, &[]);
    assert_eq!(mixed.status.code(), Some(1));
    assert!(text(&mixed.stderr).contains("one bundle is redacted and the other is not"), "{}", text(&mixed.stderr));
    assert_eq!(p(&a, Path::new("/nonexistent"), &[]).status.code(), Some(1));
    assert_eq!(run(Command::new(bin()).arg("plan").arg(&a)).status.code(), Some(2));
}

#[test]
fn check_says_when_certificates_expire_and_what_to_change() {
    let demo = repo().join("examples/cluster.yaml");
    let early = run(Command::new(bin()).arg("check").arg(&demo).arg("--at").arg("2027-01-01"));
    let s = text(&early.stdout);
    assert!(s.contains("leaves 2027-11-01T00:00:00Z (304 days left, signed by CA generation 1)"), "{s}");
    assert!(s.contains("CA generation 1 2036-10-29T00:00:00Z"), "{s}");
    assert!(!s.contains("renew:"), "{s}");
    let late = run(Command::new(bin()).arg("check").arg(&demo).arg("--at").arg("2027-10-15"));
    let s = text(&late.stdout);
    assert!(s.contains("renew: the leaves end 2027-11-01T00:00:00Z: set pki.leafNotBefore"), "{s}");
    let ca_late = run(Command::new(bin()).arg("check").arg(&demo).arg("--at").arg("2036-10-15"));
    assert!(
        text(&ca_late.stdout).contains("rotate: CA generation 1 ends 2036-10-29T00:00:00Z: add pki.caGenerations.2"),
        "{}",
        text(&ca_late.stdout)
    );
}

#[test]
fn generations_are_validated_with_the_field_and_the_date() {
    let errs = |extra: &str| match hardway::model::load("t.yaml", pki_lines(extra).as_bytes()) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    };
    assert!(errs("  signingCA: 2\n").contains("pki.signingCA: generation 2 is not defined"));
    assert!(errs("  caGenerations: {2: \"2027-01-01T00:00:00Z\"}\n  trustedCAs: [2]\n")
        .contains("does not hold the signing generation 1"));
    let e = errs("  leafNotBefore: \"2036-06-01T00:00:00Z\"\n");
    assert!(e.contains("after CA generation 1 (kubernetes-ca, etcd-ca, front-proxy-ca; pki.signingCA) ends at 2036-10-29T00:00:00Z"), "{e}");
    let e = errs("  caGenerations: {2: \"2027-10-01T00:00:00Z\"}\n  signingCA: 2\n  trustedCAs: [1, 2]\n");
    assert!(
        e.contains(
            "before CA generation 2 (pki.signingCA), which starts at 2027-10-01T00:00:00Z: set pki.leafNotBefore"
        ),
        "{e}"
    );
    assert_eq!(errs("  leafKeyGeneration: 3\n"), "");
    // A new leaf key generation gives every leaf a new key and keeps the CAs.
    let (a, b) = (render_text(&demo_yaml(), 9), render_text(&pki_lines("  leafKeyGeneration: 1\n"), 9));
    assert_eq!(a.get("pki/kubernetes-ca.key"), b.get("pki/kubernetes-ca.key"));
    assert_ne!(a.get("pki/apiserver.key"), b.get("pki/apiserver.key"));
}

/// inspect says which generation each certificate belongs to.
#[test]
fn inspect_names_the_generation_of_every_certificate() {
    let t = TempDir::new("inspect-gen");
    write_bundle(&golden_bundle("day2-3-sign-ca2"), &t.join("b"));
    let o = run(Command::new(bin()).arg("inspect").arg(t.join("b")).args(["--at", "2027-10-10", "--json"]));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    let r: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = r["certificates"].as_array().unwrap();
    let api = rows.iter().find(|c| c["name"] == "apiserver").unwrap();
    assert_eq!(api["generation"], 2);
    assert_eq!(api["chain"], "ok");
    assert_eq!(rows.iter().filter(|c| c["name"] == "kubernetes-ca").count(), 2);
}

/// Real etcd and kubectl across a CA rotation: a member on phase-1 certificates and members on phase-2
/// certificates form one cluster, and either phase's apiserver-etcd-client writes and reads; a phase-1
/// kubeconfig is accepted by a server on the phase-0 and on the phase-2 apiserver certificate (a
/// phase-0 kubeconfig refuses the latter). Certificates start a few days before today.
#[test]
fn etcd_and_kubectl_work_across_the_rotation_phases() {
    let kubectl = crate::realworld::KUBECTL;
    if !crate::realworld::have(&[kubectl, "etcd", "etcdctl", "python3", "ip", "unshare", "timeout"])
        || !crate::realworld::etcd_is_current()
    {
        return;
    }
    let day = |ago: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::days(ago))
            .format(&time::macros::format_description!("[year]-[month]-[day]T00:00:00Z"))
            .unwrap()
    };
    let base = valid_now(&std::fs::read_to_string(repo().join("tests/fixtures/loopback.yaml")).unwrap());
    let phase = |extra: String| base.replace("pki:\n", &format!("pki:\n{extra}"));
    let gen2 = format!("  caGenerations: {{2: \"{}\"}}\n", day(2));
    let phases = [
        phase(String::new()),
        phase(format!("{gen2}  trustedCAs: [1, 2]\n")),
        phase(format!("{gen2}  signingCA: 2\n  trustedCAs: [1, 2]\n  leafNotBefore: \"{}\"\n", day(2))),
    ];
    let t = TempDir::new("rotation-real");
    let dirs: Vec<PathBuf> = (0..3).map(|i| t.join(&format!("p{i}"))).collect();
    for (y, d) in phases.iter().zip(&dirs) {
        write_bundle(&render_text(y, 33), d);
    }
    let work = t.join("work");
    std::fs::create_dir(&work).unwrap();
    let out =
        crate::realworld::in_netns("rotation_check.py", &[Path::new(kubectl), &dirs[0], &dirs[1], &dirs[2], &work]);
    assert_eq!(out["etcd_healthy"], true, "{out:#}");
    assert_eq!(out["put_phase1"], true, "{out:#}");
    assert_eq!(out["get_phase2"], "one", "{out:#}");
    assert_eq!(out["put_phase2"], true, "{out:#}");
    assert_eq!(out["get_phase1"], "two", "{out:#}");
    assert_eq!(out["kubectl_phase1_to_phase0_server"]["ok"], true, "{out:#}");
    assert_eq!(out["kubectl_phase1_to_phase2_server"]["ok"], true, "{out:#}");
    assert_eq!(out["kubectl_phase0_to_phase2_server"]["ok"], false, "{out:#}");
}
