//! Chapter 1: what a mapped device is, shown live.
//!
//! A backing file on a loop device, a `linear` device that starts some way
//! into it, one write and one read through the device, and the trace of where
//! each went. Then the bytes are looked for in the backing file, at the offset
//! the table promises.

use std::io::Write;

use serde::{Deserialize, Serialize};

use super::chapter2::InfoReport;
use super::{
    Narrator, Result, ScenarioError, join_remaps, make_backing_file, read_file_at, show_table,
    table_argument,
};
use crate::SECTOR_SIZE;
use crate::dm::TableSlot;
use crate::dm::trace::Remap;
use crate::dm::units::Sectors;
use crate::driver::{Backend, BackendError};
use crate::table::{Table, TableLine};

/// The mapped device's name.
pub const DEVICE: &str = "first";
/// The backing file's name in the scratch directory.
pub const BACKING_FILE: &str = "disk.img";

/// What the chapter can be told.
#[derive(Clone, Debug)]
pub struct Options {
    /// Size of the backing file in sectors.
    pub backing_sectors: u64,
    /// Where on the backing device the mapped device starts, in sectors.
    pub offset: u64,
    /// Length of the mapped device in sectors.
    pub sectors: u64,
    /// Which sector of the mapped device to write.
    pub write_sector: u64,
    /// The text to write there (padded with zeroes to one sector).
    pub message: String,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            backing_sectors: 8192,
            offset: 2048,
            sectors: 4096,
            write_sector: 100,
            message: "hello, device mapper".to_string(),
        }
    }
}

/// What a run found, for comparing the simulator with a real kernel. Every
/// field must be there under its own name when read back.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Which backend ran.
    pub backend: String,
    /// `dmsetup table` after creating the device.
    pub table: Vec<String>,
    /// `dmsetup info` after creating it, the minor left out.
    pub info: InfoReport,
    /// The sector written and where it was found.
    pub write: WriteReport,
    /// Where the core sent the write and then the read, as the kernel's
    /// `block_bio_remap` event reports it (`None`: the backend cannot see it).
    pub remaps: Option<Vec<Remap>>,
}

/// The one sector written through the device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteReport {
    /// The mapped device's sector written.
    pub sector: u64,
    /// The backing file's sector the table sends it to.
    pub landing: u64,
    /// CRC-32 of the sector written.
    pub crc32: u32,
    /// Whether reading the mapped device gave it back.
    pub read_back: bool,
    /// Whether the backing file holds it at `landing`.
    pub in_backing_file: bool,
}

/// Run the chapter on `backend`, printing to `out`; returns what it found.
pub fn run(backend: &mut dyn Backend, options: &Options, out: &mut dyn Write) -> Result<Report> {
    let mut report = Report {
        backend: backend.kind().to_string(),
        ..Report::default()
    };
    let mut n = Narrator::new(out);
    n.heading("a disk to map")?;
    n.note(&format!("On {}.", backend.describe()))?;
    let file = backend.scratch_dir().join(BACKING_FILE);
    n.command(&format!(
        "truncate -s {} {BACKING_FILE}",
        options.backing_sectors * SECTOR_SIZE
    ))?;
    make_backing_file(&file, options.backing_sectors * SECTOR_SIZE)?;
    n.command(&format!("losetup --find --show {BACKING_FILE}"))?;
    let disk = backend.attach_loop(&file)?;
    n.output(&disk)?;
    n.note(&format!(
        "{disk} is a block device of {} sectors of 512 bytes.",
        options.backing_sectors
    ))?;

    n.heading("a mapped device")?;
    let table = Table::new(vec![TableLine::new(
        0,
        options.sectors,
        "linear",
        &format!("{disk} {}", options.offset),
    )]);
    n.note(&format!(
        "One table line: sectors 0..{} of the new device are sectors {}..{} of {disk}.",
        options.sectors,
        options.offset,
        options.offset + options.sectors
    ))?;
    n.command(&format!(
        "dmsetup create {DEVICE} {}",
        table_argument(&table)
    ))?;
    backend.create_with_table(DEVICE, &table)?;
    report.table = show_table(&mut n, backend, DEVICE, TableSlot::Live)?;
    n.command(&format!("dmsetup info {DEVICE}"))?;
    let info = backend.info(DEVICE)?;
    n.output(&info.to_string())?;
    report.info = InfoReport::from(&info);

    n.heading("a write and a read through it")?;
    let mut sector = vec![0u8; SECTOR_SIZE as usize];
    let text = options.message.as_bytes();
    let len = text.len().min(sector.len());
    sector[..len].copy_from_slice(&text[..len]);
    n.command(&format!(
        "printf '{}' | dd of=/dev/mapper/{DEVICE} bs=512 seek={} conv=sync oflag=direct",
        options.message, options.write_sector
    ))?;
    n.record_remaps(backend)?;
    backend.write(DEVICE, Sectors(options.write_sector).bytes(), &sector)?;
    let written = n.trace(backend)?;
    n.command(&format!(
        "dd if=/dev/mapper/{DEVICE} bs=512 skip={} count=1 iflag=direct",
        options.write_sector
    ))?;
    let back = backend.read(
        DEVICE,
        Sectors(options.write_sector).bytes(),
        Sectors(1).bytes(),
    )?;
    let read = n.trace(backend)?;
    report.remaps = join_remaps(written, read);
    n.output(&printable(&back))?;

    n.heading("where the bytes are")?;
    let landing = options.offset + options.write_sector;
    n.note(&format!(
        "sector {} of {DEVICE} = {} (offset) + {} = sector {landing} of {disk}",
        options.write_sector, options.offset, options.write_sector
    ))?;
    n.command(&format!(
        "dd if={BACKING_FILE} bs=512 skip={landing} count=1"
    ))?;
    let stored = read_file_at(&file, landing * SECTOR_SIZE, SECTOR_SIZE as usize)?;
    n.output(&printable(&stored))?;
    report.write = WriteReport {
        sector: options.write_sector,
        landing,
        crc32: crc32fast::hash(&sector),
        read_back: back == sector,
        in_backing_file: stored == sector,
    };
    if stored != sector || back != sector {
        return Err(ScenarioError::Verify(format!(
            "the sector is not at sector {landing} of {BACKING_FILE}"
        )));
    }

    n.heading("clean up")?;
    n.command(&format!("dmsetup remove {DEVICE}"))?;
    backend.remove(DEVICE)?;
    n.command(&format!("losetup -d {disk}"))?;
    backend.detach_loop(&disk)?;
    std::fs::remove_file(&file)
        .map_err(|e| BackendError::io(format!("removing {}", file.display()), e))?;
    Ok(report)
}

/// A sector's text up to its first zero byte, as a terminal would show it.
fn printable(sector: &[u8]) -> String {
    let end = sector.iter().position(|b| *b == 0).unwrap_or(sector.len());
    String::from_utf8_lossy(&sector[..end]).into_owned()
}
