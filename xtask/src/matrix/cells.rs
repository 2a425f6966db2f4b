//! Running the matrix's cells on one line: building the stages that must
//! fail there, and booting each stage that must pass with its scenario.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Result, ensure};
use dm_workbook::manifest::{Expect, KernelLine, Scenario, Stage};

use super::diagnostics::{error_set, normalise_message, shown_diagnostics};
use super::probes::LineProbes;
use super::report::{Cell, judge_failure};
use crate::lab::guest;
use crate::lab::progress::Progress;
use crate::lab::{LineRun, kit, read_script, rust_kit};
use crate::module_files::copy_module_sources;
use dm_workbook::cli::Chapter;
use dm_workbook::drift::{DriftTable, Release, fix};

/// What the build phase of one line found.
pub struct Built {
    pub line: &'static KernelLine,
    pub release: Option<String>,
    pub cells: Vec<(String, Cell)>,
    /// The errors as the book shows them, per stage.
    pub errors: Vec<(String, String)>,
    /// The compat header's feature probes on this line, or why they did not
    /// run.
    pub probes: Result<LineProbes, String>,
    /// For each stage with a `fixed` scenario: its row, and the folder of
    /// its sources as `chapter4 doctor --fix` fixed them for this line's
    /// kernel (or why they could not be).
    pub fixed: Vec<(String, Result<PathBuf, String>)>,
}

/// One line's build phase, under the line's lock: make its kit, and build
/// each stage expected to fail there.
pub fn build_line(
    line: &'static KernelLine,
    stages: &[&Stage],
    cache: &Path,
    repo: &Path,
    progress: &Progress,
) -> Built {
    let mut built = Built {
        line,
        release: None,
        cells: Vec::new(),
        errors: Vec::new(),
        probes: Err("the line's kit could not be made".into()),
        fixed: Vec::new(),
    };
    let name = line.name.as_str();
    let failing: Vec<&Stage> = (stages.iter().copied())
        .filter(|s| s.expect_on(name) == Some(&Expect::Fail))
        .collect();
    let result = (|| -> Result<()> {
        let _lock = kit::lock_line(cache, name, progress)?;
        let kit = kit::prepare(line, cache, progress)?;
        built.release = Some(kit.release.clone());
        let work = cache.join("lines").join(name).join("matrix-build");
        // The probes first, afresh: the stages built after them on this
        // line (here and in the boots) reuse their verdicts.
        let step = progress.step(format!("{name}: feature probes"));
        built.probes = (|| -> Result<LineProbes> {
            let probed = kit.probe(&repo.join("module/compat"), &work)?;
            Ok(LineProbes {
                kernel: kit.headers_release()?,
                verdicts: probed.verdicts,
                log: probed.log,
            })
        })()
        .map_err(|err| format!("{err:#}"));
        step.done_with(match &built.probes {
            Ok(run) => format!("{} probes", run.verdicts.len()),
            Err(_) => "failed".to_string(),
        });
        // Each stage the doctor must fix, fixed for the kernel these headers
        // are: its boot comes with the passing stages'.
        let kernel = kit.headers_release()?;
        for stage in stages.iter().filter(|s| s.fixed.is_some()) {
            let step = progress.step(format!(
                "{name}: {} through chapter4 doctor --fix",
                stage.dir
            ));
            let folder = cache
                .join("lines")
                .join(name)
                .join("fixed")
                .join(&stage.dir);
            let made = fix_stage(&repo.join(stage.folder()), &folder, kernel);
            step.done_with(match &made {
                Ok(applied) => format!("{applied} semantic patch(es) applied"),
                Err(_) => "failed".to_string(),
            });
            built.fixed.push((stage.fixed_row(), made.map(|_| folder)));
        }
        for stage in &failing {
            let step = progress.step(format!("{name}: building {}", stage.dir));
            let made = kit.make_module(
                &repo.join(stage.folder()),
                &repo.join("module/compat"),
                &work,
            )?;
            let found = error_set(&made.log);
            let declared: BTreeSet<String> = (stage.errors.get(name).into_iter().flatten())
                .map(|e| normalise_message(e))
                .collect();
            let cell = judge_failure(made.success, &found, &declared);
            step.done_with(cell.short());
            built.cells.push((stage.dir.clone(), cell));
            if !made.success {
                built
                    .errors
                    .push((stage.dir.clone(), shown_diagnostics(&made.log)));
            }
        }
        Ok(())
    })();
    if let Err(err) = result {
        let why = format!("{err:#}");
        for stage in stages.iter().filter(|s| s.fixed.is_some()) {
            if !built.fixed.iter().any(|(row, _)| *row == stage.fixed_row()) {
                built.fixed.push((stage.fixed_row(), Err(why.clone())));
            }
        }
        for stage in failing {
            if !built.cells.iter().any(|(d, _)| *d == stage.dir) {
                built
                    .cells
                    .push((stage.dir.clone(), Cell::Unexpected(why.clone())));
            }
        }
    }
    built
}

/// Copy the stage folder `from` to `to` with each of its C sources as
/// `chapter4 doctor --fix` makes it for `kernel`; returns how many semantic
/// patches changed something.
fn fix_stage(from: &Path, to: &Path, kernel: Release) -> Result<usize, String> {
    let table = DriftTable::bundled().map_err(|e| e.to_string())?;
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(|e| e.to_string())?;
    }
    let files = copy_module_sources(from, to).map_err(|e| format!("{e:#}"))?;
    let mut applied = 0;
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "c"))
    {
        let source = std::fs::read_to_string(to.join(file)).map_err(|e| e.to_string())?;
        let fixed =
            fix::fix(&source, &table, kernel).map_err(|e| format!("{}: {e}", file.display()))?;
        applied += fixed.applied.len();
        std::fs::write(to.join(file), fixed.text).map_err(|e| e.to_string())?;
    }
    Ok(applied)
}

/// What booting the passing stages of one line needs.
pub struct LineBoot<'a> {
    pub line: &'static KernelLine,
    /// Whether the build phase made the line's kit.
    pub kit_made: bool,
    pub cache: &'a Path,
    pub repo: &'a Path,
    /// The chapter binaries, by chapter, and how to call them.
    pub binaries: &'a BTreeMap<u32, (PathBuf, &'static Chapter)>,
    pub timeout: Duration,
}

impl LineBoot<'_> {
    /// Boot the line with `stage` loaded and run its declared scenario, as
    /// `cargo xtask lab --stage DIR --kernel LINE` does.
    pub fn run(&self, stage: &Stage, progress: &Progress) -> Cell {
        self.run_folder(
            &self.repo.join(stage.folder()),
            &stage.scenario,
            true,
            progress,
        )
    }

    /// Boot the line with the module of `module_dir` loaded and run
    /// `scenario` (a stage's, or its `fixed` one). A stage of the workbook
    /// (`own_stage`) must build without a warning; the doctor's fixed
    /// version of historical code may keep the warnings of what the doctor
    /// reports as advice (a `status` without `STATUSTYPE_IMA`: `-Wswitch`).
    pub fn run_folder(
        &self,
        module_dir: &Path,
        scenario: &Option<Scenario>,
        own_stage: bool,
        progress: &Progress,
    ) -> Cell {
        if !self.kit_made {
            return Cell::Unexpected("the line's kit could not be made".into());
        }
        let module_dir = module_dir.to_path_buf();
        let script_name = match &scenario {
            Some(Scenario::Script(path)) => std::path::Path::new(path.as_str())
                .file_stem()
                .map_or("matrix".to_string(), |s| {
                    format!("matrix-{}", s.to_string_lossy())
                }),
            _ => "matrix".to_string(),
        };
        let (scenario, chapter_bin, script) = match scenario {
            Some(Scenario::Chapter(n)) => match self.binaries.get(n) {
                None => return Cell::Unexpected(format!("no chapter{n} binary to run")),
                Some((bin, run)) => (
                    guest::Scenario::Chapter(run),
                    Some(bin.as_path()),
                    Vec::new(),
                ),
            },
            Some(Scenario::Script(path)) => match read_script(&module_dir.join(path)) {
                Ok(bytes) => (guest::Scenario::Script, None, bytes),
                Err(err) => return Cell::Unexpected(format!("{err:#}")),
            },
            None => return Cell::Unexpected("the stage declares no scenario".into()),
        };
        let lab = LineRun {
            line: self.line,
            cache: self.cache,
            repo: self.repo,
            module_dir: &module_dir,
            own_stage,
            scenario: &scenario,
            script: &script,
            chapter_bin,
            script_name: Some(script_name),
            udev: false,
            timeout: self.timeout,
            memory_mib: crate::lab::DEFAULT_MEMORY_MIB,
            expect_hang: false,
        };
        match lab.run(progress) {
            Ok(o) if o.problems.is_empty() => Cell::Pass,
            Ok(o) => Cell::Unexpected(o.problems.join("; ")),
            Err(err) => Cell::Unexpected(format!("{err:#}")),
        }
    }
}

/// A Rust stage built for `line`, then its crate compiled again with the
/// `rustc` of `other`'s Rust chroot (see
/// [`rust_kit::build_with_other_rustc`]): the text the book shows, which
/// starts with the command's summary.
pub fn other_rustc(
    stage: &Stage,
    line: &'static KernelLine,
    other: &'static KernelLine,
    cache: &Path,
    repo: &Path,
    progress: &Progress,
) -> Result<String> {
    // Two lines' caches at once: locked in the lines' order.
    let _first = kit::lock_line(cache, &line.name, progress)?;
    let _second = kit::lock_line(cache, &other.name, progress)?;
    let kit = kit::prepare(line, cache, progress)?.with_rust(cache, progress)?;
    let other_kit = kit::prepare(other, cache, progress)?.with_rust(cache, progress)?;
    let work = cache.join("lines").join(&line.name).join("matrix-build");
    let step = progress.step(format!(
        "{}: building {} with Linux {}'s rustc",
        line.name, stage.dir, other.name
    ));
    let made = kit.make_module(
        &repo.join(stage.folder()),
        &repo.join("module/compat"),
        &work,
    )?;
    ensure!(
        made.success,
        "{} did not build for {}:\n{}",
        stage.dir,
        kit.release,
        made.log
    );
    let source = stage.main_source();
    let object = format!("{}.o", source.strip_suffix(".rs").unwrap_or(&source));
    let (Some(chroot), Some(other_chroot)) = (&kit.chroot, &other_kit.chroot) else {
        anyhow::bail!("Rust kits are chroots");
    };
    let (version, text) =
        rust_kit::build_with_other_rustc(chroot, other_chroot, &kit.release, &made.dir, &object)?;
    step.done();
    Ok(format!(
        "{object} for {} ({}), compiled by Linux {}'s {version}:\n\n{}",
        kit.release,
        line.name,
        other.name,
        text.trim_end()
    ) + "\n")
}
