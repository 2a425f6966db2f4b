//! Chapter 4: kernel API drift.
//!
//! `chapter4 table` prints the drift table (module/drift.toml) by release;
//! `chapter4 doctor FILE [--kernel VERSION]` lists each drift a target's C
//! source hits (`--format json` for tools and editors). The doctor exits 0
//! when it finds none, 1 when it finds some and 2 on an error (unreadable
//! file, not C, no `struct target_type`, bad version).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use dm_workbook::drift::{DriftTable, Expect, Release, diagnose_file};

/// How the device-mapper target API moved between 2.6.3x and 7.x.
#[derive(Parser)]
#[command(name = "chapter4", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the drift table: release, symbol and change, oldest first.
    Table,
    /// Find the drifts a target's C source hits.
    Doctor {
        /// The target's C source.
        file: PathBuf,
        /// The kernel to build for, 2.6.32 to 7.3 (default: the newest line).
        /// Old forms are reported from a change's mainline release on, new
        /// forms before it; a vendor kernel's backports are not assumed.
        #[arg(long, value_name = "VERSION")]
        kernel: Option<String>,
        /// FILE is one source file of a target whose `struct target_type` is
        /// in another file: do not ask for it here.
        #[arg(long)]
        part: bool,
        /// `text` for people; `json` for tools and editors: one object with
        /// the file, the kernel and a `findings` array (line, id, direction,
        /// symbol, summary, release, commit, title, verified, fix, backports,
        /// assigned_at, function_end, builds).
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
}

/// How the doctor writes its findings.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

/// The doctor's exit code on an error, apart from 1 ("drift found").
const EXIT_ERROR: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Table => table(),
        Command::Doctor {
            file,
            kernel,
            part,
            format,
        } => {
            let expect = if *part { Expect::Part } else { Expect::Target };
            doctor(file, kernel.as_deref(), expect, *format)
        }
    };
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("chapter4: {err:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn table() -> anyhow::Result<ExitCode> {
    let table = DriftTable::bundled().context("loading the drift table")?;
    print!("{}", table.render_text());
    Ok(ExitCode::SUCCESS)
}

fn doctor(
    file: &Path,
    kernel: Option<&str>,
    expect: Expect,
    format: Format,
) -> anyhow::Result<ExitCode> {
    let kernel = match kernel {
        Some(text) => Release::parse_in_range(text)?,
        None => Release::NEWEST,
    };
    let table = DriftTable::bundled().context("loading the drift table")?;
    let findings = diagnose_file(file, &table, kernel, expect)?;
    let name = file.display().to_string();
    let code = if findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    };
    if format == Format::Json {
        let report = serde_json::json!({
            "file": name,
            "kernel": kernel.to_string(),
            "findings": findings.iter().map(|f| f.to_json()).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(code);
    }
    for finding in &findings {
        print!("{}", finding.render(&name, kernel));
    }
    if findings.is_empty() {
        println!("{name}: no drift found for Linux {kernel}");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("{name}: {} drift(s) for Linux {kernel}", findings.len());
        Ok(ExitCode::from(1))
    }
}
