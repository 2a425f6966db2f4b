//! The doctor on a learner's file: what it is not (C, a target) is said once,
//! in one line, with exit 2, never taken for "no drift found".

use assert_cmd::Command;
use predicates::prelude::*;

fn doctor(path: &std::path::Path) -> assert_cmd::assert::Assert {
    Command::cargo_bin("chapter4")
        .expect("the chapter4 binary")
        .arg("doctor")
        .arg(path)
        .assert()
}

fn file(name: &str, text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    (dir, path)
}

#[test]
fn prose_is_not_c() {
    let readme = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
    doctor(readme.as_ref())
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("README.md: this is not C source"));
}

#[test]
fn broken_c_is_not_c() {
    let (_dir, path) = file("broken.c", "int main( {\n");
    doctor(&path)
        .code(2)
        .stderr(predicate::str::contains("this is not C source"))
        .stderr(predicate::str::contains("from line 1"));
}

#[test]
fn an_empty_file_is_not_c() {
    let (_dir, path) = file("empty.c", "\n\n");
    doctor(&path)
        .code(2)
        .stderr(predicate::str::contains("the file is empty"));
}

#[test]
fn c_without_a_target_type_is_refused_unless_it_is_a_part() {
    let (_dir, path) = file(
        "helper.c",
        "static int add(int a, int b)\n{\n\treturn a + b;\n}\n",
    );
    doctor(&path)
        .code(2)
        .stderr(predicate::str::contains("no `struct target_type`"))
        .stderr(predicate::str::contains("--part"));
    Command::cargo_bin("chapter4")
        .expect("the chapter4 binary")
        .args(["doctor", "--part"])
        .arg(&path)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no drift found"));
}

#[test]
fn a_missing_file_is_said_once() {
    let assert = doctor("/nonexistent/target.c".as_ref()).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert_eq!(
        stderr.matches("No such file or directory").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn real_targets_with_kernel_macros_still_parse() {
    let repo = env!("CARGO_MANIFEST_DIR");
    for stage in [
        "module/stage0-historical/hello_target.c",
        "module/stage1-hello/hello_target.c",
        "tests/drift-cases/whole/dm-tally-2.6.32.c",
    ] {
        let code = doctor(std::path::Path::new(repo).join(stage).as_ref())
            .get_output()
            .status
            .code();
        assert!(matches!(code, Some(0 | 1)), "{stage}: exit {code:?}");
    }
}
