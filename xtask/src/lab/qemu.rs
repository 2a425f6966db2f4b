//! Booting a kit in qemu (TCG, no KVM) and reading its serial console.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::guest::{GuestLine, Run, parse_line};
use super::progress::{Progress, Step};

/// How many guests boot at once on this machine: under TCG each keeps one
/// core busy, and the machines this runs on have two.
pub const GUESTS_AT_ONCE: usize = 2;

/// One of the machine's [`GUESTS_AT_ONCE`] guest slots, held until dropped.
/// A lock file per slot under the cache, so that several lab processes (CI's
/// steps run side by side, a learner's second terminal) share the cores
/// rather than each booting its own two guests. The kernel drops a lock when
/// its holder dies, so a killed run leaves no slot taken.
pub fn guest_slot(cache: &Path, progress: &Progress) -> Result<File> {
    let dir = cache.join("guests");
    std::fs::create_dir_all(&dir)?;
    let slots: Vec<File> = (0..GUESTS_AT_ONCE)
        .map(|i| File::create(dir.join(format!("slot-{i}.lock"))))
        .collect::<std::io::Result<_>>()?;
    let mut waiting: Option<Step> = None;
    loop {
        for slot in &slots {
            if slot.try_lock().is_ok() {
                if let Some(step) = waiting {
                    step.done();
                }
                return Ok(slot.try_clone()?);
            }
        }
        if waiting.is_none() {
            waiting = Some(progress.step("waiting for a free guest slot (other labs are running)"));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The kernel's command line in every boot. An oops panics and the panic
/// reboots, which -no-reboot turns into qemu's exit: a crashed guest ends in
/// seconds. loglevel=5 puts warnings on the console too, so a guest that dies
/// still shows the line that explains why.
const BASE_APPEND: &str = "console=ttyS0 panic=-1 oops=panic loglevel=5";

/// What one boot gave.
pub struct Boot {
    pub run: Run,
    pub timed_out: bool,
    pub seconds: f64,
}

/// Boot `kernel` with `initrd`, feeding each console line to a [`Run`],
/// echoing the scenario's output through `step`, and writing every line to
/// `transcript`. The guest is killed after `limit`. `kernel_args` are added
/// to the lab's own command line (empty for most runs).
pub fn boot(
    kernel: &Path,
    initrd: &Path,
    memory_mib: u32,
    kernel_args: &str,
    transcript: &Path,
    limit: Duration,
    step: &Step,
) -> Result<Boot> {
    let append = format!("{BASE_APPEND} {kernel_args}");
    let start = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .arg("-m")
        .arg(memory_mib.to_string())
        .args(["-cpu", "max", "-nic", "none"])
        .args(["-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initrd)
        .args(["-append", append.trim_end()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let stdout = child.stdout.take().context("qemu's console")?;
    let stderr = child.stderr.take().context("qemu's errors")?;

    // Lines from a thread, so the time limit holds while the guest is silent.
    let (lines, received) = mpsc::channel();
    let errors = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            if lines
                .send(String::from_utf8_lossy(&line).into_owned())
                .is_err()
            {
                break;
            }
        }
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if errors.send(format!("qemu: {line}")).is_err() {
                break;
            }
        }
    });

    let mut log =
        File::create(transcript).with_context(|| format!("creating {}", transcript.display()))?;
    let mut run = Run::default();
    let deadline = start + limit;
    let mut timed_out = false;
    let mut live = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => {
                let line = line.trim_end_matches('\r').to_string();
                writeln!(log, "{line}")?;
                match parse_line(&line) {
                    GuestLine::Step { name, detail } => {
                        step.update(&format!("{name} {detail}"));
                        if name == "failed" {
                            step.println(&format!("  ! {detail}"));
                        }
                    }
                    GuestLine::Live(text) => {
                        live = true;
                        step.println(&format!("  | {text}"));
                    }
                    // A chapter's saved output repeats what was shown live.
                    GuestLine::Out(text) if !live => step.println(&format!("  | {text}")),
                    _ => {}
                }
                if line.starts_with("qemu: ") {
                    step.println(&line);
                }
                run.feed(&line);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                writeln!(log, "[lab] time limit of {} s reached", limit.as_secs())?;
                let _ = child.kill();
                break;
            }
            // Both pipes closed: qemu has exited.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    child.wait().context("waiting for qemu")?;
    run.settle();
    Ok(Boot {
        run,
        timed_out,
        seconds: start.elapsed().as_secs_f64(),
    })
}
