//! The book's kernel transcripts: what a chapter printed in the guest, kept
//! with its command, and compared with a fresh run once the kernel release
//! names (which change with every Debian rebuild) are masked.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use dm_workbook::targets::proxy::mask_latencies;

/// A transcript as the book keeps them: the command that made it, then what
/// the program printed.
pub(crate) fn book_transcript(command: &str, output: &[String]) -> String {
    let mut text = format!("$ {command}\n");
    for line in output {
        text += line;
        text.push('\n');
    }
    text
}

/// The command a transcript begins with: the lab's run as one would type it,
/// with a stage named on the command line (part of what ran), `--udev` and
/// `--expect-hang`; `run` is `--chapter N` or `--script FILE`.
pub(crate) fn lab_command(
    line: &str,
    stage: Option<&str>,
    udev: bool,
    run: &str,
    expect_hang: bool,
) -> String {
    let stage = stage.map_or(String::new(), |s| format!(" --stage {s}"));
    let udev = if udev { " --udev" } else { "" };
    let hang = if expect_hang { " --expect-hang" } else { "" };
    format!("cargo xtask lab --kernel {line}{stage}{udev} {run}{hang}")
}

/// `--check-transcript FILE`: write the run's transcript there (`--bless`),
/// or compare it with the one kept; a difference is the problem returned.
pub(crate) fn check_transcript(
    file: &Path,
    bless: bool,
    command: &str,
    output: &[String],
) -> Result<Option<String>> {
    let fresh = book_transcript(command, output);
    if bless {
        fs::write(file, &fresh).with_context(|| format!("writing {}", file.display()))?;
        println!("wrote {}", file.display());
        return Ok(None);
    }
    let kept = fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    Ok(transcript_difference(&kept, &fresh).map(|diff| {
        format!(
            "{} differs from this run ({diff}); if the change is meant, \
             rerun with --bless and read the diff",
            file.display()
        )
    }))
}

/// The first line where two transcripts differ, once kernel releases (which
/// change with every Debian kernel update) are read as `<release>` and
/// measured times (stage 2's `latency_ns=`, when not 0) as `$NS`.
pub(crate) fn transcript_difference(kept: &str, fresh: &str) -> Option<String> {
    let volatile = |line: &str| without_latencies(&without_releases(line));
    let kept: Vec<String> = kept.lines().map(volatile).collect();
    let fresh: Vec<String> = fresh.lines().map(volatile).collect();
    let at = (0..kept.len().max(fresh.len())).find(|i| kept.get(*i) != fresh.get(*i))?;
    let show = |l: Option<&String>| l.map_or("(no line)".to_string(), |l| format!("`{l}`"));
    Some(format!(
        "line {}: kept {}, now {}",
        at + 1,
        show(kept.get(at)),
        show(fresh.get(at))
    ))
}

/// `6.1.0-56-amd64` and `7.3.4+deb13-amd64` read `<release>`: Debian
/// publishes a new build of each line every few weeks.
pub(crate) fn without_releases(line: &str) -> String {
    line.split(' ')
        .map(|word| {
            let core = word
                .trim_end_matches([',', '.', ')', ':', '`'])
                .trim_start_matches(['`', '(']);
            if core.ends_with("-amd64") && core.starts_with(|c: char| c.is_ascii_digit()) {
                word.replacen(core, "<release>", 1)
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A line with the proxy's latencies masked ([`mask_latencies`]).
pub(crate) fn without_latencies(line: &str) -> String {
    mask_latencies(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcripts_compare_without_kernel_releases() {
        let kept =
            "$ cargo xtask lab --kernel 6.1 --chapter 3\n# On Linux 6.1.0-56-amd64, as root.\nok\n";
        let same =
            "$ cargo xtask lab --kernel 6.1 --chapter 3\n# On Linux 6.1.0-57-amd64, as root.\nok\n";
        assert_eq!(transcript_difference(kept, same), None);
        let other = "$ cargo xtask lab --kernel 6.1 --chapter 3\n# On Linux 6.1.0-57-amd64, as root.\nnot ok\n";
        let diff = transcript_difference(kept, other).unwrap();
        assert!(diff.starts_with("line 3:"), "{diff}");
        let shorter = "$ cargo xtask lab --kernel 6.1 --chapter 3\n";
        assert!(
            transcript_difference(kept, shorter)
                .unwrap()
                .contains("(no line)")
        );
    }

    #[test]
    fn measured_latencies_compare_as_any_but_zero() {
        assert_eq!(
            without_latencies("0 8 proxy errors=1 latency_ns=15308 max_latency_ns=0"),
            "0 8 proxy errors=1 latency_ns=$NS max_latency_ns=0"
        );
        let kept = "$ x\nreads=2 latency_ns=100 max_latency_ns=60\n";
        let fresh = "$ x\nreads=2 latency_ns=2100 max_latency_ns=900\n";
        assert_eq!(transcript_difference(kept, fresh), None);
        let zero = "$ x\nreads=2 latency_ns=0 max_latency_ns=0\n";
        assert!(transcript_difference(kept, zero).is_some());
    }

    #[test]
    fn the_command_names_what_ran() {
        assert_eq!(
            lab_command("6.1", None, false, "--chapter 6", false),
            "cargo xtask lab --kernel 6.1 --chapter 6"
        );
        assert_eq!(
            lab_command("6.1", Some("stage4-deferred"), true, "--script x.sh", true),
            "cargo xtask lab --kernel 6.1 --stage stage4-deferred --udev --script x.sh --expect-hang"
        );
    }

    #[test]
    fn a_book_transcript_starts_with_its_command() {
        let text = book_transcript("cargo xtask lab --kernel 6.1 --chapter 3", &["a".into()]);
        assert_eq!(text, "$ cargo xtask lab --kernel 6.1 --chapter 3\na\n");
        assert_eq!(without_releases("7.3.4+deb13-amd64)"), "<release>)");
        assert_eq!(
            without_releases("6.1 is Debian's `6.1.0-56-amd64`,"),
            "6.1 is Debian's `<release>`,"
        );
        assert_eq!(
            without_releases("linux-headers-6.1.0-56-amd64"),
            "linux-headers-6.1.0-56-amd64"
        );
    }
}
