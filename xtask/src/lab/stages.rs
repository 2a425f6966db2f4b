//! One boot, several stages: every stage of the manifest that loads on a
//! line, built for it and packed under `/lab/stages/DIR/`, with fio, for a
//! script that loads, drives and unloads them itself (`cargo xtask bench`
//! and `cargo xtask stress`).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};

use super::guest::{self, Scenario};
use super::initramfs::Content;
use super::lines::KernelLine;
use super::progress::Progress;
use super::{LineRun, kit, qemu, rust_kit};
use dm_workbook::manifest::{Expect, Manifest, Stage};

/// Where the guest finds fio, Debian's (`fio` in `.ci/lab-packages`), with
/// the shared libraries `ldd` names.
pub const FIO: &str = "/usr/bin/fio";

/// The stages that load on `line`: those the manifest expects to pass there,
/// in the manifest's order, or only `only` if given.
pub fn loading_on(line: &KernelLine, only: Option<&str>) -> Result<Vec<&'static Stage>> {
    let manifest = Manifest::bundled();
    if let Some(name) = only {
        ensure!(
            manifest.stage(name).is_some(),
            "no stage {name} in module/manifest.toml; known: {}",
            (manifest.stages.iter())
                .map(|s| s.dir.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok((manifest.stages.iter())
        .filter(|s| only.is_none_or(|name| s.dir == name))
        .filter(|s| s.expect_on(&line.name) == Some(&Expect::Pass))
        .collect())
}

/// The module a stage's `.ko` registers as, as `/sys/module` names it.
pub fn module_name(stage: &Stage) -> String {
    stage.ko.trim_end_matches(".ko").replace('-', "_")
}

/// A boot of `stages` on `line` running `script`.
pub struct StagesRun<'a> {
    pub line: &'static KernelLine,
    pub cache: &'a Path,
    pub repo: &'a Path,
    pub stages: &'a [&'static Stage],
    pub script: &'a [u8],
    /// Added to the kernel's command line.
    pub kernel_args: &'a str,
    pub timeout: Duration,
    pub memory_mib: u32,
}

/// What the boot gave: the script's output and why it failed, if it did.
pub struct StagesOutcome {
    pub problems: Vec<String>,
    pub output: Vec<String>,
    pub seconds: f64,
    pub transcript: PathBuf,
}

impl StagesRun<'_> {
    pub fn run(&self, progress: &Progress) -> Result<StagesOutcome> {
        let name = self.line.name.as_str();
        let first = self.stages.first().context("no stage to run")?;
        let _lock = kit::lock_line(self.cache, name, progress)?;
        let line_dir = self.cache.join("lines").join(name);
        let packed = line_dir.join("stages");
        if packed.exists() {
            fs::remove_dir_all(&packed)?;
        }
        let mut kos = Vec::new();
        for stage in self.stages {
            let dir = self.repo.join(stage.folder());
            let kit = kit::prepare(self.line, self.cache, progress)?;
            let kit = if rust_kit::holds_rust(&dir)? {
                kit.with_rust(self.cache, progress)?
            } else {
                kit
            };
            let step = progress.step(format!("{name}: building {}", stage.dir));
            let built = kit.build_module(
                &dir,
                &self.repo.join("module/compat"),
                &line_dir.join("build"),
            )?;
            ensure!(
                built.warnings.is_empty(),
                "{} built with warnings on {name}: {}",
                stage.dir,
                built.warnings.join("; ")
            );
            // Builds share one folder (a chroot's /build): keep each .ko.
            let keep = packed.join(&stage.dir);
            fs::create_dir_all(&keep)?;
            for ko in &built.kos {
                let file = ko.file_name().context("a .ko without a name")?;
                fs::copy(ko, keep.join(file))?;
                kos.push((
                    format!(
                        "{}/{}/{}",
                        guest::STAGES_DIR,
                        stage.dir,
                        file.to_string_lossy()
                    ),
                    keep.join(file),
                ));
            }
            step.done_with(stage.ko.clone());
        }

        let kit = kit::prepare(self.line, self.cache, progress)?;
        let step = progress.step(format!("{name}: packing the initramfs"));
        let lab = LineRun {
            line: self.line,
            cache: self.cache,
            repo: self.repo,
            module_dir: &self.repo.join(first.folder()),
            own_stage: true,
            scenario: &Scenario::Stages,
            script: self.script,
            chapter_bin: None,
            script_name: Some("stages".to_string()),
            udev: false,
            expect_hang: false,
            timeout: self.timeout,
            memory_mib: self.memory_mib,
        };
        let mut fs = lab.initramfs(&kit, &[], &[])?;
        for (guest_path, host) in kos {
            fs.file(&guest_path, Content::Host(host), 0o644);
        }
        fs.program(Path::new(FIO), FIO)
            .context("fio is needed in the guest: apt-get install fio")?;
        let initrd = line_dir.join("initrd-stages.cpio");
        fs.write(std::io::BufWriter::new(fs::File::create(&initrd)?))?;
        step.done_with(format!("{} entries", fs.nodes().len()));

        let runs = self.cache.join("runs");
        fs::create_dir_all(&runs)?;
        let transcript = runs.join(format!("{name}-stages.log"));
        let _slot = qemu::guest_slot(self.cache, progress)?;
        let step = progress.step(format!("{name}: booting {}", kit.release));
        let boot = qemu::boot(
            &kit.vmlinuz(),
            &initrd,
            self.memory_mib,
            self.kernel_args,
            &transcript,
            self.timeout,
            &step,
        )?;
        step.done_with(format!(
            "{:.0} s, transcript {}",
            boot.seconds,
            transcript.display()
        ));
        let mut problems = boot.run.problems();
        if boot.timed_out {
            problems.insert(
                0,
                format!(
                    "the guest hung: no power-off within {} s",
                    self.timeout.as_secs()
                ),
            );
        }
        Ok(StagesOutcome {
            problems,
            output: boot.run.output.clone(),
            seconds: boot.seconds,
            transcript,
        })
    }
}
