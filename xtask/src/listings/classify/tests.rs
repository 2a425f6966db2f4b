//! One test per rule of the classifier, and per way a block can escape it.

use super::*;
use std::collections::BTreeMap;

/// The rules for what only the lab or CI can test: transcripts, lab
/// scripts, ignored tests and the workshop's exercises.
mod lab_and_ci;

struct FakeRepo {
    files: BTreeMap<PathBuf, String>,
    crate_files: BTreeSet<PathBuf>,
    bins: BTreeSet<String>,
    book_src: PathBuf,
}

impl Repo for FakeRepo {
    fn read(&self, path: &Path) -> Option<String> {
        self.files.get(path).cloned()
    }
    fn crate_files(&self) -> &BTreeSet<PathBuf> {
        &self.crate_files
    }
    fn bins(&self) -> &BTreeSet<String> {
        &self.bins
    }
    fn book_src(&self) -> &Path {
        &self.book_src
    }
}

fn repo() -> FakeRepo {
    let files = [
        (
            "chapters-code/targets/hello.rs",
            "// ANCHOR: ctr\nfn ctr() {}\n// ANCHOR_END: ctr\n// ANCHOR: ctr_long\n// ANCHOR_END: ctr_long\n",
        ),
        (
            "chapters-code/unused.rs",
            "// ANCHOR: x\n// ANCHOR_END: x\n",
        ),
        (
            "module/stage1-hello/hello_target.c",
            "/* ANCHOR: map */\nint map;\n/* ANCHOR_END: map */\n",
        ),
        ("module/stage1-hello/Kbuild", "obj-m := hello_target.o\n"),
        (
            "module/s1r/hello_rust.rs",
            "// ANCHOR: map\nfn map() {}\n// ANCHOR_END: map\n",
        ),
        ("module/s1r/Kbuild", "obj-m := hello_target.o\n"),
        (
            "module/loose-rust/x.rs",
            "// ANCHOR: map\n// ANCHOR_END: map\n",
        ),
        ("module/loose-rust/Kbuild", "obj-m := x.o\n"),
        ("module/s0/hello_target.c", "#include \"dmw_compat.h\"\n"),
        (
            "module/s0/Kbuild",
            "# ANCHOR: probes\ninclude $(src)/../compat/dmw_probes.kbuild\n# ANCHOR_END: probes\n",
        ),
        (
            "module/compat/dmw_probes.kbuild",
            "# ANCHOR: rule\nalways-y += dmw_probes.h\n# ANCHOR_END: rule\n",
        ),
        (
            "module/compat/probes/dm-io-ioprio.c",
            "/* ANCHOR: probe */\nint p;\n/* ANCHOR_END: probe */\n",
        ),
        (
            "module/notes/x.kbuild",
            "# ANCHOR: rule\n# ANCHOR_END: rule\n",
        ),
        (
            "module/drift.toml",
            "[[change]]\nid = \"fixed\"\nsymbol = \"s\"\nsummary = \"s\"\nold = \"o\"\nnew = \"n\"\n\
             release = \"3.0\"\ncommit = \"\"\ntitle = \"\"\nverified = false\nchecked = \"Not found\"\n\
             fix = \"f\"\ncocci = true\ndetect_old = [{ call = \"f\" }]\n\
             [[change]]\nid = \"unfixed\"\nsymbol = \"s\"\nsummary = \"s\"\nold = \"o\"\nnew = \"n\"\n\
             release = \"3.0\"\ncommit = \"\"\ntitle = \"\"\nverified = false\nchecked = \"Not found\"\n\
             fix = \"f\"\ndetect_old = [{ call = \"g\" }]\n",
        ),
        (
            "module/drift/cocci/fixed.cocci",
            "// ANCHOR: patch\n@@\n@@\n- f()\n+ g()\n// ANCHOR_END: patch\n",
        ),
        (
            "module/drift/cocci/unfixed.cocci",
            "// ANCHOR: patch\n// ANCHOR_END: patch\n",
        ),
        (
            "module/compat/dmw_compat.h",
            "/* ANCHOR: ima */\n#define X 1\n/* ANCHOR_END: ima */\n",
        ),
        (
            "module/compat/unused.h",
            "/* ANCHOR: ima */\n/* ANCHOR_END: ima */\n",
        ),
        (
            "module/notes/loose.c",
            "/* ANCHOR: map */\n/* ANCHOR_END: map */\n",
        ),
        (
            "book/src/transcripts/ch1.console",
            "$ cargo run --bin chapter1\nhello\n",
        ),
        (
            "book/src/transcripts/ch3-bad.console",
            "$ cargo run --bin chapter3 -- --table 'x'\nerror: x\n$ echo $?\n1\n",
        ),
        (
            "book/src/transcripts/nobin.console",
            "$ cargo run --bin chapter9\n",
        ),
        (
            "book/src/transcripts/lab.console",
            "$ cargo xtask lab --kernel 6.1 --chapter 3\n",
        ),
        (
            "book/src/transcripts/lab-checked.console",
            "$ cargo xtask lab --kernel 6.1 --chapter 3\n",
        ),
        (
            ".ci/run",
            "cargo test\ncargo test --test drift_fix --test transcripts -- --ignored\n\
             cargo xtask lab --kernel 6.1 --chapter 3 \\\n    \
             --check-transcript book/src/transcripts/lab-checked.console\n\
             cargo xtask lab --all --script module/stage1-hello/tests/run.sh\n\
             cargo xtask exercises --kernel 6.1\n",
        ),
        (
            "exercises/01-fix-first-target/fixme.c",
            "/* ANCHOR: map */\nint map;\n/* ANCHOR_END: map */\n",
        ),
        (
            "book/src/workshop/skeletons/01-fix-first-target/fixme.c",
            "/* ANCHOR: map */\nint map;\n/* ANCHOR_END: map */\n",
        ),
        (
            "exercises/01-fix-first-target/notes.c",
            "/* ANCHOR: map */\n/* ANCHOR_END: map */\n",
        ),
        (
            "module/stage1-hello/tests/run.sh",
            "# ANCHOR: setup\ndmsetup ls\n# ANCHOR_END: setup\n",
        ),
        (
            "module/stage1-hello/tests/unrun.sh",
            "# ANCHOR: setup\ndmsetup ls\n# ANCHOR_END: setup\n",
        ),
        ("book/src/transcripts/bare.console", "some output\n"),
        (
            "tests/drift_fix.rs",
            "#[test]\n#[ignore = \"needs spatch (coccinelle)\"]\n\
             fn every_semantic_patch_clears_its_drift_from_its_old_case() {}\n",
        ),
        (
            "tests/transcripts.rs",
            "#[test]\n#[ignore = \"needs spatch (coccinelle)\"]\n\
             fn every_spatch_transcript_matches_a_fresh_run() {}\n",
        ),
        (
            "book/src/transcripts/fix.console",
            "$ cargo run --bin chapter4 -- doctor --fix x.c\n",
        ),
        ("book/src/elsewhere.console", "$ cargo run --bin chapter1\n"),
    ];
    // The project's kernel lines, and one stage that fails on each.
    let mut manifest = String::from(
        "[[line]]\nname = \"6.1\"\nsuites = [\"bookworm\"]\ncompiler = \"gcc-12\"\nmodelled = true\n\
         [[line]]\nname = \"7.2\"\nsuites = [\"sid\"]\ncompiler = \"gcc-16\"\nrust = true\n\
         [[stage]]\ndir = \"s0\"\ntarget = \"hello_target\"\nlanguage = \"c\"\nko = \"hello_target.ko\"\n\
         expect = { \"6.1\" = \"fail\", \"7.2\" = \"fail\" }\n",
    );
    manifest += "[stage.errors]\n\"6.1\" = [\"e\"]\n\"7.2\" = [\"e\"]\n";
    // A Rust stage, built on the one line with Rust.
    manifest += "[[stage]]\ndir = \"s1r\"\ntarget = \"hello_target\"\nlanguage = \"rust\"\n\
                 ko = \"hello_target.ko\"\nsource = \"hello_rust.rs\"\nscenario = { chapter = 3 }\n\
                 expect = { \"6.1\" = { not-applicable = \"no Rust\" }, \"7.2\" = \"pass\" }\n";
    FakeRepo {
        files: files
            .iter()
            .map(|(p, t)| (PathBuf::from(p), t.to_string()))
            .chain([(PathBuf::from(manifest::PATH), manifest)])
            .chain([(
                PathBuf::from(dm_workbook::workshop::PATH),
                include_str!("../../../../exercises/manifest.toml").to_string(),
            )])
            .collect(),
        crate_files: ["chapters-code/lib.rs", "chapters-code/targets/hello.rs"]
            .iter()
            .map(PathBuf::from)
            .collect(),
        bins: ["chapter1", "chapter3", "chapter4"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        book_src: PathBuf::from("book/src"),
    }
}

fn verdict(info: &str, body: &str) -> Verdict {
    let block = Block {
        info: info.to_string(),
        body: body.to_string(),
        fenced: true,
    };
    classify(&block, Path::new("book/src/chapter3.md"), &repo())
}

fn untested(info: &str, body: &str) -> String {
    match verdict(info, body) {
        Verdict::Untested(why) => why,
        tested => panic!("{info} {body:?} should be untested, got {tested:?}"),
    }
}

#[test]
fn inline_rust_with_main_goes_to_skeptic() {
    let body = "use dm_workbook::table::Table;\n# fn main() {\nlet _ = 1;\n# }\n";
    assert_eq!(verdict("rust", body), Verdict::Tested(How::Skeptic));
    assert_eq!(
        verdict("rust", "fn main() {}\n"),
        Verdict::Tested(How::Skeptic)
    );
    assert!(untested("rust", "let x = 1;\n").contains("fn main"));
}

#[test]
fn attributes_that_skip_or_weaken_a_test_are_rejected() {
    for attr in ["ignore", "no_run", "should_panic", "compile_fail"] {
        let why = untested(&format!("rust,{attr}"), "fn main() {}\n");
        assert!(why.contains(attr), "{why}");
    }
    assert!(untested("rust,edition2021", "fn main() {}\n").contains("edition2021"));
    assert!(untested("rust,skt-main", "fn main() {}\n").contains("skt-main"));
    // The same attributes hidden behind an include are still rejected.
    untested(
        "rust,ignore",
        "{{#include ../../chapters-code/targets/hello.rs:ctr}}\n",
    );
}

#[test]
fn rust_include_needs_a_built_file_and_a_marked_anchor() {
    assert_eq!(
        verdict(
            "rust",
            "{{#include ../../chapters-code/targets/hello.rs:ctr}}\n"
        ),
        Verdict::Tested(How::RustInclude {
            file: PathBuf::from("chapters-code/targets/hello.rs"),
            anchor: "ctr".to_string(),
        })
    );
    // `ctr` must not be satisfied by `ctr_long`, nor the other way round.
    assert!(
        verdict(
            "rust",
            "{{#include ../../chapters-code/targets/hello.rs:ctr_long}}"
        )
        .eq(&Verdict::Tested(How::RustInclude {
            file: PathBuf::from("chapters-code/targets/hello.rs"),
            anchor: "ctr_long".to_string(),
        }))
    );
    assert!(
        untested(
            "rust",
            "{{#include ../../chapters-code/targets/hello.rs:ct}}"
        )
        .contains("ANCHOR: ct")
    );
    assert!(
        untested(
            "rust",
            "{{#include ../../chapters-code/targets/hello.rs:dtr}}"
        )
        .contains("ANCHOR: dtr")
    );
    assert!(
        untested("rust", "{{#include ../../chapters-code/unused.rs:x}}").contains("not compiled")
    );
    assert!(
        untested("rust", "{{#include ../../chapters-code/targets/hello.rs}}")
            .contains("included whole")
    );
    assert!(
        untested(
            "rust",
            "{{#include ../../chapters-code/targets/hello.rs:2:3}}"
        )
        .contains("line range")
    );
    assert!(
        untested(
            "rust",
            "{{#include ../../chapters-code/targets/hello.rs:7}}"
        )
        .contains("line range")
    );
    assert!(untested("rust", "{{#include ../../../../etc/passwd:x}}").contains("leaves"));
}

#[test]
fn kernel_rust_include_needs_a_rust_stage_and_a_marked_anchor() {
    assert_eq!(
        verdict("rust", "{{#include ../../module/s1r/hello_rust.rs:map}}"),
        Verdict::Tested(How::KernelRustInclude {
            file: PathBuf::from("module/s1r/hello_rust.rs"),
            anchor: "map".to_string(),
        })
    );
    assert!(
        untested("rust", "{{#include ../../module/s1r/hello_rust.rs:ctr}}").contains("ANCHOR: ctr")
    );
    // A folder with a Kbuild that the manifest does not list as a Rust stage.
    assert!(
        untested("rust", "{{#include ../../module/loose-rust/x.rs:map}}").contains("not compiled")
    );
}

#[test]
fn includes_must_stand_alone() {
    let mixed = "{{#include ../../chapters-code/targets/hello.rs:ctr}}\nfn main() {}\n";
    assert!(untested("rust", mixed).contains("nothing else"));
    let other = "{{#rustdoc_include ../../chapters-code/targets/hello.rs:ctr}}";
    assert!(untested("rust", other).contains("rustdoc_include"));
    assert!(untested("rust", "{{#playground x.rs}}").contains("playground"));
}

#[test]
fn c_comes_from_a_module_stage_by_anchor() {
    assert_eq!(
        verdict(
            "c",
            "{{#include ../../module/stage1-hello/hello_target.c:map}}"
        ),
        Verdict::Tested(How::CInclude {
            file: PathBuf::from("module/stage1-hello/hello_target.c"),
            anchor: "map".to_string(),
        })
    );
    assert!(untested("c", "int main(void) { return 0; }\n").contains("inline C"));
    assert!(untested("c", "{{#include ../../module/notes/loose.c:map}}").contains("Kbuild"));
    assert!(
        untested(
            "c",
            "{{#include ../../module/stage1-hello/hello_target.c:ctr}}"
        )
        .contains("ANCHOR: ctr")
    );
    assert!(
        untested("c", "{{#include ../../module/stage1-hello/missing.c:map}}")
            .contains("cannot be read")
    );
}

#[test]
fn compat_headers_count_when_a_stage_includes_them() {
    assert_eq!(
        verdict("c", "{{#include ../../module/compat/dmw_compat.h:ima}}"),
        Verdict::Tested(How::CInclude {
            file: PathBuf::from("module/compat/dmw_compat.h"),
            anchor: "ima".to_string(),
        })
    );
    assert!(
        untested("c", "{{#include ../../module/compat/unused.h:ima}}")
            .contains("a module/compat/ header a stage includes, nor a feature probe")
    );
}

#[test]
fn matrix_output_is_what_the_manifest_makes_the_matrix_write() {
    assert_eq!(
        verdict("text", "{{#include generated/s0-errors-6.1.txt}}"),
        Verdict::Tested(How::Matrix {
            file: PathBuf::from("book/src/generated/s0-errors-6.1.txt"),
        })
    );
    assert!(
        untested("text", "{{#include generated/s1-errors-6.1.txt}}")
            .contains("not a file the kernel matrix writes")
    );
    assert!(
        untested("text", "{{#include generated/s0-errors-4.19.txt}}")
            .contains("not a file the kernel matrix writes")
    );
}

#[test]
fn diagrams_are_marked_and_hold_no_prompts() {
    let art = "+------+\n| dm-0 |\n+------+\n";
    assert_eq!(verdict("text,diagram", art), Verdict::Tested(How::Diagram));
    assert_eq!(verdict("text diagram", art), Verdict::Tested(How::Diagram));
    assert!(untested("console,diagram", art).contains("unknown attributes"));
    assert!(untested("text,diagram", "$ dmsetup ls\nmy_device (254:0)\n").contains("prompts"));
    assert!(
        untested("text,diagram", "{{#include transcripts/ch1.console}}").contains("drawn in place")
    );
}

#[test]
fn other_blocks_are_untested() {
    assert!(untested("", "anything\n").contains("no language"));
    assert!(untested("bash", "dmsetup ls\n").contains("`bash`"));
    assert!(untested("toml", "[package]\n").contains("`toml`"));
    let indented = Block {
        info: String::new(),
        body: "fn main() {}\n".into(),
        fenced: false,
    };
    let verdict = classify(&indented, Path::new("book/src/chapter1.md"), &repo());
    assert!(matches!(verdict, Verdict::Untested(why) if why.contains("indented")));
}

#[test]
fn headers_name_the_command() {
    assert_eq!(
        header("$ cargo run --bin chapter3 -- --table '0 8 zero'"),
        Some(Header::CargoRun {
            bin: "chapter3".into()
        })
    );
    assert_eq!(
        header("$ cargo run --bin chapter2"),
        Some(Header::CargoRun {
            bin: "chapter2".into()
        })
    );
    assert_eq!(header("$ cargo run --bin chapter2 setup"), None);
    assert_eq!(
        header("$ cargo xtask lab --kernel 6.1 --chapter 3"),
        Some(Header::Kernel)
    );
    assert_eq!(header("cargo run --bin chapter1"), None);
    assert_eq!(header("$ ls"), None);
}

#[test]
fn probes_and_kbuild_files_are_built_by_the_matrix() {
    assert!(matches!(
        verdict(
            "c",
            "{{#include ../../module/compat/probes/dm-io-ioprio.c:probe}}"
        ),
        Verdict::Tested(How::CInclude { .. })
    ));
    assert!(matches!(
        verdict(
            "make",
            "{{#include ../../module/compat/dmw_probes.kbuild:rule}}"
        ),
        Verdict::Tested(How::KbuildInclude { .. })
    ));
    assert!(matches!(
        verdict("make", "{{#include ../../module/s0/Kbuild:probes}}"),
        Verdict::Tested(How::KbuildInclude { .. })
    ));
    for (body, why) in [
        (
            "{{#include ../../module/notes/x.kbuild:rule}}",
            "neither a stage's Kbuild",
        ),
        ("obj-m := x.o\n", "inline makefile"),
        (
            "{{#include ../../module/compat/dmw_probes.kbuild}}",
            "included whole",
        ),
    ] {
        match verdict("make", body) {
            Verdict::Untested(text) => assert!(text.contains(why), "{text}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn a_probe_no_stage_runs_is_not_tested() {
    let mut repo = repo();
    repo.files.remove(Path::new("module/s0/Kbuild"));
    let block = Block {
        info: "c".into(),
        body: "{{#include ../../module/compat/probes/dm-io-ioprio.c:probe}}".into(),
        fenced: true,
    };
    assert!(matches!(
        classify(&block, Path::new("book/src/chapter3.md"), &repo),
        Verdict::Untested(_)
    ));
}

#[test]
fn semantic_patches_are_tested_when_their_entry_says_so() {
    let tested = verdict(
        "cocci",
        "{{#include ../../module/drift/cocci/fixed.cocci:patch}}",
    );
    assert!(
        matches!(tested, Verdict::Tested(How::SemanticPatch { .. })),
        "{tested:?}"
    );
    for (body, why) in [
        (
            "{{#include ../../module/drift/cocci/unfixed.cocci:patch}}",
            "`cocci = true`",
        ),
        ("@@\n@@\n- f()\n", "inline semantic patch"),
        (
            "{{#include ../../module/drift/cocci/fixed.cocci}}",
            "included whole",
        ),
    ] {
        match verdict("cocci", body) {
            Verdict::Untested(text) => assert!(text.contains(why), "{text}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}
