//! The simulator and a real kernel, side by side: the same chapter run on both
//! must report the same tables, statuses and data placement, the same
//! refusals for the same bad table lines, and the same write cache and fate
//! of a flush for the same good ones.

use anyhow::{Context, Result};
use dm_workbook::dm::trace::Remap;
use dm_workbook::driver::sim::SimBackend;
use dm_workbook::scenarios::chapter3::{self, ALL_STEPS, Options, Placement, Report};
use dm_workbook::scenarios::chapter5::MessageRefusal;
use dm_workbook::scenarios::{self, chapter1, chapter2};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Run chapter `n` on the simulator and list every difference from the
/// report the kernel wrote, for the chapters whose reports must match on
/// every line (chapter 2's is compared in the lab, on the modelled line).
pub fn chapter_differences(n: u32, kernel_report: &str) -> Result<Vec<String>> {
    match n {
        1 => chapter1_differences(kernel_report),
        3 => chapter3_differences(kernel_report),
        5 => chapter5_differences(kernel_report),
        6 => chapter6_differences(kernel_report),
        7 => chapter7_differences(kernel_report),
        n => anyhow::bail!("chapter {n} writes a report the lab cannot compare yet"),
    }
}

/// Run chapter 3 on the simulator with the options the lab used, and list
/// every difference from the report the real kernel produced. A report that
/// does not read as this workbook's [`Report`] (a field renamed, missing or
/// added) is an error, never a pass.
pub fn chapter3_differences(kernel_report: &str) -> Result<Vec<String>> {
    sim_beside_kernel(
        3,
        kernel_report,
        |backend, out| chapter3::run(backend, &ALL_STEPS, &Options::default(), out),
        differences,
    )
}

/// Read the kernel's report of chapter `chapter` (a report that does not read
/// as the chapter's is an error), run the chapter on the simulator with
/// `run`, and list what `compare` finds between the two.
fn sim_beside_kernel<R: DeserializeOwned>(
    chapter: u32,
    kernel_report: &str,
    run: impl FnOnce(&mut SimBackend, &mut Vec<u8>) -> scenarios::Result<R>,
    compare: fn(&R, &R) -> Vec<String>,
) -> Result<Vec<String>> {
    let kernel: R = serde_json::from_str(kernel_report)
        .with_context(|| format!("reading the guest's chapter {chapter} report"))?;
    let mut backend = SimBackend::new()?;
    let sim = run(&mut backend, &mut Vec::new())
        .with_context(|| format!("running chapter {chapter} on the simulator"))?;
    Ok(compare(&sim, &kernel))
}

/// The fields on which `sim` and `kernel` differ, one line each. Everything
/// the kernel answered is compared, nothing about which backend asked or
/// what only a kernel can do; the destructuring makes a new field a compile
/// error here until it is placed on one side or the other.
pub fn differences(sim: &Report, kernel: &Report) -> Vec<String> {
    let Report {
        backend: _,
        steps: _,
        files: _,
        target,
        table,
        status,
        placement,
    } = sim;
    let mut found = Vec::new();
    differ(&mut found, "target", target, &kernel.target);
    differ(&mut found, "table", table, &kernel.table);
    differ(&mut found, "status", status, &kernel.status);
    match (placement, &kernel.placement) {
        (Some(sim), Some(kernel)) => placement_differences(&mut found, sim, kernel),
        (sim, kernel) => differ(&mut found, "placement", sim, kernel),
    }
    found
}

fn placement_differences(found: &mut Vec<String>, sim: &Placement, kernel: &Placement) {
    let Placement {
        at,
        bytes,
        crc32,
        device,
        offset,
        expected,
        matched,
        read_back,
        in_backing_file,
        remaps,
    } = sim;
    differ(found, "placement.at", at, &kernel.at);
    differ(found, "placement.bytes", bytes, &kernel.bytes);
    differ(found, "placement.crc32", crc32, &kernel.crc32);
    differ(found, "placement.device", device, &kernel.device);
    differ(found, "placement.offset", offset, &kernel.offset);
    differ(found, "placement.expected", expected, &kernel.expected);
    differ(found, "placement.matched", matched, &kernel.matched);
    differ(found, "placement.read_back", read_back, &kernel.read_back);
    differ(
        found,
        "placement.in_backing_file",
        in_backing_file,
        &kernel.in_backing_file,
    );
    remap_differences(found, "placement.remaps", remaps, &kernel.remaps);
}

/// Run chapter 2 on the simulator and list every difference from the report
/// the real kernel produced. A report that does not read as this workbook's
/// chapter 2 report is an error, never a pass.
pub fn chapter2_differences(kernel_report: &str) -> Result<Vec<String>> {
    sim_beside_kernel(
        2,
        kernel_report,
        |backend, out| chapter2::run(backend, out),
        chapter2_report_differences,
    )
}

/// The fields on which two chapter 2 reports differ, one line each, named by
/// their path (`steps[2].info[0].read_ahead`). Which backend ran is not
/// compared; everything else is.
pub fn chapter2_report_differences(
    sim: &chapter2::Report,
    kernel: &chapter2::Report,
) -> Vec<String> {
    let chapter2::Report { backend: _, steps } = sim;
    let mut found = Vec::new();
    differ(&mut found, "steps.len", &steps.len(), &kernel.steps.len());
    for (i, (sim, kernel)) in steps.iter().zip(&kernel.steps).enumerate() {
        step_differences(&mut found, &format!("steps[{i}]"), sim, kernel);
    }
    found
}

fn step_differences(
    found: &mut Vec<String>,
    at: &str,
    sim: &chapter2::StepReport,
    kernel: &chapter2::StepReport,
) {
    let chapter2::StepReport {
        step,
        info,
        tables,
        io,
        refusals,
        kernel_log,
    } = sim;
    differ(found, &format!("{at}.step"), step, &kernel.step);
    each(
        found,
        &format!("{at}.info"),
        info,
        &kernel.info,
        info_differences,
    );
    each(
        found,
        &format!("{at}.tables"),
        tables,
        &kernel.tables,
        |found, at, sim, kernel| {
            let chapter2::TableReport { command, lines } = sim;
            differ(found, &format!("{at}.command"), command, &kernel.command);
            differ(found, &format!("{at}.lines"), lines, &kernel.lines);
        },
    );
    each(
        found,
        &format!("{at}.io"),
        io,
        &kernel.io,
        |found, at, sim, kernel| {
            let chapter2::IoReport {
                op,
                sector,
                sectors,
                held,
                result,
                bytes,
                crc32,
                remaps,
            } = sim;
            differ(found, &format!("{at}.op"), op, &kernel.op);
            differ(found, &format!("{at}.sector"), sector, &kernel.sector);
            differ(found, &format!("{at}.sectors"), sectors, &kernel.sectors);
            differ(found, &format!("{at}.held"), held, &kernel.held);
            differ(found, &format!("{at}.result"), result, &kernel.result);
            differ(found, &format!("{at}.bytes"), bytes, &kernel.bytes);
            differ(found, &format!("{at}.crc32"), crc32, &kernel.crc32);
            remap_differences(found, &format!("{at}.remaps"), remaps, &kernel.remaps);
        },
    );
    each(
        found,
        &format!("{at}.refusals"),
        refusals,
        &kernel.refusals,
        |found, at, sim, kernel| {
            let chapter2::RefusalReport { ioctl, errno } = sim;
            differ(found, &format!("{at}.ioctl"), ioctl, &kernel.ioctl);
            differ(found, &format!("{at}.errno"), errno, &kernel.errno);
        },
    );
    differ(
        found,
        &format!("{at}.kernel_log"),
        kernel_log,
        &kernel.kernel_log,
    );
}

/// `dmsetup info`'s fields, each on its own.
fn info_differences(
    found: &mut Vec<String>,
    at: &str,
    sim: &chapter2::InfoReport,
    kernel: &chapter2::InfoReport,
) {
    let chapter2::InfoReport {
        suspended,
        live_table,
        inactive_table,
        open_count,
        event_nr,
        major,
        target_count,
        read_ahead,
    } = sim;
    differ(
        found,
        &format!("{at}.suspended"),
        suspended,
        &kernel.suspended,
    );
    differ(
        found,
        &format!("{at}.live_table"),
        live_table,
        &kernel.live_table,
    );
    differ(
        found,
        &format!("{at}.inactive_table"),
        inactive_table,
        &kernel.inactive_table,
    );
    differ(
        found,
        &format!("{at}.open_count"),
        open_count,
        &kernel.open_count,
    );
    differ(found, &format!("{at}.event_nr"), event_nr, &kernel.event_nr);
    differ(found, &format!("{at}.major"), major, &kernel.major);
    differ(
        found,
        &format!("{at}.target_count"),
        target_count,
        &kernel.target_count,
    );
    differ(
        found,
        &format!("{at}.read_ahead"),
        read_ahead,
        &kernel.read_ahead,
    );
}

/// Run chapter 1 with its default options on the simulator and list every
/// difference from the kernel's report; a report that does not read as
/// chapter 1's is an error.
pub fn chapter1_differences(kernel_report: &str) -> Result<Vec<String>> {
    sim_beside_kernel(
        1,
        kernel_report,
        |backend, out| chapter1::run(backend, &chapter1::Options::default(), out),
        chapter1_report_differences,
    )
}

/// The fields on which two chapter 1 reports differ, one line each.
pub fn chapter1_report_differences(
    sim: &chapter1::Report,
    kernel: &chapter1::Report,
) -> Vec<String> {
    let chapter1::Report {
        backend: _,
        table,
        info,
        write,
        remaps,
    } = sim;
    let mut found = Vec::new();
    differ(&mut found, "table", table, &kernel.table);
    info_differences(&mut found, "info", info, &kernel.info);
    let chapter1::WriteReport {
        sector,
        landing,
        crc32,
        read_back,
        in_backing_file,
    } = write;
    let k = &kernel.write;
    differ(&mut found, "write.sector", sector, &k.sector);
    differ(&mut found, "write.landing", landing, &k.landing);
    differ(&mut found, "write.crc32", crc32, &k.crc32);
    differ(&mut found, "write.read_back", read_back, &k.read_back);
    differ(
        &mut found,
        "write.in_backing_file",
        in_backing_file,
        &k.in_backing_file,
    );
    remap_differences(&mut found, "remaps", remaps, &kernel.remaps);
    found
}

/// Where the core sent each bio, remap by remap and field by field. A kernel
/// whose remaps could not be read differs from a simulator whose could.
fn remap_differences(
    found: &mut Vec<String>,
    at: &str,
    sim: &Option<Vec<Remap>>,
    kernel: &Option<Vec<Remap>>,
) {
    let (Some(sim), Some(kernel)) = (sim, kernel) else {
        differ(found, at, sim, kernel);
        return;
    };
    each(found, at, sim, kernel, |found, at, sim, kernel| {
        let Remap {
            op,
            device,
            sector,
            sectors,
            to,
            to_sector,
        } = sim;
        differ(found, &format!("{at}.op"), op, &kernel.op);
        differ(found, &format!("{at}.device"), device, &kernel.device);
        differ(found, &format!("{at}.sector"), sector, &kernel.sector);
        differ(found, &format!("{at}.sectors"), sectors, &kernel.sectors);
        differ(found, &format!("{at}.to"), to, &kernel.to);
        differ(
            found,
            &format!("{at}.to_sector"),
            to_sector,
            &kernel.to_sector,
        );
    });
}

/// The messages a stage's target refused (chapters 5 and 6), entry by entry.
fn refusal_differences(found: &mut Vec<String>, sim: &[MessageRefusal], kernel: &[MessageRefusal]) {
    each(found, "refusals", sim, kernel, |found, at, sim, kernel| {
        let MessageRefusal {
            message,
            errno,
            reason,
        } = sim;
        differ(found, &format!("{at}.message"), message, &kernel.message);
        differ(found, &format!("{at}.errno"), errno, &kernel.errno);
        differ(found, &format!("{at}.reason"), reason, &kernel.reason);
    });
}

/// Compare two lists: their lengths, then each pair of entries with `fields`.
fn each<T: Serialize>(
    found: &mut Vec<String>,
    at: &str,
    sim: &[T],
    kernel: &[T],
    fields: impl Fn(&mut Vec<String>, &str, &T, &T),
) {
    if sim.len() != kernel.len() {
        found.push(format!(
            "{at}: simulator {} / kernel {}",
            as_json(&sim),
            as_json(&kernel)
        ));
        return;
    }
    for (i, (sim, kernel)) in sim.iter().zip(kernel).enumerate() {
        fields(found, &format!("{at}[{i}]"), sim, kernel);
    }
}

/// One line for a field that differs, with both values as JSON.
fn differ<T: PartialEq + Serialize>(found: &mut Vec<String>, field: &str, sim: &T, kernel: &T) {
    if sim != kernel {
        found.push(format!(
            "{field}: simulator {} / kernel {}",
            as_json(sim),
            as_json(kernel)
        ));
    }
}

fn as_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("(unprintable: {e})"))
}

mod chapter5;
mod chapter6;
mod chapter7;
mod guest_answers;
mod lab_run;
pub use chapter5::*;
pub use chapter6::*;
pub use chapter7::*;
pub use guest_answers::*;
pub(crate) use lab_run::lab_run_problems;

#[cfg(test)]
mod tests;
