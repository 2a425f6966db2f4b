//! The maintainer's runner: `cargo xtask <command>`.
//!
//! - `lab`: boot a real Debian kernel in qemu and run a chapter or a script in it.
//! - `listings`: prove that every code block in the book is tested.

mod lab;
mod listings;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "dm-workbook's maintainer tasks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Boot a real kernel in qemu and run a chapter's scenario or a script in it.
    Lab(lab::LabArgs),
    /// List every fenced block in the book with how it is tested.
    Listings(listings::ListingsArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Lab(args) => lab::run(args),
        Command::Listings(args) => listings::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::from(2)
        }
    }
}
