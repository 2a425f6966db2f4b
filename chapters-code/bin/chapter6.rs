//! Chapter 6: faults on purpose.
//!
//! `cargo run --bin chapter6` loads stage 3's `faulty` over a loop device
//! with one bad sector, writes and reads it in each of the target's modes
//! (switched by message), changes the bad-sector list by message, and shows
//! the messages the target refuses and why.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::cli::{self, ChapterArgs};
use dm_workbook::scenarios::chapter6::{self, Options};

/// Fail reads and writes on purpose with stage 3's faulty, and watch the disk.
#[derive(Parser)]
#[command(name = "chapter6", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    common: ChapterArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main("chapter6", || run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut backend = cli
        .common
        .open(cli::chapter(6).expect("chapter 6 runs a scenario"))?;
    let mut stdout = std::io::stdout().lock();
    let report = chapter6::run(backend.as_mut(), &Options::default(), &mut stdout)?;
    cli.common.write_report(&report)
}
