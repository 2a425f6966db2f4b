//! Chapter 7: deferred I/O and suspend.
//!
//! Stage 4's `deferred` over a loop device holds every bio for a delay.
//! Writes are started in the background (as `dd ... &` starts them) and
//! caught while the target holds them; then the device is suspended with
//! writes in flight, plainly (presuspend sends them on at once) and with
//! `--noflush` (presuspend hands them back to the core, which sends them
//! through the new table after resume). Every write must end well and be on
//! the disk: nothing is lost. The [`Report`] is what the lab compares
//! between the simulator and a real kernel.

use std::io::Write;
use std::time::{Duration, Instant};

use super::chapter2::result_name;
pub use super::stage_over_loop::{BACKING_BYTES, BACKING_FILE};
use super::stage_over_loop::{target_line, with_stage_over_a_loop};
use super::{Narrator, Result, ScenarioError, read_file_at, show_table};
use crate::SECTOR_SIZE;
use crate::dm::TableSlot;
use crate::dm::units::Bytes;
use crate::driver::{Backend, BackgroundWrite};
use crate::manifest::{Manifest, Stage};
use crate::table::{Table, TableLine};

mod report;
pub use report::*;

/// The deferred device.
pub const DEVICE: &str = "slow";
/// The bytes of one write: a page, one bio, as `dd bs=4096 oflag=direct`.
pub const BLOCK: u64 = 4096;
/// How long the chapter waits for bios to reach the target before it calls
/// the run a failure (they take milliseconds).
const REACH_TARGET: Duration = Duration::from_secs(5);

/// What the chapter can be told.
#[derive(Clone, Debug)]
pub struct Options {
    /// The stage whose target it drives.
    pub stage: &'static Stage,
    /// Where the device starts on the loop device, in sectors.
    pub offset: u64,
    /// The device's length in sectors.
    pub sectors: u64,
    /// The first table's delay, in milliseconds: long enough that the
    /// chapter's steps between two writes and the suspend fit in it.
    pub delay_ms: u32,
    /// The delay of the table loaded during the noflush suspend.
    pub reload_delay_ms: u32,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            stage: Manifest::bundled()
                .stage_of_chapter(7)
                .expect("the manifest names chapter 7's stage (a test checks it)"),
            offset: 2048,
            sectors: 4096,
            delay_ms: 3000,
            reload_delay_ms: 1000,
        }
    }
}

/// Run the chapter on `backend`, printing to `out`; returns what it found.
/// It leaves nothing behind, whether it succeeds or not.
pub fn run(backend: &mut dyn Backend, options: &Options, out: &mut dyn Write) -> Result<Report> {
    let mut n = Narrator::new(out);
    let heading = "a disk and the deferred module";
    let stage = options.stage;
    let mut report = with_stage_over_a_loop(
        backend,
        &mut n,
        stage,
        heading,
        "deferred",
        |n, backend, disk, file| {
            let mut run = Run {
                n,
                backend,
                options,
                file,
                disk,
                report: Report::default(),
                writes: Vec::new(),
            };
            let steps = run.steps();
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
    disk: &'a str,
    report: Report,
    /// Background writes started and not finished, with their blocks.
    writes: Vec<(u64, BackgroundWrite)>,
}

impl Run<'_, '_> {
    fn steps(&mut self) -> Result<()> {
        self.create()?;
        self.held_write()?;
        self.suspend()?;
        self.noflush()?;
        self.flush()?;
        self.n.command(&format!("dmsetup remove {DEVICE}"))?;
        self.backend.remove(DEVICE)?;
        Ok(())
    }

    fn table(&self, delay_ms: u32) -> Table {
        Table::new(vec![TableLine::new(
            0,
            self.options.sectors,
            &self.options.stage.target,
            &format!("{} {} {delay_ms}", self.disk, self.options.offset),
        )])
    }

    fn create(&mut self) -> Result<()> {
        self.n.heading("a disk that answers late")?;
        self.report.target = target_line(self.n, self.backend, &self.options.stage.target)?;
        let table = self.table(self.options.delay_ms);
        self.n.command(&format!(
            "dmsetup create {DEVICE} --table '{}'",
            table.to_string().trim_end()
        ))?;
        self.backend.create_with_table(DEVICE, &table)?;
        self.report.table = show_table(self.n, self.backend, DEVICE, TableSlot::Live)?;
        self.report.created = self.status()?;
        Ok(())
    }

    fn held_write(&mut self) -> Result<()> {
        self.n.heading("a write, held for its delay")?;
        self.start_write(0)?;
        let holding = self.wait_held(1)?;
        self.n.note(&format!(
            "map kept the bio and returned DM_MAPIO_SUBMITTED; the write waits.\n\
             Its data reaches the disk {} ms after map saw it.",
            self.options.delay_ms
        ))?;
        let (_, write) = self.writes.last().expect("started above");
        let waiting = self.backend.write_waiting(write);
        let on_disk_while_held = self.on_disk(0)?;
        self.n.note(if waiting {
            "Half a second later, dd still waits."
        } else {
            "Half a second later, dd has returned."
        })?;
        let end = self.finish_writes()?.remove(0);
        let after = self.status()?;
        self.report.held_write = HeldWrite {
            holding,
            waiting,
            on_disk_while_held,
            end,
            after,
        };
        Ok(())
    }

    fn suspend(&mut self) -> Result<()> {
        self.n
            .heading("a suspend with writes in flight: presuspend sends them on")?;
        for block in 1..=3 {
            self.start_write(block)?;
        }
        let holding = self.wait_held(3)?;
        self.n.command(&format!("dmsetup suspend {DEVICE}"))?;
        self.backend.suspend(DEVICE)?;
        let suspended = self.info_state()?;
        let after_suspend = self.status()?;
        self.n.note(
            "The core waits for every bio in flight before the device counts as\n\
             suspended, and the three held ones are in flight: presuspend sent\n\
             them on at once (drained=3), and the suspend returned as soon as the\n\
             disk had them, without waiting for their delay.",
        )?;
        let writes = self.finish_writes()?;
        self.n
            .heading("a write while suspended waits in the core")?;
        self.start_write(4)?;
        let (_, late) = self.writes.last().expect("started above");
        let late_waiting = self.backend.write_waiting(late);
        let while_suspended = self.status()?;
        self.n.note(&format!(
            "Half a second later, dd {}; delayed is unchanged: the target\n\
             has not seen the write, which waits in the core for resume.",
            if late_waiting {
                "still waits"
            } else {
                "has returned"
            }
        ))?;
        self.n.command(&format!("dmsetup resume {DEVICE}"))?;
        self.backend.resume(DEVICE)?;
        let after_resume = self.wait_held(1)?;
        let late = self.finish_writes()?.remove(0);
        self.report.suspend = SuspendRun {
            holding,
            suspended,
            after_suspend,
            writes,
            late_waiting,
            while_suspended,
            after_resume,
            late,
        };
        Ok(())
    }

    fn noflush(&mut self) -> Result<()> {
        self.n
            .heading("a noflush suspend: the held writes go back to the core")?;
        let blocks = [5, 6];
        for block in blocks {
            self.start_write(block)?;
        }
        let holding = self.wait_held(2)?;
        self.n
            .command(&format!("dmsetup suspend --noflush {DEVICE}"))?;
        self.backend.suspend_noflush(DEVICE)?;
        let after_suspend = self.status()?;
        let mut waiting = Vec::new();
        let mut on_disk = Vec::new();
        for (i, block) in blocks.into_iter().enumerate() {
            waiting.push(self.backend.write_waiting(&self.writes[i].1));
            on_disk.push(self.on_disk(block)?);
        }
        let still = waiting.iter().filter(|w| **w).count();
        self.n.note(&match (still, waiting.len()) {
            (0, _) => "Half a second later, no dd waits any more.".to_string(),
            (s, n) if s == n => "Half a second later, every dd still waits.".to_string(),
            (s, n) => format!("Half a second later, {s} of the {n} dd still wait."),
        })?;
        self.n.note(
            "presuspend ended both bios with BLK_STS_DM_REQUEUE (pushed_back=2):\n\
             during a noflush suspend the core keeps such a bio for after resume.\n\
             The writes wait, and nothing is on the disk yet. A new table now\n\
             gets them, with a shorter delay.",
        )?;
        let reload = self.table(self.options.reload_delay_ms);
        self.n.command(&format!(
            "dmsetup load {DEVICE} --table '{}'",
            reload.to_string().trim_end()
        ))?;
        self.backend.load(DEVICE, &reload)?;
        self.n.command(&format!("dmsetup resume {DEVICE}"))?;
        self.backend.resume(DEVICE)?;
        let table = show_table(self.n, self.backend, DEVICE, TableSlot::Live)?;
        let after_resume = self.wait_held(2)?;
        self.n.note(
            "The new table's target has them: the core sent them again after\n\
             resume, through whatever table was live by then.",
        )?;
        let writes = self.finish_writes()?;
        self.report.noflush = NoflushRun {
            holding,
            after_suspend,
            waiting,
            on_disk_while_suspended: on_disk,
            table,
            after_resume,
            writes,
        };
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        self.n.heading("an fsync: its empty flush is held too")?;
        self.n.command(&format!("sync /dev/mapper/{DEVICE}"))?;
        let result = self.backend.fsync(DEVICE);
        let after = self.status()?;
        self.n.note(
            "num_flush_bios = 1: the core sends the target one empty flush per\n\
             fsync, and map holds it like any bio (delayed went up by one).",
        )?;
        self.report.flush = FlushRun {
            result: result_name(&result),
            after,
        };
        result.map_err(ScenarioError::from)
    }

    /// The data block `block` is written with.
    fn pattern(block: u64) -> Vec<u8> {
        (0..BLOCK)
            .map(|b| (b * 13 + block * 29 + 3) as u8)
            .collect()
    }

    /// `dd ... of=/dev/mapper/slow seek=BLOCK oflag=direct &`.
    fn start_write(&mut self, block: u64) -> Result<()> {
        self.n.command(&format!(
            "dd if=/dev/urandom of=/dev/mapper/{DEVICE} bs={BLOCK} seek={block} count=1 oflag=direct &"
        ))?;
        let write =
            self.backend
                .start_write(DEVICE, Bytes(block * BLOCK), &Self::pattern(block))?;
        self.writes.push((block, write));
        Ok(())
    }

    /// `wait`: how each background write ended, and whether its data is on
    /// the disk; a write that failed or went missing fails the run.
    fn finish_writes(&mut self) -> Result<Vec<WriteEnd>> {
        self.n.command("wait")?;
        let mut ends = Vec::new();
        for (block, write) in std::mem::take(&mut self.writes) {
            let result = self.backend.finish_write(write);
            let end = WriteEnd {
                block,
                result: result_name(&result),
                on_disk: self.on_disk(block)?,
            };
            if let Err(err) = result {
                return Err(ScenarioError::Verify(format!(
                    "the write of block {block} failed: {err}"
                )));
            }
            if !end.on_disk {
                return Err(ScenarioError::Verify(format!(
                    "the write of block {block} ended, but its data is not on the disk"
                )));
            }
            ends.push(end);
        }
        self.n.note(&format!(
            "{} ended well, each block on the disk as written.",
            match ends.len() {
                1 => "The write".to_string(),
                2 => "Both writes".to_string(),
                n => format!("All {n} writes"),
            }
        ))?;
        Ok(ends)
    }

    /// Whether the backing file holds `block`'s data.
    fn on_disk(&self, block: u64) -> Result<bool> {
        let at = self.options.offset * SECTOR_SIZE + block * BLOCK;
        Ok(read_file_at(self.file, at, BLOCK as usize)? == Self::pattern(block))
    }

    /// Poll the status until the target holds `n` bios: background writes
    /// take a moment to reach it (none on the simulator).
    fn wait_held(&mut self, n: u64) -> Result<Status> {
        let start = Instant::now();
        loop {
            let status = self.read_status()?;
            if status.held >= n {
                return self.status();
            }
            if start.elapsed() > REACH_TARGET {
                return Err(ScenarioError::Verify(format!(
                    "the target never held {n} bios: {status:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `dmsetup info -c -o attr`: whether the device is suspended.
    fn info_state(&mut self) -> Result<bool> {
        self.n
            .command(&format!("dmsetup info -c --noheadings -o attr {DEVICE}"))?;
        let info = self.backend.info(DEVICE)?;
        let attr = format!(
            "{}{}{}w",
            if info.live_table { 'L' } else { '-' },
            if info.inactive_table { 'I' } else { '-' },
            if info.suspended { 's' } else { '-' },
        );
        self.n.output(&attr)?;
        Ok(info.suspended)
    }

    fn read_status(&mut self) -> Result<Status> {
        let lines = self.backend.status(DEVICE, TableSlot::Live)?;
        let [line] = lines.as_slice() else {
            return Err(ScenarioError::Verify(format!(
                "{DEVICE} has {} status lines",
                lines.len()
            )));
        };
        Status::parse(&line.params).map_err(ScenarioError::Verify)
    }

    /// `dmsetup status slow`, printed and read.
    fn status(&mut self) -> Result<Status> {
        self.n.command(&format!("dmsetup status {DEVICE}"))?;
        let lines = self.backend.status(DEVICE, TableSlot::Live)?;
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        self.n.output(&text.join("\n"))?;
        self.read_status()
    }

    /// Remove whatever this run made that is still there: a suspended
    /// device is resumed first, so that what it holds ends.
    fn clean_up(&mut self) -> Result<()> {
        if self.backend.devices()?.iter().any(|d| d == DEVICE) {
            if self.backend.info(DEVICE)?.suspended {
                self.n.command(&format!("dmsetup resume {DEVICE}"))?;
                self.backend.resume(DEVICE)?;
            }
            for (_, write) in std::mem::take(&mut self.writes) {
                let _ = self.backend.finish_write(write);
            }
            self.n.command(&format!("dmsetup remove {DEVICE}"))?;
            self.backend.remove(DEVICE)?;
        }
        self.n.kernel_log(self.backend)?;
        Ok(())
    }
}
