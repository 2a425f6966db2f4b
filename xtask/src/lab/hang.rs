//! `--expect-hang`: a run that must end with the guest reporting a hung
//! task, as the broken variant of stage 4 does (a suspend that waits for
//! bios its target never lets go of).
//!
//! The guest reports a hang two ways (see `guest.rs`): its own hang watch
//! (a program in state D with no I/O for 20 s: the kernel's blocked tasks
//! are listed with sysrq `w`, then `DMW-RESULT fail hung: ...`), or the
//! kernel's hung-task detector, which panics the guest
//! (`hung_task_panic`) after `INFO: task ... blocked for more than 20
//! seconds.`. Either one is the expected end; anything else is a failure:
//! a run that ends normally, one the lab had to stop itself (the lab must
//! report a hang, never hang), and any other kernel complaint.

use super::alarms::Raised;
use super::guest::Run;

/// The alarm a hang raises (`alarms.toml`).
pub const HANG_ALARM: &str = "a task waited for I/O that never ended";

/// With `--expect-hang`: the reported hang is the run's expected end, not
/// one of its problems, and what the guest reported of it joins the output;
/// no reported hang is the first problem.
pub fn expect(run: &Run, timed_out: bool, problems: &mut Vec<String>, output: &mut Vec<String>) {
    match expected_hang(run, timed_out) {
        Ok(reported) => {
            *problems = without_the_hang(std::mem::take(problems));
            output.extend(reported);
        }
        Err(why) => problems.insert(0, why),
    }
}

/// What an expected hang left: the lines the lab adds to the run's output
/// (and so to its transcript), numbers that change from run to run masked.
pub fn expected_hang(run: &Run, timed_out: bool) -> Result<Vec<String>, String> {
    if timed_out {
        return Err(
            "expected the guest to report a hang, but the lab had to stop the guest itself"
                .to_string(),
        );
    }
    let alarms = run.alarms();
    let hang_lines: Vec<&Raised<'_>> = alarms
        .iter()
        .filter(|raised| raised.alarm.name == HANG_ALARM)
        .collect();
    let watch = match &run.result {
        Some((false, detail)) if detail.starts_with("hung:") => Some(detail.as_str()),
        Some((true, _)) => {
            return Err("expected a hang, but the guest's run ended and passed".to_string());
        }
        Some((false, detail)) => {
            return Err(format!(
                "expected a hang, but the guest failed otherwise: {detail}"
            ));
        }
        None if hang_lines.is_empty() => {
            return Err(
                "expected a hang, but the guest died without a hung-task report".to_string(),
            );
        }
        None => None,
    };
    let mut lines = Vec::new();
    if let Some(detail) = watch {
        lines.push(format!(
            "# (lab) the guest's hang watch: {}",
            mask_pids(detail)
        ));
    }
    for raised in &alarms {
        if raised.alarm.name == HANG_ALARM {
            lines.push(format!("# (lab) the kernel: {}", blocked_task(raised.line)));
        }
    }
    Ok(lines)
}

/// The problems of a run with its expected hang taken out: the hang alarm
/// and the guest's failure or missing result that came with it.
pub fn without_the_hang(problems: Vec<String>) -> Vec<String> {
    problems
        .into_iter()
        .filter(|p| {
            !p.starts_with(&format!("kernel: {HANG_ALARM}: "))
                && !p.starts_with("the guest failed: hung:")
                && p != "the guest gave no result (crashed or hung)"
        })
        .collect()
}

/// `dd[97]` reads `dd[N]`: process ids differ from boot to boot.
fn mask_pids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let (before, after) = rest.split_at(open);
        out.push_str(before);
        match after[1..].find(']') {
            Some(close) if after[1..=close].bytes().all(|b| b.is_ascii_digit()) && close > 0 => {
                out.push_str("[N]");
                rest = &after[close + 2..];
            }
            _ => {
                out.push('[');
                rest = &after[1..];
            }
        }
    }
    out + rest
}

/// The words of a kernel line about a blocked task that stay the same from
/// boot to boot: `task:dd state:D` from sysrq `w`'s
/// `task:dd  state:D stack:0  pid:112 ppid:106 flags:0x00004002`, and
/// `INFO: task dd:N blocked for more than 20 seconds.` from the detector.
fn blocked_task(line: &str) -> String {
    let line = line.trim();
    // A timestamp, when the line came from the console.
    let line = match line.strip_prefix('[') {
        Some(rest) => rest.split_once("] ").map_or(line, |(_, text)| text),
        None => line,
    };
    if let Some(at) = line.find("task:") {
        let words: Vec<&str> = line[at..]
            .split_whitespace()
            .filter(|w| w.starts_with("task:") || w.starts_with("state:"))
            .collect();
        return words.join(" ");
    }
    if let Some(rest) = line.strip_prefix("INFO: task ")
        && let Some((task, tail)) = rest.split_once(' ')
    {
        let name = task.rsplit_once(':').map_or(task, |(name, _)| name);
        return format!("INFO: task {name}:N {tail}");
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(lines: &[&str]) -> Run {
        let mut run = Run::default();
        run.feed("DMW-STEP kernel-modules loop.ko dm-mod.ko");
        for line in lines {
            run.feed(line);
        }
        run
    }

    /// As the 6.1 guest ends a hang its watch caught.
    const WATCHED: [&str; 4] = [
        "DMW-OUT $ dmsetup suspend slow &",
        "DMW-DMESG [   31.2] sysrq: Show Blocked State",
        "DMW-DMESG [   31.2] task:dd              state:D stack:0     pid:112   ppid:106    flags:0x00004002",
        "DMW-RESULT fail hung: dd[112] blocked in state D with no I/O for 20 s",
    ];

    #[test]
    fn the_guests_hang_watch_is_the_expected_end() {
        let run = run(&WATCHED);
        let lines = expected_hang(&run, false).unwrap();
        assert_eq!(
            lines,
            [
                "# (lab) the guest's hang watch: hung: dd[N] blocked in state D with no I/O for 20 s",
                "# (lab) the kernel: task:dd state:D",
            ]
        );
        assert_eq!(without_the_hang(run.problems()), Vec::<String>::new());
    }

    #[test]
    fn the_kernels_detector_is_an_expected_end_too() {
        let run = run(&[
            "[   40.1] INFO: task sync:80 blocked for more than 20 seconds.",
            "[   40.1] Kernel panic - not syncing: hung_task: blocked tasks",
        ]);
        let lines = expected_hang(&run, false).unwrap();
        assert_eq!(
            lines,
            ["# (lab) the kernel: INFO: task sync:N blocked for more than 20 seconds."]
        );
        assert_eq!(without_the_hang(run.problems()), Vec::<String>::new());
    }

    #[test]
    fn anything_but_a_reported_hang_fails() {
        let passed = run(&["DMW-RESULT pass every step passed"]);
        assert!(
            expected_hang(&passed, false)
                .unwrap_err()
                .contains("passed")
        );
        let failed = run(&["DMW-RESULT fail script exited 1"]);
        assert!(
            expected_hang(&failed, false)
                .unwrap_err()
                .contains("script exited 1")
        );
        let crashed = run(&["[ 9.1] Oops: 0000 [#1] PREEMPT SMP NOPTI"]);
        assert!(expected_hang(&crashed, false).unwrap_err().contains("died"));
        let stopped = run(&WATCHED[..1]);
        assert!(
            expected_hang(&stopped, true)
                .unwrap_err()
                .contains("the lab had to stop")
        );
        // A hang does not excuse another complaint.
        let mut oops = WATCHED.to_vec();
        oops.insert(
            1,
            "DMW-DMESG [ 20.0] BUG: kernel NULL pointer dereference, address: 8",
        );
        let left = without_the_hang(run(&oops).problems());
        assert_eq!(left.len(), 1, "{left:?}");
        assert!(left[0].contains("NULL pointer"));
    }

    #[test]
    fn pids_are_masked_and_nothing_else() {
        assert_eq!(mask_pids("dd[112] sh[7] x[] [a]"), "dd[N] sh[N] x[] [a]");
    }
}
