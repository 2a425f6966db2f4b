//! `module/manifest.toml` against the repository: every stage it lists is a
//! folder with its sources and scenario, every stage folder is listed, and
//! what repeats its kernel lines elsewhere (the README, chapter 4's help)
//! says the same.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use dm_workbook::manifest::{Manifest, Scenario};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_stage_is_a_folder_with_its_files() {
    for stage in &Manifest::bundled().stages {
        let folder = root().join(stage.folder());
        let build_file = ["Kbuild", "Makefile"]
            .iter()
            .any(|f| folder.join(f).is_file());
        assert!(build_file, "{}: no Kbuild or Makefile", folder.display());
        let source = folder.join(stage.main_source());
        assert!(source.is_file(), "{}: no such file", source.display());
        let text = fs::read_to_string(&source).expect("the stage's source");
        assert!(
            text.contains(&format!("\"{}\"", stage.target)),
            "{}: no target named {}",
            source.display(),
            stage.target
        );
        if let Some(table) = &stage.table {
            assert!(folder.join(table).is_file(), "{}: no {table}", stage.dir);
        }
    }
}

/// The script scenarios whose file is not in their stage's folder.
fn missing_scripts(manifest: &Manifest) -> Vec<PathBuf> {
    (manifest.stages.iter())
        .filter_map(|stage| match &stage.scenario {
            Some(Scenario::Script(path)) => Some(root().join(stage.folder()).join(path)),
            _ => None,
        })
        .filter(|file| !file.is_file())
        .collect()
}

/// A script scenario is a path relative to the stage's folder.
#[test]
fn scenario_scripts_exist_in_their_stage_folder() {
    assert_eq!(missing_scripts(Manifest::bundled()), Vec::<PathBuf>::new());
    // Stage 1 (the first stage running chapter 3) with a script scenario:
    // found where it is, missed where not.
    let with_script = |path: &str| {
        let text = dm_workbook::manifest::BUNDLED.replacen(
            "scenario = { chapter = 3 }",
            &format!("scenario = {{ script = \"{path}\" }}"),
            1,
        );
        Manifest::parse(&text).expect("still a manifest")
    };
    assert!(missing_scripts(&with_script("tests/bad-tables.sh")).is_empty());
    assert_eq!(missing_scripts(&with_script("tests/none.sh")).len(), 1);
}

/// A folder of module/ with a Kbuild is a stage: the matrix must know it.
#[test]
fn every_stage_folder_is_listed() {
    let manifest = Manifest::bundled();
    let mut folders: Vec<PathBuf> = fs::read_dir(root().join("module"))
        .expect("module/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("Kbuild").is_file())
        .collect();
    folders.sort();
    assert!(!folders.is_empty());
    for folder in folders {
        let name = folder.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            manifest.stage(&name).is_some(),
            "module/{name} is not in the manifest"
        );
    }
}

#[test]
fn the_readme_lists_the_manifests_kernel_lines() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    // Prose wraps: compare with line breaks read as spaces.
    let readme = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    let list = format!("({})", Manifest::bundled().line_list("or"));
    assert!(readme.contains(&list), "README.md does not say {list}");
}

/// `chapter4 doctor --kernel` reaches the newest line the lab boots.
#[test]
fn chapter4_help_names_the_newest_line() {
    let out = Command::cargo_bin("chapter4")
        .expect("chapter4")
        .args(["doctor", "--help"])
        .output()
        .expect("chapter4 runs");
    let help = String::from_utf8_lossy(&out.stdout);
    let newest = &Manifest::bundled().newest().name;
    assert!(help.contains(&format!("2.6.32 to {newest}")), "{help}");
}

/// Every chapter a stage names is a chapter program, and every chapter
/// program that loads a module finds its stage: the scenarios' defaults
/// rely on it.
#[test]
fn the_chapters_and_the_stages_name_each_other() {
    let manifest = Manifest::bundled();
    for stage in &manifest.stages {
        let named = match (&stage.scenario, stage.chapter) {
            (Some(Scenario::Chapter(n)), _) => *n,
            (_, Some(n)) => n,
            _ => continue,
        };
        assert!(
            dm_workbook::cli::chapter(named).is_some(),
            "{} names chapter {named}, which has no program",
            stage.dir
        );
    }
    for (chapter, dir) in [
        (3, "stage1-hello"),
        (5, "stage2-proxy"),
        (6, "stage3-faulty"),
        (7, "stage4-deferred"),
    ] {
        let stage = manifest.stage_of_chapter(chapter).expect("a stage");
        assert_eq!(stage.dir, dir, "chapter {chapter}");
        assert!(dm_workbook::targets::twin(&stage.target).is_some());
    }
}
