//! Hostile input and safe output: malformed files, secret files, SIGKILL mid-write, no secret in any
//! message, the fuzz corpus replayed, and property tests over random valid topologies.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn check(path: &Path) -> std::process::Output {
    run(Command::new("timeout").arg("30").arg(bin()).arg("check").arg(path))
}

#[test]
fn malformed_files_are_rejected_with_a_location_and_never_panic() {
    let t = TempDir::new("hostile");
    let demo = demo_yaml();
    let deep = format!("cluster: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        bomb.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{}", i - 1); 10].join(", ")));
    }
    bomb.push_str(&demo);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", b"".to_vec(), "empty.yaml: is empty"),
        ("blank", b"  \n\n".to_vec(), "blank.yaml: is empty"),
        (
            "latin1",
            b"cluster:\n  name: caf\xe9\n".to_vec(),
            "latin1.yaml: is not UTF-8 text (invalid byte at offset 20)",
        ),
        ("binary", vec![0x7f, b'E', b'L', b'F', 0, 1, 2], "binary.yaml: is a binary file"),
        (
            "huge",
            vec![b'#'; 11 * 1024 * 1024],
            "huge.yaml: is 10485761 bytes; topology files are limited to 10485760 bytes",
        ),
        ("deep", deep.into_bytes(), "deep.yaml:1:"),
        ("bomb", bomb.into_bytes(), "bomb.yaml:1:1: unknown field `a0`"),
        ("multi", format!("{demo}---\n{demo}").into_bytes(), "multi.yaml:28:1: multiple YAML documents"),
        (
            "dup",
            demo.replace("  name: hardway-demo", "  name: hardway-demo\n  name: again").into_bytes(),
            "dup.yaml:3:3: duplicate mapping key: name",
        ),
        ("tab", demo.replace("  name: hardway-demo", "\tname: x").into_bytes(), "tab.yaml:"),
        ("type", demo.replace("caValidityDays: 3650", "caValidityDays: ten years").into_bytes(), "type.yaml:14:19:"),
        ("negative", demo.replace("caValidityDays: 3650", "caValidityDays: -1").into_bytes(), "negative.yaml:14:19:"),
        (
            "noversion",
            demo.replace("  kubernetesVersion: \"1.36.2\"\n", "").into_bytes(),
            "missing field `kubernetesVersion`",
        ),
        ("nodes-map", demo.replace("nodes:\n", "nodes: {}\nx:\n").into_bytes(), "nodes-map.yaml:"),
    ];
    for (name, bytes, want) in cases {
        let path = t.join(&format!("{name}.yaml"));
        std::fs::write(&path, &bytes).unwrap();
        let o = check(&path);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.starts_with("error: ") && err.contains(want), "{name}: want {want:?}, got {err:?}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
}

#[test]
fn secret_files_are_checked_without_echoing_them() {
    let t = TempDir::new("secrets");
    let demo = repo().join("examples/cluster.yaml");
    let hex = "0123456789abcdef".repeat(4);
    let cases: Vec<(&str, String, &str)> = vec![
        ("short", hex[..40].to_string(), "seed line has 40 characters; expected 64 hex digits"),
        ("long", format!("{hex}00"), "seed line has 66 characters"),
        ("nothex", format!("{}zz", &hex[..62]), "seed line is not hexadecimal"),
        ("two", format!("{hex}\n{hex}\n"), "holds 2 non-comment lines"),
        ("comments", "# only a comment\n".into(), "holds no seed"),
    ];
    for (name, content, want) in cases {
        let path = t.join(name);
        std::fs::write(&path, &content).unwrap();
        let o =
            run(Command::new(bin()).arg("render").arg(&demo).arg("--secret").arg(&path).arg("--out").arg(t.join("o")));
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}");
        assert!(err.contains(want), "{name}: {err}");
        assert!(!err.contains(&hex[..16]) && !err.contains("zz"), "{name}: the error echoes the secret: {err}");
    }
    // A readable secret works, with a warning like ssh's.
    let path = t.join("open");
    std::fs::write(&path, format!("{hex}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = run(Command::new(bin()).arg("render").arg(&demo).arg("--secret").arg(&path).arg("--out").arg(t.join("o")));
    assert!(o.status.success());
    assert!(text(&o.stderr).contains("readable by group or others (mode 0644)"), "{}", text(&o.stderr));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(Command::new(bin()).arg("render").arg(&demo).arg("--secret").arg(&path).arg("--out").arg(t.join("o2")));
    assert!(o.status.success() && !text(&o.stderr).contains("readable"), "{}", text(&o.stderr));
}

/// Every private key line, encryption key and token of a render with this seed.
fn derived_secrets(seed_file: &Path) -> Vec<String> {
    let b = render_files(&repo().join("examples/cluster.yaml"), seed_file).unwrap();
    let mut out = Vec::new();
    for (path, e) in b.iter() {
        let text = String::from_utf8_lossy(&e.bytes).into_owned();
        if path.ends_with(".key") {
            out.extend(text.lines().filter(|l| !l.starts_with("-----") && l.len() > 40).map(String::from));
        }
        if let Some(v) = text.lines().find_map(|l| l.trim().strip_prefix("secret: ")) {
            out.push(v.trim_matches('"').to_string());
        }
    }
    let seed = std::fs::read_to_string(seed_file).unwrap();
    out.push(seed.lines().last().unwrap().to_string());
    out
}

#[test]
fn no_secret_appears_in_any_message() {
    let t = TempDir::new("leak");
    let seed = repo().join("examples/demo.secret");
    let secrets = derived_secrets(&seed);
    assert!(secrets.len() > 20);
    let mut outputs = Vec::new();
    // Every rejected golden topology, rendered with that seed.
    for e in std::fs::read_dir(repo().join("golden")).unwrap() {
        let d = e.unwrap().path();
        if d.join("error.txt").exists() {
            let o = run(Command::new(bin())
                .arg("render")
                .arg(d.join("topology.yaml"))
                .arg("--secret")
                .arg(&seed)
                .arg("--out")
                .arg(t.join("o")));
            assert_eq!(o.status.code(), Some(1));
            outputs.push(o);
        }
    }
    // Output paths that cannot be used, and help texts.
    std::fs::write(t.join("file"), "x").unwrap();
    let demo = repo().join("examples/cluster.yaml");
    let render_demo = |out: std::path::PathBuf| {
        run(Command::new(bin()).arg("render").arg(&demo).arg("--secret").arg(&seed).arg("--out").arg(out))
    };
    for out in [t.join("file"), t.join("missing/dir/out")] {
        outputs.push(render_demo(out));
    }
    for args in [vec!["--help"], vec!["render", "--help"], vec!["init", "--help"], vec!["inspect", "--help"]] {
        outputs.push(run(Command::new(bin()).args(args)));
    }
    // A successful render and check print nothing secret either.
    outputs.push(render_demo(t.join("ok")));
    outputs.push(run(Command::new(bin()).arg("check").arg(&demo)));
    for o in &outputs {
        let all = format!("{}{}", text(&o.stdout), text(&o.stderr));
        for s in &secrets {
            assert!(!all.contains(s.as_str()), "a secret appears in: {all}");
        }
    }
}

fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let b = hardway::io::read_bundle(root).unwrap();
    b.iter().map(|(p, e)| (p.clone(), e.bytes.clone())).collect()
}

/// SIGKILL at many moments of a `--force` render over an existing output: the path then holds the
/// complete old bundle, the complete new one, or nothing; never a mix.
#[test]
fn sigkill_mid_write_leaves_old_or_new_never_a_mix() {
    let t = TempDir::new("sigkill");
    let mut yaml = demo_yaml();
    for i in 0..300 {
        yaml.push_str(&format!(
            "  - {{name: w{i}, internalIP: 10.241.{}.{}, roles: [worker]}}\n",
            i / 200,
            i % 200 + 1
        ));
    }
    let yaml = yaml.replace("podCIDR: 10.200.0.0/16", "podCIDR: 10.200.0.0/13");
    let topo = t.join("big.yaml");
    std::fs::write(&topo, &yaml).unwrap();
    let (old_seed, new_seed) = (t.join("old.secret"), t.join("new.secret"));
    std::fs::write(&old_seed, format!("{}\n", "1".repeat(64))).unwrap();
    std::fs::write(&new_seed, format!("{}\n", "2".repeat(64))).unwrap();
    let out = t.join("out");
    let render = |seed: &Path, out: &Path| {
        Command::new(bin())
            .arg("render")
            .arg(&topo)
            .arg("--secret")
            .arg(seed)
            .arg("--out")
            .arg(out)
            .arg("--force")
            .spawn()
            .unwrap()
    };
    assert!(render(&new_seed, &t.join("new")).wait().unwrap().success());
    let new = snapshot(&t.join("new"));
    let mut seen = BTreeMap::new();
    for delay_ms in [0u64, 5, 20, 50, 100, 150, 200, 300, 450, 700] {
        let _ = std::fs::remove_dir_all(&out);
        assert!(render(&old_seed, &out).wait().unwrap().success());
        let old = snapshot(&out);
        let mut child = render(&new_seed, &out);
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let state = if !out.exists() {
            "nothing"
        } else {
            let now = snapshot(&out);
            if now == old {
                "old"
            } else if now == new {
                "new"
            } else {
                panic!("after SIGKILL at {delay_ms} ms the output is a mix of old and new");
            }
        };
        *seen.entry(state).or_insert(0) += 1;
    }
    eprintln!("states after SIGKILL: {seen:?}");
    assert!(seen.contains_key("old"), "the kill never landed mid-render: {seen:?}");
}

/// Every input the fuzzers kept (fuzz/corpus, both targets) goes through parse, validate and render
/// without panic.
#[test]
fn fuzz_corpus_replays_without_panic() {
    let mut n = 0;
    type Target = fn(&[u8]);
    let targets: [(&str, Target); 4] = [
        ("fuzz/corpus/parse_render", hardway::fuzz_one),
        ("fuzz/artifacts/parse_render", hardway::fuzz_one),
        ("fuzz/corpus/dates", hardway::fuzz_dates),
        ("fuzz/artifacts/dates", hardway::fuzz_dates),
    ];
    for (dir, target) in targets {
        let Ok(entries) = std::fs::read_dir(repo().join(dir)) else { continue };
        for e in entries {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            target(&bytes);
            n += 1;
        }
    }
    assert!(n >= 100, "fuzz corpus too small: {n}");
}

/// Dates and validities at and around the bounds (years 1950 and 9999, validities 0 and the maximum,
/// impossible days): rejected or rendered, never a panic. Every byte pattern the dates fuzz target
/// uses to pick an edge is walked.
#[test]
fn dates_near_the_bounds_never_panic() {
    let (mut n, mut rendered, mut rejected) = (0, 0, 0);
    for kind in 0..4u8 {
        for offset in (0..40u8).step_by(3) {
            for (ca_kind, cert_kind) in [(0u8, 0u8), (1, 1), (2, 2), (1, 0), (0, 1), (3, 3)] {
                for expire in 0..3u8 {
                    let bytes = [
                        kind, offset, 7, ca_kind, offset, 9, cert_kind, offset, 3, expire, offset, 5, offset, offset,
                        23,
                    ];
                    match hardway::dates_outcome(&bytes) {
                        hardway::DatesOutcome::Rendered => rendered += 1,
                        hardway::DatesOutcome::Rejected(e) => {
                            // Rejected with the field that is wrong, never a bare message.
                            assert!(
                                e.contains("pki.") || e.contains("cluster.bootstrapTokensExpire"),
                                "{bytes:?}: {e}"
                            );
                            rejected += 1;
                        }
                        // Validation let it through and the render refused: a date validation must catch.
                        hardway::DatesOutcome::RenderFailed(e) => {
                            panic!("{bytes:?}: accepted, then the render failed: {e}")
                        }
                    }
                    n += 1;
                }
            }
        }
    }
    assert!(n > 1000, "{n}");
    // Both sides of the bounds are reached: some inputs render, some are rejected.
    assert!(rendered > 50 && rejected > 50, "{rendered} rendered, {rejected} rejected of {n}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// A random valid topology: 1-3 controllers, stacked or external etcd (odd count), 0-5 workers
    /// with explicit or allocated pod ranges, random version, provider and token mode.
    fn topology() -> impl Strategy<Value = (String, u8)> {
        (1usize..=3, prop::bool::ANY, 0usize..=2, 0usize..=5, 33u32..=37, 0usize..3, prop::bool::ANY, prop::collection::vec(prop::bool::ANY, 5), any::<u8>())
            .prop_map(|(cps, external, extra_etcd, workers, minor, provider, bootstrap, explicit, seed)| {
                let mut y = format!(
                    "cluster:\n  name: prop\n  kubernetesVersion: \"1.{minor}.1\"\n  apiServer: {{endpoint: 10.9.0.1}}\n  network: {{serviceCIDR: 10.32.0.0/24, podCIDR: 10.200.0.0/16}}\n  kubeletCredentials: {}\npki: {{notBefore: \"2026-11-01T00:00:00Z\"}}\nencryption: {{provider: {}, keys: [k2, k1]}}\nnodes:\n",
                    if bootstrap { "bootstrap" } else { "certificates" },
                    ["secretbox", "aesgcm", "aescbc"][provider]
                );
                for i in 0..cps {
                    let roles = if external { "[controlplane]" } else { "[controlplane, etcd]" };
                    y.push_str(&format!("  - {{name: cp-{i}, internalIP: 10.9.1.{i}, roles: {roles}}}\n"));
                }
                if external {
                    for i in 0..(1 + 2 * extra_etcd) {
                        y.push_str(&format!("  - {{name: etcd-{i}, internalIP: 10.9.2.{i}, roles: [etcd]}}\n"));
                    }
                }
                for (i, explicit) in explicit.iter().enumerate().take(workers) {
                    let pod = if *explicit { format!(", podCIDR: 10.200.{}.0/24", 100 + i) } else { String::new() };
                    y.push_str(&format!("  - {{name: w-{i}, internalIP: 10.9.3.{i}, roles: [worker]{pod}}}\n"));
                }
                (y, seed)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

        #[test]
        fn render_is_deterministic_stable_under_growth_and_verifies((yaml, seed) in topology()) {
            let a = render_text(&yaml, seed);
            prop_assert_eq!(&a, &render_text(&yaml, seed));
            // Every certificate chains to its CA and matches its key.
            let nb = time::OffsetDateTime::parse("2026-11-02T00:00:00Z", &time::format_description::well_known::Rfc3339).unwrap();
            let report = hardway::report::inspect::inspect(&a, nb, 0);
            prop_assert!(report.ok(), "{:?}", report.problems);
            // Adding a worker changes only the files that list nodes.
            let grown = render_text(&format!("{yaml}  - {{name: added, internalIP: 10.9.4.1, roles: [worker]}}\n"), seed);
            for (path, e) in a.iter() {
                if grown.get(path) != Some(e) {
                    let lists_nodes = ["SHA256SUMS", "index.json", "config/network/pod-routes", "manifests/04-bootstrap-token-secrets.yaml", "manifests/approve-kubelet-serving-csrs.sh"]
                        .contains(&path.as_str())
                        || path.starts_with("user-data/");
                    prop_assert!(lists_nodes, "{} changed when a worker was added", path);
                }
            }
        }
    }
}
