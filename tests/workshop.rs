//! The workshop's exercises, without a kernel: each source's TODO regions,
//! each check's steps against the manifest, the Rust solutions against
//! their checks, and the book's workshop pages against fresh renderings
//! (`BLESS=1 cargo test --test workshop` writes them again). Skeletons
//! failing and solutions passing on real kernels is `cargo xtask exercises`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dm_workbook::workshop::{Kind, Manifest, book, regions};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_exercise_has_its_files_and_a_skeleton_unlike_its_solution() {
    for e in &Manifest::bundled().exercises {
        let folder = repo().join(e.folder());
        assert!(
            folder.join("README.md").is_file(),
            "{}: no README.md",
            e.dir
        );
        let check = if e.kind == Kind::Simulator {
            "check.rs"
        } else {
            "check.sh"
        };
        assert!(folder.join(check).is_file(), "{}: no {check}", e.dir);
        for file in &e.files {
            let source = std::fs::read_to_string(folder.join(file)).unwrap();
            let skeleton =
                regions::skeleton(&source).unwrap_or_else(|err| panic!("{}/{file}: {err}", e.dir));
            let solution = regions::solution(&source).unwrap();
            assert_ne!(skeleton, solution, "{}/{file}", e.dir);
            assert!(
                !solution.contains("//~") && !skeleton.contains("END TODO"),
                "{}/{file}",
                e.dir
            );
        }
        for anchor in &e.show {
            let marked = e.files.iter().any(|f| {
                std::fs::read_to_string(folder.join(f))
                    .unwrap()
                    .contains(&format!("ANCHOR_END: {anchor}"))
            });
            assert!(marked, "{}: no anchor {anchor}", e.dir);
        }
    }
}

/// The step names a check script gives `step`, or a Rust check's tests.
fn steps_in(check: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(check).unwrap();
    let mut found = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        let name = line
            .strip_prefix("step ")
            .or_else(|| line.strip_prefix("fn ").filter(|_| true));
        if let Some(rest) = name {
            let id: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if !id.is_empty() {
                found.push(id);
            }
        }
    }
    found
}

#[test]
fn each_check_runs_exactly_the_steps_its_manifest_entry_declares() {
    for e in &Manifest::bundled().exercises {
        let declared: Vec<String> = e.steps.iter().map(|s| s.id.clone()).collect();
        let folder = repo().join(e.folder());
        match e.kind {
            Kind::Kernel => assert_eq!(steps_in(&folder.join("check.sh")), declared, "{}", e.dir),
            Kind::Simulator => {
                let text = std::fs::read_to_string(folder.join("check.rs")).unwrap();
                let tests: Vec<String> = text
                    .split("#[test]\nfn ")
                    .skip(1)
                    .map(|rest| rest.split('(').next().unwrap().to_string())
                    .collect();
                assert_eq!(tests, declared, "{}", e.dir);
            }
            Kind::Battery => {
                // The reference, then a mutant per step, each a -D macro of
                // the reference's source.
                assert_eq!(declared[0], "reference", "{}", e.dir);
                let reference = folder.join(e.reference.as_deref().unwrap());
                let source = std::fs::read_to_string(
                    reference.join(format!("{}.c", e.module.as_deref().unwrap())),
                )
                .unwrap();
                for mutant in &declared[1..] {
                    assert!(mutant.starts_with("MUTANT_"), "{}: {mutant}", e.dir);
                    assert!(
                        source.contains(mutant.as_str()),
                        "{}: the reference has no {mutant}",
                        e.dir
                    );
                }
            }
        }
    }
}

#[test]
fn the_scripts_are_valid_shell() {
    let mut scripts = vec![repo().join("exercises/harness.sh")];
    let dir = tempfile::tempdir().unwrap();
    for e in &Manifest::bundled().exercises {
        if e.kind != Kind::Simulator {
            scripts.push(repo().join(e.folder()).join("check.sh"));
        }
        for file in e.files.iter().filter(|f| f.ends_with(".sh")) {
            let source = std::fs::read_to_string(repo().join(e.folder()).join(file)).unwrap();
            for (name, text) in [
                ("skeleton", regions::skeleton(&source).unwrap()),
                ("solution", regions::solution(&source).unwrap()),
            ] {
                let path = dir.path().join(format!("{}-{name}.sh", e.dir));
                std::fs::write(&path, text).unwrap();
                scripts.push(path);
            }
        }
    }
    for script in scripts {
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success(), "{}", script.display());
    }
}

#[test]
fn the_books_workshop_pages_are_written_from_the_exercises() {
    let files = book::generated(&repo()).unwrap();
    let bless = std::env::var_os("BLESS").is_some();
    let mut stale = Vec::new();
    for (path, text) in &files {
        let full = repo().join(path);
        if bless {
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, text).unwrap();
        } else if std::fs::read_to_string(&full).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stale (rewrite with BLESS=1 cargo test --test workshop): {stale:?}"
    );
    // No written file is left from an exercise that went.
    let written: BTreeSet<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();
    for entry in walk(&repo().join(book::DIR).join("skeletons")) {
        let relative = entry.strip_prefix(repo()).unwrap().to_path_buf();
        assert!(
            written.contains(&relative),
            "{} is no exercise's",
            relative.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

// The Rust exercises' solutions against their own checks: each check is
// included in a module where `exercise` names the solution, as the lib
// crate `exercise` does when the workshop checks a learner's copy.
#[path = "../exercises/04-rust-reverse-map/reverse.rs"]
mod reverse_solution;
mod exercise_04 {
    use super::reverse_solution as exercise;
    include!("../exercises/04-rust-reverse-map/check.rs");
}

#[path = "../exercises/10-rust-write-once/worm.rs"]
mod worm_solution;
mod exercise_10 {
    use super::worm_solution as exercise;
    include!("../exercises/10-rust-write-once/check.rs");
}

#[test]
fn every_rust_exercise_is_checked_here() {
    let sim: Vec<String> = Manifest::bundled()
        .exercises
        .iter()
        .filter(|e| e.kind == Kind::Simulator)
        .map(|e| e.dir.clone())
        .collect();
    let this = std::fs::read_to_string(repo().join("tests/workshop.rs")).unwrap();
    for dir in sim {
        assert!(
            this.contains(&format!("include!(\"../exercises/{dir}/check.rs\")")),
            "{dir}"
        );
    }
}
