//! The house rules, checked on the sources: data flows one way (model -> catalog -> render -> bundle ->
//! io -> cli, fmt below all, report reading bundles), with no import cycle between any two modules.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};

/// Module path (`render::pki`) -> the crate modules it names (`crate::x::y`, `super::y`), tests excluded.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") && p.file_stem().is_some_and(|s| s != "tests") {
                // (`tests.rs` files are `#[cfg(test)] mod tests;`, excluded like inline test modules.)
                out.push(p);
            }
        }
    }
    let src = repo().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("").to_string_lossy().replace('/', "::");
        let module = rel.trim_end_matches("::mod").to_string();
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let parent = module.rsplit_once("::").map(|(p, _)| p.to_string());
        let set = edges.entry(module.clone()).or_default();
        for (prefix, base) in [("crate::", None), ("super::", parent.as_deref())] {
            for (i, _) in code.match_indices(prefix) {
                let name: String =
                    code[i + prefix.len()..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if name.is_empty() {
                    continue;
                }
                set.insert(match base {
                    Some(b) => format!("{b}::{name}"),
                    None => name,
                });
            }
        }
    }
    edges
}

#[test]
fn data_flows_one_way_between_the_rooms() {
    // Which top-level modules each may import (besides itself and error).
    let allowed: BTreeMap<&str, &[&str]> = BTreeMap::from([
        ("fmt", &[][..]),
        ("model", &["fmt"][..]),
        ("catalog", &["model"][..]),
        ("bundle", &["fmt"][..]),
        ("render", &["model", "catalog", "fmt", "bundle"][..]),
        ("io", &["bundle", "fmt"][..]),
        ("report", &["bundle", "fmt", "catalog", "model", "io"][..]),
        ("fuzz", &["model", "render"][..]),
        ("cli", &["model", "catalog", "fmt", "bundle", "render", "io", "report", "render_with", "Options"][..]),
        ("lib", &["*"][..]),
        ("main", &[][..]),
        ("error", &[][..]),
    ]);
    let mut wrong = Vec::new();
    for (module, deps) in imports() {
        let top = module.split("::").next().unwrap();
        let ok = allowed.get(top).unwrap_or_else(|| panic!("{top}: a new top-level module needs a rule here"));
        for d in deps {
            let dt = d.split("::").next().unwrap();
            if dt != top && dt != "error" && !ok.contains(&dt) && !ok.contains(&"*") {
                wrong.push(format!("{module} imports {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the flow:\n{}", wrong.join("\n"));
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let edges = imports();
    // Depth-first search for a cycle among modules that are files.
    fn visit<'a>(
        m: &'a str,
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<&'a str, u8>,
        path: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        state.insert(m, 1);
        path.push(m);
        for d in edges.get(m).into_iter().flatten().filter(|d| edges.contains_key(*d) && *d != m) {
            match state.get(d.as_str()) {
                Some(1) => {
                    let at = path.iter().position(|p| p == d).unwrap();
                    return Some(path[at..].iter().map(|s| s.to_string()).chain([d.clone()]).collect());
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(d, edges, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(m, 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in edges.keys() {
        if !state.contains_key(m.as_str()) {
            if let Some(cycle) = visit(m, &edges, &mut state, &mut Vec::new()) {
                panic!("import cycle: {}", cycle.join(" -> "));
            }
        }
    }
}
