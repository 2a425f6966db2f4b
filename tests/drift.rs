//! The drift table and the drift doctor (chapter4's command line is in
//! tests/chapter4_cli.rs).
//!
//! Each table entry has two C cases in tests/drift-cases/: `<id>.old.c` uses
//! the old form, `<id>.new.c` the new one, and each marks the line the doctor
//! must name with a `/* drift */` comment.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use dm_workbook::drift::{Change, Direction, DriftTable, Release, diagnose};
use dm_workbook::manifest::{Expect, Manifest};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> PathBuf {
    root().join("tests/drift-cases")
}

fn table() -> DriftTable {
    DriftTable::load(&root().join("module/drift.toml")).expect("module/drift.toml loads")
}

fn release(text: &str) -> Release {
    text.parse().expect("a release")
}

/// The lines (1-based) of `source` that contain `needle`.
fn lines_with(source: &str, needle: &str) -> BTreeSet<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, line)| line.contains(needle))
        .map(|(index, _)| index + 1)
        .collect()
}

/// Lines where the doctor reports `change` in `direction` for `kernel`.
fn lines_found(source: &str, table: &DriftTable, kernel: Release, id: &str) -> BTreeSet<usize> {
    diagnose(source, table, kernel)
        .expect("the source parses")
        .into_iter()
        .filter(|f| f.change.id == id)
        .map(|f| f.line)
        .collect()
}

fn read_case(change: &Change, form: &str) -> String {
    let path = cases().join(format!("{}.{form}.c", change.id));
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_table_loads_and_every_entry_is_complete() {
    let table = table();
    assert!(table.changes.len() >= 19, "{} entries", table.changes.len());
    for change in &table.changes {
        assert!(!change.fix.trim().is_empty(), "{}", change.id);
        assert!(change.release <= Release::NEWEST, "{}", change.id);
        if change.verified {
            assert!(change.commit.len() >= 12, "{}: commit", change.id);
            assert!(!change.title.is_empty(), "{}: title", change.id);
        } else {
            // An unverified entry says what was and was not found.
            assert!(change.checked.contains("Not found"), "{}", change.id);
        }
    }
    // The bundled copy is the same file.
    let bundled = DriftTable::bundled().expect("bundled table");
    assert_eq!(bundled.changes.len(), table.changes.len());
}

#[test]
fn the_table_covers_the_changes_chapter_4_promises() {
    let table = table();
    let symbols: Vec<&str> = table.changes.iter().map(|c| c.symbol.as_str()).collect();
    for symbol in [
        "dm_get_device",
        "target_type.map",
        "bio->bi_sector",
        "bio->bi_bdev",
        "bio_endio",
        "bio->bi_error",
        "bio->bi_rw",
        "generic_make_request",
        "target_type.end_io",
        "target_type.status",
        "target_type.message",
        "dm_target.num_flush_requests",
        "dm_unregister_target",
        "fmode_t",
        "STATUSTYPE_IMA",
        "bdev_nr_sectors",
        "module_dm",
        "target_type.prepare_ioctl",
        "dm.h",
        "dm_target.split_io",
        "dm_per_bio_data",
        "DM_IO_BVEC",
        "bio->bi_end_io",
        "target_type.ioctl",
        "dm_target.per_bio_data_size",
        "REQ_FLUSH",
        "submit_bio",
        "bio->bi_disk",
        "BIO_MAX_PAGES",
        "bio_alloc",
        "bio_clone_fast",
        "dm_submit_bio_remap",
        "dm_target.num_write_same_bios",
        "block_device.bd_inode",
        "blk_limits_io_min",
    ] {
        assert!(symbols.contains(&symbol), "no entry for {symbol}");
    }
}

#[test]
fn a_malformed_table_is_refused() {
    let good = fs::read_to_string(root().join("module/drift.toml")).expect("table");
    let broken = [
        good.replacen("id = \"get-device-range\"", "id = \"bio-set-dev\"", 1),
        good.replacen(
            "commit = \"8215d6ec5fee1e76545decea2cd73717efb5cb42\"",
            "commit = \"8215d6\"",
            1,
        ),
        good.replacen("release = \"2.6.34\"", "release = \"two\"", 1),
        good.replacen("stable = [\"6.1.83\"", "stable = [\"6.10.3\"", 1),
        good.replacen("{ call = \"dm_get_device\", args = 6 }", "{ args = 6 }", 1),
        good.replacen("also_before = \"4.14\"", "also_before = \"5.12\"", 1),
        good.replacen(
            "{ include = \"dm.h\" }",
            "{ include = \"dm.h\", args = 1 }",
            1,
        ),
        good.replacen(
            "fix = \"Drop the map_info parameter; read per-bio state with dm_per_bio_data().\"",
            "fix = \"\"",
            1,
        ),
    ];
    for (index, text) in broken.iter().enumerate() {
        assert!(text != &good, "case {index} changed nothing");
        assert!(
            DriftTable::parse(text).is_err(),
            "case {index} was accepted"
        );
    }
}

#[test]
fn every_case_file_belongs_to_an_entry() {
    let table = table();
    for entry in fs::read_dir(cases()).expect("cases dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            continue;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let id = name
            .strip_suffix(".old.c")
            .or_else(|| name.strip_suffix(".new.c"))
            .unwrap_or_else(|| panic!("{name}: expected <id>.old.c or <id>.new.c"));
        assert!(table.get(id).is_some(), "{name}: no entry `{id}`");
    }
}

/// Old form: reported from the change's release on, not before it.
#[test]
fn every_old_form_is_found_on_newer_kernels_only() {
    let table = table();
    for change in &table.changes {
        let source = read_case(change, "old");
        let marked = lines_with(&source, "/* drift */");
        let newest = lines_found(&source, &table, Release::NEWEST, &change.id);
        if change.detect_old.is_empty() {
            // This old form builds everywhere: nothing to report, on any kernel.
            assert!(marked.is_empty(), "{}: old case marks a line", change.id);
            for kernel in [Release::OLDEST, Release::NEWEST] {
                let found = lines_found(&source, &table, kernel, &change.id);
                assert!(
                    found.is_empty(),
                    "{}: old form reported on {kernel}",
                    change.id
                );
            }
            continue;
        }
        assert!(!marked.is_empty(), "{}: old case marks no line", change.id);
        assert_eq!(
            newest,
            marked,
            "{}: old form on {}",
            change.id,
            Release::NEWEST
        );
        if change.release >= Release::OLDEST {
            let at_release = lines_found(&source, &table, change.release, &change.id);
            assert_eq!(
                at_release, marked,
                "{}: old form on {}",
                change.id, change.release
            );
        }
        if let Some(before) = change.release.previous().filter(|r| *r >= Release::OLDEST) {
            let found = lines_found(&source, &table, before, &change.id);
            assert!(
                found.is_empty(),
                "{}: old form reported on {before}",
                change.id
            );
        }
    }
}

/// New form: clean from the change's release on, reported before it.
#[test]
fn every_new_form_is_clean_on_newer_kernels_and_found_on_older_ones() {
    let table = table();
    for change in &table.changes {
        let source = read_case(change, "new");
        let marked = lines_with(&source, "/* drift */");
        for kernel in [change.release.max(Release::OLDEST), Release::NEWEST] {
            let found = lines_found(&source, &table, kernel, &change.id);
            assert!(
                found.is_empty(),
                "{}: new form reported on {kernel}",
                change.id
            );
        }
        match change.release.previous().filter(|r| *r >= Release::OLDEST) {
            Some(before) if !change.detect_new.is_empty() => {
                let found = lines_found(&source, &table, before, &change.id);
                assert_eq!(found, marked, "{}: new form on {before}", change.id);
                let oldest = lines_found(&source, &table, Release::OLDEST, &change.id);
                // An API that came back also built in the era before.
                let expected_oldest = match change.also_before {
                    Some(_) => BTreeSet::new(),
                    None => marked.clone(),
                };
                assert_eq!(
                    oldest,
                    expected_oldest,
                    "{}: new form on {}",
                    change.id,
                    Release::OLDEST
                );
                if let Some(also) = change.also_before {
                    let at = lines_found(&source, &table, also, &change.id);
                    assert_eq!(at, marked, "{}: new form on {also}", change.id);
                    let below = also.previous().expect("a release before also_before");
                    let found = lines_found(&source, &table, below, &change.id);
                    assert!(found.is_empty(), "{}: new form on {below}", change.id);
                }
            }
            // Older than every kernel the doctor targets, or builds everywhere.
            _ => {
                let found = lines_found(&source, &table, Release::OLDEST, &change.id);
                assert!(found.is_empty(), "{}: new form reported", change.id);
            }
        }
    }
}

/// A stable backport counts when --kernel names a sublevel at or past it.
#[test]
fn stable_backports_move_the_line_for_their_own_kernel_line() {
    let table = table();
    let change = table.get("dm-io-ioprio").expect("entry");
    let old = read_case(change, "old");
    let new = read_case(change, "new");
    let found = |source: &str, kernel: &str| {
        !lines_found(source, &table, release(kernel), &change.id).is_empty()
    };
    for kernel in ["6.1.83", "6.1.150", "6.6.23", "6.8.2", "6.9", "7.3"] {
        assert!(
            found(&old, kernel),
            "4-argument dm_io() not reported on {kernel}"
        );
        assert!(
            !found(&new, kernel),
            "5-argument dm_io() reported on {kernel}"
        );
    }
    for kernel in ["6.1", "6.1.82", "6.6.22", "6.5.13", "5.10.200"] {
        assert!(
            !found(&old, kernel),
            "4-argument dm_io() reported on {kernel}"
        );
        assert!(
            found(&new, kernel),
            "5-argument dm_io() not reported on {kernel}"
        );
    }
}

#[test]
fn a_finding_reads_as_file_line_id_change_release_commit_and_fix() {
    let table = table();
    let change = table.get("get-device-range").expect("entry");
    let source = read_case(change, "old");
    let findings = diagnose(&source, &table, release("3.10")).expect("parses");
    let finding = findings
        .iter()
        .find(|f| f.change.id == "get-device-range")
        .expect("the seed's drift is found on 3.10");
    assert_eq!(finding.direction, Direction::Old);
    let text = finding.render("mapper.c", release("3.10"));
    let mut lines = text.lines();
    let first = lines.next().expect("first line");
    assert!(
        first.starts_with("mapper.c:5: get-device-range: "),
        "{first}"
    );
    assert!(
        first.contains("(since 2.6.34, commit 8215d6ec5fee \""),
        "{first}"
    );
    let fix = lines.next().expect("fix line");
    assert!(fix.starts_with("  fix: "), "{fix}");
}

#[test]
fn the_doctor_reports_an_old_style_target_it_has_never_seen() {
    let table = table();
    let path = cases().join("whole/dm-tally-2.6.32.c");
    let source = fs::read_to_string(&path).expect("the 2.6.32 target");
    // Each drift, and a piece of the line it sits on.
    let expected = [
        ("blk-mode", "\tfmode_t mode;"),
        (
            "get-device-range",
            "if (dm_get_device(ti, argv[0], tc->start",
        ),
        ("flush-requests-to-bios", "ti->num_flush_requests = 1;"),
        ("map-info-map", "static int tally_map("),
        ("bd-inode-gone", "bd_inode"),
        ("bi-rw-to-bi-opf", "if (bio->bi_rw & WRITE)"),
        ("bio-set-dev", "bio->bi_bdev = tc->dev->bdev;"),
        ("bvec-iter", "bio->bi_sector = tc->start"),
        ("bvec-iter", "if (bio->bi_sector + bio_sectors"),
        ("bio-endio-error", "bio_endio(bio, -EIO);"),
        ("map-info-end-io", "static int tally_end_io("),
        ("status-flags", "static int tally_status("),
        ("status-void", "static int tally_status("),
        ("statustype-ima", "static int tally_status("),
        ("message-result", "static int tally_message("),
    ];
    let mut want = BTreeSet::new();
    for (id, needle) in expected {
        let lines = lines_with(&source, needle);
        assert!(!lines.is_empty(), "no line with {needle:?}");
        for line in lines {
            want.insert((id.to_string(), line));
        }
    }
    let got: BTreeSet<(String, usize)> = diagnose(&source, &table, Release::NEWEST)
        .expect("parses")
        .into_iter()
        .map(|f| (f.change.id.clone(), f.line))
        .collect();
    assert_eq!(got, want);

    // Written for 2.6.32, it is clean there.
    let on_2632 = diagnose(&source, &table, Release::OLDEST).expect("parses");
    assert!(
        on_2632.is_empty(),
        "{:?}",
        on_2632.iter().map(|f| &f.change.id).collect::<Vec<_>>()
    );

    // On the seed's kernel only what changed by 3.10 is reported.
    let on_310: BTreeSet<String> = diagnose(&source, &table, release("3.10.0-957.12.2.el7"))
        .expect("parses")
        .into_iter()
        .map(|f| f.change.id.clone())
        .collect();
    let expected_310: BTreeSet<String> = [
        "get-device-range",
        "map-info-map",
        "map-info-end-io",
        "status-flags",
        "status-void",
        "flush-requests-to-bios",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(on_310, expected_310);
}

/// The stages the manifest expects to pass on every line: the modern ones,
/// as opposed to historical code kept to fail.
fn modern_stages() -> Vec<PathBuf> {
    Manifest::bundled()
        .stages
        .iter()
        .filter(|stage| stage.expect.values().all(|e| *e == Expect::Pass))
        .map(|stage| root().join(stage.folder()))
        .collect()
}

/// The doctor finds nothing on the workbook's own modern stages.
#[test]
fn the_modern_stages_are_clean() {
    let table = table();
    let mut checked = 0;
    for stage in modern_stages() {
        for file in fs::read_dir(&stage).expect("stage dir") {
            let file = file.expect("entry").path();
            if file.extension().is_some_and(|e| e == "c") {
                let source = fs::read_to_string(&file).expect("stage source");
                let findings = diagnose(&source, &table, Release::NEWEST).expect("parses");
                let ids: Vec<_> = findings.iter().map(|f| (&f.change.id, f.line)).collect();
                assert!(ids.is_empty(), "{}: {ids:?}", file.display());
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "no C source in the stages module/manifest.toml expects to pass"
    );
}

/// Each `compat` macro is decided by a feature probe named after its entry,
/// and the compat header reads probes, never LINUX_VERSION_CODE.
#[test]
fn every_compat_macro_comes_from_a_probe_of_its_entry() {
    let table = table();
    let compat = root().join("module/compat");
    let header = fs::read_to_string(compat.join("dmw_compat.h")).expect("dmw_compat.h");
    let mut probes: BTreeSet<String> = BTreeSet::new();
    for entry in fs::read_dir(compat.join("probes")).expect("module/compat/probes") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let id = name
            .strip_suffix(".c")
            .unwrap_or_else(|| panic!("probes/{name}: a probe is <entry id>.c"));
        probes.insert(id.to_string());
    }
    let mut bridged = BTreeSet::new();
    for change in &table.changes {
        let Some(name) = &change.compat else { continue };
        let expected = format!("DMW_HAVE_{}", change.id.to_uppercase().replace('-', "_"));
        assert_eq!(
            name, &expected,
            "{}: the probe's macro is named after the entry",
            change.id
        );
        assert!(
            probes.contains(&change.id),
            "{}: no module/compat/probes/{}.c for {name}",
            change.id,
            change.id
        );
        assert!(
            header.contains(name.as_str()),
            "dmw_compat.h never reads {name}"
        );
        bridged.insert(change.id.clone());
    }
    assert_eq!(
        probes, bridged,
        "probes without a `compat` entry in drift.toml"
    );
    assert!(
        !header.contains("LINUX_VERSION_CODE") && !header.contains("KERNEL_VERSION"),
        "dmw_compat.h decides by probes, not by version numbers"
    );
    // No definition of a DMW_HAVE_ macro of its own: the probes make them.
    for line in header.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#define"), Some(word)) = (words.next(), words.next()) {
            assert!(
                !word.starts_with("DMW_HAVE_"),
                "dmw_compat.h defines {word}"
            );
        }
    }
}

/// Every stage whose sources include the compat header runs the probes.
#[test]
fn every_stage_using_the_compat_header_includes_the_probes() {
    let mut checked = 0;
    for stage in &Manifest::bundled().stages {
        let folder = root().join(stage.folder());
        let uses_compat = fs::read_dir(&folder)
            .expect("stage folder")
            .filter_map(|e| fs::read_to_string(e.expect("entry").path()).ok())
            .any(|text| text.contains("\"dmw_compat.h\""));
        if !uses_compat {
            continue;
        }
        let kbuild = fs::read_to_string(folder.join("Kbuild")).expect("the stage's Kbuild");
        assert!(
            kbuild
                .lines()
                .any(|l| l.trim() == "include $(src)/../compat/dmw_probes.kbuild"),
            "{}: its Kbuild does not include ../compat/dmw_probes.kbuild",
            stage.dir
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} stages use the compat header");
}

/// A probe's expected verdict follows the table, stable backports and
/// superseding entries included; a version check sees mainline only.
#[test]
fn a_probe_expects_what_the_table_says_and_a_version_check_may_not() {
    let table = table();
    let ioprio = table.get("dm-io-ioprio").expect("entry");
    // Debian 12's 6.1 headers are 6.1.192: the backport is there.
    assert!(ioprio.new_form_builds_on(release("6.1.192"), &table));
    assert!(!ioprio.version_check_says(release("6.1.192"), &table));
    assert!(!ioprio.new_form_builds_on(release("6.1.82"), &table));
    assert!(ioprio.new_form_builds_on(release("6.12.117"), &table));
    assert!(ioprio.version_check_says(release("6.12.117"), &table));
    // 7.2 moved the priority to sixth place.
    assert!(!ioprio.new_form_builds_on(release("7.2.13"), &table));
    assert!(!ioprio.version_check_says(release("7.2.13"), &table));
}
