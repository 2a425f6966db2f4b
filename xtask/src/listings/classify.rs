//! What a fenced block is, and how (or whether) it is tested.
//!
//! The rules, one per kind of listing (see `book/src/introduction.md` for the
//! reader's side):
//!
//! | block | tested by |
//! | --- | --- |
//! | ```` ```rust ```` with a `fn main` | skeptic: `build.rs` hands every chapter to it, `tests/skeptic.rs` compiles and runs each block |
//! | ```` ```rust ```` holding only `{{#include FILE:ANCHOR}}` | the crate: FILE is in its module tree, ANCHOR is marked in FILE |
//! | ```` ```c ```` holding only `{{#include FILE:ANCHOR}}` | the kernel matrix: FILE is a module stage's source (its folder has a `Kbuild`), ANCHOR is marked |
//! | ```` ```console ```` or ```` ```text ```` holding only `{{#include transcripts/NAME}}` | `tests/transcripts.rs`: it reruns the command on the transcript's first line |
//! | ```` ```text ```` holding only `{{#include generated/NAME}}` | `cargo xtask matrix --check`: NAME is a file the matrix writes for `module/manifest.toml` |
//! | ```` ```text,diagram ```` | nothing: prose art, counted, needs no test |
//!
//! Everything else is untested and named as such: attributes that make a test
//! skip or pass without running (`ignore`, `no_run`, `should_panic`,
//! `compile_fail`), inline C or transcripts, includes by line number, files the
//! build does not compile, unknown languages, indented code blocks.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use dm_workbook::manifest::{self, Manifest};

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
    /// A transcript that `tests/transcripts.rs` reruns.
    Transcript { file: PathBuf, command: String },
    /// A file `cargo xtask matrix` writes and `--check` compares with a fresh run.
    Matrix { file: PathBuf },
    /// A real-kernel transcript that CI reruns in the qemu lab and compares
    /// (`cargo xtask lab ... --check-transcript FILE` in `.ci/run`).
    LabTranscript { file: PathBuf, command: String },
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
            How::Transcript { .. } => "transcripts",
            How::Matrix { .. } => "matrix output",
            How::LabTranscript { .. } => "real-kernel transcripts",
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
            How::CInclude { file, anchor } => {
                write!(f, "{}:{anchor}, built by the kernel matrix", file.display())
            }
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
    match lang {
        "rust" => rust(attrs, directive, &block.body, chapter, repo),
        "c" => c(attrs, directive, chapter, repo),
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
            "language `{other}` has no test: use rust, c, console or text,diagram"
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
        return Verdict::Untested(format!(
            "{} is not compiled by the crate's default build",
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
    if !in_stage && !compat_header_of_a_stage(&file, repo) {
        return Verdict::Untested(format!(
            "{} is not a module stage's source (a folder of module/ with a Kbuild) \
             nor a module/compat/ header a stage includes",
            file.display()
        ));
    }
    let Some(text) = repo.read(&file) else {
        return Verdict::Untested(format!("{} cannot be read", file.display()));
    };
    match anchored(&include, &text) {
        Ok(anchor) => Verdict::Tested(How::CInclude {
            file,
            anchor: anchor.to_string(),
        }),
        Err(why) => Verdict::Untested(why),
    }
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

/// A real-kernel transcript is tested when CI reruns its command in the lab
/// and compares the output: `.ci/run` must hold that very command with
/// `--check-transcript` naming this file.
fn lab_transcript(file: PathBuf, first: &str, repo: &dyn Repo) -> Verdict {
    let command = first.trim_start_matches("$ ").trim().to_string();
    let wanted = format!("--check-transcript {}", file.display());
    let ci = repo
        .read(Path::new(".ci/run"))
        .unwrap_or_default()
        .replace("\\\n", " ");
    let rerun = ci.lines().any(|line| {
        let words = line.split_whitespace().collect::<Vec<_>>().join(" ");
        words.starts_with(&format!("{command} ")) && words.contains(&wanted)
    });
    if rerun && command.starts_with("cargo xtask lab ") {
        Verdict::Tested(How::LabTranscript { file, command })
    } else {
        Verdict::Untested(format!(
            "{}: a real-kernel transcript that .ci/run does not rerun \
             (it needs `{command} {wanted}`)",
            file.display()
        ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct FakeRepo {
        files: BTreeMap<PathBuf, String>,
        crate_files: BTreeSet<PathBuf>,
        bins: BTreeSet<String>,
        book_src: PathBuf,
    }

    impl Repo for FakeRepo {
        fn read(&self, path: &Path) -> Option<String> {
            self.files.get(path).cloned()
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

    fn repo() -> FakeRepo {
        let files = [
            (
                "chapters-code/targets/hello.rs",
                "// ANCHOR: ctr\nfn ctr() {}\n// ANCHOR_END: ctr\n// ANCHOR: ctr_long\n// ANCHOR_END: ctr_long\n",
            ),
            (
                "chapters-code/unused.rs",
                "// ANCHOR: x\n// ANCHOR_END: x\n",
            ),
            (
                "module/stage1-hello/hello_target.c",
                "/* ANCHOR: map */\nint map;\n/* ANCHOR_END: map */\n",
            ),
            ("module/stage1-hello/Kbuild", "obj-m := hello_target.o\n"),
            ("module/s0/hello_target.c", "#include \"dmw_compat.h\"\n"),
            (
                "module/compat/dmw_compat.h",
                "/* ANCHOR: ima */\n#define X 1\n/* ANCHOR_END: ima */\n",
            ),
            (
                "module/compat/unused.h",
                "/* ANCHOR: ima */\n/* ANCHOR_END: ima */\n",
            ),
            (
                "module/notes/loose.c",
                "/* ANCHOR: map */\n/* ANCHOR_END: map */\n",
            ),
            (
                "book/src/transcripts/ch1.console",
                "$ cargo run --bin chapter1\nhello\n",
            ),
            (
                "book/src/transcripts/ch3-bad.console",
                "$ cargo run --bin chapter3 -- --table 'x'\nerror: x\n$ echo $?\n1\n",
            ),
            (
                "book/src/transcripts/nobin.console",
                "$ cargo run --bin chapter9\n",
            ),
            (
                "book/src/transcripts/lab.console",
                "$ cargo xtask lab --kernel 6.1 --chapter 3\n",
            ),
            (
                "book/src/transcripts/lab-checked.console",
                "$ cargo xtask lab --kernel 6.1 --chapter 3\n",
            ),
            (
                ".ci/run",
                "cargo test\ncargo xtask lab --kernel 6.1 --chapter 3 \\\n    \
                 --check-transcript book/src/transcripts/lab-checked.console\n",
            ),
            ("book/src/transcripts/bare.console", "some output\n"),
            ("book/src/elsewhere.console", "$ cargo run --bin chapter1\n"),
        ];
        // The project's kernel lines, and one stage that fails on each.
        let mut manifest = String::from(
            "[[line]]\nname = \"6.1\"\nsuites = [\"bookworm\"]\ncompiler = \"gcc-12\"\nmodelled = true\n\
             [[line]]\nname = \"7.2\"\nsuites = [\"sid\"]\ncompiler = \"gcc-16\"\n\
             [[stage]]\ndir = \"s0\"\ntarget = \"hello_target\"\nlanguage = \"c\"\nko = \"hello_target.ko\"\n\
             expect = { \"6.1\" = \"fail\", \"7.2\" = \"fail\" }\n",
        );
        manifest += "[stage.errors]\n\"6.1\" = [\"e\"]\n\"7.2\" = [\"e\"]\n";
        FakeRepo {
            files: files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .chain([(PathBuf::from(manifest::PATH), manifest)])
                .collect(),
            crate_files: ["chapters-code/lib.rs", "chapters-code/targets/hello.rs"]
                .iter()
                .map(PathBuf::from)
                .collect(),
            bins: ["chapter1", "chapter3"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            book_src: PathBuf::from("book/src"),
        }
    }

    fn verdict(info: &str, body: &str) -> Verdict {
        let block = Block {
            info: info.to_string(),
            body: body.to_string(),
            fenced: true,
        };
        classify(&block, Path::new("book/src/chapter3.md"), &repo())
    }

    fn untested(info: &str, body: &str) -> String {
        match verdict(info, body) {
            Verdict::Untested(why) => why,
            tested => panic!("{info} {body:?} should be untested, got {tested:?}"),
        }
    }

    #[test]
    fn inline_rust_with_main_goes_to_skeptic() {
        let body = "use dm_workbook::table::Table;\n# fn main() {\nlet _ = 1;\n# }\n";
        assert_eq!(verdict("rust", body), Verdict::Tested(How::Skeptic));
        assert_eq!(
            verdict("rust", "fn main() {}\n"),
            Verdict::Tested(How::Skeptic)
        );
        assert!(untested("rust", "let x = 1;\n").contains("fn main"));
    }

    #[test]
    fn attributes_that_skip_or_weaken_a_test_are_rejected() {
        for attr in ["ignore", "no_run", "should_panic", "compile_fail"] {
            let why = untested(&format!("rust,{attr}"), "fn main() {}\n");
            assert!(why.contains(attr), "{why}");
        }
        assert!(untested("rust,edition2021", "fn main() {}\n").contains("edition2021"));
        assert!(untested("rust,skt-main", "fn main() {}\n").contains("skt-main"));
        // The same attributes hidden behind an include are still rejected.
        untested(
            "rust,ignore",
            "{{#include ../../chapters-code/targets/hello.rs:ctr}}\n",
        );
    }

    #[test]
    fn rust_include_needs_a_built_file_and_a_marked_anchor() {
        assert_eq!(
            verdict(
                "rust",
                "{{#include ../../chapters-code/targets/hello.rs:ctr}}\n"
            ),
            Verdict::Tested(How::RustInclude {
                file: PathBuf::from("chapters-code/targets/hello.rs"),
                anchor: "ctr".to_string(),
            })
        );
        // `ctr` must not be satisfied by `ctr_long`, nor the other way round.
        assert!(
            verdict(
                "rust",
                "{{#include ../../chapters-code/targets/hello.rs:ctr_long}}"
            )
            .eq(&Verdict::Tested(How::RustInclude {
                file: PathBuf::from("chapters-code/targets/hello.rs"),
                anchor: "ctr_long".to_string(),
            }))
        );
        assert!(
            untested(
                "rust",
                "{{#include ../../chapters-code/targets/hello.rs:ct}}"
            )
            .contains("ANCHOR: ct")
        );
        assert!(
            untested(
                "rust",
                "{{#include ../../chapters-code/targets/hello.rs:dtr}}"
            )
            .contains("ANCHOR: dtr")
        );
        assert!(
            untested("rust", "{{#include ../../chapters-code/unused.rs:x}}")
                .contains("not compiled")
        );
        assert!(
            untested("rust", "{{#include ../../chapters-code/targets/hello.rs}}")
                .contains("included whole")
        );
        assert!(
            untested(
                "rust",
                "{{#include ../../chapters-code/targets/hello.rs:2:3}}"
            )
            .contains("line range")
        );
        assert!(
            untested(
                "rust",
                "{{#include ../../chapters-code/targets/hello.rs:7}}"
            )
            .contains("line range")
        );
        assert!(untested("rust", "{{#include ../../../../etc/passwd:x}}").contains("leaves"));
    }

    #[test]
    fn includes_must_stand_alone() {
        let mixed = "{{#include ../../chapters-code/targets/hello.rs:ctr}}\nfn main() {}\n";
        assert!(untested("rust", mixed).contains("nothing else"));
        let other = "{{#rustdoc_include ../../chapters-code/targets/hello.rs:ctr}}";
        assert!(untested("rust", other).contains("rustdoc_include"));
        assert!(untested("rust", "{{#playground x.rs}}").contains("playground"));
    }

    #[test]
    fn c_comes_from_a_module_stage_by_anchor() {
        assert_eq!(
            verdict(
                "c",
                "{{#include ../../module/stage1-hello/hello_target.c:map}}"
            ),
            Verdict::Tested(How::CInclude {
                file: PathBuf::from("module/stage1-hello/hello_target.c"),
                anchor: "map".to_string(),
            })
        );
        assert!(untested("c", "int main(void) { return 0; }\n").contains("inline C"));
        assert!(untested("c", "{{#include ../../module/notes/loose.c:map}}").contains("Kbuild"));
        assert!(
            untested(
                "c",
                "{{#include ../../module/stage1-hello/hello_target.c:ctr}}"
            )
            .contains("ANCHOR: ctr")
        );
        assert!(
            untested("c", "{{#include ../../module/stage1-hello/missing.c:map}}")
                .contains("cannot be read")
        );
    }

    #[test]
    fn transcripts_are_included_files_that_name_their_command() {
        assert_eq!(
            verdict("console", "{{#include transcripts/ch1.console}}"),
            Verdict::Tested(How::Transcript {
                file: PathBuf::from("book/src/transcripts/ch1.console"),
                command: "cargo run --bin chapter1".to_string(),
            })
        );
        assert!(matches!(
            verdict("text", "{{#include transcripts/ch3-bad.console}}"),
            Verdict::Tested(How::Transcript { .. })
        ));
        assert!(untested("console", "$ dmsetup ls\nmy_device\n").contains("inline transcript"));
        assert!(untested("text", "0 262144 linear /dev/loop0 0\n").contains("inline transcript"));
        assert!(untested("console", "{{#include transcripts/nobin.console}}").contains("chapter9"));
        assert!(
            untested("console", "{{#include transcripts/lab.console}}").contains("does not rerun")
        );
        assert_eq!(
            verdict("console", "{{#include transcripts/lab-checked.console}}"),
            Verdict::Tested(How::LabTranscript {
                file: PathBuf::from("book/src/transcripts/lab-checked.console"),
                command: "cargo xtask lab --kernel 6.1 --chapter 3".to_string(),
            })
        );
        assert!(
            untested("console", "{{#include transcripts/bare.console}}").contains("first line")
        );
        assert!(untested("console", "{{#include elsewhere.console}}").contains("transcripts"));
        assert!(untested("console", "{{#include transcripts/ch1.console:x}}").contains("whole"));
    }

    #[test]
    fn compat_headers_count_when_a_stage_includes_them() {
        assert_eq!(
            verdict("c", "{{#include ../../module/compat/dmw_compat.h:ima}}"),
            Verdict::Tested(How::CInclude {
                file: PathBuf::from("module/compat/dmw_compat.h"),
                anchor: "ima".to_string(),
            })
        );
        assert!(
            untested("c", "{{#include ../../module/compat/unused.h:ima}}")
                .contains("nor a module/compat/ header a stage includes")
        );
    }

    #[test]
    fn matrix_output_is_what_the_manifest_makes_the_matrix_write() {
        assert_eq!(
            verdict("text", "{{#include generated/s0-errors-6.1.txt}}"),
            Verdict::Tested(How::Matrix {
                file: PathBuf::from("book/src/generated/s0-errors-6.1.txt"),
            })
        );
        assert!(
            untested("text", "{{#include generated/s1-errors-6.1.txt}}")
                .contains("not a file the kernel matrix writes")
        );
        assert!(
            untested("text", "{{#include generated/s0-errors-4.19.txt}}")
                .contains("not a file the kernel matrix writes")
        );
    }

    #[test]
    fn diagrams_are_marked_and_hold_no_prompts() {
        let art = "+------+\n| dm-0 |\n+------+\n";
        assert_eq!(verdict("text,diagram", art), Verdict::Tested(How::Diagram));
        assert_eq!(verdict("text diagram", art), Verdict::Tested(How::Diagram));
        assert!(untested("console,diagram", art).contains("unknown attributes"));
        assert!(untested("text,diagram", "$ dmsetup ls\nmy_device (254:0)\n").contains("prompts"));
        assert!(
            untested("text,diagram", "{{#include transcripts/ch1.console}}")
                .contains("drawn in place")
        );
    }

    #[test]
    fn other_blocks_are_untested() {
        assert!(untested("", "anything\n").contains("no language"));
        assert!(untested("sh", "dmsetup ls\n").contains("`sh`"));
        assert!(untested("toml", "[package]\n").contains("`toml`"));
        let indented = Block {
            info: String::new(),
            body: "fn main() {}\n".into(),
            fenced: false,
        };
        let verdict = classify(&indented, Path::new("book/src/chapter1.md"), &repo());
        assert!(matches!(verdict, Verdict::Untested(why) if why.contains("indented")));
    }

    #[test]
    fn headers_name_the_command() {
        assert_eq!(
            header("$ cargo run --bin chapter3 -- --table '0 8 zero'"),
            Some(Header::CargoRun {
                bin: "chapter3".into()
            })
        );
        assert_eq!(
            header("$ cargo run --bin chapter2"),
            Some(Header::CargoRun {
                bin: "chapter2".into()
            })
        );
        assert_eq!(header("$ cargo run --bin chapter2 setup"), None);
        assert_eq!(
            header("$ cargo xtask lab --kernel 6.1 --chapter 3"),
            Some(Header::Kernel)
        );
        assert_eq!(header("cargo run --bin chapter1"), None);
        assert_eq!(header("$ ls"), None);
    }
}
