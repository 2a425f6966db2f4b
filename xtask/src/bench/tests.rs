use super::*;
use dm_workbook::manifest::Manifest;

fn terse(read_bw: u64, write_bw: u64, read_iops: u64, write_iops: u64) -> String {
    let mut fields = vec!["0".to_string(); 130];
    fields[0] = "3".into();
    fields[1] = "fio-3.33".into();
    fields[6] = read_bw.to_string();
    fields[7] = read_iops.to_string();
    fields[47] = write_bw.to_string();
    fields[48] = write_iops.to_string();
    fields.join(";")
}

#[test]
fn reads_bandwidth_for_sequential_and_iops_for_random_workloads() {
    let line = format!("BENCH 0 3 linear seq-read-1M {}", terse(204800, 0, 200, 0));
    let sample = parse_sample(&line).unwrap().unwrap();
    assert_eq!(
        sample,
        Sample {
            set: 0,
            round: 3,
            device: "linear".into(),
            workload: "seq-read-1M".into(),
            value: 200.0,
        }
    );
    let line = format!("BENCH 1 0 loop rand-write-4k {}", terse(0, 4000, 0, 1000));
    assert_eq!(parse_sample(&line).unwrap().unwrap().value, 1000.0);
    assert!(parse_sample("DMW-STEP boot").unwrap().is_none());
    assert!(parse_sample("BENCH 0 0 loop seq-read-1M 3;fio").is_err());
    let idle = format!("BENCH 0 0 loop seq-read-1M {}", terse(0, 0, 0, 0));
    assert!(parse_sample(&idle).is_err(), "a run that measured nothing");
}

#[test]
fn ratios_pair_each_round_with_linear_of_the_same_round() {
    let sample = |round, device: &str, value| Sample {
        set: 0,
        round,
        device: device.into(),
        workload: "rand-read-4k".into(),
        value,
    };
    let samples: Vec<Sample> = (0..5)
        .flat_map(|r| {
            let linear = 100.0 + 10.0 * r as f64;
            [
                sample(r, "linear", linear),
                sample(r, "proxy", linear * 0.9),
            ]
        })
        .collect();
    let found = measurements(&samples, 5).unwrap();
    let proxy = found.iter().find(|m| m.device == "proxy").unwrap();
    // Linear drifts from round to round; the paired ratio does not.
    assert!((proxy.ratio_to_linear.median - 0.9).abs() < 1e-9);
    assert!((proxy.ratio_to_linear.max - proxy.ratio_to_linear.min).abs() < 1e-9);
    assert_eq!(proxy.absolute.min, 90.0);
    assert!(
        measurements(&samples[..9], 5).is_err(),
        "a round is missing"
    );
}

#[test]
fn stages_with_one_target_go_to_different_sets() {
    let manifest = Manifest::bundled();
    let on = |line: &str| {
        let line = lines::find(line).unwrap();
        stages::loading_on(line, None).unwrap()
    };
    let newest = &manifest.newest().name;
    for set in sets(&on(newest)) {
        let targets: Vec<&str> = set.iter().map(|s| s.target.as_str()).collect();
        let mut unique = targets.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), targets.len(), "{targets:?}");
    }
    // Every stage that passes on a line is measured there.
    let modelled = on(&manifest.modelled().name);
    let expected: Vec<&str> = (manifest.stages.iter())
        .filter(|s| {
            s.expect_on(&manifest.modelled().name) == Some(&dm_workbook::manifest::Expect::Pass)
        })
        .map(|s| s.dir.as_str())
        .collect();
    let found: Vec<&str> = modelled.iter().map(|s| s.dir.as_str()).collect();
    assert_eq!(found, expected);
}

#[test]
fn every_stage_has_a_table_to_measure_with() {
    let repo = crate::repo_root().unwrap();
    for stage in &Manifest::bundled().stages {
        if stage
            .expect
            .values()
            .any(|e| e == &dm_workbook::manifest::Expect::Pass)
        {
            let config = StageConfig::read(&repo, stage).unwrap();
            assert!(
                config.table.starts_with("0 262144 ") && config.table.contains("/dev/loop0"),
                "{}: {}",
                stage.dir,
                config.table
            );
        }
    }
}

#[test]
fn the_script_runs_every_device_each_round_in_a_turning_order() {
    let manifest = Manifest::bundled();
    let stage = manifest.stage("stage2-proxy").unwrap();
    let config = StageConfig {
        table: "0 262144 proxy /dev/loop0 0".into(),
        messages: Vec::new(),
        faults: None,
    };
    let text = script(&[vec![(stage, config)]], 5, 2, &GUEST);
    let runs: Vec<&str> = text.lines().filter(|l| l.starts_with("measure ")).collect();
    assert_eq!(runs.len(), 5 * WORKLOADS.len() * 4);
    assert!(runs[0].starts_with("measure 0 0 loop seq-read-1M"));
    assert!(runs[WORKLOADS.len() * 4].starts_with("measure 0 1 linear seq-read-1M"));
    assert!(text.contains("make_device linear-again \"0 262144 linear $loop 0\""));
    assert!(text.contains("insmod /lab/stages/stage2-proxy/proxy_target.ko"));
    assert!(text.contains("rmmod proxy_target"));
    // The loop device's variable must reach dmsetup expanded.
    assert!(text.contains("make_device linear \"0 262144 linear $loop 0\""));
    assert!(text.contains("make_device stage2-proxy \"0 262144 proxy $loop 0\""));
}

/// The book shows a run's table and plot: the table must be the one its
/// JSON gives, so neither was edited by hand. The modelled line's run is the
/// chapter's; any other line's run the book keeps is held to the same.
#[test]
fn the_books_tables_are_their_runs_json() {
    let repo = crate::repo_root().unwrap();
    let dir = repo.join("book/src/generated");
    let modelled = &Manifest::bundled().modelled().name;
    let mut lines_found = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(line) = name
            .strip_prefix("bench-")
            .and_then(|n| n.strip_suffix(".json"))
        {
            check_books_run(&dir, line);
            lines_found.push(line.to_string());
        }
    }
    assert!(lines_found.contains(modelled), "{lines_found:?}");
}

fn check_books_run(dir: &Path, line: &str) {
    let json = std::fs::read_to_string(dir.join(format!("bench-{line}.json"))).unwrap();
    let results: Results = serde_json::from_str(&json).unwrap();
    assert_eq!(results.line, line);
    assert!(results.rounds >= 5);
    let table = std::fs::read_to_string(dir.join(format!("bench-{line}.md"))).unwrap();
    assert_eq!(table, report::table(&results));
    let svg = std::fs::read_to_string(dir.join(format!("bench-{line}.svg"))).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains(&results.release));
    // A run from before a stage was listed is stale: the book says every
    // stage that loads on the line is measured.
    let stages = stages::loading_on(lines::find(line).unwrap(), None).unwrap();
    let measured: Vec<&String> = results.sets.iter().flatten().collect();
    for stage in stages {
        assert!(
            measured.contains(&&stage.dir),
            "the book's bench run on {line} predates {}: run `cargo xtask bench --kernel {line}` again",
            stage.dir
        );
        for workload in &WORKLOADS {
            assert!(
                (results.measurements.iter())
                    .any(|m| m.device == stage.dir && m.workload == workload.name),
                "{line}: {} has no {} run",
                stage.dir,
                workload.name
            );
        }
    }
    for m in &results.measurements {
        assert_eq!(m.values.len(), results.rounds as usize, "{m:?}");
        assert_eq!(m.absolute, Spread::of(&m.values));
    }
}
