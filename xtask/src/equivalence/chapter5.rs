//! Chapter 5's report (stage 2, `proxy`), compared field by field.

use anyhow::Result;
use dm_workbook::scenarios::chapter5;

use super::{differ, refusal_differences, sim_beside_kernel};

/// Run chapter 5 with its default options on the simulator and list every
/// difference from the kernel's report; a report that does not read as
/// chapter 5's is an error.
pub fn chapter5_differences(kernel_report: &str) -> Result<Vec<String>> {
    sim_beside_kernel(
        5,
        kernel_report,
        |backend, out| chapter5::run(backend, &chapter5::Options::default(), out),
        chapter5_report_differences,
    )
}

/// The fields on which two chapter 5 reports differ, one line each. The
/// latencies themselves are machine time and never cross: a report holds
/// only what must be true of them ([`chapter5::Latency`]), and that is
/// compared like every other counter.
pub fn chapter5_report_differences(
    sim: &chapter5::Report,
    kernel: &chapter5::Report,
) -> Vec<String> {
    let chapter5::Report {
        backend: _,
        target,
        table,
        after_reset,
        done,
        after_io,
        after_fsync,
        over_failing,
        refusals,
        after_refusals,
        after_second_reset,
    } = sim;
    let k = kernel;
    let mut found = Vec::new();
    differ(&mut found, "target", target, &k.target);
    differ(&mut found, "table", table, &k.table);
    counter_differences(&mut found, "after_reset", after_reset, &k.after_reset);
    let chapter5::Done {
        writes,
        write_bytes,
        reads,
        read_bytes,
    } = done;
    differ(&mut found, "done.writes", writes, &k.done.writes);
    differ(
        &mut found,
        "done.write_bytes",
        write_bytes,
        &k.done.write_bytes,
    );
    differ(&mut found, "done.reads", reads, &k.done.reads);
    differ(
        &mut found,
        "done.read_bytes",
        read_bytes,
        &k.done.read_bytes,
    );
    counter_differences(&mut found, "after_io", after_io, &k.after_io);
    counter_differences(&mut found, "after_fsync", after_fsync, &k.after_fsync);
    let chapter5::FailingRead {
        table,
        result,
        counters,
    } = over_failing;
    let kf = &k.over_failing;
    differ(&mut found, "over_failing.table", table, &kf.table);
    differ(&mut found, "over_failing.result", result, &kf.result);
    counter_differences(&mut found, "over_failing.counters", counters, &kf.counters);
    refusal_differences(&mut found, refusals, &k.refusals);
    counter_differences(
        &mut found,
        "after_refusals",
        after_refusals,
        &k.after_refusals,
    );
    counter_differences(
        &mut found,
        "after_second_reset",
        after_second_reset,
        &k.after_second_reset,
    );
    found
}

/// One `dmsetup status` line of `proxy`, counter by counter.
fn counter_differences(
    found: &mut Vec<String>,
    at: &str,
    sim: &chapter5::Counters,
    kernel: &chapter5::Counters,
) {
    let chapter5::Counters {
        reads,
        read_sectors,
        writes,
        write_sectors,
        flushes,
        others,
        errors,
        latency,
    } = sim;
    differ(found, &format!("{at}.reads"), reads, &kernel.reads);
    differ(
        found,
        &format!("{at}.read_sectors"),
        read_sectors,
        &kernel.read_sectors,
    );
    differ(found, &format!("{at}.writes"), writes, &kernel.writes);
    differ(
        found,
        &format!("{at}.write_sectors"),
        write_sectors,
        &kernel.write_sectors,
    );
    differ(found, &format!("{at}.flushes"), flushes, &kernel.flushes);
    differ(found, &format!("{at}.others"), others, &kernel.others);
    differ(found, &format!("{at}.errors"), errors, &kernel.errors);
    let chapter5::Latency {
        timed,
        max_with_total,
        max_within_total,
    } = latency;
    let kl = &kernel.latency;
    differ(found, &format!("{at}.latency.timed"), timed, &kl.timed);
    differ(
        found,
        &format!("{at}.latency.max_with_total"),
        max_with_total,
        &kl.max_with_total,
    );
    differ(
        found,
        &format!("{at}.latency.max_within_total"),
        max_within_total,
        &kl.max_within_total,
    );
}
