//! `cargo xtask kbuild-dir --kernel LINE`: print the kernel build folder of a
//! line's kit (making the kit if it is missing), for `make -C DIR` and the
//! kernel backend's `DMW_KBUILD` on this machine.

use std::process::ExitCode;

use anyhow::Result;

use crate::cache_dir;
use crate::lab::progress::Progress;
use crate::lab::{kit, lines};

#[derive(clap::Args)]
pub struct KbuildDirArgs {
    /// The kernel line whose headers to print (one built on this machine).
    #[arg(long, value_name = "LINE", value_parser = lines::kernel_arg())]
    kernel: String,
}

pub fn run(args: KbuildDirArgs) -> Result<ExitCode> {
    let line = lines::find(&args.kernel)?;
    let cache = cache_dir()?;
    // Progress goes to stderr: stdout is the path alone, for `$(...)`.
    let progress = Progress::new();
    let kit = {
        let _lock = kit::lock_line(&cache, &line.name, &progress)?;
        kit::prepare(line, &cache, &progress)?
    };
    println!("{}", kit.host_kbuild_dir()?.display());
    Ok(ExitCode::SUCCESS)
}
