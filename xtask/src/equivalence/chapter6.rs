//! Chapter 6's report (stage 3, `faulty`), compared field by field.

use anyhow::Result;
use dm_workbook::scenarios::chapter6;

use super::{differ, each, refusal_differences, sim_beside_kernel};

/// Run chapter 6 with its default options on the simulator and list every
/// difference from the kernel's report; a report that does not read as
/// chapter 6's is an error.
pub fn chapter6_differences(kernel_report: &str) -> Result<Vec<String>> {
    sim_beside_kernel(
        6,
        kernel_report,
        |backend, out| chapter6::run(backend, &chapter6::Options::default(), out),
        chapter6_report_differences,
    )
}

/// The fields on which two chapter 6 reports differ, one line each; which
/// backend ran is the only field not compared.
pub fn chapter6_report_differences(
    sim: &chapter6::Report,
    kernel: &chapter6::Report,
) -> Vec<String> {
    let chapter6::Report {
        backend: _,
        target,
        table,
        created,
        modes,
        table_after,
        list,
        refusals,
        after_refusals,
    } = sim;
    let k = kernel;
    let mut found = Vec::new();
    differ(&mut found, "target", target, &k.target);
    differ(&mut found, "table", table, &k.table);
    status_differences(&mut found, "created", created, &k.created);
    each(
        &mut found,
        "modes",
        modes,
        &k.modes,
        |found, at, sim, kernel| {
            let chapter6::ModeRun { mode, io, status } = sim;
            differ(found, &format!("{at}.mode"), mode, &kernel.mode);
            each(
                found,
                &format!("{at}.io"),
                io,
                &kernel.io,
                |found, at, sim, kernel| {
                    let chapter6::BlockIo {
                        op,
                        block,
                        result,
                        disk,
                    } = sim;
                    differ(found, &format!("{at}.op"), op, &kernel.op);
                    differ(found, &format!("{at}.block"), block, &kernel.block);
                    differ(found, &format!("{at}.result"), result, &kernel.result);
                    differ(found, &format!("{at}.disk"), disk, &kernel.disk);
                },
            );
            status_differences(found, &format!("{at}.status"), status, &kernel.status);
        },
    );
    differ(&mut found, "table_after", table_after, &k.table_after);
    each(
        &mut found,
        "list",
        list,
        &k.list,
        |found, at, sim, kernel| {
            let chapter6::ListStep { message, listbad } = sim;
            differ(found, &format!("{at}.message"), message, &kernel.message);
            differ(found, &format!("{at}.listbad"), listbad, &kernel.listbad);
        },
    );
    refusal_differences(&mut found, refusals, &k.refusals);
    status_differences(
        &mut found,
        "after_refusals",
        after_refusals,
        &k.after_refusals,
    );
    found
}

/// One `dmsetup status` line of `faulty`, field by field.
fn status_differences(
    found: &mut Vec<String>,
    at: &str,
    sim: &chapter6::Status,
    kernel: &chapter6::Status,
) {
    let chapter6::Status {
        mode,
        bad_sectors,
        read_errors,
        write_errors,
        dropped_writes,
    } = sim;
    differ(found, &format!("{at}.mode"), mode, &kernel.mode);
    differ(
        found,
        &format!("{at}.bad_sectors"),
        bad_sectors,
        &kernel.bad_sectors,
    );
    differ(
        found,
        &format!("{at}.read_errors"),
        read_errors,
        &kernel.read_errors,
    );
    differ(
        found,
        &format!("{at}.write_errors"),
        write_errors,
        &kernel.write_errors,
    );
    differ(
        found,
        &format!("{at}.dropped_writes"),
        dropped_writes,
        &kernel.dropped_writes,
    );
}

#[cfg(test)]
mod tests {
    use dm_workbook::driver::sim::SimBackend;

    use super::*;

    type Edit = fn(&mut chapter6::Report);

    fn simulator_report() -> chapter6::Report {
        let mut backend = SimBackend::new().unwrap();
        chapter6::run(&mut backend, &chapter6::Options::default(), &mut Vec::new()).unwrap()
    }

    #[test]
    fn a_difference_in_each_field_is_reported() {
        let sim = simulator_report();
        assert_eq!(
            chapter6_differences(&serde_json::to_string(&sim).unwrap()).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(sim.modes.len(), 3, "fail, drop and pass");
        assert_eq!(sim.modes[0].io[1].result, "EIO", "the bad write failed");
        let changes: [(&str, Edit); 16] = [
            ("target", |r| r.target = None),
            ("table", |r| r.table.push("x".into())),
            ("created.mode", |r| r.created.mode = "drop".into()),
            ("created.bad_sectors", |r| r.created.bad_sectors += 1),
            ("modes", |r| {
                r.modes.pop();
            }),
            ("modes[1].mode", |r| r.modes[1].mode = "fail".into()),
            ("modes[0].io[1].result", |r| {
                r.modes[0].io[1].result = "ok".into()
            }),
            ("modes[0].io[1].disk", |r| {
                r.modes[0].io[1].disk = "written".into()
            }),
            ("modes[2].io[0].block", |r| r.modes[2].io[0].block += 1),
            ("modes[1].io[0].op", |r| r.modes[1].io[0].op = "read".into()),
            ("modes[1].status.dropped_writes", |r| {
                r.modes[1].status.dropped_writes += 1
            }),
            ("modes[0].status.write_errors", |r| {
                r.modes[0].status.write_errors += 1
            }),
            ("table_after", |r| r.table_after.clear()),
            ("list[1].listbad", |r| r.list[1].listbad.push_str(" 9")),
            ("refusals[2].reason", |r| r.refusals[2].reason.push('x')),
            ("after_refusals.read_errors", |r| {
                r.after_refusals.read_errors += 1
            }),
        ];
        for (field, change) in changes {
            let mut kernel = sim.clone();
            change(&mut kernel);
            let found = chapter6_report_differences(&sim, &kernel);
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            assert!(
                found[0].starts_with(&format!("{field}: simulator ")),
                "{found:?}"
            );
        }
        let mut kernel = sim.clone();
        kernel.backend = "kernel".into();
        assert!(chapter6_report_differences(&sim, &kernel).is_empty());
        let mut json = serde_json::to_value(&sim).unwrap();
        json["created"].as_object_mut().unwrap().remove("mode");
        let err = chapter6_differences(&json.to_string()).unwrap_err();
        assert!(format!("{err:#}").starts_with("reading the guest's chapter 6 report"));
    }
}
