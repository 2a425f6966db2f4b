//! Chapter 2: `dmsetup`'s verbs and a device's life cycle.
//!
//! `cargo run --bin chapter2` walks one device through every state on the
//! simulator; `--backend kernel` does the same on the running kernel.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::cli::{self, ChapterArgs};
use dm_workbook::scenarios::chapter2;

/// Walk one device through create, load, resume, reload, suspend, resume, a
/// refused resume and remove, trying I/O in each state.
#[derive(Parser)]
#[command(name = "chapter2", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    common: ChapterArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main("chapter2", || {
        let chapter = cli::chapter(2).expect("chapter 2 runs a scenario");
        let mut backend = cli.common.open(chapter)?;
        let mut stdout = std::io::stdout().lock();
        let report = chapter2::run(backend.as_mut(), &mut stdout)?;
        cli.common.write_report(&report)
    })
}
