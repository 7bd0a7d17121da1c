//! Golden trees: each golden/<case> holds topology.yaml + seed and either expected/ (the whole bundle)
//! or error.txt (the exact rejection). UPDATE_GOLDEN=1 (make golden) rewrites them; CI never does.

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

#[test]
fn golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    let mut counted = (0, 0);
    for case in cases() {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let result = render_files(&case.join("topology.yaml"), &case.join("seed"));
        let expected_dir = case.join("expected");
        let error_file = case.join("error.txt");
        if update {
            let _ = std::fs::remove_dir_all(&expected_dir);
            let _ = std::fs::remove_file(&error_file);
            match &result {
                Ok(b) => {
                    for (p, e) in b.iter() {
                        let dst = expected_dir.join(p);
                        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
                        std::fs::write(dst, &e.bytes).unwrap();
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
                        Some(w) if w != bytes => failures.push(format!("{name}: {p} differs from golden")),
                        _ => {}
                    }
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

/// The demo golden case must be the shipped example, so `make demo` shows what the tests check.
#[test]
fn demo_case_is_the_shipped_example() {
    let golden = std::fs::read_to_string(repo().join("golden/demo/topology.yaml")).unwrap();
    assert_eq!(golden, demo_yaml());
}
