//! The house rules, checked on the sources: data flows one way (model -> catalog -> render -> bundle ->
//! io -> cli, fmt below all, report reading bundles), with no import cycle between any two modules.

use crate::common::*;
use std::collections::{BTreeMap, BTreeSet};

/// Whether an item is compiled only for tests (`#[cfg(test)]`): those may import anything.
fn test_only(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|a| a.path().is_ident("cfg") && a.meta.require_list().is_ok_and(|l| l.tokens.to_string() == "test"))
}

/// Every path a file names (use trees, types, expressions, macros' paths), test-only items excluded,
/// as the compiler reads the file (syn), each as its segments.
fn paths_of(file: &syn::File) -> Vec<Vec<String>> {
    use syn::visit::Visit;
    struct V(Vec<Vec<String>>);
    fn flatten(prefix: &mut Vec<String>, tree: &syn::UseTree, out: &mut Vec<Vec<String>>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                flatten(prefix, &p.tree, out);
                prefix.pop();
            }
            syn::UseTree::Name(n) => out.push(prefix.iter().cloned().chain([n.ident.to_string()]).collect()),
            syn::UseTree::Rename(r) => out.push(prefix.iter().cloned().chain([r.ident.to_string()]).collect()),
            syn::UseTree::Glob(_) => out.push(prefix.clone()),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| flatten(prefix, t, out)),
        }
    }
    impl<'ast> Visit<'ast> for V {
        fn visit_item(&mut self, i: &'ast syn::Item) {
            let attrs = match i {
                syn::Item::Mod(m) => &m.attrs,
                syn::Item::Fn(f) => &f.attrs,
                syn::Item::Use(u) => &u.attrs,
                syn::Item::Impl(x) => &x.attrs,
                syn::Item::Const(x) => &x.attrs,
                syn::Item::Static(x) => &x.attrs,
                _ => return syn::visit::visit_item(self, i),
            };
            if !test_only(attrs) {
                syn::visit::visit_item(self, i);
            }
        }
        fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
            flatten(&mut Vec::new(), &u.tree, &mut self.0);
        }
        fn visit_path(&mut self, p: &'ast syn::Path) {
            self.0.push(p.segments.iter().map(|s| s.ident.to_string()).collect());
            syn::visit::visit_path(self, p);
        }
    }
    let mut v = V(Vec::new());
    v.visit_file(file);
    v.0
}

/// lib.rs's re-exports: item name -> the module it comes from (`Secrets` -> `render::seed`).
fn reexports(src: &std::path::Path) -> BTreeMap<String, String> {
    let lib = syn::parse_file(&std::fs::read_to_string(src.join("lib.rs")).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for path in paths_of(&lib) {
        if let Some((name, module)) = path.split_last() {
            if !module.is_empty() && module[0] != "std" {
                out.insert(name.clone(), module.join("::"));
            }
        }
    }
    out
}

/// Module path (`render::pki`) -> the crate modules it names (`crate::x::y`, `super::y`, and items
/// lib.rs re-exports named through `crate::`, resolved to their module), test-only items excluded.
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
    let lib_exports = reexports(&src);
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().with_extension("").to_string_lossy().replace('/', "::");
        let module = rel.trim_end_matches("::mod").to_string();
        let file = syn::parse_file(&std::fs::read_to_string(&f).unwrap()).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let parent = module.rsplit_once("::").map(|(p, _)| p.to_string());
        let set = edges.entry(module.clone()).or_default();
        for path in paths_of(&file) {
            match path.first().map(String::as_str) {
                Some("crate") if path.len() > 1 => {
                    let first = &path[1];
                    // An item lib.rs re-exports counts as the module it comes from.
                    let target = lib_exports.get(first).cloned().unwrap_or_else(|| first.clone());
                    set.insert(target);
                }
                Some("super") if path.len() > 1 => {
                    if let Some(b) = &parent {
                        set.insert(format!("{b}::{}", path[1]));
                    }
                }
                _ => {}
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
