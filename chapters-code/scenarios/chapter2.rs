//! Chapter 2: `dmsetup`'s verbs and a device's life cycle.
//!
//! One device, `demo`, goes through every state a mapped device can be in,
//! with I/O tried in each: no table, an inactive table, a live `zero` table, a
//! reload waiting behind it, suspended (I/O waits), resumed onto
//! `linear` + `error`, a bio split across the two, a message, and removal.
//! It runs on the simulator, which can show what a kernel hides: a bio waiting
//! inside a suspended device.

use std::io::Write;

use super::{
    Narrator, Result, ScenarioError, make_backing_file, show_info, show_status, show_table,
    table_argument,
};
use crate::SECTOR_SIZE;
use crate::dm::TableSlot;
use crate::dm::units::{Bytes, Sectors};
use crate::driver::{Backend, BackendError};
use crate::table::Table;

/// The mapped device's name.
pub const DEVICE: &str = "demo";

/// Run the chapter on `backend`, printing to `out`. Its transcript is the
/// simulator's, whose trace shows the bios.
pub fn run(backend: &mut dyn Backend, out: &mut dyn Write) -> Result<()> {
    let mut n = Narrator::new(out);
    n.note(&format!("On {}.", backend.describe()))?;

    n.heading("create: a device with no table")?;
    n.command(&format!("dmsetup create {DEVICE} --notable"))?;
    backend.create(DEVICE)?;
    show_info(&mut n, backend, DEVICE)?;
    n.note("No table, no sectors: a read ends at once, empty (od prints only an offset).")?;
    try_read(&mut n, backend, Sectors(0), Sectors(8))?;

    n.heading("load: a table waits in the inactive slot")?;
    let zero = Table::parse("0 2048 zero").map_err(BackendError::from)?;
    load(&mut n, backend, &zero)?;
    show_info(&mut n, backend, DEVICE)?;
    show_table(&mut n, backend, DEVICE, TableSlot::Inactive)?;
    n.note("Still no live table: the device has 0 sectors, so a read ends at once, empty.")?;
    try_read(&mut n, backend, Sectors(0), Sectors(8))?;

    n.heading("resume: the inactive table goes live")?;
    n.command(&format!("dmsetup resume {DEVICE}"))?;
    backend.resume(DEVICE)?;
    show_info(&mut n, backend, DEVICE)?;
    show_status(&mut n, backend, DEVICE)?;
    n.note("zero ends a read itself, filled with zeroes, and drops writes.")?;
    try_write(&mut n, backend, Sectors(0), b"lost")?;
    try_read(&mut n, backend, Sectors(0), Sectors(8))?;

    n.heading("reload: a new table waits behind the live one")?;
    let file = backend.scratch_dir().join("disk.img");
    n.command("truncate -s 1M disk.img && losetup --find --show disk.img")?;
    make_backing_file(&file, 2048 * SECTOR_SIZE)?;
    let disk = backend.attach_loop(&file)?;
    n.output(&disk)?;
    let split = Table::parse(&format!("0 1024 linear {disk} 0\n1024 1024 error"))
        .map_err(BackendError::from)?;
    load(&mut n, backend, &split)?;
    show_info(&mut n, backend, DEVICE)?;
    n.note("I/O still goes to the live zero table.")?;
    try_read(&mut n, backend, Sectors(0), Sectors(8))?;

    n.heading("suspend: I/O waits")?;
    n.command(&format!("dmsetup suspend {DEVICE}"))?;
    backend.suspend(DEVICE)?;
    show_info(&mut n, backend, DEVICE)?;
    n.command(&format!(
        "printf kept | dd of=/dev/mapper/{DEVICE} bs=512 conv=sync oflag=direct &"
    ))?;
    let mut sector = vec![0u8; SECTOR_SIZE as usize];
    sector[..4].copy_from_slice(b"kept");
    let waiting = backend.start_write(DEVICE, Bytes(0), &sector)?;
    n.trace(backend)?;
    if !backend.write_waiting(&waiting) {
        return Err(ScenarioError::Verify(
            "a write to a suspended device ended at once".to_string(),
        ));
    }
    n.note("dd does not return: its bio is held inside the device.")?;

    n.heading("resume: the new table goes live, then the waiting bio runs")?;
    n.command(&format!("dmsetup resume {DEVICE}"))?;
    backend.resume(DEVICE)?;
    n.trace(backend)?;
    n.note(&match backend.finish_write(waiting) {
        Ok(()) => {
            "dd returns: the write went through the NEW table, to the loop device.".to_string()
        }
        Err(BackendError::Suspended(_)) => "dd is still waiting".to_string(),
        Err(err) => format!("dd returns with an error: {}", short_io_error(&err)),
    })?;
    show_table(&mut n, backend, DEVICE, TableSlot::Live)?;
    try_read(&mut n, backend, Sectors(0), Sectors(1))?;

    n.heading("a bio across two table lines is split")?;
    n.note("Sectors 1020..1028 straddle the linear line's end at 1024.")?;
    try_read(&mut n, backend, Sectors(1020), Sectors(8))?;
    n.note("The error half failed, so the whole read failed.")?;
    n.note("Eight sectors that stay inside line 0 go through in one piece:")?;
    try_read(&mut n, backend, Sectors(1016), Sectors(8))?;

    n.heading("message: targets without a message handler refuse")?;
    n.command(&format!("dmsetup message {DEVICE} 0 hello"))?;
    match backend.message(DEVICE, Sectors(0), &["hello"]) {
        Ok(answer) => n.output(&answer)?,
        Err(BackendError::Dm(err)) => n.output(&err.dmsetup_line())?,
        Err(err) => return Err(err.into()),
    }
    n.kernel_log(backend)?;

    n.heading("remove")?;
    n.command(&format!("dmsetup remove {DEVICE}"))?;
    backend.remove(DEVICE)?;
    n.command(&format!("losetup -d {disk}"))?;
    backend.detach_loop(&disk)?;
    n.command("dmsetup ls")?;
    let left = backend.devices()?;
    n.output(if left.is_empty() {
        "No devices found"
    } else {
        "(devices left!)"
    })?;
    Ok(())
}

fn load(n: &mut Narrator<'_>, backend: &mut dyn Backend, table: &Table) -> Result<()> {
    n.command(&format!("dmsetup load {DEVICE} {}", table_argument(table)))?;
    backend.load(DEVICE, table)?;
    Ok(())
}

/// Read `sectors` sectors at `sector` and say how it went, trace included.
fn try_read(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    sector: Sectors,
    sectors: Sectors,
) -> Result<()> {
    // One read(2) of the whole range with O_DIRECT is one bio, as traced.
    n.command(&if sectors == Sectors(1) {
        format!("dd if=/dev/mapper/{DEVICE} bs=512 skip={sector} count=1 iflag=direct | od -c | head -1")
    } else {
        format!(
            "dd if=/dev/mapper/{DEVICE} bs={} skip={} count=1 iflag=direct,skip_bytes | od -c | head -1",
            sectors.bytes(),
            sector.bytes()
        )
    })?;
    let result = backend.read(DEVICE, sector.bytes(), sectors.bytes());
    n.trace(backend)?;
    match result {
        Ok(data) => n.output(&od_first_line(&data))?,
        Err(err) => n.output(&format!("dd: error reading: {}", short_io_error(&err)))?,
    }
    n.kernel_log(backend)?;
    Ok(())
}

fn try_write(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    sector: Sectors,
    text: &[u8],
) -> Result<()> {
    n.command(&format!(
        "printf {} | dd of=/dev/mapper/{DEVICE} bs=512 seek={sector} conv=sync oflag=direct",
        String::from_utf8_lossy(text)
    ))?;
    let mut data = vec![0u8; SECTOR_SIZE as usize];
    data[..text.len()].copy_from_slice(text);
    let result = backend.write(DEVICE, sector.bytes(), &data);
    n.trace(backend)?;
    if let Err(err) = result {
        n.output(&format!("dd: error writing: {}", short_io_error(&err)))?;
    }
    Ok(())
}

/// What `dd` prints for a failed read or write: the C library's text.
fn short_io_error(err: &BackendError) -> String {
    match err {
        BackendError::Io { source, .. } => source
            .raw_os_error()
            .and_then(crate::errno::Errno::from_code)
            .map_or_else(|| source.to_string(), |errno| errno.describe().to_string()),
        other => other.to_string(),
    }
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
