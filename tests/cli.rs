//! The built binary: exit codes, error text, atomic output, reproducibility across processes.

use crate::common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn hardway(args: &[&str]) -> std::process::Output {
    run(Command::new(bin()).args(args))
}

/// Path -> (mode, bytes) for every file under `root`, and the mode of every directory.
fn snapshot(root: &Path) -> BTreeMap<String, (u32, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.insert(format!("{rel}/"), (mode, Vec::new()));
                walk(root, &p, out);
            } else {
                out.insert(rel, (mode, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn demo_args(out: &Path) -> Vec<String> {
    let r = repo();
    vec![
        "render".into(),
        r.join("examples/cluster.yaml").display().to_string(),
        "--secret".into(),
        r.join("examples/demo.secret").display().to_string(),
        "--out".into(),
        out.display().to_string(),
    ]
}

#[test]
fn two_processes_with_different_cwd_tz_umask_give_identical_bytes() {
    let t = TempDir::new("repro");
    let mut snaps = Vec::new();
    let mut zips = Vec::new();
    for (i, (tz, umask, lang)) in [("UTC", "022", "C"), ("Asia/Kathmandu", "077", "de_DE.UTF-8")].iter().enumerate() {
        let cwd = t.join(&format!("cwd{i}"));
        std::fs::create_dir_all(&cwd).unwrap();
        for out in [format!("out{i}"), format!("out{i}.zip")] {
            // `sh -c 'umask N && exec "$@"' sh BIN ARGS...` runs the binary under that umask.
            let o = run(Command::new("sh")
                .arg("-c")
                .arg(format!("umask {umask} && exec \"$@\""))
                .arg("sh")
                .arg(bin())
                .args(demo_args(&t.join(&out)))
                .current_dir(&cwd)
                .env("TZ", tz)
                .env("LANG", lang)
                .env("LC_ALL", lang));
            assert!(o.status.success(), "render failed: {}", text(&o.stderr));
        }
        snaps.push(snapshot(&t.join(&format!("out{i}"))));
        zips.push(std::fs::read(t.join(&format!("out{i}.zip"))).unwrap());
    }
    assert!(snaps[0].len() > 40, "suspiciously small bundle");
    assert_eq!(snaps[0], snaps[1], "directory outputs differ between runs");
    assert_eq!(zips[0], zips[1], "zip outputs differ between runs");
    // Modes do not follow the umask: keys 0600, key directories 0700, the rest 0644.
    let s = &snaps[0];
    assert_eq!(s["pki/apiserver.key"].0, 0o600);
    assert_eq!(s["pki/apiserver.crt"].0, 0o644);
    assert_eq!(s["kubeconfigs/admin.kubeconfig"].0, 0o600);
    assert_eq!(s["pki/"].0, 0o700);
    assert_eq!(s["manifests/"].0, 0o755);
    // The zip holds exactly the directory's files with the same modes, and unzip -t is clean.
    if let Some(unzip) = tool("unzip") {
        let o = run(Command::new(unzip).arg("-t").arg(t.join("out0.zip")));
        assert!(o.status.success() && text(&o.stdout).contains("No errors detected"), "{}", text(&o.stdout));
        let x = t.join("unzipped");
        let o = run(Command::new("unzip").arg("-q").arg(t.join("out0.zip")).arg("-d").arg(&x));
        assert!(o.status.success());
        let u = snapshot(&x);
        // Files and directories alike: unzip recreates the 0700 key directories from the zip's entries.
        assert_eq!(u, *s);
        assert_eq!(u["pki/"].0, 0o700);
    }
}

#[test]
fn exit_codes_and_messages() {
    let t = TempDir::new("exit");
    let demo = repo().join("examples/cluster.yaml");
    let ok = hardway(&["check", demo.to_str().unwrap()]);
    assert_eq!(ok.status.code(), Some(0));
    assert!(text(&ok.stdout).starts_with("ok: hardway-demo (Kubernetes 1.36.2), 6 nodes"), "{}", text(&ok.stdout));

    let bad = repo().join("golden/err-semantic/topology.yaml");
    let o = hardway(&["check", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("19 problems found") && err.contains("nodes[2].externalIP"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "the error is printed once: {err}");

    assert_eq!(hardway(&["check"]).status.code(), Some(2));
    assert_eq!(hardway(&["frobnicate"]).status.code(), Some(2));
    assert_eq!(hardway(&["--help"]).status.code(), Some(0));
    let missing = hardway(&["check", t.join("nope.yaml").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(text(&missing.stderr).contains("nope.yaml: cannot read"));

    // A bad secret is refused without echoing it.
    let secret = t.join("bad.secret");
    let content = "not-hex-".repeat(8);
    std::fs::write(&secret, &content).unwrap();
    let o = hardway(&[
        "render",
        demo.to_str().unwrap(),
        "--secret",
        secret.to_str().unwrap(),
        "--out",
        t.join("o").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("bad.secret") && !err.contains("not-hex"), "{err}");
    assert!(!t.join("o").exists(), "no output on failure");
}

#[test]
fn existing_output_is_refused_then_replaced_atomically() {
    let t = TempDir::new("force");
    let out = t.join("bundle");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), "mine").unwrap();
    let args = demo_args(&out);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = hardway(&args);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("--force"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");

    // --force never replaces a directory that is not an earlier hardway bundle.
    let mut force = args.clone();
    force.push("--force");
    let o = hardway(&force);
    assert_eq!(o.status.code(), Some(1));
    let err = text(&o.stderr);
    assert!(err.contains("is not an earlier hardway bundle") && err.contains("keep.txt"), "{err}");
    assert_eq!(std::fs::read_to_string(out.join("keep.txt")).unwrap(), "mine");
    std::fs::remove_dir_all(&out).unwrap();

    assert!(hardway(&args).status.success());
    // A failing render with --force leaves the old output untouched.
    let before = snapshot(&out);
    let bad = repo().join("golden/err-semantic/topology.yaml");
    let mut bad_args = force.clone();
    bad_args[1] = bad.to_str().unwrap();
    assert_eq!(hardway(&bad_args).status.code(), Some(1));
    assert_eq!(snapshot(&out), before);

    // An earlier bundle is replaced.
    let o = hardway(&force);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(snapshot(&out), before);
    // No temporary siblings are left behind.
    let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 1, "{left:?}");

    // A bundle with anything added (a file, a symlink) is not a bundle any more; the link's target
    // stays untouched.
    std::fs::write(out.join("pki/notes.txt"), "mine").unwrap();
    let o = hardway(&force);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("pki/notes.txt is not part of it"), "{}", text(&o.stderr));
    std::fs::remove_file(out.join("pki/notes.txt")).unwrap();
    let outside = t.join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("precious"), "keep").unwrap();
    std::os::unix::fs::symlink(&outside, out.join("pki/link")).unwrap();
    assert_eq!(hardway(&force).status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(outside.join("precious")).unwrap(), "keep");
    std::fs::remove_file(out.join("pki/link")).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();

    // Never the current directory, the home directory, or one holding an input file, even a bundle.
    let o = run(Command::new(bin()).args(demo_args(Path::new("."))).arg("--force").current_dir(&out));
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is the current directory; --force never replaces it"), "{}", text(&o.stderr));
    let o = run(Command::new(bin()).args(&force).env("HOME", &out));
    assert!(text(&o.stderr).contains("is your home directory"), "{}", text(&o.stderr));
    let o = run(Command::new(bin()).args(&force).env("HOME", out.join("pki")));
    assert!(text(&o.stderr).contains("holds your home directory"), "{}", text(&o.stderr));
    let topo = out.join("cluster.yaml");
    std::fs::copy(repo().join("examples/cluster.yaml"), &topo).unwrap();
    let mut inside = force.clone();
    inside[1] = topo.to_str().unwrap();
    let o = hardway(&inside);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("holds the input file"), "{}", text(&o.stderr));
    std::fs::remove_file(&topo).unwrap();
    assert_eq!(snapshot(&out), before);

    // Zips: only an earlier hardway zip is replaced.
    let zip = t.join("b.zip");
    std::fs::write(&zip, "not a zip").unwrap();
    let zargs = demo_args(&zip);
    let mut zforce: Vec<&str> = zargs.iter().map(String::as_str).collect();
    zforce.push("--force");
    let o = hardway(&zforce);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("is not an earlier hardway zip"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read(&zip).unwrap(), b"not a zip");
    std::fs::remove_file(&zip).unwrap();
    assert!(hardway(&zforce).status.success());
    assert!(hardway(&zforce).status.success());

    // A symlink at the output path is never written through.
    let target = t.join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    let link = t.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let largs = demo_args(&link);
    let mut largs: Vec<&str> = largs.iter().map(String::as_str).collect();
    largs.push("--force");
    let o = hardway(&largs);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("symbolic link"), "{}", text(&o.stderr));
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);
}

/// Temporaries a killed render left beside the output are removed by the next render of that path
/// when their process is gone; a live process's are kept.
#[test]
fn stale_temporaries_of_killed_renders_are_removed() {
    let t = TempDir::new("stale");
    let out = t.join("bundle");
    // PID 4194304 is above Linux's largest pid_max: never a running process.
    let dead_old = t.join(".bundle.hardway-old-4194304");
    let dead_new = t.join(".bundle.hardway-new-4194304");
    let live = t.join(".bundle.hardway-new-1");
    let other = t.join(".other.hardway-new-4194304");
    for d in [&dead_old, &dead_new, &live, &other] {
        std::fs::create_dir_all(d.join("pki")).unwrap();
        std::fs::write(d.join("pki/ca.key"), "key").unwrap();
    }
    let o = hardway(&demo_args(&out).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(!dead_old.exists() && !dead_new.exists(), "stale temporaries left");
    assert!(live.exists(), "a live process's temporary was removed");
    assert!(other.exists(), "another output's temporary was removed");
    assert!(
        text(&o.stderr).contains(".bundle.hardway-old-4194304, left by a render that was killed"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn init_writes_a_renderable_pair_and_never_overwrites() {
    let t = TempDir::new("init");
    let dir = t.join("c");
    let o = hardway(&["init", dir.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let mode = std::fs::metadata(dir.join("cluster.secret")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secret_before = std::fs::read(dir.join("cluster.secret")).unwrap();
    let o = hardway(&["init", dir.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o.stderr).contains("already exists"));
    assert_eq!(std::fs::read(dir.join("cluster.secret")).unwrap(), secret_before);
    let out = t.join("out");
    let o = hardway(&[
        "render",
        dir.join("cluster.yaml").to_str().unwrap(),
        "--secret",
        dir.join("cluster.secret").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    // Two inits draw different seeds.
    let dir2 = t.join("c2");
    assert!(hardway(&["init", dir2.to_str().unwrap()]).status.success());
    assert_ne!(std::fs::read(dir2.join("cluster.secret")).unwrap(), secret_before);
}
