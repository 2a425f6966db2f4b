//! Chapter 7's report (stage 4, `deferred`), compared field by field.

use anyhow::Result;
use dm_workbook::scenarios::chapter7;

use super::{differ, each, sim_beside_kernel};

/// Run chapter 7 with its default options on the simulator and list every
/// difference from the kernel's report; a report that does not read as
/// chapter 7's is an error.
pub fn chapter7_differences(kernel_report: &str) -> Result<Vec<String>> {
    sim_beside_kernel(
        7,
        kernel_report,
        |backend, out| chapter7::run(backend, &chapter7::Options::default(), out),
        chapter7_report_differences,
    )
}

/// The fields on which two chapter 7 reports differ, one line each; which
/// backend ran is the only field not compared.
pub fn chapter7_report_differences(
    sim: &chapter7::Report,
    kernel: &chapter7::Report,
) -> Vec<String> {
    let chapter7::Report {
        backend: _,
        target,
        table,
        created,
        held_write,
        suspend,
        noflush,
        flush,
    } = sim;
    let k = kernel;
    let mut found = Vec::new();
    differ(&mut found, "target", target, &k.target);
    differ(&mut found, "table", table, &k.table);
    status(&mut found, "created", created, &k.created);

    let chapter7::HeldWrite {
        holding,
        waiting,
        on_disk_while_held,
        end,
        after,
    } = held_write;
    let kh = &k.held_write;
    status(&mut found, "held_write.holding", holding, &kh.holding);
    differ(&mut found, "held_write.waiting", waiting, &kh.waiting);
    differ(
        &mut found,
        "held_write.on_disk_while_held",
        on_disk_while_held,
        &kh.on_disk_while_held,
    );
    write_end(&mut found, "held_write.end", end, &kh.end);
    status(&mut found, "held_write.after", after, &kh.after);

    let chapter7::SuspendRun {
        holding,
        suspended,
        after_suspend,
        writes,
        late_waiting,
        while_suspended,
        after_resume,
        late,
    } = suspend;
    let ks = &k.suspend;
    status(&mut found, "suspend.holding", holding, &ks.holding);
    differ(&mut found, "suspend.suspended", suspended, &ks.suspended);
    status(
        &mut found,
        "suspend.after_suspend",
        after_suspend,
        &ks.after_suspend,
    );
    each(&mut found, "suspend.writes", writes, &ks.writes, write_end);
    differ(
        &mut found,
        "suspend.late_waiting",
        late_waiting,
        &ks.late_waiting,
    );
    status(
        &mut found,
        "suspend.while_suspended",
        while_suspended,
        &ks.while_suspended,
    );
    status(
        &mut found,
        "suspend.after_resume",
        after_resume,
        &ks.after_resume,
    );
    write_end(&mut found, "suspend.late", late, &ks.late);

    let chapter7::NoflushRun {
        holding,
        after_suspend,
        waiting,
        on_disk_while_suspended,
        table,
        after_resume,
        writes,
    } = noflush;
    let kn = &k.noflush;
    status(&mut found, "noflush.holding", holding, &kn.holding);
    status(
        &mut found,
        "noflush.after_suspend",
        after_suspend,
        &kn.after_suspend,
    );
    differ(&mut found, "noflush.waiting", waiting, &kn.waiting);
    differ(
        &mut found,
        "noflush.on_disk_while_suspended",
        on_disk_while_suspended,
        &kn.on_disk_while_suspended,
    );
    differ(&mut found, "noflush.table", table, &kn.table);
    status(
        &mut found,
        "noflush.after_resume",
        after_resume,
        &kn.after_resume,
    );
    each(&mut found, "noflush.writes", writes, &kn.writes, write_end);

    let chapter7::FlushRun { result, after } = flush;
    differ(&mut found, "flush.result", result, &k.flush.result);
    status(&mut found, "flush.after", after, &k.flush.after);
    found
}

/// One `dmsetup status` line of `deferred`, field by field.
fn status(found: &mut Vec<String>, at: &str, sim: &chapter7::Status, kernel: &chapter7::Status) {
    let chapter7::Status {
        held,
        delayed,
        drained,
        pushed_back,
    } = sim;
    differ(found, &format!("{at}.held"), held, &kernel.held);
    differ(found, &format!("{at}.delayed"), delayed, &kernel.delayed);
    differ(found, &format!("{at}.drained"), drained, &kernel.drained);
    differ(
        found,
        &format!("{at}.pushed_back"),
        pushed_back,
        &kernel.pushed_back,
    );
}

fn write_end(
    found: &mut Vec<String>,
    at: &str,
    sim: &chapter7::WriteEnd,
    kernel: &chapter7::WriteEnd,
) {
    let chapter7::WriteEnd {
        block,
        result,
        on_disk,
    } = sim;
    differ(found, &format!("{at}.block"), block, &kernel.block);
    differ(found, &format!("{at}.result"), result, &kernel.result);
    differ(found, &format!("{at}.on_disk"), on_disk, &kernel.on_disk);
}

#[cfg(test)]
mod tests {
    use dm_workbook::driver::sim::SimBackend;

    use super::*;

    type Edit = fn(&mut chapter7::Report);

    fn simulator_report() -> chapter7::Report {
        let mut backend = SimBackend::new().unwrap();
        chapter7::run(&mut backend, &chapter7::Options::default(), &mut Vec::new()).unwrap()
    }

    #[test]
    fn a_difference_in_each_field_is_reported() {
        let sim = simulator_report();
        assert_eq!(
            chapter7_differences(&serde_json::to_string(&sim).unwrap()).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(sim.suspend.after_suspend.drained, 3, "drained at suspend");
        assert_eq!(sim.noflush.after_suspend.pushed_back, 2, "handed back");
        let changes: [(&str, Edit); 17] = [
            ("target", |r| r.target = None),
            ("table", |r| r.table.clear()),
            ("created.held", |r| r.created.held += 1),
            ("held_write.holding.delayed", |r| {
                r.held_write.holding.delayed += 1
            }),
            ("held_write.waiting", |r| r.held_write.waiting ^= true),
            ("held_write.on_disk_while_held", |r| {
                r.held_write.on_disk_while_held ^= true
            }),
            ("held_write.end.result", |r| {
                r.held_write.end.result = "EIO".into()
            }),
            ("suspend.suspended", |r| r.suspend.suspended ^= true),
            ("suspend.after_suspend.drained", |r| {
                r.suspend.after_suspend.drained -= 1
            }),
            ("suspend.writes[2].on_disk", |r| {
                r.suspend.writes[2].on_disk ^= true
            }),
            ("suspend.late_waiting", |r| r.suspend.late_waiting ^= true),
            ("suspend.late.block", |r| r.suspend.late.block += 1),
            ("noflush.after_suspend.pushed_back", |r| {
                r.noflush.after_suspend.pushed_back += 1
            }),
            ("noflush.waiting", |r| r.noflush.waiting[1] ^= true),
            ("noflush.table", |r| r.noflush.table[0].push('0')),
            ("noflush.writes", |r| {
                r.noflush.writes.pop();
            }),
            ("flush.after.delayed", |r| r.flush.after.delayed += 1),
        ];
        for (field, change) in changes {
            let mut kernel = sim.clone();
            change(&mut kernel);
            let found = chapter7_report_differences(&sim, &kernel);
            assert_eq!(found.len(), 1, "{field}: {found:?}");
            assert!(
                found[0].starts_with(&format!("{field}: simulator ")),
                "{found:?}"
            );
        }
        let mut kernel = sim.clone();
        kernel.backend = "kernel".into();
        assert!(chapter7_report_differences(&sim, &kernel).is_empty());
        let mut json = serde_json::to_value(&sim).unwrap();
        json["flush"].as_object_mut().unwrap().remove("after");
        let err = chapter7_differences(&json.to_string()).unwrap_err();
        assert!(format!("{err:#}").starts_with("reading the guest's chapter 7 report"));
    }
}
