//! The classifier's rules for listings that only a lab run or a CI line
//! tests.

use super::*;

#[test]
fn transcripts_are_included_files_that_name_their_command() {
    assert_eq!(
        verdict("console", "{{#include transcripts/ch1.console}}"),
        Verdict::Tested(How::Transcript {
            file: PathBuf::from("book/src/transcripts/ch1.console"),
            command: "cargo run --bin chapter1".to_string(),
        })
    );
    assert!(matches!(
        verdict("text", "{{#include transcripts/ch3-bad.console}}"),
        Verdict::Tested(How::Transcript { .. })
    ));
    assert!(untested("console", "$ dmsetup ls\nmy_device\n").contains("inline transcript"));
    assert!(untested("text", "0 262144 linear /dev/loop0 0\n").contains("inline transcript"));
    assert!(untested("console", "{{#include transcripts/nobin.console}}").contains("chapter9"));
    assert!(untested("console", "{{#include transcripts/lab.console}}").contains("does not rerun"));
    assert_eq!(
        verdict("console", "{{#include transcripts/lab-checked.console}}"),
        Verdict::Tested(How::LabTranscript {
            file: PathBuf::from("book/src/transcripts/lab-checked.console"),
            command: "cargo xtask lab --kernel 6.1 --chapter 3".to_string(),
        })
    );
    assert!(untested("console", "{{#include transcripts/bare.console}}").contains("first line"));
    assert!(untested("console", "{{#include elsewhere.console}}").contains("transcripts"));
    assert!(untested("console", "{{#include transcripts/ch1.console:x}}").contains("whole"));
}

#[test]
fn a_lab_script_counts_when_ci_runs_it_in_the_lab() {
    let chapter = "{{#include ../../module/stage1-hello/tests/run.sh:setup}}";
    assert_eq!(
        verdict("sh", chapter),
        Verdict::Tested(How::LabScript {
            file: PathBuf::from("module/stage1-hello/tests/run.sh"),
            anchor: "setup".to_string(),
        })
    );
    assert!(
        untested(
            "sh",
            "{{#include ../../module/stage1-hello/tests/unrun.sh:setup}}"
        )
        .contains("does not run")
    );
    assert!(untested("sh", "dmsetup ls\n").contains("inline script"));
    assert!(
        untested("sh", "{{#include ../../module/notes/loose.c:map}}").contains("tests/ folder")
    );
}

#[test]
fn a_listing_tested_by_an_ignored_test_counts_only_if_ci_runs_that_test() {
    let chapter = Path::new("book/src/chapter4.md");
    let cocci = Block {
        info: "cocci".into(),
        body: "{{#include ../../module/drift/cocci/fixed.cocci:patch}}".into(),
        fenced: true,
    };
    let fix = Block {
        info: "console".into(),
        body: "{{#include transcripts/fix.console}}".into(),
        fenced: true,
    };
    let mut repo = repo();
    assert!(matches!(
        classify(&fix, chapter, &repo),
        Verdict::Tested(How::Transcript { .. })
    ));
    repo.files
        .insert(PathBuf::from(".ci/run"), "cargo test\n".to_string());
    for block in [&cocci, &fix] {
        match classify(block, chapter, &repo) {
            Verdict::Untested(why) => assert!(why.contains("is ignored by `cargo test`"), "{why}"),
            other => panic!("{}: {other:?}", block.body),
        }
    }
}

#[test]
fn an_exercises_source_and_skeleton_count_when_ci_runs_the_exercises() {
    let chapter = Path::new("book/src/workshop/01-fix-first-target.md");
    let block = |info: &str, body: &str| Block {
        info: info.into(),
        body: body.into(),
        fenced: true,
    };
    let skeleton = block(
        "c",
        "{{#include skeletons/01-fix-first-target/fixme.c:map}}",
    );
    assert_eq!(
        classify(&skeleton, chapter, &repo()),
        Verdict::Tested(How::Exercise {
            file: PathBuf::from("book/src/workshop/skeletons/01-fix-first-target/fixme.c"),
            anchor: "map".into(),
            skeleton: true,
        })
    );
    let source = block(
        "c",
        "{{#include ../../../exercises/01-fix-first-target/fixme.c:map}}",
    );
    assert!(matches!(
        classify(&source, chapter, &repo()),
        Verdict::Tested(How::Exercise {
            skeleton: false,
            ..
        })
    ));
    let why = |b: &Block| match classify(b, chapter, &repo()) {
        Verdict::Untested(why) => why,
        other => panic!("{other:?}"),
    };
    let as_rust = block(
        "rust",
        "{{#include ../../../exercises/01-fix-first-target/fixme.c:map}}",
    );
    assert!(
        why(&as_rust).contains("shown as rust, not c"),
        "{}",
        why(&as_rust)
    );
    let unlisted = block(
        "c",
        "{{#include ../../../exercises/01-fix-first-target/notes.c:map}}",
    );
    assert!(why(&unlisted).contains("lists for an exercise"));
    let no_anchor = block(
        "c",
        "{{#include ../../../exercises/01-fix-first-target/fixme.c:ctr}}",
    );
    assert!(why(&no_anchor).contains("ANCHOR"));
}
