//! Real consumers of the bundle: kubectl against a TLS endpoint serving the generated apiserver
//! certificate, and a real 3-member etcd cluster. Servers run only inside `unshare -n` on 127.x.

use crate::common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

pub(crate) const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Runs a support script inside a fresh network namespace with loopback up, bounded in time.
pub(crate) fn in_netns(script: &str, args: &[&Path]) -> Value {
    let mut cmd = Command::new("timeout");
    cmd.args(["-k", "10", "240", "unshare", "-n", "sh", "-c", "ip link set lo up && exec python3 \"$@\"", "sh"])
        .arg(repo().join("tests/support").join(script))
        .args(args);
    let o = run(&mut cmd);
    assert!(o.status.success(), "{script} failed ({:?}):\n{}\n{}", o.status, text(&o.stdout), text(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{script}: bad JSON ({e}): {}", text(&o.stdout)))
}

pub(crate) fn have(tools: &[&str]) -> bool {
    tools.iter().all(|t| tool(t).is_some()) && netns_ok()
}

#[test]
fn kubectl_uses_every_kubeconfig_with_the_expected_identity() {
    if !have(&[KUBECTL, "python3", "ip", "unshare", "timeout"]) {
        return;
    }
    let t = TempDir::new("kubectl");
    let (a, b) = (t.join("a"), t.join("b"));
    let bundle = render_text(&valid_now(&demo_yaml()), 21);
    write_bundle(&bundle, &a);
    write_bundle(&render_text(&valid_now(&demo_yaml()), 22), &b);
    let out = in_netns("kubectl_check.py", &[Path::new(KUBECTL), &a, &b]);

    let index: Value = serde_json::from_slice(&bundle.get("index.json").unwrap().bytes).unwrap();
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), index["kubeconfigs"].as_array().unwrap().len());
    assert_eq!(results.len(), 5 + 3, "admin, super-admin, controller-manager, scheduler, kube-proxy, 3 kubelets");
    for (r, kc) in results.iter().zip(index["kubeconfigs"].as_array().unwrap()) {
        assert_eq!(r["ok"], true, "{}: kubectl failed: {}", kc["path"], r["error"]);
        let v = &r["version"];
        assert_eq!(v["gitVersion"], "v1.36.2-mock");
        assert_eq!(v["clientCN"], kc["user"], "{}: identity", kc["path"]);
        assert_eq!(v["clientO"], kc["groups"], "{}: groups", kc["path"]);
        assert!(v["token"].is_null(), "certificate kubeconfigs send no token");
    }
    // Identities spelled out independently of the code's tables.
    let ids: Vec<(String, String)> = results
        .iter()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["version"]["clientCN"].as_str().unwrap().to_string()))
        .collect();
    for (name, cn) in [
        ("admin", "kubernetes-admin"),
        ("super-admin", "kubernetes-super-admin"),
        ("kube-controller-manager", "system:kube-controller-manager"),
        ("kube-scheduler", "system:kube-scheduler"),
        ("kube-proxy", "system:kube-proxy"),
        ("kubelet", "system:node:worker-2"),
    ] {
        assert!(ids.contains(&(name.to_string(), cn.to_string())), "{name} as {cn} missing: {ids:?}");
    }
    // The endpoint name was checked by kubectl against the apiserver certificate.
    assert!(results.iter().any(|r| r["tls_server_name"] == "203.0.113.10"));
    assert!(results.iter().any(|r| r["tls_server_name"] == "127.0.0.1"));
    let foreign = &out["foreign"];
    assert_eq!(foreign["ok"], false, "a kubeconfig from another seed was accepted");
    let err = foreign["error"].as_str().unwrap();
    assert!(err.contains("unknown authority") || err.contains("unknown certificate authority"), "{err}");
}

/// The members run the command lines of the generated etcd.service units (paths mapped into a temp
/// dir), with the generated certificates.
/// The bootstrap kubeconfig, used by the real kubectl, presents the token of the Secret manifest and
/// no client certificate; the certificate-mode worker of the same cluster still presents its own.
#[test]
fn kubectl_presents_the_bootstrap_token_of_the_secret() {
    if !have(&[KUBECTL, "python3", "ip", "unshare", "timeout"]) {
        return;
    }
    let t = TempDir::new("kubectl-boot");
    let dir = repo().join("golden/bootstrap");
    let topology = t.join("topology.yaml");
    std::fs::write(&topology, valid_now(&std::fs::read_to_string(dir.join("topology.yaml")).unwrap())).unwrap();
    let bundle = render_files(&topology, &dir.join("seed")).unwrap();
    let (a, b) = (t.join("a"), t.join("b"));
    write_bundle(&bundle, &a);
    write_bundle(&render_text(&valid_now(&demo_yaml()), 23), &b);
    let out = in_netns("kubectl_check.py", &[Path::new(KUBECTL), &a, &b]);
    let secrets =
        String::from_utf8(bundle.get("manifests/04-bootstrap-token-secrets.yaml").unwrap().bytes.clone()).unwrap();
    let field = |k: &str| {
        secrets.lines().find_map(|l| l.trim().strip_prefix(&format!("{k}: "))).unwrap().trim_matches('"').to_string()
    };
    let token = format!("{}.{}", field("token-id"), field("token-secret"));
    let results = out["results"].as_array().unwrap();
    let boot = results.iter().find(|r| r["name"] == "bootstrap-kubelet").unwrap();
    assert_eq!(boot["ok"], true, "{boot}");
    assert_eq!(boot["version"]["token"], token.as_str());
    assert!(boot["version"]["clientCN"].is_null(), "bootstrap kubeconfig presented a certificate");
    assert_eq!(boot["tls_server_name"], "api.boot.example");
    let w2 = results.iter().find(|r| r["name"] == "kubelet" && r["node"] == "w-2").unwrap();
    assert_eq!(w2["version"]["clientCN"], "system:node:w-2");
    assert!(results.iter().all(|r| r["ok"] == true), "{results:?}");
}

/// Whether the etcd on PATH is the one kubeadm ships for the supported minors (3.6.x; Kubernetes
/// 1.31+ needs 3.5.11 at least): `make test` puts the one tests/cluster/build.sh builds first on PATH.
pub(crate) fn etcd_is_current() -> bool {
    let o = run(Command::new("etcd").arg("--version"));
    let v = text(&o.stdout);
    let version = v.lines().find_map(|l| l.strip_prefix("etcd Version: ")).unwrap_or("").to_string();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (3, 6) {
        return true;
    }
    skip(&format!("etcd {version} on PATH is older than 3.6 (make test puts tests/cluster/build.sh's etcd first)"));
    false
}

#[test]
fn etcd_cluster_forms_from_the_generated_units_and_certificates() {
    if !have(&["etcd", "etcdctl", "python3", "ip", "unshare", "timeout"]) || !etcd_is_current() {
        return;
    }
    let t = TempDir::new("etcd");
    let yaml = valid_now(&std::fs::read_to_string(repo().join("tests/fixtures/loopback.yaml")).unwrap());
    let dir = t.join("bundle");
    write_bundle(&render_text(&yaml, 31), &dir);
    // The same cluster with a fourth member joining it later (same seed, so the same etcd CA).
    let grown =
        format!("{yaml}  - {{name: m3, internalIP: 127.0.10.4, roles: [etcd], etcdInitialClusterState: existing}}\n");
    let dir2 = t.join("grown");
    write_bundle(&render_text(&grown, 31), &dir2);
    let work = t.join("work");
    std::fs::create_dir(&work).unwrap();
    let out = in_netns("etcd_cluster.py", &[&dir, &work, Path::new("--units"), Path::new("--join"), &dir2]);
    let argv = out["argv"][1].as_array().unwrap();
    assert!(argv.iter().any(|a| a == "--name=m1"), "argv not from the unit: {argv:?}");
    assert!(argv.iter().any(|a| a.as_str().unwrap().starts_with("--initial-cluster=m0=https://127.0.10.1:2380,")));
    assert_eq!(out["healthy"], true, "cluster did not become healthy: {out:#}");
    assert_eq!(out["member_list"].as_str().unwrap().lines().count(), 3, "{out:#}");
    assert_eq!(out["get"], "deterministic", "{out:#}");
    assert_eq!(out["healthcheck_client_ok"], true, "{out:#}");
    assert_eq!(out["foreign_ca_refused"], true, "a client cert from the kubernetes CA was accepted: {out:#}");
    // The joining member, started from its generated unit after `etcdctl member add`, joins.
    let join_argv = out["join_argv"].as_array().unwrap();
    assert!(join_argv.iter().any(|a| a == "--initial-cluster-state=existing"), "{join_argv:?}");
    assert!(join_argv.iter().any(|a| a.as_str().unwrap().ends_with(",m3=https://127.0.10.4:2380")), "{join_argv:?}");
    assert_eq!(out["join_healthy"], true, "the fourth member did not join: {out:#}");
    assert_eq!(out["join_get"], "deterministic", "{out:#}");
}
