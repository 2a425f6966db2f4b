//! Chapter 7: deferred I/O and suspend.
//!
//! `cargo run --bin chapter7` loads stage 4's `deferred` over a loop device,
//! starts writes that the target holds for a delay, and suspends the device
//! with them in flight: plainly, and with `--noflush` and a new table. Every
//! write must end well and be on the disk.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::cli::{self, ChapterArgs};
use dm_workbook::scenarios::chapter7::{self, Options};

/// Suspend and resume stage 4's deferred with writes in flight, and lose none.
#[derive(Parser)]
#[command(name = "chapter7", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    common: ChapterArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main("chapter7", || run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut backend = cli
        .common
        .open(cli::chapter(7).expect("chapter 7 runs a scenario"))?;
    let mut stdout = std::io::stdout().lock();
    let report = chapter7::run(backend.as_mut(), &Options::default(), &mut stdout)?;
    cli.common.write_report(&report)
}
