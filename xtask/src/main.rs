//! The maintainer's runner: `cargo xtask <command>`.
//!
//! - `lab`: boot a real Debian kernel in qemu and run a stage's scenario, a chapter or a script in it.
//! - `listings`: prove that every code block in the book is tested.
//! - `matrix`: every module stage against every kernel line, built, booted or failing as declared.
//! - `corpus`: real third-party targets built on every line, the drift doctor held to their errors.
//! - `new-stage`: import a module folder as a stage of `module/manifest.toml`.
//! - `kbuild-dir`: print a kernel line's build folder (its unpacked headers).
//! - `provision-check`: run the Vagrant box's provisioning in a Debian 12 chroot.
//! - `bench`: every stage against `linear` with fio, in one boot of a kernel line.
//! - `stress`: every stage under verified I/O while suspended, reloaded and sent messages.
//! - `exercises`: the workshop's exercises: skeletons fail, solutions pass.

mod apt;
mod bench;
mod corpus;
mod equivalence;
mod exercises;
mod kbuild_dir;
mod kits;
mod lab;
mod listings;
mod matrix;
mod measure_config;
mod module_files;
mod new_module;
mod new_stage;
mod provision;
mod stress;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "dm-workbook's maintainer tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Boot a real kernel in qemu and run a stage's scenario, a chapter's or a script in it.
    Lab(lab::LabArgs),
    /// List every fenced block in the book with how it is tested.
    Listings(listings::ListingsArgs),
    /// Build every module stage for every kernel line; boot and run the stages
    /// that must pass, check the errors of those that must fail.
    Matrix(matrix::MatrixArgs),
    /// Build real targets written elsewhere (fetched through apt) on every
    /// kernel line and hold the drift doctor's findings to the compiler's
    /// errors; writes book/src/generated/corpus.md.
    Corpus(corpus::CorpusArgs),
    /// Import a module folder as the stage module/NAME, with its manifest
    /// entry (expected to pass on every kernel line).
    NewStage(new_stage::NewStageArgs),
    /// Write a module folder to start a target from: a passthrough that the
    /// lab takes as it is, with a Kbuild and a check script.
    NewModule(new_module::NewModuleArgs),
    /// Print a kernel line's build folder for `make -C` (making its kit if
    /// it is missing).
    KbuildDir(kbuild_dir::KbuildDirArgs),
    /// Make the kernel lines' kits in the cache (downloads, chroots), two at
    /// a time, without booting anything.
    Kits(kits::KitsArgs),
    /// Run vagrant/provision.sh in a fresh Debian 12 chroot and check the result.
    ProvisionCheck(provision::ProvisionArgs),
    /// Measure every stage that loads on a line against `linear` with fio,
    /// in one boot; writes JSON, a Markdown table and an SVG plot.
    Bench(bench::BenchArgs),
    /// Each stage under concurrent verified I/O while it is suspended,
    /// resumed, reloaded, sent messages and asked for its status; one boot
    /// per line.
    Stress(stress::StressArgs),
    /// The workshop's authoring check: every exercise's skeleton fails its
    /// check and its solution passes, on the simulator and in the lab.
    Exercises(exercises::ExercisesArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Lab(args) => lab::run(args),
        Task::Listings(args) => listings::run(args),
        Task::Matrix(args) => matrix::run(args),
        Task::Corpus(args) => corpus::run(args),
        Task::NewStage(args) => new_stage::run(args),
        Task::NewModule(args) => new_module::run(args),
        Task::KbuildDir(args) => kbuild_dir::run(args),
        Task::Kits(args) => kits::run(args),
        Task::ProvisionCheck(args) => provision::run(args),
        Task::Bench(args) => bench::run(args),
        Task::Stress(args) => stress::run(args),
        Task::Exercises(args) => exercises::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}

/// The repository's top folder (xtask lives one below it).
pub fn repo_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(PathBuf::from)
        .context("xtask has no parent folder")
}

/// Downloads, chroots and boot kits live here, outside the repository:
/// `$DMW_CACHE`, or `~/.cache/dm-workbook`.
pub fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DMW_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("neither DMW_CACHE nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache/dm-workbook"))
}

/// Run a command; fail with its last lines of output if it fails.
///
/// Why plain `std::process::Command` and not `xshell`: of xtask's twenty-odd
/// commands, most stream their output into progress bars (apt's status lines,
/// qemu's console), run under `unshare` in a chroot, or need the exit status
/// and both streams apart; the few plain ones are a line each here. `cmd!`
/// would save little and add a second way to run a program.
pub fn run_checked(cmd: &mut Command) -> Result<()> {
    let output = cmd
        .output()
        .with_context(|| format!("starting {:?}", cmd.get_program()))?;
    if !output.status.success() {
        let text = String::from_utf8_lossy(&output.stderr).into_owned()
            + &String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = text.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "{:?} failed ({}):\n{}",
            cmd.get_program(),
            output.status,
            tail.join("\n")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// `--kernel` takes exactly the manifest's lines, and its help says so.
    #[test]
    fn kernel_flags_take_the_manifests_lines() {
        let cli = Cli::command();
        cli.clone().debug_assert();
        let lines = dm_workbook::manifest::Manifest::bundled().line_names();
        for task in ["lab", "matrix", "kbuild-dir"] {
            let command = cli.find_subcommand(task).expect(task);
            let kernel = (command.get_arguments())
                .find(|a| a.get_id() == "kernel" || a.get_id() == "kernels")
                .expect("--kernel");
            let values: Vec<String> = (kernel.get_possible_values().iter())
                .map(|v| v.get_name().to_string())
                .collect();
            assert_eq!(values, lines, "{task}");
        }
    }
}
