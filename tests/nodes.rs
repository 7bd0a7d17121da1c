//! Node artifacts: user-data checked field by field against index.json and the bundle, by the real
//! `cloud-init schema`, and every systemd unit by `systemd-analyze verify`.

use crate::common::*;
use hardway::Bundle;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::Read;
use std::process::Command;

#[derive(Deserialize)]
#[allow(dead_code)]
struct CloudConfig {
    hostname: String,
    preserve_hostname: bool,
    #[serde(default)]
    package_update: bool,
    #[serde(default)]
    packages: Vec<String>,
    write_files: Vec<WriteFile>,
    runcmd: Vec<Vec<String>>,
    #[serde(default)]
    bootcmd: Vec<Vec<String>>,
}

#[derive(Deserialize)]
struct WriteFile {
    path: String,
    owner: String,
    permissions: String,
    encoding: String,
    content: String,
}

/// Every golden case that renders, plus the loopback fixture.
fn bundles() -> Vec<(String, Bundle)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("golden")).unwrap() {
        let dir = entry.unwrap().path();
        if dir.join("error.txt").exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        out.push((name, render_files(&dir.join("topology.yaml"), &dir.join("seed")).unwrap()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(out.len() >= 5);
    out
}

fn index(b: &Bundle) -> Value {
    serde_json::from_slice(&b.get("index.json").unwrap().bytes).unwrap()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
    out
}

#[test]
fn user_data_writes_exactly_the_indexed_files_with_their_modes_and_bytes() {
    use base64::Engine;
    for (case, b) in bundles() {
        let idx = index(&b);
        let budget = if case == "external-etcd" { 65_535 } else { 16_384 };
        for node in idx["nodes"].as_array().unwrap() {
            let name = node["name"].as_str().unwrap();
            let ctx = format!("{case}/{name}");
            let plain = &b.get(node["userData"].as_str().unwrap()).unwrap().bytes;
            let gz = &b.get(node["userDataGzip"].as_str().unwrap()).unwrap().bytes;
            assert_eq!(gunzip(gz), *plain, "{ctx}: gzip copy differs");
            assert_eq!(node["userDataBytes"], plain.len(), "{ctx}");
            assert_eq!(node["userDataGzipBytes"], gz.len(), "{ctx}");
            assert!(gz.len() <= budget, "{ctx}: {} bytes gzipped", gz.len());
            assert!(plain.starts_with(b"#cloud-config\n"), "{ctx}");

            let text = std::str::from_utf8(plain).unwrap();
            let cc: CloudConfig = serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_eq!(cc.hostname, name);
            assert!(!cc.preserve_hostname);
            // With secrets.delivery: archive the archive's files are not in the user-data.
            let archived: Vec<&str> = node["secretsArchive"]["files"]
                .as_array()
                .map(|a| a.iter().map(|f| f["path"].as_str().unwrap()).collect())
                .unwrap_or_default();
            let files: BTreeMap<String, (String, String)> = node["files"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| !archived.contains(&f["path"].as_str().unwrap()))
                .map(|f| {
                    let s = |k: &str| f[k].as_str().unwrap().to_string();
                    (s("path"), (s("source"), s("mode")))
                })
                .collect();
            assert_eq!(cc.write_files.len(), files.len(), "{ctx}: one write_files entry per indexed file");
            for wf in &cc.write_files {
                let (source, mode) = files.get(&wf.path).unwrap_or_else(|| panic!("{ctx}: {} not in index", wf.path));
                assert_eq!(&wf.permissions, mode, "{ctx}: {}", wf.path);
                assert!(
                    wf.permissions.len() == 4
                        && wf.permissions.starts_with('0')
                        && wf.permissions.bytes().all(|c| (b'0'..=b'7').contains(&c)),
                    "{ctx}: permissions {:?} is not a quoted octal mode",
                    wf.permissions
                );
                assert_eq!(wf.owner, "root:root");
                let bytes = match wf.encoding.as_str() {
                    "text/plain" => wf.content.clone().into_bytes(),
                    "b64" => base64::engine::general_purpose::STANDARD.decode(&wf.content).unwrap(),
                    other => panic!("{ctx}: unexpected encoding {other}"),
                };
                assert_eq!(bytes, b.get(source).unwrap().bytes, "{ctx}: {} differs from {source}", wf.path);
                let bundle_mode = format!("{:04o}", b.get(source).unwrap().mode);
                assert_eq!(&bundle_mode, mode, "{ctx}: {source} mode in bundle vs index");
            }
            // One command, install.sh, which ends with daemon-reload, then enables and restarts the
            // units in the indexed order (so a failed step starts nothing).
            assert_eq!(cc.runcmd, vec![vec!["/usr/local/lib/hardway/install.sh".to_string()]], "{ctx}");
            let script =
                String::from_utf8_lossy(&b.get(&format!("nodes/{name}/install.sh")).unwrap().bytes).into_owned();
            let tail =
                &script[script.find("systemctl daemon-reload").unwrap_or_else(|| panic!("{ctx}: no daemon-reload"))..];
            let restarted: Vec<String> = tail
                .lines()
                .filter_map(|l| l.strip_prefix("systemctl restart "))
                .map(|u| u.trim_start_matches("--no-block ").trim_matches('\'').to_string())
                .collect();
            let units: Vec<String> =
                node["units"].as_array().unwrap().iter().map(|u| u.as_str().unwrap().to_string()).collect();
            assert_eq!(restarted, units, "{ctx}");
            for u in &units {
                assert!(tail.contains(&format!("systemctl enable --quiet '{u}'")), "{ctx}: {u} not enabled");
            }
            // The directories, those holding keys 0700, are made before the files are written.
            let bootcmd: Vec<(String, String)> = cc.bootcmd.iter().map(|c| (c[3].clone(), c[4].clone())).collect();
            let dirs: Vec<(String, String)> = node["directories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| (d["mode"].as_str().unwrap().to_string(), d["path"].as_str().unwrap().to_string()))
                .collect();
            assert_eq!(bootcmd, dirs, "{ctx}");
            for f in &files {
                let parent = f.0.rsplit_once('/').unwrap().0;
                if f.1 .1 == "0600" && parent.ends_with("/pki") {
                    assert!(
                        dirs.contains(&("0700".into(), parent.to_string())),
                        "{ctx}: {parent} holds keys but is not 0700"
                    );
                }
            }
            // Every unit that is started is written.
            for u in node["units"].as_array().unwrap() {
                let u = u.as_str().unwrap();
                let written = cc.write_files.iter().any(|f| f.path == format!("/etc/systemd/system/{u}"));
                let package = u.trim_end_matches(".service");
                let packaged = ["containerd", "haproxy"].contains(&package) && cc.packages.iter().any(|p| p == package);
                let preinstalled = node["binaries"] == "preinstalled" && u == "containerd.service";
                assert!(written || packaged || preinstalled, "{ctx}: {u} is started but never written");
            }
        }
    }
}

/// Every node's gzip copy is one libdeflate level-9 stream of its plain user-data (mtime 0), which GNU
/// gzip unpacks to the plain bytes; no node's copy is larger than zlib's best (level 9, flate2) of the
/// same text by more than 0.5% (measured: libdeflate's level 9 is within 0.5% of GNU `gzip -9 -n`, up to
/// 0.45% larger on ECDSA workers, smaller on controllers). A node whose level-9 copy is over the budget
/// gets level 12 (and index.json says so).
#[test]
fn gzip_copy_is_one_best_compression_stream() {
    use std::io::Write;
    let b = render_text(&demo_yaml(), 7);
    let t = TempDir::new("gzip-copies");
    for node in index(&b)["nodes"].as_array().unwrap() {
        let name = node["name"].as_str().unwrap();
        let plain = &b.get(node["userData"].as_str().unwrap()).unwrap().bytes;
        let gz = &b.get(node["userDataGzip"].as_str().unwrap()).unwrap().bytes;
        assert_eq!(node["userDataGzipLevel"], 9, "{name}");
        assert_eq!(*gz, hardway::render::userdata::gzip(plain, 9).unwrap(), "{name}");
        assert_eq!(gz[..4], [0x1f, 0x8b, 8, 0], "{name}: one deflate member without name or extra fields");
        assert_eq!(gz[4..8], [0; 4], "{name}: mtime 0");
        let mut w = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
        w.write_all(plain).unwrap();
        let level9 = w.finish().unwrap();
        assert!(
            gz.len() * 1000 <= level9.len() * 1005,
            "{name}: {} > {} (zlib level 9) + 0.5%",
            gz.len(),
            level9.len()
        );
        if let Some(gnu) = tool("gzip") {
            let src = t.join(&format!("{name}.yaml"));
            std::fs::write(&src, plain).unwrap();
            let gnu9 = run(Command::new(&gnu).args(["-9", "-n", "-c"]).arg(&src)).stdout.len();
            assert!(gz.len() * 1000 <= gnu9 * 1005, "{name}: {} > {gnu9} (gzip -9 -n) + 0.5%", gz.len());
            let file = t.join(&format!("{name}.gz"));
            std::fs::write(&file, gz).unwrap();
            let out = run(Command::new(gnu).arg("-dc").arg(&file));
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
            assert_eq!(out.stdout, *plain, "{name}: gzip -dc differs");
        }
    }
    // A budget between a controller's level-12 and level-9 sizes: that controller alone gets level 12.
    let c0 = &index(&b)["nodes"][0];
    let plain = &b.get(c0["userData"].as_str().unwrap()).unwrap().bytes;
    let (l9, l12) = (
        hardway::render::userdata::gzip(plain, 9).unwrap().len(),
        hardway::render::userdata::gzip(plain, 12).unwrap().len(),
    );
    assert!(l12 < l9, "{l12} {l9}");
    let tight = render_text(&format!("{}userData: {{budgetBytes: {}}}\n", demo_yaml(), l9 - 1), 7);
    let levels: Vec<(String, u64)> = index(&tight)["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap().to_string(), n["userDataGzipLevel"].as_u64().unwrap()))
        .collect();
    assert!(levels.iter().any(|(n, l)| n == "controller-0" && *l == 12), "{levels:?}");
    assert!(levels.iter().filter(|(n, _)| n.starts_with("worker")).all(|(_, l)| *l == 9), "{levels:?}");
    let c0 = &index(&tight)["nodes"][0];
    assert_eq!(c0["userDataGzipBytes"].as_u64().unwrap() as usize, l12);
}

#[test]
fn nodes_get_what_their_roles_need_and_no_more() {
    let b = render_text(&demo_yaml(), 41);
    let idx = index(&b);
    let ca_keys: Vec<Vec<u8>> = ["pki/kubernetes-ca.key", "pki/etcd-ca.key", "pki/front-proxy-ca.key"]
        .iter()
        .map(|p| b.get(p).unwrap().bytes.clone())
        .collect();
    let super_admin = b.get("break-glass/super-admin.key").unwrap().bytes.clone();
    for node in idx["nodes"].as_array().unwrap() {
        let plain = &b.get(node["userData"].as_str().unwrap()).unwrap().bytes;
        // Keys are indented inside the YAML: look for the first base64 line of the PEM body.
        let has = |pem: &[u8]| {
            let line = std::str::from_utf8(pem).unwrap().lines().nth(1).unwrap().as_bytes();
            plain.windows(line.len()).any(|w| w == line)
        };
        let roles: Vec<&str> = node["roles"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
        assert!(!has(&super_admin), "super-admin key on a node");
        assert!(!has(&ca_keys[1]) && !has(&ca_keys[2]), "etcd/front-proxy CA keys are never placed on nodes");
        assert_eq!(has(&ca_keys[0]), roles.contains(&"controlplane"), "{}: kubernetes CA key", node["name"]);
        let paths: Vec<&str> = node["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(paths.contains(&"/etc/systemd/system/etcd.service"), roles.contains(&"etcd"));
        assert_eq!(paths.contains(&"/etc/systemd/system/kube-apiserver.service"), roles.contains(&"controlplane"));
        assert_eq!(paths.contains(&"/etc/systemd/system/kubelet.service"), roles.contains(&"worker"));
        for common in ["/etc/modules-load.d/kubernetes.conf", "/etc/sysctl.d/99-kubernetes.conf"] {
            assert!(paths.contains(&common), "{common}");
        }
    }
    // The prerequisites the guides do by hand.
    let sysctl = String::from_utf8(b.get("config/host/sysctl.conf").unwrap().bytes.clone()).unwrap();
    for key in ["net.ipv4.ip_forward = 1", "net.bridge.bridge-nf-call-iptables = 1"] {
        assert!(sysctl.contains(key), "{key}");
    }
    let install = String::from_utf8(b.get("nodes/worker-0/install.sh").unwrap().bytes.clone()).unwrap();
    for step in [
        "swapoff -a",
        "swap.target",
        "for m in overlay br_netfilter",
        "modprobe \"$m\"",
        "sysctl -q -p",
        "sha256sum -c",
    ] {
        assert!(install.contains(step), "install.sh lacks {step}");
    }
    let kubelet = String::from_utf8(b.get("nodes/worker-1/kubelet-config.yaml").unwrap().bytes.clone()).unwrap();
    for line in
        ["clusterDNS:\n  - \"10.32.0.10\"", "podCIDR: \"10.200.1.0/24\"", "cgroupDriver: systemd", "mode: Webhook"]
    {
        assert!(kubelet.contains(line), "kubelet config lacks {line:?}:\n{kubelet}");
    }
    // The kubelet wants containerd but does not require it: a containerd that failed once must not
    // leave the kubelet dead for good.
    let kubelet_unit =
        String::from_utf8(b.get("nodes/worker-1/systemd/kubelet.service").unwrap().bytes.clone()).unwrap();
    assert!(kubelet_unit.contains("Wants=containerd.service") && kubelet_unit.contains("After=containerd.service"));
    assert!(!kubelet_unit.contains("Requires="), "{kubelet_unit}");
    let apiserver =
        String::from_utf8(b.get("nodes/controller-1/systemd/kube-apiserver.service").unwrap().bytes.clone()).unwrap();
    for flag in [
        "--service-cluster-ip-range=10.32.0.0/24",
        "--etcd-servers=https://10.240.0.10:2379,https://10.240.0.11:2379,https://10.240.0.12:2379",
        "--advertise-address=10.240.0.11",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--encryption-provider-config=/etc/kubernetes/encryption-config.yaml",
        "--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt",
    ] {
        assert!(apiserver.contains(flag), "apiserver lacks {flag}");
    }
}

/// Flags removed upstream (shared/reference.md, "Flags and config kinds that changed") never appear.
#[test]
fn no_removed_flag_is_emitted_for_any_supported_version() {
    let removed = [
        "--kubelet-https",
        "--experimental-encryption-provider-config",
        "--enable-swagger-ui",
        "--insecure-port",
        "--insecure-bind-address",
        "--network-plugin",
        "--cni-",
        "--container-runtime=",
        "--cloud-provider",
        "--cloud-config",
        "--keep-terminated-pod-volumes",
        "--pod-infra-container-image",
        "v1beta3",
    ];
    for minor in 33..=37 {
        let yaml = demo_yaml().replace("\"1.36.2\"", &format!("\"1.{minor}.0\""));
        let b = render_text(&yaml, 7);
        for (path, e) in b.iter() {
            if path.ends_with(".service") || path.ends_with(".yaml") && !path.starts_with("user-data") {
                let text = String::from_utf8_lossy(&e.bytes);
                for r in removed {
                    assert!(!text.contains(r), "1.{minor}: {path} contains removed {r}");
                }
            }
        }
    }
}

/// cloud-init's own schema validation (the code `cloud-init schema --config-file` runs), in one process
/// for every node's user-data: cloud-init's interpreter (its script's #! line) imports its validator.
const SCHEMA_CHECK: &str = "import sys\nfrom cloudinit.config.schema import validate_cloudconfig_file, get_schema, SchemaValidationError\nschema = get_schema()\nbad = 0\nfor f in sys.argv[1:]:\n    try:\n        validate_cloudconfig_file(f, schema)\n        print('valid', f)\n    except SchemaValidationError as e:\n        bad += 1\n        print('invalid', f, e)\nsys.exit(1 if bad else 0)\n";

#[test]
fn cloud_init_schema_accepts_every_user_data() {
    let Some(cloud_init) = tool("cloud-init") else { return };
    let script = std::fs::read_to_string(&cloud_init).unwrap_or_default();
    let python =
        script.lines().next().and_then(|l| l.strip_prefix("#!")).unwrap_or("/usr/bin/python3").trim().to_string();
    let t = TempDir::new("cloudinit");
    let mut files = Vec::new();
    for (case, b) in bundles() {
        for node in index(&b)["nodes"].as_array().unwrap() {
            // The gzip copy, unpacked first: cloud-init's schema check does not read gzip.
            let gz = &b.get(node["userDataGzip"].as_str().unwrap()).unwrap().bytes;
            let file = t.join(&format!("{case}-{}.yaml", node["name"].as_str().unwrap()));
            std::fs::write(&file, gunzip(gz)).unwrap();
            files.push(file);
        }
    }
    let o = run(Command::new(&python).arg("-c").arg(SCHEMA_CHECK).args(&files));
    assert!(o.status.success(), "{}{}", text(&o.stdout), text(&o.stderr));
    assert_eq!(text(&o.stdout).lines().filter(|l| l.starts_with("valid ")).count(), files.len(), "{}", text(&o.stdout));
    assert!(files.len() >= 20, "{}", files.len());
    // And the check can fail: an unquoted permission is refused (by the validator and by the CLI).
    let bad = t.join("bad.yaml");
    std::fs::write(&bad, "#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 0600\n    content: x\n").unwrap();
    let o = run(Command::new(&python).arg("-c").arg(SCHEMA_CHECK).arg(&bad));
    assert!(!o.status.success(), "cloud-init's validator accepted an integer permission: {}", text(&o.stdout));
    let o = run(Command::new(&cloud_init).args(["schema", "--config-file"]).arg(&bad));
    assert!(!o.status.success(), "cloud-init schema accepted an integer permission");
}

#[test]
fn systemd_analyze_verifies_every_unit() {
    let Some(sa) = tool("systemd-analyze") else { return };
    let mut checked = 0;
    for (case, b) in bundles() {
        for node in index(&b)["nodes"].as_array().unwrap() {
            let t = TempDir::new(&format!("systemd-{case}-{}", node["name"].as_str().unwrap()));
            let mut units = Vec::new();
            for f in node["files"].as_array().unwrap() {
                let path = f["path"].as_str().unwrap();
                if !path.ends_with(".service") {
                    continue;
                }
                let text = String::from_utf8(b.get(f["source"].as_str().unwrap()).unwrap().bytes.clone()).unwrap();
                // Stub executables at every absolute Exec*= path.
                for line in text.lines().filter(|l| l.starts_with("Exec")) {
                    let cmd = line.split_once('=').unwrap().1.trim_start_matches(['-', '@', '+', '!']);
                    let exe = cmd.split_whitespace().next().unwrap();
                    assert!(exe.starts_with('/'), "{case}: relative Exec in {path}");
                    let stub = t.join(exe.trim_start_matches('/'));
                    std::fs::create_dir_all(stub.parent().unwrap()).unwrap();
                    std::fs::write(&stub, "#!/bin/sh\n").unwrap();
                    use std::os::unix::fs::PermissionsExt;
                    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
                }
                let dst = t.join(path.trim_start_matches('/'));
                std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                std::fs::write(&dst, &text).unwrap();
                assert!(!text.trim_end().ends_with('\\'), "{path}: trailing backslash");
                units.push(path.to_string());
            }
            for u in &units {
                let o = run(Command::new(&sa)
                    .args(["verify", "--man=no", "--recursive-errors=no"])
                    .arg(format!("--root={}", t.path().display()))
                    .arg(u));
                assert!(o.status.success() && o.stderr.is_empty(), "{case}/{}: {u}: {}", node["name"], text(&o.stderr));
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "{checked}");
}

/// Absolute paths a unit or configuration may name although no bundle file lands there, each with
/// its reason: the binaries install.sh puts in place, state the components make themselves, and
/// host files. Everything else a unit or config names must be a file the same node gets (or one of
/// its directories): a flag pointing at a file the node lacks fails here, not at boot.
const SYSTEM_PATHS: &[(&str, &str)] = &[
    ("/usr/local/bin/", "binaries (install.sh downloads them there or links the preinstalled ones)"),
    ("/usr/lib/cni", "CNI plugins of a distribution package (cni_bin_dir)"),
    ("/var/log/kubernetes/audit.log", "the apiserver writes its audit log (the directory is made 0750)"),
    ("/etc/kubernetes/resolv.conf", "a link install.sh makes to the host's upstream resolvers"),
    ("/dev/log", "the syslog socket HAProxy logs to"),
    ("/run/haproxy/", "HAProxy's admin socket (hardway-lb drains through it)"),
];

/// Every absolute path named by a rendered unit, drop-in or configuration (kubeconfigs, kubelet,
/// kube-proxy, scheduler, containerd, HAProxy, CNI) is a file or directory the same node gets from
/// the bundle, or a system path listed above with its reason.
#[test]
fn every_path_a_unit_or_config_names_is_on_the_node() {
    let mut checked = 0;
    let mut missing = std::collections::BTreeSet::new();
    let used = std::cell::RefCell::new(std::collections::BTreeSet::new());
    for (case, b) in bundles() {
        let idx = index(&b);
        for n in idx["nodes"].as_array().unwrap() {
            let node = n["name"].as_str().unwrap();
            let files: Vec<(&str, &str)> = n["files"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (f["path"].as_str().unwrap(), f["source"].as_str().unwrap()))
                .collect();
            let dirs: Vec<&str> =
                n["directories"].as_array().unwrap().iter().map(|d| d["path"].as_str().unwrap()).collect();
            // A TLS-bootstrapping kubelet writes its own kubeconfig where the bundle's would be.
            let bootstraps = n["kubeletCredentials"].as_str() == Some("bootstrap");
            let on_node = |p: &str| {
                let p = p.trim_end_matches('/');
                if bootstraps && p == "/etc/kubernetes/kubelet.conf" {
                    return true;
                }
                files.iter().any(|(f, _)| *f == p || f.starts_with(&format!("{p}/")))
                    || dirs.contains(&p)
                    || SYSTEM_PATHS.iter().any(|(s, _)| {
                        let hit = p == s.trim_end_matches('/') || p.starts_with(s);
                        if hit {
                            used.borrow_mut().insert(*s);
                        }
                        hit
                    })
            };
            for (path, source) in &files {
                let config = [".service", ".conf", ".yaml", ".toml", ".cfg"].iter().any(|e| path.ends_with(e));
                if !config {
                    continue;
                }
                // What the program reads: comment lines say what they like.
                let text: String = String::from_utf8_lossy(&b.get(source).unwrap().bytes)
                    .lines()
                    .filter(|l| !l.trim_start().starts_with('#'))
                    .map(|l| format!("{l}\n"))
                    .collect();
                for named in absolute_paths(&text) {
                    checked += 1;
                    if !on_node(&named) {
                        missing.insert(format!("{case}: {node}: {path} names {named}"));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths the node does not get (nor are they listed system paths):\n{}",
        missing.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert!(checked > 500, "only {checked} paths checked");
    // The list stays exact: an entry nothing names any more goes.
    for (s, why) in SYSTEM_PATHS {
        assert!(used.borrow().contains(s), "{s} ({why}) is named by no unit or config: remove it from SYSTEM_PATHS");
    }
}

/// Absolute paths in `text`: `/` after a quote, space, `=`, `:` or a line start, up to a character
/// that cannot be in a path; URLs (`scheme://`) are not paths.
fn absolute_paths(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (i, &c) in bytes.iter().enumerate() {
        let starts = c == b'/'
            && bytes.get(i + 1).is_some_and(|b| b.is_ascii_lowercase())
            && (i == 0 || b" \t\n\"'=:,[".contains(&bytes[i - 1]))
            && !(i > 0 && bytes[i - 1] == b':' && bytes.get(i + 1) == Some(&b'/'));
        if !starts || (i > 0 && bytes[i - 1] == b'/') {
            continue;
        }
        let end = bytes[i..]
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || b"/._-*".contains(b)))
            .map_or(bytes.len(), |e| i + e);
        let p = &text[i..end];
        // Skip URL paths: `https://host/x` has `/x` after a host, preceded by a letter, not matched
        // above; `unix:///run/x` leaves `/run/x` after `//`.
        if p.matches('/').count() >= 2 {
            out.push(p.to_string());
        }
    }
    out
}
