//! Day 2 as an operator lives it (issue #19): the plan never calls an unsafe change safe, and its steps
//! are commands that can be run as they are. Each test here failed before its fix.

use crate::common::*;
use hardway::report::plan::{plan, NodeState, Plan, Stage};
use hardway::Bundle;
use serde_json::Value;
use std::process::Command;

fn plan_of(a: &Bundle, b: &Bundle) -> Plan {
    plan("old", a, "new", b).unwrap()
}

fn golden_bundle(case: &str) -> Bundle {
    let d = repo().join("golden").join(case);
    render_files(&d.join("topology.yaml"), &d.join("seed")).unwrap()
}

fn golden_yaml(case: &str) -> String {
    std::fs::read_to_string(repo().join("golden").join(case).join("topology.yaml")).unwrap()
}

fn index(b: &Bundle) -> Value {
    serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap()
}

fn unsafe_text(p: &Plan) -> String {
    p.unsafe_transitions.iter().map(|v| format!("{} / {}\n", v.problem, v.safe_step)).collect()
}

/// The bundle file a node gets at `node_path`.
fn source_on(b: &Bundle, node: &str, node_path: &str) -> String {
    let idx = index(b);
    let n = idx["nodes"].as_array().unwrap().iter().find(|n| n["name"] == node).unwrap();
    let f = n["files"].as_array().unwrap().iter().find(|f| f["path"] == node_path);
    f.unwrap_or_else(|| panic!("{node} gets no {node_path}"))["source"].as_str().unwrap().to_string()
}

/// Flags whose file must hold exactly one certificate; every other CA flag takes a bundle.
const ONE_CERTIFICATE: &[&str] = &["--cluster-signing-cert-file"];
/// Every flag or config field that names a CA file, and whether it accepts several certificates.
const CA_FLAGS: &[(&str, bool)] = &[
    ("--cluster-signing-cert-file", false),
    ("--client-ca-file", true),
    ("--root-ca-file", true),
    ("--requestheader-client-ca-file", true),
    ("--kubelet-certificate-authority", true),
    ("--etcd-cafile", true),
    ("--trusted-ca-file", true),
    ("--peer-trusted-ca-file", true),
];

/// #19.1: in every CA rotation phase, the controller-manager's signing certificate file holds exactly
/// the signing generation's certificate; trust bundles go only to flags that accept bundles.
#[test]
fn signing_files_hold_one_certificate_in_every_rotation_phase() {
    for case in ["demo", "day2-2-trust-ca2", "day2-3-sign-ca2", "day2-4-drop-ca1"] {
        let b = golden_bundle(case);
        let idx = index(&b);
        let signing = idx["pki"]["signingCA"].as_u64().unwrap();
        let mut seen = 0;
        for (unit, node) in [
            ("config/systemd/kube-controller-manager.service", "controller-0"),
            ("nodes/controller-0/systemd/kube-apiserver.service", "controller-0"),
            ("nodes/controller-0/systemd/etcd.service", "controller-0"),
        ] {
            for line in text(&b.get(unit).unwrap().bytes).lines() {
                let arg = line.trim().trim_end_matches(" \\");
                let Some((flag, path)) = arg.split_once('=') else { continue };
                let Some((_, bundle_ok)) = CA_FLAGS.iter().find(|(f, _)| *f == flag) else { continue };
                seen += 1;
                let src = source_on(&b, node, path);
                let certs = text(&b.get(&src).unwrap().bytes).matches("BEGIN CERTIFICATE").count();
                if ONE_CERTIFICATE.contains(&flag) || !bundle_ok {
                    assert_eq!(certs, 1, "{case}: {flag}={path} ({src}) holds {certs} certificates");
                    let want = if signing == 1 {
                        "pki/kubernetes-ca.crt".to_string()
                    } else {
                        format!("pki/kubernetes-ca-gen{signing}.crt")
                    };
                    assert_eq!(src, want, "{case}: {flag} is the signing generation's certificate");
                } else {
                    let trusted = idx["pki"]["trustedCAs"].as_array().unwrap().len();
                    assert_eq!(certs, trusted, "{case}: {flag}={path} ({src}) holds every trusted generation");
                }
            }
        }
        // 4 flags of the controller-manager, 4 of the apiserver (client-ca and requestheader-client-ca
        // on both), 2 of etcd.
        assert_eq!(seen, 10, "{case}: every CA flag of the three units found");
    }
}

/// #19.2: bundles of another seed or cluster are refused, naming what would break.
#[test]
fn plan_refuses_another_seed_or_cluster() {
    let demo = render_text(&demo_yaml(), 9);
    let p = plan_of(&demo, &render_text(&demo_yaml(), 10));
    let all = unsafe_text(&p);
    assert!(!p.safe, "another seed passed as safe");
    assert!(all.contains("the CA key pair changes outside a rotation"), "{all}");
    assert!(all.contains("service-account key generation 1 changes"), "{all}");
    assert!(all.contains("encryption key key1 keeps its name but not its material"), "{all}");
    let other = plan_of(&demo, &render_text(&demo_yaml().replace("name: hardway-demo", "name: other"), 9));
    assert!(unsafe_text(&other).contains("different clusters"), "{}", unsafe_text(&other));
    // Also between redacted bundles (fingerprints differ).
    let red = |seed: u8| {
        let c = hardway::model::load("t.yaml", demo_yaml().as_bytes()).unwrap();
        let opts = hardway::Options { redact: true, ..Default::default() };
        hardway::render_with(&c.topology, &hardway::Secrets::from_seed([seed; 32]), opts).unwrap()
    };
    let p = plan_of(&red(9), &red(10));
    assert!(unsafe_text(&p).contains("keeps its name but not its material"), "{}", unsafe_text(&p));
    assert!(plan_of(&red(9), &red(9)).safe);
}

/// #19.3: version changes follow the skew policy: control plane first, one apiserver at a time,
/// workers drained and last; skipped minors and downgrades (Kubernetes and etcd) are refused.
#[test]
fn version_changes_follow_the_skew_policy() {
    let y = |v: &str| demo_yaml().replace("kubernetesVersion: \"1.36.2\"", &format!("kubernetesVersion: \"{v}\""));
    let (v35, v36) = (render_text(&y("1.35.2"), 9), render_text(&y("1.36.2"), 9));
    let p = plan_of(&v35, &v36);
    assert!(p.safe, "{}", unsafe_text(&p));
    let stage_of = |name: &str, stage: Stage| p.steps.iter().position(|s| s.stage == stage && s.title.contains(name));
    let etcd: Vec<usize> = (0..3).filter_map(|i| stage_of(&format!("controller-{i}"), Stage::Etcd)).collect();
    assert_eq!(etcd.len(), 3, "every controller in the etcd stage, one step each: {:?}", p.steps);
    let drain = p.steps.iter().position(|s| s.commands.iter().any(|c| c.contains("drain worker-0"))).unwrap();
    assert!(etcd.iter().all(|e| *e < drain), "control plane before workers");
    let kubelet = p.steps.iter().position(|s| s.node.as_deref() == Some("worker-0")).unwrap();
    let uncordon = p.steps.iter().position(|s| s.commands.iter().any(|c| c.contains("uncordon worker-0"))).unwrap();
    assert!(drain < kubelet && kubelet < uncordon, "worker drained, upgraded, uncordoned");
    assert!(!p.steps.iter().any(|s| s.stage == Stage::Files), "no node is 'files only': {:?}", p.steps);
    // Kubelets before apiservers was the old order.
    let p = plan_of(&render_text(&y("1.35.2"), 9), &render_text(&y("1.36.0"), 9));
    let first_worker = p.steps.iter().position(|s| s.title.contains("worker-")).unwrap();
    let last_cp = p.steps.iter().rposition(|s| s.title.contains("controller-")).unwrap();
    assert!(last_cp < first_worker, "{:?}", p.steps);
    for (a, b, want) in [
        ("1.34.3", "1.36.2", "skips a minor release"),
        ("1.36.2", "1.35.2", "downgrades are not supported"),
        ("1.36.2", "1.36.1", "downgrades are not supported"),
    ] {
        let p = plan_of(&render_text(&y(a), 9), &render_text(&y(b), 9));
        assert!(unsafe_text(&p).contains(want), "{a} -> {b}: {}", unsafe_text(&p));
    }
    let etcd = |v: &str| render_text(&format!("{}binaries: {{versions: {{etcd: \"{v}\"}}}}\n", y("1.36.2")), 9);
    let p = plan_of(&etcd("3.6.8"), &etcd("3.5.21"));
    assert!(unsafe_text(&p).contains("etcd cannot be downgraded"), "{}", unsafe_text(&p));
    let p = plan_of(&etcd("3.5.21"), &etcd("3.7.0"));
    assert!(unsafe_text(&p).contains("etcd skips a minor release"), "{}", unsafe_text(&p));
}

/// #19.4: a renewal keeps the tokens as they were (their expiry follows pki.notBefore); re-arming a
/// token and joining with an expired one are refused.
#[test]
fn renewals_never_rearm_bootstrap_tokens() {
    let base = golden_yaml("bootstrap");
    let old = render_text(&base, 9);
    let renewed = render_text(
        &base.replace(
            "  notBefore: \"2026-11-01T00:00:00Z\"\n",
            "  notBefore: \"2026-11-01T00:00:00Z\"\n  leafNotBefore: \"2027-10-01T00:00:00Z\"\n",
        ),
        9,
    );
    assert_eq!(
        old.get("manifests/04-bootstrap-token-secrets.yaml"),
        renewed.get("manifests/04-bootstrap-token-secrets.yaml")
    );
    assert_eq!(index(&old)["bootstrapTokens"], index(&renewed)["bootstrapTokens"]);
    let p = plan_of(&old, &renewed);
    assert!(p.safe, "{}", unsafe_text(&p));
    assert!(!p.other_files.iter().any(|f| f.path.contains("bootstrap-token")), "{:?}", p.other_files);
    // A new expiry without a new generation re-arms the same token.
    let rearm = base.replace(
        "  bootstrapTokens: shared\n",
        "  bootstrapTokens: shared\n  bootstrapTokensExpire: \"2027-10-02T00:00:00Z\"\n",
    );
    let p = plan_of(&old, &render_text(&rearm, 9));
    assert!(unsafe_text(&p).contains("keeps its id and secret but its expiry moves"), "{}", unsafe_text(&p));
    // A bootstrap worker added a year later, with the old (expired) token.
    let later = |extra: &str| {
        let y = base
            .replace(
                "  notBefore: \"2026-11-01T00:00:00Z\"\n",
                "  notBefore: \"2026-11-01T00:00:00Z\"\n  leafNotBefore: \"2027-10-01T00:00:00Z\"\n",
            )
            .replace("  bootstrapTokens: shared\n", &format!("  bootstrapTokens: shared\n{extra}"));
        render_text(&format!("{y}  - {{name: w-3, internalIP: 10.1.1.13, roles: [worker]}}\n"), 9)
    };
    let p = plan_of(&renewed, &later(""));
    assert!(
        unsafe_text(&p).contains("new bootstrap worker w-3 would join with a token that expires"),
        "{}",
        unsafe_text(&p)
    );
    assert!(unsafe_text(&p).contains("bootstrapTokenGeneration"), "{}", unsafe_text(&p));
    let fresh = "  bootstrapTokensExpire: \"2027-10-08T00:00:00Z\"\n  bootstrapTokenGeneration: 1\n";
    let p = plan_of(&renewed, &later(fresh));
    assert!(p.safe, "{}", unsafe_text(&p));
    let apply = p.steps.iter().position(|s| s.commands.iter().any(|c| c.contains("04-bootstrap-token-secrets.yaml")));
    let boot = p.steps.iter().position(|s| s.title.contains("new node w-3"));
    assert!(apply.is_some() && apply < boot, "token Secrets applied before the worker boots: {:?}", p.steps);
}

/// #19.6: an etcd member moving to another address is updated in the cluster before it restarts
/// there; two at once are refused.
#[test]
fn etcd_member_address_changes_are_planned_one_at_a_time() {
    let demo = render_text(&demo_yaml(), 9);
    let moved = render_text(
        &demo_yaml().replace("10.240.0.11, roles: [controlplane, etcd]", "10.240.0.31, roles: [controlplane, etcd]"),
        9,
    );
    let p = plan_of(&demo, &moved);
    let update = p.steps.iter().position(|s| {
        s.commands.iter().any(|c| c.contains("member update") && c.contains("--peer-urls=https://10.240.0.31:2380"))
    });
    let update = update.unwrap_or_else(|| panic!("{:?}", p.steps));
    assert_ne!(p.steps[update].node.as_deref(), Some("controller-1"), "run on another member");
    assert!(p.steps[update].commands[0].contains("--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt"));
    let restart =
        p.steps.iter().position(|s| s.node.as_deref() == Some("controller-1") && s.stage == Stage::Etcd).unwrap();
    assert!(update < restart);
    let two = render_text(
        &demo_yaml()
            .replace("10.240.0.11, roles: [controlplane, etcd]", "10.240.0.31, roles: [controlplane, etcd]")
            .replace("10.240.0.12, roles: [controlplane, etcd]", "10.240.0.32, roles: [controlplane, etcd]"),
        9,
    );
    assert!(
        unsafe_text(&plan_of(&demo, &two)).contains("etcd membership changes by 2"),
        "{}",
        unsafe_text(&plan_of(&demo, &two))
    );
}

/// #19.7: the service range is not a rolling change.
#[test]
fn service_range_changes_are_refused() {
    let demo = render_text(&demo_yaml(), 9);
    let moved = render_text(&demo_yaml().replace("serviceCIDR: 10.32.0.0/24", "serviceCIDR: 10.33.0.0/24"), 9);
    assert!(unsafe_text(&plan_of(&demo, &moved)).contains("the service range changes"));
}

/// #19.8 and #19.9: TLS-bootstrapped kubelets re-issue their certificates in CA phase 2 (and phase 3
/// checks they did); an endpoint change rewrites the kubeconfig they wrote themselves.
#[test]
fn bootstrapped_kubelets_follow_ca_rotation_and_endpoint_changes() {
    let base = golden_yaml("bootstrap");
    let with = |pki: &str, cluster: &str| {
        render_text(
            &base
                .replace(
                    "  notBefore: \"2026-11-01T00:00:00Z\"\n",
                    &format!("  notBefore: \"2026-11-01T00:00:00Z\"\n{pki}"),
                )
                .replace("  bootstrapTokens: shared\n", &format!("  bootstrapTokens: shared\n{cluster}")),
            9,
        )
    };
    let tokens = "  bootstrapTokensExpire: \"2027-10-08T00:00:00Z\"\n  bootstrapTokenGeneration: 1\n";
    let phase1 = with("  leafNotBefore: \"2027-10-01T00:00:00Z\"\n  caGenerations: {2: \"2027-10-01T00:00:00Z\"}\n  trustedCAs: [1, 2]\n", "");
    let phase2 = with("  leafNotBefore: \"2027-10-01T00:00:00Z\"\n  caGenerations: {2: \"2027-10-01T00:00:00Z\"}\n  signingCA: 2\n  trustedCAs: [2, 1]\n", tokens);
    let phase3 = with("  leafNotBefore: \"2027-10-01T00:00:00Z\"\n  caGenerations: {2: \"2027-10-01T00:00:00Z\"}\n  signingCA: 2\n  trustedCAs: [2]\n", tokens);
    let p = plan_of(&phase1, &phase2);
    assert!(p.safe, "{}", unsafe_text(&p));
    for w in ["w-0", "w-1"] {
        let s = p.steps.iter().find(|s| s.node.as_deref() == Some(w) && s.stage == Stage::Workers).unwrap();
        assert!(s.commands.iter().any(|c| c.starts_with("rm -f /var/lib/kubelet/pki/kubelet-client-*.pem")), "{s:?}");
        assert!(p.steps.iter().any(|s| s.title.contains(&format!("approve {w}'s new serving certificate"))));
        assert!(p.steps.iter().any(|s| s.node.as_deref() == Some(w)
            && s.wait.as_ref().is_some_and(|x| x.command.contains("authorityKeyIdentifier"))));
    }
    // Without fresh tokens the re-issue cannot happen: refused.
    let stale = with("  leafNotBefore: \"2027-10-01T00:00:00Z\"\n  caGenerations: {2: \"2027-10-01T00:00:00Z\"}\n  signingCA: 2\n  trustedCAs: [2, 1]\n", "");
    assert!(unsafe_text(&plan_of(&phase1, &stale)).contains("must re-issue its kubelet certificates"));
    let p = plan_of(&phase2, &phase3);
    assert!(p.safe, "{}", unsafe_text(&p));
    let checks: Vec<_> =
        p.steps.iter().filter(|s| s.stage == Stage::Prepare && s.title.starts_with("check:")).collect();
    assert_eq!(checks.len(), 2, "w-0 and w-1 are checked first: {:?}", p.steps);
    // Endpoint change: the kubelet's own kubeconfig is rewritten on bootstrapped workers only.
    let moved = render_text(&base.replace("endpoint: api.boot.example", "endpoint: api2.boot.example"), 9);
    let p = plan_of(&render_text(&base, 9), &moved);
    for (w, want) in [("w-0", true), ("w-1", true), ("w-2", false)] {
        let rewrites = p.steps.iter().any(|s| s.node.as_deref() == Some(w) && s.commands.iter().any(|c| c.contains("sed -i 's#server: https://api.boot.example:6443#server: https://api2.boot.example:6443#' /etc/kubernetes/kubelet.conf")));
        assert_eq!(rewrites, want, "{w}: {:?}", p.steps);
    }
}

/// #19.11: plan checks both bundles whole before comparing them.
#[test]
fn plan_refuses_what_is_not_a_whole_bundle() {
    let t = TempDir::new("plan-whole");
    let demo = render_text(&demo_yaml(), 9);
    write_bundle(&demo, &t.join("a"));
    write_bundle(&demo, &t.join("b"));
    // A tampered certificate.
    let crt = t.join("b/pki/apiserver.crt");
    let mut pem = std::fs::read_to_string(&crt).unwrap();
    pem = pem.replacen('A', "B", 1);
    std::fs::write(&crt, pem).unwrap();
    let o = run(Command::new(bin()).arg("plan").arg(t.join("a")).arg(t.join("b")));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("pki/apiserver.crt does not match its checksum"), "{}", text(&o.stderr));
    // An empty index and checksums.
    std::fs::create_dir_all(t.join("c")).unwrap();
    std::fs::write(t.join("c/index.json"), "{}").unwrap();
    std::fs::write(t.join("c/SHA256SUMS"), "").unwrap();
    let o = run(Command::new(bin()).arg("plan").arg(t.join("a")).arg(t.join("c")));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("not a whole hardway bundle"), "{}", text(&o.stderr));
}

/// #19.14: CloudFormation of a redacted bundle would boot nodes with placeholders for keys.
#[test]
fn cloudformation_refuses_a_redacted_bundle() {
    let c = hardway::model::load("t.yaml", demo_yaml().as_bytes()).unwrap();
    let opts = hardway::Options { redact: true, ..Default::default() };
    let b = hardway::render_with(&c.topology, &hardway::Secrets::from_seed([9; 32]), opts).unwrap();
    let e = hardway::report::cloudformation::template("bundle", &b).unwrap_err().to_string();
    assert!(e.contains("redacted"), "{e}");
}

/// #19.15: the approve script approves a kubelet-serving CSR only for the node's own names and
/// addresses (a fake kubectl serves CSRs made with openssl).
#[test]
fn approve_script_checks_the_names_a_csr_asks_for() {
    let Some(openssl) = tool("openssl") else { return };
    let t = TempDir::new("approve");
    let b = golden_bundle("bootstrap");
    write_bundle(&b, &t.join("b"));
    let csr = |name: &str, sans: &str| {
        let key = t.join(&format!("{name}.key"));
        let o = run(Command::new(&openssl)
            .args([
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-subj",
                "/O=system:nodes/CN=system:node:w-0",
                "-addext",
            ])
            .arg(format!("subjectAltName={sans}"))
            .arg("-keyout")
            .arg(&key));
        assert!(o.status.success(), "{}", text(&o.stderr));
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&o.stdout)
    };
    let good = csr("good", "DNS:w-0,IP:10.1.1.10");
    let evil = csr("evil", "DNS:w-0,DNS:kubernetes.default,IP:10.1.1.10");
    let stranger = csr("stranger", "DNS:w-2,IP:10.1.1.12");
    let log = t.join("approved");
    let fake = t.join("kubectl");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\ncase \"$*\" in\n*'get csr -o jsonpath'*) printf 'csr-good system:node:w-0 \\ncsr-evil system:node:w-0 \\ncsr-stranger system:node:w-2 \\n' ;;\n*'get csr csr-good'*) printf '%s' '{good}' ;;\n*'get csr csr-evil'*) printf '%s' '{evil}' ;;\n*'get csr csr-stranger'*) printf '%s' '{stranger}' ;;\n*'certificate approve'*) echo \"$*\" >> {} ;;\nesac\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", t.path().display(), std::env::var("PATH").unwrap_or_default());
    let o = run(Command::new("sh").arg(t.join("b/manifests/approve-kubelet-serving-csrs.sh")).env("PATH", path));
    let approved = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(approved.contains("csr-good"), "{approved} / {}", text(&o.stderr));
    assert!(!approved.contains("csr-evil"), "a CSR asking for another name was approved");
    assert!(!approved.contains("csr-stranger"), "w-2 does not bootstrap: not approved");
    assert!(text(&o.stderr).contains("kubernetes.default"), "{}", text(&o.stderr));
}

/// #19.10 and #19.16: a removed controller is not drained (it runs no kubelet); the JSON is camelCase
/// with a top-level safe; validation names the field the user wrote.
#[test]
fn smaller_things() {
    let demo = render_text(&demo_yaml(), 9);
    let three_cp =
        demo_yaml().replace("  - {name: controller-2, internalIP: 10.240.0.12, roles: [controlplane, etcd]}\n", "");
    let p = plan_of(&demo, &render_text(&three_cp, 9));
    let removed = p.steps.iter().find(|s| s.title.contains("removed node controller-2")).unwrap();
    assert!(removed.commands.iter().all(|c| !c.contains("drain") && !c.contains("delete node")), "{removed:?}");
    let json =
        serde_json::to_value(plan_of(&demo, &render_text(&demo_yaml().replace("10.32.0.0/24", "10.33.0.0/24"), 9)))
            .unwrap();
    assert_eq!(json["safe"], false);
    let s = json.to_string();
    assert!(s.contains("\"safeStep\"") && !s.contains("safe_step") && s.contains("\"unsafeTransitions\""), "{s}");
    assert!(p.nodes.iter().any(|n| n.state == NodeState::Removed));
    let err = |extra: &str| {
        let y = demo_yaml().replace(
            "  keyAlgorithm: ecdsa-p256          # also rsa-2048, rsa-3072, rsa-4096\n",
            &format!("  keyAlgorithm: ecdsa-p256\n{extra}"),
        );
        match hardway::model::load("t.yaml", y.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(_) => String::new(),
        }
    };
    let e = err("  signingCA: 3\n");
    assert!(e.contains("pki.signingCA: generation 3 is not defined") && !e.contains("trustedCAs[0]"), "{e}");
    let e = err("  signingCA: 0\n");
    assert!(e.contains("pki.signingCA: generations are numbered from 1") && !e.contains("caGenerations.0"), "{e}");
    let e = err("  caGenerations: {2: \"2026-10-01T00:00:00Z\"}\n");
    assert!(e.contains("pki.caGenerations.2") && e.contains("is before generation 1"), "{e}");
    let e = err("  caGenerations: {2: \"2028-10-01T00:00:00Z\", 3: \"2027-10-01T00:00:00Z\"}\n");
    assert!(e.contains("pki.caGenerations.3") && e.contains("is before generation 2"), "{e}");
}

/// #19.12: `check --at` near the CA's end says to rotate the CA first (a renewal would be refused);
/// what has expired is an error (exit 1); token expiry is shown by check and inspect.
#[test]
fn check_at_says_what_expired_and_what_render_would_refuse() {
    let demo = repo().join("examples/cluster.yaml");
    let o = run(Command::new(bin()).arg("check").arg(&demo).arg("--at").arg("2036-10-20"));
    let out = text(&o.stdout);
    assert!(out.contains("rotate the CAs first") && !out.contains("renew: the leaves"), "{out}");
    assert!(out.contains("leaves 2027-11-01T00:00:00Z (expired 3276 days ago"), "{out}");
    assert!(!out.contains("-3276"), "{out}");
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("the leaf certificates expired 3276 days ago"), "{}", text(&o.stderr));
    let ok = run(Command::new(bin()).arg("check").arg(&demo).arg("--at").arg("2027-01-01"));
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let boot = repo().join("golden/bootstrap/topology.yaml");
    let o = run(Command::new(bin()).arg("check").arg(&boot).arg("--at").arg("2026-11-01T12:00:00Z"));
    assert!(text(&o.stdout).contains("bootstrap tokens 2026-11-02T00:00:00Z (0 days left)"), "{}", text(&o.stdout));
    let o = run(Command::new(bin()).arg("check").arg(&boot).arg("--at").arg("2027-01-01"));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("the bootstrap tokens expired 60 days ago"), "{}", text(&o.stderr));
    let o = run(Command::new(bin())
        .arg("inspect")
        .arg(repo().join("golden/bootstrap/expected"))
        .arg("--at")
        .arg("2026-11-01T12:00:00Z"));
    assert!(text(&o.stdout).contains("bootstrap token "), "{}", text(&o.stdout));
    assert!(text(&o.stdout).contains("expires 2026-11-02T00:00:00Z (0 days left)"), "{}", text(&o.stdout));
}

/// #19.13: every safe step a plan suggests for an encryption change is a topology validation accepts
/// and that is safe to roll out, also for a provider change (a new key under the new provider).
#[test]
fn encryption_safe_steps_are_valid_topologies() {
    let demo_text = demo_yaml();
    let demo = render_text(&demo_text, 9);
    for new_keys in [
        "provider: aesgcm\n  keys: [key1]",
        "provider: secretbox\n  keys: [key2]",
        "provider: secretbox\n  keys: [key2, key1]",
    ] {
        let y = demo_text.replace("provider: secretbox               # also aescbc, aesgcm\n  keys: [key1]                      # first one encrypts; rotate by prepending a new name", new_keys);
        assert_ne!(y, demo_text);
        let p = plan_of(&demo, &render_text(&y, 9));
        let step = p
            .unsafe_transitions
            .iter()
            .find(|v| v.safe_step.contains("encryption.keys: ["))
            .unwrap_or_else(|| panic!("{new_keys}: {}", unsafe_text(&p)));
        let keys = step.safe_step.split("encryption.keys: ").nth(1).unwrap();
        let keys = &keys[..keys.find("]),").unwrap() + 1];
        let suggested = demo_text.replace(
            "keys: [key1]                      # first one encrypts; rotate by prepending a new name",
            &format!("keys: {keys}"),
        );
        let checked = hardway::model::load("t.yaml", suggested.as_bytes());
        let b = match checked {
            Ok(c) => hardway::render(&c.topology, &hardway::Secrets::from_seed([9; 32])).unwrap(),
            Err(e) => panic!("{new_keys}: the suggested {keys} is refused: {e}"),
        };
        let p = plan_of(&demo, &b);
        assert!(p.safe, "{new_keys}: the suggested step {keys} is not safe: {}", unsafe_text(&p));
    }
    // A key under its own provider lands in its own provider block, after the first key's.
    let mixed = render_text(
        &demo_text.replace(
            "keys: [key1]                      # first one encrypts; rotate by prepending a new name",
            "keys: [key1, {name: key2, provider: aesgcm}]",
        ),
        9,
    );
    let cfg = text(&mixed.get("encryption/encryption-config.yaml").unwrap().bytes);
    let (sb, gcm, id) =
        (cfg.find("- secretbox:").unwrap(), cfg.find("- aesgcm:").unwrap(), cfg.find("- identity:").unwrap());
    assert!(sb < gcm && gcm < id, "{cfg}");
    assert_eq!(index(&mixed)["encryption"]["providers"], serde_json::json!(["secretbox", "aesgcm"]));
}
