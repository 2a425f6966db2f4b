//! The results as a Markdown table: one row per device and workload, its
//! ratio to `linear` (median of the rounds, then their range) and its
//! absolute figure, which an emulated CPU makes no claim about.

use std::fmt::Write as _;

use super::{LINEAR, Measurement, Results, rank};

pub fn table(results: &Results) -> String {
    let mut s = format!(
        "Linux {} ({}), {}: {} rounds of {} s per device and workload.\n\n",
        results.line, results.release, results.date, results.rounds, results.seconds
    );
    s += "| set | device | workload | ratio to linear (median) | range of the rounds | absolute (median) |\n";
    s += "| --- | --- | --- | --- | --- | --- |\n";
    let mut shown: Vec<&Measurement> = results.measurements.iter().collect();
    shown.sort_by_key(|m| (m.set, rank(&m.device), m.workload.as_str()));
    for m in shown {
        if m.device == LINEAR {
            continue;
        }
        let r = m.ratio_to_linear;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {:.3} to {:.3} | {:.0} {} |",
            m.set, m.device, m.workload, r.median, r.min, r.max, m.absolute.median, m.unit
        );
    }
    for m in results.measurements.iter().filter(|m| m.device == LINEAR) {
        let _ = writeln!(
            s,
            "| {} | linear | {} | 1 | | {:.0} {} |",
            m.set, m.workload, m.absolute.median, m.unit
        );
    }
    s
}
