//! Chapter 6: faults on purpose.
//!
//! Stage 3's `faulty` over a loop device, with one bad sector from its
//! table line: in each of its three modes (`fail`, `drop`, `pass`, switched
//! by message) a block with the bad sector and a block beside it are
//! written and read, and the backing file says what reached the disk; then
//! the bad-sector list is changed and listed by message, and the messages
//! the target refuses are refused with their reasons. Every answer goes in a
//! [`Report`] the lab compares between the simulator and a real kernel.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::chapter2::result_name;
pub use super::stage_over_loop::{BACKING_BYTES, BACKING_FILE, MessageRefusal};
use super::stage_over_loop::{
    describe, message, number, read_status, refused_message, status_values, target_line,
    with_stage_over_a_loop,
};
use super::{Narrator, Result, ScenarioError, read_file_at, show_table, table_argument};
use crate::SECTOR_SIZE;
use crate::dm::TableSlot;
use crate::dm::units::Bytes;
use crate::driver::Backend;
use crate::manifest::{Manifest, Stage};
use crate::table::{Table, TableLine};

/// The faulty device.
pub const DEVICE: &str = "flaky";
/// The bytes of one block of I/O: a page, as `dd bs=4096 ... oflag=direct`.
pub const BLOCK: u64 = 4096;

/// The fields `faulty` prints for `dmsetup status`, in its order
/// (`faulty_status()` in `module/stage3-faulty/faulty_target.c`).
pub const STATUS_FIELDS: [&str; 5] = [
    "mode",
    "bad_sectors",
    "read_errors",
    "write_errors",
    "dropped_writes",
];

/// What the chapter can be told.
#[derive(Clone, Debug)]
pub struct Options {
    /// The stage whose target it drives.
    pub stage: &'static Stage,
    /// Where the device starts on the loop device, in sectors.
    pub offset: u64,
    /// The device's length in sectors.
    pub sectors: u64,
    /// The bad sector the table line declares, counted from the line's start.
    pub bad_sector: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            stage: Manifest::bundled()
                .stage_of_chapter(6)
                .expect("the manifest names chapter 6's stage (a test checks it)"),
            offset: 2048,
            sectors: 4096,
            bad_sector: 100,
        }
    }
}

impl Options {
    /// The block that holds the bad sector.
    pub fn bad_block(&self) -> u64 {
        self.bad_sector * SECTOR_SIZE / BLOCK
    }
}

/// What a run found, for comparing the simulator with a real kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Which backend ran.
    pub backend: String,
    /// `dmsetup targets`' line for `faulty`.
    pub target: Option<String>,
    /// `dmsetup table` right after `create`.
    pub table: Vec<String>,
    /// `dmsetup status` right after `create`.
    pub created: Status,
    /// The I/O in each mode, in the order the chapter switches to them.
    pub modes: Vec<ModeRun>,
    /// `dmsetup table` once the modes and the list have changed.
    pub table_after: Vec<String>,
    /// The list messages and what `listbad` answered after each.
    pub list: Vec<ListStep>,
    /// Messages the target refused.
    pub refusals: Vec<MessageRefusal>,
    /// `dmsetup status` after the refusals (unchanged, if all is well).
    pub after_refusals: Status,
}

/// One `dmsetup status` line of `faulty`, read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub mode: String,
    pub bad_sectors: u64,
    pub read_errors: u64,
    pub write_errors: u64,
    pub dropped_writes: u64,
}

impl Status {
    /// Read the words after `<start> <length> faulty` in `dmsetup status`:
    /// exactly [`STATUS_FIELDS`], in order, as `name=value`.
    pub fn parse(params: &str) -> std::result::Result<Status, String> {
        let [mode, bad_sectors, read_errors, write_errors, dropped_writes] =
            status_values(params, STATUS_FIELDS)?;
        Ok(Status {
            mode: mode.to_string(),
            bad_sectors: number("bad_sectors", bad_sectors)?,
            read_errors: number("read_errors", read_errors)?,
            write_errors: number("write_errors", write_errors)?,
            dropped_writes: number("dropped_writes", dropped_writes)?,
        })
    }
}

/// One mode, and the I/O tried in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeRun {
    /// The mode's name, as `dmsetup message ... mode NAME` sets it.
    pub mode: String,
    /// Each read and write, in order.
    pub io: Vec<BlockIo>,
    /// `dmsetup status` after them.
    pub status: Status,
}

/// One read or write of a 4 KiB block of the device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockIo {
    /// `read` or `write`.
    pub op: String,
    /// The block, counted in 4 KiB from the device's start.
    pub block: u64,
    /// `ok`, or the errno's name it failed with.
    pub result: String,
    /// What the backing file holds at that block afterwards: `written` (a
    /// write's data), `unchanged` (what was there before a write), for a read
    /// `same` or `different` from what the read returned, and `-` for a
    /// read that failed.
    pub disk: String,
}

/// A message that changes the list, and `listbad`'s answer after it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListStep {
    /// The words sent.
    pub message: String,
    /// What `dmsetup message ... listbad` printed then.
    pub listbad: String,
}

/// Run the chapter on `backend`, printing to `out`; returns what it found.
/// It leaves nothing behind, whether it succeeds or not.
pub fn run(backend: &mut dyn Backend, options: &Options, out: &mut dyn Write) -> Result<Report> {
    let mut n = Narrator::new(out);
    let heading = "a disk and the faulty module";
    let stage = options.stage;
    let mut report = with_stage_over_a_loop(
        backend,
        &mut n,
        stage,
        heading,
        "faulty",
        |n, backend, disk, file| {
            let mut run = Run {
                n,
                backend,
                options,
                file,
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
    file: &'a std::path::Path,
    report: Report,
}

impl Run<'_, '_> {
    fn steps(&mut self, disk: &str) -> Result<()> {
        self.create(disk)?;
        let bad = self.options.bad_block();
        self.mode(
            "fail",
            "fail mode: the bad block fails both ways",
            &[
                ("write", bad + 1),
                ("write", bad),
                ("read", bad),
                ("read", bad + 1),
            ],
        )?;
        self.mode(
            "drop",
            "drop mode: a write to the bad block vanishes",
            &[("write", bad), ("read", bad)],
        )?;
        self.mode(
            "pass",
            "pass mode: the list is kept, nothing fails",
            &[("read", bad), ("write", bad), ("read", bad)],
        )?;
        self.list()?;
        self.refusals()?;
        self.n.command(&format!("dmsetup remove {DEVICE}"))?;
        self.backend.remove(DEVICE)?;
        Ok(())
    }

    fn create(&mut self, disk: &str) -> Result<()> {
        let options = self.options;
        self.n.heading("a faulty disk with one bad sector")?;
        self.report.target = target_line(self.n, self.backend, &options.stage.target)?;
        let table = Table::new(vec![TableLine::new(
            0,
            options.sectors,
            &options.stage.target,
            &format!("{disk} {} 2 bad {}", options.offset, options.bad_sector),
        )]);
        self.n.command(&format!(
            "dmsetup create {DEVICE} {}",
            table_argument(&table)
        ))?;
        self.backend.create_with_table(DEVICE, &table)?;
        self.report.table = show_table(self.n, self.backend, DEVICE, TableSlot::Live)?;
        self.report.created = self.status()?;
        let block = options.bad_block();
        self.n.note(&format!(
            "A feature group of 2 words, `bad {}`: sector {} of the device is bad.\n\
             It lies in the 4 KiB block {block} (sectors {}-{}): dd's blocks below\n\
             are 4 KiB, one bio each.",
            options.bad_sector,
            options.bad_sector,
            block * BLOCK / SECTOR_SIZE,
            (block + 1) * BLOCK / SECTOR_SIZE - 1
        ))?;
        Ok(())
    }

    /// Switch to `mode` (the first mode is the table's own), do `io`, and
    /// read the status.
    fn mode(&mut self, mode: &str, heading: &str, io: &[(&str, u64)]) -> Result<()> {
        self.n.heading(heading)?;
        if !self.report.modes.is_empty() {
            self.message(&["mode", mode])?;
        }
        let mut done = Vec::new();
        for &(op, block) in io {
            done.push(match op {
                "write" => self.write_block(block)?,
                _ => self.read_block(block)?,
            });
        }
        let status = self.status()?;
        if status.mode != mode {
            return Err(ScenarioError::Verify(format!(
                "after `mode {mode}` the status says mode={}",
                status.mode
            )));
        }
        self.report.modes.push(ModeRun {
            mode: mode.to_string(),
            io: done,
            status,
        });
        Ok(())
    }

    /// What the backing file holds at `block` of the device.
    fn on_disk(&self, block: u64) -> Result<Vec<u8>> {
        let at = self.options.offset * SECTOR_SIZE + block * BLOCK;
        read_file_at(self.file, at, BLOCK as usize)
    }

    fn write_block(&mut self, block: u64) -> Result<BlockIo> {
        self.n.command(&format!(
            "dd if=/dev/urandom of=/dev/mapper/{DEVICE} bs={BLOCK} seek={block} count=1 oflag=direct"
        ))?;
        let before = self.on_disk(block)?;
        // A fresh pattern for every write, so a write that reached the disk
        // is told apart from one before it.
        let seed = self.report.modes.len() as u64 * 16 + block;
        let data: Vec<u8> = (0..BLOCK).map(|b| (b * 31 + seed * 7 + 1) as u8).collect();
        let result = self.backend.write(DEVICE, Bytes(block * BLOCK), &data);
        if let Err(err) = &result {
            self.n.output(&format!(
                "dd: error writing '/dev/mapper/{DEVICE}': {}",
                describe(err)
            ))?;
        }
        let after = self.on_disk(block)?;
        let disk = if after == data {
            "written"
        } else if after == before {
            "unchanged"
        } else {
            "other"
        };
        self.n.note(&format!("block {block} on the disk: {disk}"))?;
        Ok(BlockIo {
            op: "write".to_string(),
            block,
            result: result_name(&result),
            disk: disk.to_string(),
        })
    }

    fn read_block(&mut self, block: u64) -> Result<BlockIo> {
        self.n.command(&format!(
            "dd if=/dev/mapper/{DEVICE} of=/dev/null bs={BLOCK} skip={block} count=1 iflag=direct"
        ))?;
        let result = self
            .backend
            .read(DEVICE, Bytes(block * BLOCK), Bytes(BLOCK));
        let disk = match &result {
            Ok(data) if *data == self.on_disk(block)? => "same",
            Ok(_) => "different",
            Err(err) => {
                self.n.output(&format!(
                    "dd: error reading '/dev/mapper/{DEVICE}': {}",
                    describe(err)
                ))?;
                "-"
            }
        };
        Ok(BlockIo {
            op: "read".to_string(),
            block,
            result: result_name(&result),
            disk: disk.to_string(),
        })
    }

    fn list(&mut self) -> Result<()> {
        self.n.heading("the bad-sector list, by message")?;
        let last = self.options.sectors - 1;
        let bad = self.options.bad_sector.to_string();
        let steps: [&[&str]; 5] = [
            &["addbad", "7"],
            &["addbad", &last.to_string()],
            &["removebad", &bad],
            &["clearbad"],
            &["addbad", "5"],
        ];
        for words in steps {
            self.message(words)?;
            let listbad = self.message(&["listbad"])?;
            self.report.list.push(ListStep {
                message: words.join(" "),
                listbad,
            });
        }
        self.n.note(
            "listbad is the one message that answers: its text comes back to\n\
             dmsetup, which prints it (an empty list prints nothing).",
        )?;
        self.report.table_after = show_table(self.n, self.backend, DEVICE, TableSlot::Live)?;
        self.n.note(
            "The table line follows the state: a reload with it keeps the mode\n\
             and the list.",
        )?;
        Ok(())
    }

    fn refusals(&mut self) -> Result<()> {
        self.n.heading("messages faulty refuses")?;
        let before = self.status()?;
        let beyond = self.options.sectors.to_string();
        let refused: [&[&str]; 4] = [
            &["frobnicate"],
            &["mode", "slow"],
            &["removebad", "6"],
            &["addbad", &beyond],
        ];
        for words in refused {
            let refusal = refused_message(self.n, self.backend, DEVICE, words, "faulty")?;
            self.report.refusals.push(refusal);
        }
        self.n
            .note("A refused message changes nothing: the status is as it was.")?;
        self.report.after_refusals = self.status()?;
        if self.report.after_refusals != before {
            return Err(ScenarioError::Verify(
                "a refused message changed the status".to_string(),
            ));
        }
        Ok(())
    }

    /// `dmsetup message flaky 0 WORDS`, which must be taken; its answer.
    fn message(&mut self, words: &[&str]) -> Result<String> {
        message(self.n, self.backend, DEVICE, words)
    }

    /// `dmsetup status flaky`, printed and read.
    fn status(&mut self) -> Result<Status> {
        read_status(self.n, self.backend, DEVICE, Status::parse)
    }

    /// Remove whatever this run made that is still there.
    fn clean_up(&mut self) -> Result<()> {
        if self.backend.devices()?.iter().any(|d| d == DEVICE) {
            self.n.command(&format!("dmsetup remove {DEVICE}"))?;
            self.backend.remove(DEVICE)?;
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
        let s =
            Status::parse("mode=drop bad_sectors=1 read_errors=2 write_errors=1 dropped_writes=1")
                .unwrap();
        assert_eq!(s.mode, "drop");
        assert_eq!((s.bad_sectors, s.read_errors, s.dropped_writes), (1, 2, 1));
        assert!(Status::parse("mode=drop").is_err());
        assert!(
            Status::parse("bad_sectors=1 mode=drop read_errors=2 write_errors=1 dropped_writes=1")
                .is_err(),
            "order matters"
        );
        assert!(
            Status::parse("mode=drop bad_sectors=x read_errors=2 write_errors=1 dropped_writes=1")
                .is_err()
        );
    }

    #[test]
    fn the_bad_sector_lies_in_its_block() {
        let options = Options::default();
        let block = options.bad_block();
        assert!(block * BLOCK / SECTOR_SIZE <= options.bad_sector);
        assert!(options.bad_sector < (block + 1) * BLOCK / SECTOR_SIZE);
    }
}
