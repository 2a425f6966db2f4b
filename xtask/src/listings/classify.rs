//! What a fenced block is, and how (or whether) it is tested.
//!
//! The rules, one per kind of listing (see `book/src/introduction.md` for the
//! reader's side):
//!
//! | block | tested by |
//! | --- | --- |
//! | ```` ```rust ```` with a `fn main` | skeptic: `build.rs` hands every chapter to it, `tests/skeptic.rs` compiles and runs each block |
//! | ```` ```rust ```` holding only `{{#include FILE:ANCHOR}}` | the crate: FILE is in its module tree, ANCHOR is marked in FILE |
//! | ```` ```c ```` holding only `{{#include FILE:ANCHOR}}` | the kernel matrix: FILE is a module stage's source (its folder has a `Kbuild`), a compat header a stage includes, or a feature probe of `module/compat/probes/` (run on every line by the fragment stages include), ANCHOR is marked |
//! | ```` ```make ```` holding only `{{#include FILE:ANCHOR}}` | the kernel matrix: FILE is a stage's `Kbuild` or `module/compat/dmw_probes.kbuild`, which a stage's `Kbuild` includes |
//! | ```` ```cocci ```` holding only `{{#include FILE:ANCHOR}}` | `tests/drift_fix.rs`: FILE is `module/drift/cocci/ID.cocci` and drift entry ID says `cocci = true` (the test applies it to the entry's old case) |
//! | ```` ```rust ```` holding only `{{#include FILE:ANCHOR}}`, FILE in a Rust stage | the kernel matrix: FILE is a `.rs` source of a stage the manifest lists with `language = "rust"` (its folder has a `Kbuild`), ANCHOR is marked |
//! | ```` ```console ```` or ```` ```text ```` holding only `{{#include transcripts/NAME}}` | `tests/transcripts.rs`: it reruns the command on the transcript's first line |
//! | ```` ```text ```` holding only `{{#include generated/NAME}}` | `cargo xtask matrix --check`: NAME is a file the matrix writes for `module/manifest.toml` |
//! | ```` ```sh ```` holding only `{{#include FILE:ANCHOR}}` | the lab: FILE is a script in a module stage's `tests/` folder that `.ci/run` runs with `cargo xtask lab ... --script FILE` |
//! | ```` ```c ````, ```` ```rust ```` or ```` ```sh ```` holding only `{{#include FILE:ANCHOR}}`, FILE an exercise's source or its skeleton in `book/src/workshop/skeletons/` | `cargo xtask exercises` in `.ci/run` (the skeleton fails its check, the source passes), and `tests/workshop.rs` (the skeleton is its source's) |
//! | ```` ```text,diagram ```` | nothing: prose art, counted, needs no test |
//!
//! Everything else is untested and named as such: attributes that make a test
//! skip or pass without running (`ignore`, `no_run`, `should_panic`,
//! `compile_fail`), inline C or transcripts, includes by line number, files the
//! build does not compile, unknown languages, indented code blocks.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use ci::ci_runs_test;
use dm_workbook::manifest::{self, Manifest};
use exercise::exercise_listing;
use lab::{lab_script, lab_transcript};

/// One code block of a chapter, as the Markdown parser saw it.
#[derive(Clone, Debug)]
pub struct Block {
    /// The fence's info string (` ```rust,ignore ` gives `rust,ignore`); empty
    /// for an indented block.
    pub info: String,
    /// The block's text.
    pub body: String,
    /// `false` for an indented (four-space) code block.
    pub fenced: bool,
}

/// What the classifier may look at besides the block itself.
pub trait Repo {
    /// The text of a file, by its path relative to the repository root.
    fn read(&self, path: &Path) -> Option<String>;
    /// Files the crate compiles, relative to the repository root.
    fn crate_files(&self) -> &BTreeSet<PathBuf>;
    /// The binaries `cargo run --bin` knows.
    fn bins(&self) -> &BTreeSet<String>;
    /// The book's source folder, relative to the repository root.
    fn book_src(&self) -> &Path;
}

/// How a tested block is tested.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum How {
    /// Inline Rust, compiled and run by skeptic.
    Skeptic,
    /// Rust included by anchor from a file the crate compiles.
    RustInclude { file: PathBuf, anchor: String },
    /// C included by anchor from a module stage's source.
    CInclude { file: PathBuf, anchor: String },
    /// Kernel Rust included by anchor from a Rust module stage's source.
    KernelRustInclude { file: PathBuf, anchor: String },
    /// A stage's Kbuild, or a kbuild fragment stages include, by anchor.
    KbuildInclude { file: PathBuf, anchor: String },
    /// A drift entry's semantic patch, applied to its case by a test.
    SemanticPatch { file: PathBuf, anchor: String },
    /// A transcript that `tests/transcripts.rs` reruns.
    Transcript { file: PathBuf, command: String },
    /// A file `cargo xtask matrix` writes and `--check` compares with a fresh run.
    Matrix { file: PathBuf },
    /// A real-kernel transcript that CI reruns in the qemu lab and compares
    /// (`cargo xtask lab ... --check-transcript FILE` in `.ci/run`).
    LabTranscript { file: PathBuf, command: String },
    /// A guest script included by anchor, which `.ci/run` runs in the lab.
    LabScript { file: PathBuf, anchor: String },
    /// An exercise's source or its skeleton, by anchor: checked by
    /// `cargo xtask exercises`, which `.ci/run` runs.
    Exercise {
        file: PathBuf,
        anchor: String,
        skeleton: bool,
    },
    /// Prose art.
    Diagram,
}

impl How {
    /// A short name for the kind of test, for the summary.
    pub fn kind(&self) -> &'static str {
        match self {
            How::Skeptic => "inline Rust (skeptic)",
            How::RustInclude { .. } => "included Rust",
            How::CInclude { .. } => "included C",
            How::KernelRustInclude { .. } => "included kernel Rust",
            How::KbuildInclude { .. } => "included kbuild",
            How::SemanticPatch { .. } => "semantic patches",
            How::Transcript { .. } => "transcripts",
            How::Matrix { .. } => "matrix output",
            How::LabTranscript { .. } => "real-kernel transcripts",
            How::LabScript { .. } => "lab scripts",
            How::Exercise { .. } => "exercises",
            How::Diagram => "diagrams",
        }
    }
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            How::Skeptic => write!(f, "compiled and run by skeptic (tests/skeptic.rs)"),
            How::RustInclude { file, anchor } => write!(
                f,
                "{}:{anchor}, compiled and tested with the crate",
                file.display()
            ),
            How::CInclude { file, anchor }
            | How::KernelRustInclude { file, anchor }
            | How::KbuildInclude { file, anchor } => {
                write!(f, "{}:{anchor}, built by the kernel matrix", file.display())
            }
            How::SemanticPatch { file, anchor } => write!(
                f,
                "{}:{anchor}, applied to its drift case by tests/drift_fix.rs",
                file.display()
            ),
            How::Transcript { file, command } => write!(
                f,
                "{} rerun by tests/transcripts.rs: `{command}`",
                file.display()
            ),
            How::Matrix { file } => write!(
                f,
                "{} written by the kernel matrix, checked by `cargo xtask matrix --check`",
                file.display()
            ),
            How::LabTranscript { file, command } => write!(
                f,
                "{} rerun on a real kernel by .ci/run: `{command} --check-transcript`",
                file.display()
            ),
            How::LabScript { file, anchor } => write!(
                f,
                "{}:{anchor}, run on real kernels by .ci/run: `cargo xtask lab ... --script`",
                file.display()
            ),
            How::Exercise {
                file,
                anchor,
                skeleton,
            } => write!(
                f,
                "{}:{anchor}, an exercise's {}, checked by `cargo xtask exercises` in .ci/run \
                 (its skeleton must fail, its solution pass)",
                file.display(),
                if *skeleton { "skeleton" } else { "source" }
            ),
            How::Diagram => write!(f, "diagram (prose art, needs no test)"),
        }
    }
}

/// The verdict on one block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Tested(How),
    /// Not tested, and why.
    Untested(String),
}

/// Attributes skeptic or rustdoc would honour by skipping or weakening a test.
const FORBIDDEN_RUST: &[&str] = &["ignore", "no_run", "should_panic", "compile_fail"];

/// The command on a transcript's first line, as `tests/transcripts.rs` reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Header {
    /// `$ cargo run --bin NAME [-- ARGS...]`: rerun on the simulator by the test.
    CargoRun { bin: String },
    /// `$ cargo xtask lab ...` or a `sudo` run on a real kernel: recorded in
    /// the qemu lab, which has no transcript check yet.
    Kernel,
}

/// Read a transcript's first line.
pub fn header(first_line: &str) -> Option<Header> {
    let command = first_line.strip_prefix("$ ")?;
    let mut words = command.split_whitespace();
    match (words.next(), words.next(), words.next(), words.next()) {
        (Some("cargo"), Some("run"), Some("--bin"), Some(bin)) => match words.next() {
            None | Some("--") => Some(Header::CargoRun {
                bin: bin.to_string(),
            }),
            Some(_) => None,
        },
        (Some("cargo"), Some("xtask"), Some("lab"), _) | (Some("sudo"), _, _, _) => {
            Some(Header::Kernel)
        }
        _ => None,
    }
}

/// Decide how `block`, found in chapter `chapter` (relative to the repository
/// root), is tested.
pub fn classify(block: &Block, chapter: &Path, repo: &dyn Repo) -> Verdict {
    use Verdict::Untested;
    if !block.fenced {
        return Untested("indented code block: use a fence with a language".into());
    }
    let tokens: Vec<&str> = block
        .info
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    let Some((&lang, attrs)) = tokens.split_first() else {
        return Untested("no language on the fence".into());
    };
    let directive = match directive(&block.body) {
        Ok(d) => d,
        Err(why) => return Untested(why),
    };
    if let Some(include) = &directive
        && attrs.is_empty()
        && let Some(verdict) = exercise_listing(lang, include, chapter, repo)
    {
        return verdict;
    }
    match lang {
        "rust" => rust(attrs, directive, &block.body, chapter, repo),
        "c" => c(attrs, directive, chapter, repo),
        "make" => kbuild::make(attrs, directive, chapter, repo),
        "cocci" => kbuild::cocci(attrs, directive, chapter, repo),
        "sh" => lab_script(attrs, directive, chapter, repo),
        "console" | "text" => {
            if attrs == ["diagram"] && lang == "text" {
                diagram(directive, &block.body)
            } else if attrs.is_empty() {
                transcript(directive, chapter, repo)
            } else {
                Untested(format!("unknown attributes {attrs:?} on a {lang} block"))
            }
        }
        other => Untested(format!(
            "language `{other}` has no test: use rust, c, make, cocci, sh, console or text,diagram"
        )),
    }
}

/// An mdBook directive that makes up a whole block: `{{#include path}}`.
#[derive(Debug, PartialEq, Eq)]
struct Include<'a> {
    path: &'a str,
    /// What follows the first `:`: an anchor name, or a line range.
    selector: Option<&'a str>,
}

/// `Ok(None)` if the body has no directive, `Ok(Some)` if it is exactly one
/// `{{#include}}`, `Err` for anything else that mdBook would expand.
fn directive(body: &str) -> Result<Option<Include<'_>>, String> {
    if !body.contains("{{#") {
        return Ok(None);
    }
    let trimmed = body.trim();
    let inner = trimmed
        .strip_prefix("{{#")
        .and_then(|s| s.strip_suffix("}}"))
        .filter(|s| !s.contains("{{#") && !s.contains("}}"))
        .ok_or("a block with an mdBook directive must hold that one directive and nothing else")?;
    let mut words = inner.split_whitespace();
    let name = words.next().unwrap_or("");
    if name != "include" {
        return Err(format!(
            "`{{{{#{name}}}}}` is not checked: use `{{{{#include FILE:ANCHOR}}}}`"
        ));
    }
    let (Some(arg), None) = (words.next(), words.next()) else {
        return Err("`{{#include}}` takes one argument".into());
    };
    let (path, selector) = match arg.split_once(':') {
        Some((path, selector)) => (path, Some(selector)),
        None => (arg, None),
    };
    Ok(Some(Include { path, selector }))
}

/// The included file's path relative to the repository root, if it stays
/// inside the repository.
fn resolve(chapter: &Path, path: &str) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in chapter.parent()?.join(path).components() {
        match part {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// An anchor must be a name, not a line range, and be marked in `text` with
/// both `ANCHOR: name` and `ANCHOR_END: name`, as mdBook reads them.
fn anchored<'a>(include: &Include<'a>, text: &str) -> Result<&'a str, String> {
    let Some(anchor) = include.selector.filter(|s| !s.is_empty()) else {
        return Err(format!(
            "{} is included whole: include a named anchor",
            include.path
        ));
    };
    if anchor.contains(':') || anchor.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{}:{anchor} is a line range, which drifts: use a named anchor",
            include.path
        ));
    }
    let marked = |word: &str| {
        text.lines().any(|line| {
            line.split_once(word).is_some_and(|(_, rest)| {
                rest.trim_start().strip_prefix(anchor).is_some_and(|after| {
                    !after.starts_with(|c: char| c.is_alphanumeric() || c == '_')
                })
            })
        })
    };
    if !marked("ANCHOR:") || !marked("ANCHOR_END:") {
        return Err(format!(
            "{} has no `ANCHOR: {anchor}` ... `ANCHOR_END: {anchor}`",
            include.path
        ));
    }
    Ok(anchor)
}

fn rust(
    attrs: &[&str],
    directive: Option<Include<'_>>,
    body: &str,
    chapter: &Path,
    repo: &dyn Repo,
) -> Verdict {
    if let Some(bad) = attrs.iter().find(|a| FORBIDDEN_RUST.contains(a)) {
        return Verdict::Untested(format!(
            "`{bad}` makes the test skip or pass without running the code"
        ));
    }
    if let Some(other) = attrs.first() {
        return Verdict::Untested(format!(
            "attribute `{other}` is not understood by the listing tests"
        ));
    }
    let Some(include) = directive else {
        // skeptic adds no `fn main`: a block without one would not compile,
        // so say so here rather than in a failing test.
        if !body.lines().any(|l| {
            l.trim_start()
                .trim_start_matches("# ")
                .starts_with("fn main(")
        }) {
            return Verdict::Untested(
                "inline Rust needs a `fn main` (hide it with `# fn main() {`)".into(),
            );
        }
        return Verdict::Tested(How::Skeptic);
    };
    let Some(file) = resolve(chapter, include.path) else {
        return Verdict::Untested(format!("{} leaves the repository", include.path));
    };
    if !repo.crate_files().contains(&file) {
        if rust_stage_source(&file, repo) {
            return match anchor_in(&include, &file, repo) {
                Ok(anchor) => Verdict::Tested(How::KernelRustInclude { file, anchor }),
                Err(why) => Verdict::Untested(why),
            };
        }
        return Verdict::Untested(format!(
            "{} is not compiled by the crate's default build \
             nor a source of a Rust module stage the matrix builds",
            file.display()
        ));
    }
    let Some(text) = repo.read(&file) else {
        return Verdict::Untested(format!("{} cannot be read", file.display()));
    };
    match anchored(&include, &text) {
        Ok(anchor) => Verdict::Tested(How::RustInclude {
            file,
            anchor: anchor.to_string(),
        }),
        Err(why) => Verdict::Untested(why),
    }
}

fn c(attrs: &[&str], directive: Option<Include<'_>>, chapter: &Path, repo: &dyn Repo) -> Verdict {
    if let Some(other) = attrs.first() {
        return Verdict::Untested(format!("attribute `{other}` on a C block"));
    }
    let Some(include) = directive else {
        return Verdict::Untested(
            "inline C is not built: include it by anchor from module/".into(),
        );
    };
    let Some(file) = resolve(chapter, include.path) else {
        return Verdict::Untested(format!("{} leaves the repository", include.path));
    };
    let in_stage = file.starts_with("module")
        && file
            .parent()
            .is_some_and(|dir| repo.read(&dir.join("Kbuild")).is_some());
    if !in_stage && !compat_header_of_a_stage(&file, repo) && !kbuild::is_probe(&file, repo) {
        return Verdict::Untested(format!(
            "{} is not a module stage's source (a folder of module/ with a Kbuild), \
             a module/compat/ header a stage includes, nor a feature probe",
            file.display()
        ));
    }
    match anchor_in(&include, &file, repo) {
        Ok(anchor) => Verdict::Tested(How::CInclude { file, anchor }),
        Err(why) => Verdict::Untested(why),
    }
}

/// A `.rs` file in the folder of a stage the manifest lists as Rust, with a
/// `Kbuild`: the kernel matrix builds it wherever the stage must pass.
fn rust_stage_source(file: &Path, repo: &dyn Repo) -> bool {
    let Some(dir) = file.parent() else {
        return false;
    };
    let manifest = repo.read(Path::new(manifest::PATH));
    let Some(manifest) = manifest.and_then(|text| Manifest::parse(&text).ok()) else {
        return false;
    };
    file.extension().is_some_and(|e| e == "rs")
        && repo.read(&dir.join("Kbuild")).is_some()
        && (manifest.stages.iter())
            .any(|s| s.language == manifest::Language::Rust && Path::new(&s.folder()) == dir)
}

/// The anchor `include` names, marked in `file` as mdBook reads it.
fn anchor_in(include: &Include<'_>, file: &Path, repo: &dyn Repo) -> Result<String, String> {
    let text = repo
        .read(file)
        .ok_or_else(|| format!("{} cannot be read", file.display()))?;
    anchored(include, &text).map(str::to_string)
}

/// A header in `module/compat/` that the source of a stage in the manifest
/// includes: the matrix builds it with that stage.
fn compat_header_of_a_stage(file: &Path, repo: &dyn Repo) -> bool {
    let (Ok(rest), Some(name)) = (file.strip_prefix("module/compat"), file.file_name()) else {
        return false;
    };
    let line = format!("#include \"{}\"", name.to_string_lossy());
    rest.components().count() == 1
        && stage_sources(repo)
            .iter()
            .filter_map(|source| repo.read(source))
            .any(|text| text.lines().any(|l| l.trim() == line))
}

/// Each stage's main source in the repository's manifest: its module's name
/// (the `.ko` file's stem) as a `.c` or `.rs` file in its folder.
fn stage_sources(repo: &dyn Repo) -> Vec<PathBuf> {
    let manifest = repo.read(Path::new(manifest::PATH));
    let Some(manifest) = manifest.and_then(|text| Manifest::parse(&text).ok()) else {
        return Vec::new();
    };
    (manifest.stages.iter())
        .map(|s| Path::new(&s.folder()).join(s.main_source()))
        .collect()
}

/// The test that reruns the transcripts of `chapter4 doctor --fix`.
const SPATCH_TRANSCRIPTS: (&str, &str) = (
    "tests/transcripts.rs",
    "every_spatch_transcript_matches_a_fresh_run",
);

fn transcript(directive: Option<Include<'_>>, chapter: &Path, repo: &dyn Repo) -> Verdict {
    let Some(include) = directive else {
        return Verdict::Untested(
            "an inline transcript is not checked: record it under transcripts/ and include it \
             (or mark prose art `text,diagram`)"
                .into(),
        );
    };
    if include.selector.is_some() {
        return Verdict::Untested("include a transcript whole, without an anchor".into());
    }
    let Some(file) = resolve(chapter, include.path) else {
        return Verdict::Untested(format!("{} leaves the repository", include.path));
    };
    if let Ok(generated) = file.strip_prefix(repo.book_src())
        && generated.starts_with(crate::matrix::GENERATED)
    {
        let manifest = repo.read(Path::new(manifest::PATH));
        return if crate::matrix::report::generated_by_manifest(manifest)
            .iter()
            .any(|g| g == generated)
        {
            Verdict::Tested(How::Matrix { file })
        } else {
            Verdict::Untested(format!(
                "{} is not a file the kernel matrix writes",
                file.display()
            ))
        };
    }
    let folder = repo.book_src().join("transcripts");
    if file.parent() != Some(folder.as_path()) {
        return Verdict::Untested(format!(
            "{} is not in {}, where tests/transcripts.rs looks",
            file.display(),
            folder.display()
        ));
    }
    let Some(text) = repo.read(&file) else {
        return Verdict::Untested(format!("{} cannot be read", file.display()));
    };
    let first = text.lines().next().unwrap_or("");
    match header(first) {
        Some(Header::CargoRun { bin }) if repo.bins().contains(&bin) => {
            // `--fix` needs spatch: its transcripts have a test of their own,
            // which a plain `cargo test` ignores.
            if first.split_whitespace().any(|w| w == "--fix")
                && let Err(why) =
                    ci_runs_test(repo, Path::new(SPATCH_TRANSCRIPTS.0), SPATCH_TRANSCRIPTS.1)
            {
                return Verdict::Untested(format!("{}: {why}", file.display()));
            }
            Verdict::Tested(How::Transcript {
                file,
                command: first.trim_start_matches("$ ").to_string(),
            })
        }
        Some(Header::CargoRun { bin }) => Verdict::Untested(format!(
            "{}: no binary `{bin}` in Cargo.toml",
            file.display()
        )),
        Some(Header::Kernel) => lab_transcript(file, first, repo),
        None => Verdict::Untested(format!(
            "{}: the first line must be the command, `$ cargo run --bin NAME [-- ARGS]`",
            file.display()
        )),
    }
}

fn diagram(directive: Option<Include<'_>>, body: &str) -> Verdict {
    if directive.is_some() {
        return Verdict::Untested("a diagram is drawn in place, not included".into());
    }
    // A shell prompt means a transcript dressed up as a picture.
    if body
        .lines()
        .any(|l| l.starts_with("$ ") || l.starts_with("# ") || l.starts_with("> "))
    {
        return Verdict::Untested(
            "a diagram with shell prompts is a transcript: record it under transcripts/".into(),
        );
    }
    Verdict::Tested(How::Diagram)
}

mod ci;
mod exercise;
mod kbuild;
mod lab;
#[cfg(test)]
mod tests;
