//! The guest side of the lab and the protocol both sides speak.
//!
//! The guest's `/init` prints, on the serial console, lines the host reads:
//! - `DMW-STEP <name> <detail>`: a step began or ended;
//! - `DMW-OUT <line>`: a line the scenario (script or chapter binary) printed;
//! - `DMW-LIVE <line>`: a chapter binary's line as it comes, for the progress
//!   display only. The kernel writes its console messages straight to the
//!   serial port while the shell's output still drains through the tty, so
//!   an error the kernel logs can land inside such a line; the chapter's
//!   `DMW-OUT` lines are its saved output, printed again once it has ended;
//! - `DMW-REPORT <line>`: a line of the chapter's JSON report;
//! - `DMW-DMESG <line>`: the kernel log since boot finished;
//! - `DMW-RESULT pass|fail <detail>`: the guest's verdict, last.
//!
//! A scenario's own output may hold `REFUSAL <table>|<first kernel log line>`
//! lines (`module/stage1-hello/tests/bad-tables.sh` prints them): tables the
//! kernel refused, which the host checks the simulator refuses alike; and
//! `MESSAGE_REFUSAL <table>|<sector> <words>|<first kernel log line>` lines
//! (`module/stage2-proxy/tests/bad-input.sh`): messages refused, held to
//! the simulator alike; and
//! `WRITE_CACHE <table>|<mode>` and `FLUSH <table>|reached` lines
//! (`module/stage1-hello/tests/flush.sh`), which the host holds the
//! simulator to alike.
//!
//! Everything else (kernel messages) only goes to the transcript.

use super::alarms;
use dm_workbook::cli::Chapter;
#[cfg(test)]
use dm_workbook::cli::chapter;

/// What the guest runs after boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// `/lab/script.sh`, with `/dev/loop0` over a 128 MiB file and the
    /// module under test loaded.
    Script,
    /// `/lab/bin/chapterN --backend kernel`, which loads and unloads the
    /// module itself.
    Chapter(&'static Chapter),
    /// The kernel backend's own tests (`tests/kernel_backend.rs`, built
    /// static), which make their own loop devices and load the stage module
    /// themselves.
    BackendTests,
    /// `/lab/script.sh`, with `/dev/loop0` over a 128 MiB file, and several
    /// stages' modules under [`STAGES_DIR`]`/DIR/`, which the script loads
    /// and unloads itself (`cargo xtask bench` and `stress`).
    Stages,
}

/// Where the guest finds the kernel backend's test binary.
pub const BACKEND_TESTS: &str = "/lab/bin/kernel_backend";

/// A chapter program's command line in the guest: the flags its entry in
/// the library's chapter table says it takes.
fn chapter_args(chapter: &Chapter, ko: &str) -> String {
    let mut args = "--backend kernel".to_string();
    if chapter.stage().is_some() {
        args += &format!(" --module-ko {ko}");
    }
    if chapter.report {
        args += " --report /tmp/report.json";
    }
    args
}

/// Where the guest finds the workbook's files.
pub const MODULES_LIST: &str = "/lab/modules.list";
pub const STAGE_DIR: &str = "/lab/stage";
pub const SCRIPT: &str = "/lab/script.sh";
/// The helpers the stages' lab batteries share (`module/tests/lib.sh`),
/// beside the script, where a battery sources them from.
pub const SCRIPT_LIB: &str = "/lab/lib.sh";
pub const STAGES_DIR: &str = "/lab/stages";

pub fn chapter_binary(n: u32) -> String {
    format!("/lab/bin/chapter{n}")
}

/// The guest's `/init` (busybox sh) for one scenario. `stage_kos` are the file
/// names of the modules under test in [`STAGE_DIR`].
#[cfg(test)]
pub fn init_script(scenario: &Scenario, stage_kos: &[String]) -> String {
    init_script_with(scenario, stage_kos, false)
}

/// [`init_script`], and with `udev` Debian's `systemd-udevd` running in the
/// guest with its device-mapper rules, as on a distribution's system:
/// dmsetup and the kernel backend then wait for udev to confirm each change
/// (a cookie), and udev makes `/dev/mapper/NAME`.
pub fn init_script_with(scenario: &Scenario, stage_kos: &[String], udev: bool) -> String {
    let mut s = String::from(INIT_HEAD);
    if udev {
        s += INIT_UDEV;
    }
    let kos = stage_kos.join(" ");
    s += &format!("stage_kos=\"{kos}\"\n");
    match scenario {
        Scenario::Script => s += &format!("{INIT_INSMOD}{INIT_LOOP}"),
        Scenario::Stages => s += INIT_LOOP,
        Scenario::Chapter(run) => {
            let first = stage_kos.first().map(String::as_str).unwrap_or_default();
            s += &format!(
                "chapter={}\nchapter_bin={}\nchapter_args=\"{}\"\n",
                run.number,
                chapter_binary(run.number),
                chapter_args(run, &format!("{STAGE_DIR}/{first}"))
            );
            s += INIT_CHAPTER;
        }
        Scenario::BackendTests => {
            let first = stage_kos.first().map(String::as_str).unwrap_or_default();
            let target = first.trim_end_matches(".ko");
            s += &format!(
                "chapter=tests\nchapter_bin={BACKEND_TESTS}\n\
                 chapter_args=\"--ignored --test-threads=1\"\n\
                 export DMW_MODULE_KO={STAGE_DIR}/{first} DMW_MODULE_TARGET={target}\n"
            );
            s += INIT_CHAPTER;
        }
    }
    s += INIT_TAIL;
    s
}

const INIT_HEAD: &str = r#"#!/bin/sh
# The lab guest: load the modules, run one scenario, report, power off.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin DM_DISABLE_UDEV=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
# A task blocked for 20 s is a bio that never ended: the kernel prints the
# task's stack and panics, which ends the guest instead of waiting it out.
echo 20 >/proc/sys/kernel/hung_task_timeout_secs
echo 1 >/proc/sys/kernel/hung_task_panic

verdict=pass
why=
fail() {
	verdict=fail
	why="${why:+$why; }$*"
	echo "DMW-STEP failed $*"
}
finish() {
	[ -z "$watcher" ] || kill "$watcher" 2>/dev/null
	[ ! -S /run/udev/control ] || udevadm control --exit 2>/dev/null
	dmesg | sed 's/^/DMW-DMESG /'
	echo "DMW-RESULT $verdict ${why:-every step passed}"
	poweroff -f
}

# Prefix each line as it comes (sed would hold lines back in its buffer, so
# a guest that hangs would never show what its scenario printed last).
tag_lines() {
	while IFS= read -r line || [ -n "$line" ]; do
		echo "$1 $line"
	done
}

# The hung-task detector misses a task waiting for a direct I/O that never
# ends: the block layer wakes such a waiter every half timeout on purpose
# (blk_io_schedule). So the guest watches for itself: a program in state D
# whose I/O counters have not moved for 20 s is hung. The kernel's list of
# blocked tasks (sysrq w) then goes to the log, and the guest reports and
# stops at once.
stuck_programs() {
	for status in $(grep -l '^State:.D' /proc/[0-9]*/status 2>/dev/null); do
		dir=${status%/status}
		# Kernel threads have an empty command line (and every /proc file
		# a size of 0, so test what reading it gives).
		[ -n "$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null)" ] || continue
		echo "$(cat "$dir/comm" 2>/dev/null)[${dir#/proc/}]:$(cat "$dir/io" 2>/dev/null | tr '\n' ' ')"
	done
}
watch_for_hangs() {
	last=
	polls=0
	while sleep 5; do
		now=$(stuck_programs)
		if [ -n "$now" ] && [ "$now" = "$last" ]; then
			polls=$((polls + 1))
		else
			polls=0
		fi
		last=$now
		[ "$polls" -ge 4 ] || continue
		names=$(echo "$now" | sed 's/:.*//' | tr '\n' ' ')
		echo "DMW-STEP failed hung: ${names}blocked in state D with no I/O for 20 s"
		echo w >/proc/sysrq-trigger
		sleep 1
		dmesg | sed 's/^/DMW-DMESG /'
		echo "DMW-RESULT fail hung: ${names}blocked in state D with no I/O for 20 s"
		poweroff -f
	done
}
watch_for_hangs &
watcher=$!

echo "DMW-STEP boot $(uname -r)"
# Boot messages are kept out of the check: only what the scenario causes counts.
dmesg -c >/tmp/boot.log
for ko in $(cat /lab/modules.list); do
	insmod "/lab/modules/$ko" || fail "insmod $ko"
done
[ "$verdict" = pass ] || finish
echo "DMW-STEP kernel-modules $(cat /lab/modules.list | tr '\n' ' ')"
"#;

/// Starting udev (`--udev`): the daemon, then every device the kernel has
/// announced so far, then a wait until udev has dealt with them. The rules of
/// Debian's dmsetup package name /dev/mapper's nodes and confirm each
/// device-mapper event's udev cookie (dmsetup udevcomplete).
const INIT_UDEV: &str = r#"mkdir -p /run && mount -t tmpfs tmpfs /run
unset DM_DISABLE_UDEV
/lib/systemd/systemd-udevd --daemon --resolve-names=never
udevadm trigger --action=add --type=subsystems
udevadm trigger --action=add --type=devices
udevadm settle --timeout=30
if [ -S /run/udev/control ]; then
	echo "DMW-STEP udev systemd-udevd $(udevadm --version) runs"
else
	fail "systemd-udevd did not start (no /run/udev/control)"
	finish
fi
"#;

/// A script's stage modules, loaded before it runs.
const INIT_INSMOD: &str = r#"for ko in $stage_kos; do
	insmod "/lab/stage/$ko" || fail "insmod $ko"
done
[ "$verdict" = pass ] || finish
echo "DMW-STEP insmod $stage_kos"
"#;

/// `/dev/loop0` over a sparse 128 MiB file in the guest's RAM.
const INIT_LOOP: &str = r#"dd if=/dev/zero of=/tmp/disk.img bs=1M count=0 seek=128 2>/dev/null
losetup /dev/loop0 /tmp/disk.img || fail "losetup /dev/loop0"
echo "DMW-STEP loop /dev/loop0 over a 128 MiB file"
echo "DMW-STEP script begin"
"#;

const INIT_CHAPTER: &str = r#"echo "DMW-STEP chapter $chapter begin"
"#;

const INIT_TAIL: &str = r#"if [ -n "$chapter" ]; then
	{ "$chapter_bin" $chapter_args 2>&1
	  echo $? >/lab/scenario.rc; } | tee /tmp/scenario.out | tag_lines DMW-LIVE
	# Printed again whole, with the chapter's kernel messages already out.
	tag_lines DMW-OUT </tmp/scenario.out
	rc=$(cat /lab/scenario.rc)
	echo "DMW-STEP chapter $chapter end $rc"
	case "$rc" in
	0) ;;
	"") fail "chapter $chapter gave no exit status (the guest could not record it)" ;;
	*) fail "chapter $chapter exited $rc" ;;
	esac
	[ -f /tmp/report.json ] && sed 's/^/DMW-REPORT /' /tmp/report.json
else
	# The status and the output go to /lab, not /tmp: a script that fills
	# /tmp must not lose them. As for a chapter, the lines shown as they come
	# can have a kernel message spliced in (the kernel writes to the serial
	# port directly); the saved copy, printed again once the script ended, is
	# what counts. A script that never ends leaves only the live lines.
	{ sh /lab/script.sh </dev/null 2>&1; echo $? >/lab/scenario.rc; } |
		tee /lab/scenario.out | tag_lines DMW-LIVE
	tag_lines DMW-OUT </lab/scenario.out
	rc=$(cat /lab/scenario.rc)
	echo "DMW-STEP script end $rc"
	case "$rc" in
	0) ;;
	"") fail "the script gave no exit status (the guest could not record it)" ;;
	*) fail "script exited $rc" ;;
	esac
	losetup -d /dev/loop0 || fail "losetup -d /dev/loop0"
fi

# A script that filled /tmp (a RAM disk of half the guest's memory) gets a
# reason it can act on rather than only the errors that followed.
full=$(df -k /tmp | awk 'NR == 2 && $4 == 0 { print int($2 / 1024) }')
[ -z "$full" ] || fail "the guest's /tmp filled up ($full MiB, half its memory): raise --memory"

# Nothing may be left behind: no device, no loop device, no module in use.
left=$(dmsetup ls 2>&1)
case "$left" in
"No devices found"*) ;;
*) fail "devices left behind: $(echo $left)" ;;
esac
loops=$(losetup -a 2>&1)
[ -z "$loops" ] || fail "loop devices left behind: $(echo $loops)"
for ko in $stage_kos; do
	name=${ko%.ko}
	name=$(echo "$name" | tr - _)
	if [ -d "/sys/module/$name" ]; then
		rmmod "$name" || fail "rmmod $name"
	fi
done
echo "DMW-STEP cleanup"
finish
"#;

/// One console line, read.
#[derive(Debug, PartialEq, Eq)]
pub enum GuestLine<'a> {
    Step { name: &'a str, detail: &'a str },
    Out(&'a str),
    Live(&'a str),
    Report(&'a str),
    Dmesg(&'a str),
    Result { pass: bool, detail: &'a str },
    Console(&'a str),
}

pub fn parse_line(line: &str) -> GuestLine<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    // The firmware's screen-clearing escapes can share the first line.
    let line = line.find("DMW-").map_or(line, |at| &line[at..]);
    let tagged = |tag: &str| {
        line.strip_prefix(tag)
            .filter(|rest| rest.is_empty() || rest.starts_with(' '))
            .map(|rest| rest.strip_prefix(' ').unwrap_or(rest))
    };
    if let Some(rest) = tagged("DMW-STEP") {
        let (name, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        return GuestLine::Step { name, detail };
    }
    if let Some(rest) = tagged("DMW-OUT") {
        return GuestLine::Out(rest);
    }
    if let Some(rest) = tagged("DMW-LIVE") {
        return GuestLine::Live(rest);
    }
    if let Some(rest) = tagged("DMW-REPORT") {
        return GuestLine::Report(rest);
    }
    if let Some(rest) = tagged("DMW-DMESG") {
        return GuestLine::Dmesg(rest);
    }
    if let Some(rest) = tagged("DMW-RESULT") {
        let (word, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        match word {
            "pass" => return GuestLine::Result { pass: true, detail },
            "fail" => {
                return GuestLine::Result {
                    pass: false,
                    detail,
                };
            }
            _ => {}
        }
    }
    GuestLine::Console(line)
}

/// Everything the guest said in one boot.
#[derive(Debug, Default)]
pub struct Run {
    pub steps: Vec<(String, String)>,
    pub output: Vec<String>,
    pub report: String,
    pub dmesg: Vec<String>,
    /// Console lines printed while the scenario ran (kernel messages at
    /// warning level and above reach the console): all a guest that crashed
    /// or hung leaves of its kernel log.
    pub console: Vec<String>,
    /// Tables the kernel refused, with the first line it logged.
    pub refusals: Vec<(String, String)>,
    /// `MESSAGE_REFUSAL <table>|<sector> <words>|<first kernel log line>`
    /// lines: messages the kernel refused on a device with that table.
    pub message_refusals: Vec<crate::equivalence::MessageRefused>,
    /// What the kernel showed of tables' write caches and flushes.
    pub caches: Vec<crate::equivalence::CacheSeen>,
    /// The guest's verdict: `None` if it never gave one (crash or hang).
    pub result: Option<(bool, String)>,
    /// `DMW-LIVE` lines: the scenario's output as it came.
    pub live: Vec<String>,
}

impl Run {
    /// Once the console has closed: a scenario that never ended (it hung, or
    /// the guest died) printed no saved copy of its output, so what it
    /// printed as it went stands in for it.
    pub fn settle(&mut self) {
        if self.output.is_empty() && !self.live.is_empty() {
            for line in std::mem::take(&mut self.live) {
                self.feed(&format!("DMW-OUT {line}"));
            }
        }
    }

    pub fn feed(&mut self, line: &str) {
        match parse_line(line) {
            GuestLine::Step { name, detail } => {
                self.steps.push((name.to_string(), detail.to_string()))
            }
            GuestLine::Out(text) => {
                if let Some((table, reason)) = text
                    .strip_prefix("REFUSAL ")
                    .and_then(|r| r.split_once('|'))
                {
                    self.refusals.push((table.to_string(), reason.to_string()));
                }
                if let Some(refused) = crate::equivalence::MessageRefused::parse(text) {
                    self.message_refusals.push(refused);
                }
                if let Some(seen) = crate::equivalence::CacheSeen::parse(text) {
                    self.caches.push(seen);
                }
                self.output.push(text.to_string());
            }
            GuestLine::Report(text) => {
                self.report += text;
                self.report.push('\n');
            }
            GuestLine::Dmesg(text) => self.dmesg.push(text.to_string()),
            // Shown as it comes; what counts is the DMW-OUT copy, unless the
            // scenario never ended (see `Run::settle`).
            GuestLine::Live(text) => self.live.push(text.to_string()),
            GuestLine::Result { pass, detail } => self.result = Some((pass, detail.to_string())),
            GuestLine::Console(text) => {
                // Boot messages are not the scenario's doing: only lines after
                // the kernel's own modules are in count.
                if self.steps.iter().any(|(name, _)| name == "kernel-modules") {
                    self.console.push(text.to_string());
                }
            }
        }
    }

    /// The kernel's complaints, most telling first, one per kind: from the
    /// log the guest dumped, or from its console if it died first.
    pub fn alarms(&self) -> Vec<alarms::Raised<'_>> {
        let log = if self.result.is_some() {
            &self.dmesg
        } else {
            &self.console
        };
        let mut seen = Vec::new();
        alarms::raised(log.iter().map(String::as_str))
            .into_iter()
            .filter(|r| {
                let first = !seen.contains(&r.alarm.name);
                seen.push(r.alarm.name.clone());
                first
            })
            .collect()
    }

    /// Why this run failed, one line per cause, the kernel's complaint first;
    /// empty when it passed.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self.alarms().iter().map(|r| r.summary()).collect();
        match &self.result {
            None => problems.push("the guest gave no result (crashed or hung)".to_string()),
            Some((false, detail)) => problems.push(format!("the guest failed: {detail}")),
            Some((true, _)) => {}
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_kind_of_line() {
        assert_eq!(
            parse_line("DMW-STEP boot 6.1.0-28-amd64\r"),
            GuestLine::Step {
                name: "boot",
                detail: "6.1.0-28-amd64"
            }
        );
        assert_eq!(
            parse_line("DMW-STEP cleanup"),
            GuestLine::Step {
                name: "cleanup",
                detail: ""
            }
        );
        assert_eq!(
            parse_line("DMW-OUT   indented"),
            GuestLine::Out("  indented")
        );
        assert_eq!(parse_line("DMW-OUT"), GuestLine::Out(""));
        assert_eq!(
            parse_line("DMW-RESULT fail script exited 1"),
            GuestLine::Result {
                pass: false,
                detail: "script exited 1"
            }
        );
        assert_eq!(
            parse_line("DMW-RESULT maybe"),
            GuestLine::Console("DMW-RESULT maybe")
        );
        assert_eq!(
            parse_line("DMW-STEPPING"),
            GuestLine::Console("DMW-STEPPING")
        );
        assert_eq!(
            parse_line("[    1.2] random: crng init done"),
            GuestLine::Console("[    1.2] random: crng init done")
        );
    }

    #[test]
    fn a_run_passes_only_with_a_pass_and_a_clean_log() {
        let mut run = Run::default();
        for line in [
            "DMW-STEP boot 6.1.0-28-amd64",
            "DMW-OUT hello",
            "DMW-OUT REFUSAL 0 8 hello_target /dev/loop0|device-mapper: table: 254:0: x",
            "DMW-OUT FLUSH 0 8 hello_target /dev/loop0 0|reached",
            "DMW-REPORT {\"a\":",
            "DMW-REPORT 1}",
            "DMW-DMESG hello_target: loading out-of-tree module taints kernel.",
            "DMW-RESULT pass every step passed",
        ] {
            run.feed(line);
        }
        assert_eq!(run.output.len(), 3);
        assert_eq!(
            run.caches,
            [crate::equivalence::CacheSeen {
                what: crate::equivalence::CacheQuestion::Flush,
                table: "0 8 hello_target /dev/loop0 0".to_string(),
                answer: "reached".to_string(),
            }]
        );
        assert_eq!(
            run.refusals,
            [(
                "0 8 hello_target /dev/loop0".to_string(),
                "device-mapper: table: 254:0: x".to_string()
            )]
        );
        assert_eq!(run.report, "{\"a\":\n1}\n");
        assert!(run.problems().is_empty(), "{:?}", run.problems());

        run.feed("DMW-DMESG WARNING: CPU: 0 PID: 1 at drivers/md/dm.c:10");
        assert_eq!(run.problems().len(), 1);
        assert!(Run::default().problems()[0].contains("no result"));
    }

    #[test]
    fn a_guest_that_died_is_judged_by_its_console_after_boot() {
        let mut run = Run::default();
        // A warning during boot is not the scenario's doing.
        run.feed("[    0.5] WARNING: CPU: 0 PID: 1 at arch/x86/kernel/cpu/amd.c:1 x");
        run.feed("DMW-STEP boot 6.1.0-28-amd64");
        run.feed("DMW-STEP kernel-modules loop.ko dm-mod.ko");
        run.feed("DMW-OUT before the crash");
        run.feed("[   11.9] device-mapper: core: unimplemented target map return value: -5");
        run.feed("[   11.9] kernel BUG at drivers/md/dm.c:1442!");
        let problems = run.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].contains("unimplemented target map return value: -5"));
        assert!(problems[1].contains("kernel BUG at"));
        assert!(problems[2].contains("no result"));
        assert_eq!(run.output, ["before the crash"]);
    }

    #[test]
    fn a_guest_that_finished_is_judged_by_its_dmesg_one_line_per_kind() {
        let mut run = Run::default();
        run.feed("DMW-STEP kernel-modules loop.ko");
        for _ in 0..2 {
            run.feed(
                "DMW-DMESG device-mapper: table: 254:0: dm_table_destroy: \
                 dm_put_device call missing for 7:0",
            );
        }
        run.feed("DMW-RESULT pass every step passed");
        let problems = run.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("kernel: a device the target got was never put"));
    }

    #[test]
    fn the_init_script_runs_the_chosen_scenario() {
        let kos = ["hello_target.ko".to_string()];
        let script = init_script(&Scenario::Script, &kos);
        assert!(script.contains("sh /lab/script.sh"));
        assert!(script.contains("stage_kos=\"hello_target.ko\""));
        let three = init_script(&Scenario::Chapter(chapter(3).unwrap()), &kos);
        assert!(three.contains("chapter_bin=/lab/bin/chapter3"));
        assert!(three.contains(
            "chapter_args=\"--backend kernel --module-ko /lab/stage/hello_target.ko \
             --report /tmp/report.json\""
        ));
        let one = init_script(&Scenario::Chapter(chapter(1).unwrap()), &kos);
        assert!(one.contains("chapter_args=\"--backend kernel --report /tmp/report.json\""));
    }

    #[test]
    fn a_chapters_output_is_its_saved_copy_not_the_live_lines() {
        let mut run = Run::default();
        // As the 6.1 guest printed it: a kernel error spliced into a line.
        run.feed(
            "DMW-LIVE State:             ACTIVE[    6.5] device-mapper: ioctl: \
             Target type does not support messages",
        );
        run.feed("DMW-OUT State:             ACTIVE");
        assert_eq!(run.output, ["State:             ACTIVE"]);
        let two = init_script(&Scenario::Chapter(chapter(2).unwrap()), &[]);
        assert!(two.contains("| tee /tmp/scenario.out | tag_lines DMW-LIVE"));
        assert!(two.contains("tag_lines DMW-OUT </tmp/scenario.out"));
        assert!(two.contains("chapter_args=\"--backend kernel --report /tmp/report.json\""));
    }

    #[test]
    fn the_init_script_is_valid_shell() {
        let kos = ["hello_target.ko".to_string()];
        for (scenario, udev) in [
            (Scenario::Script, false),
            (Scenario::Script, true),
            (Scenario::Chapter(chapter(3).unwrap()), false),
            (Scenario::BackendTests, true),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("init");
            std::fs::write(&file, init_script_with(&scenario, &kos, udev)).unwrap();
            let status = std::process::Command::new("sh")
                .arg("-n")
                .arg(&file)
                .status()
                .unwrap();
            assert!(status.success(), "{scenario:?} (udev: {udev})");
        }
    }
}
