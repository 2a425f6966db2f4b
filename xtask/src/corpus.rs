//! `cargo xtask corpus`: the drift doctor held to real compilers on real
//! targets no one in this project wrote.
//!
//! `module/corpus.toml` names Debian packages: out-of-tree targets
//! (dm-writeboost as three suites ship it) and kernel sources whose
//! drivers/md targets are built out of tree. They are fetched with a private
//! apt configuration pointed at the host's mirror and unpacked under
//! `<cache>/corpus/`; nothing of them enters the repository. Each is built on
//! every kernel line with that line's kit; the compiler's error lines are
//! read, and the doctor, asked about the same line, must name a finding at
//! each of them (a callback's finding counts at the line that assigns it).
//! A target that builds cleanly must get no finding.
//!
//! The result is `book/src/generated/corpus.md`; `--check` compares a fresh
//! run with it. Either way the run fails when a line's recall is under
//! [`LEAST_RECALL`] or a clean build gets a finding.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

use crate::apt;
use crate::lab::kit::{self, download};
use crate::lab::lines::{self, KernelLine};
use crate::lab::progress::Progress;
use crate::matrix::diagnostics::diagnostic;
use crate::{cache_dir, repo_root, run_checked};
use dm_workbook::drift::{DriftTable, Finding, Release, diagnose};

mod fixed;

/// The share of a line's compiler error lines the doctor must explain.
pub const LEAST_RECALL: f64 = 0.95;

/// Where the report goes, from the repository's top.
pub const REPORT: &str = "book/src/generated/corpus.md";

#[derive(clap::Args)]
pub struct CorpusArgs {
    /// Only these kernel lines (default: every line of the manifest).
    #[arg(long = "kernel", value_name = "LINE", value_parser = lines::kernel_arg())]
    kernels: Vec<String>,
    /// Compare with the committed report instead of writing it.
    #[arg(long)]
    check: bool,
    /// Only download and unpack the corpus into the cache (CI does this in
    /// the background while other steps run).
    #[arg(long, conflicts_with_all = ["check", "kernels"])]
    fetch_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    package: Vec<PackageEntry>,
    #[serde(default)]
    source: Vec<SourceEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PackageEntry {
    id: String,
    suites: Vec<String>,
    package: String,
    folder: String,
    /// Also build it fixed by `chapter4 doctor --fix` on each line.
    #[serde(default)]
    fix: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntry {
    id: String,
    suites: Vec<String>,
    package: String,
    tarball: String,
    targets: Vec<String>,
    /// Also build it fixed by `chapter4 doctor --fix` on each line.
    #[serde(default)]
    fix: bool,
}

/// One module folder to build, and which of its files make which target.
struct Folder {
    /// The folder's name in the report (`writeboost-sid`, `linux-5.10`).
    id: String,
    /// The package and its version, as the report names them.
    origin: String,
    dir: PathBuf,
    /// Report row → the source files (names in `dir`) that make it.
    targets: BTreeMap<String, Vec<String>>,
    /// Whether it is also built as `chapter4 doctor --fix` fixes it.
    fix: bool,
}

/// One compiler error line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ErrorLine {
    file: String,
    line: usize,
    message: String,
}

/// One target on one line.
#[derive(Debug, Default, Clone)]
struct Cell {
    errors: Vec<ErrorLine>,
    unexplained: Vec<ErrorLine>,
    /// Findings on a target that built cleanly: `file:line id`.
    clean_findings: Vec<String>,
    findings: usize,
}

pub fn run(args: CorpusArgs) -> Result<ExitCode> {
    let repo = repo_root()?;
    let cache = cache_dir()?;
    let corpus: CorpusFile = toml::from_str(
        &fs::read_to_string(repo.join("module/corpus.toml")).context("module/corpus.toml")?,
    )
    .context("module/corpus.toml")?;
    let table = DriftTable::bundled()?;
    let progress = Progress::new();
    let mut folders = Vec::new();
    for entry in &corpus.package {
        folders.push(fetch_package(entry, &cache, &progress)?);
    }
    for entry in &corpus.source {
        folders.push(fetch_source(entry, &cache, &progress)?);
    }
    if args.fetch_only {
        println!(
            "corpus: {} folders in {}",
            folders.len(),
            cache.join("corpus").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let chosen: Vec<&'static KernelLine> = if args.kernels.is_empty() {
        lines::all().iter().collect()
    } else {
        (args.kernels.iter())
            .map(|name| lines::find(name))
            .collect::<Result<_>>()?
    };
    // (line, row) → cell, as shipped and as the doctor fixes it
    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    let mut fixed_cells = BTreeMap::new();
    for line in &chosen {
        let _lock = kit::lock_line(&cache, &line.name, &progress)?;
        let kit = kit::prepare(line, &cache, &progress)?;
        // The doctor is asked about the kernel the headers are, stable
        // sublevel included, so the backports it knows count (6.1.83's dm_io).
        let release = kit.headers_release()?;
        let work = cache.join("lines").join(&line.name).join("corpus-build");
        for folder in &folders {
            let step = progress.step(format!("{}: building {}", line.name, folder.id));
            let made =
                kit.make_module_with(&folder.dir, &repo.join("module/compat"), &work, &["-k"])?;
            let errors = error_lines(&made.log);
            step.done_with(format!("{} error lines", errors.len()));
            for (row, files) in &folder.targets {
                let cell = judge(folder, files, &errors, &table, release)?;
                cells.insert((line.name.clone(), row.clone()), cell);
            }
            if !folder.fix {
                continue;
            }
            let step = progress.step(format!(
                "{}: {} through chapter4 doctor --fix",
                line.name, folder.id
            ));
            let copy = cache.join("corpus-fixed").join(&line.name).join(&folder.id);
            let applied = fixed::fix_folder(folder, &copy, &table, release)?;
            let made = kit.make_module_with(&copy, &repo.join("module/compat"), &work, &["-k"])?;
            let errors = error_lines(&made.log);
            step.done_with(format!("{} error lines left", errors.len()));
            for (row, files) in &folder.targets {
                let cell = fixed::judge_fixed(&copy, files, &applied, &errors, &table, release)?;
                fixed_cells.insert((line.name.clone(), row.clone()), cell);
            }
        }
    }
    let report =
        render(&folders, &chosen, &cells) + &fixed::render_fixed(&folders, &chosen, &fixed_cells);
    let path = repo.join(REPORT);
    let mut failed = false;
    if args.check {
        let committed = fs::read_to_string(&path).unwrap_or_default();
        if committed != report {
            eprintln!("{REPORT} differs from a fresh run: run `cargo xtask corpus` and commit it");
            failed = true;
        }
    } else if chosen.len() == lines::all().len() {
        fs::write(&path, &report)?;
        println!("wrote {REPORT}");
    } else {
        println!("(a run on some lines only: {REPORT} left as it is)");
    }
    print!("{report}");
    for line in &chosen {
        let (explained, total) = recall(&cells, &line.name);
        if total > 0 && (explained as f64) < LEAST_RECALL * total as f64 {
            eprintln!(
                "Linux {}: the doctor explains {explained} of {total} error lines, under {:.0}%",
                line.name,
                LEAST_RECALL * 100.0
            );
            failed = true;
        }
    }
    for problem in fixed::fixed_problems(&chosen, &fixed_cells) {
        eprintln!("{problem}");
        failed = true;
    }
    let noisy: Vec<_> = (cells.iter())
        .filter(|(_, cell)| !cell.clean_findings.is_empty())
        .collect();
    for ((line, row), cell) in noisy {
        eprintln!(
            "Linux {line}: {row} builds cleanly but the doctor reports {}",
            cell.clean_findings.join(", ")
        );
        failed = true;
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The error lines of a build log, each with the bare name of its file.
fn error_lines(log: &str) -> Vec<ErrorLine> {
    let mut found = BTreeSet::new();
    for text in log.lines() {
        let Some(d) = diagnostic(text) else { continue };
        if d.kind != "error" && d.kind != "fatal error" {
            continue;
        }
        let file = Path::new(d.file)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        found.insert(ErrorLine {
            file,
            line: d.line as usize,
            message: d.message.to_string(),
        });
    }
    found.into_iter().collect()
}

/// One target's errors against the doctor's findings on its files.
fn judge(
    folder: &Folder,
    files: &[String],
    errors: &[ErrorLine],
    table: &DriftTable,
    release: Release,
) -> Result<Cell> {
    let mut cell = Cell::default();
    // file → the lines a finding explains
    let mut explained: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    // file → the last lines of functions a finding sits in
    let mut ends: BTreeMap<&str, BTreeSet<usize>> = BTreeMap::new();
    let mut all_findings = Vec::new();
    for file in files {
        let bytes = fs::read(folder.dir.join(file))
            .with_context(|| format!("{}/{file}", folder.dir.display()))?;
        let source = String::from_utf8_lossy(&bytes);
        let findings: Vec<Finding> = diagnose(&source, table, release)?;
        let lines = explained.entry(file.as_str()).or_default();
        let file_ends = ends.entry(file.as_str()).or_default();
        for f in &findings {
            file_ends.extend(f.function_end);
            lines.insert(f.line);
            lines.extend(f.assigned_at.iter().copied());
            // Advice (the old form still builds) is not noise on a clean build.
            if !f.builds() {
                all_findings.push(format!("{file}:{} {}", f.line, f.change.id));
            }
        }
    }
    cell.findings = all_findings.len();
    cell.errors = (errors.iter())
        .filter(|e| files.contains(&e.file))
        .cloned()
        .collect();
    let at = |map: &BTreeMap<&str, BTreeSet<usize>>, e: &ErrorLine| {
        map.get(e.file.as_str())
            .is_some_and(|l| l.contains(&e.line))
    };
    // GCC's "control reaches end of non-void function" at a function's
    // closing brace follows from an error in its return statement: a
    // finding inside that function explains it.
    let follows = |e: &ErrorLine| {
        e.message
            .starts_with("control reaches end of non-void function")
            && at(&ends, e)
    };
    cell.unexplained = (cell.errors.iter())
        .filter(|e| !at(&explained, e) && !follows(e))
        .cloned()
        .collect();
    if cell.errors.is_empty() {
        cell.clean_findings = all_findings;
    }
    Ok(cell)
}

fn recall(cells: &BTreeMap<(String, String), Cell>, line: &str) -> (usize, usize) {
    let mut explained = 0;
    let mut total = 0;
    for ((l, _), cell) in cells {
        if l == line {
            total += cell.errors.len();
            explained += cell.errors.len() - cell.unexplained.len();
        }
    }
    (explained, total)
}

/// The book's page: a table of targets by line, the recall per line, and
/// each error line the doctor does not explain.
fn render(
    folders: &[Folder],
    chosen: &[&'static KernelLine],
    cells: &BTreeMap<(String, String), Cell>,
) -> String {
    let mut text = String::new();
    text += "| target | from | ";
    text += &(chosen.iter().map(|l| l.name.as_str()))
        .collect::<Vec<_>>()
        .join(" | ");
    text += " |\n| --- | --- |";
    text += &" --- |".repeat(chosen.len());
    text += "\n";
    for folder in folders {
        for row in folder.targets.keys() {
            text += &format!("| {row} | {} |", folder.origin);
            for line in chosen {
                let cell = &cells[&(line.name.clone(), row.clone())];
                let shown = if cell.errors.is_empty() {
                    match cell.clean_findings.len() {
                        0 => "builds".to_string(),
                        n => format!("builds, {n} findings"),
                    }
                } else {
                    let total = cell.errors.len();
                    format!("{}/{total}", total - cell.unexplained.len())
                };
                text += &format!(" {shown} |");
            }
            text += "\n";
        }
    }
    text += "| **error lines explained** | |";
    for line in chosen {
        let (explained, total) = recall(cells, &line.name);
        let share = if total == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * explained as f64 / total as f64)
        };
        text += &format!(" **{explained}/{total}** ({share}) |");
    }
    text += "\n";
    let mut missed = String::new();
    for line in chosen {
        for ((l, row), cell) in cells {
            if *l != line.name {
                continue;
            }
            for e in &cell.unexplained {
                missed += &format!(
                    "- {}: {row}: `{}:{}`: {}\n",
                    line.name, e.file, e.line, e.message
                );
            }
        }
    }
    if !missed.is_empty() {
        text += "\nError lines no finding explains:\n\n";
        text += &missed;
    }
    text
}

/// A private apt configuration for `suites` under `dir`, updated.
fn apt_for(suites: &[String], dir: &Path, progress: &Progress) -> Result<Vec<String>> {
    let apt_dir = dir.join("apt");
    fs::create_dir_all(apt_dir.join("lists/partial"))?;
    fs::create_dir_all(apt_dir.join("cache/archives/partial"))?;
    let sources = apt::host_sources()?;
    let mut list = String::new();
    for suite in suites {
        let uri = download::mirror_for(&sources, suite)
            .with_context(|| format!("no Debian mirror in the host's apt sources for {suite}"))?;
        list += &format!("deb {uri} {suite} main\n");
    }
    fs::write(apt_dir.join("sources.list"), list)?;
    let opts = download::apt_options(&apt_dir);
    let step = progress.step(format!("corpus: apt-get update ({})", suites.join(", ")));
    run_checked(Command::new("apt-get").args(&opts).arg("update"))?;
    step.done();
    Ok(opts)
}

/// Download `package` into `dir/debs` (once) and return the .deb.
fn download_deb(
    suites: &[String],
    package: &str,
    dir: &Path,
    progress: &Progress,
) -> Result<PathBuf> {
    let debs = dir.join("debs");
    let found = |debs: &Path| -> Option<PathBuf> {
        let prefix = format!("{package}_");
        fs::read_dir(debs)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
    };
    if let Some(deb) = found(&debs) {
        return Ok(deb);
    }
    let opts = apt_for(suites, dir, progress)?;
    fs::create_dir_all(&debs)?;
    let step = progress.step(format!("corpus: downloading {package}"));
    run_checked(
        Command::new("apt-get")
            .current_dir(&debs)
            .args(&opts)
            .arg("download")
            .arg(package),
    )?;
    step.done();
    found(&debs).with_context(|| format!("apt-get download {package} left no .deb"))
}

/// `dm-writeboost-dkms_2.2.19-0.1_all.deb` → `2.2.19-0.1`.
fn deb_version(deb: &Path) -> String {
    let name = deb
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.split('_').nth(1).unwrap_or("?").to_string()
}

fn fetch_package(entry: &PackageEntry, cache: &Path, progress: &Progress) -> Result<Folder> {
    let dir = cache.join("corpus").join(&entry.id);
    let deb = download_deb(&entry.suites, &entry.package, &dir, progress)?;
    let root = dir.join("root");
    if !root.exists() {
        run_checked(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
    }
    let folder = match entry.folder.strip_suffix('*') {
        None => root.join(&entry.folder),
        Some(prefix) => {
            let prefix = root.join(prefix);
            let parent = prefix.parent().context("folder has no parent")?;
            let stem = prefix
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let matches: Vec<PathBuf> = (fs::read_dir(parent)?.flatten())
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with(&stem))
                })
                .collect();
            ensure!(
                matches.len() == 1,
                "{}: {} folders match {}",
                entry.id,
                matches.len(),
                entry.folder
            );
            matches[0].clone()
        }
    };
    let files = c_files(&folder)?;
    ensure!(
        !files.is_empty(),
        "{}: no C sources in {}",
        entry.id,
        folder.display()
    );
    Ok(Folder {
        id: entry.id.clone(),
        origin: format!("{} {}", entry.package, deb_version(&deb)),
        dir: folder,
        targets: [(entry.id.clone(), files)].into(),
        fix: entry.fix,
    })
}

fn fetch_source(entry: &SourceEntry, cache: &Path, progress: &Progress) -> Result<Folder> {
    let dir = cache.join("corpus").join(&entry.id);
    let targets_dir = dir.join("targets");
    let stamp = dir.join("targets.stamp");
    let wanted = entry.targets.join(" ");
    let deb = download_deb(&entry.suites, &entry.package, &dir, progress)?;
    if fs::read_to_string(&stamp).ok().as_deref() != Some(wanted.as_str()) {
        let unpacked = dir.join("unpacked");
        if unpacked.exists() {
            fs::remove_dir_all(&unpacked)?;
        }
        fs::create_dir_all(&unpacked)?;
        let step = progress.step(format!("corpus: unpacking drivers/md of {}", entry.package));
        let tar_in_deb = format!("./{}", entry.tarball);
        run_checked(
            Command::new("sh")
                .arg("-c")
                .arg("dpkg-deb --fsys-tarfile \"$0\" | tar -x -C \"$1\" \"$2\"")
                .arg(&deb)
                .arg(&unpacked)
                .arg(&tar_in_deb),
        )?;
        let members: Vec<String> = (entry.targets.iter())
            .map(|t| format!("*/drivers/md/{t}.c"))
            .collect();
        run_checked(
            Command::new("tar")
                .arg("-xJf")
                .arg(unpacked.join(&entry.tarball))
                .arg("-C")
                .arg(&unpacked)
                .arg("--wildcards")
                .args(&members),
        )?;
        if targets_dir.exists() {
            fs::remove_dir_all(&targets_dir)?;
        }
        fs::create_dir_all(&targets_dir)?;
        let top = (fs::read_dir(&unpacked)?.flatten())
            .map(|e| e.path())
            .find(|p| p.join("drivers/md").is_dir())
            .context("no drivers/md in the source tarball")?;
        for target in &entry.targets {
            let name = format!("{target}.c");
            fs::copy(top.join("drivers/md").join(&name), targets_dir.join(&name))
                .with_context(|| format!("{}: {name}", entry.id))?;
        }
        // Each target is its own module, as in the kernel's Makefile.
        let objects: Vec<String> = entry.targets.iter().map(|t| format!("{t}.o")).collect();
        fs::write(
            targets_dir.join("Kbuild"),
            format!("obj-m := {}\n", objects.join(" ")),
        )?;
        fs::remove_dir_all(&unpacked)?;
        fs::write(&stamp, &wanted)?;
        step.done();
    }
    Ok(Folder {
        id: entry.id.clone(),
        origin: format!("{} {}", entry.package, deb_version(&deb)),
        dir: targets_dir,
        targets: (entry.targets.iter())
            .map(|t| (format!("{}/{t}", entry.id), vec![format!("{t}.c")]))
            .collect(),
        fix: entry.fix,
    })
}

/// The C sources and headers of a folder, by name.
fn c_files(dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<String> = (fs::read_dir(dir)?.flatten())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".c") || n.ends_with(".h"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no C files in {}", dir.display());
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_lines_with_their_file_name_only() {
        let log = "  CC [M]  /build/t/dm-a.c\n\
            /build/t/dm-a.c:12:5: error: 'struct bio' has no member named 'bi_sector'\n\
            /build/t/dm-a.c:12:5: note: in expansion of macro 'X'\n\
            /usr/src/h/include/linux/bio.h:3:1: warning: something\n\
            /build/t/dm-a.h:3:10: fatal error: dm.h: No such file or directory\n";
        let errors = error_lines(log);
        let seen: Vec<(&str, usize)> = errors.iter().map(|e| (e.file.as_str(), e.line)).collect();
        assert_eq!(seen, [("dm-a.c", 12), ("dm-a.h", 3)]);
    }

    #[test]
    fn the_corpus_list_parses() {
        let text = include_str!("../../module/corpus.toml");
        let corpus: CorpusFile = toml::from_str(text).expect("module/corpus.toml");
        assert!(corpus.package.len() >= 3);
        assert!(corpus.source.iter().all(|s| !s.targets.is_empty()));
    }
}
