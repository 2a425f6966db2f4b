//! What the matrix writes and judges: each cell's verdict, the stage × line
//! table and the error files under `book/src/generated/`, and what
//! `--check` leaves out when it compares them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dm_workbook::manifest::{Expect, Language, Manifest, Stage};

/// Where the generated files go, relative to the book's source folder.
pub const GENERATED: &str = "generated";

/// One cell's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    Pass,
    ExpectedFail {
        errors: usize,
    },
    /// Not tried: the manifest says why.
    NotApplicable(String),
    Unexpected(String),
}

impl Cell {
    pub fn short(&self) -> String {
        match self {
            Cell::Pass => "pass".to_string(),
            Cell::ExpectedFail { errors } => format!("expected-fail ({errors} errors)"),
            Cell::NotApplicable(_) => "n/a".to_string(),
            Cell::Unexpected(_) => "UNEXPECTED".to_string(),
        }
    }
}

/// A fail cell: compare the errors found with those declared.
pub fn judge_failure(built: bool, found: &BTreeSet<String>, declared: &BTreeSet<String>) -> Cell {
    if built {
        return Cell::Unexpected("it built, but is declared to fail".into());
    }
    if found == declared {
        return Cell::ExpectedFail {
            errors: found.len(),
        };
    }
    let mut why = Vec::new();
    let missing: Vec<&String> = declared.difference(found).collect();
    let extra: Vec<&String> = found.difference(declared).collect();
    if !missing.is_empty() {
        why.push(format!("declared but not seen: {missing:?}"));
    }
    if !extra.is_empty() {
        why.push(format!("seen but not declared: {extra:?}"));
    }
    if found.is_empty() {
        why.push("the build failed without a compiler error".into());
    }
    Cell::Unexpected(why.join("; "))
}

/// The generated files' paths relative to the book's source folder, from
/// the manifest: the table, and one error file per failing stage and line.
pub fn generated_files(stages: &[Stage]) -> Vec<PathBuf> {
    let mut files = vec![
        Path::new(GENERATED).join("matrix.md"),
        super::probes::probes_file(),
    ];
    for s in stages {
        for line in s.errors.keys() {
            files.push(errors_file(&s.dir, line));
        }
        for (line, _) in other_rustc_pairs(s) {
            files.push(other_rustc_file(&s.dir, &line));
        }
    }
    files
}

/// For a Rust stage, each line it must pass on paired with another such
/// line, whose compiler the matrix tries on it (the book shows the error):
/// each with the next, the last with the first. Empty for C stages and for
/// a Rust stage with fewer than two such lines.
pub fn other_rustc_pairs(stage: &Stage) -> Vec<(String, String)> {
    if stage.language != Language::Rust {
        return Vec::new();
    }
    let passing: Vec<&String> = (stage.expect.iter())
        .filter(|(_, e)| **e == Expect::Pass)
        .map(|(line, _)| line)
        .collect();
    if passing.len() < 2 {
        return Vec::new();
    }
    (0..passing.len())
        .map(|i| {
            let other = passing[(i + 1) % passing.len()];
            (passing[i].clone(), other.clone())
        })
        .collect()
}

/// What the compiler of another line says to `stage` built for `line`.
pub fn other_rustc_file(stage: &str, line: &str) -> PathBuf {
    Path::new(GENERATED).join(format!("{stage}-other-rustc-{line}.txt"))
}

pub fn errors_file(stage: &str, line: &str) -> PathBuf {
    Path::new(GENERATED).join(format!("{stage}-errors-{line}.txt"))
}

/// The generated files the listing checker accepts: those the manifest's
/// text (when there is one, and it is valid) makes the matrix write.
pub fn generated_by_manifest(manifest: Option<String>) -> Vec<PathBuf> {
    manifest
        .and_then(|text| Manifest::parse(&text).ok())
        .map(|m| generated_files(&m.stages))
        .unwrap_or_default()
}

/// The stage × line table, as Markdown.
pub fn table_markdown(
    stages: &[Stage],
    line_names: &[&str],
    cells: &BTreeMap<(String, String), Cell>,
    releases: &BTreeMap<String, String>,
) -> String {
    let mut t = String::from(
        "<!-- Written by `cargo xtask matrix` from module/manifest.toml; do not edit. -->\n\n",
    );
    t += "| stage |";
    for l in line_names {
        t += &format!(" {l} |");
    }
    t += "\n| --- |";
    for _ in line_names {
        t += " --- |";
    }
    t.push('\n');
    for row in stages.iter().flat_map(|s| s.matrix_rows()) {
        t += &format!("| `{row}` |");
        for l in line_names {
            let cell = cells
                .get(&(row.clone(), l.to_string()))
                .map(Cell::short)
                .unwrap_or_else(|| "not run".into());
            t += &format!(" {cell} |");
        }
        t.push('\n');
    }
    t += "\nKernels: ";
    let named: Vec<String> = line_names
        .iter()
        .map(|l| match releases.get(*l) {
            Some(r) => format!("{l} is Debian's `{r}`"),
            None => format!("{l} was not reached"),
        })
        .collect();
    t += &named.join(", ");
    t += ".\n";
    t
}

/// What `--check` compares: the files as written, but with what changes under
/// the book's feet masked. Debian rebuilds each kernel line every few weeks,
/// which changes its release name, its sublevel (the probe table's version
/// row) and moves lines in the kernel's headers; none of them changes what
/// the book explains. The stage's own file and line
/// numbers, and every message, are compared exactly.
pub fn without_volatile(text: &str) -> String {
    text.lines()
        .map(|line| {
            if line.starts_with(super::probes::VERSION_ROW) {
                return super::probes::VERSION_ROW.to_string();
            }
            let line = crate::lab::without_releases(line);
            // `include/linux/device-mapper.h:179:35: note: ...`
            let Some((place, rest)) = line.split_once(": ") else {
                return line;
            };
            let mut parts = place.split(':');
            let file = parts.next().unwrap_or_default();
            let numbered = parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            let kernel_header = file.ends_with(".h") && file.contains('/');
            if numbered && kernel_header {
                format!("{file}:<line>: {rest}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: [&str; 2] = ["6.1", "7.2"];

    const MANIFEST: &str = r#"
[[line]]
name = "6.1"
suites = ["bookworm"]
compiler = "gcc-12"
modelled = true

[[line]]
name = "7.2"
suites = ["sid"]
compiler = "gcc-16"

[[stage]]
dir = "old"
target = "t"
language = "c"
ko = "t.ko"
expect = { "6.1" = "fail", "7.2" = "fail" }
[stage.errors]
"6.1" = ["x"]
"7.2" = ["x", "y"]

[[stage]]
dir = "new"
target = "t"
language = "c"
ko = "t.ko"
scenario = { script = "tests/check.sh" }
expect = { "6.1" = "pass", "7.2" = { not-applicable = "not yet" } }
"#;

    fn stages() -> Vec<Stage> {
        Manifest::parse(MANIFEST).unwrap().stages
    }

    #[test]
    fn each_rust_line_meets_another_lines_rustc() {
        let m = Manifest::bundled();
        let pairs = |dir| other_rustc_pairs(m.stage(dir).unwrap());
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            pairs("stage1-rust"),
            [pair("7.2", "7.3"), pair("7.3", "7.2")]
        );
        assert!(pairs("stage1-hello").is_empty());
        let files = generated_files(&m.stages);
        assert!(files.contains(&other_rustc_file("stage1-rust", "7.2")));
        assert!(!files.contains(&other_rustc_file("stage1-hello", "7.2")));
    }

    #[test]
    fn the_generated_files_follow_the_manifest() {
        assert_eq!(
            generated_files(&stages()),
            [
                PathBuf::from("generated/matrix.md"),
                PathBuf::from("generated/probes.md"),
                PathBuf::from("generated/old-errors-6.1.txt"),
                PathBuf::from("generated/old-errors-7.2.txt"),
            ]
        );
        assert_eq!(generated_by_manifest(Some(MANIFEST.into())).len(), 4);
        assert!(generated_by_manifest(Some("[[stage]]".into())).is_empty());
        assert!(generated_by_manifest(None).is_empty());
    }

    #[test]
    fn failing_cells_must_fail_with_exactly_the_declared_errors() {
        let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let declared = set(&["a", "b"]);
        assert_eq!(
            judge_failure(false, &set(&["b", "a"]), &declared),
            Cell::ExpectedFail { errors: 2 }
        );
        assert!(matches!(
            judge_failure(true, &set(&[]), &declared),
            Cell::Unexpected(why) if why.contains("it built")
        ));
        assert!(matches!(
            judge_failure(false, &set(&["a"]), &declared),
            Cell::Unexpected(why) if why.contains("declared but not seen: [\"b\"]")
        ));
        assert!(matches!(
            judge_failure(false, &set(&["a", "b", "c"]), &declared),
            Cell::Unexpected(why) if why.contains("seen but not declared: [\"c\"]")
        ));
    }

    #[test]
    fn the_table_names_every_cell_and_kernel() {
        let stages = stages();
        let mut cells = BTreeMap::new();
        cells.insert(
            ("old".to_string(), "6.1".to_string()),
            Cell::ExpectedFail { errors: 1 },
        );
        cells.insert(
            ("new".to_string(), "6.1".to_string()),
            Cell::Unexpected("hung".into()),
        );
        cells.insert(
            ("new".to_string(), "7.2".to_string()),
            Cell::NotApplicable("not yet".into()),
        );
        let releases = [("6.1".to_string(), "6.1.0-56-amd64".to_string())].into();
        let md = table_markdown(&stages, &LINES, &cells, &releases);
        assert!(md.contains("| stage | 6.1 | 7.2 |\n| --- | --- | --- |\n"));
        assert!(md.contains("| `old` | expected-fail (1 errors) | not run |\n"));
        assert!(md.contains("| `new` | UNEXPECTED | n/a |\n"));
        assert!(md.contains("6.1 is Debian's `6.1.0-56-amd64`, 7.2 was not reached."));
    }

    #[test]
    fn the_probe_tables_versions_are_masked_its_verdicts_are_not() {
        let row = super::super::probes::VERSION_ROW;
        let a = format!("{row} 6.1.192 |\n| `DMW_HAVE_X` (x) | 6.9 | yes |\n");
        let b = format!("{row} 6.1.199 |\n| `DMW_HAVE_X` (x) | 6.9 | yes |\n");
        assert_eq!(without_volatile(&a), without_volatile(&b));
        let flipped = b.replace("| yes |", "| no |");
        assert_ne!(without_volatile(&a), without_volatile(&flipped));
    }

    #[test]
    fn header_lines_and_releases_are_masked_the_stage_is_not() {
        let a = "include/linux/device-mapper.h:179:35: note: expected\n\
                 hello_target.c:52:13: error: too many arguments\n\
                 6.1 is Debian's `6.1.0-56-amd64`.";
        let b = "include/linux/device-mapper.h:181:35: note: expected\n\
                 hello_target.c:52:13: error: too many arguments\n\
                 6.1 is Debian's `6.1.0-57-amd64`.";
        assert_eq!(without_volatile(a), without_volatile(b));
        let moved = a.replace("hello_target.c:52:13", "hello_target.c:53:13");
        assert_ne!(without_volatile(a), without_volatile(&moved));
        let other = a.replace("too many", "too few");
        assert_ne!(without_volatile(a), without_volatile(&other));
    }
}
