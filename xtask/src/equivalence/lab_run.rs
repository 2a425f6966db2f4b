//! What the lab holds to the simulator after one kernel line's boot: the
//! chapter's report, and on the modelled line the write caches, the table
//! lines and the messages the kernel refused.

use anyhow::{Result, bail};

use crate::lab::guest::{Run, Scenario};
use crate::lab::lines;

/// Where the simulator and the kernel differ in `run`, the boot of
/// `scenario` on `line`, each as a problem that fails the run. What is only
/// shown (another line's chapter 2 beside the model, refusals by a target
/// with no twin) is printed here.
pub(crate) fn lab_run_problems(line: &str, scenario: &Scenario, run: &Run) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let modelled = line == lines::simulated().name;
    if let Scenario::Chapter(chapter) = scenario
        && chapter.report
        && run.result.is_some()
    {
        if run.report.is_empty() {
            problems.push(format!("chapter {} wrote no report", chapter.number));
        } else {
            match chapter.number {
                n @ (1 | 3 | 5 | 6 | 7) => {
                    for d in super::chapter_differences(n, &run.report)? {
                        problems.push(format!("simulator and kernel differ: {d}"));
                    }
                }
                // The life cycle changed between lines (a 5.10 disk exists
                // from create on): other lines are shown beside the model
                // of 6.1, and only the modelled line must match it.
                2 => {
                    for d in super::chapter2_differences(&run.report)? {
                        if modelled {
                            problems.push(format!("simulator and kernel differ: {d}"));
                        } else {
                            println!(
                                "Linux {line}: differs from the simulator's {}: {d}",
                                lines::simulated().name
                            );
                        }
                    }
                }
                n => bail!("chapter {n} writes a report the lab cannot compare yet"),
            }
        }
    }
    if modelled {
        for d in super::cache_differences(&run.caches)? {
            problems.push(format!("simulator and kernel cache differently: {d}"));
        }
    }
    if modelled && !run.refusals.is_empty() {
        let refusals: Vec<super::Refusal> = run
            .refusals
            .iter()
            .map(|(table, reason)| super::Refusal {
                table: table.clone(),
                reason: reason.clone(),
            })
            .collect();
        let check = super::check_refusals(&refusals)?;
        for d in check.differences {
            problems.push(format!("simulator and kernel refuse differently: {d}"));
        }
        if !check.without_twin.is_empty() {
            let names: Vec<String> = check.without_twin.into_iter().collect();
            println!(
                "Linux {line}: the simulator has no twin of {}: those refusals are not compared",
                names.join(", ")
            );
        }
    }
    if modelled {
        for d in super::message_differences(&run.message_refusals)? {
            problems.push(format!(
                "simulator and kernel refuse a message differently: {d}"
            ));
        }
    }
    Ok(problems)
}
