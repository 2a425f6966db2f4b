//! `cargo xtask lab`: boot a real Debian kernel in qemu and run a chapter's
//! scenario or a script in it, with the workbook's module built for that
//! kernel.
//!
//! The module is a stage of `module/manifest.toml` (`--stage`, stage 1 by
//! default) or any folder (`--module`); the scenario is the stage's declared
//! one, or `--chapter` / `--script` / `--backend-tests`.
//!
//! For each kernel line: make (or reuse) its kit under the cache, build the
//! module against its headers, pack an initramfs (busybox, dmsetup, mke2fs,
//! the kernel's own loop/dm-mod/ext4 modules, the module under test, the
//! static chapter binaries), boot it without KVM, and read what the guest
//! reports on its serial console (see `lab/guest.rs` for the protocol).

mod alarms;
pub(crate) mod guest;
mod guest_files;
mod hang;
pub(crate) mod initramfs;
pub(crate) mod kit;
mod line_run;
pub(crate) mod lines;
pub(crate) mod progress;
mod qemu;
pub(crate) mod rust_kit;
pub(crate) mod stages;
mod static_builds;
mod transcript;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::new_stage::ModuleFolder;
use crate::{cache_dir, repo_root};
use dm_workbook::manifest::{self, Expect, Manifest};
use guest::Scenario;
use line_run::run_lines;
pub(crate) use line_run::{DEFAULT_MEMORY_MIB, LineRun, Outcome, boot_with_files};
use lines::KernelLine;
use progress::Progress;
use static_builds::build_backend_tests;
pub(crate) use static_builds::build_chapter_binary;
pub(crate) use transcript::without_releases;
use transcript::{check_transcript, lab_command};

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("chapter_or_script").args(["chapter", "script"])))]
pub struct LabArgs {
    /// The kernel line to boot (the lines of module/manifest.toml).
    #[arg(
        long,
        value_name = "LINE",
        value_parser = lines::kernel_arg(),
        default_value = lines::simulated().name.as_str()
    )]
    kernel: String,

    /// Boot every kernel line in turn.
    #[arg(long, conflicts_with = "kernel")]
    all: bool,

    /// Run this chapter's scenario with the kernel backend in the guest.
    #[arg(long, value_name = "N", conflicts_with = "script")]
    chapter: Option<u32>,

    /// Build and load this stage of module/manifest.toml (its folder's name)
    /// and run its declared scenario, unless --chapter or --script says
    /// otherwise. Default: stage 1, running `dmsetup targets`.
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,

    /// Build and load this out-of-tree module folder instead of a stage. The
    /// folder needs its C sources and a Kbuild (one line will do: `obj-m :=
    /// my_target.o`) or a Makefile; built files in it are never copied.
    /// `cargo xtask new-module DIR` writes one to start from. With --chapter,
    /// the module must register the target that chapter's tables name.
    #[arg(long, value_name = "DIR", conflicts_with = "stage")]
    module: Option<PathBuf>,

    /// Run this shell script in the guest after the module is loaded. It runs
    /// as root under busybox sh, with dmsetup (DM_DISABLE_UDEV=1: no udev, use
    /// /dev/dm-N), mke2fs, losetup and dd, and /dev/loop0 over a 128 MiB file
    /// in RAM; its output is shown as it comes, and its exit status decides
    /// pass or fail. Afterwards the lab checks that no mapped device and no
    /// loop device are left, that the module unloads, and that the kernel
    /// log holds no complaint (see chapters-code/alarms.toml). Without
    /// --script, --chapter or a --stage with its own scenario, the guest runs
    /// `dmsetup targets`.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,

    /// Also copy the console transcript here.
    #[arg(long, value_name = "FILE")]
    transcript: Option<PathBuf>,

    /// Seconds a guest may run, boot included, before the lab stops it and
    /// calls it hung. Most runs end sooner: an oops ends the guest at once,
    /// and a task blocked for 20 s makes the guest report its stack and stop.
    /// Raise it for a long script.
    #[arg(long, default_value_t = 90, value_name = "SECONDS")]
    timeout: u64,

    /// The guest's memory in MiB. Its /tmp lives in that memory and may use
    /// half of it: raise this for a script that writes large files there.
    #[arg(long, default_value_t = DEFAULT_MEMORY_MIB, value_name = "MIB")]
    memory: u32,

    /// Compare what the chapter (or the --script) printed in the guest with
    /// this transcript from the book (kernel releases aside); fail on any
    /// difference.
    #[arg(
        long,
        value_name = "FILE",
        requires = "chapter_or_script",
        conflicts_with = "all"
    )]
    check_transcript: Option<PathBuf>,

    /// Run the kernel backend's own tests (tests/kernel_backend.rs) in the
    /// guest, as root on a real kernel.
    #[arg(long, conflicts_with_all = ["chapter", "script", "module", "stage"])]
    backend_tests: bool,

    /// Run udev in the guest as a distribution does: Debian's systemd-udevd
    /// with the device-mapper rules of Debian's dmsetup package. dmsetup and
    /// the chapter programs then wait for udev's confirmation of each change
    /// (a udev cookie), and /dev/mapper's nodes are udev's. Without it the
    /// guest has no udev and sets DM_DISABLE_UDEV=1.
    #[arg(long)]
    udev: bool,

    /// With --check-transcript: write the transcript instead of comparing.
    #[arg(long, requires = "check_transcript")]
    bless: bool,

    /// The script must hang: the run passes only if the guest reports a
    /// hung task (its hang watch, or the kernel's hung-task detector), and
    /// fails if the script ends, if the lab has to stop the guest itself,
    /// or on any other kernel complaint. What the guest reported joins the
    /// run's output (and its transcript), process ids masked.
    #[arg(long, requires = "script", conflicts_with_all = ["chapter", "backend_tests"])]
    expect_hang: bool,
}

/// A chapter's program drives its own stage's target by name (its tables
/// name it): with a learner's module, it can run only if that module
/// registers the same target. Otherwise say so, and what to do instead.
fn chapter_fits_module(chapter: u32, module: &ModuleFolder, dir: &Path) -> Result<()> {
    let entry = dm_workbook::cli::chapter(chapter)
        .with_context(|| format!("chapter {chapter} runs no scenario on a kernel"))?;
    let Some(stage) = entry.stage() else {
        bail!(
            "--chapter {chapter} loads no module, so it would not use {}: \
             run it without --module, or give --script",
            dir.display()
        );
    };
    ensure!(
        module.targets.contains(&stage.target),
        "--chapter {chapter} drives {} (its tables name it), but {} registers {}: \
         run your own steps with --script FILE",
        stage.target,
        dir.display(),
        if module.targets.is_empty() {
            "no target type".to_string()
        } else {
            module.targets.join(", ")
        }
    );
    Ok(())
}

/// The script run when neither --script nor --chapter is given: is the
/// target registered?
const DEFAULT_SCRIPT: &str = "dmsetup targets\n";

pub fn run(args: LabArgs) -> Result<ExitCode> {
    let repo = repo_root()?;
    let cache = cache_dir()?;
    let progress = Progress::new();
    let manifest = Manifest::bundled();
    let stage = match &args.stage {
        Some(name) => Some(manifest.stage(name).with_context(|| {
            let known: Vec<&str> = manifest.stages.iter().map(|s| s.dir.as_str()).collect();
            format!(
                "no stage {name} in {}; known: {}",
                manifest::PATH,
                known.join(", ")
            )
        })?),
        None => None,
    };
    let mut selected: Vec<&'static KernelLine> = if args.all {
        lines::all().iter().collect()
    } else {
        vec![lines::find(&args.kernel)?]
    };
    if let Some(stage) = stage {
        selected.retain(|line| match stage.expect_on(&line.name) {
            Some(Expect::NotApplicable(why)) => {
                println!(
                    "Linux {}: {} is not applicable ({why})",
                    line.name, stage.dir
                );
                false
            }
            _ => true,
        });
    }
    let (module_dir, own_stage) = match (&args.module, stage) {
        (Some(dir), _) => {
            let module = ModuleFolder::read(dir)?;
            if let Some(n) = args.chapter {
                chapter_fits_module(n, &module, dir)?;
            }
            let dir = fs::canonicalize(dir)
                .with_context(|| format!("module folder {}", dir.display()))?;
            (dir, false)
        }
        (None, Some(stage)) => (repo.join(stage.folder()), true),
        (None, None) => {
            // A chapter's own stage, else chapter 3's (stage 1).
            let manifest = Manifest::bundled();
            let stage = (args.chapter.and_then(|n| manifest.stage_of_chapter(n)))
                .or_else(|| manifest.stage_of_chapter(3))
                .context("the manifest names no stage for chapter 3")?;
            (repo.join(stage.folder()), true)
        }
    };

    let stem = |file: &Path| file.file_stem().map(|s| s.to_string_lossy().into_owned());
    let (chapter, script, script_name) =
        match choose_scenario(&args, stage.and_then(|s| s.scenario.as_ref())) {
            Chosen::Chapter(n) => (Some(n), DEFAULT_SCRIPT.as_bytes().to_vec(), None),
            Chosen::Script(file) => (None, read_script(file)?, stem(file)),
            Chosen::StageScript(path) => (
                None,
                read_script(&module_dir.join(path))?,
                stem(Path::new(path)),
            ),
            Chosen::Default => (None, DEFAULT_SCRIPT.as_bytes().to_vec(), None),
        };
    let (scenario, chapter_bin) = match chapter {
        Some(n) => {
            let (bin, run) = build_chapter_binary(&repo, n, &progress)?;
            (Scenario::Chapter(run), Some(bin))
        }
        None if args.backend_tests => (
            Scenario::BackendTests,
            Some(build_backend_tests(&repo, &progress)?),
        ),
        None => (Scenario::Script, None),
    };

    let runs: Vec<LineRun> = (selected.iter())
        .map(|line| LineRun {
            line,
            cache: &cache,
            repo: &repo,
            module_dir: &module_dir,
            own_stage,
            scenario: &scenario,
            script: &script,
            chapter_bin: chapter_bin.as_deref(),
            script_name: script_name.clone(),
            udev: args.udev,
            timeout: Duration::from_secs(args.timeout),
            memory_mib: args.memory,
            expect_hang: args.expect_hang,
        })
        .collect();
    let results = run_lines(&runs, &progress);
    let mut outcomes = Vec::new();
    for (line, result) in selected.iter().zip(results) {
        let mut outcome = result.unwrap_or_else(|err| Outcome {
            line: &line.name,
            problems: vec![format!("{err:#}")],
            transcript: None,
            output: Vec::new(),
        });
        let run = match (chapter, &args.script) {
            (Some(n), _) => Some(format!("--chapter {n}")),
            (None, Some(script)) => Some(format!("--script {}", script.display())),
            (None, None) => None,
        };
        if let (Some(file), Some(run)) = (&args.check_transcript, run) {
            let command = lab_command(
                &line.name,
                args.stage.as_deref(),
                args.udev,
                &run,
                args.expect_hang,
            );
            if let Some(problem) = check_transcript(file, args.bless, &command, &outcome.output)? {
                outcome.problems.push(problem);
            }
        }
        outcomes.push(outcome);
    }

    if let Some(copy) = &args.transcript {
        let mut text = String::new();
        for o in &outcomes {
            if let Some(t) = &o.transcript {
                if outcomes.len() > 1 {
                    text += &format!("=== Linux {} ===\n", o.line);
                }
                text += &fs::read_to_string(t)?;
            }
        }
        fs::write(copy, text).with_context(|| format!("writing {}", copy.display()))?;
    }

    println!();
    let mut all_passed = true;
    for o in &outcomes {
        if o.problems.is_empty() {
            println!("Linux {}: pass", o.line);
        } else {
            all_passed = false;
            println!("Linux {}: FAIL", o.line);
            for p in &o.problems {
                println!("  - {p}");
            }
        }
    }
    Ok(if all_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// How many guests one lab process boots at once ([`qemu::GUESTS_AT_ONCE`]
/// also bounds all lab processes on the machine together).
pub(crate) const GUESTS_AT_ONCE: usize = qemu::GUESTS_AT_ONCE;

/// Which scenario a lab run takes: the flags', else the stage's declared one.
#[derive(Debug, PartialEq, Eq)]
enum Chosen<'a> {
    Chapter(u32),
    /// A script named on the command line.
    Script(&'a Path),
    /// A script by its path in the stage's folder.
    StageScript(&'a str),
    /// `dmsetup targets` (or the backend's tests, with --backend-tests).
    Default,
}

fn choose_scenario<'a>(args: &'a LabArgs, declared: Option<&'a manifest::Scenario>) -> Chosen<'a> {
    match (args.chapter, &args.script, declared) {
        (Some(n), _, _) => Chosen::Chapter(n),
        (None, Some(file), _) => Chosen::Script(file),
        (None, None, Some(manifest::Scenario::Chapter(n))) => Chosen::Chapter(*n),
        (None, None, Some(manifest::Scenario::Script(path))) => Chosen::StageScript(path),
        (None, None, None) => Chosen::Default,
    }
}

/// A scenario script's bytes.
pub(crate) fn read_script(file: &Path) -> Result<Vec<u8>> {
    fs::read(file).with_context(|| format!("reading the script {}", file.display()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Lab {
        #[command(flatten)]
        args: LabArgs,
    }

    fn lab(flags: &[&str]) -> LabArgs {
        Lab::parse_from(std::iter::once("lab").chain(flags.iter().copied())).args
    }

    #[test]
    fn flags_win_over_the_stages_own_scenario() {
        let script = manifest::Scenario::Script("tests/check.sh".into());
        let chapter = manifest::Scenario::Chapter(3);
        let plain = lab(&["--stage", "s"]);
        assert_eq!(
            choose_scenario(&plain, Some(&script)),
            Chosen::StageScript("tests/check.sh")
        );
        assert_eq!(choose_scenario(&plain, Some(&chapter)), Chosen::Chapter(3));
        assert_eq!(choose_scenario(&plain, None), Chosen::Default);
        let with_chapter = lab(&["--stage", "s", "--chapter", "2"]);
        assert_eq!(
            choose_scenario(&with_chapter, Some(&script)),
            Chosen::Chapter(2)
        );
        let with_script = lab(&["--stage", "s", "--script", "x.sh"]);
        assert_eq!(
            choose_scenario(&with_script, Some(&chapter)),
            Chosen::Script(Path::new("x.sh"))
        );
    }

    #[test]
    fn a_hang_is_expected_of_a_script_only() {
        assert!(Lab::try_parse_from(["lab", "--expect-hang"]).is_err());
        assert!(Lab::try_parse_from(["lab", "--chapter", "7", "--expect-hang"]).is_err());
        assert!(Lab::try_parse_from(["lab", "--backend-tests", "--expect-hang"]).is_err());
        assert!(lab(&["--script", "x.sh", "--expect-hang"]).expect_hang);
        assert!(!lab(&["--script", "x.sh"]).expect_hang);
    }

    #[test]
    fn a_stage_and_a_module_folder_exclude_each_other() {
        let both = Lab::try_parse_from(["lab", "--stage", "s", "--module", "m"]);
        assert!(both.is_err());
        let unknown_line = Lab::try_parse_from(["lab", "--kernel", "4.19"]);
        assert!(unknown_line.is_err());
        assert_eq!(lab(&[]).kernel, lines::simulated().name);
    }
}
