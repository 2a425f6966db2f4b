//! The corpus through `chapter4 doctor --fix`: a folder marked `fix = true`
//! in `module/corpus.toml` is copied, each C source fixed for the kernel a
//! line's headers are (the drift table's semantic patches, no hand edit),
//! and built on that line again. What still fails must be what the doctor
//! reports and no patch fixes.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use dm_workbook::drift::{DriftTable, Release, diagnose, fix};

use super::{ErrorLine, Folder};
use crate::lab::lines::KernelLine;
use crate::module_files::copy_module_sources;

/// How many fixed targets must build on every line the run covers.
pub const LEAST_FIXED_BUILDING: usize = 2;

/// One fixed target on one line.
#[derive(Debug, Default, Clone)]
pub struct FixedCell {
    /// The semantic patches that changed its sources.
    pub applied: Vec<String>,
    /// Each error line left, with the drift entries the doctor reports at
    /// that line (empty when none explains it).
    pub errors: Vec<(ErrorLine, Vec<String>)>,
}

impl FixedCell {
    pub fn unexplained(&self) -> usize {
        self.errors.iter().filter(|(_, ids)| ids.is_empty()).count()
    }
}

/// Copy `folder` to `to` with every C source fixed for `kernel`; returns
/// the semantic patches applied, per file.
pub fn fix_folder(
    folder: &Folder,
    to: &Path,
    table: &DriftTable,
    kernel: Release,
) -> Result<BTreeMap<String, Vec<String>>> {
    if to.exists() {
        fs::remove_dir_all(to)?;
    }
    copy_module_sources(&folder.dir, to)?;
    let mut applied = BTreeMap::new();
    for files in folder.targets.values() {
        for file in files.iter().filter(|f| f.ends_with(".c")) {
            let path = to.join(file);
            let bytes = fs::read(&path).with_context(|| path.display().to_string())?;
            let source = String::from_utf8_lossy(&bytes).into_owned();
            let fixed = fix::fix(&source, table, kernel)
                .with_context(|| format!("{}: chapter4 doctor --fix", path.display()))?;
            fs::write(&path, &fixed.text)?;
            applied.insert(file.clone(), fixed.applied);
        }
    }
    Ok(applied)
}

/// The fixed cell of one target: its error lines, each with what the doctor
/// finds at that line of the fixed source.
pub fn judge_fixed(
    dir: &Path,
    files: &[String],
    applied: &BTreeMap<String, Vec<String>>,
    errors: &[ErrorLine],
    table: &DriftTable,
    kernel: Release,
) -> Result<FixedCell> {
    let mut cell = FixedCell::default();
    for file in files {
        cell.applied
            .extend(applied.get(file).into_iter().flatten().cloned());
    }
    for error in errors.iter().filter(|e| files.contains(&e.file)) {
        let source = fs::read(dir.join(&error.file))?;
        let findings = diagnose(&String::from_utf8_lossy(&source), table, kernel)?;
        // As in the unfixed table: at the finding's line, where a callback
        // is assigned, or (for "control reaches end of non-void function")
        // at the end of the function a finding sits in.
        let ends_function = error
            .message
            .starts_with("control reaches end of non-void function");
        let mut ids: Vec<String> = (findings.iter())
            .filter(|f| {
                f.line == error.line
                    || f.assigned_at.contains(&error.line)
                    || (ends_function && f.function_end == Some(error.line))
            })
            .map(|f| f.change.id.clone())
            .collect();
        ids.dedup();
        cell.errors.push((error.clone(), ids));
    }
    Ok(cell)
}

/// The fixed table for the book, and the errors left, each explained.
pub fn render_fixed(
    folders: &[Folder],
    chosen: &[&'static KernelLine],
    cells: &BTreeMap<(String, String), FixedCell>,
) -> String {
    let rows: Vec<&String> = (folders.iter())
        .filter(|f| f.fix)
        .flat_map(|f| f.targets.keys())
        .collect();
    if rows.is_empty() {
        return String::new();
    }
    let mut text =
        String::from("\nAfter `chapter4 doctor --fix` for each line's kernel, no hand edit:\n\n");
    text += "| target | ";
    text += &(chosen.iter().map(|l| l.name.as_str()))
        .collect::<Vec<_>>()
        .join(" | ");
    text += " |\n| --- |";
    text += &" --- |".repeat(chosen.len());
    text += "\n";
    for row in &rows {
        text += &format!("| {row} |");
        for line in chosen {
            let shown = match cells.get(&(line.name.clone(), (*row).clone())) {
                None => "not run".to_string(),
                Some(cell) if cell.errors.is_empty() => match cell.applied.len() {
                    0 => "builds".to_string(),
                    1 => "builds (1 patch)".to_string(),
                    n => format!("builds ({n} patches)"),
                },
                Some(cell) => match cell.errors.len() {
                    1 => "1 error left".to_string(),
                    n => format!("{n} errors left"),
                },
            };
            text += &format!(" {shown} |");
        }
        text += "\n";
    }
    let mut left = String::new();
    for line in chosen {
        for row in &rows {
            let Some(cell) = cells.get(&(line.name.clone(), (*row).clone())) else {
                continue;
            };
            for (e, ids) in &cell.errors {
                let why = match ids.as_slice() {
                    [] => "no finding explains it".to_string(),
                    ids => format!(
                        "the doctor reports {}, which no semantic patch fixes",
                        ids.join(", ")
                    ),
                };
                left += &format!(
                    "- {}: {row}: `{}:{}`: {} ({why})\n",
                    line.name, e.file, e.line, e.message
                );
            }
        }
    }
    if !left.is_empty() {
        text += "\nError lines left after the fixes:\n\n";
        text += &left;
    }
    text
}

/// What is wrong with the fixed builds: an error no finding explains, or
/// fewer than [`LEAST_FIXED_BUILDING`] targets building on a line.
pub fn fixed_problems(
    chosen: &[&'static KernelLine],
    cells: &BTreeMap<(String, String), FixedCell>,
) -> Vec<String> {
    let mut problems = Vec::new();
    for line in chosen {
        let here: Vec<(&String, &FixedCell)> = (cells.iter())
            .filter(|((l, _), _)| *l == line.name)
            .map(|((_, row), cell)| (row, cell))
            .collect();
        if here.is_empty() {
            continue;
        }
        let building = here.iter().filter(|(_, c)| c.errors.is_empty()).count();
        if building < LEAST_FIXED_BUILDING {
            problems.push(format!(
                "Linux {}: {building} fixed targets build, fewer than {LEAST_FIXED_BUILDING}",
                line.name
            ));
        }
        for (row, cell) in here {
            if cell.unexplained() > 0 {
                problems.push(format!(
                    "Linux {}: {row} after --fix: {} error lines no finding explains",
                    line.name,
                    cell.unexplained()
                ));
            }
        }
    }
    problems
}
