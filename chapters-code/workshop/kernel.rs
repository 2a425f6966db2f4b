//! Checking a kernel or battery exercise: what runs on the host (the drift
//! doctor, the module builds) and what runs on the kernel (the harness,
//! `exercises/harness.sh`, once per [`Item`]).
//!
//! [`check_here`] does it all on the running kernel, as root (the Vagrant
//! box). `cargo xtask exercises` does the same steps for the qemu lab: it
//! builds each item's module against a line's kit and runs the very same
//! harness and check scripts in the guest, then reads the output with
//! [`super::report::HarnessRun`] as this file does.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::report::{HarnessRun, Report};
use super::{Exercise, Kind};
use crate::drift::Release;
use crate::drift::table::DriftTable;

/// The harness, relative to the repository's top.
pub const HARNESS: &str = "exercises/harness.sh";

/// One run of the harness: a module built from `module_dir` (with `defines`
/// added to its Kbuild), the exercise's check script, and its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// `learner`, or a battery's `reference` or mutant macro.
    pub label: String,
    pub module_dir: PathBuf,
    pub defines: Vec<String>,
    /// The check script, relative to the repository's top.
    pub check: PathBuf,
    /// `WS_*` variables for the harness.
    pub env: Vec<(String, String)>,
}

impl Item {
    /// Whether the kernel's complaints during this run count against the
    /// check: not for a battery's mutant, which is buggy on purpose (with
    /// udev running, a table it wrongly accepts is read by udev at once).
    pub fn kernel_log_counts(&self) -> bool {
        !self.label.starts_with("MUTANT_")
    }
}

/// The harness runs of an exercise whose learner's copy is `copy`, in the
/// order they run: one for a kernel exercise; for a battery, the reference
/// target and then each mutant, with the learner's script as `WS_BATTERY`.
pub fn items(repo: &Path, exercise: &Exercise, copy: &Path) -> Vec<Item> {
    let target = exercise.target.clone().unwrap_or_default();
    let check = exercise.folder().join("check.sh");
    match exercise.kind {
        Kind::Kernel => vec![Item {
            label: "learner".into(),
            module_dir: copy.to_path_buf(),
            defines: Vec::new(),
            check,
            env: vec![("WS_TARGET".into(), target)],
        }],
        Kind::Battery => {
            let reference = repo
                .join(exercise.folder())
                .join(exercise.reference.as_deref().unwrap_or("reference"));
            let battery = copy.join(&exercise.files[0]);
            let variants = std::iter::once("reference").chain(
                (exercise.steps.iter())
                    .map(|s| s.id.as_str())
                    .filter(|id| id.starts_with("MUTANT_")),
            );
            variants
                .map(|variant| Item {
                    label: variant.to_string(),
                    module_dir: reference.clone(),
                    defines: if variant == "reference" {
                        Vec::new()
                    } else {
                        vec![variant.to_string()]
                    },
                    check: check.clone(),
                    env: vec![
                        ("WS_TARGET".into(), target.clone()),
                        ("WS_VARIANT".into(), variant.to_string()),
                        ("WS_BATTERY".into(), battery.display().to_string()),
                    ],
                })
                .collect()
        }
        Kind::Simulator => Vec::new(),
    }
}

/// Copy `item`'s module folder to `dest` for a build, its macros added to
/// the Kbuild (`ccflags-y += -DNAME`). Built files are left out.
pub fn stage_module(item: &Item, dest: &Path) -> Result<(), String> {
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| format!("clearing {}: {e}", dest.display()))?;
    }
    std::fs::create_dir_all(dest).map_err(|e| format!("making {}: {e}", dest.display()))?;
    let entries = std::fs::read_dir(&item.module_dir)
        .map_err(|e| format!("{}: {e}", item.module_dir.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let source = name.ends_with(".c") || name.ends_with(".h") || name == "Kbuild";
        if source && entry.path().is_file() {
            std::fs::copy(entry.path(), dest.join(&name))
                .map_err(|e| format!("copying {name}: {e}"))?;
        }
    }
    let kbuild = dest.join("Kbuild");
    let mut text = std::fs::read_to_string(&kbuild)
        .map_err(|e| format!("{}: no Kbuild ({e})", item.module_dir.display()))?;
    for define in &item.defines {
        text += &format!("ccflags-y += -D{define}\n");
    }
    std::fs::write(&kbuild, text).map_err(|e| format!("writing {}: {e}", kbuild.display()))
}

/// The drift doctor's findings on the exercise's C files in `copy` for each
/// of `lines`, rendered; empty when it finds nothing.
pub fn doctor(exercise: &Exercise, copy: &Path, lines: &[Release]) -> Result<String, String> {
    let table = DriftTable::bundled().map_err(|e| e.to_string())?;
    let mut text = String::new();
    for file in exercise.files.iter().filter(|f| f.ends_with(".c")) {
        let path = copy.join(file);
        let source =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        for line in lines {
            let findings = crate::drift::doctor::diagnose(&source, &table, *line)
                .map_err(|e| e.to_string())?;
            for finding in findings {
                text += &format!("Linux {line}: {}", finding.render(file, *line));
            }
        }
    }
    Ok(text)
}

/// The lines the doctor step reads: the exercise's, and the one the check
/// runs on.
pub fn doctor_lines(exercise: &Exercise, running: Option<Release>) -> Vec<Release> {
    let mut lines: Vec<Release> = exercise
        .doctor
        .iter()
        .filter_map(|l| l.parse().ok())
        .collect();
    if let Some(running) = running.map(|r| r.line())
        && !exercise.doctor.is_empty()
        && !lines.contains(&running)
    {
        lines.insert(0, running);
    }
    lines
}

/// The compiler's complaints worth a learner's eye: its warnings and errors.
pub fn complaints(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("warning:") || l.contains("error:") || l.starts_with("WARNING:"))
        .map(|l| l.trim().to_string())
        .collect()
}

/// The running kernel's release, as `uname -r` prints it.
pub fn running_release() -> Result<String, String> {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .map_err(|e| format!("reading the kernel's release: {e}"))
}

/// Whether the running kernel has device mapper: its control node, or the
/// module loaded, or built in (listed as a misc device).
fn has_device_mapper() -> bool {
    Path::new("/dev/mapper/control").exists()
        || Path::new("/sys/module/dm_mod").exists()
        || std::fs::read_to_string("/proc/misc").is_ok_and(|m| m.contains("device-mapper"))
}

/// Whether the running kernel has oopsed since it booted (taint flag D).
fn has_oopsed() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/tainted")
        .ok()
        .and_then(|t| t.trim().parse::<u64>().ok())
        .is_some_and(|t| t & (1 << 7) != 0)
}

/// `make -C KBUILD M=DIR modules` for the running kernel; the built `.ko`
/// and the compiler's complaints.
fn make_here(dir: &Path, module: &str) -> Result<(PathBuf, Vec<String>), String> {
    let release = running_release()?;
    let kbuild = std::env::var_os("DMW_KBUILD")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(format!("/lib/modules/{release}/build")));
    if !kbuild.is_dir() {
        return Err(format!(
            "no kernel headers for {release} ({} is missing): apt-get install linux-headers-{release}, or check with --lab 6.1",
            kbuild.display()
        ));
    }
    let output = Command::new("make")
        .arg("-C")
        .arg(&kbuild)
        .arg(format!("M={}", dir.display()))
        .arg("modules")
        .output()
        .map_err(|e| format!("running make: {e}"))?;
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let ko = dir.join(format!("{module}.ko"));
    if !output.status.success() || !ko.is_file() {
        let mut shown = complaints(&log);
        if shown.is_empty() {
            shown = log.lines().rev().take(6).map(str::to_string).collect();
            shown.reverse();
        }
        return Err(shown.join("\n"));
    }
    Ok((ko, complaints(&log)))
}

/// Run the harness for one item as root (through sudo unless we are root),
/// within `limit`; its output.
fn run_harness(repo: &Path, item: &Item, ko: &Path, limit: Duration) -> Result<String, String> {
    let as_root = running_as_root();
    let mut command = if as_root {
        Command::new("env")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("env");
        sudo
    };
    for (key, value) in &item.env {
        command.arg(format!("{key}={value}"));
    }
    command
        .arg("WS_WORK=/tmp/workshop-check")
        .arg("sh")
        .arg(repo.join(HARNESS))
        .arg(repo.join(&item.check))
        .arg(ko)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = command
        .spawn()
        .map_err(|e| format!("running the harness: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no harness output")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stdout.read_to_string(&mut text);
        text
    });
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let mut text = reader.join().unwrap_or_default();
            text += &format!(
                "the check took longer than {} s and was stopped: a bio that never ends, or a suspend that waits forever? (the kernel may now need a reboot)\n",
                limit.as_secs()
            );
            return Ok(text);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(reader.join().unwrap_or_default())
}

/// Whether this process runs as root (the effective user).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

/// Check the learner's copy in `copy` on the running kernel.
pub fn check_here(repo: &Path, exercise: &Exercise, copy: &Path) -> Result<Report, String> {
    let started = Instant::now();
    let release = running_release()?;
    let mut report = Report::new(exercise, format!("kernel {release}"));
    if !copy.is_dir() {
        return Err(format!(
            "{} does not exist: run `workshop start {}` first",
            copy.display(),
            exercise.number()
        ));
    }
    if !has_device_mapper() {
        return Err(format!(
            "this kernel ({release}) has no device mapper (no /dev/mapper/control, no dm_mod): \
             check in the qemu lab instead, `cargo run --bin workshop -- check {} --lab 6.1`, \
             or in the Vagrant box (README.md, \"The workshop\")",
            exercise.number()
        ));
    }
    if has_oopsed() {
        report.output.push(
            "note: this kernel has oopsed since it booted (taint D): what it does now may not be what a fresh one does; reboot for a clean check"
                .into(),
        );
    }
    if !exercise.doctor.is_empty() {
        let lines = doctor_lines(exercise, release.parse().ok());
        let found = doctor(exercise, copy, &lines)?;
        if found.is_empty() {
            report.pass(exercise, "doctor");
        } else {
            report.fail(exercise, "doctor", found);
            report.finish(exercise);
            report.seconds = started.elapsed().as_secs_f64();
            return Ok(report);
        }
    }
    let items = items(repo, exercise, copy);
    let module = exercise.module.clone().unwrap_or_default();
    let mut kos = Vec::new();
    for item in &items {
        let dest = repo
            .join("target/workshop/kernel")
            .join(&exercise.dir)
            .join(&item.label);
        stage_module(item, &dest)?;
        let compat = dest.parent().unwrap_or(&dest).join("compat");
        copy_compat(repo, &compat).map_err(|e| format!("copying the compat folder: {e}"))?;
        match make_here(&dest, &module) {
            Ok((ko, warnings)) if warnings.is_empty() => kos.push(ko),
            Ok((_, warnings)) => {
                report.fail(
                    exercise,
                    "build",
                    format!("it builds, with warnings:\n{}", warnings.join("\n")),
                );
                break;
            }
            Err(why) => {
                report.fail(exercise, "build", why);
                break;
            }
        }
    }
    if report.first_failure().is_none() {
        report.pass(exercise, "build");
        if !exercise.build_on.is_empty() {
            report.output.push(format!(
                "note: building on {} is checked in the lab only (--lab LINE); the doctor stood in for it here",
                exercise.build_on.join(" and ")
            ));
        }
        for (item, ko) in items.iter().zip(&kos) {
            let text = run_harness(repo, item, ko, Duration::from_secs(180))?;
            let run = HarnessRun::parse(&text);
            run.add_to(&mut report, exercise, "", item.kernel_log_counts());
            if run.status != Some(0) {
                break;
            }
        }
    }
    report.finish(exercise);
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The stages' compat folder (module/compat: the header, the probes and the
/// kbuild fragment that runs them), copied beside a module folder as the
/// repository has it, for a Kbuild that includes `../compat/dmw_probes.kbuild`.
/// Returns the files written.
pub fn copy_compat(repo: &Path, to: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn copy_dir(from: &Path, to: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            let target = to.join(entry.file_name());
            if entry.file_type()?.is_dir() {
                copy_dir(&entry.path(), &target, written)?;
            } else {
                std::fs::copy(entry.path(), &target)?;
                written.push(target);
            }
        }
        Ok(())
    }
    let mut written = Vec::new();
    copy_dir(&repo.join("module/compat"), to, &mut written)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workshop::Manifest;

    #[test]
    fn a_battery_runs_the_reference_then_each_mutant() {
        let m = Manifest::bundled();
        let battery = m
            .exercises
            .iter()
            .find(|e| e.kind == Kind::Battery)
            .unwrap();
        let items = items(Path::new("/repo"), battery, Path::new("/w/x"));
        assert_eq!(items[0].label, "reference");
        assert!(items[0].defines.is_empty());
        assert!(items.len() > 2);
        for item in &items[1..] {
            assert_eq!(item.defines, std::slice::from_ref(&item.label));
            assert!(
                item.env
                    .iter()
                    .any(|(k, v)| k == "WS_BATTERY" && v.starts_with("/w/x/"))
            );
        }
    }

    #[test]
    fn the_doctor_reads_the_running_line_too() {
        let m = Manifest::bundled();
        let two = m.exercise(2).unwrap();
        let lines = doctor_lines(two, "6.1.0-28-amd64".parse().ok());
        assert_eq!(lines[0], Release::new(6, 1, 0));
        assert!(lines.contains(&Release::new(7, 3, 0)));
        let one = m.exercise(1).unwrap();
        assert!(doctor_lines(one, "6.1".parse().ok()).is_empty());
    }

    /// What `check_here` builds on the Vagrant box, against a kernel build
    /// tree given as DMW_KBUILD (CI: the lab's 6.1 headers).
    #[test]
    #[ignore = "needs kernel headers: DMW_KBUILD=/lib/modules/<release>/build"]
    fn builds_a_workshop_copy_against_real_kernel_headers() {
        assert!(std::env::var_os("DMW_KBUILD").is_some(), "set DMW_KBUILD");
        let repo = crate::workshop::repo_root();
        let exercise = Manifest::bundled().exercise(1).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(&exercise.dir);
        crate::workshop::learner::write_copy(
            &repo,
            exercise,
            &copy,
            crate::workshop::learner::Variant::Solution,
        )
        .unwrap();
        let (ko, warnings) = make_here(&copy, exercise.module.as_deref().unwrap()).unwrap();
        assert!(ko.is_file());
        assert!(warnings.is_empty(), "{warnings:?}");
    }

    #[test]
    fn a_modules_folder_is_staged_with_its_macros() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("m");
        std::fs::create_dir(&module).unwrap();
        std::fs::write(module.join("Kbuild"), "obj-m := m.o\n").unwrap();
        std::fs::write(module.join("m.c"), "x").unwrap();
        std::fs::write(module.join("m.o"), "built").unwrap();
        let item = Item {
            label: "MUTANT_X".into(),
            module_dir: module,
            defines: vec!["MUTANT_X".into()],
            check: PathBuf::from("check.sh"),
            env: Vec::new(),
        };
        let dest = dir.path().join("out");
        stage_module(&item, &dest).unwrap();
        assert_eq!(
            std::fs::read_to_string(dest.join("Kbuild")).unwrap(),
            "obj-m := m.o\nccflags-y += -DMUTANT_X\n"
        );
        assert!(dest.join("m.c").is_file());
        assert!(!dest.join("m.o").exists());
    }
}
