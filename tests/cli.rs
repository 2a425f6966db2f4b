//! The chapter binaries, as a reader runs them: good input, bad input, help.

use assert_cmd::Command;
use predicates::prelude::*;

fn chapter(n: u8) -> Command {
    Command::cargo_bin(format!("chapter{n}")).unwrap()
}

/// A failure is one line on stderr, naming the cause.
fn one_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr).into_owned();
    assert_eq!(text.trim_end().lines().count(), 1, "not one line: {text}");
    text
}

#[test]
fn every_binary_has_help() {
    for n in [1, 2, 3, 5, 6, 7] {
        chapter(n)
            .arg("--help")
            .assert()
            .success()
            .stdout(predicate::str::contains("Usage:"));
    }
}

#[test]
fn chapter3_runs_the_whole_workflow_on_the_simulator() {
    chapter(3)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 262144 hello_target 7:0 0"))
        .stdout(predicate::str::contains(
            "hello_target.map -> DM_MAPIO_REMAPPED: to 7:0 sector 0",
        ))
        .stdout(predicate::str::contains(
            "same bytes at byte 0 of mydisk.img",
        ))
        .stdout(predicate::str::contains("needs a real kernel"))
        .stdout(predicate::str::contains("$ rmmod hello_target"));
}

#[test]
fn chapter3_refuses_bad_table_lines_with_the_targets_reason() {
    let cases = [
        (
            "0 262144 hello_target /dev/loop0 abc",
            "Invalid device sector",
        ),
        ("0 262144 hello_target /dev/loop0", "Invalid argument count"),
        (
            "0 262144 hello_target /dev/nosuch 0",
            "Device lookup failed",
        ),
        ("0 262144 hello_target /dev/loop0 1", "too small for target"),
        ("0 262144 nosuch_target", "unknown target type"),
        (
            "x 262144 hello_target /dev/loop0 0",
            "start sector `x` is not a whole number",
        ),
    ];
    for (table, reason) in cases {
        let out = chapter(3).args(["--table", table]).assert().failure();
        let stderr = one_line(&out.get_output().stderr);
        assert!(stderr.contains(reason), "{table}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        // What was set up is undone, in the transcript too.
        if !reason.contains("whole number") {
            let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
            assert!(stdout.contains("$ losetup -d /dev/loop0"), "{stdout}");
        }
    }
}

#[test]
fn chapter3_steps_alone_set_up_first_on_the_simulator() {
    chapter(3)
        .arg("write")
        .assert()
        .success()
        .stdout(predicate::str::contains("setting up first"))
        .stdout(predicate::str::contains("== write =="))
        .stdout(predicate::str::contains("== teardown ==").not());
}

#[test]
fn chapter3_writes_a_report_of_what_it_found() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    chapter(3)
        .args(["setup", "write", "teardown", "--report"])
        .arg(&report)
        .assert()
        .success();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["table"][0], "0 262144 hello_target 7:0 0");
    assert_eq!(json["placement"]["in_backing_file"], true);
    assert_eq!(json["placement"]["read_back"], true);
    assert_eq!(json["target"], "hello_target     v1.0.0");
}

#[test]
fn chapter3_with_an_offset_finds_the_data_further_in() {
    chapter(3)
        .args(["--table", "0 200000 hello_target /dev/loop0 2048"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "same bytes at byte 1048576 of mydisk.img",
        ));
}

#[test]
fn chapter3_on_the_error_target_fails_the_write() {
    let out = chapter(3)
        .args(["--table", "0 262144 error"])
        .assert()
        .failure();
    let stderr = one_line(&out.get_output().stderr);
    assert!(stderr.contains("Input/output error"), "{stderr}");
}

/// Without the feature there is no kernel backend, and the binary says how to
/// get one. (With it, the backend exists; the qemu lab tests that.)
#[cfg(not(feature = "kernel"))]
#[test]
fn the_kernel_backend_says_what_it_needs() {
    let out = chapter(3).args(["--backend", "kernel"]).assert().failure();
    let stderr = one_line(&out.get_output().stderr);
    assert!(stderr.contains("--features kernel"), "{stderr}");
}

#[test]
fn chapter1_traces_a_linear_mapping() {
    chapter(1)
        .assert()
        .success()
        .stdout(predicate::str::contains("0 4096 linear 7:0 2048"))
        .stdout(predicate::str::contains(
            "linear.map -> DM_MAPIO_REMAPPED: to 7:0 sector 2148",
        ));
    chapter(1)
        .args(["--offset", "9000"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("past the 8192-sector disk"));
}

#[test]
fn chapter2_walks_the_life_cycle() {
    chapter(2)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "Tables present:    LIVE & INACTIVE",
        ))
        .stdout(predicate::str::contains("bio deferred until resume"))
        .stdout(predicate::str::contains("error.map -> DM_MAPIO_KILL"))
        .stdout(predicate::str::contains("No devices found"));
}

#[test]
fn chapter2_reports_each_step_with_the_refused_resume_and_its_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.json");
    chapter(2).arg("--report").arg(&path).assert().success();
    let report: dm_workbook::scenarios::chapter2::Report =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(report.backend, "sim");
    // Before the first load there is no disk to open (Linux 6.1).
    assert_eq!(report.steps[0].io[0].result, "ENXIO");
    assert_eq!(report.steps[0].info[0].read_ahead, 0);
    let refused = report
        .steps
        .iter()
        .find(|s| s.step.starts_with("a reload too long"))
        .unwrap();
    assert_eq!(refused.refusals[0].ioctl, "resume");
    assert_eq!(refused.refusals[0].errno, "EINVAL");
    assert_eq!(
        refused.kernel_log,
        [
            "device-mapper: table: 254:N: loop0 too small for target: start=0, len=4096, dev_size=2048"
        ]
    );
    let after = &refused.info[1];
    assert!(after.suspended && after.live_table && !after.inactive_table);
}

#[test]
fn chapter3_writes_where_it_is_told_and_finds_the_data_there() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    chapter(3)
        .args(["write", "--at", "100", "--bytes", "1024", "--report"])
        .arg(&report)
        .assert()
        .success()
        .stdout(predicate::str::contains("bs=512 count=2 seek=100"))
        .stdout(predicate::str::contains(
            "same bytes at byte 51200 of mydisk.img: sector 100 of the mapped device",
        ));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["placement"]["at"], 100);
    assert_eq!(json["placement"]["matched"], 1024);
}

#[test]
fn chapter3_counts_the_bytes_each_table_line_holds() {
    // 16 KiB over a two-line table: the first 8 KiB go to the loop device,
    // the rest to `zero`, which drops writes.
    let out = chapter(3)
        .args([
            "--table",
            "0 16 hello_target /dev/loop0 0\n16 262128 zero",
            "write",
        ])
        .assert()
        .failure();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("# same bytes at byte 0 of mydisk.img"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the other 8192 bytes go to the next table line"),
        "{stdout}"
    );
    let stderr = one_line(&out.get_output().stderr);
    assert!(
        stderr.contains("did not give back what was written"),
        "{stderr}"
    );
}

#[test]
fn chapter3_refuses_io_past_the_end_or_in_part_sectors() {
    for (args, says) in [
        (
            ["--at", "262140", "--bytes", "4096"],
            "runs past the device's end at sector 262144",
        ),
        (
            ["--at", "0", "--bytes", "1000"],
            "not a whole number of 512-byte sectors",
        ),
    ] {
        let out = chapter(3).arg("write").args(args).assert().failure();
        let stderr = one_line(&out.get_output().stderr);
        assert!(stderr.contains(says), "{stderr}");
    }
}
