//! `cargo xtask stress`: each stage under concurrent I/O while it is
//! suspended, resumed, reloaded, sent messages and asked for its status,
//! on a real kernel; one boot per line for all its stages.
//!
//! Per stage, on a device over all of `/dev/loop0`:
//! - fio writes with `verify=crc32c` (4 KiB random and 1 MiB sequential
//!   writers, each reading back what it wrote as it goes, and two readers
//!   that read the same regions), for `--seconds`;
//! - meanwhile, four loops: suspend and resume; reload with the table
//!   `dmsetup table` prints and resume; each message of the stage's
//!   `tests/measure.toml` (none may change what the device reads or
//!   writes); `dmsetup status`; the status taken at each suspend is kept,
//!   and its counters summed over the run are printed (deferred's
//!   `drained=` says how many held bios the suspends let go of);
//! - then fio writes the whole device once more and reads every block back;
//!   the device is removed, the module must unload, and the kernel log of the
//!   run must hold no I/O error.
//!
//! A stage whose `tests/measure.toml` has `[faults]` is also run under ext4
//! with its faults switched on and off in a loop while fio writes files;
//! fio may see errors then. Afterwards the file system must unmount, and
//! `e2fsck -fy` must leave it clean for a second `e2fsck -fn`; what the first
//! check found is printed (the book's "Measuring a target" explains it).
//!
//! The guest's hung-task timeout is lowered to 10 s (a task blocked that long
//! panics the guest), and on a kernel built with KFENCE it samples an
//! allocation every millisecond; its report must be empty. The lab's alarms
//! (`xtask/src/lab/alarms.toml`) fail the run on any kernel complaint.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Result;

use crate::lab::GUESTS_AT_ONCE;
use crate::lab::lines::{self, KernelLine};
use crate::lab::progress::Progress;
use crate::lab::stages::{self, StagesRun};
use crate::measure_config::StageConfig;
use crate::{cache_dir, repo_root};
use dm_workbook::manifest::Stage;

#[derive(clap::Args)]
pub struct StressArgs {
    /// The kernel line to boot (the lines of module/manifest.toml).
    #[arg(
        long,
        value_name = "LINE",
        value_parser = lines::kernel_arg(),
        default_value = lines::simulated().name.as_str()
    )]
    kernel: String,

    /// Every kernel line, one boot each.
    #[arg(long, conflicts_with = "kernel")]
    all: bool,

    /// Only this stage (a folder of module/manifest.toml); default: every
    /// stage that loads on the line.
    #[arg(long, value_name = "NAME")]
    stage: Option<String>,

    /// Seconds of concurrent I/O per stage (and per ext4 run).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(2..))]
    seconds: u32,
}

/// KFENCE's sample interval in the guest, in milliseconds (the kernel's
/// default is 100; Debian's config sets 0, off, and lets the command line
/// turn it on).
pub const KFENCE_INTERVAL_MS: u32 = 1;

/// The kernel's own config of a kit: `/boot/config-RELEASE`, or beside the
/// modules on 7.x.
fn kernel_has_kfence(cache: &Path, line: &KernelLine) -> bool {
    let root = cache.join("lines").join(&line.name).join("root");
    let Ok(release) = std::fs::read_to_string(cache.join("lines").join(&line.name).join("release"))
    else {
        return false;
    };
    let release = release.trim();
    [
        root.join(format!("boot/config-{release}")),
        root.join(format!("usr/lib/modules/{release}/config")),
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .any(|config| config.lines().any(|l| l == "CONFIG_KFENCE=y"))
}

pub fn run(args: StressArgs) -> Result<ExitCode> {
    let repo = repo_root()?;
    let cache = cache_dir()?;
    let progress = Progress::new();
    let selected: Vec<&'static KernelLine> = if args.all {
        lines::all().iter().collect()
    } else {
        vec![lines::find(&args.kernel)?]
    };
    // Lines boot side by side, as many as the machine takes guests at once.
    let next = AtomicUsize::new(0);
    let verdicts: Vec<Mutex<Vec<String>>> = selected.iter().map(|_| Mutex::default()).collect();
    std::thread::scope(|scope| {
        for _ in 0..GUESTS_AT_ONCE.min(selected.len()) {
            scope.spawn(|| {
                while let Some(line) = selected.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let problems = stress_line(line, &args, &repo, &cache, &progress)
                        .unwrap_or_else(|err| vec![format!("{err:#}")]);
                    if let Some(i) = selected.iter().position(|l| l.name == line.name)
                        && let Ok(mut slot) = verdicts[i].lock()
                    {
                        *slot = problems;
                    }
                }
            });
        }
    });
    let verdicts: Vec<(&str, Vec<String>)> = (selected.iter().zip(verdicts))
        .map(|(line, v)| (line.name.as_str(), v.into_inner().unwrap_or_default()))
        .collect();
    println!();
    let mut passed = true;
    for (line, problems) in &verdicts {
        if problems.is_empty() {
            println!("Linux {line}: pass");
        } else {
            passed = false;
            println!("Linux {line}: FAIL");
            for p in problems {
                println!("  - {p}");
            }
        }
    }
    Ok(if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One line's boot: its problems, empty if it passed.
fn stress_line(
    line: &'static KernelLine,
    args: &StressArgs,
    repo: &Path,
    cache: &Path,
    progress: &Progress,
) -> Result<Vec<String>> {
    let stages = stages::loading_on(line, args.stage.as_deref())?;
    if stages.is_empty() {
        println!("Linux {}: no stage to stress", line.name);
        return Ok(Vec::new());
    }
    let configs: Vec<(&Stage, StageConfig)> = (stages.iter())
        .map(|s| Ok((*s, StageConfig::read(repo, s)?)))
        .collect::<Result<_>>()?;
    // The kit is made by the run; a cold line gets KFENCE from its second
    // run on (the kit's config is read before the boot).
    let kfence = kernel_has_kfence(cache, line);
    let script = script(&configs, args.seconds, kfence);
    let kernel_args = if kfence {
        format!("kfence.sample_interval={KFENCE_INTERVAL_MS}")
    } else {
        String::new()
    };
    let runs: u64 = (configs.iter())
        .map(|(_, c)| 1 + u64::from(c.faults.is_some()))
        .sum();
    // Boot, mkfs and the final passes: a few minutes under TCG.
    let timeout = 240 + runs * (u64::from(args.seconds) + 150);
    let run = StagesRun {
        line,
        cache,
        repo,
        stages: &stages,
        script: script.as_bytes(),
        kernel_args: &kernel_args,
        timeout: Duration::from_secs(timeout),
        memory_mib: 1024,
    };
    let outcome = run.run(progress)?;
    let mut problems = outcome.problems.clone();
    // Printed whole: two lines' runs may end together.
    let mut text = format!(
        "\n== Linux {}: stress ({:.0} s) ==\n",
        line.name, outcome.seconds
    );
    for l in outcome.output.iter().filter(|l| l.starts_with("STRESS")) {
        text += &format!("  {l}\n");
        if l.starts_with("STRESS-FAIL") {
            problems.push(l.clone());
        }
    }
    text += &format!("  transcript: {}\n", outcome.transcript.display());
    print!("{text}");
    Ok(problems)
}

/// Single quotes for the guest's shell.
fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The guest script: the helpers, then each stage's runs in turn.
pub fn script(stages: &[(&Stage, StageConfig)], seconds: u32, kfence: bool) -> String {
    let mut s = String::from(SCRIPT_HEAD);
    let _ = writeln!(s, "seconds={seconds}");
    if kfence {
        s += KFENCE_ON;
    }
    for (stage, config) in stages {
        let messages: Vec<String> = config.messages.iter().map(|m| quoted(m)).collect();
        let _ = writeln!(
            s,
            "\nstress_raw {} {}/{}/{} {} {} {}",
            stage.dir,
            crate::lab::guest::STAGES_DIR,
            stage.dir,
            stage.ko,
            stages::module_name(stage),
            quoted(&config.table),
            messages.join(" ")
        );
        if let Some(faults) = &config.faults {
            let list = |words: &[String]| quoted(&words.join(";"));
            let _ = writeln!(
                s,
                "stress_ext4 {} {}/{}/{} {} {} {} {}",
                stage.dir,
                crate::lab::guest::STAGES_DIR,
                stage.dir,
                stage.ko,
                stages::module_name(stage),
                quoted(faults.table.as_ref().unwrap_or(&config.table)),
                list(&faults.on),
                list(&faults.off)
            );
        }
    }
    if kfence {
        s += KFENCE_REPORT;
    }
    s += "exit $failed\n";
    s
}

const SCRIPT_HEAD: &str = include_str!("stress/head.sh");

const KFENCE_ON: &str = r#"
# KFENCE samples an allocation every sample_interval ms and guards it.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
echo "STRESS kfence: sample_interval=$(cat /sys/module/kfence/parameters/sample_interval) ms"
grep -q 'kfence: initialized' /tmp/boot.log || fail "KFENCE did not start (see the boot log)"
"#;

const KFENCE_REPORT: &str = r#"
stats=$(tr '\n' ' ' </sys/kernel/debug/kfence/stats 2>/dev/null)
echo "STRESS kfence: $stats"
case "$stats" in
*"bugs: 0"*) ;;
*) fail "KFENCE reported: $stats" ;;
esac
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use dm_workbook::manifest::Manifest;

    #[test]
    fn each_stage_gets_its_runs_and_faults_only_where_declared() {
        let repo = crate::repo_root().unwrap();
        let manifest = Manifest::bundled();
        let line = lines::find(&manifest.modelled().name).unwrap();
        let stages = stages::loading_on(line, None).unwrap();
        let configs: Vec<(&Stage, StageConfig)> = (stages.iter())
            .map(|s| (*s, StageConfig::read(&repo, s).unwrap()))
            .collect();
        let text = script(&configs, 5, false);
        for (stage, config) in &configs {
            assert!(text.contains(&format!("\nstress_raw {} ", stage.dir)));
            assert_eq!(
                text.contains(&format!("\nstress_ext4 {} ", stage.dir)),
                config.faults.is_some(),
                "{}",
                stage.dir
            );
        }
        assert!(!text.contains("kfence"));
        assert!(script(&configs, 5, true).contains("kfence/stats"));
        let faulty = stages::loading_on(line, Some("stage3-faulty")).unwrap();
        assert_eq!(faulty.len(), 1);
        assert!(stages::loading_on(line, Some("no-such-stage")).is_err());
    }

    #[test]
    fn quotes_survive_the_shell() {
        assert_eq!(quoted("mode pass"), "'mode pass'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
    }
}
