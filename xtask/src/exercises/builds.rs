//! The modules a workshop check loads, built on the host against a line's
//! kit: each copy's items for the line it boots, and for the `build_on`
//! lines it must also build on.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;
use dm_workbook::workshop::kernel::{self as wk, Item};

use super::Copy;
use crate::lab::kit::{self, Kit};
use crate::lab::lines;
use crate::lab::progress::Progress;

/// Build every copy that names `build_on` lines on each of them, each line
/// under its own lock; the failures, by copy's group.
pub(super) fn build_on_lines(
    repo: &Path,
    cache: &Path,
    copies: &[&Copy],
    progress: &Progress,
) -> Result<BTreeMap<String, String>> {
    let mut failed = BTreeMap::new();
    let mut by_line: BTreeMap<&str, Vec<&Copy>> = BTreeMap::new();
    for copy in copies {
        for line in &copy.exercise.build_on {
            by_line.entry(line.as_str()).or_default().push(copy);
        }
    }
    for (name, copies) in by_line {
        let line = lines::find(name)?;
        let _lock = kit::lock_line(cache, name, progress)?;
        let kit = kit::prepare(line, cache, progress)?;
        let mut done = Built::new();
        for copy in copies {
            // A copy the doctor already fails stops at its doctor step.
            let lines = wk::doctor_lines(copy.exercise, None);
            if !wk::doctor(copy.exercise, &copy.dir, &lines).is_ok_and(|found| found.is_empty()) {
                continue;
            }
            let step = progress.step(format!("{name}: building {}", copy.group()));
            match build_items(repo, cache, &kit, copy, "build-on", &mut done) {
                Ok(_) => step.done_with("built".into()),
                Err(why) => {
                    step.done_with("failed".into());
                    let entry: &mut String = failed.entry(copy.group()).or_default();
                    *entry += &format!("Linux {name} ({}):\n{why}\n", kit.release);
                }
            }
        }
    }
    Ok(failed)
}

/// Build each harness item of `copy` for `kit`; their modules, or the
/// compiler's complaints (a warning counts).
/// Modules built on one line, by their folder and macros: a battery's
/// reference and mutants are the same for its skeleton and its solution.
pub(super) type Built = BTreeMap<(PathBuf, Vec<String>), std::result::Result<PathBuf, String>>;

pub(super) fn build_items(
    repo: &Path,
    cache: &Path,
    kit: &Kit,
    copy: &Copy,
    purpose: &str,
    done: &mut Built,
) -> std::result::Result<Vec<(Item, PathBuf)>, String> {
    let exercise = copy.exercise;
    let module = exercise.module.as_deref().unwrap_or_default();
    let line = kit.line.name.as_str();
    let stage = cache.join("lines").join(line).join("workshop");
    let keep = repo
        .join("target/workshop/lab")
        .join(line)
        .join(purpose)
        .join(copy.variant)
        .join(&exercise.dir);
    let mut built = Vec::new();
    for item in wk::items(repo, exercise, &copy.dir) {
        let key = (item.module_dir.clone(), item.defines.clone());
        if let Some(earlier) = done.get(&key) {
            built.push((item, earlier.clone()?));
            continue;
        }
        let dest = keep.join(&item.label).join(format!("{module}.ko"));
        let result = build_one(kit, repo, &stage, &item, module, &dest);
        done.insert(key, result.clone());
        built.push((item, result?));
    }
    Ok(built)
}

/// Build one item's module for `kit` and keep it at `dest`.
fn build_one(
    kit: &Kit,
    repo: &Path,
    stage: &Path,
    item: &Item,
    module: &str,
    dest: &Path,
) -> std::result::Result<PathBuf, String> {
    {
        let folder = stage.join(&item.label);
        wk::stage_module(item, &folder)?;
        let made = kit
            .make_module(&folder, &repo.join("module/compat"), &stage.join("build"))
            .map_err(|e| format!("{e:#}"))?;
        let complaints = wk::complaints(&made.log);
        let ko = made.dir.join(format!("{module}.ko"));
        if !made.success || !ko.is_file() {
            return Err(if complaints.is_empty() {
                made.log
                    .lines()
                    .rev()
                    .take(6)
                    .collect::<Vec<_>>()
                    .join("\n")
            } else {
                complaints.join("\n")
            });
        }
        if !complaints.is_empty() {
            return Err(format!(
                "it builds, with warnings:\n{}",
                complaints.join("\n")
            ));
        }
        fs::create_dir_all(dest.parent().unwrap_or(stage)).map_err(|e| e.to_string())?;
        fs::copy(&ko, dest).map_err(|e| format!("keeping {}: {e}", ko.display()))?;
        Ok(dest.to_path_buf())
    }
}
