//! Chapter 4: kernel API drift.
//!
//! `chapter4 table` prints the drift table (module/drift.toml) by release;
//! `chapter4 doctor FILE [--kernel VERSION]` lists each drift a target's C
//! source hits (`--format json` for tools and editors); `--fix` applies the
//! table's semantic patches with spatch and prints the unified diff, never
//! writing FILE. The doctor exits 0 when it finds none (after `--fix`: none
//! left), 1 when it finds some and 2 on an error (unreadable file, not C, no
//! `struct target_type`, bad version, no spatch).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use dm_workbook::drift::{DriftTable, Expect, Release, diagnose_file, fix};

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
        /// Apply the drift table's semantic patches (module/drift/cocci, run
        /// by spatch from the Debian package `coccinelle`) for the drifts
        /// found, and print the changes as a unified diff on standard output
        /// (what is left to fix by hand goes to standard error). FILE itself
        /// is never written: apply the diff with `patch -p1`, or give
        /// --output.
        #[arg(long, conflicts_with = "format")]
        fix: bool,
        /// With --fix: also write the fixed source to this new file (refused
        /// if it exists).
        #[arg(long, value_name = "NEW_FILE", requires = "fix")]
        output: Option<PathBuf>,
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
            fix,
            output,
        } => {
            let expect = if *part { Expect::Part } else { Expect::Target };
            if *fix {
                fix_file(file, kernel.as_deref(), expect, output.as_deref())
            } else {
                doctor(file, kernel.as_deref(), expect, *format)
            }
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

/// `doctor --fix`: the semantic patches for what the doctor finds, applied
/// to a copy; the diff on standard output, the rest on standard error.
fn fix_file(
    file: &Path,
    kernel: Option<&str>,
    expect: Expect,
    output: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let kernel = match kernel {
        Some(text) => Release::parse_in_range(text)?,
        None => Release::NEWEST,
    };
    if let Some(new) = output
        && new.exists()
    {
        anyhow::bail!("{} exists: --output writes a new file only", new.display());
    }
    let table = DriftTable::bundled().context("loading the drift table")?;
    // The same checks as the doctor's (C, a target), before spatch is asked.
    diagnose_file(file, &table, kernel, expect)?;
    let source = String::from_utf8_lossy(
        &std::fs::read(file).with_context(|| format!("reading {}", file.display()))?,
    )
    .into_owned();
    let fixed = fix::fix(&source, &table, kernel)?;
    let name = file.display().to_string();
    print!("{}", fix::unified_diff(&name, &source, &fixed.text));
    std::io::stdout().flush()?;
    if let Some(new) = output {
        // create_new: a file that appeared meanwhile is not overwritten either.
        let mut out =
            std::fs::File::create_new(new).with_context(|| format!("writing {}", new.display()))?;
        out.write_all(fixed.text.as_bytes())?;
    }
    let written = match output {
        Some(new) => format!("the fixed source is in {}", new.display()),
        None => "the file itself is unchanged".to_string(),
    };
    eprintln!(
        "{name}: {} semantic patch(es) applied for Linux {kernel} ({}); {written}",
        fixed.applied.len(),
        fixed.applied.join(", ")
    );
    for finding in &fixed.remaining {
        let hint = if finding.builds() {
            "advice, it builds"
        } else {
            "no semantic patch: fix it by hand"
        };
        eprintln!(
            "{name}:{}: {}: still found ({hint})",
            finding.line, finding.change.id
        );
    }
    let blocking = fixed.remaining.iter().any(|f| !f.builds());
    Ok(if blocking {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
