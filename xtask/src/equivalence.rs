//! The simulator and a real kernel, side by side: the same chapter run on both
//! must report the same tables, statuses and data placement, the same
//! refusals for the same bad table lines, and the same write cache and fate
//! of a flush for the same good ones.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use dm_workbook::driver::sim::SimBackend;
use dm_workbook::scenarios::chapter3::{self, ALL_STEPS, Options, Placement, Report};
use dm_workbook::scenarios::{chapter1, chapter2};
use dm_workbook::targets;
use serde::Serialize;

/// Run chapter 3 on the simulator with the options the lab used, and list
/// every difference from the report the real kernel produced. A report that
/// does not read as this workbook's [`Report`] (a field renamed, missing or
/// added) is an error, never a pass.
pub fn chapter3_differences(kernel_report: &str) -> Result<Vec<String>> {
    let kernel: Report =
        serde_json::from_str(kernel_report).context("reading the guest's chapter 3 report")?;
    let mut backend = SimBackend::new()?;
    let mut transcript = Vec::new();
    let sim = chapter3::run(
        &mut backend,
        &ALL_STEPS,
        &Options::default(),
        &mut transcript,
    )
    .context("running chapter 3 on the simulator")?;
    Ok(differences(&sim, &kernel))
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
}

/// Run chapter 2 on the simulator and list every difference from the report
/// the real kernel produced. A report that does not read as this workbook's
/// chapter 2 report is an error, never a pass.
pub fn chapter2_differences(kernel_report: &str) -> Result<Vec<String>> {
    let kernel: chapter2::Report =
        serde_json::from_str(kernel_report).context("reading the guest's chapter 2 report")?;
    let mut backend = SimBackend::new()?;
    let mut transcript = Vec::new();
    let sim = chapter2::run(&mut backend, &mut transcript)
        .context("running chapter 2 on the simulator")?;
    Ok(chapter2_report_differences(&sim, &kernel))
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
            } = sim;
            differ(found, &format!("{at}.op"), op, &kernel.op);
            differ(found, &format!("{at}.sector"), sector, &kernel.sector);
            differ(found, &format!("{at}.sectors"), sectors, &kernel.sectors);
            differ(found, &format!("{at}.held"), held, &kernel.held);
            differ(found, &format!("{at}.result"), result, &kernel.result);
            differ(found, &format!("{at}.bytes"), bytes, &kernel.bytes);
            differ(found, &format!("{at}.crc32"), crc32, &kernel.crc32);
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
    let kernel: chapter1::Report =
        serde_json::from_str(kernel_report).context("reading the guest's chapter 1 report")?;
    let mut backend = SimBackend::new()?;
    let sim = chapter1::run(&mut backend, &chapter1::Options::default(), &mut Vec::new())
        .context("running chapter 1 on the simulator")?;
    Ok(chapter1_report_differences(&sim, &kernel))
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
    found
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

/// A bad table line the kernel refused, and the first device-mapper line it
/// logged about it.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub table: String,
    pub reason: String,
}

/// What the simulator logs first for `table` (with `/dev/loop0` a 128 MiB
/// disk), or `None` if it accepts the line.
pub fn simulator_refusal(table: &str) -> Result<Option<String>> {
    use dm_workbook::driver::Backend;
    let mut backend = SimBackend::new()?;
    let file = backend.scratch_dir().join("disk.img");
    std::fs::File::create(&file)?.set_len(chapter3::BACKING_BYTES)?;
    backend.attach_loop(&file)?;
    backend.load_stage(Options::default().stage)?;
    let parsed = dm_workbook::table::Table::parse(table)?;
    match backend.create_with_table("refusal", &parsed) {
        Ok(_) => Ok(None),
        Err(dm_workbook::driver::BackendError::Dm(err)) => {
            Ok(Some(err.reason().unwrap_or_default().to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

/// The refusals a run's kernel reported, held to the simulator's.
#[derive(Debug, Default)]
pub struct RefusalCheck {
    /// One line per refusal the simulator gives differently.
    pub differences: Vec<String>,
    /// Target types the tables name that the simulator has no twin of: their
    /// refusals are not compared.
    pub without_twin: BTreeSet<String>,
}

/// Check each refusal the kernel reported against the simulator's, where the
/// simulator knows every target type the table names.
pub fn check_refusals(kernel: &[Refusal]) -> Result<RefusalCheck> {
    let mut check = RefusalCheck::default();
    for refusal in kernel {
        let named: Vec<String> = dm_workbook::table::Table::parse(&refusal.table)
            .map(|t| t.lines.into_iter().map(|l| l.target).collect())
            .unwrap_or_default();
        let unknown: Vec<String> = named
            .into_iter()
            .filter(|name| targets::twin(name).is_none())
            .collect();
        if !unknown.is_empty() {
            check.without_twin.extend(unknown);
            continue;
        }
        let sim = simulator_refusal(&refusal.table)?;
        let kernel_reason = normalise_dm_minor(&refusal.reason);
        let sim_reason = sim.as_deref().map(normalise_dm_minor);
        if sim_reason.as_deref() != Some(kernel_reason.as_str()) {
            check.differences.push(format!(
                "`{}`: kernel logged `{}`, simulator {}",
                refusal.table,
                refusal.reason,
                sim.map_or("accepted it".to_string(), |r| format!("logged `{r}`"))
            ));
        }
    }
    Ok(check)
}

/// Device names such as `254:3` depend on how many devices the guest made
/// before; the simulator's first device is always `254:0`.
fn normalise_dm_minor(line: &str) -> String {
    line.split(' ')
        .map(
            |word| match word.strip_suffix(':').and_then(|w| w.split_once(':')) {
                Some((major, minor))
                    if major.bytes().all(|b| b.is_ascii_digit())
                        && minor.bytes().all(|b| b.is_ascii_digit())
                        && !major.is_empty()
                        && !minor.is_empty() =>
                {
                    format!("{major}:N:")
                }
                _ => word.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_agrees_with_itself() {
        let mut backend = SimBackend::new().unwrap();
        let mut out = Vec::new();
        let report =
            chapter3::run(&mut backend, &ALL_STEPS, &Options::default(), &mut out).unwrap();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(chapter3_differences(&json).unwrap(), Vec::<String>::new());
    }

    /// One change to a report, named in a test's table of them.
    type Edit<T> = fn(&mut T);

    /// A report as a run on the simulator makes it.
    fn simulator_report() -> Report {
        let mut backend = SimBackend::new().unwrap();
        let mut out = Vec::new();
        chapter3::run(&mut backend, &ALL_STEPS, &Options::default(), &mut out).unwrap()
    }

    #[test]
    fn a_difference_in_each_compared_field_is_reported() {
        let sim = simulator_report();
        assert!(sim.placement.is_some() && sim.target.is_some());
        let changes: [(&str, Edit<Report>); 13] = [
            ("target", |r| r.target = None),
            ("table", |r| r.table[0].push_str(" 8")),
            ("status", |r| r.status.push("0 8 zero".into())),
            ("placement", |r| r.placement = None),
            ("placement.at", |r| placement(r).at += 1),
            ("placement.bytes", |r| placement(r).bytes += 512),
            ("placement.crc32", |r| placement(r).crc32 ^= 1),
            ("placement.device", |r| placement(r).device = "7:1".into()),
            ("placement.offset", |r| placement(r).offset += 512),
            ("placement.expected", |r| placement(r).expected -= 512),
            ("placement.matched", |r| placement(r).matched -= 1),
            ("placement.read_back", |r| placement(r).read_back ^= true),
            ("placement.in_backing_file", |r| {
                placement(r).in_backing_file ^= true
            }),
        ];
        for (field, change) in changes {
            let mut kernel = sim.clone();
            change(&mut kernel);
            let found = differences(&sim, &kernel);
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            assert!(
                found[0].starts_with(&format!("{field}: simulator ")),
                "{found:?}"
            );
        }
    }

    fn placement(report: &mut Report) -> &mut Placement {
        report.placement.as_mut().unwrap()
    }

    #[test]
    fn who_ran_it_and_what_only_a_kernel_does_are_not_compared() {
        let sim = simulator_report();
        let mut kernel = sim.clone();
        kernel.backend = "kernel".into();
        kernel.files = vec!["copy.txt".into(), "lost+found".into(), "test.txt".into()];
        assert_eq!(differences(&sim, &kernel), Vec::<String>::new());
    }

    #[test]
    fn a_report_with_a_renamed_or_missing_field_is_an_error() {
        let json = serde_json::to_value(simulator_report()).unwrap();
        let edits: [(&str, Edit<serde_json::Value>); 4] = [
            ("renamed", |v| {
                let table = v["table"].take();
                let object = v.as_object_mut().unwrap();
                object.remove("table");
                object.insert("tables".into(), table);
            }),
            ("missing", |v| {
                v.as_object_mut().unwrap().remove("target");
            }),
            ("missing in placement", |v| {
                v["placement"].as_object_mut().unwrap().remove("crc32");
            }),
            ("added", |v| {
                v.as_object_mut()
                    .unwrap()
                    .insert("extra".into(), serde_json::json!(1));
            }),
        ];
        for (what, edit) in edits {
            let mut edited = json.clone();
            edit(&mut edited);
            let err = chapter3_differences(&edited.to_string()).unwrap_err();
            assert!(
                format!("{err:#}").starts_with("reading the guest's chapter 3 report"),
                "{what}: {err:#}"
            );
        }
    }

    fn chapter2_report() -> chapter2::Report {
        let mut backend = SimBackend::new().unwrap();
        chapter2::run(&mut backend, &mut Vec::new()).unwrap()
    }

    /// The first step that has something in the list `has` looks at.
    fn step_with(
        report: &mut chapter2::Report,
        has: fn(&chapter2::StepReport) -> bool,
    ) -> &mut chapter2::StepReport {
        report.steps.iter_mut().find(|s| has(s)).unwrap()
    }

    fn info(r: &mut chapter2::Report) -> &mut chapter2::InfoReport {
        &mut step_with(r, |s| !s.info.is_empty()).info[0]
    }

    fn table(r: &mut chapter2::Report) -> &mut chapter2::TableReport {
        &mut step_with(r, |s| !s.tables.is_empty()).tables[0]
    }

    fn io(r: &mut chapter2::Report) -> &mut chapter2::IoReport {
        &mut step_with(r, |s| !s.io.is_empty()).io[0]
    }

    fn refusal(r: &mut chapter2::Report) -> &mut chapter2::RefusalReport {
        &mut step_with(r, |s| !s.refusals.is_empty()).refusals[0]
    }

    #[test]
    fn chapter2_on_the_simulator_agrees_with_itself() {
        let json = serde_json::to_string(&chapter2_report()).unwrap();
        assert_eq!(chapter2_differences(&json).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn chapter2_a_difference_in_each_field_is_reported() {
        let sim = chapter2_report();
        let changes: [(&str, Edit<chapter2::Report>); 22] = [
            ("steps.len", |r| {
                r.steps.pop();
            }),
            (".step", |r| r.steps[0].step.push('!')),
            (".info", |r| {
                step_with(r, |s| !s.info.is_empty()).info.pop();
            }),
            (".info[0].suspended", |r| info(r).suspended ^= true),
            (".info[0].live_table", |r| info(r).live_table ^= true),
            (".info[0].inactive_table", |r| {
                info(r).inactive_table ^= true
            }),
            (".info[0].open_count", |r| info(r).open_count += 1),
            (".info[0].event_nr", |r| info(r).event_nr += 1),
            (".info[0].major", |r| info(r).major += 1),
            (".info[0].target_count", |r| info(r).target_count += 1),
            (".info[0].read_ahead", |r| info(r).read_ahead += 8),
            (".tables", |r| {
                step_with(r, |s| !s.tables.is_empty()).tables.clear();
            }),
            (".tables[0].command", |r| table(r).command.push('!')),
            (".tables[0].lines", |r| {
                table(r).lines.push("0 8 zero".into())
            }),
            (".io[0].op", |r| io(r).op = "write".into()),
            (".io[0].sector", |r| io(r).sector += 1),
            (".io[0].sectors", |r| io(r).sectors += 1),
            (".io[0].held", |r| io(r).held ^= true),
            (".io[0].result", |r| io(r).result = "EIO".into()),
            (".io[0].bytes", |r| io(r).bytes += 512),
            (".io[0].crc32", |r| io(r).crc32 ^= 1),
            (".kernel_log", |r| {
                step_with(r, |s| !s.kernel_log.is_empty())
                    .kernel_log
                    .clear();
            }),
        ];
        let refusal_changes: [(&str, Edit<chapter2::Report>); 3] = [
            (".refusals", |r| {
                step_with(r, |s| !s.refusals.is_empty()).refusals.clear();
            }),
            (".refusals[0].ioctl", |r| refusal(r).ioctl = "reload".into()),
            (".refusals[0].errno", |r| refusal(r).errno = "EBUSY".into()),
        ];
        for (field, change) in changes.into_iter().chain(refusal_changes) {
            let mut kernel = sim.clone();
            change(&mut kernel);
            let found = chapter2_report_differences(&sim, &kernel);
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            let path = found[0].split(": simulator ").next().unwrap();
            assert!(path.ends_with(field), "{field}: {found:?}");
        }
        let mut kernel = sim.clone();
        kernel.backend = "kernel".into();
        assert_eq!(
            chapter2_report_differences(&sim, &kernel),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_chapter2_report_with_a_renamed_missing_or_added_field_is_an_error() {
        let json = serde_json::to_value(chapter2_report()).unwrap();
        let edits: [(&str, Edit<serde_json::Value>); 4] = [
            ("renamed", |v| {
                let info = v["steps"][0]["info"].take();
                let step = v["steps"][0].as_object_mut().unwrap();
                step.remove("info");
                step.insert("infos".into(), info);
            }),
            ("missing", |v| {
                v["steps"][0]["info"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("read_ahead");
            }),
            ("missing in io", |v| {
                v["steps"][0]["io"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("result");
            }),
            ("added", |v| {
                v["steps"][0]
                    .as_object_mut()
                    .unwrap()
                    .insert("extra".into(), serde_json::json!(1));
            }),
        ];
        for (what, edit) in edits {
            let mut edited = json.clone();
            edit(&mut edited);
            let err = chapter2_differences(&edited.to_string()).unwrap_err();
            assert!(
                format!("{err:#}").starts_with("reading the guest's chapter 2 report"),
                "{what}: {err:#}"
            );
        }
    }

    fn chapter1_report() -> chapter1::Report {
        let mut backend = SimBackend::new().unwrap();
        chapter1::run(&mut backend, &chapter1::Options::default(), &mut Vec::new()).unwrap()
    }

    #[test]
    fn chapter1_a_difference_in_each_field_is_reported() {
        let sim = chapter1_report();
        assert_eq!(
            chapter1_differences(&serde_json::to_string(&sim).unwrap()).unwrap(),
            Vec::<String>::new()
        );
        let changes: [(&str, Edit<chapter1::Report>); 14] = [
            ("table", |r| r.table.push("x".into())),
            ("info.suspended", |r| r.info.suspended ^= true),
            ("info.live_table", |r| r.info.live_table ^= true),
            ("info.inactive_table", |r| r.info.inactive_table ^= true),
            ("info.open_count", |r| r.info.open_count += 1),
            ("info.event_nr", |r| r.info.event_nr += 1),
            ("info.major", |r| r.info.major += 1),
            ("info.target_count", |r| r.info.target_count += 1),
            ("info.read_ahead", |r| r.info.read_ahead += 8),
            ("write.sector", |r| r.write.sector += 1),
            ("write.landing", |r| r.write.landing += 1),
            ("write.crc32", |r| r.write.crc32 ^= 1),
            ("write.read_back", |r| r.write.read_back ^= true),
            ("write.in_backing_file", |r| r.write.in_backing_file ^= true),
        ];
        for (field, change) in changes {
            let mut kernel = sim.clone();
            change(&mut kernel);
            let found = chapter1_report_differences(&sim, &kernel);
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            assert!(
                found[0].starts_with(&format!("{field}: simulator ")),
                "{found:?}"
            );
        }
        let mut kernel = sim.clone();
        kernel.backend = "kernel".into();
        assert!(chapter1_report_differences(&sim, &kernel).is_empty());
        let mut json = serde_json::to_value(&sim).unwrap();
        json["write"].as_object_mut().unwrap().remove("landing");
        let err = chapter1_differences(&json.to_string()).unwrap_err();
        assert!(format!("{err:#}").starts_with("reading the guest's chapter 1 report"));
    }

    #[test]
    fn refusals_compare_without_the_device_number() {
        let same = Refusal {
            table: "0 262144 hello_target /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:3: hello_target: Invalid device sector (-EINVAL)"
                .into(),
        };
        assert!(check_refusals(&[same]).unwrap().differences.is_empty());
        let other = Refusal {
            table: "0 262144 hello_target /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:3: hello_target: something else (-EINVAL)".into(),
        };
        assert_eq!(check_refusals(&[other]).unwrap().differences.len(), 1);
    }

    #[test]
    fn a_target_without_a_twin_is_not_compared_but_named() {
        let learner = Refusal {
            table: "0 262144 learner /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:0: learner: Invalid device sector (-EINVAL)".into(),
        };
        let check = check_refusals(&[learner]).unwrap();
        assert!(check.differences.is_empty());
        assert_eq!(
            check.without_twin.into_iter().collect::<Vec<_>>(),
            ["learner"]
        );
    }
}

/// What a guest script saw of one table's cache: `WRITE_CACHE <table>|<mode>`
/// (`queue/write_cache` of the device) or `FLUSH <table>|reached` / `FLUSH
/// <table>|not reached` (whether an fsync on the device raised `/dev/loop0`'s
/// flush count), as `module/stage1-hello/tests/flush.sh` prints them.
#[derive(Debug, PartialEq, Eq)]
pub struct CacheSeen {
    pub what: CacheQuestion,
    pub table: String,
    pub answer: String,
}

/// Which question a [`CacheSeen`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheQuestion {
    WriteCache,
    Flush,
}

impl CacheSeen {
    /// Read one line of a script's output, if it is one of these.
    pub fn parse(line: &str) -> Option<CacheSeen> {
        let (what, rest) = if let Some(rest) = line.strip_prefix("WRITE_CACHE ") {
            (CacheQuestion::WriteCache, rest)
        } else {
            (CacheQuestion::Flush, line.strip_prefix("FLUSH ")?)
        };
        let (table, answer) = rest.split_once('|')?;
        Some(CacheSeen {
            what,
            table: table.to_string(),
            answer: answer.to_string(),
        })
    }
}

/// What the simulator answers for `seen`'s table (built as the only device
/// over a 128 MiB `/dev/loop0` with a write-back cache), where it differs
/// from what the kernel answered; tables naming a target type the simulator
/// has no twin of are left out.
pub fn cache_differences(kernel: &[CacheSeen]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for seen in kernel {
        let sim = simulator_cache_answer(seen.what, &seen.table)?;
        if let Some(sim) = sim
            && sim != seen.answer
        {
            found.push(format!(
                "`{}`: {} is `{}` on the kernel, `{sim}` on the simulator",
                seen.table,
                match seen.what {
                    CacheQuestion::WriteCache => "write_cache",
                    CacheQuestion::Flush => "the fsync's flush",
                },
                seen.answer
            ));
        }
    }
    Ok(found)
}

fn simulator_cache_answer(what: CacheQuestion, table: &str) -> Result<Option<String>> {
    use dm_workbook::sim::{Simulator, Submission};
    let parsed = dm_workbook::table::Table::parse(table)?;
    let mut sim = Simulator::new(targets::standard());
    for line in &parsed.lines {
        let Some(twin) = targets::twin(&line.target) else {
            return Ok(None);
        };
        if !sim.targets().iter().any(|t| t.name == line.target) {
            sim.register_target(twin)
                .map_err(|e| anyhow::anyhow!("registering {}: {e}", line.target))?;
        }
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)?.set_len(chapter3::BACKING_BYTES)?;
    sim.attach_loop(&file)
        .map_err(|e| anyhow::anyhow!("attaching the simulator's loop device: {e}"))?;
    sim.create("flush")?;
    sim.load("flush", &parsed)?;
    sim.resume("flush")?;
    Ok(Some(match what {
        CacheQuestion::WriteCache => sim
            .write_cache("flush")
            .context("the device just made")?
            .to_string(),
        CacheQuestion::Flush => {
            let before = stat_flushes(&sim)?;
            // What `dd bs=4096 count=1 conv=fsync` sends: the block, then
            // an empty flush.
            sim.write("flush", 0, &[0; 4096])?;
            let Submission::Done(_) = sim.flush("flush")? else {
                anyhow::bail!("the simulator deferred a flush on a running device");
            };
            if stat_flushes(&sim)? > before {
                "reached".to_string()
            } else {
                "not reached".to_string()
            }
        }
    }))
}

fn stat_flushes(sim: &dm_workbook::sim::Simulator) -> Result<u64> {
    Ok(sim
        .loop_stat("/dev/loop0")
        .map_err(|e| anyhow::anyhow!("/dev/loop0's stat: {e}"))?
        .flushes)
}

#[cfg(test)]
mod cache_tests {
    use super::*;

    #[test]
    fn reads_the_flush_scripts_lines() {
        assert_eq!(
            CacheSeen::parse("WRITE_CACHE 0 8 linear /dev/loop0 0|write back"),
            Some(CacheSeen {
                what: CacheQuestion::WriteCache,
                table: "0 8 linear /dev/loop0 0".to_string(),
                answer: "write back".to_string(),
            })
        );
        assert_eq!(
            CacheSeen::parse("FLUSH 0 8 hello_target /dev/loop0 0|not reached")
                .map(|s| (s.what, s.answer)),
            Some((CacheQuestion::Flush, "not reached".to_string()))
        );
        assert_eq!(CacheSeen::parse("   write_cache: write back"), None);
    }

    #[test]
    fn the_simulator_answers_as_61_did_and_a_wrong_answer_is_a_difference() {
        let table = "0 4096 hello_target /dev/loop0 2048";
        let seen = |what, answer: &str| CacheSeen {
            what,
            table: table.to_string(),
            answer: answer.to_string(),
        };
        let as_61 = [
            seen(CacheQuestion::WriteCache, "write back"),
            seen(CacheQuestion::Flush, "reached"),
        ];
        assert_eq!(cache_differences(&as_61).unwrap(), Vec::<String>::new());
        let wrong = [
            seen(CacheQuestion::WriteCache, "write through"),
            seen(CacheQuestion::Flush, "not reached"),
        ];
        assert_eq!(cache_differences(&wrong).unwrap().len(), 2);
    }
}
