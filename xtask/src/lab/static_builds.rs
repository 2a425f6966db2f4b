//! The static programs a guest runs: the chapter binaries and the kernel
//! backend's tests, built with the `kernel` feature for any x86-64 Linux.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use dm_workbook::cli::Chapter;

use super::progress::Progress;
use crate::run_checked;

/// Build the chapter binaries static with the kernel backend, in their own
/// target folder (the flags differ from a normal build); returns chapter N's
/// and its entry in the chapter table, which says how to call it.
pub(crate) fn build_chapter_binary(
    repo: &Path,
    chapter: u32,
    progress: &Progress,
) -> Result<(PathBuf, &'static Chapter)> {
    let entry = dm_workbook::cli::chapter(chapter)
        .with_context(|| format!("chapter {chapter} runs no scenario on a kernel"))?;
    if let Some(why) = entry.simulator_only {
        bail!("chapter {chapter} runs on the simulator only: {why}");
    }
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    let target_dir = repo.join("target/lab");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let step = progress.step("building the chapter binaries (static, --features kernel)");
    // The explicit --target keeps the static flag off build scripts.
    run_checked(
        Command::new(cargo)
            .current_dir(repo)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .args(["build", "--release", "--features", "kernel", "--bins"])
            .args(["--target", TARGET])
            .arg("--target-dir")
            .arg(&target_dir),
    )
    .context("the chapter binaries do not build with --features kernel")?;
    step.done();
    let bin = target_dir.join(format!("{TARGET}/release/chapter{chapter}"));
    if !bin.exists() {
        bail!("there is no chapter{chapter} binary");
    }
    Ok((bin, entry))
}

/// Build `tests/kernel_backend.rs` static, as the chapter binaries are, and
/// return the test executable cargo made.
pub(crate) fn build_backend_tests(repo: &Path, progress: &Progress) -> Result<PathBuf> {
    const TARGET: &str = "x86_64-unknown-linux-gnu";
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let step = progress.step("building the kernel backend's tests (static, --features kernel)");
    let output = Command::new(cargo)
        .current_dir(repo)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .args(["test", "--no-run", "--release", "--features", "kernel"])
        .args(["--test", "kernel_backend", "--message-format", "json"])
        .args(["--target", TARGET])
        .arg("--target-dir")
        .arg(repo.join("target/lab"))
        .output()
        .context("running cargo test --no-run")?;
    ensure!(
        output.status.success(),
        "the kernel backend's tests do not build: {}",
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .rev()
            .find(|l| l.contains("error"))
            .unwrap_or("cargo failed")
    );
    step.done();
    // cargo names the test executable in its `compiler-artifact` message.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["target"]["name"] == "kernel_backend" && m["profile"]["test"] == true)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .context("cargo built no kernel_backend test executable")
}
