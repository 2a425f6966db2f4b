//! Chapter 2: `dmsetup`'s verbs and a device's life cycle.
//!
//! One device, `demo`, goes through every state a mapped device can be in,
//! with I/O tried in each: no table (and on Linux 6.1 no disk yet), an
//! inactive table, a live `zero` table, a reload waiting behind it, suspended
//! (I/O waits), resumed onto `linear` + `error`, a bio split across the two, a
//! reload too long for its device (refused at resume, the device left
//! suspended), a message, and removal. It runs on the simulator, which can
//! show what a kernel hides (a bio waiting inside a suspended device), and on
//! a real kernel, which the lab holds the simulator to with [`Report`].

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::{Narrator, Result, ScenarioError, join_remaps, make_backing_file, table_argument};
use crate::SECTOR_SIZE;
use crate::dm::trace::Remap;
use crate::dm::units::{Bytes, Sectors};
use crate::dm::{DeviceInfo, TableSlot};
use crate::driver::{Backend, BackendError};
use crate::errno::Errno;
use crate::table::Table;

/// The mapped device's name.
pub const DEVICE: &str = "demo";

/// The loop device's backing file: 1 MiB, 2048 sectors.
pub const BACKING_SECTORS: u64 = 2048;

/// What a run found, step by step, for comparing the simulator with a real
/// kernel. Every field must be there under its own name when read back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Which backend ran.
    pub backend: String,
    /// One entry per step (per heading), in order.
    pub steps: Vec<StepReport>,
}

/// What one step saw.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepReport {
    /// The step's heading.
    pub step: String,
    /// Each `dmsetup info`, in order.
    pub info: Vec<InfoReport>,
    /// Each `dmsetup table` or `status`, in order: the command and its lines.
    pub tables: Vec<TableReport>,
    /// Each read and write, in order.
    pub io: Vec<IoReport>,
    /// Each request the kernel refused, in order.
    pub refusals: Vec<RefusalReport>,
    /// The device-mapper lines the kernel logged during the step, device
    /// numbers normalised (see [`normalise_log_line`]).
    pub kernel_log: Vec<String>,
}

/// `dmsetup info`'s fields, the minor number left out (it depends on what
/// the machine made before).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InfoReport {
    pub suspended: bool,
    pub live_table: bool,
    pub inactive_table: bool,
    pub open_count: u32,
    pub event_nr: u32,
    pub major: u32,
    pub target_count: u32,
    pub read_ahead: u32,
}

impl From<&DeviceInfo> for InfoReport {
    fn from(info: &DeviceInfo) -> InfoReport {
        InfoReport {
            suspended: info.suspended,
            live_table: info.live_table,
            inactive_table: info.inactive_table,
            open_count: info.open_count,
            event_nr: info.event_nr,
            major: info.dev.major,
            target_count: info.target_count,
            read_ahead: info.read_ahead,
        }
    }
}

/// One `dmsetup table` or `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableReport {
    /// The command, such as `table --inactive`.
    pub command: String,
    /// Its lines.
    pub lines: Vec<String>,
}

/// One read or write of the mapped device and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoReport {
    /// `read` or `write`.
    pub op: String,
    /// First sector asked for.
    pub sector: u64,
    /// Sectors asked for.
    pub sectors: u64,
    /// Whether a write was still held inside the device after it started.
    pub held: bool,
    /// `ok`, or the errno's name (`ENXIO` from opening, `EIO` from the I/O).
    pub result: String,
    /// Bytes a read gave back.
    pub bytes: u64,
    /// CRC-32 of those bytes.
    pub crc32: u32,
    /// Where the core sent it, as the kernel's `block_bio_remap` event
    /// reports it (`None`: the backend cannot see it).
    pub remaps: Option<Vec<Remap>>,
}

/// A request refused: which ioctl, and the errno's name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusalReport {
    pub ioctl: String,
    pub errno: String,
}

/// A kernel log line with what depends on the machine's history made
/// constant: a mapped device's minor (`254:3:` and `dm-3` become `254:N:` and
/// `dm-N`).
pub fn normalise_log_line(line: &str) -> String {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    line.split(' ')
        .map(|word| {
            if let Some((major, rest)) = word.split_once(':')
                && digits(major)
                && let Some(minor) = rest.strip_suffix(':')
                && digits(minor)
            {
                return format!("{major}:N:");
            }
            let trimmed = word.trim_start_matches('(');
            let tail = trimmed.trim_end_matches([')', ':', ',']);
            if let Some(n) = tail.strip_prefix("dm-")
                && digits(n)
            {
                return word.replacen(&format!("dm-{n}"), "dm-N", 1);
            }
            word.to_string()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run the chapter on `backend`, printing to `out`; returns what it found.
/// Its book transcript is the simulator's, whose trace shows the bios.
pub fn run(backend: &mut dyn Backend, out: &mut dyn Write) -> Result<Report> {
    let report = Report {
        backend: backend.kind().to_string(),
        steps: Vec::new(),
    };
    let mut run = Run {
        n: Narrator::new(out),
        backend,
        report,
    };
    let outcome = run.steps();
    // What the kernel said about a failure is the best explanation.
    let ended = run.end_step();
    outcome?;
    ended?;
    Ok(run.report)
}

/// One run: the narrator, the backend and the report being filled in.
struct Run<'r, 'w> {
    n: Narrator<'w>,
    backend: &'r mut dyn Backend,
    report: Report,
}

impl Run<'_, '_> {
    fn steps(&mut self) -> Result<()> {
        let describe = self.backend.describe();
        self.n.note(&format!("On {describe}."))?;
        self.n.record_remaps(self.backend)?;

        self.step("create: a device with no table")?;
        self.n
            .command(&format!("dmsetup create {DEVICE} --notable"))?;
        self.backend.create(DEVICE)?;
        self.info()?;
        let opened = self.read(Sectors(0), Sectors(8))?;
        self.n.note(if opened == "ENXIO" {
            "No table yet, and no disk: Linux 6.1 registers a mapped device's disk\n\
             (and /dev/dm-N) at its first table load, so there is nothing to open."
        } else {
            "This kernel registered the disk at create already (as 5.10 does):\n\
             no table, no sectors, so a read ends at once, empty."
        })?;

        self.step("load: a table waits in the inactive slot")?;
        let zero = Table::parse("0 2048 zero").map_err(BackendError::from)?;
        self.load(&zero)?;
        self.info()?;
        self.table(TableSlot::Inactive)?;
        self.n.note(
            "The disk is registered now, but with no live table it has 0 sectors:\n\
             a read ends at once, empty (od prints only an offset).",
        )?;
        self.read(Sectors(0), Sectors(8))?;

        self.step("resume: the inactive table goes live")?;
        self.resume()?;
        self.info()?;
        self.status()?;
        self.n
            .note("zero ends a read itself, filled with zeroes, and drops writes.")?;
        self.write(Sectors(0), b"lost")?;
        self.read(Sectors(0), Sectors(8))?;

        self.step("reload: a new table waits behind the live one")?;
        let file = self.backend.scratch_dir().join("disk.img");
        self.n
            .command("truncate -s 1M disk.img && losetup --find --show disk.img")?;
        make_backing_file(&file, BACKING_SECTORS * SECTOR_SIZE)?;
        let disk = self.backend.attach_loop(&file)?;
        self.n.output(&disk)?;
        let half = BACKING_SECTORS / 2;
        let split = Table::parse(&format!("0 {half} linear {disk} 0\n{half} {half} error"))
            .map_err(BackendError::from)?;
        self.load(&split)?;
        self.info()?;
        self.n.note("I/O still goes to the live zero table.")?;
        self.read(Sectors(0), Sectors(8))?;

        self.step("suspend: I/O waits")?;
        self.n.command(&format!("dmsetup suspend {DEVICE}"))?;
        self.backend.suspend(DEVICE)?;
        self.info()?;
        self.n.command(&format!(
            "printf kept | dd of=/dev/mapper/{DEVICE} bs=512 conv=sync oflag=direct &"
        ))?;
        let mut sector = vec![0u8; SECTOR_SIZE as usize];
        sector[..4].copy_from_slice(b"kept");
        let waiting = self.backend.start_write(DEVICE, Bytes(0), &sector)?;
        let mut remaps = self.n.trace(self.backend)?;
        let held = self.backend.write_waiting(&waiting);
        if !held {
            return Err(ScenarioError::Verify(
                "a write to a suspended device ended at once".to_string(),
            ));
        }
        self.n
            .note("dd does not return: its bio is held inside the device.")?;

        self.step("resume: the new table goes live, then the waiting bio runs")?;
        self.resume()?;
        remaps = join_remaps(remaps, self.n.trace(self.backend)?);
        let finished = self.backend.finish_write(waiting);
        // The kernel sends the held bio on from a work queue after the
        // resume ioctl returns (`dm_queue_flush()`): look again once dd is back.
        remaps = join_remaps(remaps, self.n.trace(self.backend)?);
        self.n.note(&match &finished {
            Ok(()) => {
                "dd returns: the write went through the NEW table, to the loop device.".to_string()
            }
            Err(BackendError::Suspended(_)) => "dd is still waiting".to_string(),
            Err(err) => format!("dd returns with an error: {}", errno_text(err)),
        })?;
        self.current().io.push(IoReport {
            op: "write".to_string(),
            sector: 0,
            sectors: 1,
            held,
            result: match &finished {
                Err(BackendError::Suspended(_)) => "still held".to_string(),
                other => result_name(other),
            },
            remaps,
            ..IoReport::default()
        });
        self.table(TableSlot::Live)?;
        self.read(Sectors(0), Sectors(1))?;

        self.step("a bio across two table lines is split")?;
        self.n.note(&format!(
            "Sectors {}..{} straddle the linear line's end at {half}.",
            half - 4,
            half + 4
        ))?;
        self.read(Sectors(half - 4), Sectors(8))?;
        self.n
            .note("The error half failed, so the whole read failed.")?;
        self.n
            .note("Eight sectors that stay inside line 0 go through in one piece:")?;
        self.read(Sectors(half - 8), Sectors(8))?;

        self.step("a reload too long for its device: refused at resume")?;
        self.n.note(&format!(
            "{disk} has {BACKING_SECTORS} sectors; this table wants {} of them.",
            2 * BACKING_SECTORS
        ))?;
        let long = Table::parse(&format!("0 {} linear {disk} 0", 2 * BACKING_SECTORS))
            .map_err(BackendError::from)?;
        self.load(&long)?;
        self.info()?;
        self.n.command(&format!("dmsetup resume {DEVICE}"))?;
        match self.backend.resume(DEVICE) {
            Ok(()) => {}
            Err(BackendError::Dm(err)) => {
                self.n.output(&err.dmsetup_line())?;
                self.refused(err.ioctl.to_string(), err.errno);
            }
            Err(err) => return Err(err.into()),
        }
        self.kernel_log()?;
        let after = self.info()?;
        self.n.note(
            if after.suspended && after.live_table && !after.inactive_table {
                "The load was accepted; the resume suspended the device, found the table\n\
             too long for its device, destroyed it and stopped there: the old table\n\
             is still live, and the device is left SUSPENDED. A second resume lets\n\
             it run again:"
            } else {
                "This kernel left the device otherwise than Linux 6.1 does (suspended,\n\
             on its old table, the new one destroyed). Resume again:"
            },
        )?;
        self.resume()?;
        self.info()?;
        self.table(TableSlot::Live)?;

        self.step("message: targets without a message handler refuse")?;
        self.n
            .command(&format!("dmsetup message {DEVICE} 0 hello"))?;
        match self.backend.message(DEVICE, Sectors(0), &["hello"]) {
            Ok(answer) => self.n.output(&answer)?,
            Err(BackendError::Dm(err)) => {
                self.n.output(&err.dmsetup_line())?;
                self.refused(err.ioctl.to_string(), err.errno);
            }
            Err(err) => return Err(err.into()),
        }

        self.step("remove")?;
        self.n.command(&format!("dmsetup remove {DEVICE}"))?;
        self.backend.remove(DEVICE)?;
        self.n.command(&format!("losetup -d {disk}"))?;
        self.backend.detach_loop(&disk)?;
        self.n.command("dmsetup ls")?;
        let left = self.backend.devices()?;
        self.n.output(if left.is_empty() {
            "No devices found"
        } else {
            "(devices left!)"
        })?;
        Ok(())
    }

    /// End the step before (its kernel log), then start a new one.
    fn step(&mut self, title: &str) -> Result<()> {
        self.end_step()?;
        self.n.heading(title)?;
        self.report.steps.push(StepReport {
            step: title.to_string(),
            ..StepReport::default()
        });
        Ok(())
    }

    /// The step's end: what the kernel logged since the last look.
    fn end_step(&mut self) -> Result<()> {
        self.kernel_log()
    }

    /// The kernel log lines since the last look: printed, and kept
    /// normalised in the step's report.
    fn kernel_log(&mut self) -> Result<()> {
        let lines = self.backend.kernel_log();
        if lines.is_empty() {
            return Ok(());
        }
        self.n.command("dmesg | tail")?;
        self.n.output(&lines.join("\n"))?;
        if let Some(step) = self.report.steps.last_mut() {
            step.kernel_log
                .extend(lines.iter().map(|l| normalise_log_line(l)));
        }
        Ok(())
    }

    fn current(&mut self) -> &mut StepReport {
        if self.report.steps.is_empty() {
            self.report.steps.push(StepReport::default());
        }
        self.report.steps.last_mut().expect("pushed above")
    }

    fn refused(&mut self, ioctl: String, errno: Errno) {
        self.current().refusals.push(RefusalReport {
            ioctl,
            errno: format!("{errno:?}"),
        });
    }

    fn load(&mut self, table: &Table) -> Result<()> {
        self.n
            .command(&format!("dmsetup load {DEVICE} {}", table_argument(table)))?;
        self.backend.load(DEVICE, table)?;
        Ok(())
    }

    fn resume(&mut self) -> Result<()> {
        self.n.command(&format!("dmsetup resume {DEVICE}"))?;
        self.backend.resume(DEVICE)?;
        Ok(())
    }

    /// `dmsetup info`, printed, recorded and returned.
    fn info(&mut self) -> Result<DeviceInfo> {
        self.n.command(&format!("dmsetup info {DEVICE}"))?;
        let info = self.backend.info(DEVICE)?;
        self.n.output(&info.to_string())?;
        self.current().info.push(InfoReport::from(&info));
        Ok(info)
    }

    /// `dmsetup table [--inactive]`, printed and recorded.
    fn table(&mut self, slot: TableSlot) -> Result<()> {
        let command = match slot {
            TableSlot::Live => "table",
            TableSlot::Inactive => "table --inactive",
        };
        let lines = self.backend.table(DEVICE, slot)?;
        self.show_lines(command, &lines)
    }

    /// `dmsetup status`, printed and recorded.
    fn status(&mut self) -> Result<()> {
        let lines = self.backend.status(DEVICE, TableSlot::Live)?;
        self.show_lines("status", &lines)
    }

    fn show_lines(&mut self, command: &str, lines: &[crate::table::TableLine]) -> Result<()> {
        self.n.command(&format!("dmsetup {command} {DEVICE}"))?;
        let lines: Vec<String> = lines.iter().map(ToString::to_string).collect();
        self.n.output(&lines.join("\n"))?;
        self.current().tables.push(TableReport {
            command: command.to_string(),
            lines,
        });
        Ok(())
    }

    /// Read `sectors` sectors at `sector` and say how it went, as `dd` would;
    /// returns the result as the report names it (`ok`, `ENXIO`, ...).
    fn read(&mut self, sector: Sectors, sectors: Sectors) -> Result<String> {
        // One read(2) of the whole range with O_DIRECT is one bio, as traced.
        self.n.command(&if sectors == Sectors(1) {
            format!(
                "dd if=/dev/mapper/{DEVICE} bs=512 skip={sector} count=1 iflag=direct | od -c | head -1"
            )
        } else {
            format!(
                "dd if=/dev/mapper/{DEVICE} bs={} skip={} count=1 iflag=direct,skip_bytes | od -c | head -1",
                sectors.bytes(),
                sector.bytes()
            )
        })?;
        let result = self.backend.read(DEVICE, sector.bytes(), sectors.bytes());
        let remaps = self.n.trace(self.backend)?;
        let mut io = IoReport {
            remaps,
            op: "read".to_string(),
            sector: sector.0,
            sectors: sectors.0,
            result: result_name(&result),
            ..IoReport::default()
        };
        match &result {
            Ok(data) => {
                io.bytes = data.len() as u64;
                io.crc32 = crc32fast::hash(data);
                self.n.output(&od_first_line(data))?;
            }
            Err(err) => self.n.output(&dd_error(err, "reading"))?,
        }
        let name = io.result.clone();
        self.current().io.push(io);
        Ok(name)
    }

    /// Write `text` (padded to a sector) at `sector`, as `dd conv=sync` would.
    fn write(&mut self, sector: Sectors, text: &[u8]) -> Result<()> {
        self.n.command(&format!(
            "printf {} | dd of=/dev/mapper/{DEVICE} bs=512 seek={sector} conv=sync oflag=direct",
            String::from_utf8_lossy(text)
        ))?;
        let mut data = vec![0u8; SECTOR_SIZE as usize];
        data[..text.len()].copy_from_slice(text);
        let result = self.backend.write(DEVICE, sector.bytes(), &data);
        let remaps = self.n.trace(self.backend)?;
        if let Err(err) = &result {
            self.n.output(&dd_error(err, "writing"))?;
        }
        self.current().io.push(IoReport {
            op: "write".to_string(),
            sector: sector.0,
            sectors: 1,
            result: result_name(&result),
            remaps,
            ..IoReport::default()
        });
        Ok(())
    }
}

/// `ok`, or the name of the errno an I/O failed with.
pub(super) fn result_name<T>(result: &std::result::Result<T, BackendError>) -> String {
    match result {
        Ok(_) => "ok".to_string(),
        Err(err) => match os_errno(err) {
            Some(code) => {
                Errno::from_code(code).map_or(format!("errno {code}"), |e| format!("{e:?}"))
            }
            None => err.to_string(),
        },
    }
}

pub(super) fn os_errno(err: &BackendError) -> Option<i32> {
    match err {
        BackendError::Io { source, .. } | BackendError::Open { source, .. } => {
            source.raw_os_error()
        }
        BackendError::Dm(err) => Some(err.errno.code()),
        _ => None,
    }
}

/// What `dd` prints when it cannot open the device, or when a read or write
/// fails: the C library's text for the errno.
fn dd_error(err: &BackendError, doing: &str) -> String {
    let file = format!("'/dev/mapper/{DEVICE}'");
    match err {
        BackendError::Open { .. } => format!("dd: failed to open {file}: {}", errno_text(err)),
        _ => format!("dd: error {doing} {file}: {}", errno_text(err)),
    }
}

/// The C library's text for the errno a backend call failed with.
fn errno_text(err: &BackendError) -> String {
    os_errno(err)
        .and_then(Errno::from_code)
        .map_or_else(|| err.to_string(), |errno| errno.describe().to_string())
}

/// The first line of `od -c`, enough to see zeroes or text.
fn od_first_line(data: &[u8]) -> String {
    let cells: Vec<String> = data
        .iter()
        .take(16)
        .map(|b| match b {
            0 => "\\0".to_string(),
            b if b.is_ascii_graphic() => (*b as char).to_string(),
            b => format!("{b:03o}"),
        })
        .map(|c| format!("{c:>4}"))
        .collect();
    format!("0000000{}", cells.join(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_lose_only_the_mapped_devices_minor() {
        assert_eq!(
            normalise_log_line(
                "device-mapper: table: 254:3: loop0 too small for target: start=0, len=4096, dev_size=2048"
            ),
            "device-mapper: table: 254:N: loop0 too small for target: start=0, len=4096, dev_size=2048"
        );
        assert_eq!(
            normalise_log_line("EXT4-fs (dm-12): unmounting filesystem."),
            "EXT4-fs (dm-N): unmounting filesystem."
        );
        let kept = "loop0: rw=34817, sector=300000, nr_sectors = 8 limit=262144";
        assert_eq!(normalise_log_line(kept), kept);
        assert_eq!(normalise_log_line("at 7:0 and dm-x"), "at 7:0 and dm-x");
    }
}
