//! `cargo xtask matrix`: every module stage of `module/manifest.toml` against
//! every kernel line of the lab.
//!
//! A cell is one stage on one line. Where the manifest expects `pass`, the
//! stage is built for that line's kernel, the line is booted in qemu and the
//! stage's declared scenario runs there (the lab's own run: a chapter binary
//! or the stage's script). Where it expects `fail`, the stage is built and
//! must fail with exactly the compiler errors the manifest declares for that
//! line (compared after [`diagnostics::normalise`]). A `not-applicable` cell
//! is not run.
//!
//! Kits are made and failing stages built for two lines at a time; boots go
//! one at a time as lines become ready. Each line's work holds the line's
//! lock ([`kit::lock_line`]), so a lab run beside the matrix waits its turn.
//!
//! The table and the captured errors are written under `book/src/generated/`,
//! where chapter 4 includes them; `--check` compares a fresh run with those
//! files instead of writing them. `--stage` and `--kernel` run part of the
//! matrix, which then neither writes nor compares the book's files.

mod cells;
pub mod diagnostics;
pub mod probes;
pub mod report;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dm_workbook::drift::DriftTable;
use dm_workbook::manifest::{self, Expect, KernelLine, Manifest, Scenario, Stage};

use crate::lab::build_chapter_binary;
use crate::lab::lines;
use crate::lab::progress::Progress;
use crate::{cache_dir, repo_root};
use cells::{Built, LineBoot, build_line};
pub use report::GENERATED;
use report::{
    Cell, errors_file, generated_files, other_rustc_file, other_rustc_pairs, table_markdown,
    without_volatile,
};

#[derive(clap::Args)]
pub struct MatrixArgs {
    /// Compare the fresh results with the files under book/src/generated/
    /// instead of writing them; fail on any difference. Needs the whole
    /// matrix: refused with --stage or --kernel.
    #[arg(long)]
    check: bool,

    /// Run only this stage (a folder of module/); repeatable.
    #[arg(long = "stage", value_name = "NAME")]
    stages: Vec<String>,

    /// Run only on this kernel line; repeatable.
    #[arg(long = "kernel", value_name = "LINE", value_parser = lines::kernel_arg())]
    kernels: Vec<String>,

    /// Lines whose kits are made and failing stages built at the same time.
    #[arg(long, default_value_t = 2, value_name = "N")]
    jobs: usize,

    /// Seconds a guest may run before it counts as hung.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
}

/// The stages and lines one run covers.
struct Selection<'m> {
    stages: Vec<&'m Stage>,
    lines: Vec<&'m KernelLine>,
    /// Whether this is the whole matrix, whose files the book includes.
    whole: bool,
}

impl<'m> Selection<'m> {
    fn new(manifest: &'m Manifest, stages: &[String], kernels: &[String]) -> Result<Self> {
        for name in stages {
            if manifest.stage(name).is_none() {
                let known: Vec<&str> = manifest.stages.iter().map(|s| s.dir.as_str()).collect();
                bail!(
                    "no stage {name} in {}; known: {}",
                    manifest::PATH,
                    known.join(", ")
                );
            }
        }
        let wanted =
            |list: &[String], name: &str| list.is_empty() || list.iter().any(|n| n == name);
        Ok(Selection {
            stages: (manifest.stages.iter())
                .filter(|s| wanted(stages, &s.dir))
                .collect(),
            lines: (manifest.lines.iter())
                .filter(|l| wanted(kernels, &l.name))
                .collect(),
            whole: stages.is_empty() && kernels.is_empty(),
        })
    }

    fn line_names(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.name.as_str()).collect()
    }
}

pub fn run(args: MatrixArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let manifest = Manifest::bundled();
    let selection = Selection::new(manifest, &args.stages, &args.kernels)?;
    if args.check && !selection.whole {
        bail!(
            "--check compares the whole matrix with the book's files: \
             run it without --stage and --kernel"
        );
    }
    let repo = repo_root()?;
    let cache = cache_dir()?;
    let line_names = selection.line_names();
    // The chapters whose binaries a boot runs: the passing stages' and the
    // fixed stages'.
    let passing = (selection.stages.iter())
        .filter(|s| (selection.lines.iter()).any(|l| s.expect_on(&l.name) == Some(&Expect::Pass)))
        .map(|s| &s.scenario);
    let fixed = selection.stages.iter().map(|s| &s.fixed);
    let chapters: BTreeSet<u32> = (passing.chain(fixed))
        .filter_map(|scenario| match scenario {
            Some(Scenario::Chapter(n)) => Some(*n),
            _ => None,
        })
        .collect();
    let jobs = args.jobs.max(1);
    let timeout = Duration::from_secs(args.timeout);

    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    let mut releases = BTreeMap::new();
    let mut shown = BTreeMap::new();
    let mut probe_runs = BTreeMap::new();
    for stage in &selection.stages {
        for line in &line_names {
            if let Some(Expect::NotApplicable(why)) = stage.expect_on(line) {
                cells.insert(
                    (stage.dir.clone(), line.to_string()),
                    Cell::NotApplicable(why.clone()),
                );
            }
        }
    }

    // Popped from the end: the oldest line first.
    let queue = Mutex::new(selection.lines.iter().rev().copied().collect::<Vec<_>>());
    let (ready, arrivals) = mpsc::channel::<Built>();
    std::thread::scope(|scope| -> Result<()> {
        // The chapter binaries build while the first kits download.
        let binaries = scope.spawn(|| -> Result<BTreeMap<u32, _>> {
            let progress = Progress::new();
            let mut out = BTreeMap::new();
            for n in &chapters {
                out.insert(*n, build_chapter_binary(&repo, *n, &progress)?);
            }
            Ok(out)
        });
        for _ in 0..jobs {
            let ready = ready.clone();
            let (queue, stages, cache, repo) = (&queue, &selection.stages, &cache, &repo);
            scope.spawn(move || {
                let progress = Progress::new();
                let next = || queue.lock().ok().and_then(|mut q| q.pop());
                while let Some(line) = next() {
                    let built = build_line(line, stages, cache, repo, &progress);
                    if ready.send(built).is_err() {
                        break;
                    }
                }
            });
        }
        drop(ready);

        let binaries = binaries
            .join()
            .map_err(|_| anyhow::anyhow!("building the chapter binaries panicked"))?
            .unwrap_or_else(|err| {
                eprintln!("error: {err:#}");
                BTreeMap::new()
            });
        let progress = Progress::new();
        for built in arrivals {
            let name = built.line.name.as_str();
            if let Some(r) = &built.release {
                releases.insert(name.to_string(), r.clone());
            }
            for (stage, cell) in built.cells {
                cells.insert((stage, name.to_string()), cell);
            }
            for (stage, text) in built.errors {
                shown.insert(errors_file(&stage, name), text);
            }
            probe_runs.insert(name.to_string(), built.probes);
            let fixed = built.fixed;
            // Boots, one at a time, in the order lines became ready.
            let boot = LineBoot {
                line: built.line,
                kit_made: built.release.is_some(),
                cache: &cache,
                repo: &repo,
                binaries: &binaries,
                timeout,
            };
            for stage in &selection.stages {
                if stage.expect_on(name) == Some(&Expect::Pass) {
                    let cell = boot.run(stage, &progress);
                    cells.insert((stage.dir.clone(), name.to_string()), cell);
                }
                // The doctor's fixed version of the stage, with its scenario.
                let made = fixed.iter().find(|(row, _)| *row == stage.fixed_row());
                if let Some((row, made)) = made {
                    let cell = match made {
                        Ok(folder) => boot.run_folder(folder, &stage.fixed, false, &progress),
                        Err(why) => Cell::Unexpected(format!("chapter4 doctor --fix: {why}")),
                    };
                    cells.insert((row.clone(), name.to_string()), cell);
                }
            }
        }
        Ok(())
    })?;

    // Each Rust stage compiled for one line by another line's rustc: the
    // error the book shows. Only for the whole matrix, whose files it writes.
    if selection.whole {
        let progress = Progress::new();
        for stage in &selection.stages {
            for (line, other) in other_rustc_pairs(stage) {
                let key = (stage.dir.clone(), line.clone());
                if cells.get(&key) != Some(&Cell::Pass) {
                    continue;
                }
                let ran = lines::find(&line).and_then(|l| {
                    let o = lines::find(&other)?;
                    cells::other_rustc(stage, l, o, &cache, &repo, &progress)
                });
                match ran {
                    Ok(text) => {
                        shown.insert(other_rustc_file(&stage.dir, &line), text);
                    }
                    Err(err) => {
                        let why = format!("with Linux {other}'s rustc: {err:#}");
                        cells.insert(key, Cell::Unexpected(why));
                    }
                }
            }
        }
    }

    print_table(&selection, &cells);
    let drift = DriftTable::bundled()?;
    let probes_table = probes::probes_markdown(&drift, &line_names, &probe_runs);
    println!("\nfeature probes (module/compat/probes) by line:\n{probes_table}");
    let mut unexpected = 0;
    for ((stage, line), cell) in &cells {
        if let Cell::Unexpected(why) = cell {
            unexpected += 1;
            println!("UNEXPECTED {stage} on {line}: {why}");
        }
    }
    for why in probes::problems(&drift, &probe_runs) {
        unexpected += 1;
        println!("UNEXPECTED {why}");
    }
    let rows: usize = selection.stages.iter().map(|s| s.matrix_rows().len()).sum();
    let missing = rows * line_names.len() - cells.len();

    let stale = if selection.whole {
        let stages: Vec<Stage> = selection.stages.iter().map(|s| (*s).clone()).collect();
        let mut files = BTreeMap::new();
        files.insert(
            Path::new(GENERATED).join("matrix.md"),
            table_markdown(&stages, &line_names, &cells, &releases),
        );
        files.insert(probes::probes_file(), probes_table.clone());
        let rest: Vec<_> = (generated_files(&stages).into_iter())
            .filter(|f| !files.contains_key(f))
            .collect();
        for file in rest {
            match shown.get(&file) {
                Some(text) => {
                    files.insert(file, text.clone());
                }
                // A file whose cell never built is left as it is.
                None => eprintln!("{}: no build gave its errors", file.display()),
            }
        }
        write_or_compare(&repo.join("book/src"), &files, args.check)?
    } else {
        println!("(part of the matrix: the book's files are neither written nor compared)");
        Vec::new()
    };
    for f in &stale {
        println!("STALE {f}: differs from this run (run `cargo xtask matrix` and commit)");
    }
    println!(
        "matrix: {} cells, {unexpected} unexpected, {missing} not run, {} stale files ({:.0} s)",
        cells.len(),
        stale.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(if unexpected == 0 && missing == 0 && stale.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Write the generated files under `book_src`, or with `check` compare them
/// (volatile parts masked); returns the files that differ.
fn write_or_compare(
    book_src: &Path,
    files: &BTreeMap<std::path::PathBuf, String>,
    check: bool,
) -> Result<Vec<String>> {
    let mut stale = Vec::new();
    for (file, text) in files {
        let path = book_src.join(file);
        if check {
            let kept = fs::read_to_string(&path).unwrap_or_default();
            if without_volatile(&kept) != without_volatile(text) {
                stale.push(path.display().to_string());
            }
        } else {
            fs::create_dir_all(path.parent().context("generated folder")?)?;
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(stale)
}

fn print_table(selection: &Selection, cells: &BTreeMap<(String, String), Cell>) {
    println!();
    print!("{:<20}", "stage");
    for l in &selection.lines {
        print!(" {:<24}", l.name);
    }
    println!();
    for row in selection.stages.iter().flat_map(|s| s.matrix_rows()) {
        print!("{row:<20}");
        for l in &selection.lines {
            let c = cells
                .get(&(row.clone(), l.name.clone()))
                .map(Cell::short)
                .unwrap_or_else(|| "not run".into());
            print!(" {c:<24}");
        }
        println!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_pick_stages_and_lines() {
        let m = Manifest::bundled();
        let all = Selection::new(m, &[], &[]).unwrap();
        assert!(all.whole);
        assert_eq!(all.stages.len(), m.stages.len());
        assert_eq!(all.line_names(), m.line_names());
        let dir = m.stages[0].dir.clone();
        let part = Selection::new(m, std::slice::from_ref(&dir), &["6.1".into()]).unwrap();
        assert!(!part.whole);
        assert_eq!(part.stages.len(), 1);
        assert_eq!(part.line_names(), ["6.1"]);
        let err = Selection::new(m, &["no-such-stage".into()], &[])
            .err()
            .unwrap();
        assert!(err.to_string().contains("no stage no-such-stage"), "{err}");
    }
}
