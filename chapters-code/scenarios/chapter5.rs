//! Chapter 5: the proxy, counting what passes.
//!
//! Stage 2's `proxy` over a loop device: a known amount of direct I/O, the
//! counters `dmsetup status` prints checked against it, an empty flush, a
//! proxy over a device that fails every bio, `dmsetup message ... reset`,
//! messages the target refuses and why, and the table line.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::chapter2::result_name;
pub use super::stage_over_loop::{BACKING_BYTES, BACKING_FILE, MessageRefusal};
use super::stage_over_loop::{
    describe, message, read_status, refused_message, status_numbers, target_line,
    with_stage_over_a_loop,
};
use super::{Narrator, Result, ScenarioError, show_table, table_argument};
use crate::SECTOR_SIZE;
use crate::dm::TableSlot;
use crate::dm::units::Bytes;
use crate::driver::{Backend, BackendError};
use crate::manifest::{Manifest, Stage};
use crate::table::{Table, TableLine};

/// The proxy over the loop device.
pub const DEVICE: &str = "proxied";
/// A device of `error`, which fails every bio.
pub const FAILING: &str = "failing";
/// A proxy over [`FAILING`].
pub const OVER_FAILING: &str = "proxied-failing";

/// The counters `proxy` prints for `dmsetup status`, in its order
/// (`proxy_status()` in `module/stage2-proxy/proxy_target.c`).
pub const STATUS_FIELDS: [&str; 9] = [
    "reads",
    "read_sectors",
    "writes",
    "write_sectors",
    "flushes",
    "others",
    "errors",
    "latency_ns",
    "max_latency_ns",
];

/// What the chapter can be told.
#[derive(Clone, Debug)]
pub struct Options {
    /// The stage whose target it drives.
    pub stage: &'static Stage,
    /// Where the proxy starts on the loop device, in sectors.
    pub offset: u64,
    /// The proxy's length in sectors.
    pub sectors: u64,
    /// How many writes, and the bytes of each.
    pub writes: (u64, u64),
    /// How many reads, and the bytes of each.
    pub reads: (u64, u64),
}

impl Default for Options {
    fn default() -> Options {
        Options {
            stage: Manifest::bundled()
                .stage_of_chapter(5)
                .expect("the manifest names chapter 5's stage (a test checks it)"),
            offset: 2048,
            sectors: 4096,
            writes: (4, 4096),
            reads: (2, 8192),
        }
    }
}

/// What a run found, for comparing the simulator with a real kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Which backend ran.
    pub backend: String,
    /// `dmsetup targets`' line for `proxy`.
    pub target: Option<String>,
    /// `dmsetup table` of the proxy.
    pub table: Vec<String>,
    /// The counters right after `reset`, before any I/O.
    pub after_reset: Counters,
    /// What the chapter did: the I/O it issued.
    pub done: Done,
    /// The counters after that I/O.
    pub after_io: Counters,
    /// The counters after one `fsync` on the device.
    pub after_fsync: Counters,
    /// The proxy over a device that fails every bio, after one read.
    pub over_failing: FailingRead,
    /// Messages the proxy refused.
    pub refusals: Vec<MessageRefusal>,
    /// The counters after the refused messages (unchanged, if all is well).
    pub after_refusals: Counters,
    /// The counters after a second `reset`.
    pub after_second_reset: Counters,
}

/// The I/O the chapter issued through the proxy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Done {
    pub writes: u64,
    pub write_bytes: u64,
    pub reads: u64,
    pub read_bytes: u64,
}

/// One `dmsetup status` line of `proxy`, read. Latencies are machine time:
/// only what must hold of them is kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    pub reads: u64,
    pub read_sectors: u64,
    pub writes: u64,
    pub write_sectors: u64,
    pub flushes: u64,
    pub others: u64,
    pub errors: u64,
    pub latency: Latency,
}

/// What holds of `latency_ns` and `max_latency_ns`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// `latency_ns` is more than 0: some bio was timed.
    pub timed: bool,
    /// `max_latency_ns` is more than 0 if and only if `latency_ns` is.
    pub max_with_total: bool,
    /// `max_latency_ns` is at most `latency_ns`.
    pub max_within_total: bool,
}

impl Counters {
    /// Read the words after `<start> <length> proxy` in `dmsetup status`:
    /// exactly [`STATUS_FIELDS`], in order, as `name=value`.
    pub fn parse(params: &str) -> std::result::Result<Counters, String> {
        let values = status_numbers(params, STATUS_FIELDS)?;
        let [
            reads,
            read_sectors,
            writes,
            write_sectors,
            flushes,
            others,
            errors,
            total,
            max,
        ] = values;
        Ok(Counters {
            reads,
            read_sectors,
            writes,
            write_sectors,
            flushes,
            others,
            errors,
            latency: Latency {
                timed: total > 0,
                max_with_total: (max > 0) == (total > 0),
                max_within_total: max <= total,
            },
        })
    }

    /// All counters at zero, as `reset` leaves them.
    pub fn zero() -> Counters {
        Counters {
            latency: Latency {
                timed: false,
                max_with_total: true,
                max_within_total: true,
            },
            ..Counters::default()
        }
    }

    /// The bios counted, of every kind.
    pub fn bios(&self) -> u64 {
        self.reads + self.writes + self.flushes + self.others
    }
}

/// A proxy over `error`, and one read through it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailingRead {
    /// `dmsetup table` of the proxy.
    pub table: Vec<String>,
    /// `ok`, or the errno's name the read failed with.
    pub result: String,
    /// The proxy's counters after it.
    pub counters: Counters,
}

/// Run the chapter on `backend`, printing to `out`; returns what it found.
/// It leaves nothing behind, whether it succeeds or not.
pub fn run(backend: &mut dyn Backend, options: &Options, out: &mut dyn Write) -> Result<Report> {
    let mut n = Narrator::new(out);
    let heading = "a disk and the proxy module";
    let stage = options.stage;
    let mut report = with_stage_over_a_loop(
        backend,
        &mut n,
        stage,
        heading,
        "proxy",
        |n, backend, disk, _| {
            let mut run = Run {
                n,
                backend,
                options,
                report: Report::default(),
            };
            let steps = run.steps(disk);
            let cleaned = run.clean_up();
            steps.and(cleaned).map(|()| run.report)
        },
    )?;
    report.backend = backend.kind().to_string();
    Ok(report)
}

struct Run<'a, 'w> {
    n: &'a mut Narrator<'w>,
    backend: &'a mut dyn Backend,
    options: &'a Options,
    report: Report,
}

impl Run<'_, '_> {
    fn steps(&mut self, disk: &str) -> Result<()> {
        self.create(disk)?;
        self.known_io()?;
        self.fsync()?;
        self.refusals()?;
        self.reset_again()?;
        self.over_failing()?;
        Ok(())
    }

    fn create(&mut self, disk: &str) -> Result<()> {
        let stage = self.options.stage;
        self.n.heading("a proxy over the disk")?;
        self.report.target = target_line(self.n, self.backend, &stage.target)?;
        let table = Table::new(vec![TableLine::new(
            0,
            self.options.sectors,
            &stage.target,
            &format!("{disk} {}", self.options.offset),
        )]);
        self.n.command(&format!(
            "dmsetup create {DEVICE} {}",
            table_argument(&table)
        ))?;
        self.backend.create_with_table(DEVICE, &table)?;
        self.report.table = show_table(self.n, self.backend, DEVICE, TableSlot::Live)?;
        self.n.note(
            "The counters start at zero with the table. A udev rule that probes\n\
             the new device (blkid) would already have read from it: reset first.",
        )?;
        self.message(DEVICE, &["reset"])?;
        self.report.after_reset = self.status(DEVICE)?;
        Ok(())
    }

    fn known_io(&mut self) -> Result<()> {
        let (writes, write_bytes) = self.options.writes;
        let (reads, read_bytes) = self.options.reads;
        self.n.heading("a known amount of direct I/O")?;
        self.n.command(&format!(
            "dd if=/dev/urandom of=/dev/mapper/{DEVICE} bs={write_bytes} count={writes} oflag=direct"
        ))?;
        for i in 0..writes {
            let data: Vec<u8> = (0..write_bytes).map(|b| (b * 7 + i) as u8).collect();
            self.backend.write(DEVICE, Bytes(i * write_bytes), &data)?;
        }
        self.n.command(&format!(
            "dd if=/dev/mapper/{DEVICE} of=/dev/null bs={read_bytes} count={reads} iflag=direct"
        ))?;
        for i in 0..reads {
            self.backend
                .read(DEVICE, Bytes(i * read_bytes), Bytes(read_bytes))?;
        }
        self.report.done = Done {
            writes,
            write_bytes: writes * write_bytes,
            reads,
            read_bytes: reads * read_bytes,
        };
        let counters = self.status(DEVICE)?;
        let expected = Counters {
            reads,
            read_sectors: reads * read_bytes / SECTOR_SIZE,
            writes,
            write_sectors: writes * write_bytes / SECTOR_SIZE,
            latency: Latency {
                timed: true,
                max_with_total: true,
                max_within_total: true,
            },
            ..Counters::default()
        };
        self.n.note(&format!(
            "Each dd block is one bio: {writes} writes of {} sectors, {reads} reads of {}.",
            write_bytes / SECTOR_SIZE,
            read_bytes / SECTOR_SIZE
        ))?;
        if counters != expected {
            return Err(ScenarioError::Verify(format!(
                "after {writes} writes of {write_bytes} bytes and {reads} reads of \
                 {read_bytes} bytes the proxy counted {counters:?}, expected {expected:?}"
            )));
        }
        self.report.after_io = counters;
        Ok(())
    }

    fn fsync(&mut self) -> Result<()> {
        self.n.heading("an fsync: one empty flush")?;
        self.n.command(&format!("sync /dev/mapper/{DEVICE}"))?;
        self.backend.fsync(DEVICE)?;
        let counters = self.status(DEVICE)?;
        self.n.note(
            "fsync on a block device sends one empty flush; with a write cache\n\
             below, the core hands it to the proxy (num_flush_bios = 1), which\n\
             counts it as a flush: a write with no sectors.",
        )?;
        let before = &self.report.after_io;
        if counters.flushes > before.flushes + 1
            || counters.bios() != before.bios() + (counters.flushes - before.flushes)
        {
            return Err(ScenarioError::Verify(format!(
                "an fsync changed the counters from {before:?} to {counters:?}"
            )));
        }
        self.report.after_fsync = counters;
        Ok(())
    }

    fn refusals(&mut self) -> Result<()> {
        self.n.heading("messages the proxy refuses")?;
        for words in [&["frobnicate"][..], &["reset", "now"]] {
            let refusal = refused_message(self.n, self.backend, DEVICE, words, "the proxy")?;
            self.report.refusals.push(refusal);
        }
        self.n
            .note("A refused message changes nothing: the counters are as they were.")?;
        self.report.after_refusals = self.status(DEVICE)?;
        if self.report.after_refusals != self.report.after_fsync {
            return Err(ScenarioError::Verify(
                "a refused message changed the counters".to_string(),
            ));
        }
        Ok(())
    }

    fn reset_again(&mut self) -> Result<()> {
        self.n.heading("reset")?;
        self.message(DEVICE, &["reset"])?;
        let counters = self.status(DEVICE)?;
        if counters != Counters::zero() {
            return Err(ScenarioError::Verify(format!("reset left {counters:?}")));
        }
        self.report.after_second_reset = counters;
        self.n.command(&format!("dmsetup remove {DEVICE}"))?;
        self.backend.remove(DEVICE)?;
        Ok(())
    }

    fn over_failing(&mut self) -> Result<()> {
        self.n.heading("errors are counted too")?;
        let failing = Table::parse("0 8 error").map_err(BackendError::from)?;
        self.n.command(&format!(
            "dmsetup create {FAILING} {}",
            table_argument(&failing)
        ))?;
        let info = self.backend.create_with_table(FAILING, &failing)?;
        let table = Table::new(vec![TableLine::new(
            0,
            8,
            &self.options.stage.target,
            &format!("{} 0", info.dev),
        )]);
        self.n.command(&format!(
            "dmsetup create {OVER_FAILING} {}",
            table_argument(&table)
        ))?;
        self.backend.create_with_table(OVER_FAILING, &table)?;
        let lines = show_table(self.n, self.backend, OVER_FAILING, TableSlot::Live)?;
        self.message(OVER_FAILING, &["reset"])?;
        self.n.command(&format!(
            "dd if=/dev/mapper/{OVER_FAILING} of=/dev/null bs=4096 count=1 iflag=direct"
        ))?;
        let read = self.backend.read(OVER_FAILING, Bytes(0), Bytes(4096));
        if let Err(err) = &read {
            self.n.output(&format!(
                "dd: error reading '/dev/mapper/{OVER_FAILING}': {}",
                describe(err)
            ))?;
        }
        let counters = self.status(OVER_FAILING)?;
        self.report.over_failing = FailingRead {
            table: lines,
            result: result_name(&read),
            counters,
        };
        for name in [OVER_FAILING, FAILING] {
            self.n.command(&format!("dmsetup remove {name}"))?;
            self.backend.remove(name)?;
        }
        Ok(())
    }

    /// `dmsetup message NAME 0 WORDS`, which must be taken.
    fn message(&mut self, name: &str, words: &[&str]) -> Result<()> {
        message(self.n, self.backend, name, words).map(drop)
    }

    /// `dmsetup status NAME`, printed and read.
    fn status(&mut self, name: &str) -> Result<Counters> {
        read_status(self.n, self.backend, name, Counters::parse)
    }

    /// Remove whatever this run made that is still there.
    fn clean_up(&mut self) -> Result<()> {
        let existing = self.backend.devices()?;
        for name in [OVER_FAILING, FAILING, DEVICE] {
            if existing.iter().any(|d| d == name) {
                self.n.command(&format!("dmsetup remove {name}"))?;
                self.backend.remove(name)?;
            }
        }
        self.n.kernel_log(self.backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_reads_only_in_the_documented_format() {
        let c = Counters::parse(
            "reads=2 read_sectors=32 writes=4 write_sectors=32 flushes=1 others=0 \
             errors=0 latency_ns=1200 max_latency_ns=400",
        )
        .unwrap();
        assert_eq!((c.reads, c.write_sectors, c.flushes), (2, 32, 1));
        assert_eq!(c.bios(), 7);
        assert!(c.latency.timed && c.latency.max_within_total && c.latency.max_with_total);
        let zero = Counters::parse(
            "reads=0 read_sectors=0 writes=0 write_sectors=0 flushes=0 others=0 \
             errors=0 latency_ns=0 max_latency_ns=0",
        )
        .unwrap();
        assert_eq!(zero, Counters::zero());
        assert!(Counters::parse("reads=1").is_err());
        assert!(
            Counters::parse(
                "writes=0 reads=0 read_sectors=0 write_sectors=0 flushes=0 others=0 \
                 errors=0 latency_ns=0 max_latency_ns=0"
            )
            .is_err(),
            "order matters"
        );
    }
}
