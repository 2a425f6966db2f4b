//! The console transcripts shown in the book, checked against fresh runs.
//!
//! Each file in `book/src/transcripts/` is what a reader would see in a
//! terminal, and says which command produced it:
//!
//! ```text
//! $ cargo run --bin chapter3 -- --table '0 262144 hello_target /dev/loop0 abc'
//! ...everything the program wrote, standard output and standard error
//! ...interleaved as they were written...
//! $ echo $?
//! 1
//! ```
//!
//! The first line is the command: `$ cargo run --bin NAME`, optionally followed
//! by `--` and arguments in shell quoting. The `$ echo $?` trailer is there when
//! (and only when) the program exits non-zero, and gives its exit status.
//!
//! This test reruns every such command, from the binaries cargo built for the
//! test, and fails on any difference once volatile fields are normalised:
//! - the scratch directory (`TMPDIR`, which the test points at a fresh
//!   directory of its own) reads `$TMPDIR`;
//! - `dd`'s elapsed time and rate (`..., 0.0399802 s, 410 kB/s`) read `$ELAPSED`;
//! - a kernel log line's timestamp (`[   12.345678] `) reads `[$TIME] `;
//! - stage 2's measured latencies (`latency_ns=15308`, but not `=0`) read
//!   `latency_ns=$NS`.
//!
//! Transcripts from a real kernel (first line `$ cargo xtask lab ...` or
//! `$ sudo ...`) need the qemu lab and are not rerun here; `cargo xtask
//! listings` counts them as untested until the lab checks them.
//!
//! Why not `trycmd`: it captures standard output and standard error apart,
//! while a reader's terminal (and so the book) shows them interleaved in the
//! order they were written; and the real-kernel transcripts share this format
//! but are rerun by the lab, not here.
//!
//! To rerecord after a deliberate change: `BLESS=1 cargo test --test
//! transcripts` (or `cargo xtask listings --bless`), then read the diff.

mod spatch_gate;

use dm_workbook::targets::proxy::mask_latencies;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const TRANSCRIPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/book/src/transcripts");
const STATUS_TRAILER: &str = "$ echo $?";

/// A transcript file, taken apart.
#[derive(Debug, PartialEq, Eq)]
struct Transcript {
    /// The first line, as written.
    header: String,
    /// What the program printed.
    output: String,
    /// The exit status: 0 unless the file ends with the status trailer.
    status: i32,
}

/// What the first line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Command_ {
    /// `cargo run --bin NAME -- ARGS`.
    Run { bin: String, args: Vec<String> },
    /// A real-kernel run, checked in the lab.
    Kernel,
}

fn parse(text: &str) -> Result<Transcript, String> {
    let (header, rest) = text.split_once('\n').unwrap_or((text, ""));
    if !header.starts_with("$ ") {
        return Err(format!("first line `{header}` is not a `$ command`"));
    }
    let mut output = rest.to_string();
    let mut status = 0;
    let trailer = format!("{STATUS_TRAILER}\n");
    if let Some(at) = output.rfind(&trailer)
        && (at == 0 || output[..at].ends_with('\n'))
    {
        let code = output[at + trailer.len()..].trim();
        status = code
            .parse()
            .map_err(|_| format!("`{STATUS_TRAILER}` is followed by `{code}`"))?;
        if status == 0 {
            return Err(format!(
                "a `{STATUS_TRAILER}` trailer of 0 is implied: drop it"
            ));
        }
        output.truncate(at);
    }
    Ok(Transcript {
        header: header.to_string(),
        output,
        status,
    })
}

fn command(header: &str) -> Result<Command_, String> {
    let line = header.trim_start_matches("$ ");
    let words = shlex::split(line).ok_or_else(|| format!("unbalanced quoting in `{line}`"))?;
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["cargo", "run", "--bin", bin] => Ok(Command_::Run {
            bin: bin.to_string(),
            args: Vec::new(),
        }),
        ["cargo", "run", "--bin", bin, "--", args @ ..] => Ok(Command_::Run {
            bin: bin.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }),
        ["cargo", "xtask", "lab", ..] | ["sudo", ..] => Ok(Command_::Kernel),
        _ => Err(format!(
            "`{header}` is not `$ cargo run --bin NAME [-- ARGS]`"
        )),
    }
}

/// Replace the fields that change from run to run.
fn normalise(text: &str, tmpdir: &Path) -> String {
    let tmpdir = tmpdir.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let mut line = scratch_names(&line.replace(tmpdir.as_ref(), "$TMPDIR"));
        if let Some(at) = line.find(" copied, ") {
            let end = if line.ends_with('\n') { "\n" } else { "" };
            line = format!("{} copied, $ELAPSED{end}", &line[..at]);
        }
        if let Some((stamp, after)) = line
            .strip_prefix('[')
            .and_then(|rest| rest.split_once("] "))
        {
            let stamp = stamp.trim();
            if !stamp.is_empty() && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                line = format!("[$TIME] {after}");
            }
        }
        out.push_str(&without_latencies(&line));
    }
    out
}

/// A line with the proxy's latencies masked, its newline kept.
fn without_latencies(line: &str) -> String {
    match line.strip_suffix('\n') {
        Some(body) => mask_latencies(body) + "\n",
        None => mask_latencies(line),
    }
}

/// `tempfile` names scratch directories `.tmp` and six random letters or
/// digits: under `$TMPDIR` they read `.tmpXXXXXX`.
fn scratch_names(line: &str) -> String {
    const PREFIX: &str = "$TMPDIR/.tmp";
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at + PREFIX.len()]);
        rest = &rest[at + PREFIX.len()..];
        let random = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        out.push_str(&"X".repeat(random));
        rest = &rest[random..];
    }
    out.push_str(rest);
    out
}

/// Run `bin` with `args` in a scratch directory of its own; return what it
/// wrote to standard output and standard error, in order, and its status.
/// The scratch directory links to the repository's `module/`, so a command
/// names a stage's source as a reader at the repository's top would.
fn run(bin: &str, args: &[String], scratch: &Path) -> Result<(String, i32), String> {
    // cargo builds every binary of the package before its integration tests.
    let exe = assert_cmd::cargo::cargo_bin(bin);
    if !exe.is_file() {
        return Err(format!("no binary `{bin}` in this package"));
    }
    let module = scratch.join("module");
    if !module.exists() {
        std::os::unix::fs::symlink(concat!(env!("CARGO_MANIFEST_DIR"), "/module"), &module)
            .map_err(|e| format!("linking module/ into the scratch directory: {e}"))?;
    }
    let tmpdir = scratch.join("tmp");
    fs::create_dir_all(&tmpdir).map_err(|e| e.to_string())?;
    // One file for both streams keeps their interleaving, as a terminal would.
    let log_path = scratch.join("output");
    let log = fs::File::create(&log_path).map_err(|e| e.to_string())?;
    let log2 = log.try_clone().map_err(|e| e.to_string())?;
    let status = Command::new(&exe)
        .args(args)
        .current_dir(scratch)
        .env("TMPDIR", &tmpdir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .status()
        .map_err(|e| format!("running {}: {e}", exe.display()))?;
    let output = fs::read_to_string(&log_path).map_err(|e| e.to_string())?;
    let code = status
        .code()
        .ok_or_else(|| format!("{bin} was killed by a signal ({status})"))?;
    Ok((normalise(&output, &tmpdir), code))
}

/// The transcript text for `header`, `output` and `status`.
fn render(header: &str, output: &str, status: i32) -> String {
    let mut text = format!("{header}\n{output}");
    if status != 0 {
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{STATUS_TRAILER}\n{status}\n"));
    }
    text
}

/// Where two texts first differ, with a little context, for the failure message.
fn first_difference(recorded: &str, fresh: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (recorded.lines().collect(), fresh.lines().collect());
    let at = a
        .iter()
        .zip(&b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()));
    let show = |lines: &[&str]| {
        lines[at.saturating_sub(2)..(at + 3).min(lines.len())]
            .iter()
            .map(|l| format!("    | {l}\n"))
            .collect::<String>()
    };
    format!(
        "  first difference at output line {}:\n  recorded:\n{}  fresh run:\n{}",
        at + 1,
        show(&a),
        show(&b)
    )
}

/// Check (or, with `bless`, rewrite) one transcript file. `Ok(false)` means
/// it is a real-kernel transcript, which the lab reruns, not this test.
fn check(path: &Path, bless: bool) -> Result<bool, String> {
    let text = fs::read_to_string(path).map_err(|e| e.to_string())?;
    let recorded = parse(&text)?;
    let (bin, args) = match command(&recorded.header)? {
        Command_::Run { bin, args } => (bin, args),
        Command_::Kernel => return Ok(false),
    };
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (output, status) = run(&bin, &args, scratch.path())?;
    let fresh = render(&recorded.header, &output, status);
    if bless {
        if fresh != text {
            fs::write(path, &fresh).map_err(|e| e.to_string())?;
        }
        return Ok(true);
    }
    let tmpdir = scratch.path().join("tmp");
    let recorded_output = normalise(&recorded.output, &tmpdir);
    if recorded.status != status {
        return Err(format!(
            "exit status {status}, the transcript records {}",
            recorded.status
        ));
    }
    if recorded_output != output {
        return Err(first_difference(&recorded_output, &output));
    }
    Ok(true)
}

fn transcript_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(TRANSCRIPTS)
        .unwrap_or_else(|e| panic!("reading {TRANSCRIPTS}: {e}"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Whether a transcript's command runs `chapter4 doctor --fix`, which needs
/// spatch: the ignored test below reruns those.
fn needs_spatch(path: &Path) -> bool {
    let text = fs::read_to_string(path).unwrap_or_default();
    let header = text.lines().next().unwrap_or("");
    matches!(command(header), Ok(Command_::Run { args, .. }) if args.iter().any(|a| a == "--fix"))
}

/// Check (or rewrite) each of `files`; fails on any drift, or if none was
/// rerun.
fn check_all(files: &[PathBuf]) {
    let bless = std::env::var_os("BLESS").is_some_and(|v| v == "1");
    assert!(
        !files.is_empty(),
        "no transcripts to check in {TRANSCRIPTS}"
    );
    let mut failures = Vec::new();
    let mut rerun = 0;
    for file in files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        match check(file, bless) {
            Ok(true) => rerun += 1,
            Ok(false) => eprintln!("{name}: a real-kernel transcript, rerun by the lab"),
            Err(why) => failures.push(format!("{name}:\n{why}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} transcripts drifted (rerecord with BLESS=1 after checking the change):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    assert!(rerun > 0, "no transcript was rerun");
}

#[test]
fn every_transcript_matches_a_fresh_run() {
    let files: Vec<PathBuf> = (transcript_files().into_iter())
        .filter(|f| !needs_spatch(f))
        .collect();
    check_all(&files);
}

#[test]
#[ignore = "needs spatch (coccinelle)"]
fn every_spatch_transcript_matches_a_fresh_run() {
    spatch_gate::require_spatch();
    let files: Vec<PathBuf> = (transcript_files().into_iter())
        .filter(|f| needs_spatch(f))
        .collect();
    check_all(&files);
}

#[test]
fn a_changed_line_or_status_is_drift() {
    // Record a transcript afresh rather than reading the book's, so this test
    // does not race a BLESS run rewriting them.
    let dir = tempfile::tempdir().unwrap();
    let header = "$ cargo run --bin chapter3 -- --table '0 8 hello_target /dev/loop0 x'";
    let Ok(Command_::Run { bin, args }) = command(header) else {
        panic!("the header must parse");
    };
    let (output, status) = run(&bin, &args, dir.path()).unwrap();
    assert_ne!(status, 0, "a bad table line must fail");
    let text = render(header, &output, status);
    let copy = dir.path().join("copy.console");

    fs::write(&copy, &text).unwrap();
    assert_eq!(
        check(&copy, false),
        Ok(true),
        "the untouched copy must pass"
    );

    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.len() - 1;
    let changed = format!("{} (changed)", lines[last]);
    lines[last] = &changed;
    fs::write(&copy, lines.join("\n") + "\n").unwrap();
    assert!(
        check(&copy, false).is_err(),
        "a changed last line must fail"
    );

    fs::write(&copy, format!("{text}extra line\n")).unwrap();
    assert!(check(&copy, false).is_err(), "an added line must fail");

    let recorded = parse(&text).unwrap();
    let wrong_status = render(&recorded.header, &recorded.output, recorded.status + 3);
    fs::write(&copy, wrong_status).unwrap();
    assert!(
        check(&copy, false).is_err(),
        "a wrong exit status must fail"
    );
}

#[test]
fn headers_and_trailers_parse() {
    let t = parse("$ cargo run --bin chapter3 -- --table '0 8 hello_target /dev/loop0 x'\noops\n$ echo $?\n1\n")
        .unwrap();
    assert_eq!(t.output, "oops\n");
    assert_eq!(t.status, 1);
    assert_eq!(
        command(&t.header),
        Ok(Command_::Run {
            bin: "chapter3".into(),
            args: vec!["--table".into(), "0 8 hello_target /dev/loop0 x".into()],
        })
    );
    assert_eq!(parse("$ cargo run --bin chapter1\nok\n").unwrap().status, 0);
    assert!(parse("no header\n").is_err());
    assert!(parse("$ cargo run --bin chapter1\n$ echo $?\n0\n").is_err());
    assert!(command("$ cargo run --bin chapter1 write").is_err());
    assert!(command("$ make").is_err());
    assert_eq!(
        command("$ cargo xtask lab --kernel 6.1 --chapter 3"),
        Ok(Command_::Kernel)
    );
    assert!(command("$ cargo run --bin chapter3 -- --table 'open").is_err());
}

#[test]
fn normalising_hides_only_volatile_fields() {
    let tmp = Path::new("/tmp/xyz/tmp");
    let text = "backing file /tmp/xyz/tmp/.tmpAb12/mydisk.img\n\
                16384 bytes (16 kB, 16 KiB) copied, 0.0399802 s, 410 kB/s\n\
                [   12.345678] device-mapper: ioctl: 4.48.0\n\
                [not a stamp] kept\n\
                0 8 proxy errors=0 latency_ns=15308 max_latency_ns=0\n";
    assert_eq!(
        normalise(text, tmp),
        "backing file $TMPDIR/.tmpXXXX/mydisk.img\n\
         16384 bytes (16 kB, 16 KiB) copied, $ELAPSED\n\
         [$TIME] device-mapper: ioctl: 4.48.0\n\
         [not a stamp] kept\n\
         0 8 proxy errors=0 latency_ns=$NS max_latency_ns=0\n"
    );
    assert_ne!(
        normalise("16384 bytes copied, 1 s\n", tmp),
        normalise("8192 bytes copied, 1 s\n", tmp)
    );
}
