//! `cargo xtask kits [--kernel LINE]...`: make (or check) the lines' kits in
//! the cache, two at a time, without booting anything. CI starts it in the
//! background while the crate builds: a kit is minutes of downloading and
//! unpacking, not of computing, and the lab steps then find it made.

use std::process::ExitCode;
use std::sync::Mutex;

use anyhow::Result;

use crate::cache_dir;
use crate::lab::kit;
use crate::lab::lines::{self, KernelLine};
use crate::lab::progress::Progress;

#[derive(clap::Args)]
pub struct KitsArgs {
    /// The lines whose kits to make (repeatable); every line without it.
    #[arg(long, value_name = "LINE", value_parser = lines::kernel_arg())]
    kernel: Vec<String>,
}

/// Kits made at once: downloads and unpacking on two cores.
const AT_ONCE: usize = 2;

pub fn run(args: KitsArgs) -> Result<ExitCode> {
    let selected: Vec<&'static KernelLine> = if args.kernel.is_empty() {
        lines::all().iter().collect()
    } else {
        (args.kernel.iter())
            .map(|name| lines::find(name))
            .collect::<Result<_>>()?
    };
    let cache = cache_dir()?;
    let queue = Mutex::new(selected.into_iter().rev().collect::<Vec<_>>());
    let failed = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..AT_ONCE {
            scope.spawn(|| {
                let progress = Progress::new();
                while let Some(line) = queue.lock().ok().and_then(|mut q| q.pop()) {
                    let made = kit::lock_line(&cache, &line.name, &progress).and_then(|_lock| {
                        let kit = kit::prepare(line, &cache, &progress)?;
                        // Lines with Rust get their Rust toolchain too.
                        if line.rust {
                            kit.with_rust(&cache, &progress)
                        } else {
                            Ok(kit)
                        }
                    });
                    match made {
                        Ok(kit) => println!("Linux {}: kit ready ({})", line.name, kit.release),
                        Err(err) => {
                            println!("Linux {}: no kit: {err:#}", line.name);
                            if let Ok(mut f) = failed.lock() {
                                f.push(line.name.clone());
                            }
                        }
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_default();
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
