//! Each chapter's report, compared field by field: a difference in any field
//! is named, and a report that does not read as the workbook's is an error.

use super::*;
use dm_workbook::scenarios::chapter5;

#[test]
fn the_simulator_agrees_with_itself() {
    let mut backend = SimBackend::new().unwrap();
    let mut out = Vec::new();
    let report = chapter3::run(&mut backend, &ALL_STEPS, &Options::default(), &mut out).unwrap();
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

fn chapter5_report() -> chapter5::Report {
    let mut backend = SimBackend::new().unwrap();
    chapter5::run(&mut backend, &chapter5::Options::default(), &mut Vec::new()).unwrap()
}

#[test]
fn chapter5_a_difference_in_each_field_is_reported() {
    let sim = chapter5_report();
    assert_eq!(
        chapter5_differences(&serde_json::to_string(&sim).unwrap()).unwrap(),
        Vec::<String>::new()
    );
    assert_eq!(
        sim.after_io.write_sectors, 32,
        "the run counted what it did"
    );
    assert_eq!(sim.refusals.len(), 2);
    let changes: [(&str, Edit<chapter5::Report>); 19] = [
        ("target", |r| r.target = None),
        ("table", |r| r.table.push("x".into())),
        ("after_reset.reads", |r| r.after_reset.reads += 1),
        ("done.writes", |r| r.done.writes += 1),
        ("done.write_bytes", |r| r.done.write_bytes += 512),
        ("done.reads", |r| r.done.reads += 1),
        ("done.read_bytes", |r| r.done.read_bytes += 512),
        ("after_io.read_sectors", |r| r.after_io.read_sectors += 1),
        ("after_io.writes", |r| r.after_io.writes += 1),
        ("after_io.write_sectors", |r| r.after_io.write_sectors += 1),
        ("after_io.latency.timed", |r| {
            r.after_io.latency.timed ^= true
        }),
        ("after_fsync.flushes", |r| r.after_fsync.flushes += 1),
        ("after_fsync.others", |r| r.after_fsync.others += 1),
        ("over_failing.result", |r| {
            r.over_failing.result = "ok".into()
        }),
        ("over_failing.counters.errors", |r| {
            r.over_failing.counters.errors += 1
        }),
        ("refusals[1].reason", |r| r.refusals[1].reason.push('x')),
        ("refusals[0].errno", |r| {
            r.refusals[0].errno = "ENOTTY".into()
        }),
        ("after_refusals.latency.max_within_total", |r| {
            r.after_refusals.latency.max_within_total ^= true
        }),
        ("after_second_reset.latency.max_with_total", |r| {
            r.after_second_reset.latency.max_with_total ^= true
        }),
    ];
    for (field, change) in changes {
        let mut kernel = sim.clone();
        change(&mut kernel);
        let found = chapter5_report_differences(&sim, &kernel);
        assert_eq!(found.len(), 1, "{field}: {found:?}");
        assert!(
            found[0].starts_with(&format!("{field}: simulator ")),
            "{found:?}"
        );
    }
    let mut kernel = sim.clone();
    kernel.backend = "kernel".into();
    assert!(chapter5_report_differences(&sim, &kernel).is_empty());
    let mut json = serde_json::to_value(&sim).unwrap();
    json["after_io"].as_object_mut().unwrap().remove("flushes");
    let err = chapter5_differences(&json.to_string()).unwrap_err();
    assert!(format!("{err:#}").starts_with("reading the guest's chapter 5 report"));
}
