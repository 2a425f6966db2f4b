//! Chapter 3: the hello_target workflow, step by step.
//!
//! `cargo run --bin chapter3` runs every step on the simulator;
//! `sudo cargo run --features kernel --bin chapter3 -- --backend kernel` runs
//! them on the machine's own kernel.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use dm_workbook::driver::{self, BackendKind, OpenOptions};
use dm_workbook::scenarios::chapter3::{self, ALL_STEPS, DEFAULT_SEED, Options, Step};

/// Create a device with hello_target, write through it, format it, tear it down.
#[derive(Parser)]
#[command(name = "chapter3", version, about, long_about = None)]
struct Cli {
    /// Steps to run, in order (default: all of them).
    #[arg(value_enum)]
    steps: Vec<Step>,

    /// Where to run: the built-in simulator or the running kernel (needs root).
    #[arg(long, value_enum, default_value_t = BackendKind::Sim)]
    backend: BackendKind,

    /// A table to try instead of `0 262144 hello_target <loop device> 0`.
    #[arg(long, value_name = "LINE")]
    table: Option<String>,

    /// Seed for the 16 KiB of pseudo-random data the write step writes.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,

    /// Load this prebuilt hello_target.ko instead of building the module
    /// (kernel backend).
    #[arg(long, value_name = "PATH")]
    module_ko: Option<PathBuf>,

    /// Also write what the run found (tables, status, data placement) as JSON.
    #[arg(long, value_name = "FILE")]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chapter3: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let steps = if cli.steps.is_empty() {
        ALL_STEPS.to_vec()
    } else {
        cli.steps.clone()
    };
    let options = Options {
        table: cli.table.clone(),
        seed: cli.seed,
        ..Options::default()
    };
    let mut backend = driver::open(
        cli.backend,
        &OpenOptions {
            module_ko: cli.module_ko.clone(),
        },
    )?;
    let mut stdout = std::io::stdout().lock();
    let report = chapter3::run(backend.as_mut(), &steps, &options, &mut stdout)?;
    if let Some(path) = &cli.report {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n")
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
    }
    Ok(())
}
