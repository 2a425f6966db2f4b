//! Chapter 3: the hello_target workflow, step by step.
//!
//! `cargo run --bin chapter3` runs every step on the simulator;
//! `sudo cargo run --features kernel --bin chapter3 -- --backend kernel` runs
//! them on the machine's own kernel.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::cli::{self, ChapterArgs};
use dm_workbook::scenarios::chapter3::{self, ALL_STEPS, DEFAULT_SEED, Options, Step, WRITE_BYTES};

/// Create a device with hello_target, write through it, format it, tear it down.
#[derive(Parser)]
#[command(name = "chapter3", version, about, long_about = None)]
struct Cli {
    /// Steps to run, in order (default: all of them).
    #[arg(value_enum)]
    steps: Vec<Step>,

    #[command(flatten)]
    common: ChapterArgs,

    /// A table to try instead of `0 262144 hello_target <loop device> 0`.
    #[arg(long, value_name = "LINE")]
    table: Option<String>,

    /// Seed for the pseudo-random data the write step writes.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,

    /// Where the write step writes: a sector of the mapped device.
    #[arg(long, default_value_t = 0, value_name = "SECTOR")]
    at: u64,

    /// How many bytes the write step writes (whole 512-byte sectors).
    #[arg(long, default_value_t = WRITE_BYTES as u64, value_name = "N")]
    bytes: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main("chapter3", || run(&cli))
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
        at: cli.at,
        bytes: cli.bytes,
        ..Options::default()
    };
    let mut backend = cli
        .common
        .open(cli::chapter(3).expect("chapter 3 runs a scenario"))?;
    let mut stdout = std::io::stdout().lock();
    let report = chapter3::run(backend.as_mut(), &steps, &options, &mut stdout)?;
    cli.common.write_report(&report)
}
