//! The lab as a learner's debugger: a small target with one classic bug each
//! (`learner-bugs/cases.toml`) must fail in the lab within two minutes, with
//! the kernel's complaint named in the summary, and the same target without
//! its bug must pass; so must the skeleton `cargo xtask new-module` writes
//! from the same source.
//!
//! The lab runs need qemu and a 6.1 kit, so they run when asked (CI does):
//! `cargo test -p xtask --test learner_bugs -- --ignored --nocapture`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/learner-bugs");
const VERDICT_WITHIN: Duration = Duration::from_secs(120);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    define: Option<String>,
    alarm: String,
}

#[derive(Deserialize)]
struct Cases {
    case: Vec<Case>,
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(Path::new(CASES).join("cases.toml")).unwrap();
    toml::from_str::<Cases>(&text).unwrap().case
}

/// The lab's alarm names, from its data file.
fn alarm_names() -> Vec<String> {
    #[derive(Deserialize)]
    struct Alarm {
        name: String,
    }
    #[derive(Deserialize)]
    struct Alarms {
        alarm: Vec<Alarm>,
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../chapters-code/alarms.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let alarms: Alarms = toml::from_str(&text).unwrap();
    alarms.alarm.into_iter().map(|a| a.name).collect()
}

#[test]
fn every_case_names_a_real_bug_and_a_real_alarm() {
    let source = std::fs::read_to_string(Path::new(CASES).join("learner_target.c")).unwrap();
    let alarms = alarm_names();
    let cases = cases();
    assert!(cases.iter().filter(|c| c.define.is_none()).count() == 1);
    for case in &cases {
        if let Some(define) = &case.define {
            assert!(
                source.contains(define.as_str()),
                "{}: no {define}",
                case.name
            );
            assert!(
                alarms.contains(&case.alarm),
                "{}: no alarm {}",
                case.name,
                case.alarm
            );
        } else {
            assert_eq!(case.alarm, "pass", "{}", case.name);
        }
    }
}

/// A learner's module folder for `case`: the source and a Kbuild that
/// selects its bug.
fn module_folder(case: &Case, dir: &Path) -> PathBuf {
    let folder = dir.join("learner");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(
        Path::new(CASES).join("learner_target.c"),
        folder.join("learner_target.c"),
    )
    .unwrap();
    let mut kbuild = String::from("obj-m := learner_target.o\n");
    if let Some(define) = &case.define {
        kbuild += &format!("ccflags-y := -D{define}\n");
    }
    std::fs::write(folder.join("Kbuild"), kbuild).unwrap();
    folder
}

#[test]
#[ignore = "boots Linux 6.1 in qemu: run with --ignored (CI does)"]
fn each_bug_fails_fast_with_its_complaint_named_and_the_fix_passes() {
    let mut failures = Vec::new();
    for case in cases() {
        let dir = tempfile::tempdir().unwrap();
        let folder = module_folder(&case, dir.path());
        let start = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["lab", "--kernel", "6.1", "--module"])
            .arg(&folder)
            .arg("--script")
            .arg(Path::new(CASES).join("check.sh"))
            .output()
            .unwrap();
        let took = start.elapsed();
        let stdout = String::from_utf8_lossy(&output.stdout);
        let summary: Vec<&str> = stdout
            .lines()
            .skip_while(|l| !l.starts_with("Linux 6.1: "))
            .collect();
        eprintln!(
            "{}: {:.0} s\n  {}",
            case.name,
            took.as_secs_f64(),
            summary.join("\n  ")
        );
        let passed = output.status.success();
        let verdict_ok = if case.alarm == "pass" {
            passed
        } else {
            // The first problem line is the kernel's complaint.
            !passed
                && summary
                    .get(1)
                    .is_some_and(|l| l.contains(&format!("kernel: {}: ", case.alarm)))
        };
        if !verdict_ok {
            failures.push(format!(
                "{}: expected {}, got:\n{stdout}\n{}",
                case.name,
                case.alarm,
                String::from_utf8_lossy(&output.stderr)
            ));
        } else if took > VERDICT_WITHIN {
            failures.push(format!("{}: the verdict took {took:?}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
#[ignore = "boots Linux 6.1 in qemu: run with --ignored (CI does)"]
fn the_new_module_skeleton_passes_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("mine");
    let xtask = env!("CARGO_BIN_EXE_xtask");
    let made = Command::new(xtask)
        .args(["new-module", "--target", "tally"])
        .arg(&folder)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let output = Command::new(xtask)
        .args(["lab", "--kernel", "6.1", "--module"])
        .arg(&folder)
        .arg("--script")
        .arg(folder.join("tests/check.sh"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
