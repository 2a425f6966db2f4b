//! The compat header's feature probes on every line: what each probe found,
//! what the drift table expects there (stable backports included) and what
//! a `LINUX_VERSION_CODE` check would have answered. A probe that disagrees
//! with the table is an unexpected result; one that disagrees with the
//! version check is a backport the version check cannot see, and the table
//! marks it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use dm_workbook::drift::{Change, DriftTable, Release};

use super::report::GENERATED;

/// The probes' run on one line.
#[derive(Clone, Debug)]
pub struct LineProbes {
    /// The release the line's headers are (LINUX_VERSION_CODE).
    pub kernel: Release,
    /// Entry id -> whether its probe compiled.
    pub verdicts: BTreeMap<String, bool>,
    /// What each probe's compiler said (dmw_probes.log).
    pub log: String,
}

impl LineProbes {
    /// The first error the compiler gave probe `id`, if any.
    fn first_error(&self, id: &str) -> Option<&str> {
        let head = format!("== {id}: ");
        let mut lines = self.log.lines().skip_while(|l| !l.starts_with(&head));
        lines.next()?;
        lines
            .take_while(|l| !l.starts_with("== "))
            .find(|l| l.contains("error:"))
    }
}

/// One probe on one line, judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The probe, the table and a version check agree.
    Agrees(bool),
    /// The probe and the table agree; a version check would not: a
    /// backport (the stable releases the table lists).
    Backport { found: bool, stable: Vec<String> },
    /// The probe and the table disagree: one of them is wrong.
    Differs { found: bool, expected: bool },
    /// The line has no verdict for this probe.
    Missing,
}

impl Verdict {
    pub fn judge(change: &Change, table: &DriftTable, run: &LineProbes) -> Verdict {
        let Some(&found) = run.verdicts.get(&change.id) else {
            return Verdict::Missing;
        };
        let expected = change.new_form_builds_on(run.kernel, table);
        let version = change.version_check_says(run.kernel, table);
        if found != expected {
            Verdict::Differs { found, expected }
        } else if found != version {
            let stable = (change.stable.iter())
                .filter(|s| run.kernel.reaches_stable(**s))
                .map(|s| s.to_string())
                .collect();
            Verdict::Backport { found, stable }
        } else {
            Verdict::Agrees(found)
        }
    }

    /// Whether the matrix counts it against the run.
    pub fn unexpected(&self) -> bool {
        matches!(self, Verdict::Differs { .. } | Verdict::Missing)
    }

    fn text(&self) -> String {
        let word = |b: bool| if b { "yes" } else { "no" };
        match self {
            Verdict::Agrees(found) => word(*found).to_string(),
            Verdict::Backport { found, stable } if stable.is_empty() => format!(
                "**{}**, a version check says {}",
                word(*found),
                word(!found)
            ),
            Verdict::Backport { found, stable } => format!(
                "**{}**: backport ({}); a version check says {}",
                word(*found),
                stable.join(", "),
                word(!found)
            ),
            Verdict::Differs { found, expected } => format!(
                "DIFFERS: {}, the table expects {}",
                word(*found),
                word(*expected)
            ),
            Verdict::Missing => "not probed".to_string(),
        }
    }
}

/// The drift entries with a probe, in the table's order.
pub fn probed_entries(table: &DriftTable) -> Vec<&Change> {
    (table.changes.iter())
        .filter(|c| c.compat.is_some())
        .collect()
}

/// The first cells of the probe table's row of header versions, which
/// `--check` leaves out: Debian's next kernel of a line moves its sublevel.
pub const VERSION_ROW: &str = "| *the headers' `LINUX_VERSION_CODE`* | |";

/// The generated file with the probe table.
pub fn probes_file() -> PathBuf {
    Path::new(GENERATED).join("probes.md")
}

/// The probes × lines table, as Markdown: a first row with the release
/// each line's headers are, then one row per probe.
pub fn probes_markdown(
    table: &DriftTable,
    line_names: &[&str],
    runs: &BTreeMap<String, Result<LineProbes, String>>,
) -> String {
    let mut text = String::from("| probe (drift entry) | mainline |");
    for line in line_names {
        let _ = write!(text, " {line} |");
    }
    text.push_str("\n| --- | --- |");
    text.push_str(&" --- |".repeat(line_names.len()));
    text.push('\n');
    text.push_str(VERSION_ROW);
    for line in line_names {
        let cell = match runs.get(*line) {
            Some(Ok(run)) => run.kernel.to_string(),
            Some(Err(_)) => "probes failed".to_string(),
            None => "not run".to_string(),
        };
        let _ = write!(text, " {cell} |");
    }
    text.push('\n');
    for change in probed_entries(table) {
        let macro_name = change.compat.as_deref().unwrap_or_default();
        let _ = write!(
            text,
            "| `{macro_name}` ({}) | {} |",
            change.id, change.release
        );
        for line in line_names {
            let cell = match runs.get(*line) {
                Some(Ok(run)) => Verdict::judge(change, table, run).text(),
                _ => "-".to_string(),
            };
            let _ = write!(text, " {cell} |");
        }
        text.push('\n');
    }
    text
}

/// Every probe that disagrees with the table, or did not run, as
/// `line: why` lines for the matrix's UNEXPECTED report.
pub fn problems(
    table: &DriftTable,
    runs: &BTreeMap<String, Result<LineProbes, String>>,
) -> Vec<String> {
    let mut found = Vec::new();
    for (line, run) in runs {
        let run = match run {
            Ok(run) => run,
            Err(why) => {
                found.push(format!("probes on {line}: {why}"));
                continue;
            }
        };
        for change in probed_entries(table) {
            let verdict = Verdict::judge(change, table, run);
            if verdict.unexpected() {
                let said = run
                    .first_error(&change.id)
                    .map(|e| format!(" (the compiler: {})", e.trim()))
                    .unwrap_or_default();
                found.push(format!(
                    "probe {} on {line} ({}): {}{said}",
                    change.id,
                    run.kernel,
                    verdict.text()
                ));
            }
        }
        for id in run.verdicts.keys() {
            if table.get(id).is_none_or(|c| c.compat.is_none()) {
                found.push(format!(
                    "probe {id} on {line}: no drift entry with a `compat` macro"
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kernel: &str, verdicts: &[(&str, bool)]) -> LineProbes {
        LineProbes {
            kernel: kernel.parse().unwrap(),
            verdicts: (verdicts.iter())
                .map(|(id, b)| (id.to_string(), *b))
                .collect(),
            log: "== dm-io-ioprio: 0\nx.c:3: error: too many arguments\n== other: 1\n".into(),
        }
    }

    #[test]
    fn a_stable_backport_is_flagged_and_a_wrong_probe_is_unexpected() {
        let table = DriftTable::bundled().unwrap();
        let ioprio = table.get("dm-io-ioprio").unwrap();
        let debian_61 = run("6.1.192", &[("dm-io-ioprio", true)]);
        let verdict = Verdict::judge(ioprio, &table, &debian_61);
        assert_eq!(
            verdict,
            Verdict::Backport {
                found: true,
                stable: vec!["6.1.83".into()]
            }
        );
        assert!(!verdict.unexpected());
        let early_61 = run("6.1.80", &[("dm-io-ioprio", true)]);
        assert!(Verdict::judge(ioprio, &table, &early_61).unexpected());
        assert_eq!(
            early_61.first_error("dm-io-ioprio"),
            Some("x.c:3: error: too many arguments")
        );
        assert_eq!(early_61.first_error("other"), None);
        let newest = run("7.3.4", &[("dm-io-ioprio", false)]);
        assert_eq!(
            Verdict::judge(ioprio, &table, &newest),
            Verdict::Agrees(false)
        );
    }

    #[test]
    fn the_table_has_a_row_per_probe_and_a_column_per_line() {
        let table = DriftTable::bundled().unwrap();
        let mut runs = BTreeMap::new();
        let all: Vec<(&str, bool)> = probed_entries(&table)
            .iter()
            .map(|c| {
                (
                    c.id.as_str(),
                    c.new_form_builds_on("6.1.192".parse().unwrap(), &table),
                )
            })
            .collect();
        runs.insert("6.1".to_string(), Ok(run("6.1.192", &all)));
        runs.insert("5.10".to_string(), Err("make failed".to_string()));
        let text = probes_markdown(&table, &["5.10", "6.1"], &runs);
        assert_eq!(text.lines().count(), 3 + probed_entries(&table).len());
        assert!(text.contains("backport (6.1.83)"), "{text}");
        let problems = problems(&table, &runs);
        assert_eq!(problems, ["probes on 5.10: make failed"]);
    }
}
