//! Listings the lab tests: real-kernel transcripts, whose command `.ci/run`
//! reruns with `--check-transcript`, and guest scripts of a stage's `tests/`
//! folder, which `.ci/run` runs with `--script`.

use std::path::{Path, PathBuf};

use super::ci::ci_commands;
use super::{How, Include, Repo, Verdict, anchor_in, resolve};

/// A real-kernel transcript is tested when CI reruns its command in the lab
/// and compares the output: `.ci/run` must hold that very command with
/// `--check-transcript` naming this file.
pub(super) fn lab_transcript(file: PathBuf, first: &str, repo: &dyn Repo) -> Verdict {
    let command = first.trim_start_matches("$ ").trim().to_string();
    let wanted = format!("--check-transcript {}", file.display());
    let rerun = ci_commands(repo)
        .iter()
        .any(|line| line.starts_with(&format!("{command} ")) && line.contains(&wanted));
    if rerun && command.starts_with("cargo xtask lab ") {
        Verdict::Tested(How::LabTranscript { file, command })
    } else {
        Verdict::Untested(format!(
            "{}: a real-kernel transcript that .ci/run does not rerun \
             (it needs `{command} {wanted}`)",
            file.display()
        ))
    }
}

/// A guest script shown by anchor is tested when it is a stage's test script
/// and `.ci/run` runs it in the lab.
pub(super) fn lab_script(
    attrs: &[&str],
    directive: Option<Include<'_>>,
    chapter: &Path,
    repo: &dyn Repo,
) -> Verdict {
    if let Some(other) = attrs.first() {
        return Verdict::Untested(format!("attribute `{other}` on a sh block"));
    }
    let Some(include) = directive else {
        return Verdict::Untested(
            "an inline script is not run: include it by anchor from a stage's tests/".into(),
        );
    };
    let Some(file) = resolve(chapter, include.path) else {
        return Verdict::Untested(format!("{} leaves the repository", include.path));
    };
    let in_stage_tests = file.starts_with("module")
        && file.parent().is_some_and(|tests| {
            tests.file_name().is_some_and(|n| n == "tests")
                && tests
                    .parent()
                    .is_some_and(|stage| repo.read(&stage.join("Kbuild")).is_some())
        });
    if !in_stage_tests {
        return Verdict::Untested(format!(
            "{} is not a script in a module stage's tests/ folder",
            file.display()
        ));
    }
    let wanted = format!("--script {}", file.display());
    let run = ci_commands(repo)
        .iter()
        .any(|line| line.starts_with("cargo xtask lab ") && line.ends_with(&wanted));
    if !run {
        return Verdict::Untested(format!(
            "{}: a lab script that .ci/run does not run (it needs `cargo xtask lab ... {wanted}`)",
            file.display()
        ));
    }
    match anchor_in(&include, &file, repo) {
        Ok(anchor) => Verdict::Tested(How::LabScript { file, anchor }),
        Err(why) => Verdict::Untested(why),
    }
}
