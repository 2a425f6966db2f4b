//! `cargo xtask new-module DIR [--target NAME]`: write a learner's starting
//! point, a module folder the lab takes as it is.
//!
//! The target is the correct build of the lab's own learner-bug target
//! (`xtask/tests/learner-bugs/learner_target.c`, whose lab run CI checks),
//! with its bug blocks left out and its name changed: one source gives both
//! the buggy variants and the skeleton, so the skeleton is always a target
//! that passes. The folder holds:
//! - `Kbuild`: `obj-m := NAME_target.o`, which is all kbuild needs;
//! - `NAME_target.c`: ctr, dtr, map and iterate_devices of a passthrough;
//! - `tests/check.sh`: create a device, write and read back 16 KiB, remove it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, ensure};

const SOURCE: &str = include_str!("../tests/learner-bugs/learner_target.c");
const CHECK: &str = include_str!("../tests/learner-bugs/check.sh");
/// The name the learner-bug target registers, replaced by the learner's.
const ORIGINAL: &str = "learner";

#[derive(clap::Args)]
pub struct NewModuleArgs {
    /// The folder to write (it must not exist yet).
    dir: PathBuf,

    /// The target's name in table lines, also the prefix of its C names
    /// (a C identifier in lower case).
    #[arg(long, default_value = "my", value_name = "NAME")]
    target: String,
}

pub fn run(args: NewModuleArgs) -> Result<ExitCode> {
    let files = write(&args.dir, &args.target)?;
    for file in &files {
        println!("wrote {}", file.display());
    }
    println!(
        "try it: cargo xtask lab --module {dir} --script {dir}/tests/check.sh",
        dir = args.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Write the folder; returns the files written.
pub fn write(dir: &Path, target: &str) -> Result<Vec<PathBuf>> {
    ensure!(
        target.starts_with(|c: char| c.is_ascii_lowercase())
            && target
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
        "--target must be a lower-case C identifier: {target:?} is not"
    );
    ensure!(!dir.exists(), "{} exists already", dir.display());
    fs::create_dir_all(dir.join("tests")).with_context(|| format!("making {}", dir.display()))?;
    let module = format!("{target}_target");
    let files = [
        (dir.join("Kbuild"), format!("obj-m := {module}.o\n")),
        (
            dir.join(format!("{module}.c")),
            renamed(&without_bugs(SOURCE), target),
        ),
        (dir.join("tests/check.sh"), renamed(CHECK, target)),
    ];
    for (path, text) in &files {
        fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(files.into_iter().map(|(path, _)| path).collect())
}

/// The source with every `#ifdef BUG_...` block left out, every
/// `#ifndef BUG_...` block kept without its guard, and a header of its own.
fn without_bugs(source: &str) -> String {
    let body = source.split_once("*/\n").map_or(source, |(_, rest)| rest);
    let mut out = [
        "// SPDX-License-Identifier: GPL-2.0",
        "/*",
        " * A passthrough device-mapper target to start from: every bio goes to",
        " * one device, shifted by an offset. Table:",
        " *   <start> <length> learner <device> <offset>",
        " */",
        "",
    ]
    .join("\n");
    // What each open guard does with its lines: keep them or not.
    let mut keeping: Vec<bool> = Vec::new();
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("#ifdef BUG_") {
            keeping.push(false);
        } else if trimmed.starts_with("#ifndef BUG_") {
            keeping.push(true);
        } else if trimmed == "#endif" && !keeping.is_empty() {
            keeping.pop();
        } else if keeping.iter().all(|keep| *keep) && !(line.is_empty() && out.ends_with("\n\n")) {
            // (A left-out block leaves no second blank line behind.)
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// `learner` becomes the learner's name, in C names, strings and tables.
fn renamed(text: &str, target: &str) -> String {
    text.replace(ORIGINAL, target)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_skeleton_is_the_correct_build_under_the_learners_name() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("mine");
        let files = write(&folder, "tally").unwrap();
        assert_eq!(files.len(), 3);
        let source = fs::read_to_string(folder.join("tally_target.c")).unwrap();
        assert!(!source.contains("BUG_"), "{source}");
        assert!(!source.contains(ORIGINAL), "{source}");
        assert!(source.contains(".name = \"tally\""));
        // The correct code of a guarded block stays: dtr puts its device.
        assert!(source.contains("\tdm_put_device(ti, lc->dev);\n\tkfree(lc);"));
        assert!(!source.contains("msleep"), "bug-only code is left out");
        assert_eq!(
            fs::read_to_string(folder.join("Kbuild")).unwrap(),
            "obj-m := tally_target.o\n"
        );
        let check = fs::read_to_string(folder.join("tests/check.sh")).unwrap();
        assert!(check.contains("tally /dev/loop0"));
        // The lab takes the folder as it is.
        let module = crate::new_stage::ModuleFolder::read(&folder).unwrap();
        assert_eq!(module.targets, ["tally"]);
    }

    #[test]
    fn refuses_a_bad_name_or_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        assert!(write(&dir.path().join("a"), "My-Target").is_err());
        assert!(write(dir.path(), "ok").is_err());
    }
}
