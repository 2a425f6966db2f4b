//! Checking a Rust exercise on the simulator.
//!
//! The learner's file becomes the library `exercise` of a small package
//! written under `target/workshop/NN-name/`, whose one test file is the
//! exercise's hidden `check.rs`; `cargo test` builds and runs it against
//! this checkout's `dm-workbook`. Each test is one step of the check. The
//! package shares the checkout's `Cargo.lock` (the same crate versions, no
//! resolving) and its `target/` folder (the library is built once).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::report::Report;
use super::{Exercise, Kind};

/// The package's manifest for `exercise`, with `source` as its library.
fn package_manifest(repo: &Path, exercise: &Exercise, source: &Path) -> String {
    let check = repo.join(exercise.folder()).join("check.rs");
    format!(
        "# Written by the workshop's check: the learner's file against the\n\
         # exercise's check, on this checkout's simulator.\n\
         [package]\nname = \"workshop-{id}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [lib]\nname = \"exercise\"\npath = {source:?}\n\n\
         [[test]]\nname = \"check\"\npath = {check:?}\n\n\
         [dependencies]\ndm-workbook = {{ path = {repo:?} }}\ntempfile = \"3\"\n\n\
         # A package of its own, not a member of the checkout's workspace.\n[workspace]\n",
        id = exercise.id(),
        source = source.display().to_string(),
        check = check.display().to_string(),
        repo = repo.display().to_string(),
    )
}

/// Check the learner's copy in `dir` (holding `exercise.files[0]`).
pub fn check(repo: &Path, exercise: &Exercise, dir: &Path) -> Result<Report, String> {
    assert_eq!(exercise.kind, Kind::Simulator);
    let started = Instant::now();
    let repo = std::fs::canonicalize(repo).map_err(|e| format!("{}: {e}", repo.display()))?;
    let source = dir.join(&exercise.files[0]);
    let source = std::fs::canonicalize(&source).map_err(|e| {
        format!(
            "{}: {e} (run `workshop start {}` first)",
            source.display(),
            exercise.number()
        )
    })?;
    let package = package_dir(&repo, exercise, dir);
    std::fs::create_dir_all(&package).map_err(|e| format!("making {}: {e}", package.display()))?;
    let manifest = package.join("Cargo.toml");
    std::fs::write(&manifest, package_manifest(&repo, exercise, &source))
        .map_err(|e| format!("writing {}: {e}", manifest.display()))?;
    std::fs::copy(repo.join("Cargo.lock"), package.join("Cargo.lock"))
        .map_err(|e| format!("copying Cargo.lock: {e}"))?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .arg("test")
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--target-dir")
        .arg(repo.join("target"))
        .args(["--", "--test-threads=1"])
        .env("CARGO_TERM_COLOR", "never")
        .env("RUST_BACKTRACE", "0")
        .output()
        .map_err(|e| format!("running cargo: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut report = Report::new(exercise, "simulator");
    judge(exercise, &stdout, &stderr, &mut report);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Where the package for a copy in `dir` is written: one per copy, so a
/// skeleton's and a solution's checks do not share one.
fn package_dir(repo: &Path, exercise: &Exercise, dir: &Path) -> PathBuf {
    let tag: u32 = dir
        .to_string_lossy()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
    repo.join("target/workshop")
        .join(format!("{}-{tag:08x}", exercise.dir))
}

/// Fill `report` from cargo's output: a build that failed fails the
/// `build` step with its first errors; otherwise each test is a step.
pub fn judge(exercise: &Exercise, stdout: &str, stderr: &str, report: &mut Report) {
    let results = test_results(stdout);
    if results.is_empty() {
        let errors: Vec<&str> = stderr
            .lines()
            .skip_while(|l| !l.starts_with("error"))
            .take(12)
            .collect();
        let detail = if errors.is_empty() {
            stderr.lines().rev().take(8).collect::<Vec<_>>().join("\n")
        } else {
            errors.join("\n")
        };
        report.fail(
            exercise,
            "build",
            format!("your file does not build:\n{detail}"),
        );
        report.finish(exercise);
        return;
    }
    report.pass(exercise, "build");
    for step in &exercise.steps {
        match results.iter().find(|(name, _)| *name == step.id) {
            Some((_, true)) => report.pass(exercise, &step.id),
            Some((_, false)) => {
                let why = panic_message(stdout, &step.id)
                    .unwrap_or_else(|| "the test failed".to_string());
                report.fail(exercise, &step.id, why);
            }
            None => {}
        }
    }
    report.output = stdout.lines().map(str::to_string).collect();
    report.finish(exercise);
}

/// `test NAME ... ok` and `test NAME ... FAILED` lines.
fn test_results(stdout: &str) -> Vec<(&str, bool)> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("test "))
        .filter_map(|l| l.split_once(" ... "))
        .map(|(name, verdict)| (name.trim(), verdict.trim() == "ok"))
        .collect()
}

/// The panic message of test `name` from its `---- name stdout ----` part.
fn panic_message(stdout: &str, name: &str) -> Option<String> {
    let header = format!("---- {name} stdout ----");
    let part = stdout.split_once(&header)?.1;
    let part = part.split("\n---- ").next().unwrap_or(part);
    let message: Vec<&str> = part
        .lines()
        .skip_while(|l| !l.contains("panicked at"))
        .skip(1)
        .take_while(|l| {
            !l.starts_with("note:") && !l.starts_with("stack backtrace:") && !l.trim().is_empty()
        })
        .take(8)
        .map(|l| match l.char_indices().nth(240) {
            Some((at, _)) => &l[..at],
            None => l,
        })
        .collect();
    (!message.is_empty()).then(|| message.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workshop::{Manifest, report::Outcome};

    fn reverse() -> &'static Exercise {
        Manifest::bundled()
            .exercises
            .iter()
            .find(|e| e.kind == Kind::Simulator)
            .unwrap()
    }

    #[test]
    fn reads_libtests_verdicts_and_messages() {
        let e = reverse();
        let (a, b) = (&e.steps[0].id, &e.steps[1].id);
        let stdout = format!(
            "\nrunning 2 tests\ntest {a} ... ok\ntest {b} ... FAILED\n\nfailures:\n\n\
             ---- {b} stdout ----\n\nthread '{b}' panicked at check.rs:10:5:\n\
             assertion failed: the bio went elsewhere\nnote: run with `RUST_BACKTRACE=1`\n\n"
        );
        let mut report = Report::new(e, "simulator");
        judge(e, &stdout, "", &mut report);
        assert!(!report.passed);
        let failed = report.first_failure().unwrap();
        assert_eq!(&failed.id, b);
        assert_eq!(
            failed.detail.as_deref(),
            Some("assertion failed: the bio went elsewhere")
        );
        assert_eq!(report.steps[0].id, "build");
        assert_eq!(report.steps[1].outcome, Outcome::Passed);
    }

    #[test]
    fn a_build_error_fails_the_build_step() {
        let e = reverse();
        let mut report = Report::new(e, "simulator");
        judge(
            e,
            "",
            "   Compiling x\nerror[E0425]: cannot find value `chunk`\n  --> reverse.rs:3:1\n",
            &mut report,
        );
        let failed = report.first_failure().unwrap();
        assert_eq!(failed.id, "build");
        assert!(failed.detail.as_ref().unwrap().contains("E0425"));
    }
}
