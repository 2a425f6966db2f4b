//! `workshop`: the learner's command for the workbook's exercises.
//!
//! ```text
//! cargo run --bin workshop -- list                 every exercise and its state
//! cargo run --bin workshop -- start N              your copy of exercise N, in workshop/
//! cargo run --bin workshop -- check N [--lab LINE] check your copy
//! cargo run --bin workshop -- hint N [--number K]  the next hint (or hint K)
//! cargo run --bin workshop -- solution N [--give-up]
//! cargo run --bin workshop -- progress
//! cargo run --bin workshop -- watch N [--lab LINE] check again on every save
//! ```
//!
//! Simulator exercises are checked on the simulator; kernel exercises on the
//! running kernel (root and device mapper needed: the Vagrant box), or in
//! the qemu lab with `--lab LINE` (through `cargo xtask exercises`).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::mpsc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use dm_workbook::workshop::learner::{self, Progress, Variant};
use dm_workbook::workshop::report::Report;
use dm_workbook::workshop::{self, Exercise, Kind, Manifest};

#[derive(Parser)]
#[command(
    name = "workshop",
    about = "The workbook's exercises: start one, check it, ask for hints",
    after_help = "Your copies live in workshop/ (git-ignored), or in $DMW_WORKSHOP_DIR."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Every exercise, with its kind and your state.
    List,
    /// Write exercise N's skeleton into workshop/NN-name/ (never over your work).
    Start { n: u32 },
    /// Check your copy of exercise N; writes workshop/NN-name.check.json.
    Check(CheckArgs),
    /// Show the next hint of exercise N (or hint K with --number).
    Hint {
        n: u32,
        /// Show this hint (1-based) instead of the next one.
        #[arg(long, value_name = "K")]
        number: Option<usize>,
    },
    /// Show exercise N's solution: once your check passed, or with --give-up.
    Solution {
        n: u32,
        /// Show it without having passed.
        #[arg(long)]
        give_up: bool,
    },
    /// What you have done, and what comes next.
    Progress,
    /// Check exercise N again each time a file of your copy changes.
    Watch(CheckArgs),
}

#[derive(clap::Args, Clone)]
struct CheckArgs {
    n: u32,
    /// Check a kernel exercise in the qemu lab on this kernel line (such as
    /// 6.1), instead of on the running kernel.
    #[arg(long, value_name = "LINE")]
    lab: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("workshop: {err}");
            ExitCode::from(2)
        }
    }
}

fn exercise(n: u32) -> Result<&'static Exercise, String> {
    Manifest::bundled().exercise(n).ok_or_else(|| {
        format!(
            "there is no exercise {n}: they are numbered 1 to {} (workshop list)",
            Manifest::bundled().exercises.len()
        )
    })
}

fn run(command: Cmd) -> Result<ExitCode, String> {
    let repo = workshop::repo_root();
    let root = learner::root();
    match command {
        Cmd::List => list(&root),
        Cmd::Start { n } => start(&repo, &root, exercise(n)?),
        Cmd::Check(args) => {
            let passed = check(&repo, &root, exercise(args.n)?, args.lab.as_deref())?;
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Cmd::Hint { n, number } => hint(&root, exercise(n)?, number),
        Cmd::Solution { n, give_up } => solution(&repo, &root, exercise(n)?, give_up),
        Cmd::Progress => progress(&root),
        Cmd::Watch(args) => watch(&repo, &root, exercise(args.n)?, args.lab.as_deref()),
    }
}

fn kind_text(e: &Exercise) -> &'static str {
    match e.kind {
        Kind::Kernel => "C, kernel",
        Kind::Battery => "sh, kernel",
        Kind::Simulator => "Rust, simulator",
    }
}

fn state_text(root: &Path, e: &Exercise, progress: &Progress) -> &'static str {
    let record = progress.get(e);
    match (
        record.passed,
        record.last_check,
        learner::copy_dir(root, e).is_dir(),
    ) {
        (true, Some(true), _) => "passed",
        (true, _, _) => "passed before, failing now",
        (false, Some(false), _) => "failing",
        (false, _, true) => "started",
        (false, _, false) => "not started",
    }
}

fn list(root: &Path) -> Result<ExitCode, String> {
    let progress = Progress::load(root)?;
    for e in &Manifest::bundled().exercises {
        println!(
            "{:>2}  {:<48} {:<16} {}",
            e.number(),
            e.title,
            kind_text(e),
            state_text(root, e, &progress)
        );
    }
    println!("\nStart one: cargo run --bin workshop -- start N");
    Ok(ExitCode::SUCCESS)
}

fn start(repo: &Path, root: &Path, e: &Exercise) -> Result<ExitCode, String> {
    let dir = learner::copy_dir(root, e);
    let written = learner::write_copy(repo, e, &dir, Variant::Skeleton)?;
    for file in &written {
        println!("wrote {}", file.display());
    }
    println!(
        "\nexercise {} ({}): read {}",
        e.number(),
        e.title,
        dir.join("README.md").display()
    );
    println!("then: cargo run --bin workshop -- check {}", e.number());
    if e.needs_kernel() {
        println!(
            "(as root on a kernel with device mapper, such as the Vagrant box; elsewhere add --lab 6.1)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Run one check and record it; whether it passed.
fn check(repo: &Path, root: &Path, e: &Exercise, lab: Option<&str>) -> Result<bool, String> {
    let copy = learner::copy_dir(root, e);
    if !copy.is_dir() {
        return Err(format!(
            "{} does not exist: start with `cargo run --bin workshop -- start {}`",
            copy.display(),
            e.number()
        ));
    }
    let result_file = root.join(format!("{}.check.json", e.dir));
    let report = match (e.kind, lab) {
        (Kind::Simulator, Some(_)) => {
            return Err(format!(
                "exercise {} runs on the simulator: check it without --lab",
                e.number()
            ));
        }
        (Kind::Simulator, None) => workshop::simulator::check(repo, e, &copy)?,
        (_, None) => workshop::kernel::check_here(repo, e, &copy)?,
        (_, Some(line)) => check_in_lab(repo, e, &copy, line, &result_file)?,
    };
    println!("{}", report.render(e));
    let json = serde_json::to_string_pretty(&report).map_err(|err| err.to_string())? + "\n";
    std::fs::write(&result_file, json)
        .map_err(|err| format!("writing {}: {err}", result_file.display()))?;
    println!("(the result, as JSON: {})", result_file.display());
    let mut progress = Progress::load(root)?;
    let record = progress.record(e);
    record.last_check = Some(report.passed);
    record.passed |= report.passed;
    progress.save(root)?;
    if report.passed {
        println!(
            "\nSee how the workbook solved it: cargo run --bin workshop -- solution {}",
            e.number()
        );
    }
    Ok(report.passed)
}

/// The lab runs through the maintainer's runner, which has the kits and
/// qemu: one implementation of the guest for the lab, the matrix and this.
fn check_in_lab(
    repo: &Path,
    e: &Exercise,
    copy: &Path,
    line: &str,
    result: &Path,
) -> Result<Report, String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(repo)
        .args(["xtask", "exercises", "--kernel", line])
        .arg("--learner")
        .arg(copy)
        .args(["--exercise", &e.number().to_string()])
        .arg("--result")
        .arg(result)
        .status()
        .map_err(|err| format!("running cargo xtask exercises: {err}"))?;
    let text = std::fs::read_to_string(result).map_err(|err| {
        format!(
            "the lab wrote no result ({status}; {}: {err})",
            result.display()
        )
    })?;
    serde_json::from_str(&text).map_err(|err| format!("{}: {err}", result.display()))
}

fn hint(root: &Path, e: &Exercise, number: Option<usize>) -> Result<ExitCode, String> {
    let mut progress = Progress::load(root)?;
    let record = progress.record(e);
    let k = number.unwrap_or(record.hints_shown + 1);
    if k == 0 || k > e.hints.len() {
        return Err(format!(
            "exercise {} has hints 1 to {}{}",
            e.number(),
            e.hints.len(),
            if number.is_none() {
                ": you have seen them all (or ask for the solution with --give-up)"
            } else {
                ""
            }
        ));
    }
    record.hints_shown = record.hints_shown.max(k);
    println!(
        "exercise {}, hint {k} of {}:\n\n{}",
        e.number(),
        e.hints.len(),
        e.hints[k - 1]
    );
    progress.save(root)?;
    Ok(ExitCode::SUCCESS)
}

fn solution(repo: &Path, root: &Path, e: &Exercise, give_up: bool) -> Result<ExitCode, String> {
    let progress = Progress::load(root)?;
    if !progress.get(e).passed && !give_up {
        return Err(format!(
            "the solution opens once your check passes (or with --give-up): cargo run --bin workshop -- check {}",
            e.number()
        ));
    }
    for file in &e.files {
        println!("==> {} (exercises/{}/{file}) <==", file, e.dir);
        print!("{}", learner::render(repo, e, file, Variant::Solution)?);
    }
    Ok(ExitCode::SUCCESS)
}

fn progress(root: &Path) -> Result<ExitCode, String> {
    let progress = Progress::load(root)?;
    let all = &Manifest::bundled().exercises;
    let passed = all.iter().filter(|e| progress.get(e).passed).count();
    println!("{passed} of {} exercises passed", all.len());
    for e in all {
        let record = progress.get(e);
        println!(
            "{:>2}  {:<48} {:<26} hints seen: {}/{}",
            e.number(),
            e.title,
            state_text(root, e, &progress),
            record.hints_shown,
            e.hints.len()
        );
    }
    if let Some(next) = all.iter().find(|e| !progress.get(e).passed) {
        println!("\nNext: exercise {} ({})", next.number(), next.title);
    }
    Ok(ExitCode::SUCCESS)
}

/// Check, then check again after each change to the learner's copy. The
/// `notify` crate watches the folder (inotify on Linux) and its debouncer
/// gathers an editor's burst of writes into one event.
fn watch(repo: &Path, root: &Path, e: &Exercise, lab: Option<&str>) -> Result<ExitCode, String> {
    use notify_debouncer_mini::{DebounceEventResult, new_debouncer, notify::RecursiveMode};
    let copy: PathBuf = learner::copy_dir(root, e);
    if !copy.is_dir() {
        return Err(format!("{} does not exist: start it first", copy.display()));
    }
    let (events, changes) = mpsc::channel();
    let mut debouncer = new_debouncer(
        Duration::from_millis(500),
        move |result: DebounceEventResult| {
            let _ = events.send(result);
        },
    )
    .map_err(|err| format!("watching {}: {err}", copy.display()))?;
    debouncer
        .watcher()
        .watch(&copy, RecursiveMode::NonRecursive)
        .map_err(|err| format!("watching {}: {err}", copy.display()))?;
    loop {
        let _ = check(repo, root, e, lab)?;
        // The check itself opens and reads the files, which inotify reports
        // too: only a change to what the files hold starts the next check.
        let checked = snapshot(&copy);
        println!("\nwatching {} (Ctrl-C to stop)", copy.display());
        loop {
            match changes.recv() {
                Ok(Ok(events)) if events.iter().any(|ev| is_source(&ev.path)) => {
                    if snapshot(&copy) != checked {
                        break;
                    }
                }
                Ok(Ok(_)) => continue,
                Ok(Err(err)) => return Err(format!("watching {}: {err}", copy.display())),
                Err(_) => return Ok(ExitCode::SUCCESS),
            }
        }
    }
}

/// Each source file of the copy and what it holds.
fn snapshot(copy: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(copy)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && is_source(path))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap_or_default();
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// A change worth a check: an edited source, not an editor's swap file nor
/// what a `make` in the folder built.
fn is_source(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let built = [".o", ".ko", ".mod", ".mod.c", ".cmd", ".swp", "~"];
    !name.starts_with('.')
        && name != "Module.symvers"
        && name != "modules.order"
        && !built.iter().any(|suffix| name.ends_with(suffix))
}
