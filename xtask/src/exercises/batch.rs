//! Many workshop checks in one guest: the script that runs them one after
//! the other, and the reading of what each printed.
//!
//! Each item is one run of `exercises/harness.sh` (one module, one check
//! script). Items of one group (an exercise's copy: a skeleton, a solution,
//! a learner's) stop at the group's first failure, as a check on the
//! learner's kernel does. The script marks each item on the console:
//! `WS-ITEM <label>` before, `WS-ITEM-END <label> <status>` after, and
//! `WS-ITEM-SKIP <label>` for those it skips; what the harness prints in
//! between is the item's. A guest that dies (an oops ends it at once) leaves
//! its current item without an end; the kernel's console lines since it
//! began are all that is left of its log, and the items after it run in
//! another boot.

use std::collections::BTreeMap;

use dm_workbook::workshop::report::HarnessRun;

use crate::lab::guest::{GuestLine, parse_line};

/// One harness run in the guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestItem {
    /// Unique in the boot: `variant/exercise/label`.
    pub label: String,
    /// Items of one group stop at the group's first failure.
    pub group: String,
    /// Guest paths of the check script and the module.
    pub check: String,
    pub ko: String,
    /// `WS_*` variables, with guest paths.
    pub env: Vec<(String, String)>,
    /// Whether the kernel's complaints count against the check.
    pub kernel_log_counts: bool,
}

/// The guest's script for `items`, in order.
pub fn script(items: &[GuestItem]) -> String {
    let mut s = String::from(
        r#"#!/bin/sh
# The workshop's checks, one after the other (cargo xtask exercises).
failed=
run_item() {
	group=$1
	label=$2
	check=$3
	ko=$4
	shift 4
	case " $failed " in
	*" $group "*)
		echo "WS-ITEM-SKIP $label"
		return
		;;
	esac
	echo "WS-ITEM $label"
	began=$(cut -d' ' -f1 /proc/uptime)
	env "$@" WS_WORK=/tmp/workshop-check sh /lab/workshop/harness.sh "$check" "$ko"
	rc=$?
	echo "WS-ITEM-END $label $rc $began $(cut -d' ' -f1 /proc/uptime)"
	[ "$rc" = 0 ] || failed="$failed $group"
}
"#,
    );
    for item in items {
        let env: Vec<String> = (item.env.iter())
            .map(|(k, v)| format!("'{k}={v}'"))
            .collect();
        s += &format!(
            "run_item '{}' '{}' '{}' '{}' {}\n",
            item.group,
            item.label,
            item.check,
            item.ko,
            env.join(" ")
        );
    }
    s += "exit 0\n";
    s
}

/// What one boot said about its items.
#[derive(Debug, Default)]
pub struct BootItems {
    /// Items that ran, by label: the harness's output; `status` is `None`
    /// for the one the guest died in.
    pub ran: BTreeMap<String, HarnessRun>,
    /// Items the script skipped (their group had failed).
    pub skipped: Vec<String>,
    /// Seconds each finished item took in the guest.
    pub seconds: BTreeMap<String, f64>,
}

/// Read a boot's console transcript, line by line in order.
pub fn read(transcript: &[String]) -> BootItems {
    let mut found = BootItems::default();
    let mut current: Option<String> = None;
    // The script's lines as they came (DMW-LIVE), among the kernel's console
    // lines, tell which item a kernel line belongs to; the saved copy
    // (DMW-OUT) comes only once the script has ended. Older guests, and
    // tests, print DMW-OUT only.
    let live = transcript
        .iter()
        .any(|l| matches!(parse_line(l), GuestLine::Live(_)));
    for line in transcript {
        let parsed = match parse_line(line) {
            GuestLine::Live(text) if live => GuestLine::Out(text),
            GuestLine::Out(_) if live => continue,
            other => other,
        };
        match parsed {
            GuestLine::Out(text) => {
                if let Some(label) = text.strip_prefix("WS-ITEM ") {
                    current = Some(label.to_string());
                    found.ran.insert(label.to_string(), HarnessRun::default());
                } else if let Some(rest) = text.strip_prefix("WS-ITEM-END ") {
                    current = None;
                    let words: Vec<&str> = rest.split_whitespace().collect();
                    let label = words.first().copied().unwrap_or_default();
                    // The harness's own WS-END gave the status already.
                    if let Some(run) = found.ran.get_mut(label)
                        && run.status.is_none()
                    {
                        run.status = words.get(1).and_then(|rc| rc.parse().ok());
                    }
                    let time = |i: usize| words.get(i).and_then(|t| t.parse::<f64>().ok());
                    if let (Some(began), Some(ended)) = (time(2), time(3)) {
                        found.seconds.insert(label.to_string(), ended - began);
                    }
                } else if let Some(label) = text.strip_prefix("WS-ITEM-SKIP ") {
                    found.skipped.push(label.to_string());
                } else if let Some(run) = current.as_ref().and_then(|c| found.ran.get_mut(c)) {
                    run.feed(text);
                }
            }
            GuestLine::Console(text) => {
                // A kernel line on the console while an item ran: its log,
                // should the guest die before the harness printed it.
                if let Some(run) = current.as_ref().and_then(|c| found.ran.get_mut(c)) {
                    run.console.push(text.to_string());
                }
            }
            _ => {}
        }
    }
    // The item the guest died in: its console lines stand for its log.
    if let Some(run) = current.as_ref().and_then(|c| found.ran.get_mut(c)) {
        run.status = None;
        let console = std::mem::take(&mut run.console);
        run.kmsg.extend(console);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(label: &str, group: &str) -> GuestItem {
        GuestItem {
            label: label.into(),
            group: group.into(),
            check: "/lab/workshop/01/check.sh".into(),
            ko: "/lab/workshop/x/fixme.ko".into(),
            env: vec![("WS_TARGET".into(), "fixme".into())],
            kernel_log_counts: true,
        }
    }

    #[test]
    fn the_script_is_valid_shell_and_runs_each_item() {
        let text = script(&[item("s/01/learner", "s/01"), item("t/01/learner", "t/01")]);
        assert!(text.contains("run_item 's/01' 's/01/learner' '/lab/workshop/01/check.sh'"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("script.sh");
        std::fs::write(&file, &text).unwrap();
        let status = std::process::Command::new("sh")
            .arg("-n")
            .arg(&file)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn reads_items_and_the_one_the_guest_died_in() {
        let transcript: Vec<String> = [
            "DMW-STEP script begin",
            "DMW-OUT WS-ITEM a",
            "DMW-OUT WS-STEP load insmod x.ko",
            "DMW-OUT WS-END 0",
            "DMW-OUT WS-ITEM-END a 0 10.25 12.75",
            "DMW-OUT WS-ITEM-SKIP c",
            "DMW-OUT WS-ITEM b",
            "DMW-OUT WS-STEP offset write",
            "[   12.1] BUG: kernel NULL pointer dereference, address: 0000000000000008",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let found = read(&transcript);
        assert_eq!(found.ran["a"].status, Some(0));
        assert_eq!(found.seconds["a"], 2.5);
        assert_eq!(found.skipped, ["c"]);
        let b = &found.ran["b"];
        assert_eq!(b.status, None);
        assert_eq!(b.steps[0].0, "offset");
        assert!(b.kmsg[0].contains("NULL pointer"));
    }
}
