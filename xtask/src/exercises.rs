//! `cargo xtask exercises`: the workshop's authoring check, and its lab.
//!
//! Every exercise of `exercises/manifest.toml` is rendered twice, as the
//! learner's skeleton and as its solution, into `target/workshop/authoring/`
//! (`workshop start` writes the same files). Each copy is checked as a
//! learner's would be: the simulator exercises on the simulator
//! (`dm_workbook::workshop::simulator`), the kernel and battery exercises on
//! real kernels in the qemu lab. Every skeleton must fail its check and
//! every solution pass it.
//!
//! For a kernel line, the host runs the drift doctor and builds every
//! module of every copy against the line's kit (and the `build_on` lines'
//! kits), then boots the line once and runs every check in that one guest
//! (`batch.rs`), each loading and unloading its own module through
//! `exercises/harness.sh`, the same harness `workshop check` runs on a
//! learner's kernel. Only a guest that dies (an oops) costs another boot,
//! for the items after it.
//!
//! `--learner DIR --exercise N --kernel LINE --result FILE` checks one
//! learner's copy the same way and writes its report: what `workshop check
//! N --lab LINE` runs.

mod batch;
mod builds;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use dm_workbook::workshop::kernel::{self as wk, Item};
use dm_workbook::workshop::learner::{self, Variant};
use dm_workbook::workshop::report::{HarnessRun, Report};
use dm_workbook::workshop::{Exercise, Kind, Manifest};

use crate::lab::initramfs::Content;
use crate::lab::kit::{self, Kit};
use crate::lab::lines;
use crate::lab::progress::Progress;
use crate::{cache_dir, repo_root};
use batch::GuestItem;
use builds::{Built, build_items, build_on_lines};

#[derive(clap::Args)]
pub struct ExercisesArgs {
    /// Check the kernel exercises on this line (repeatable); default: the
    /// line the simulator models.
    #[arg(long = "kernel", value_name = "LINE", value_parser = lines::kernel_arg())]
    kernels: Vec<String>,

    /// Check the kernel exercises on every line.
    #[arg(long, conflicts_with = "kernels")]
    all: bool,

    /// Only this exercise (repeatable).
    #[arg(long = "exercise", value_name = "N")]
    exercises: Vec<u32>,

    /// Leave the lab out: the simulator exercises and the regions only.
    #[arg(long)]
    no_lab: bool,

    /// Check this learner's copy of the one --exercise instead of the
    /// skeletons and solutions (what `workshop check N --lab LINE` runs).
    #[arg(long, value_name = "DIR", requires = "result")]
    learner: Option<PathBuf>,

    /// With --learner: write the check's report here, as JSON.
    #[arg(long, value_name = "FILE", requires = "learner")]
    result: Option<PathBuf>,

    /// Run systemd-udevd in the guests, as the Vagrant box does: dmsetup
    /// then waits for udev's confirmation of each change.
    #[arg(long)]
    udev: bool,

    /// Seconds one guest may run before it counts as hung.
    #[arg(long, default_value_t = 900, value_name = "SECONDS")]
    timeout: u64,
}

/// One copy to check: an exercise as skeleton, solution or a learner's.
struct Copy<'m> {
    exercise: &'m Exercise,
    /// `skeleton`, `solution` or `learner`.
    variant: &'static str,
    dir: PathBuf,
}

impl Copy<'_> {
    fn group(&self) -> String {
        format!("{}/{}", self.variant, self.exercise.dir)
    }
}

pub fn run(args: ExercisesArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let repo = repo_root()?;
    let cache = cache_dir()?;
    let progress = Progress::new();
    let manifest = Manifest::bundled();
    for n in &args.exercises {
        ensure!(manifest.exercise(*n).is_some(), "there is no exercise {n}");
    }
    let chosen: Vec<&Exercise> = (manifest.exercises.iter())
        .filter(|e| args.exercises.is_empty() || args.exercises.contains(&e.number()))
        .collect();
    let line_names: Vec<String> = if args.all {
        lines::names().into_iter().map(str::to_string).collect()
    } else if args.kernels.is_empty() {
        vec![lines::simulated().name.clone()]
    } else {
        args.kernels.clone()
    };

    let copies: Vec<Copy> = match &args.learner {
        Some(dir) => {
            ensure!(
                chosen.len() == 1 && args.exercises.len() == 1,
                "--learner checks one exercise: give --exercise N"
            );
            ensure!(
                line_names.len() == 1,
                "--learner checks on one --kernel line"
            );
            let dir = fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
            vec![Copy {
                exercise: chosen[0],
                variant: "learner",
                dir,
            }]
        }
        None => render_copies(&repo, &chosen)?,
    };

    // Reports by (variant, exercise, where).
    let mut reports: Vec<(String, Report)> = Vec::new();
    for copy in copies.iter().filter(|c| c.exercise.kind == Kind::Simulator) {
        let step = progress.step(format!("simulator: {}", copy.group()));
        // Its seconds are the whole check's: cargo building and testing it.
        let report = dm_workbook::workshop::simulator::check(&repo, copy.exercise, &copy.dir)
            .map_err(anyhow::Error::msg)?;
        step.done_with(verdict(&report));
        reports.push((copy.variant.to_string(), report));
    }
    let kernel_copies: Vec<&Copy> = (copies.iter())
        .filter(|c| c.exercise.needs_kernel())
        .collect();
    let mut boots = Vec::new();
    if !args.no_lab && !kernel_copies.is_empty() {
        let built_on = build_on_lines(&repo, &cache, &kernel_copies, &progress)?;
        for name in &line_names {
            let line = lines::find(name)?;
            let (line_reports, line_boots) = check_line(
                line,
                &repo,
                &cache,
                &kernel_copies,
                &built_on,
                args.udev,
                Duration::from_secs(args.timeout),
                &progress,
            )?;
            reports.extend(line_reports);
            boots.extend(line_boots);
        }
    }

    if let (Some(file), Some((_, report))) = (&args.result, reports.first_mut()) {
        report.seconds = started.elapsed().as_secs_f64();
        let json = serde_json::to_string_pretty(report)? + "\n";
        fs::write(file, json).with_context(|| format!("writing {}", file.display()))?;
        // `workshop check` prints the report; this says where it is.
        println!("wrote the check's report to {}", file.display());
        return Ok(if report.passed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    Ok(summary(&reports, &boots, started.elapsed().as_secs_f64()))
}

/// Each chosen exercise written out as its skeleton and its solution.
fn render_copies<'m>(repo: &Path, chosen: &[&'m Exercise]) -> Result<Vec<Copy<'m>>> {
    let top = repo.join("target/workshop/authoring");
    let mut copies = Vec::new();
    for (variant, kind) in [
        ("skeleton", Variant::Skeleton),
        ("solution", Variant::Solution),
    ] {
        let root = top.join(variant);
        for exercise in chosen {
            let dir = learner::copy_dir(&root, exercise);
            if dir.exists() {
                fs::remove_dir_all(&dir)?;
            }
            learner::write_copy(repo, exercise, &dir, kind).map_err(anyhow::Error::msg)?;
            copies.push(Copy {
                exercise,
                variant,
                dir,
            });
        }
    }
    Ok(copies)
}

fn verdict(report: &Report) -> String {
    match report.first_failure() {
        None if report.passed => "passed".to_string(),
        None => format!("failed: {}", report.kernel_complaints.join("; ")),
        Some(step) => format!("failed at {}", step.id),
    }
}

/// A line's reports (each with its copy's variant) and its boots.
type LineResults = (Vec<(String, Report)>, Vec<BootTime>);

/// A boot's cost, for the summary.
struct BootTime {
    line: String,
    items: usize,
    seconds: f64,
}

/// The kernel copies on one line: host steps for each, then one boot for
/// every check (another only after a guest died).
#[allow(clippy::too_many_arguments)]
fn check_line(
    line: &'static lines::KernelLine,
    repo: &Path,
    cache: &Path,
    copies: &[&Copy],
    built_on: &BTreeMap<String, String>,
    udev: bool,
    timeout: Duration,
    progress: &Progress,
) -> Result<LineResults> {
    let name = line.name.as_str();
    let _lock = kit::lock_line(cache, name, progress)?;
    let kit = kit::prepare(line, cache, progress)?;
    let ran_on = format!(
        "lab {name} ({}){}",
        kit.release,
        if udev { ", udev" } else { "" }
    );
    let release = kit.release.parse().ok();

    let mut reports: BTreeMap<String, Report> = BTreeMap::new();
    let mut done = Built::new();
    let mut planned: Vec<(GuestItem, Vec<(String, Content)>)> = Vec::new();
    let mut shared = vec![(
        "/lab/workshop/harness.sh".to_string(),
        Content::Host(repo.join(wk::HARNESS)),
    )];
    for copy in copies {
        let exercise = copy.exercise;
        let mut report = Report::new(exercise, ran_on.clone());
        let step = progress.step(format!("{name}: host steps of {}", copy.group()));
        let ready = host_steps(
            repo,
            cache,
            &kit,
            copy,
            release,
            built_on,
            &mut done,
            &mut report,
        );
        step.done_with(if ready.is_some() {
            "built".into()
        } else {
            verdict(&report)
        });
        if let Some(built) = ready {
            let check = format!("/lab/workshop/{}/check.sh", exercise.dir);
            shared.push((
                check.clone(),
                Content::Host(repo.join(exercise.folder()).join("check.sh")),
            ));
            let battery = format!("/lab/workshop/{}/{}", copy.group(), exercise.files[0]);
            for (item, ko) in built {
                let label = format!("{}/{}", copy.group(), item.label);
                let guest_ko = format!("/lab/workshop/{label}/{}", file_name(&ko));
                let env = (item.env.iter())
                    .map(|(k, v)| match k.as_str() {
                        "WS_BATTERY" => (k.clone(), battery.clone()),
                        _ => (k.clone(), v.clone()),
                    })
                    .collect();
                let mut files = vec![(guest_ko.clone(), Content::Host(ko))];
                if exercise.kind == Kind::Battery {
                    files.push((
                        battery.clone(),
                        Content::Host(copy.dir.join(&exercise.files[0])),
                    ));
                }
                planned.push((
                    GuestItem {
                        kernel_log_counts: item.kernel_log_counts(),
                        label,
                        group: copy.group(),
                        check: check.clone(),
                        ko: guest_ko,
                        env,
                    },
                    files,
                ));
            }
        }
        reports.insert(copy.group(), report);
    }

    // Boot until every planned item ran, was skipped, or died.
    let mut runs: BTreeMap<String, HarnessRun> = BTreeMap::new();
    let mut item_seconds: BTreeMap<String, f64> = BTreeMap::new();
    let mut dead_groups: Vec<String> = Vec::new();
    let mut boots = Vec::new();
    loop {
        let todo: Vec<&(GuestItem, Vec<(String, Content)>)> = (planned.iter())
            .filter(|(item, _)| {
                !runs.contains_key(&item.label) && !dead_groups.contains(&item.group)
            })
            .filter(|(item, _)| {
                // A group that failed in an earlier boot stops there.
                !runs.iter().any(|(label, run)| {
                    label.starts_with(&format!("{}/", item.group)) && run.status != Some(0)
                })
            })
            .collect();
        if todo.is_empty() {
            break;
        }
        let items: Vec<GuestItem> = todo.iter().map(|(item, _)| item.clone()).collect();
        let mut files: Vec<(String, Content)> = shared
            .iter()
            .map(|(p, c)| (p.clone(), clone_content(c)))
            .collect();
        for (_, extra) in &todo {
            files.extend(extra.iter().map(|(p, c)| (p.clone(), clone_content(c))));
        }
        let script = batch::script(&items);
        let (run, transcript, seconds, timed_out) = crate::lab::boot_with_files(
            &kit,
            cache,
            repo,
            script.as_bytes(),
            files,
            udev,
            timeout,
            progress,
        )?;
        boots.push(BootTime {
            line: name.to_string(),
            items: items.len(),
            seconds,
        });
        let found = batch::read(&transcript);
        item_seconds.extend(found.seconds.clone());
        if let Some((false, why)) = &run.result {
            println!("Linux {name}: the guest reported: {why}");
        }
        let mut progressed = false;
        for item in &items {
            if let Some(harness) = found.ran.get(&item.label) {
                progressed = true;
                if harness.status.is_none() {
                    // The guest died in it: nothing more of its group runs.
                    dead_groups.push(item.group.clone());
                    if timed_out {
                        println!("Linux {name}: the guest hung in {}", item.label);
                    }
                }
                runs.insert(item.label.clone(), harness.clone());
            } else if found.skipped.contains(&item.label) {
                progressed = true;
                dead_groups.push(item.group.clone());
            }
        }
        ensure!(
            progressed,
            "Linux {name}: the guest ran none of its {} checks (see {})",
            items.len(),
            cache
                .join("runs")
                .join(format!("{name}-files.log"))
                .display()
        );
    }

    let mut out = Vec::new();
    for copy in copies {
        let Some(mut report) = reports.remove(&copy.group()) else {
            continue;
        };
        let exercise = copy.exercise;
        for (item, _) in planned
            .iter()
            .filter(|(item, _)| item.group == copy.group())
        {
            if let Some(run) = runs.get(&item.label) {
                run.add_to(&mut report, exercise, "", item.kernel_log_counts);
            }
            report.seconds += item_seconds.get(&item.label).copied().unwrap_or(0.0);
        }
        report.finish(exercise);
        out.push((copy.variant.to_string(), report));
    }
    Ok((out, boots))
}

fn clone_content(content: &Content) -> Content {
    match content {
        Content::Host(path) => Content::Host(path.clone()),
        Content::Bytes(bytes) => Content::Bytes(bytes.clone()),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The doctor, the builds on the `build_on` lines and the build for `kit`:
/// the built items, or `None` with the failure in `report`.
#[allow(clippy::too_many_arguments)]
fn host_steps(
    repo: &Path,
    cache: &Path,
    kit: &Kit,
    copy: &Copy,
    release: Option<dm_workbook::drift::Release>,
    built_on: &BTreeMap<String, String>,
    done: &mut Built,
    report: &mut Report,
) -> Option<Vec<(Item, PathBuf)>> {
    let exercise = copy.exercise;
    if !exercise.doctor.is_empty() {
        let lines = wk::doctor_lines(exercise, release);
        match wk::doctor(exercise, &copy.dir, &lines) {
            Ok(found) if found.is_empty() => report.pass(exercise, "doctor"),
            Ok(found) => {
                report.fail(exercise, "doctor", found);
                return None;
            }
            Err(why) => {
                report.fail(exercise, "doctor", why);
                return None;
            }
        }
    }
    let built = match build_items(repo, cache, kit, copy, "boot", done) {
        Ok(built) => built,
        Err(why) => {
            report.fail(exercise, "build", why);
            return None;
        }
    };
    report.pass(exercise, "build");
    if !exercise.build_on.is_empty() {
        match built_on.get(&copy.group()) {
            Some(why) => {
                report.fail(exercise, "build-on", why.clone());
                return None;
            }
            None => report.pass(exercise, "build-on"),
        }
    }
    Some(built)
}

/// Print what every copy did; fail unless each skeleton failed and each
/// solution passed.
fn summary(reports: &[(String, Report)], boots: &[BootTime], seconds: f64) -> ExitCode {
    println!("\n== the workshop's authoring check ==");
    let mut wrong = 0;
    for (variant, report) in reports {
        let ok = match variant.as_str() {
            "skeleton" => !report.passed,
            _ => report.passed,
        };
        if !ok {
            wrong += 1;
        }
        println!(
            "{} {:<28} {:<9} {:<28} {:>5.1} s  {}",
            if ok { "  ok  " } else { "  BAD " },
            report.exercise,
            variant,
            report.ran_on,
            report.seconds,
            verdict(report)
        );
        if !ok {
            let exercise = Manifest::bundled()
                .exercises
                .iter()
                .find(|e| e.dir == report.exercise);
            if let Some(exercise) = exercise {
                for line in report.render(exercise).lines() {
                    println!("        {line}");
                }
            }
        }
    }
    for boot in boots {
        println!(
            "Linux {}: one boot ran {} checks in {:.1} s",
            boot.line, boot.items, boot.seconds
        );
    }
    println!(
        "exercises: {} copies checked, {wrong} not as expected, {seconds:.0} s in all",
        reports.len()
    );
    if wrong == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_exercise_renders_as_skeleton_and_solution() {
        let repo = repo_root().unwrap();
        let all: Vec<&Exercise> = Manifest::bundled().exercises.iter().collect();
        let dir = tempfile::tempdir().unwrap();
        for (variant, kind) in [("s", Variant::Skeleton), ("t", Variant::Solution)] {
            for e in &all {
                let copy = learner::copy_dir(&dir.path().join(variant), e);
                learner::write_copy(&repo, e, &copy, kind).unwrap();
                assert!(copy.join(&e.files[0]).is_file());
            }
        }
    }

    #[test]
    fn a_learner_check_needs_its_result_file() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            args: ExercisesArgs,
        }
        assert!(Cli::try_parse_from(["x", "--learner", "d"]).is_err());
        assert!(
            Cli::try_parse_from(["x", "--learner", "d", "--result", "r", "--exercise", "1"])
                .is_ok()
        );
    }
}
