//! Chapter 1: a mapped device, shown live.
//!
//! `cargo run --bin chapter1` maps part of a backing file with `linear`, writes
//! and reads one sector through it, and shows where the bytes landed.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::cli::{self, ChapterArgs};
use dm_workbook::scenarios::chapter1::{self, Options};

/// Map part of a disk with `linear` and follow a read and a write through it.
#[derive(Parser)]
#[command(name = "chapter1", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    common: ChapterArgs,

    /// Where the mapped device starts on the disk, in 512-byte sectors.
    #[arg(long, default_value_t = Options::default().offset)]
    offset: u64,

    /// Which sector of the mapped device to write.
    #[arg(long, default_value_t = Options::default().write_sector)]
    sector: u64,

    /// The text to write.
    #[arg(long, default_value_t = Options::default().message)]
    message: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main("chapter1", || run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let defaults = Options::default();
    let options = Options {
        offset: cli.offset,
        write_sector: cli.sector,
        message: cli.message.clone(),
        ..defaults
    };
    anyhow::ensure!(
        options.offset + options.sectors <= options.backing_sectors,
        "--offset {} puts the device's end past the {}-sector disk (at most {})",
        options.offset,
        options.backing_sectors,
        options.backing_sectors - options.sectors
    );
    anyhow::ensure!(
        options.write_sector < options.sectors,
        "--sector {} is past the device's {} sectors",
        options.write_sector,
        options.sectors
    );
    anyhow::ensure!(
        options.message.len() <= 512,
        "--message must fit in one 512-byte sector"
    );
    let mut backend = cli
        .common
        .open(cli::chapter(1).expect("chapter 1 runs a scenario"))?;
    let mut stdout = std::io::stdout().lock();
    let report = chapter1::run(backend.as_mut(), &options, &mut stdout)?;
    cli.common.write_report(&report)
}
