//! `cargo xtask bench --here`: the same runs on the machine's own kernel,
//! such as the Vagrant box's, where the CPU is not emulated.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};

use super::{BenchArgs, Place, Ran, script};
use crate::lab::kit::Kit;
use crate::lab::lines::{self, KernelLine};
use crate::measure_config::StageConfig;
use dm_workbook::manifest::Stage;

fn output(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    ensure!(out.status.success(), "{program} {args:?} failed");
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The manifest's line of the running kernel: `6.1.0-28-amd64` is 6.1.
pub fn line() -> Result<&'static KernelLine> {
    let release = output("uname", &["-r"])?;
    lines::all()
        .iter()
        .find(|l| release == l.name || release.starts_with(&format!("{}.", l.name)))
        .with_context(|| format!("the running kernel {release} is none of the manifest's lines"))
}

pub fn run(
    line: &'static KernelLine,
    repo: &Path,
    configured: &[Vec<(&Stage, StageConfig)>],
    args: &BenchArgs,
) -> Result<Ran> {
    ensure!(
        output("id", &["-u"])? == "0",
        "--here loads modules and makes devices: run it as root"
    );
    let release = output("uname", &["-r"])?;
    let headers = PathBuf::from(format!("/usr/src/linux-headers-{release}"));
    ensure!(
        headers.exists(),
        "no headers for {release} in {}: install linux-headers-{release}",
        headers.display()
    );
    let kit = Kit {
        line,
        release,
        root: PathBuf::from("/"),
        chroot: None,
    };
    let work = tempfile::tempdir()?;
    for (stage, _) in configured.iter().flatten() {
        let built = kit.build_module(
            &repo.join(stage.folder()),
            &repo.join("module/compat"),
            &work.path().join("build"),
        )?;
        let keep = work.path().join("stages").join(&stage.dir);
        std::fs::create_dir_all(&keep)?;
        for ko in &built.kos {
            std::fs::copy(
                ko,
                keep.join(ko.file_name().context("a .ko without a name")?),
            )?;
        }
        println!("built {}", stage.dir);
    }
    // The loop device's file in RAM, as in the lab's guest.
    let shm = Path::new("/dev/shm");
    let backing = tempfile::Builder::new()
        .prefix("dmw-bench")
        .tempfile_in(if shm.is_dir() { shm } else { work.path() })?;
    backing.as_file().set_len(128 << 20)?;
    let path = backing.path().to_string_lossy().into_owned();
    let loop_device = output("losetup", &["-f", "--show", &path])?;
    let stages_dir = work.path().join("stages").to_string_lossy().into_owned();
    let text = script(
        configured,
        args.rounds,
        args.seconds,
        &Place {
            stages: &stages_dir,
            loop_device: &loop_device,
        },
    );
    let start = Instant::now();
    let ran = run_script(&text);
    let detached = output("losetup", &["-d", &loop_device]);
    let (output, status) = ran?;
    detached?;
    let mut problems = Vec::new();
    if !status {
        problems.push("the script failed (its BENCH-FAIL lines say why)".to_string());
    }
    Ok(Ran {
        output,
        problems,
        seconds: start.elapsed().as_secs_f64(),
        log: "the lines above".to_string(),
    })
}

/// Run the script with sh, echoing its lines as they come.
fn run_script(text: &str) -> Result<(Vec<String>, bool)> {
    let mut child = Command::new("sh")
        .args(["-c", text])
        .stdout(Stdio::piped())
        .spawn()
        .context("running sh")?;
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().context("sh's output")?).lines() {
        let line = line?;
        if let Some(short) = line.split(';').next() {
            println!("  | {short}");
        }
        lines.push(line);
    }
    let status = child.wait()?;
    if !status.success() && lines.is_empty() {
        bail!("the script failed before it printed anything");
    }
    Ok((lines, status.success()))
}
