//! `cargo xtask listings`: every fenced block of the book, with how it is tested.
//!
//! The book is loaded the way mdBook loads it: `book.toml` (through
//! `mdbook-core`) names the source folder, `SUMMARY.md` (through
//! `mdbook-summary`, mdBook's own parser) names the chapters in reading order,
//! and each chapter is read with `pulldown-cmark`. `mdbook-driver` would also
//! load the book, but it brings mdBook's preprocessors and HTML renderer
//! along, which this command does not use. Measured on the project's 2-core
//! build machine, cold debug builds of a crate that only loads a book:
//! `mdbook-driver` 154 s (126 crates), `mdbook-core` + `mdbook-summary` +
//! `pulldown-cmark` + `toml` 49 s (49 crates).
//!
//! Each block is classified by [`classify::classify`]; the last line is
//! `listings: N total, T tested, U untested`, and the command fails if U > 0.
//! `--bless` first rerecords the transcripts (`BLESS=1 cargo test --test
//! transcripts`), then checks.

mod classify;
mod crate_files;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};
use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag, TagEnd};

use classify::{Block, How, Repo, Verdict};

#[derive(clap::Args)]
pub struct ListingsArgs {
    /// Rerecord the book's transcripts from fresh runs of the chapter
    /// binaries before checking (review the diff before committing).
    #[arg(long)]
    bless: bool,
    /// Print only untested blocks and the summary line.
    #[arg(long, short)]
    quiet: bool,
}

/// The repository seen from the checker: the real files under `root`.
struct Checkout {
    root: PathBuf,
    crate_files: BTreeSet<PathBuf>,
    bins: BTreeSet<String>,
    book_src: PathBuf,
}

impl Repo for Checkout {
    fn read(&self, path: &Path) -> Option<String> {
        std::fs::read_to_string(self.root.join(path)).ok()
    }
    fn crate_files(&self) -> &BTreeSet<PathBuf> {
        &self.crate_files
    }
    fn bins(&self) -> &BTreeSet<String> {
        &self.bins
    }
    fn book_src(&self) -> &Path {
        &self.book_src
    }
}

/// A chapter: its title in SUMMARY.md and its file, relative to the repository.
struct Chapter {
    title: String,
    path: PathBuf,
}

pub fn run(args: ListingsArgs) -> Result<ExitCode> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("xtask sits inside the repository")?
        .to_path_buf();
    if args.bless {
        bless(&root)?;
    }
    let book = Path::new("book");
    let book_src = book.join(book_source_dir(&root.join(book))?);
    let chapters = chapters(&root, &book_src)?;
    let (roots, bins) = crate_files::crate_roots(&root)?;
    let repo = Checkout {
        crate_files: crate_files::compiled_files(&root, &roots),
        root,
        bins,
        book_src,
    };

    let (mut total, mut tested) = (0usize, 0usize);
    let mut shown_transcripts = BTreeSet::new();
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for chapter in &chapters {
        let text = repo
            .read(&chapter.path)
            .with_context(|| format!("reading {}", chapter.path.display()))?;
        let blocks = blocks(&text);
        if !args.quiet {
            println!(
                "{} ({}): {} blocks",
                chapter.path.display(),
                chapter.title,
                blocks.len()
            );
        }
        for (line, block) in blocks {
            total += 1;
            let lang = if block.fenced {
                block.info.as_str()
            } else {
                "(indented)"
            };
            match classify::classify(&block, &chapter.path, &repo) {
                Verdict::Tested(how) => {
                    tested += 1;
                    *kinds.entry(how.kind()).or_default() += 1;
                    if let How::Transcript { file, .. } | How::LabTranscript { file, .. } = &how {
                        shown_transcripts.insert(file.clone());
                    }
                    if !args.quiet {
                        println!("  {}:{line} {lang}: {how}", chapter.path.display());
                    }
                }
                Verdict::Untested(why) => {
                    println!(
                        "  {}:{line} {lang}: UNTESTED: {why}",
                        chapter.path.display()
                    );
                }
            }
        }
    }
    for note in strays(&repo, &chapters, &shown_transcripts) {
        println!("note: {note}");
    }
    let untested = total - tested;
    let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
    if !kinds.is_empty() {
        println!("tested as: {}", kinds.join(", "));
    }
    println!("listings: {total} total, {tested} tested, {untested} untested");
    Ok(if untested > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `book.src` from `book.toml`, read with mdBook's own configuration type.
fn book_source_dir(book: &Path) -> Result<PathBuf> {
    let path = book.join("book.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let config: mdbook_core::config::Config = text
        .parse()
        .with_context(|| format!("parsing {}", path.display()))?;
    Ok(config.book.src)
}

/// The chapters SUMMARY.md lists, in reading order. A chapter file that does
/// not exist is an error, as it is for `mdbook build` with `create-missing =
/// false`; draft chapters (no file) have no listings.
fn chapters(root: &Path, book_src: &Path) -> Result<Vec<Chapter>> {
    use mdbook_summary::{Link, SummaryItem};
    let summary_path = book_src.join("SUMMARY.md");
    let text = std::fs::read_to_string(root.join(&summary_path))
        .with_context(|| format!("reading {}", summary_path.display()))?;
    let summary = mdbook_summary::parse_summary(&text)
        .with_context(|| format!("parsing {}", summary_path.display()))?;

    fn walk(items: &[SummaryItem], book_src: &Path, out: &mut Vec<Chapter>) {
        for item in items {
            if let SummaryItem::Link(Link {
                name,
                location,
                nested_items,
                ..
            }) = item
            {
                if let Some(location) = location {
                    out.push(Chapter {
                        title: name.clone(),
                        path: book_src.join(location),
                    });
                }
                walk(nested_items, book_src, out);
            }
        }
    }
    let mut chapters = Vec::new();
    walk(&summary.prefix_chapters, book_src, &mut chapters);
    walk(&summary.numbered_chapters, book_src, &mut chapters);
    walk(&summary.suffix_chapters, book_src, &mut chapters);
    for chapter in &chapters {
        if !root.join(&chapter.path).is_file() {
            bail!(
                "{} lists {}, which does not exist",
                summary_path.display(),
                chapter.path.display()
            );
        }
    }
    Ok(chapters)
}

/// Files that look like part of the book but are not: Markdown files that
/// SUMMARY.md does not list (mdBook ignores them, though skeptic still tests
/// their Rust), and transcripts no chapter shows (still rerun by the test).
fn strays(repo: &Checkout, chapters: &[Chapter], shown: &BTreeSet<PathBuf>) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            return;
        };
        for entry in entries.flatten() {
            let path = dir.join(entry.file_name());
            if root.join(&path).is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&repo.root, &repo.book_src, &mut files);
    files.sort();
    let listed: BTreeSet<&Path> = chapters.iter().map(|c| c.path.as_path()).collect();
    let transcripts = repo.book_src.join("transcripts");
    let mut notes = Vec::new();
    for file in files {
        let is_md = file.extension().is_some_and(|e| e == "md");
        // The matrix's table is included by a chapter, not listed itself.
        let generated = file.starts_with(repo.book_src.join(crate::matrix::GENERATED));
        if is_md && !listed.contains(file.as_path()) && !file.ends_with("SUMMARY.md") && !generated
        {
            notes.push(format!(
                "{} is not in SUMMARY.md, so it is not part of the book",
                file.display()
            ));
        } else if file.parent() == Some(transcripts.as_path()) && !shown.contains(&file) {
            notes.push(format!("{} is shown by no chapter", file.display()));
        }
    }
    notes
}

/// Every code block of a chapter with the line it starts on (from 1).
fn blocks(text: &str) -> Vec<(usize, Block)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, Block)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                let line = text[..range.start].matches('\n').count() + 1;
                let (info, fenced) = match kind {
                    CodeBlockKind::Fenced(info) => (info.to_string(), true),
                    CodeBlockKind::Indented => (String::new(), false),
                };
                current = Some((
                    line,
                    Block {
                        info,
                        body: String::new(),
                        fenced,
                    },
                ));
            }
            Event::Text(t) => {
                if let Some((_, block)) = current.as_mut() {
                    block.body.push_str(&t);
                }
            }
            Event::End(TagEnd::CodeBlock) => found.extend(current.take()),
            _ => {}
        }
    }
    found
}

/// Rerecord the transcripts through the test that checks them.
fn bless(root: &Path) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "test",
            "--quiet",
            "--package",
            "dm-workbook",
            "--test",
            "transcripts",
        ])
        .env("BLESS", "1")
        .status()
        .context("running cargo test --test transcripts")?;
    if !status.success() {
        bail!("rerecording the transcripts failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fenced_and_indented_blocks_with_their_lines() {
        let text = "# Title\n\n```rust\nfn main() {}\n```\n\ntext\n\n    indented\n\n\
                    - item\n\n  ~~~text,diagram\n  art\n  ~~~\n";
        let found = blocks(text);
        let summary: Vec<_> = found
            .iter()
            .map(|(line, b)| (*line, b.info.as_str(), b.fenced, b.body.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (3, "rust", true, "fn main() {}\n"),
                (9, "", false, "indented\n"),
                (13, "text,diagram", true, "art\n"),
            ]
        );
    }

    #[test]
    fn this_book_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let src = book_source_dir(&root.join("book")).unwrap();
        let chapters = chapters(&root, &Path::new("book").join(src)).unwrap();
        assert!(chapters.iter().any(|c| c.path.ends_with("chapter3.md")));
    }
}
