//! `chapter4 doctor --fix`: every semantic patch of module/drift/cocci/ has
//! its drift table entry and moves that entry's old case (tests/drift-cases/)
//! to code the doctor no longer faults; the historical stage comes out with
//! nothing left that fails to build on any line.

mod spatch_gate;

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use dm_workbook::drift::fix::{self, SEMANTIC_PATCHES};
use dm_workbook::drift::{DriftTable, Release};
use dm_workbook::manifest::Manifest;
use spatch_gate::require_spatch;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn table() -> DriftTable {
    DriftTable::load(&root().join("module/drift.toml")).expect("module/drift.toml loads")
}

#[test]
fn every_semantic_patch_has_its_entry_and_every_entry_its_patch() {
    let table = table();
    let patches: BTreeSet<&str> = SEMANTIC_PATCHES.iter().map(|(id, _)| *id).collect();
    let marked: BTreeSet<&str> = (table.changes.iter())
        .filter(|c| c.cocci)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(
        patches, marked,
        "module/drift/cocci/ against `cocci = true`"
    );
    let on_disk: BTreeSet<String> = fs::read_dir(root().join("module/drift/cocci"))
        .expect("module/drift/cocci")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let bundled: BTreeSet<String> = patches.iter().map(|id| format!("{id}.cocci")).collect();
    assert_eq!(on_disk, bundled, "every file there is a bundled patch");
    for (id, text) in SEMANTIC_PATCHES {
        let first = text.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&format!("// {id} (")) || first.starts_with(&format!("// {id}:")),
            "{id}.cocci opens with its entry and release: {first}"
        );
    }
}

#[test]
#[ignore = "needs spatch (coccinelle)"]
fn every_semantic_patch_clears_its_drift_from_its_old_case() {
    require_spatch();
    let table = table();
    for change in table.changes.iter().filter(|c| c.cocci) {
        let path = root().join(format!("tests/drift-cases/{}.old.c", change.id));
        let source = fs::read_to_string(&path).expect("the old case");
        for kernel in [change.release.max(Release::OLDEST), Release::NEWEST] {
            let fixed = fix::fix(&source, &table, kernel)
                .unwrap_or_else(|e| panic!("{} on {kernel}: {e}", change.id));
            assert!(
                fixed.applied.contains(&change.id),
                "{} on {kernel}: its patch changed nothing",
                change.id
            );
            let left: Vec<usize> = (fixed.remaining.iter())
                .filter(|f| f.change.id == change.id)
                .map(|f| f.line)
                .collect();
            assert!(
                left.is_empty(),
                "{} on {kernel}: still found at lines {left:?} of\n{}",
                change.id,
                fixed.text
            );
        }
    }
}

#[test]
#[ignore = "needs spatch (coccinelle)"]
fn the_historical_stage_fixed_has_nothing_left_that_fails_on_any_line() {
    require_spatch();
    let table = table();
    let source = fs::read_to_string(root().join("module/stage0-historical/hello_target.c"))
        .expect("the historical stage");
    for line in &Manifest::bundled().lines {
        let kernel: Release = line.name.parse().expect("a line's release");
        let fixed = fix::fix(&source, &table, kernel).expect("fixed");
        let blocking: Vec<_> = (fixed.remaining.iter())
            .filter(|f| !f.builds())
            .map(|f| (f.change.id.as_str(), f.line))
            .collect();
        assert!(blocking.is_empty(), "on {kernel}: {blocking:?}");
        assert!(fixed.applied.len() >= 8, "on {kernel}: {:?}", fixed.applied);
    }
}

#[test]
#[ignore = "needs spatch (coccinelle)"]
fn a_source_with_nothing_to_fix_gives_an_empty_diff() {
    require_spatch();
    let table = table();
    let source =
        fs::read_to_string(root().join("module/stage1-hello/hello_target.c")).expect("stage 1");
    let fixed = fix::fix(&source, &table, Release::NEWEST).expect("fixed");
    assert!(fixed.applied.is_empty(), "{:?}", fixed.applied);
    assert_eq!(fix::unified_diff("x.c", &source, &fixed.text), "");
}
