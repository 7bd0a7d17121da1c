//! Golden trees: each golden/<case> holds topology.yaml + seed and either expected/ (the whole bundle)
//! with modes.txt (the mode of every file and directory, as a render writes them) or error.txt (the
//! exact rejection). A case with a `previous` file (naming another case) also holds plan.txt: the text
//! of `hardway plan` from that case's bundle to this one's. UPDATE_GOLDEN=1 (make golden) rewrites
//! them; CI never does.

use crate::common::*;
use std::collections::BTreeMap;
use std::path::Path;

fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    if root.is_dir() {
        walk(root, root, &mut out);
    }
    out
}

fn cases() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(repo().join("golden")).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

/// A reviewable difference: a unified diff of text (cut to 60 lines), sizes of binary files.
fn diff(want: &[u8], got: &[u8]) -> String {
    match (std::str::from_utf8(want), std::str::from_utf8(got)) {
        (Ok(w), Ok(g)) => {
            let d = similar::TextDiff::from_lines(w, g).unified_diff().context_radius(2).to_string();
            let lines: Vec<&str> = d.lines().collect();
            let mut out = lines.iter().take(60).map(|l| format!("    {l}\n")).collect::<String>();
            if lines.len() > 60 {
                out.push_str(&format!("    ... {} more diff lines\n", lines.len() - 60));
            }
            out
        }
        _ => format!("    binary: {} bytes in golden, {} rendered\n", want.len(), got.len()),
    }
}

#[test]
fn golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    // CI compares, never rewrites: a rewritten golden would pass whatever the code does.
    assert!(
        !(update && std::env::var_os("CI").is_some()),
        "UPDATE_GOLDEN under CI: make golden is for developers only"
    );
    let mut failures = Vec::new();
    let mut counted = (0, 0);
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let result = render_files(&case.join("topology.yaml"), &case.join("seed"));
        let expected_dir = case.join("expected");
        let error_file = case.join("error.txt");
        let modes_file = case.join("modes.txt");
        if update {
            let _ = std::fs::remove_dir_all(&expected_dir);
            let _ = std::fs::remove_file(&error_file);
            let _ = std::fs::remove_file(&modes_file);
            match &result {
                Ok(b) => {
                    for (p, e) in b.iter() {
                        let dst = expected_dir.join(p);
                        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                        std::fs::write(dst, &e.bytes).unwrap();
                    }
                    std::fs::write(&modes_file, modes(b)).unwrap();
                    if let Ok(prev) = std::fs::read_to_string(case.join("previous")) {
                        let prev = prev.trim();
                        let pd = repo().join("golden").join(prev);
                        let before = render_files(&pd.join("topology.yaml"), &pd.join("seed")).unwrap();
                        let (ol, nl) = (format!("golden/{prev}"), format!("golden/{name}"));
                        let p = hardway::report::plan::plan(&ol, &before, &nl, b).unwrap();
                        std::fs::write(case.join("plan.txt"), hardway::report::plan::text(&p, &ol, &nl)).unwrap();
                    }
                }
                Err(e) => std::fs::write(&error_file, format!("{e}\n")).unwrap(),
            }
            continue;
        }
        match (result, error_file.exists()) {
            (Ok(b), false) => {
                counted.0 += 1;
                let want = read_tree(&expected_dir);
                let got: BTreeMap<String, Vec<u8>> = b.iter().map(|(p, e)| (p.clone(), e.bytes.clone())).collect();
                if want.is_empty() {
                    failures.push(format!("{name}: no expected/ tree (run make golden)"));
                }
                for p in want.keys().filter(|p| !got.contains_key(*p)) {
                    failures.push(format!("{name}: {p} expected but not rendered"));
                }
                for (p, bytes) in &got {
                    match want.get(p) {
                        None => failures.push(format!("{name}: {p} rendered but not in expected/")),
                        Some(w) if w != bytes => {
                            failures.push(format!("{name}: {p} differs from golden:\n{}", diff(w, bytes)))
                        }
                        _ => {}
                    }
                }
                // The plan from the previous case (Day 2 procedures).
                if let Ok(prev) = std::fs::read_to_string(case.join("previous")) {
                    let prev = prev.trim();
                    let pd = repo().join("golden").join(prev);
                    let before = render_files(&pd.join("topology.yaml"), &pd.join("seed")).unwrap();
                    let (ol, nl) = (format!("golden/{prev}"), format!("golden/{name}"));
                    let p = hardway::report::plan::plan(&ol, &before, &nl, &b).unwrap();
                    let got = hardway::report::plan::text(&p, &ol, &nl);
                    let want = std::fs::read_to_string(case.join("plan.txt")).unwrap_or_default();
                    if want != got {
                        failures.push(format!(
                            "{name}: plan from {prev} differs from plan.txt:\n{}",
                            diff(want.as_bytes(), got.as_bytes())
                        ));
                    }
                }
                // Modes as written on disk (files and directories), whatever the umask.
                let t = TempDir::new(&format!("golden-{name}"));
                let out = t.join("b");
                write_bundle(&b, &out);
                let on_disk = disk_modes(&out);
                if std::fs::read_to_string(&modes_file).ok().as_deref() != Some(on_disk.as_str()) {
                    failures.push(format!("{name}: file or directory modes differ from modes.txt"));
                }
            }
            (Err(e), true) => {
                counted.1 += 1;
                let want = std::fs::read_to_string(&error_file).unwrap();
                if want != format!("{e}\n") {
                    failures.push(format!("{name}: error text differs:\n--- want\n{want}--- got\n{e}\n"));
                }
            }
            (Ok(_), true) => failures.push(format!("{name}: expected a rejection (error.txt) but it rendered")),
            (Err(e), false) => failures.push(format!("{name}: unexpected error: {e}")),
        }
    }
    assert!(failures.is_empty(), "golden mismatches (make golden rewrites; review the diff):\n{}", failures.join("\n"));
    if !update {
        assert!(counted.0 >= 3 && counted.1 >= 3, "too few golden cases: {counted:?}");
    }
}

/// `MODE PATH` for every directory (`PATH/`) and file of the bundle as `io` writes it.
fn modes(b: &hardway::Bundle) -> String {
    let t = TempDir::new("golden-modes");
    let out = t.join("b");
    write_bundle(b, &out);
    disk_modes(&out)
}

fn disk_modes(root: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u32>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if m.is_dir() {
                out.insert(format!("{rel}/"), m.permissions().mode() & 0o7777);
                walk(root, &p, out);
            } else {
                out.insert(rel, m.permissions().mode() & 0o7777);
            }
        }
    }
    let mut m = BTreeMap::new();
    walk(root, root, &mut m);
    m.iter().map(|(p, mode)| format!("{mode:04o} {p}\n")).collect()
}

/// The demo golden case must be the shipped example, so `make demo` shows what the tests check.
#[test]
fn demo_case_is_the_shipped_example() {
    let golden = std::fs::read_to_string(repo().join("golden/demo/topology.yaml")).unwrap();
    assert_eq!(golden, demo_yaml());
}

/// The thread count changes speed only: one thread and several give the same bytes (ECDSA and RSA).
#[test]
fn renders_on_one_and_on_many_threads_are_identical() {
    for case in ["demo", "external-etcd", "bootstrap"] {
        let dir = repo().join("golden").join(case);
        let t = hardway::model::load("t.yaml", &std::fs::read(dir.join("topology.yaml")).unwrap()).unwrap().topology;
        let seed = hardway::Secrets::parse(&std::fs::read(dir.join("seed")).unwrap()).unwrap();
        let one = hardway::render_with(&t, &seed, hardway::Options { threads: 1, ..Default::default() }).unwrap();
        for threads in [2, 5] {
            let many = hardway::render_with(&t, &seed, hardway::Options { threads, ..Default::default() }).unwrap();
            assert!(one == many, "{case}: {threads} threads give other bytes than one");
        }
    }
}
