//! Chapter 2: `dmsetup`'s verbs and a device's life cycle, on the simulator.

use std::process::ExitCode;

use clap::Parser;
use dm_workbook::driver::sim::SimBackend;
use dm_workbook::scenarios::chapter2;

/// Walk one device through create, load, resume, reload, suspend, resume and
/// remove, trying I/O in each state. Runs on the simulator, which can show a
/// bio waiting inside a suspended device.
#[derive(Parser)]
#[command(name = "chapter2", version, about, long_about = None)]
struct Cli {}

fn main() -> ExitCode {
    let _cli = Cli::parse();
    let result = SimBackend::new()
        .map_err(anyhow::Error::from)
        .and_then(|mut backend| {
            let mut stdout = std::io::stdout().lock();
            chapter2::run(&mut backend, &mut stdout).map_err(anyhow::Error::from)
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("chapter2: {err:#}");
            ExitCode::FAILURE
        }
    }
}
