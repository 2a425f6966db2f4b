//! `chapter4 doctor --fix`: the drift table's mechanical fixes, written as
//! Coccinelle semantic patches (`module/drift/cocci/ID.cocci`, one per entry
//! with `cocci = true`) and applied by `spatch`, the kernel's own tool for
//! API migrations, to a copy of the source.
//!
//! A patch moves code across one change, old form to new, as the entry's
//! `new` shows it. The doctor decides which: the entries it finds in their
//! old form for the kernel asked about. Fixes uncover others (an `end_io`
//! without `map_info` is then found with an `int error`), so the doctor runs
//! again on the result, until nothing more it finds has a patch. The file
//! given is only read.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::doctor::{Direction, Finding, diagnose};
use super::table::DriftTable;
use super::{DriftError, Release};

// `SEMANTIC_PATCHES`: `(id, text)` for every module/drift/cocci/ID.cocci (build.rs).
include!(concat!(env!("OUT_DIR"), "/cocci.rs"));

/// The semantic patch of drift entry `id`, if it has one.
pub fn semantic_patch(id: &str) -> Option<&'static str> {
    SEMANTIC_PATCHES
        .iter()
        .find(|(name, _)| *name == id)
        .map(|(_, text)| *text)
}

/// The program that applies semantic patches.
pub const SPATCH: &str = "spatch";

/// Rounds of doctor-then-patch before giving up on a fixed point.
const MAX_ROUNDS: usize = 8;

/// What `--fix` did to one source.
#[derive(Debug)]
pub struct Fixed<'t> {
    /// The source with every patch applied.
    pub text: String,
    /// The entries whose patch changed the source, in the order applied.
    pub applied: Vec<String>,
    /// What the doctor still finds in the result for the same kernel.
    pub remaining: Vec<Finding<'t>>,
}

/// Why `--fix` could not run.
#[derive(Debug, thiserror::Error)]
pub enum FixError {
    #[error(
        "--fix needs spatch, which is not installed (Debian package `coccinelle`: \
         sudo apt-get install coccinelle)"
    )]
    NoSpatch,
    #[error("spatch failed with {patch}.cocci: {message}")]
    Spatch { patch: String, message: String },
    #[error(transparent)]
    Drift(#[from] DriftError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `spatch --version`'s first line, or [`FixError::NoSpatch`].
pub fn spatch_version() -> Result<String, FixError> {
    let output = Command::new(SPATCH)
        .arg("--version")
        .output()
        .map_err(|_| FixError::NoSpatch)?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.lines().next() {
        Some(line) if output.status.success() => Ok(line.trim().to_string()),
        _ => Err(FixError::NoSpatch),
    }
}

/// Apply the patches of every drift `source` hits in its old form on
/// `kernel`, round after round, to a copy in a scratch folder.
pub fn fix<'t>(
    source: &str,
    table: &'t DriftTable,
    kernel: Release,
) -> Result<Fixed<'t>, FixError> {
    spatch_version()?;
    let scratch = tempfile::tempdir()?;
    let mut text = source.to_string();
    let mut tried = BTreeSet::new();
    let mut applied = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let due: Vec<&str> = patchable(&diagnose(&text, table, kernel)?, table)
            .into_iter()
            .filter(|id| !tried.contains(*id))
            .collect();
        if due.is_empty() {
            break;
        }
        for id in due {
            tried.insert(id.to_string());
            if let Some(changed) = apply(id, &text, scratch.path())? {
                text = changed;
                applied.push(id.to_string());
            }
        }
    }
    let remaining = diagnose(&text, table, kernel)?;
    Ok(Fixed {
        text,
        applied,
        remaining,
    })
}

/// The entries, in table order, that a finding names in its old form and
/// that have a semantic patch.
fn patchable<'t>(findings: &[Finding<'t>], table: &'t DriftTable) -> Vec<&'t str> {
    (table.changes.iter())
        .filter(|change| change.cocci)
        .filter(|change| {
            (findings.iter()).any(|f| f.direction == Direction::Old && f.change.id == change.id)
        })
        .map(|change| change.id.as_str())
        .collect()
}

/// Run `id`'s patch on `text`; the new text, or `None` when it changed
/// nothing.
fn apply(id: &str, text: &str, scratch: &Path) -> Result<Option<String>, FixError> {
    let patch_text = semantic_patch(id).ok_or_else(|| FixError::Spatch {
        patch: id.to_string(),
        message: "no such semantic patch is built in".into(),
    })?;
    let patch = scratch.join(format!("{id}.cocci"));
    std::fs::write(&patch, patch_text)?;
    let input = scratch.join("source.c");
    std::fs::write(&input, text)?;
    let output: PathBuf = scratch.join("fixed.c");
    let _ = std::fs::remove_file(&output);
    let run = Command::new(SPATCH)
        .args(["--very-quiet", "--no-show-diff", "--sp-file"])
        .arg(&patch)
        .arg(&input)
        .arg("-o")
        .arg(&output)
        .output()
        .map_err(|_| FixError::NoSpatch)?;
    let said =
        String::from_utf8_lossy(&run.stderr).into_owned() + &String::from_utf8_lossy(&run.stdout);
    // spatch writes no output file, and says so, when nothing matched.
    if !output.exists() {
        if said.contains("no modified files") {
            return Ok(None);
        }
        return Err(FixError::Spatch {
            patch: id.to_string(),
            message: said.trim().to_string(),
        });
    }
    let fixed = std::fs::read_to_string(&output)?;
    Ok((fixed != text).then_some(fixed))
}

/// `text` and `fixed` as a unified diff of `name`, three lines of context.
pub fn unified_diff(name: &str, text: &str, fixed: &str) -> String {
    similar::TextDiff::from_lines(text, fixed)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}
