//! `cargo xtask bench`: what each stage costs against `linear`, on a real
//! kernel, in one boot.
//!
//! The guest has `/dev/loop0` over a 128 MiB file in RAM. On it go a
//! `linear` device and one device per stage that loads on the line, each
//! mapping the whole loop device. fio (Debian's) runs four workloads with
//! O_DIRECT on each device in turn (the raw loop device too), round after
//! round, the order rotated each round so that no device always goes first.
//! Each stage is reported as a ratio to `linear`, round by round (the two ran
//! a few seconds apart), then the median of those ratios and their spread.
//! A second `linear` device is measured the same way: its ratio shows how
//! far two identical devices differ in this run.
//!
//! Stages that register the same module or target (stage 1 in C and in
//! Rust) cannot be loaded together: they are measured in turns, each set
//! with its own `linear` and loop device, in the same boot.

mod here;
mod plot;
mod report;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use crate::lab::lines;
use crate::lab::progress::Progress;
use crate::lab::stages::{self, StagesRun};
use crate::measure_config::StageConfig;
use crate::{cache_dir, repo_root};
use dm_workbook::manifest::Stage;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The kernel line to boot (the lines of module/manifest.toml).
    #[arg(
        long,
        value_name = "LINE",
        value_parser = lines::kernel_arg(),
        default_value = lines::simulated().name.as_str()
    )]
    kernel: String,

    /// Rounds: each device runs each workload once per round.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(5..))]
    rounds: u32,

    /// Seconds of each fio run.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    seconds: u32,

    /// Measure on this machine's own kernel instead of a lab guest: as root,
    /// with its headers installed (the Vagrant box is set up so), its line
    /// found from `uname -r`. The stages are built against its headers and
    /// the loop device's file is in /dev/shm.
    #[arg(long, conflicts_with = "kernel")]
    here: bool,

    /// Run nothing: write the table and the plot again from a run's JSON
    /// (after a change to how they are drawn).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kernel", "here"])]
    from_json: Option<PathBuf>,

    /// Where the results go: bench-LINE.json, bench-LINE.md and bench-LINE.svg.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,
}

/// A workload: its name in the results, fio's `--rw` and `--bs`.
pub struct Workload {
    pub name: &'static str,
    pub rw: &'static str,
    pub bs: &'static str,
    /// What is compared: bandwidth for the large sequential bios, I/O
    /// operations per second for the small random ones.
    pub unit: &'static str,
}

pub const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "seq-read-1M",
        rw: "read",
        bs: "1M",
        unit: "MiB/s",
    },
    Workload {
        name: "seq-write-1M",
        rw: "write",
        bs: "1M",
        unit: "MiB/s",
    },
    Workload {
        name: "rand-read-4k",
        rw: "randread",
        bs: "4k",
        unit: "IOPS",
    },
    Workload {
        name: "rand-write-4k",
        rw: "randwrite",
        bs: "4k",
        unit: "IOPS",
    },
];

/// The device every set has as its reference.
pub const LINEAR: &str = "linear";
/// The raw loop device, below everything.
pub const LOOP: &str = "loop";
/// A second `linear` device with the same table: its ratio to the first is
/// what the bench measures when nothing differs, the floor under which a
/// stage's difference is noise.
pub const CONTROL: &str = "linear-again";

/// Where a device goes in the table and the plot: the loop device, the
/// control, then the stages by name (`linear` is the reference, shown last).
pub fn rank(device: &str) -> (u8, &str) {
    match device {
        LOOP => (0, device),
        CONTROL => (1, device),
        LINEAR => (3, device),
        _ => (2, device),
    }
}

/// Stages that can be loaded together: no two share a module or a target.
pub fn sets(stages: &[&'static Stage]) -> Vec<Vec<&'static Stage>> {
    let mut sets: Vec<Vec<&'static Stage>> = Vec::new();
    for stage in stages {
        let clashes = |other: &&Stage| {
            other.target == stage.target || stages::module_name(other) == stages::module_name(stage)
        };
        match sets.iter_mut().find(|set| !set.iter().any(clashes)) {
            Some(set) => set.push(stage),
            None => sets.push(vec![stage]),
        }
    }
    sets
}

/// Where the script finds its modules and its loop device.
pub struct Place<'a> {
    /// Each stage's `.ko` is in `STAGES/DIR/`.
    pub stages: &'a str,
    /// The 128 MiB loop device the tables name as `/dev/loop0`.
    pub loop_device: &'a str,
}

/// In the lab's guest.
pub const GUEST: Place<'static> = Place {
    stages: crate::lab::guest::STAGES_DIR,
    loop_device: "/dev/loop0",
};

/// The script: per set, load its stages, create the devices, run the
/// rounds, remove the devices and unload the stages. Lines the host reads:
/// `BENCH <set> <round> <device> <workload> <fio's terse fields>`.
pub fn script(
    sets: &[Vec<(&Stage, StageConfig)>],
    rounds: u32,
    seconds: u32,
    place: &Place,
) -> String {
    let mut s = format!(
        "# cargo xtask bench: fio on each device in turn (generated).\n\
         seconds={seconds}\nloop={}\n",
        place.loop_device
    );
    s += SCRIPT_HEAD;
    for (n, set) in sets.iter().enumerate() {
        let _ = writeln!(s, "\n# Set {n}");
        for (stage, _) in set {
            let _ = writeln!(
                s,
                "insmod {dir}/{}/{} || fail \"insmod {}\"",
                stage.dir,
                stage.ko,
                stage.dir,
                dir = place.stages
            );
        }
        for device in [LINEAR, CONTROL] {
            let _ = writeln!(s, "make_device {device} \"0 262144 linear $loop 0\"");
        }
        for (stage, config) in set {
            let table = config.table.replace("/dev/loop0", "$loop");
            let _ = writeln!(s, "make_device {} \"{table}\"", stage.dir);
        }
        let mut devices = vec![LOOP.to_string(), LINEAR.to_string(), CONTROL.to_string()];
        devices.extend(set.iter().map(|(stage, _)| stage.dir.clone()));
        for round in 0..rounds {
            for workload in &WORKLOADS {
                for i in 0..devices.len() {
                    let device = &devices[(i + round as usize) % devices.len()];
                    let _ = writeln!(
                        s,
                        "measure {n} {round} {device} {} {} {}",
                        workload.name, workload.rw, workload.bs
                    );
                }
            }
        }
        for device in devices.iter().skip(1) {
            let _ = writeln!(
                s,
                "dmsetup remove bench-{device} || fail \"dmsetup remove bench-{device}\""
            );
        }
        for (stage, _) in set {
            let _ = writeln!(
                s,
                "rmmod {} || fail \"rmmod {}\"",
                stages::module_name(stage),
                stage.dir
            );
        }
    }
    s += "exit $failed\n";
    s
}

const SCRIPT_HEAD: &str = r#"failed=0
fail() { echo "BENCH-FAIL $*"; failed=1; }
echo "BENCH-KERNEL $(uname -r)"
echo "BENCH-CPU $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
# Every block of the loop device's file is written once first, so that no
# device's first write pays for the RAM under it.
dd if=/dev/zero of=$loop bs=1M count=128 2>/dev/null || fail "filling $loop"
# make_device LABEL TABLE: the device bench-LABEL, found by its minor
# number (the lab's guest has no udev to make /dev/mapper's links).
make_device() {
	dmsetup create "bench-$1" --table "$2" || { fail "dmsetup create bench-$1"; return; }
	eval "dev_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)=/dev/dm-$(dmsetup info -c --noheadings -o minor "bench-$1")"
}
node() {
	case "$1" in
	loop) echo $loop ;;
	*) eval echo "\$dev_$(echo "$1" | tr -c 'a-zA-Z0-9\n' _)" ;;
	esac
}
measure() {
	set=$1 round=$2 device=$3 workload=$4
	out=$(fio --name=bench --filename="$(node "$device")" --direct=1 \
		--ioengine=psync --rw="$5" --bs="$6" --size=128M \
		--runtime="$seconds" --time_based \
		--output-format=terse --terse-version=3 2>&1) ||
		{ fail "fio $device $workload: $(echo $out)"; return; }
	# The fields up to writes' IOPS (the 49th) are all the host reads.
	echo "BENCH $set $round $device $workload $(echo "$out" | cut -d';' -f1-50)"
}
"#;

/// One fio run, read back from the guest.
#[derive(Debug, PartialEq)]
pub struct Sample {
    pub set: usize,
    pub round: u32,
    pub device: String,
    pub workload: String,
    /// MiB/s or IOPS, as [`Workload::unit`] says.
    pub value: f64,
}

/// A `BENCH` line: fio's terse version 3 fields are `;`-separated, reads'
/// bandwidth (KiB/s) and IOPS the 7th and 8th, writes' the 48th and 49th.
pub fn parse_sample(line: &str) -> Result<Option<Sample>> {
    let Some(rest) = line.strip_prefix("BENCH ") else {
        return Ok(None);
    };
    let words: Vec<&str> = rest.splitn(5, ' ').collect();
    let [set, round, device, workload, terse] = words[..] else {
        bail!("a BENCH line with too few words: {line}");
    };
    let spec = WORKLOADS
        .iter()
        .find(|w| w.name == workload)
        .with_context(|| format!("unknown workload in {line}"))?;
    let fields: Vec<&str> = terse.trim().split(';').collect();
    ensure!(
        fields.len() > 49 && fields[0] == "3",
        "not fio's terse version 3: {line}"
    );
    let (bw, iops) = if spec.rw.contains("read") {
        (fields[6], fields[7])
    } else {
        (fields[47], fields[48])
    };
    let number = |s: &str| {
        s.parse::<f64>()
            .with_context(|| format!("{s} is not a number in {line}"))
    };
    let value = match spec.unit {
        "IOPS" => number(iops)?,
        _ => number(bw)? / 1024.0,
    };
    ensure!(value > 0.0, "fio measured nothing: {line}");
    Ok(Some(Sample {
        set: set.parse()?,
        round: round.parse()?,
        device: device.to_string(),
        workload: workload.to_string(),
        value,
    }))
}

/// The median, the smallest and the largest of some values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    pub fn of(values: &[f64]) -> Spread {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        }
    }
}

/// One device under one workload.
#[derive(Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub set: usize,
    pub device: String,
    pub workload: String,
    pub unit: String,
    /// One value per round, in round order.
    pub values: Vec<f64>,
    pub absolute: Spread,
    /// This device's value over `linear`'s in the same round and set.
    pub ratio_to_linear: Spread,
}

/// Everything one run found, as bench-LINE.json holds it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Results {
    pub line: String,
    pub release: String,
    /// The day of the run (UTC), `YYYY-MM-DD`.
    pub date: String,
    pub rounds: u32,
    pub seconds: u32,
    pub sets: Vec<Vec<String>>,
    pub measurements: Vec<Measurement>,
}

/// Group the samples by set, device and workload; ratios round by round.
pub fn measurements(samples: &[Sample], rounds: u32) -> Result<Vec<Measurement>> {
    let mut by_key: BTreeMap<(usize, &str, &str), BTreeMap<u32, f64>> = BTreeMap::new();
    for s in samples {
        by_key
            .entry((s.set, &s.device, &s.workload))
            .or_default()
            .insert(s.round, s.value);
    }
    let mut out = Vec::new();
    for ((set, device, workload), values) in &by_key {
        ensure!(
            values.len() == rounds as usize,
            "{device} ran {workload} {} times in set {set}, not {rounds}",
            values.len()
        );
        let linear = by_key
            .get(&(*set, LINEAR, workload))
            .with_context(|| format!("no linear run of {workload} in set {set}"))?;
        let ratios: Vec<f64> = (values.iter())
            .map(|(round, v)| v / linear[round])
            .collect();
        let values: Vec<f64> = values.values().copied().collect();
        let unit = WORKLOADS
            .iter()
            .find(|w| w.name == *workload)
            .map_or("", |w| w.unit);
        out.push(Measurement {
            set: *set,
            device: device.to_string(),
            workload: workload.to_string(),
            unit: unit.to_string(),
            absolute: Spread::of(&values),
            values,
            ratio_to_linear: Spread::of(&ratios),
        });
    }
    Ok(out)
}

/// What a run printed and what went wrong, in the lab's guest or here.
struct Ran {
    output: Vec<String>,
    problems: Vec<String>,
    seconds: f64,
    /// Where to look when it failed.
    log: String,
}

pub fn run(args: BenchArgs) -> Result<ExitCode> {
    if let Some(file) = &args.from_json {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
        let results: Results = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench run's JSON", file.display()))?;
        write_results(&results, &report::table(&results), &args.out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let repo = repo_root()?;
    let (line, stages) = if args.here {
        let line = here::line()?;
        let stages = stages::loading_on(line, None)?;
        // A Rust stage needs the kernel's Rust crates, which only the lab's
        // kits build (see "hello_target in Rust").
        let (c, rust): (Vec<&Stage>, Vec<&Stage>) =
            (stages.into_iter()).partition(|s| s.language == dm_workbook::manifest::Language::C);
        for stage in rust {
            println!("{}: a Rust stage, measured in the lab only", stage.dir);
        }
        (line, c)
    } else {
        (
            lines::find(&args.kernel)?,
            stages::loading_on(lines::find(&args.kernel)?, None)?,
        )
    };
    let sets = sets(&stages);
    let configured: Vec<Vec<(&Stage, StageConfig)>> = (sets.iter())
        .map(|set| {
            set.iter()
                .map(|s| Ok((*s, StageConfig::read(&repo, s)?)))
                .collect::<Result<_>>()
        })
        .collect::<Result<_>>()?;
    let ran = if args.here {
        here::run(line, &repo, &configured, &args)?
    } else {
        in_the_lab(line, &repo, &stages, &configured, &args)?
    };
    let mut samples = Vec::new();
    let mut release = String::new();
    for text in &ran.output {
        if let Some(r) = text.strip_prefix("BENCH-KERNEL ") {
            release = r.trim().to_string();
        }
        if text.starts_with("BENCH-FAIL") || text.starts_with("BENCH-CPU") {
            println!("{text}");
        }
        samples.extend(parse_sample(text)?);
    }
    if !ran.problems.is_empty() {
        println!("Linux {}: FAIL", line.name);
        for p in &ran.problems {
            println!("  - {p}");
        }
        println!("  see {}", ran.log);
        return Ok(ExitCode::FAILURE);
    }
    let results = Results {
        line: line.name.clone(),
        release,
        date: today()?,
        rounds: args.rounds,
        seconds: args.seconds,
        sets: (sets.iter())
            .map(|set| set.iter().map(|s| s.dir.clone()).collect())
            .collect(),
        measurements: measurements(&samples, args.rounds)?,
    };
    let table = report::table(&results);
    print!("\n{table}");
    write_results(&results, &table, &args.out)?;
    println!("(runs took {:.0} s)", ran.seconds);
    Ok(ExitCode::SUCCESS)
}

/// One boot of the lab's guest for all the sets.
fn in_the_lab(
    line: &'static lines::KernelLine,
    repo: &Path,
    stages: &[&'static Stage],
    configured: &[Vec<(&Stage, StageConfig)>],
    args: &BenchArgs,
) -> Result<Ran> {
    let cache = cache_dir()?;
    let progress = Progress::new();
    let script = script(configured, args.rounds, args.seconds, &GUEST);
    let runs: usize = configured.iter().map(|s| s.len() + 3).sum::<usize>() * WORKLOADS.len();
    // fio starts in about a second under TCG; boot and setup in a minute.
    let seconds = 120 + runs as u64 * u64::from(args.rounds) * (u64::from(args.seconds) + 3);
    let run = StagesRun {
        line,
        cache: &cache,
        repo,
        stages,
        script: script.as_bytes(),
        kernel_args: "",
        timeout: Duration::from_secs(seconds),
        memory_mib: 1024,
    };
    let outcome = run.run(&progress)?;
    Ok(Ran {
        output: outcome.output,
        problems: outcome.problems,
        seconds: outcome.seconds,
        log: outcome.transcript.display().to_string(),
    })
}

fn write_results(results: &Results, table: &str, out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    // Not with_extension: a line's name has a dot of its own (6.1).
    let file = |ext: &str| out.join(format!("bench-{}.{ext}", results.line));
    let (json, md, svg) = (file("json"), file("md"), file("svg"));
    std::fs::write(&json, serde_json::to_string_pretty(results)? + "\n")?;
    std::fs::write(&md, table)?;
    plot::svg(results, &svg)?;
    println!(
        "wrote {}, {} and {}",
        json.display(),
        md.display(),
        svg.display()
    );
    Ok(())
}

/// Today's date (UTC), as `date -u +%F` prints it.
fn today() -> Result<String> {
    let output = std::process::Command::new("date")
        .args(["-u", "+%F"])
        .output()
        .context("running date")?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

#[cfg(test)]
mod tests;
