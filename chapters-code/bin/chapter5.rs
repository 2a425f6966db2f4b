//! Chapter 5: the proxy, counting what passes.
//!
//! `cargo run --bin chapter5` loads stage 2's `proxy` over a loop device,
//! does a known amount of direct I/O through it, and checks that `dmsetup
//! status` counted exactly that; then `reset`, refused messages and the
//! table line.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::cli::{self, ChapterArgs};
use dm_workbook::scenarios::chapter5::{self, Options};

/// Count what passes through stage 2's proxy, and check the count.
#[derive(Parser)]
#[command(name = "chapter5", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    common: ChapterArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::main("chapter5", || run(&cli))
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let mut backend = cli
        .common
        .open(cli::chapter(5).expect("chapter 5 runs a scenario"))?;
    let mut stdout = std::io::stdout().lock();
    let report = chapter5::run(backend.as_mut(), &Options::default(), &mut stdout)?;
    cli.common.write_report(&report)
}
