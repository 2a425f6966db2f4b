//! Feeds the book's inline Rust listings to skeptic, so `cargo test` compiles
//! and runs each of them (see `tests/skeptic.rs`).
//!
//! skeptic reads Markdown as it is written and knows nothing of mdBook's
//! `{{#include file:anchor}}`. A Rust block that includes a file is a fragment
//! of code that the crate itself compiles and tests (`cargo xtask listings`
//! checks that the file is part of the build and that the anchor exists), so
//! it must not reach skeptic as if it were a program. This script writes a copy
//! of every `.md` file under `book/src` into `OUT_DIR` with those blocks blanked
//! out, line for line, so skeptic's test names keep the source's line numbers,
//! and hands the copies to skeptic.

use std::error::Error;
use std::fs;
use std::path::{Path, PathBuf};

use pulldown_cmark::{CodeBlockKind, Event, Parser, Tag};

/// Where the book's Markdown lives, relative to the package root.
const BOOK_SRC: &str = "book/src";

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    let src = root.join(BOOK_SRC);

    // A directory makes cargo look at every file below it, so a new chapter
    // reruns this script too.
    println!("cargo:rerun-if-changed={BOOK_SRC}");
    println!("cargo:rerun-if-changed=build.rs");

    let mut chapters = Vec::new();
    markdown_files(&src, &mut chapters)?;
    chapters.sort();

    let copies_root = out_dir.join("book-src");
    let mut copies = Vec::new();
    let mut refused = Vec::new();
    for chapter in &chapters {
        println!("cargo:rerun-if-changed={}", chapter.display());
        let text = fs::read_to_string(chapter)?;
        for (line, attr) in weakened_blocks(&text) {
            refused.push(format!(
                "{}:{line}: `{attr}` would let this listing skip or pass without running",
                chapter.strip_prefix(&root).unwrap_or(chapter).display()
            ));
        }
        let (text, included) = blank_include_blocks(&text);
        for path in included {
            let dir = chapter.parent().unwrap_or(&src);
            println!("cargo:rerun-if-changed={}", dir.join(path).display());
        }
        let copy = copies_root.join(chapter.strip_prefix(&src)?);
        if let Some(parent) = copy.parent() {
            fs::create_dir_all(parent)?;
        }
        write_if_changed(&copy, &text)?;
        copies.push(copy);
    }
    skeptic::generate_doc_tests(&copies);
    if copies.is_empty() {
        // skeptic writes nothing for no files; the test target still includes
        // its output.
        write_if_changed(&out_dir.join("skeptic-tests.rs"), "")?;
    }
    // skeptic honours these attributes by weakening the test it writes; the
    // test below fails instead, so `cargo test` alone cannot go green on one.
    let mut guard = String::from(
        "#[test]\nfn no_listing_skips_or_weakens_its_test() {\n    let refused: &[&str] = &[\n",
    );
    for reason in &refused {
        guard.push_str(&format!("        {reason:?},\n"));
    }
    guard.push_str("    ];\n    assert!(refused.is_empty(), \"{}\", refused.join(\"\\n\"));\n}\n");
    write_if_changed(&out_dir.join("listing-guard.rs"), &guard)?;
    bundle_semantic_patches(&root, &out_dir)?;
    Ok(())
}

/// The drift table's semantic patches (`module/drift/cocci/ID.cocci`), built
/// into the crate like the table itself, as `(ID, text)` pairs in
/// `OUT_DIR/cocci.rs`, so `chapter4 doctor --fix` works from any directory.
fn bundle_semantic_patches(root: &Path, out_dir: &Path) -> Result<(), Box<dyn Error>> {
    const COCCI: &str = "module/drift/cocci";
    println!("cargo:rerun-if-changed={COCCI}");
    let mut files: Vec<PathBuf> = fs::read_dir(root.join(COCCI))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "cocci"));
    files.sort();
    let mut text = String::from("pub const SEMANTIC_PATCHES: &[(&str, &str)] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        let id = file
            .file_stem()
            .and_then(|s| s.to_str())
            .ok_or("a .cocci name")?;
        text.push_str(&format!(
            "    ({id:?}, include_str!({:?})),\n",
            file.display().to_string()
        ));
    }
    text.push_str("];\n");
    write_if_changed(&out_dir.join("cocci.rs"), &text)?;
    Ok(())
}

/// Rust blocks (as skeptic reads info strings) carrying an attribute that makes
/// skeptic ignore the block, only compile it, or accept a panic (which a
/// compile error also produces): their line and the attribute.
fn weakened_blocks(text: &str) -> Vec<(usize, String)> {
    const WEAKENING: &[&str] = &["ignore", "no_run", "should_panic", "compile_fail"];
    let mut found = Vec::new();
    for (event, range) in Parser::new(text).into_offset_iter() {
        if let Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) = event {
            let line = text[..range.start].matches('\n').count() + 1;
            let tokens = info.split(|c: char| !(c == '_' || c == '-' || c.is_alphanumeric()));
            for token in tokens.filter(|t| WEAKENING.contains(t)) {
                found.push((line, token.to_string()));
            }
        }
    }
    found
}

/// Every `.md` file under `dir`, recursively.
fn markdown_files(dir: &Path, found: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            markdown_files(&path, found)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            found.push(path);
        }
    }
    Ok(())
}

/// `text` with every fenced block whose body holds an mdBook include directive
/// replaced by as many empty lines as it spanned, and the paths it included.
fn blank_include_blocks(text: &str) -> (String, Vec<String>) {
    let mut ranges = Vec::new();
    let mut included = Vec::new();
    let mut open: Option<usize> = None;
    let mut body = String::new();
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                open = Some(range.start);
                body.clear();
            }
            Event::Text(t) if open.is_some() => body.push_str(&t),
            Event::End(Tag::CodeBlock(CodeBlockKind::Fenced(_))) => {
                let start = open.take().unwrap_or(range.start);
                if let Some(paths) = include_paths(&body) {
                    ranges.push(start..range.end);
                    included.extend(paths);
                }
            }
            _ => {}
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for range in ranges {
        out.push_str(&text[last..range.start]);
        let lines = text[range.clone()].matches('\n').count();
        out.push_str(&"\n".repeat(lines));
        last = range.end;
    }
    out.push_str(&text[last..]);
    (out, included)
}

/// The files named by `{{#include ...}}`-style directives in a block's body,
/// without their `:anchor` or line range. Any block with a directive at all is
/// kept from skeptic (the listings checker rejects the ones that are not
/// includes), so this returns `None` for a block without one.
fn include_paths(body: &str) -> Option<Vec<String>> {
    if !body.contains("{{#") {
        return None;
    }
    let mut paths = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find("{{#") {
        let after = &rest[at + 3..];
        let Some(end) = after.find("}}") else { break };
        let mut words = after[..end].split_whitespace();
        if words.next().is_some_and(|d| d.ends_with("include"))
            && let Some(arg) = words.next()
        {
            paths.push(arg.split(':').next().unwrap_or(arg).to_string());
        }
        rest = &after[end + 2..];
    }
    Some(paths)
}

fn write_if_changed(path: &Path, text: &str) -> std::io::Result<()> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    fs::write(path, text)
}
