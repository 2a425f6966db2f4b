//! The drift doctor: finds, in a target's C source, each use of an API form
//! that does not fit the kernel the learner targets.
//!
//! The source is parsed with tree-sitter's C grammar, so a call's argument count
//! or a callback's parameter list is found however the code is formatted. What
//! to look for comes from the table's `detect_old` and `detect_new` lists.
//!
//! The rule for `--kernel VERSION`: a use of an old form is reported when
//! VERSION has the new form, a use of the new form when it does not. A kernel
//! has the new form from the change's mainline release on, and on an older
//! line from a stable release the table lists (`6.1.83`), when VERSION names
//! its sublevel. Vendor backports are not assumed: a version number does not
//! say which vendor's kernel it is (RHEL 7's 3.10 and mainline 3.10 differ), so
//! the finding names them for the reader to weigh.
//!
//! Version guards (`#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 13, 0)`) are
//! decided for the kernel asked about, and the branch it would build is read
//! (a guard that picks the wrong branch on a newer kernel is reported like
//! unguarded code); a conditional on anything else (`#ifdef CONFIG_...`, a
//! vendor macro) keeps its first branch, and nothing in it is reported: the
//! author chose there. Include guards (`#ifndef FOO_H`) are no choice.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use super::code::{Code, line_of, macro_bodies, parse};
use super::guards::select;
use super::input::{Expect, check_input};
use super::table::{Change, DetectorKind, DriftTable};
use super::{DriftError, Release};

/// Which form of a change a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// The old form, on a kernel that has the new one.
    Old,
    /// The new form, on a kernel older than the change.
    New,
}

/// One use of a form that does not fit the target kernel.
#[derive(Debug, Clone)]
pub struct Finding<'t> {
    /// 1-based line of the use.
    pub line: usize,
    pub direction: Direction,
    pub change: &'t Change,
    /// For a callback: the lines that assign the function (`.map = f,`,
    /// `bio->bi_end_io = f;`), where a compiler reports the mismatch.
    pub assigned_at: Vec<usize>,
    /// The last line of the function the finding sits in, where GCC reports
    /// "control reaches end of non-void function" when the finding's
    /// statement was the return.
    pub function_end: Option<usize>,
}

impl Finding<'_> {
    /// The finding as a JSON object, for tools and editors: the same facts
    /// as [`Finding::render`], each in its own field.
    pub fn to_json(&self) -> serde_json::Value {
        let change = self.change;
        let direction = match self.direction {
            Direction::Old => "old",
            Direction::New => "new",
        };
        serde_json::json!({
            "line": self.line,
            "id": change.id,
            "direction": direction,
            "symbol": change.symbol,
            "summary": change.summary,
            "release": change.release.to_string(),
            "commit": change.commit,
            "title": change.title,
            "verified": change.verified,
            "fix": self.fix_text(),
            "backports": change.backports,
            "assigned_at": self.assigned_at,
            "function_end": self.function_end,
            "builds": self.builds(),
        })
    }

    /// Whether the code still builds despite this finding: advice, not an
    /// error the compiler will print.
    pub fn builds(&self) -> bool {
        self.direction == Direction::Old && self.change.old_builds
    }

    /// What to do about it, pointing towards the kernel asked about.
    fn fix_text(&self) -> String {
        let change = self.change;
        match (self.direction, &change.compat) {
            (Direction::Old, _) => change.fix.clone(),
            (Direction::New, Some(compat)) => format!(
                "Before {}, write the old form `{}`, or keep the new one and \
                 include module/compat/dmw_compat.h, whose {compat} bridges it.",
                change.release, change.old
            ),
            (Direction::New, None) => {
                let (a, b, c) = change.release.kernel_version();
                format!(
                    "Before {}, write the old form `{}`, or guard each form with \
                     #if LINUX_VERSION_CODE >= KERNEL_VERSION({a}, {b}, {c}).",
                    change.release, change.old
                )
            }
        }
    }

    /// The doctor's two- or three-line report for this finding.
    pub fn render(&self, file: &str, kernel: Release) -> String {
        let change = self.change;
        let what = match self.direction {
            Direction::Old => change.summary.clone(),
            Direction::New => format!(
                "new form used, but {kernel} predates it: {}",
                change.summary
            ),
        };
        // The fix points towards the kernel asked about: the new form for a
        // newer kernel, the old spelling (or the compat guard) for an older one.
        let fix = self.fix_text();
        let mut text = format!(
            "{file}:{}: {}: {what} (since {}, {})\n  fix: {fix}\n",
            self.line,
            change.id,
            change.release,
            change.commit_label(),
        );
        if !change.backports.is_empty() {
            let _ = writeln!(text, "  backports: {}", change.backports.join("; "));
        }
        text
    }
}

/// Reads a C file, checks it is what `expect` says, and diagnoses it against
/// `kernel`.
pub fn diagnose_file<'t>(
    path: &Path,
    table: &'t DriftTable,
    kernel: Release,
    expect: Expect,
) -> Result<Vec<Finding<'t>>, DriftError> {
    let bytes = std::fs::read(path).map_err(|source| DriftError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Old sources often carry Latin-1 names in comments: read past them.
    let source = String::from_utf8_lossy(&bytes);
    check_input(&source, expect).map_err(|problem| DriftError::Input {
        path: path.to_path_buf(),
        problem: Box::new(problem),
    })?;
    diagnose(&source, table, kernel)
}

/// Every finding in `source` for a build against `kernel`, by line.
pub fn diagnose<'t>(
    source: &str,
    table: &'t DriftTable,
    kernel: Release,
) -> Result<Vec<Finding<'t>>, DriftError> {
    let selected = select(source, kernel);
    let tree = parse(&selected.text)?;
    let code = Code::new(&tree, &selected.text);
    let guarded = selected.guarded;
    // Macro bodies are raw text to the grammar: read them again as code, on
    // their own lines, for the detectors that can fire inside an expression.
    let macros = macro_bodies(&tree, &selected.text);
    let macro_tree = parse(&macros)?;
    let macro_code = Code::new(&macro_tree, &macros);
    let mut found: BTreeMap<(usize, usize, Direction), BTreeSet<usize>> = BTreeMap::new();
    for (index, change) in table.changes.iter().enumerate() {
        // A kernel with the new form trips over the old one, and vice versa.
        let (direction, detectors) = if change.present_in(kernel) {
            (Direction::Old, &change.detect_old)
        } else if change.new_form_fails_on(kernel) {
            (Direction::New, &change.detect_new)
        } else {
            continue;
        };
        for detector in detectors {
            let in_macros = match detector.kind() {
                Ok(DetectorKind::Callback | DetectorKind::Include) | Err(_) => Vec::new(),
                Ok(_) => macro_code.lines_matching(detector),
            };
            for (line, assigned_at) in code.lines_matching(detector).into_iter().chain(in_macros) {
                // Inside a conditional the doctor could not decide.
                if guarded.get(line - 1).copied().unwrap_or(false) {
                    continue;
                }
                (found.entry((line, index, direction)).or_default()).extend(assigned_at);
            }
        }
    }
    let functions: Vec<(usize, usize)> = (code.nodes.iter())
        .filter(|n| n.kind() == "function_definition")
        .map(|n| (line_of(*n), n.end_position().row + 1))
        .collect();
    let function_end = |line: usize| {
        (functions.iter())
            .filter(|(start, end)| *start <= line && line <= *end)
            .min_by_key(|(start, end)| end - start)
            .map(|(_, end)| *end)
    };
    Ok(found
        .into_iter()
        .map(|((line, index, direction), assigned_at)| Finding {
            line,
            direction,
            change: &table.changes[index],
            assigned_at: assigned_at.into_iter().collect(),
            function_end: function_end(line),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[[change]]
id = "six-args"
symbol = "dm_get_device"
summary = "s"
old = "o"
new = "n"
release = "2.6.34"
commit = ""
title = ""
verified = false
checked = "Not found: test data"
fix = "f"
detect_old = [{ call = "dm_get_device", args = 6 }]

[[change]]
id = "map-params"
symbol = "target_type.map"
summary = "s"
old = "o"
new = "n"
release = "3.8"
commit = ""
title = ""
verified = false
checked = "Not found: test data"
fix = "f"
detect_old = [{ callback = "map", params = 3 }]
"#;

    fn lines(source: &str) -> Vec<(String, usize)> {
        let table = DriftTable::parse(TABLE).unwrap();
        diagnose(source, &table, Release::NEWEST)
            .unwrap()
            .into_iter()
            .map(|f| (f.change.id.clone(), f.line))
            .collect()
    }

    #[test]
    fn counts_arguments_however_they_are_laid_out() {
        let source = "int f(void)\n{\n\treturn dm_get_device(ti, /* path */ argv[0],\n\t\tstart,\n\t\tti->len, MODE(ti), &dev);\n}\n";
        assert_eq!(lines(source), [("six-args".to_string(), 3)]);
        let four = "int f(void) { return dm_get_device(ti, p, m, &d); }";
        assert!(lines(four).is_empty());
    }

    #[test]
    fn follows_callbacks_through_pointers_and_prototypes() {
        let source = "static int m(struct dm_target *ti,\n\tstruct bio *bio,\n\tunion map_info *mi);\n\
                      static struct target_type t = { .name = \"t\", .map = &m };\n";
        assert_eq!(lines(source), [("map-params".to_string(), 1)]);
    }

    #[test]
    fn skips_code_under_a_version_guard_but_not_an_include_guard() {
        let guarded = "#if LINUX_VERSION_CODE < KERNEL_VERSION(2, 6, 34)\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        assert!(lines(guarded).is_empty());
        let header = "#ifndef TALLY_H\n#define TALLY_H\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        assert_eq!(lines(header), [("six-args".to_string(), 3)]);
    }

    #[test]
    fn decides_version_guards_for_the_kernel_asked_about() {
        let table = DriftTable::parse(TABLE).unwrap();
        let source = "#if LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 30)\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        // A guard that picks the old call on a kernel without it is no fix.
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [2]);
        let vendor = "#ifdef RHEL_RELEASE_CODE\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        assert!(
            diagnose(vendor, &table, Release::NEWEST)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reads_calls_inside_macro_bodies() {
        let table = DriftTable::parse(TABLE).unwrap();
        let source = "#define GET(ti, p, d) \\\n\tdm_get_device(ti, p, 0, ti->len, 0, d)\nint f(void) { return 0; }\n";
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_field_is_told_apart_by_the_struct_it_belongs_to() {
        let table = "[[change]]\nid = \"req-rw\"\nsymbol = \"x\"\nsummary = \"s\"\nold = \"o\"\nnew = \"n\"\nrelease = \"4.8\"\ncommit = \"\"\ntitle = \"\"\nverified = false\nchecked = \"c\"\nfix = \"f\"\ndetect_old = [{ field = \"bi_rw\", of_struct = \"dm_io_request\" }]\n";
        let table = DriftTable::parse(table).unwrap();
        let source = "int f(struct dm_io_request *req, struct bio *bio)\n{\n\treq->bi_rw = bio->bi_rw;\n\treturn g(&(struct dm_io_request){\n\t\t.bi_rw = 0,\n\t});\n}\n";
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [3, 5]);
    }

    #[test]
    fn a_callback_returning_an_errno_is_told_from_one_returning_a_code() {
        let table = "[[change]]\nid = \"errno\"\nsymbol = \"x\"\nsummary = \"s\"\nold = \"o\"\nnew = \"n\"\nrelease = \"4.13\"\ncommit = \"\"\ntitle = \"\"\nverified = false\nchecked = \"c\"\nfix = \"f\"\nold_builds = true\ndetect_old = [{ callback = \"map\", returns_errno = true }]\n";
        let table = DriftTable::parse(table).unwrap();
        let errno = "static int m(struct dm_target *ti, struct bio *bio)\n{\n\tif (x)\n\t\treturn (-EIO);\n\treturn 1;\n}\nstatic struct target_type t = { .map = m };\n";
        let found = diagnose(errno, &table, Release::NEWEST).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].builds());
        let code = errno.replace("(-EIO)", "DM_MAPIO_KILL");
        assert!(diagnose(&code, &table, Release::NEWEST).unwrap().is_empty());
    }

    #[test]
    fn a_void_parameter_list_is_empty() {
        let table = "[[change]]\nid = \"no-params\"\nsymbol = \"x\"\nsummary = \"s\"\nold = \"o\"\nnew = \"n\"\nrelease = \"3.0\"\ncommit = \"\"\ntitle = \"\"\nverified = false\nchecked = \"c\"\nfix = \"f\"\ndetect_old = [{ callback = \"busy\", params = 0 }]\n";
        let table = DriftTable::parse(table).unwrap();
        let source =
            "static int b(void) { return 0; }\nstatic struct target_type t = { .busy = b };\n";
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.len(), 1);
    }
}
