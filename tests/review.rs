//! Review and CI workflow: redacted bundles, inspect, JSON Schema, completions, Terraform and
//! CloudFormation examples, zip equivalence.

use crate::common::*;
use hardway::{Bundle, Secrets};
use std::io::Read;

fn golden_topology(case: &str) -> hardway::Topology {
    let dir = repo().join("golden").join(case);
    hardway::model::load("t.yaml", &std::fs::read(dir.join("topology.yaml")).unwrap()).unwrap().topology
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

/// Every secret string of a normal render: key PEM body lines and their base64 (kubeconfigs),
/// encryption keys, bootstrap token secrets.
fn secrets_of(b: &Bundle) -> Vec<String> {
    use base64::Engine;
    let mut out = Vec::new();
    for (path, e) in b.iter() {
        let text = String::from_utf8_lossy(&e.bytes).into_owned();
        if path.ends_with(".key") {
            out.extend(text.lines().filter(|l| !l.starts_with("-----")).map(String::from));
            let b64 = base64::engine::general_purpose::STANDARD.encode(&e.bytes);
            out.extend(b64.as_bytes().chunks(48).map(|c| String::from_utf8_lossy(c).into_owned()));
        }
        for l in text.lines() {
            let l = l.trim();
            for field in ["secret: ", "token-secret: ", "token: ", "client-key-data: "] {
                if let Some(v) = l.strip_prefix(field) {
                    let v = v.trim_matches('"');
                    let v = v.split_once('.').filter(|_| field == "token: ").map(|(_, s)| s).unwrap_or(v);
                    out.push(v.to_string());
                }
            }
        }
    }
    // Lines of a key PEM can coincide with public data (a PKCS#8 EC key embeds its public point, as the
    // certificate does): keep only what never appears in a public file.
    let public: Vec<String> = b
        .iter()
        .filter(|(p, _)| p.ends_with(".crt") || p.ends_with(".pub"))
        .map(|(_, e)| String::from_utf8_lossy(&e.bytes).into_owned())
        .collect();
    out.retain(|s| s.len() >= 16 && !public.iter().any(|p| p.contains(s.as_str())));
    out.sort();
    out.dedup();
    out
}

#[test]
fn redacted_bundle_holds_no_secret_and_differs_only_where_secrets_were() {
    for case in ["bootstrap", "demo"] {
        let t = golden_topology(case);
        let seed = Secrets::parse(&std::fs::read(repo().join("golden").join(case).join("seed")).unwrap()).unwrap();
        let normal = hardway::render(&t, &seed).unwrap();
        let redacted =
            hardway::render_with(&t, &seed, hardway::Options { redact: true, ..Default::default() }).unwrap();
        let secrets = secrets_of(&normal);
        assert!(secrets.len() > 40, "{case}: too few secrets found to make this test meaningful: {}", secrets.len());
        let paths: Vec<&String> = normal.iter().map(|(p, _)| p).collect();
        assert_eq!(paths, redacted.iter().map(|(p, _)| p).collect::<Vec<_>>(), "same tree");
        for (path, e) in redacted.iter() {
            let bytes = if path.ends_with(".gz") { gunzip(&e.bytes) } else { e.bytes.clone() };
            let text = String::from_utf8_lossy(&bytes);
            for s in &secrets {
                assert!(!text.contains(s.as_str()), "{case}: {path} still holds a secret ({}...)", &s[..8]);
            }
            // No private key in any form: PEM, or base64 of a PEM inside a kubeconfig.
            assert!(
                !text.contains("PRIVATE KEY-----") && !text.contains("LS0tLS1CRUdJTiBQUklWQVRFIEtFWS"),
                "{case}: {path}"
            );
            let before = normal.get(path).unwrap();
            assert_eq!(before.mode, e.mode, "{path}");
            if path == "index.json" {
                // Only the user-data sizes and the redaction mark may differ.
                assert_eq!(serde_json::from_slice::<serde_json::Value>(&e.bytes).unwrap()["redacted"], true);
                let strip = |b: &[u8]| {
                    let mut v: serde_json::Value = serde_json::from_slice(b).unwrap();
                    v["redacted"] = serde_json::Value::Null;
                    for n in v["nodes"].as_array_mut().unwrap() {
                        n["userDataBytes"] = serde_json::Value::Null;
                        n["userDataGzipBytes"] = serde_json::Value::Null;
                    }
                    v
                };
                assert_eq!(strip(&before.bytes), strip(&e.bytes), "{case}: index.json");
                continue;
            }
            if before.bytes != e.bytes {
                let allowed = path.ends_with(".key")
                    || path.ends_with(".kubeconfig")
                    || path.starts_with("user-data/")
                    || path == "encryption/encryption-config.yaml"
                    || path == "manifests/04-bootstrap-token-secrets.yaml"
                    || path == "SHA256SUMS";
                assert!(allowed, "{case}: {path} changed but holds no secret");
                if path.ends_with(".key") {
                    assert!(text.starts_with("REDACTED private key ") && text.contains(" sha256:"), "{text}");
                }
            }
        }
        // A rotation shows: another seed gives other fingerprints.
        let other = hardway::render_with(
            &t,
            &Secrets::from_seed([1; 32]),
            hardway::Options { redact: true, ..Default::default() },
        )
        .unwrap();
        assert_ne!(other.get("pki/admin.key"), redacted.get("pki/admin.key"));
        // The redacted bundle is itself deterministic.
        assert_eq!(
            redacted,
            hardway::render_with(&t, &seed, hardway::Options { redact: true, ..Default::default() }).unwrap()
        );
    }
}

#[test]
fn inspect_reports_expiry_and_problems_and_zip_equals_directory() {
    let t = TempDir::new("inspect");
    let dir = repo().join("golden/external-etcd");
    let (dir_out, zip_out) = (t.join("b"), t.join("b.zip"));
    for out in [&dir_out, &zip_out] {
        let o = run(std::process::Command::new(bin())
            .arg("render")
            .arg(dir.join("topology.yaml"))
            .arg("--secret")
            .arg(dir.join("seed"))
            .arg("--out")
            .arg(out));
        assert!(o.status.success(), "{}", text(&o.stderr));
    }
    let inspect = |path: &std::path::Path, extra: &[&str]| {
        run(std::process::Command::new(bin()).arg("inspect").arg(path).args(extra))
    };
    // Leaves are valid for 90 days from 2026-06-15T12:00Z.
    let ok = inspect(&dir_out, &["--at", "2026-07-01", "--json"]);
    assert!(ok.status.success(), "{}{}", text(&ok.stdout), text(&ok.stderr));
    let report: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(report["checksums"], "ok");
    let certs = report["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 27);
    assert!(certs.iter().all(|c| c["chain"] == "ok" && c["key"] == "ok"));
    let api = certs.iter().find(|c| c["name"] == "apiserver").unwrap();
    assert_eq!(api["daysLeft"], 74);
    assert_eq!(api["keyAlgorithm"], "rsa-2048");
    assert_eq!(api["subject"], "CN=kube-apiserver");
    // The zip gives the same report.
    let z = inspect(&zip_out, &["--at", "2026-07-01", "--json"]);
    assert_eq!(z.stdout, ok.stdout, "inspect of the zip differs from the directory");
    // Within --warn-days of expiry: exit 1, and the table names the certificates.
    let soon = inspect(&dir_out, &["--at", "2026-08-20"]);
    assert_eq!(soon.status.code(), Some(1));
    assert!(text(&soon.stdout).contains("problem: apiserver: expires in 24 days"), "{}", text(&soon.stdout));
    let relaxed = inspect(&dir_out, &["--at", "2026-08-20", "--warn-days", "10"]);
    assert!(relaxed.status.success(), "{}", text(&relaxed.stdout));
    // A tampered certificate fails the chain and the checksum; a swapped key fails the pair check.
    let pem = std::fs::read_to_string(dir_out.join("pki/admin.crt")).unwrap();
    let mut der = ::pem::parse(&pem).unwrap().contents().to_vec();
    let last = der.len() - 10;
    der[last] ^= 0x01; // inside the signature
    std::fs::write(dir_out.join("pki/admin.crt"), ::pem::encode(&::pem::Pem::new("CERTIFICATE", der))).unwrap();
    std::fs::copy(dir_out.join("pki/kube-proxy.key"), dir_out.join("pki/kube-scheduler.key")).unwrap();
    let bad = inspect(&dir_out, &["--at", "2026-07-01"]);
    assert_eq!(bad.status.code(), Some(1));
    let out = text(&bad.stdout);
    assert!(out.contains("problem: SHA256SUMS: pki/admin.crt does not match its checksum"), "{out}");
    assert!(out.contains("problem: admin: chain: bad signature"), "{out}");
    assert!(out.contains("problem: kube-scheduler: key: key does not match certificate"), "{out}");
}

#[test]
fn check_prints_the_planned_inventory_without_a_secret() {
    let o = run(std::process::Command::new(bin()).arg("check").arg(repo().join("examples/cluster.yaml")));
    assert!(o.status.success());
    let out = text(&o.stdout);
    assert!(out.contains("planned certificates:"), "{out}");
    let line = out.lines().find(|l| l.trim_start().starts_with("kubelet-server/worker-1")).unwrap();
    assert!(
        line.contains("CN=system:node:worker-1,O=system:nodes") && line.contains("until 2027-11-01T00:00:00Z"),
        "{line}"
    );
    assert!(line.contains("DNS:worker-1,IP:10.240.0.21,IP:203.0.113.21"), "{line}");
}

#[test]
fn json_schema_accepts_every_golden_topology_and_rejects_unknown_fields() {
    let o = run(std::process::Command::new(bin()).arg("schema"));
    assert!(o.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(schema["additionalProperties"], false);
    let Some(cj) = tool("check-jsonschema") else { return };
    let t = TempDir::new("schema");
    let schema_path = t.join("schema.json");
    std::fs::write(&schema_path, &o.stdout).unwrap();
    let mut good = vec![repo().join("examples/cluster.yaml")];
    for e in std::fs::read_dir(repo().join("golden")).unwrap() {
        let d = e.unwrap().path();
        if !d.join("error.txt").exists() {
            good.push(d.join("topology.yaml"));
        }
    }
    let o = run(std::process::Command::new(&cj).arg("--schemafile").arg(&schema_path).args(&good));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    for bad in ["err-unknown-field", "err-wrong-type"] {
        let o = run(std::process::Command::new(&cj)
            .arg("--schemafile")
            .arg(&schema_path)
            .arg(repo().join("golden").join(bad).join("topology.yaml")));
        assert!(!o.status.success(), "{bad} passed the schema");
    }
    // init writes the schema and points editors at it.
    let dir = t.join("init");
    assert!(run(std::process::Command::new(bin()).arg("init").arg(&dir)).status.success());
    let first = std::fs::read_to_string(dir.join("cluster.yaml")).unwrap();
    assert!(first.starts_with("# yaml-language-server: $schema=./hardway.schema.json\n"));
    assert_eq!(std::fs::read(dir.join("hardway.schema.json")).unwrap(), std::fs::read(&schema_path).unwrap());
}

#[test]
fn completions_load_in_bash_and_name_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let o = run(std::process::Command::new(bin()).args(["completions", shell]));
        assert!(o.status.success());
        let s = text(&o.stdout);
        for cmd in ["init", "render", "check", "inspect", "schema", "cloudformation"] {
            assert!(s.contains(cmd), "{shell}: {cmd}");
        }
    }
    if let Some(bash) = tool("bash") {
        let script = format!("source <({} completions bash) && complete -p hardway", bin().display());
        let o = run(std::process::Command::new(bash).args(["-c", &script]));
        assert!(o.status.success() && text(&o.stdout).contains("hardway"), "{}{}", text(&o.stdout), text(&o.stderr));
    }
}

#[test]
fn cloudformation_templates_pass_cfn_lint() {
    let t = TempDir::new("cfn");
    for case in ["demo", "ha-loadbalancer", "external-etcd"] {
        let dir = repo().join("golden").join(case);
        let b = render_files(&dir.join("topology.yaml"), &dir.join("seed")).unwrap();
        let tpl = hardway::report::cloudformation::template("bundle", &b).unwrap();
        let v: serde_json::Value = serde_json::from_str(&tpl).unwrap();
        let index: serde_json::Value = serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap();
        let instances =
            v["Resources"].as_object().unwrap().values().filter(|r| r["Type"] == "AWS::EC2::Instance").count();
        assert_eq!(instances, index["nodes"].as_array().unwrap().len(), "{case}");
        assert_eq!(v["Resources"].get("ApiTargetGroup").is_some(), case != "ha-loadbalancer", "{case}");
        // UserData is the node's gzip copy.
        use base64::Engine;
        let first = &index["nodes"][0];
        let id = v["Resources"]
            .as_object()
            .unwrap()
            .iter()
            .find(|(_, r)| r["Properties"]["PrivateIpAddress"] == first["internalIP"])
            .unwrap()
            .1;
        let ud =
            base64::engine::general_purpose::STANDARD.decode(id["Properties"]["UserData"].as_str().unwrap()).unwrap();
        assert_eq!(ud, b.get(first["userDataGzip"].as_str().unwrap()).unwrap().bytes);
        let Some(lint) = tool("cfn-lint") else { continue };
        let path = t.join(&format!("{case}.json"));
        std::fs::write(&path, &tpl).unwrap();
        let o = run(std::process::Command::new(lint).arg(&path));
        assert!(o.status.success(), "{case}: {}{}", text(&o.stdout), text(&o.stderr));
    }
}

/// The Terraform example parses as HCL and reads only fields that index.json has.
#[test]
fn terraform_example_parses_and_reads_existing_index_fields() {
    let dir = repo().join("examples/terraform");
    let main = std::fs::read_to_string(dir.join("main.tf")).unwrap();
    let b = render_text(&demo_yaml(), 2);
    let index: serde_json::Value = serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap();
    let node = &index["nodes"][0];
    for field in ["userDataGzip", "internalIP", "arch", "roles"] {
        assert!(main.contains(&format!("each.value.{field}")), "{field}");
        assert!(!node[field].is_null(), "index.json nodes[] lacks {field}");
    }
    for (expr, value) in [
        ("local.api.healthCheck.path", &index["apiServer"]["healthCheck"]["path"]),
        ("local.api.healthCheck.port", &index["apiServer"]["healthCheck"]["port"]),
        ("local.api.loadBalancers", &index["apiServer"]["loadBalancers"]),
        ("local.api.targets", &index["apiServer"]["targets"]),
        ("local.index.routes", &index["routes"]),
    ] {
        assert!(main.contains(expr), "{expr}");
        assert!(!value.is_null(), "{expr} is not in index.json");
    }
    assert!(!index["apiServer"]["targets"][0]["node"].is_null() && !index["routes"][0]["destination"].is_null());
    let Some(python) = tool("python3") else { return };
    let script = "import sys, hcl2\nfor f in sys.argv[1:]:\n    hcl2.load(open(f))\nprint('ok')";
    // secrets.tf reads the archive fields of an archive render's index.
    let secrets_tf = std::fs::read_to_string(dir.join("secrets.tf")).unwrap();
    let y = archive_yaml(&demo_yaml(), "ecdsa-p256");
    let ab =
        hardway::render(&hardway::model::load("t.yaml", y.as_bytes()).unwrap().topology, &Secrets::from_seed([2; 32]))
            .unwrap();
    let ai: serde_json::Value = serde_json::from_slice(&ab.get("index.json").unwrap().bytes).unwrap();
    assert!(
        secrets_tf.contains("each.value.secretsArchive.path") && ai["nodes"][0]["secretsArchive"]["path"].is_string()
    );
    assert!(secrets_tf.contains("n.secretsArchive") && index["nodes"][0].get("secretsArchive").is_none());
    let files: Vec<_> = ["main.tf", "variables.tf", "outputs.tf", "secrets.tf"].iter().map(|f| dir.join(f)).collect();
    let o = run(std::process::Command::new(&python).arg("-c").arg(script).args(&files));
    if !o.status.success() && text(&o.stderr).contains("No module named 'hcl2'") {
        skip("python-hcl2 is not installed");
        return;
    }
    assert!(o.status.success(), "{}", text(&o.stderr));
}

fn archive_yaml(base: &str, algorithm: &str) -> String {
    format!(
        "{}secrets:\n  delivery: archive\n  source:\n    file: {{path: /run/hardway/secrets.tar, waitSeconds: 60}}\n",
        base.replace("keyAlgorithm: ecdsa-p256", &format!("keyAlgorithm: {algorithm}"))
    )
}

/// #21: with secrets.delivery: archive no user-data holds a private key, token or encryption secret (the
/// leak scan over every user-data, gzip copies included); each node's archive holds exactly its secret
/// files with their node paths and modes; the redacted render's user-data is byte for byte the real one.
#[test]
fn archive_renders_keep_every_secret_out_of_user_data() {
    let mut scanned = 0;
    for (base, algorithm, budget) in [
        (demo_yaml(), "ecdsa-p256", 16384),
        // (rsa-4096: archive_contents_all_fits_an_rsa_4096_controller_in_16_kib. Its public files alone,
        // 14 certificates of 512-byte keys and signatures, are over 16 KiB gzipped: 22.2 KB.)
        (demo_yaml(), "rsa-2048", 16384),
        (std::fs::read_to_string(repo().join("golden/bootstrap/topology.yaml")).unwrap(), "ecdsa-p256", 16384),
    ] {
        let yaml = format!("{}userData: {{budgetBytes: {budget}}}\n", archive_yaml(&base, algorithm));
        let c = hardway::model::load("t.yaml", yaml.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let b =
            hardway::render(&c.topology, &Secrets::from_seed([5; 32])).unwrap_or_else(|e| panic!("{algorithm}: {e}"));
        let secrets = secrets_of(&b);
        assert!(secrets.len() > 10, "{algorithm}: the scan finds the bundle's secrets");
        let idx: serde_json::Value = serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap();
        for node in idx["nodes"].as_array().unwrap() {
            let name = node["name"].as_str().unwrap();
            let plain = String::from_utf8_lossy(&b.get(node["userData"].as_str().unwrap()).unwrap().bytes).into_owned();
            let gz = String::from_utf8_lossy(&gunzip(&b.get(node["userDataGzip"].as_str().unwrap()).unwrap().bytes))
                .into_owned();
            for s in &secrets {
                assert!(
                    !plain.contains(s.as_str()) && !gz.contains(s.as_str()),
                    "{algorithm} {name}: a secret in the user-data"
                );
            }
            assert!(!plain.contains("PRIVATE KEY"), "{algorithm} {name}");
            scanned += 1;
            // The archive holds the node's secret files, and only those, as the index lists them.
            let a = &node["secretsArchive"];
            let bytes = &b.get(a["path"].as_str().unwrap()).unwrap().bytes;
            let mut ar = tar::Archive::new(&bytes[..]);
            let mut inside = Vec::new();
            for e in ar.entries().unwrap() {
                let e = e.unwrap();
                assert_eq!(
                    (e.header().uid().unwrap(), e.header().gid().unwrap(), e.header().mtime().unwrap()),
                    (0, 0, 0)
                );
                inside
                    .push((format!("/{}", e.path().unwrap().display()), format!("{:04o}", e.header().mode().unwrap())));
            }
            let listed: Vec<(String, String)> = a["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["path"].as_str().unwrap().to_string(), f["mode"].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(inside, listed, "{name}");
            assert!(inside.iter().all(|(_, m)| m == "0600"), "{name}: {inside:?}");
            let keys = node["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["path"].as_str().unwrap().ends_with(".key"))
                .count();
            assert_eq!(
                inside.iter().filter(|(p, _)| p.ends_with(".key")).count(),
                keys,
                "{name}: every key is in the archive"
            );
            assert!(
                plain.contains("/usr/local/lib/hardway/fetch-secrets.sh")
                    && plain.contains(a["sha256"].as_str().unwrap()),
                "{name}: the digest is pinned"
            );
        }
        for node in idx["nodes"].as_array().unwrap() {
            assert!(node["userDataGzipBytes"].as_u64().unwrap() <= budget, "{algorithm}: {}", node["name"]);
        }
        if algorithm != "ecdsa-p256" {
            continue; // RSA keys are slow to make: the rest is the same for them
        }
        // Redacted: the same user-data, archives redacted like other secret files.
        let opts = hardway::Options { redact: true, ..Default::default() };
        let r = hardway::render_with(&c.topology, &Secrets::from_seed([5; 32]), opts).unwrap();
        for node in idx["nodes"].as_array().unwrap() {
            for f in ["userData", "userDataGzip"] {
                let p = node[f].as_str().unwrap();
                assert_eq!(b.get(p), r.get(p), "{algorithm}: {p} differs in the redacted render");
            }
            let a = node["secretsArchive"]["path"].as_str().unwrap();
            assert_ne!(b.get(a), r.get(a), "{a}: a redacted render's archive holds no real key");
            let red = String::from_utf8_lossy(&r.get(a).unwrap().bytes).into_owned();
            assert!(!secrets.iter().any(|s| red.contains(s.as_str())), "{a}: a secret in a redacted archive");
        }
        // Deterministic: one thread and several give the same bytes.
        let four = hardway::render_with(
            &c.topology,
            &Secrets::from_seed([5; 32]),
            hardway::Options { threads: 4, ..Default::default() },
        )
        .unwrap();
        assert_eq!(b, four, "{algorithm}");
    }
    eprintln!("leak scan: {scanned} user-data of archive renders, none holds a secret");
}

/// #21: an rsa-4096 controller's public files alone are over 16 KiB gzipped, so `check` names
/// `secrets.archiveContents: all` as the way out; with it every node's user-data holds only what obtains
/// the archive (install.sh, the fetch script) and fits, and the archive holds every other file of the
/// node with its mode. (Stand-in RSA keys: the same sizes, without minutes of key generation.)
#[test]
fn archive_contents_all_fits_an_rsa_4096_controller_in_16_kib() {
    let secrets_only = format!("{}userData: {{budgetBytes: 16384}}\n", archive_yaml(&demo_yaml(), "rsa-4096"));
    let c = hardway::model::load("t.yaml", secrets_only.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    match hardway::predict_sizes(&c.topology, 2) {
        Err(e @ hardway::Error::OverBudget { .. }) => {
            let text = e.to_string();
            assert!(text.contains("controller-0") && text.contains("secrets.archiveContents: all"), "{text}");
        }
        other => panic!("rsa-4096 with secret files archived fits 16 KiB? {other:?}"),
    }
    let all = secrets_only.replace("  delivery: archive\n", "  delivery: archive\n  archiveContents: all\n");
    let c = hardway::model::load("t.yaml", all.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    hardway::predict_sizes(&c.topology, 2).unwrap_or_else(|e| panic!("{e}"));
    let opts = hardway::Options { keys: hardway::render::keys::KeyMode::StandIn, threads: 2, ..Default::default() };
    let b = hardway::render_with(&c.topology, &Secrets::from_seed([5; 32]), opts).unwrap_or_else(|e| panic!("{e}"));
    let idx: serde_json::Value = serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap();
    let boot = ["/usr/local/lib/hardway/fetch-secrets.sh", "/usr/local/lib/hardway/install.sh"];
    for node in idx["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        assert!(node["userDataGzipBytes"].as_u64().unwrap() <= 16384, "{name}");
        let ud: serde_json::Value = serde_saphyr::from_str(
            std::str::from_utf8(&b.get(node["userData"].as_str().unwrap()).unwrap().bytes).unwrap(),
        )
        .unwrap();
        let written: Vec<&str> =
            ud["write_files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(written, boot, "{name}: the user-data holds only what obtains the archive");
        let mut ar = tar::Archive::new(&b.get(node["secretsArchive"]["path"].as_str().unwrap()).unwrap().bytes[..]);
        let inside: Vec<(String, String)> = ar
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (format!("/{}", e.path().unwrap().display()), format!("{:04o}", e.header().mode().unwrap()))
            })
            .collect();
        let rest: Vec<(String, String)> = node["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["path"].as_str().unwrap().to_string(), f["mode"].as_str().unwrap().to_string()))
            .filter(|(p, _)| !boot.contains(&p.as_str()))
            .collect();
        assert_eq!(inside, rest, "{name}: the archive holds every other file with its mode");
        assert!(node["userDataGzipBytes"].as_u64().unwrap() < 4096, "{name}: {}", node["userDataGzipBytes"]);
    }
    let inline = demo_yaml().replace("nodes:", "secrets: {archiveContents: all}\nnodes:");
    match hardway::model::load("t.yaml", inline.as_bytes()) {
        Err(hardway::Error::Invalid { problems, .. }) => {
            assert!(problems.iter().any(|p| p.path == "secrets.archiveContents"), "{problems:?}")
        }
        other => panic!("archiveContents: all without an archive accepted: {:?}", other.map(|_| ())),
    }
}

/// inspect verifies each archive against index.json and the bundle's files; plan lists changes inside
/// archives as the nodes' file changes.
#[test]
fn inspect_and_plan_read_secrets_archives() {
    let yaml = archive_yaml(&demo_yaml(), "ecdsa-p256");
    let c = hardway::model::load("t.yaml", yaml.as_bytes()).unwrap();
    let b = hardway::render(&c.topology, &Secrets::from_seed([5; 32])).unwrap();
    let t = TempDir::new("archives");
    write_bundle(&b, &t.join("a"));
    let at = "2026-12-01";
    let ok = run(std::process::Command::new(bin()).arg("inspect").arg(t.join("a")).arg("--at").arg(at));
    assert!(ok.status.success(), "{}{}", text(&ok.stdout), text(&ok.stderr));
    // One byte of an archive changed, SHA256SUMS fixed up: inspect still finds it.
    let path = t.join("a/secrets/worker-0.tar");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[600] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let sums = std::fs::read_to_string(t.join("a/SHA256SUMS")).unwrap();

    let new = hardway::bundle::sha256_hex(&bytes);
    let fixed: String = sums
        .lines()
        .map(|l| {
            if l.ends_with("  secrets/worker-0.tar") {
                format!("{new}  secrets/worker-0.tar\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(t.join("a/SHA256SUMS"), fixed).unwrap();
    let bad = run(std::process::Command::new(bin()).arg("inspect").arg(t.join("a")).arg("--at").arg(at));
    assert!(!bad.status.success());
    assert!(text(&bad.stdout).contains("secrets archive secrets/worker-0.tar does not match"), "{}", text(&bad.stdout));
    // A renewal keeps the keys: no archive member changes, so no node lists a key file.
    let renewed = hardway::model::load(
        "t.yaml",
        yaml.replace(
            "  keyAlgorithm: ecdsa-p256",
            "  leafNotBefore: \"2027-10-01T00:00:00Z\"\n  keyAlgorithm: ecdsa-p256",
        )
        .as_bytes(),
    )
    .unwrap();
    let r = hardway::render(&renewed.topology, &Secrets::from_seed([5; 32])).unwrap();
    let p = hardway::report::plan::plan("a", &b, "b", &r).unwrap();
    assert!(p.safe);
    assert!(p.nodes.iter().all(|n| n.files.iter().all(|f| !f.path.ends_with(".key"))));
    assert!(p.other_files.iter().all(|f| !f.path.starts_with("secrets/")), "{:?}", p.other_files);
    // A rekey changes keys, inside the archives: the plan lists them per node.
    let rekey = hardway::model::load(
        "t.yaml",
        yaml.replace(
            "  keyAlgorithm: ecdsa-p256",
            "  leafNotBefore: \"2027-10-01T00:00:00Z\"\n  leafKeyGeneration: 1\n  keyAlgorithm: ecdsa-p256",
        )
        .as_bytes(),
    )
    .unwrap();
    let k = hardway::render(&rekey.topology, &Secrets::from_seed([5; 32])).unwrap();
    let p = hardway::report::plan::plan("a", &b, "b", &k).unwrap();
    let w0 = p.nodes.iter().find(|n| n.name == "worker-0").unwrap();
    assert!(w0.files.iter().any(|f| f.path == "/var/lib/kubelet/pki/kubelet-client.key"), "{:?}", w0.files);
}

/// #22.7: `Debug` of what holds keys and tokens (bundle entries, issued certificates, kubeconfigs,
/// tokens, the seed) shows none of them: a failing assertion that prints one leaks nothing.
#[test]
fn debug_output_holds_no_secret() {
    let t = golden_topology("bootstrap");
    let seed = Secrets::from_seed([3; 32]);
    let b = hardway::render(&t, &seed).unwrap();
    let secrets = secrets_of(&b);
    assert!(secrets.len() > 10);
    let pki = hardway::render::pki::issue_all(&t, &seed, false, hardway::render::keys::KeyMode::Derived).unwrap();
    let tokens = hardway::render::bootstrap::tokens(&t, &seed).unwrap();
    let kcs = hardway::render::kubeconfig::build_all(&t, &pki).unwrap();
    let dbg = format!("{b:?} {:?} {tokens:?} {kcs:?} {seed:?}", pki.certs);
    for s in &secrets {
        assert!(!dbg.contains(s.as_str()), "Debug output holds a secret");
    }
    assert!(tokens.iter().all(|k| !dbg.contains(&k.secret)));
    // Bytes, as a derived Debug would print them (a list of numbers).
    let key = &b.get("pki/kubernetes-ca.key").unwrap().bytes;
    let body = format!("{:?}", &key[40..64]);
    assert!(!dbg.contains(body.trim_matches(|c| c == '[' || c == ']')), "Debug output holds a key's bytes");
    assert!(dbg.contains("<redacted>"));
}
