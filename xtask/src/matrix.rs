//! `cargo xtask matrix`: every module stage of `module/stages.toml` against
//! every kernel line of the lab.
//!
//! A cell is one stage on one line. Where the manifest expects `pass`, the
//! stage is built for that line's kernel, the line is booted in qemu and the
//! stage's chapter scenario runs there (the lab's own run, as `cargo xtask
//! lab --kernel LINE --chapter N` does). Where it expects `fail`, the stage is
//! built and must fail with exactly the compiler errors the manifest declares
//! for that line (compared after [`normalise`]).
//!
//! Kits are made and failing stages built for two lines at a time; boots go
//! one at a time as lines become ready. Each line's work holds the lab's lock
//! for that line, so a lab run beside the matrix waits its turn.
//!
//! The table and the captured errors are written under `book/src/generated/`,
//! where chapter 4 includes them; `--check` compares a fresh run with those
//! files instead of writing them.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::lab::guest::Scenario;
use crate::lab::lines::{self, KernelLine};
use crate::lab::progress::Progress;
use crate::lab::{LineRun, build_chapter_binary, kit};
use crate::{cache_dir, repo_root};

#[derive(clap::Args)]
pub struct MatrixArgs {
    /// Compare the fresh results with the files under book/src/generated/
    /// instead of writing them; fail on any difference.
    #[arg(long)]
    check: bool,

    /// Lines whose kits are made and failing stages built at the same time.
    #[arg(long, default_value_t = 2, value_name = "N")]
    jobs: usize,

    /// Seconds a guest may run before it counts as hung.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    timeout: u64,
}

/// The manifest, relative to the repository.
pub const MANIFEST: &str = "module/stages.toml";
/// Where the generated files go, relative to the book's source folder.
pub const GENERATED: &str = "generated";

/// What a stage must do on a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Build, load and run its scenario.
    Pass,
    /// Fail to build, with the declared errors.
    Fail,
}

/// One stage of the manifest.
#[derive(Debug, PartialEq, Eq)]
pub struct Stage {
    /// Its folder under `module/`.
    pub dir: String,
    /// The chapter whose scenario it runs where it must pass.
    pub chapter: Option<u32>,
    pub expect: BTreeMap<String, Expect>,
    /// Where it must fail: the normalised compiler errors, per line.
    pub errors: BTreeMap<String, BTreeSet<String>>,
}

/// Read `module/stages.toml`. Every stage must say what it does on each of
/// `lines`; a stage expected to pass somewhere names its chapter, and one
/// expected to fail declares that line's errors.
pub fn parse_manifest(text: &str, lines: &[&str]) -> Result<Vec<Stage>> {
    let table: toml::Table = toml::from_str(text).context("parsing the stage manifest")?;
    let list = table
        .get("stage")
        .and_then(|s| s.as_array())
        .context("the manifest has no [[stage]]")?;
    let mut stages = Vec::new();
    for entry in list {
        let entry = entry.as_table().context("a [[stage]] is not a table")?;
        let dir = entry
            .get("dir")
            .and_then(|d| d.as_str())
            .context("a stage has no `dir`")?
            .to_string();
        let chapter = match entry.get("chapter") {
            None => None,
            Some(c) => Some(
                c.as_integer()
                    .and_then(|n| u32::try_from(n).ok())
                    .with_context(|| format!("{dir}: `chapter` is not a chapter number"))?,
            ),
        };
        let mut expect = BTreeMap::new();
        let declared = entry
            .get("expect")
            .and_then(|e| e.as_table())
            .with_context(|| format!("{dir}: no `expect` table"))?;
        for (line, value) in declared {
            ensure!(
                lines.contains(&line.as_str()),
                "{dir}: `expect` names {line}, which is no kernel line"
            );
            let e = match value.as_str() {
                Some("pass") => Expect::Pass,
                Some("fail") => Expect::Fail,
                _ => bail!("{dir}: expect.\"{line}\" must be \"pass\" or \"fail\""),
            };
            expect.insert(line.clone(), e);
        }
        let mut errors = BTreeMap::new();
        if let Some(declared) = entry.get("errors") {
            let declared = declared
                .as_table()
                .with_context(|| format!("{dir}: `errors` is not a table"))?;
            for (line, list) in declared {
                let list = list
                    .as_array()
                    .with_context(|| format!("{dir}: errors.\"{line}\" is not a list"))?;
                let mut set = BTreeSet::new();
                for e in list {
                    let e = e.as_str().with_context(|| {
                        format!("{dir}: errors.\"{line}\" holds something not a string")
                    })?;
                    set.insert(normalise_message(e));
                }
                ensure!(
                    expect.get(line) == Some(&Expect::Fail),
                    "{dir}: errors are declared for {line}, where the stage is not expected to fail"
                );
                errors.insert(line.clone(), set);
            }
        }
        for line in lines {
            match expect.get(*line) {
                None => bail!("{dir}: `expect` says nothing about {line}"),
                Some(Expect::Pass) => ensure!(
                    chapter.is_some(),
                    "{dir}: expected to pass on {line}, but names no `chapter` to run"
                ),
                Some(Expect::Fail) => ensure!(
                    errors.get(*line).is_some_and(|e| !e.is_empty()),
                    "{dir}: expected to fail on {line}, but declares no errors for it"
                ),
            }
        }
        stages.push(Stage {
            dir,
            chapter,
            expect,
            errors,
        });
    }
    ensure!(!stages.is_empty(), "the manifest lists no stage");
    Ok(stages)
}

/// A message with the compiler's typographic quotes made plain and runs of
/// blanks made one.
pub fn normalise_message(message: &str) -> String {
    let plain: String = message
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '`' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            c => c,
        })
        .collect();
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A compiler diagnostic line taken apart: `FILE:LINE:COL: KIND: MESSAGE`.
#[derive(Debug, PartialEq, Eq)]
pub struct Diagnostic<'a> {
    pub file: &'a str,
    pub line: u32,
    pub column: u32,
    /// `error`, `fatal error`, `warning` or `note`.
    pub kind: &'a str,
    pub message: &'a str,
}

pub fn diagnostic(text: &str) -> Option<Diagnostic<'_>> {
    let mut parts = text.splitn(5, ':');
    let file = parts.next()?;
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    let kind = parts.next()?.trim();
    let message = parts.next()?.trim();
    if file.is_empty() || file.contains(' ') {
        return None;
    }
    Some(Diagnostic {
        file,
        line,
        column,
        kind,
        message,
    })
}

/// The error of one compiler line, normalised: position gone, quotes plain.
/// `None` for anything that is not an error (notes, warnings, make's chatter).
pub fn normalise(text: &str) -> Option<String> {
    let d = diagnostic(text)?;
    match d.kind {
        "error" => Some(normalise_message(d.message)),
        "fatal error" => Some(format!("fatal: {}", normalise_message(d.message))),
        _ => None,
    }
}

/// Every distinct error in a build log.
pub fn error_set(log: &str) -> BTreeSet<String> {
    log.lines().filter_map(normalise).collect()
}

/// A build log's errors and notes as the book shows them: the module's own
/// file by name, a kernel header from `include/`, quotes plain.
pub fn shown_diagnostics(log: &str) -> String {
    let mut out = String::new();
    for l in log.lines() {
        let Some(d) = diagnostic(l) else { continue };
        if !matches!(d.kind, "error" | "fatal error" | "note") {
            continue;
        }
        let file = match d.file.find("/include/") {
            Some(at) => &d.file[at + 1..],
            None => d.file.rsplit('/').next().unwrap_or(d.file),
        };
        out += &format!(
            "{file}:{}:{}: {}: {}\n",
            d.line,
            d.column,
            d.kind,
            normalise_message(d.message)
        );
    }
    out
}

/// One cell's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Pass,
    ExpectedFail { errors: usize },
    Unexpected(String),
}

impl Cell {
    fn short(&self) -> String {
        match self {
            Cell::Pass => "pass".to_string(),
            Cell::ExpectedFail { errors } => format!("expected-fail ({errors} errors)"),
            Cell::Unexpected(_) => "UNEXPECTED".to_string(),
        }
    }
}

/// A fail cell: compare the errors found with those declared.
pub fn judge_failure(built: bool, found: &BTreeSet<String>, declared: &BTreeSet<String>) -> Cell {
    if built {
        return Cell::Unexpected("it built, but is declared to fail".into());
    }
    if found == declared {
        return Cell::ExpectedFail {
            errors: found.len(),
        };
    }
    let mut why = Vec::new();
    let missing: Vec<&String> = declared.difference(found).collect();
    let extra: Vec<&String> = found.difference(declared).collect();
    if !missing.is_empty() {
        why.push(format!("declared but not seen: {missing:?}"));
    }
    if !extra.is_empty() {
        why.push(format!("seen but not declared: {extra:?}"));
    }
    if found.is_empty() {
        why.push("the build failed without a compiler error".into());
    }
    Cell::Unexpected(why.join("; "))
}

/// The generated files' paths relative to the book's source folder, from
/// the manifest: the table, and one error file per failing stage and line.
pub fn generated_files(stages: &[Stage]) -> Vec<PathBuf> {
    let mut files = vec![Path::new(GENERATED).join("matrix.md")];
    for s in stages {
        for line in s.errors.keys() {
            files.push(errors_file(&s.dir, line));
        }
    }
    files
}

fn errors_file(stage: &str, line: &str) -> PathBuf {
    Path::new(GENERATED).join(format!("{stage}-errors-{line}.txt"))
}

/// The generated files the listing checker accepts: those the manifest at
/// `module/stages.toml` (read through `read`) makes the matrix write.
pub fn generated_by_manifest(manifest: Option<String>) -> Vec<PathBuf> {
    let names: Vec<&str> = lines::LINES.iter().map(|l| l.name).collect();
    manifest
        .and_then(|text| parse_manifest(&text, &names).ok())
        .map(|stages| generated_files(&stages))
        .unwrap_or_default()
}

/// Each stage's C source, `module/DIR/TARGET.c`, from the manifest's text.
pub fn stage_sources(manifest: Option<String>) -> Vec<PathBuf> {
    let Some(table) = manifest.and_then(|t| toml::from_str::<toml::Table>(&t).ok()) else {
        return Vec::new();
    };
    let stages = table.get("stage").and_then(|s| s.as_array());
    stages
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let dir = s.get("dir")?.as_str()?;
            let target = s.get("target")?.as_str()?;
            Some(Path::new("module").join(dir).join(format!("{target}.c")))
        })
        .collect()
}

/// The stage × line table, as Markdown.
pub fn table_markdown(
    stages: &[Stage],
    line_names: &[&str],
    cells: &BTreeMap<(String, String), Cell>,
    releases: &BTreeMap<String, String>,
) -> String {
    let mut t = String::from(
        "<!-- Written by `cargo xtask matrix` from module/stages.toml; do not edit. -->\n\n",
    );
    t += "| stage |";
    for l in line_names {
        t += &format!(" {l} |");
    }
    t += "\n| --- |";
    for _ in line_names {
        t += " --- |";
    }
    t.push('\n');
    for s in stages {
        t += &format!("| `{}` |", s.dir);
        for l in line_names {
            let cell = cells
                .get(&(s.dir.clone(), l.to_string()))
                .map(Cell::short)
                .unwrap_or_else(|| "not run".into());
            t += &format!(" {cell} |");
        }
        t.push('\n');
    }
    t += "\nKernels: ";
    let named: Vec<String> = line_names
        .iter()
        .map(|l| match releases.get(*l) {
            Some(r) => format!("{l} is Debian's `{r}`"),
            None => format!("{l} was not reached"),
        })
        .collect();
    t += &named.join(", ");
    t += ".\n";
    t
}

/// What the build phase of one line found.
struct Built {
    line: &'static KernelLine,
    release: Option<String>,
    cells: Vec<(String, Cell)>,
    errors: Vec<(String, String)>,
}

pub fn run(args: MatrixArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let repo = repo_root()?;
    let cache = cache_dir()?;
    let line_names: Vec<&str> = lines::LINES.iter().map(|l| l.name).collect();
    let manifest =
        fs::read_to_string(repo.join(MANIFEST)).with_context(|| format!("reading {MANIFEST}"))?;
    let stages = parse_manifest(&manifest, &line_names)?;
    let chapters: BTreeSet<u32> = stages.iter().filter_map(|s| s.chapter).collect();
    let jobs = args.jobs.max(1);
    let timeout = Duration::from_secs(args.timeout);

    let mut cells: BTreeMap<(String, String), Cell> = BTreeMap::new();
    let mut releases = BTreeMap::new();
    let mut shown = BTreeMap::new();

    // Popped from the end: the oldest line first.
    let queue = Mutex::new(lines::LINES.iter().rev().collect::<Vec<_>>());
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
            let (queue, stages, cache, repo) = (&queue, &stages, &cache, &repo);
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
            .map_err(|_| anyhow::anyhow!("building the chapter binaries panicked"))?;
        let binaries = match binaries {
            Ok(b) => Some(b),
            Err(err) => {
                eprintln!("error: {err:#}");
                None
            }
        };
        let progress = Progress::new();
        for built in arrivals {
            let name = built.line.name;
            if let Some(r) = &built.release {
                releases.insert(name.to_string(), r.clone());
            }
            for (stage, cell) in built.cells {
                cells.insert((stage, name.to_string()), cell);
            }
            for (stage, text) in built.errors {
                shown.insert(errors_file(&stage, name), text);
            }
            // Boots, one at a time, in the order lines became ready.
            for stage in &stages {
                if stage.expect.get(name) != Some(&Expect::Pass) {
                    continue;
                }
                let key = (stage.dir.clone(), name.to_string());
                if built.release.is_none() {
                    cells.insert(
                        key,
                        Cell::Unexpected("the line's kit could not be made".into()),
                    );
                    continue;
                }
                let chapter = stage.chapter.unwrap_or_default();
                let cell = match binaries.as_ref().and_then(|b| b.get(&chapter)) {
                    None => Cell::Unexpected(format!("no chapter{chapter} binary to run")),
                    Some((bin, run)) => {
                        let scenario = Scenario::Chapter(run);
                        let module_dir = repo.join("module").join(&stage.dir);
                        let lab = LineRun {
                            line: built.line,
                            cache: &cache,
                            repo: &repo,
                            module_dir: &module_dir,
                            own_stage: true,
                            scenario: &scenario,
                            script: b"",
                            chapter_bin: Some(bin),
                            timeout,
                        };
                        match lab.run(&progress) {
                            Ok(o) if o.problems.is_empty() => Cell::Pass,
                            Ok(o) => Cell::Unexpected(o.problems.join("; ")),
                            Err(err) => Cell::Unexpected(format!("{err:#}")),
                        }
                    }
                };
                cells.insert(key, cell);
            }
        }
        Ok(())
    })?;

    // Print the table.
    println!();
    print!("{:<20}", "stage");
    for l in &line_names {
        print!(" {l:<24}");
    }
    println!();
    for s in &stages {
        print!("{:<20}", s.dir);
        for l in &line_names {
            let c = cells
                .get(&(s.dir.clone(), l.to_string()))
                .map(Cell::short)
                .unwrap_or_else(|| "not run".into());
            print!(" {c:<24}");
        }
        println!();
    }
    let mut unexpected = 0;
    for ((stage, line), cell) in &cells {
        if let Cell::Unexpected(why) = cell {
            unexpected += 1;
            println!("UNEXPECTED {stage} on {line}: {why}");
        }
    }
    let missing = stages.len() * line_names.len() - cells.len();

    let mut files = BTreeMap::new();
    files.insert(
        Path::new(GENERATED).join("matrix.md"),
        table_markdown(&stages, &line_names, &cells, &releases),
    );
    for file in generated_files(&stages).into_iter().skip(1) {
        match shown.get(&file) {
            Some(text) => {
                files.insert(file, text.clone());
            }
            // An error file whose cell never built is left as it is.
            None => eprintln!("{}: no build gave its errors", file.display()),
        }
    }
    let book_src = repo.join("book/src");
    let mut stale = Vec::new();
    for (file, text) in &files {
        let path = book_src.join(file);
        if args.check {
            let kept = fs::read_to_string(&path).unwrap_or_default();
            if without_volatile(&kept) != without_volatile(text) {
                stale.push(path.display().to_string());
            }
        } else {
            fs::create_dir_all(path.parent().context("generated folder")?)?;
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
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

/// What `--check` compares: the files as written, but with what changes under
/// the book's feet masked. Debian rebuilds each kernel line every few weeks,
/// which changes its release name and moves lines in the kernel's headers;
/// neither changes what the book explains. The stage's own file and line
/// numbers, and every message, are compared exactly.
fn without_volatile(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = crate::lab::without_releases(line);
            // `include/linux/device-mapper.h:179:35: note: ...`
            let Some((place, rest)) = line.split_once(": ") else {
                return line;
            };
            let mut parts = place.split(':');
            let file = parts.next().unwrap_or_default();
            let numbered = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            let kernel_header = file.ends_with(".h") && file.contains('/');
            if numbered && kernel_header {
                format!("{file}:<line>: {rest}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// One line's build phase, under the lab's lock for that line: make its
/// kit, and build each stage expected to fail there.
fn build_line(
    line: &'static KernelLine,
    stages: &[Stage],
    cache: &Path,
    repo: &Path,
    progress: &Progress,
) -> Built {
    let mut built = Built {
        line,
        release: None,
        cells: Vec::new(),
        errors: Vec::new(),
    };
    let failing: Vec<&Stage> = stages
        .iter()
        .filter(|s| s.expect.get(line.name) == Some(&Expect::Fail))
        .collect();
    let result = (|| -> Result<()> {
        let lock = line_lock(cache, line.name, progress)?;
        let kit = kit::prepare(line, cache, progress)?;
        built.release = Some(kit.release.clone());
        let work = cache.join("lines").join(line.name).join("matrix-build");
        for stage in &failing {
            let step = progress.step(format!("{}: building {}", line.name, stage.dir));
            let made = kit.make_module(
                &repo.join("module").join(&stage.dir),
                &repo.join("module/compat"),
                &work,
            )?;
            let found = error_set(&made.log);
            let declared = stage.errors.get(line.name).cloned().unwrap_or_default();
            let cell = judge_failure(made.success, &found, &declared);
            step.done_with(cell.short());
            built.cells.push((stage.dir.clone(), cell));
            if !made.success {
                built
                    .errors
                    .push((stage.dir.clone(), shown_diagnostics(&made.log)));
            }
        }
        drop(lock);
        Ok(())
    })();
    if let Err(err) = result {
        let why = format!("{err:#}");
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

/// The lab's lock for one line (see `LineRun::run`).
fn line_lock(cache: &Path, line: &str, progress: &Progress) -> Result<fs::File> {
    fs::create_dir_all(cache.join("lines"))?;
    let lock = fs::File::create(cache.join("lines").join(format!("{line}.lock")))?;
    if lock.try_lock().is_err() {
        let step = progress.step(format!("{line}: waiting for another lab on this line"));
        lock.lock()?;
        step.done();
    }
    Ok(lock)
}

#[cfg(test)]
mod volatile_tests {
    use super::without_volatile;

    #[test]
    fn header_lines_and_releases_are_masked_the_stage_is_not() {
        let a = "include/linux/device-mapper.h:179:35: note: expected\n\
                 hello_target.c:52:13: error: too many arguments\n\
                 6.1 is Debian's `6.1.0-56-amd64`.";
        let b = "include/linux/device-mapper.h:181:35: note: expected\n\
                 hello_target.c:52:13: error: too many arguments\n\
                 6.1 is Debian's `6.1.0-57-amd64`.";
        assert_eq!(without_volatile(a), without_volatile(b));
        let moved = a.replace("hello_target.c:52:13", "hello_target.c:53:13");
        assert_ne!(without_volatile(a), without_volatile(&moved));
        let other = a.replace("too many", "too few");
        assert_ne!(without_volatile(a), without_volatile(&other));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: [&str; 2] = ["6.1", "7.2"];

    #[test]
    fn error_lines_lose_their_position_and_typographic_quotes() {
        let gcc = "/build/stage0-historical/hello_target.c:52:13: error: too many arguments \
                   to function \u{2018}dm_get_device\u{2019}";
        assert_eq!(
            normalise(gcc).as_deref(),
            Some("too many arguments to function 'dm_get_device'")
        );
        let spaced = "x.c:1:2: error: from \u{2018}int (*)(status_type_t,  char *)\u{2019}";
        assert_eq!(
            normalise(spaced).as_deref(),
            Some("from 'int (*)(status_type_t, char *)'")
        );
        assert_eq!(
            normalise("x.c:3:4: fatal error: foo.h: No such file or directory").as_deref(),
            Some("fatal: foo.h: No such file or directory")
        );
        // Not errors: notes, warnings, make and cc1 chatter, source echoes.
        for other in [
            "include/linux/device-mapper.h:183:5: note: declared here",
            "x.c:9:1: warning: unused variable 'r'",
            "cc1: some warnings being treated as errors",
            "make[2]: *** [scripts/Makefile.build:250: x.o] Error 1",
            "   92 |     DMWARN(\"I/O error %d at sector %llu\", error,",
        ] {
            assert_eq!(normalise(other), None, "{other}");
        }
    }

    #[test]
    fn the_error_set_is_distinct_errors() {
        let log = "a.c:81:12: error: \u{2018}struct bio\u{2019} has no member named \u{2018}bi_sector\u{2019}\n\
                   a.c:81:42: error: 'struct bio' has no member named 'bi_sector'\n\
                   a.c:93:1: note: in expansion of macro 'DMWARN'\n";
        let set = error_set(log);
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            ["'struct bio' has no member named 'bi_sector'"]
        );
    }

    #[test]
    fn shown_diagnostics_keep_errors_and_notes_with_short_paths() {
        let log = "  CC [M]  /tmp/w/stage0/hello_target.c\n\
                   /tmp/w/stage0/hello_target.c:52:13: error: too many arguments to function \u{2018}f\u{2019}\n\
                   /c/linux-headers-6.1.0-56-common/include/linux/device-mapper.h:183:5: note: declared here\n\
                   cc1: some warnings being treated as errors\n";
        assert_eq!(
            shown_diagnostics(log),
            "hello_target.c:52:13: error: too many arguments to function 'f'\n\
             include/linux/device-mapper.h:183:5: note: declared here\n"
        );
    }

    #[test]
    fn failing_cells_must_fail_with_exactly_the_declared_errors() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let declared = set(&["a", "b"]);
        assert_eq!(
            judge_failure(false, &set(&["b", "a"]), &declared),
            Cell::ExpectedFail { errors: 2 }
        );
        assert!(matches!(
            judge_failure(true, &set(&[]), &declared),
            Cell::Unexpected(why) if why.contains("it built")
        ));
        assert!(matches!(
            judge_failure(false, &set(&["a"]), &declared),
            Cell::Unexpected(why) if why.contains("declared but not seen: [\"b\"]")
        ));
        assert!(matches!(
            judge_failure(false, &set(&["a", "b", "c"]), &declared),
            Cell::Unexpected(why) if why.contains("seen but not declared: [\"c\"]")
        ));
    }

    const GOOD: &str = r#"
[[stage]]
dir = "old"
expect = { "6.1" = "fail", "7.2" = "fail" }
[stage.errors]
"6.1" = ["too many arguments to function ‘dm_get_device’"]
"7.2" = ["x", "y"]

[[stage]]
dir = "new"
chapter = 3
expect = { "6.1" = "pass", "7.2" = "pass" }
"#;

    #[test]
    fn reads_the_manifest() {
        let stages = parse_manifest(GOOD, &LINES).unwrap();
        assert_eq!(stages.len(), 2);
        assert_eq!(stages[0].dir, "old");
        assert_eq!(stages[0].chapter, None);
        assert_eq!(stages[0].expect["7.2"], Expect::Fail);
        // Declared errors are normalised as the compiler's are.
        assert!(stages[0].errors["6.1"].contains("too many arguments to function 'dm_get_device'"));
        assert_eq!(stages[0].errors["7.2"].len(), 2);
        assert_eq!(stages[1].chapter, Some(3));
        assert_eq!(stages[1].expect["6.1"], Expect::Pass);
        assert!(stages[1].errors.is_empty());
        assert_eq!(
            generated_files(&stages),
            [
                PathBuf::from("generated/matrix.md"),
                PathBuf::from("generated/old-errors-6.1.txt"),
                PathBuf::from("generated/old-errors-7.2.txt"),
            ]
        );
    }

    #[test]
    fn refuses_manifests_that_leave_a_cell_undecided() {
        let cases = [
            // A line not covered.
            (
                "[[stage]]\ndir = \"a\"\nchapter = 3\nexpect = { \"6.1\" = \"pass\" }\n",
                "7.2",
            ),
            // A passing stage with nothing to run.
            (
                "[[stage]]\ndir = \"a\"\nexpect = { \"6.1\" = \"pass\", \"7.2\" = \"pass\" }\n",
                "chapter",
            ),
            // A failing stage without its errors.
            (
                "[[stage]]\ndir = \"a\"\nexpect = { \"6.1\" = \"fail\", \"7.2\" = \"fail\" }\n\
                 [stage.errors]\n\"6.1\" = [\"x\"]\n",
                "no errors for it",
            ),
            // Errors where the stage passes.
            (
                "[[stage]]\ndir = \"a\"\nchapter = 3\nexpect = { \"6.1\" = \"pass\", \"7.2\" = \"pass\" }\n\
                 [stage.errors]\n\"6.1\" = [\"x\"]\n",
                "not expected to fail",
            ),
            // An unknown line, an unknown verdict.
            (
                "[[stage]]\ndir = \"a\"\nexpect = { \"2.6\" = \"fail\" }\n",
                "no kernel line",
            ),
            (
                "[[stage]]\ndir = \"a\"\nexpect = { \"6.1\" = \"maybe\" }\n",
                "\"pass\" or \"fail\"",
            ),
        ];
        for (text, why) in cases {
            let err = parse_manifest(text, &LINES).unwrap_err();
            assert!(format!("{err:#}").contains(why), "{text}: {err:#}");
        }
    }

    #[test]
    fn the_table_names_every_cell_and_kernel() {
        let stages = parse_manifest(GOOD, &LINES).unwrap();
        let mut cells = BTreeMap::new();
        cells.insert(
            ("old".to_string(), "6.1".to_string()),
            Cell::ExpectedFail { errors: 1 },
        );
        cells.insert(("new".to_string(), "6.1".to_string()), Cell::Pass);
        cells.insert(
            ("new".to_string(), "7.2".to_string()),
            Cell::Unexpected("hung".into()),
        );
        let releases = [("6.1".to_string(), "6.1.0-56-amd64".to_string())].into();
        let md = table_markdown(&stages, &LINES, &cells, &releases);
        assert!(md.contains("| stage | 6.1 | 7.2 |\n| --- | --- | --- |\n"));
        assert!(md.contains("| `old` | expected-fail (1 errors) | not run |\n"));
        assert!(md.contains("| `new` | pass | UNEXPECTED |\n"));
        assert!(md.contains("6.1 is Debian's `6.1.0-56-amd64`, 7.2 was not reached."));
    }

    #[test]
    fn the_project_manifest_parses() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let text = fs::read_to_string(root.join(MANIFEST)).unwrap();
        let names: Vec<&str> = lines::LINES.iter().map(|l| l.name).collect();
        let stages = parse_manifest(&text, &names).unwrap();
        assert!(stages.iter().any(|s| s.chapter.is_some()));
        assert!(stages.iter().any(|s| !s.errors.is_empty()));
        let sources = stage_sources(Some(text));
        assert_eq!(sources.len(), stages.len());
        for source in sources {
            assert!(root.join(&source).is_file(), "{}", source.display());
        }
    }
}
