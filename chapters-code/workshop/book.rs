//! The book's workshop part, written from the exercises: for each, its page
//! (the README, the skeleton's parts by anchor, the check's steps, the
//! hints) and its solution page (the source by anchor), the skeletons the
//! pages include, and the table of what every check catches.
//!
//! `tests/workshop.rs` holds the committed files to these renderings;
//! `BLESS=1 cargo test --test workshop` writes them again.

use std::path::{Path, PathBuf};

use super::{BUILTIN_STEPS, Exercise, Kind, Manifest, regions};

/// The part's folder in the book's sources.
pub const DIR: &str = "book/src/workshop";

const WRITTEN_BY: &str = "<!-- Written by `BLESS=1 cargo test --test workshop` from exercises/: edit those files, not this one. -->\n";

/// Every file of the part that is written from the exercises, with its text.
pub fn generated(repo: &Path) -> Result<Vec<(PathBuf, String)>, String> {
    let top = Path::new(DIR);
    let mut files = Vec::new();
    for e in &Manifest::bundled().exercises {
        for file in &e.files {
            let path = repo.join(e.folder()).join(file);
            let source = std::fs::read_to_string(&path)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            let skeleton =
                regions::skeleton(&source).map_err(|err| format!("{}: {err}", path.display()))?;
            files.push((top.join("skeletons").join(&e.dir).join(file), skeleton));
        }
        files.push((top.join(format!("{}.md", e.dir)), exercise_page(repo, e)?));
        files.push((
            top.join(format!("{}-solution.md", e.dir)),
            solution_page(repo, e)?,
        ));
    }
    files.push((top.join("catches.md"), catches()));
    Ok(files)
}

/// Text from the manifest, safe in Markdown: `<` and `>` (as in
/// `Mutex<BTreeSet<u64>>`) would read as HTML tags.
fn escaped(text: &str) -> String {
    text.replace('<', "&lt;").replace('>', "&gt;")
}

fn language(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("c") | Some("h") => "c",
        Some("rs") => "rust",
        _ => "sh",
    }
}

/// The file of the exercise that holds `anchor`.
fn file_with_anchor<'e>(repo: &Path, e: &'e Exercise, anchor: &str) -> Result<&'e str, String> {
    for file in &e.files {
        let text = std::fs::read_to_string(repo.join(e.folder()).join(file)).unwrap_or_default();
        // As mdBook reads it: `ANCHOR: name`, the name ending at a non-word character.
        let marked = text.lines().any(|l| {
            l.split_once("ANCHOR:").is_some_and(|(_, rest)| {
                rest.trim_start().strip_prefix(anchor).is_some_and(|after| {
                    !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
        });
        if marked {
            return Ok(file);
        }
    }
    Err(format!("{}: no file has the anchor {anchor}", e.dir))
}

fn kind_line(e: &Exercise) -> &'static str {
    match e.kind {
        Kind::Kernel => "a C module, checked on a real kernel",
        Kind::Battery => {
            "a guest script, checked on a real kernel against a target and its mutants"
        }
        Kind::Simulator => "Rust against the target contract, checked on the simulator",
    }
}

fn exercise_page(repo: &Path, e: &Exercise) -> Result<String, String> {
    let readme_path = repo.join(e.folder()).join("README.md");
    let readme = std::fs::read_to_string(&readme_path)
        .map_err(|err| format!("{}: {err}", readme_path.display()))?;
    let body = readme
        .split_once('\n')
        .filter(|(title, _)| title.starts_with("# "))
        .map_or(readme.as_str(), |(_, rest)| rest)
        .trim();
    let n = e.number();
    let mut page = format!("{WRITTEN_BY}\n# Exercise {n}: {}\n\n{body}\n\n", e.title);
    page += &format!(
        "| | |\n| --- | --- |\n| what you write | {} |\n| read first | {} |\n| your copy | `workshop/{}/` |\n\n",
        kind_line(e),
        e.prerequisites.join("; "),
        e.dir
    );
    page += "## Start, check, ask\n\n";
    page +=
        &format!("- `cargo run --bin workshop -- start {n}` writes the skeleton into your copy.\n");
    if e.needs_kernel() {
        page += &format!(
            "- `cargo run --bin workshop -- check {n}` checks it on the running kernel, which needs device mapper and root (the Vagrant box has both; the check asks `sudo` for the root parts). Anywhere else, `cargo run --bin workshop -- check {n} --lab 6.1` checks it in the qemu lab, on Linux 6.1 or any line the lab boots.\n"
        );
    } else {
        page += &format!(
            "- `cargo run --bin workshop -- check {n}` checks it on the simulator, on any machine, without root.\n"
        );
    }
    page += &format!(
        "- `cargo run --bin workshop -- hint {n}` shows the next hint, `watch {n}` checks again each time you save, `solution {n}` shows the workbook's once your check passes.\n\n"
    );
    page += "## The skeleton\n\nWhere your copy starts, around its TODOs (the whole file is in your copy):\n\n";
    for anchor in &e.show {
        let file = file_with_anchor(repo, e, anchor)?;
        page += &format!(
            "```{}\n{{{{#include skeletons/{}/{file}:{anchor}}}}}\n```\n\n",
            language(file),
            e.dir
        );
    }
    page += "## What the check holds true\n\n";
    match e.kind {
        Kind::Kernel | Kind::Battery => {
            if !e.doctor.is_empty() {
                page += &format!(
                    "First the drift doctor reads your source for Linux {} and the kernel the check runs on: it must find nothing. ",
                    e.doctor.join(" and ")
                );
            }
            page += "The module must build without an error or a warning";
            if !e.build_on.is_empty() {
                page += &format!(" (in the lab, on Linux {} too)", e.build_on.join(" and "));
            }
            page += ", and load. Then, in order, stopping at the first that fails:\n\n";
        }
        Kind::Simulator => page += "Your file must build; then each of these is a test:\n\n",
    }
    for (i, step) in e.steps.iter().enumerate() {
        page += &format!("{}. {}\n", i + 1, escaped(&step.checks));
    }
    if e.needs_kernel() {
        page += "\nAfterwards nothing may be left behind, the module must unload, and the kernel's log must hold no BUG, WARNING, Oops or hung task.\n";
    }
    page += "\n## Hints\n\n";
    for (i, hint) in e.hints.iter().enumerate() {
        page += &format!(
            "<details>\n<summary>Hint {}</summary>\n\n{}\n\n</details>\n\n",
            i + 1,
            escaped(hint)
        );
    }
    page += &format!(
        "The workbook's solution: [exercise {n}, solved]({}-solution.md).\n",
        e.dir
    );
    Ok(page)
}

fn solution_page(repo: &Path, e: &Exercise) -> Result<String, String> {
    let n = e.number();
    let mut page = format!(
        "{WRITTEN_BY}\n# Exercise {n}, solved\n\nThe solution is the exercise's own source: {}. Each TODO comment marks a place the skeleton left open, and the lines under it solve it; lines starting with `//~` (or `#~`) are what the skeleton had there instead.\n\n",
        e.files
            .iter()
            .map(|f| format!("`exercises/{}/{f}`", e.dir))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for anchor in &e.show {
        let file = file_with_anchor(repo, e, anchor)?;
        page += &format!(
            "```{}\n{{{{#include ../../../exercises/{}/{file}:{anchor}}}}}\n```\n\n",
            language(file),
            e.dir
        );
    }
    page += &format!("Back to [exercise {n}]({}.md).\n", e.dir);
    Ok(page)
}

fn catches() -> String {
    let mut page = format!(
        "{WRITTEN_BY}\n# What the checks catch\n\nEvery check's steps, in the order it runs them, with the hint `workshop check` names when a step fails. A kernel check also has these steps of its own:\n\n| step | holds true |\n| --- | --- |\n"
    );
    for (id, text) in BUILTIN_STEPS {
        page += &format!("| `{id}` | {text} |\n");
    }
    for e in &Manifest::bundled().exercises {
        page += &format!(
            "\n## Exercise {}: {}\n\n| step | holds true | hint |\n| --- | --- | --- |\n",
            e.number(),
            e.title
        );
        for step in &e.steps {
            page += &format!(
                "| `{}` | {} | {} |\n",
                step.id,
                escaped(&step.checks),
                step.hint
            );
        }
    }
    page
}
