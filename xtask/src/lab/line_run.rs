//! One kernel line's run: build the module for the line's kit, pack the
//! initramfs, boot it, and judge what the guest reported (an expected hang
//! with `--expect-hang`, the simulator's answers beside the kernel's through
//! `equivalence`).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Result, ensure};

use super::guest::{self, Scenario};
use super::lines::KernelLine;
use super::progress::Progress;
use super::{GUESTS_AT_ONCE, hang, initramfs, kit, qemu, rust_kit};
use crate::equivalence;

/// Run each line, [`GUESTS_AT_ONCE`] at a time; the results in `runs`' order.
pub(super) fn run_lines<'a>(runs: &'a [LineRun<'a>], progress: &Progress) -> Vec<Result<Outcome>> {
    let next = AtomicUsize::new(0);
    let results: Vec<Mutex<Option<Result<Outcome>>>> =
        runs.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..GUESTS_AT_ONCE.min(runs.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(run) = runs.get(i) else { break };
                    let outcome = run.run(progress);
                    if let Ok(mut slot) = results[i].lock() {
                        *slot = Some(outcome);
                    }
                }
            });
        }
    });
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .ok()
                .flatten()
                .unwrap_or_else(|| Err(anyhow::anyhow!("the line's run panicked")))
        })
        .collect()
}

/// What one kernel line's run found.
pub(crate) struct Outcome {
    pub line: &'static str,
    pub problems: Vec<String>,
    pub transcript: Option<PathBuf>,
    /// What the scenario printed in the guest.
    pub output: Vec<String>,
}

/// A boot that runs `script` with no module of the lab's loaded and
/// `files` added to the initramfs (their modules, scripts and data), on a
/// kit the caller has prepared (holding the line's lock): what the
/// workshop's checks use to run many modules in one guest, each loaded and
/// unloaded by its own check. Returns what the guest said, the console
/// transcript's lines in order, and how long the boot took.
#[allow(clippy::too_many_arguments)]
pub(crate) fn boot_with_files(
    kit: &kit::Kit,
    cache: &Path,
    repo: &Path,
    script: &[u8],
    files: Vec<(String, initramfs::Content)>,
    udev: bool,
    timeout: Duration,
    progress: &Progress,
) -> Result<(guest::Run, Vec<String>, f64, bool)> {
    let name = kit.line.name.as_str();
    let run = LineRun {
        line: kit.line,
        cache,
        repo,
        module_dir: repo,
        own_stage: false,
        scenario: &Scenario::Script,
        script,
        chapter_bin: None,
        script_name: Some("files".to_string()),
        udev,
        expect_hang: false,
        timeout,
        memory_mib: DEFAULT_MEMORY_MIB,
    };
    let step = progress.step(format!("{name}: packing the initramfs"));
    let mut fs = run.initramfs(kit, &[], &[])?;
    for (path, content) in files {
        fs.file(&path, content, 0o644);
    }
    let line_dir = cache.join("lines").join(name);
    fs::create_dir_all(&line_dir)?;
    let initrd = line_dir.join("initrd-files.cpio");
    fs.write(std::io::BufWriter::new(fs::File::create(&initrd)?))?;
    step.done_with(format!("{} entries", fs.nodes().len()));
    let runs = cache.join("runs");
    fs::create_dir_all(&runs)?;
    let transcript = runs.join(format!("{name}-files.log"));
    let _slot = qemu::guest_slot(cache, progress)?;
    let step = progress.step(format!("{name}: booting {}", kit.release));
    let boot = qemu::boot(
        &kit.vmlinuz(),
        &initrd,
        DEFAULT_MEMORY_MIB,
        "",
        &transcript,
        timeout,
        &step,
    )?;
    step.done_with(format!("transcript {}", transcript.display()));
    let lines = fs::read_to_string(&transcript)?
        .lines()
        .map(str::to_string)
        .collect();
    Ok((boot.run, lines, boot.seconds, boot.timed_out))
}

/// Everything one line's boot needs.
pub(crate) struct LineRun<'a> {
    pub line: &'static KernelLine,
    pub cache: &'a Path,
    pub repo: &'a Path,
    pub module_dir: &'a Path,
    pub own_stage: bool,
    pub scenario: &'a Scenario,
    pub script: &'a [u8],
    pub chapter_bin: Option<&'a Path>,
    /// The script's file stem, for the transcript's name.
    pub script_name: Option<String>,
    /// Run Debian's udev in the guest (`--udev`).
    pub udev: bool,
    pub timeout: Duration,
    /// The guest's memory; its /tmp (a tmpfs) may fill half of it.
    pub memory_mib: u32,
    /// Whether the scenario must end in a reported hang (`--expect-hang`).
    pub expect_hang: bool,
}

/// The guest's memory unless --memory says otherwise: room in /tmp (half of
/// it) for a 128 MiB file written with dd, as a learner's setup script does.
pub const DEFAULT_MEMORY_MIB: u32 = 512;

impl LineRun<'_> {
    /// What ran, for the transcript's file name: the module folder and the
    /// scenario, such as `stage1-hello-chapter3` or `stage1-hello-flush`.
    fn label(&self) -> String {
        let module = self.module_dir.file_name().map_or_else(
            || "module".to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let scenario = match self.scenario {
            Scenario::Chapter(run) => format!("chapter{}", run.number),
            Scenario::BackendTests => "backend-tests".to_string(),
            Scenario::Stages => "stages".to_string(),
            Scenario::Script => self.script_name.clone().unwrap_or_else(|| "script".into()),
        };
        format!("{module}-{scenario}")
    }

    pub fn run(&self, progress: &Progress) -> Result<Outcome> {
        let name = self.line.name.as_str();
        let lock = kit::lock_line(self.cache, name, progress)?;
        let kit = kit::prepare(self.line, self.cache, progress)?;
        // A module with Rust sources builds where the kernel's Rust crates are.
        let kit = if rust_kit::holds_rust(self.module_dir)? {
            kit.with_rust(self.cache, progress)?
        } else {
            kit
        };
        let line_dir = self.cache.join("lines").join(name);

        let step = progress.step(format!(
            "{name}: building {} for {}",
            self.module_dir.display(),
            kit.release
        ));
        let built = kit.build_module(
            self.module_dir,
            &self.repo.join("module/compat"),
            &line_dir.join("build"),
        )?;
        let ko_names: Vec<String> = built
            .kos
            .iter()
            .filter_map(|k| k.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        step.done_with(ko_names.join(" "));
        for w in &built.warnings {
            eprintln!("  warning: {w}");
        }
        // The workbook's own stages build without a warning on every line.
        ensure!(
            !self.own_stage || built.warnings.is_empty(),
            "the stage built with {} warning(s)",
            built.warnings.len()
        );

        // Each run packs its own initramfs and keeps its own transcript, so
        // that the line's lock can be let go before the boot: two labs on
        // one line (CI's steps side by side) then build in turn but boot
        // together.
        let runs = self.cache.join("runs");
        fs::create_dir_all(&runs)?;
        let label = format!("{name}-{}", self.label());
        let step = progress.step(format!("{name}: packing the initramfs"));
        let initrd = tempfile::Builder::new()
            .prefix(&format!("{label}-"))
            .suffix(".cpio")
            .tempfile_in(&runs)?;
        let fs = self.initramfs(&kit, &built.kos, &ko_names)?;
        fs.write(std::io::BufWriter::new(initrd.as_file()))?;
        step.done_with(format!("{} entries", fs.nodes().len()));
        drop(lock);

        let transcript = runs.join(format!("{label}.log"));
        // The slot is held for the boot only: other lab processes on this
        // machine (CI's parallel steps, a second terminal) wait for one.
        let _slot = qemu::guest_slot(self.cache, progress)?;
        let step = progress.step(format!("{name}: booting {}", kit.release));
        let boot = qemu::boot(
            &kit.vmlinuz(),
            initrd.path(),
            self.memory_mib,
            "",
            &transcript,
            self.timeout,
            &step,
        )?;
        let seconds = boot.seconds;
        step.done_with(format!("transcript {}", transcript.display()));

        let mut problems = boot.run.problems();
        let mut output = boot.run.output.clone();
        if self.expect_hang {
            hang::expect(&boot.run, boot.timed_out, &mut problems, &mut output);
        }
        if boot.timed_out {
            problems.insert(
                0,
                format!(
                    "the guest hung: no power-off within {} s (raise it with --timeout)",
                    self.timeout.as_secs()
                ),
            );
        }
        problems.extend(equivalence::lab_run_problems(
            name,
            self.scenario,
            &boot.run,
        )?);
        print_summary(name, &boot.run, seconds, &transcript);
        Ok(Outcome {
            line: name,
            problems,
            transcript: Some(transcript),
            output,
        })
    }
}

fn print_summary(line: &str, run: &guest::Run, seconds: f64, transcript: &Path) {
    // Built whole and printed at once: two lines' runs may end together.
    let mut text = format!("\n== Linux {line}: the guest's steps ({seconds:.1} s) ==\n");
    for (name, detail) in &run.steps {
        text += &format!("  {name} {detail}\n");
    }
    if !run.dmesg.is_empty() {
        text += "-- kernel log during the scenario --\n";
        for l in &run.dmesg {
            text += &format!("  {l}\n");
        }
    }
    text += &match &run.result {
        Some((true, detail)) => format!("-- guest result: pass ({detail})\n"),
        Some((false, detail)) => format!("-- guest result: FAIL ({detail})\n"),
        None => "-- guest result: none\n".to_string(),
    };
    text += &format!("-- full console transcript: {}\n", transcript.display());
    print!("{text}");
}
