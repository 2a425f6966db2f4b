//! Which source files the package's default build compiles.
//!
//! A Rust listing included from a file is only tested if that file is compiled:
//! an orphan `.rs` file, or a module behind a cargo feature that `cargo test`
//! does not turn on, would show code nothing checks. This follows `mod`
//! declarations from each crate root the way rustc does, skipping modules
//! gated by `#[cfg(feature = ...)]`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The crate roots of the package at `root`: the library, each `[[bin]]`, the
/// integration tests under `tests/` (the package keeps `autotests`), and the
/// build script. Paths are relative to `root`.
pub fn crate_roots(root: &Path) -> Result<(Vec<PathBuf>, BTreeSet<String>)> {
    let manifest_path = root.join("Cargo.toml");
    let manifest: toml::Table = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?
        .parse()
        .with_context(|| format!("parsing {}", manifest_path.display()))?;
    let mut roots = Vec::new();
    let lib = manifest
        .get("lib")
        .and_then(|lib| lib.get("path"))
        .and_then(|p| p.as_str())
        .unwrap_or("src/lib.rs");
    roots.push(PathBuf::from(lib));
    let mut bins = BTreeSet::new();
    for bin in manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
    {
        let name = bin.get("name").and_then(|n| n.as_str());
        let path = bin.get("path").and_then(|p| p.as_str());
        if let (Some(name), Some(path)) = (name, path) {
            bins.insert(name.to_string());
            roots.push(PathBuf::from(path));
        }
    }
    if let Ok(entries) = std::fs::read_dir(root.join("tests")) {
        for entry in entries {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "rs") {
                roots.push(path.strip_prefix(root)?.to_path_buf());
            }
        }
    }
    roots.push(PathBuf::from("build.rs"));
    roots.sort();
    Ok((roots, bins))
}

/// Every file reachable from `roots` through `mod name;` declarations.
pub fn compiled_files(root: &Path, roots: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<(PathBuf, bool)> = roots.iter().map(|r| (r.clone(), true)).collect();
    while let Some((file, is_root)) = todo.pop() {
        let Ok(text) = std::fs::read_to_string(root.join(&file)) else {
            continue;
        };
        if !seen.insert(file.clone()) {
            continue;
        }
        // Where `mod child;` looks: next to a crate root or a `mod.rs`, else
        // in a folder named after the file.
        let owns_dir = is_root || file.file_name().is_some_and(|n| n == "mod.rs");
        let dir = match (owns_dir, file.parent()) {
            (true, Some(parent)) => parent.to_path_buf(),
            (false, Some(parent)) => parent.join(file.file_stem().unwrap_or_default()),
            (_, None) => PathBuf::new(),
        };
        for decl in mod_decls(&text) {
            let candidates = match &decl.path_attr {
                Some(path) => vec![file.parent().unwrap_or(Path::new("")).join(path)],
                None => vec![
                    dir.join(format!("{}.rs", decl.name)),
                    dir.join(&decl.name).join("mod.rs"),
                ],
            };
            if let Some(found) = candidates.into_iter().find(|c| root.join(c).is_file()) {
                todo.push((found, false));
            }
        }
    }
    seen
}

#[derive(Debug, PartialEq, Eq)]
struct ModDecl {
    name: String,
    path_attr: Option<String>,
}

/// Out-of-line module declarations in `text` that the default build compiles:
/// `mod x;` and `pub mod x;`, with an optional `#[path = "..."]`, but not those
/// under a `#[cfg(feature = ...)]` or `#[cfg(not(test))]`-style gate other
/// than `#[cfg(test)]` (which `cargo test` compiles).
fn mod_decls(text: &str) -> Vec<ModDecl> {
    let mut decls = Vec::new();
    let mut gated = false;
    let mut path_attr = None;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("//") || line.is_empty() {
            continue;
        }
        if let Some(attr) = line.strip_prefix("#[") {
            if attr.starts_with("cfg(") && attr != "cfg(test)]" {
                gated = true;
            }
            if let Some(rest) = attr.strip_prefix("path") {
                path_attr = rest.split('"').nth(1).map(|p| p.to_string());
            }
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let decl = match words.as_slice() {
            ["mod", name] | ["pub", "mod", name] | ["pub(crate)", "mod", name] => {
                name.strip_suffix(';')
            }
            _ => None,
        };
        if let Some(name) = decl
            && !gated
        {
            decls.push(ModDecl {
                name: name.to_string(),
                path_attr: path_attr.clone(),
            });
        }
        gated = false;
        path_attr = None;
    }
    decls
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_module_declarations_and_their_gates() {
        let text = "//! docs\npub mod dm;\nmod sim;\n#[cfg(feature = \"kernel\")]\npub mod kernel;\n\
                    #[cfg(test)]\nmod tests;\n#[path = \"other/x.rs\"]\nmod x;\nmod inline {}\n";
        let names: Vec<_> = mod_decls(text).into_iter().map(|d| d.name).collect();
        assert_eq!(names, ["dm", "sim", "tests", "x"]);
        assert_eq!(
            mod_decls("#[path = \"a/b.rs\"]\nmod x;")[0]
                .path_attr
                .as_deref(),
            Some("a/b.rs")
        );
    }

    #[test]
    fn this_package_compiles_the_twins_and_not_the_gated_backend() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (roots, bins) = crate_roots(&root).unwrap();
        assert!(bins.contains("chapter3"));
        let files = compiled_files(&root, &roots);
        assert!(files.contains(Path::new("chapters-code/targets/hello.rs")));
        assert!(files.contains(Path::new("chapters-code/dm/bio.rs")));
        assert!(!files.contains(Path::new("chapters-code/driver/kernel.rs")));
    }
}
