//! Bios: the block layer's unit of I/O, reduced to what a target looks at.

use std::fmt;

use crate::SECTOR_SIZE;

/// A device number, `dev_t`: the kernel names block devices by major and minor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DevT {
    /// Which driver: 7 for loop, a dynamic number for device-mapper.
    pub major: u32,
    /// Which device of that driver.
    pub minor: u32,
}

impl DevT {
    /// `MKDEV(major, minor)`.
    pub const fn new(major: u32, minor: u32) -> DevT {
        DevT { major, minor }
    }
}

impl fmt::Display for DevT {
    /// `major:minor`, as `format_dev_t` writes it and `dmsetup table` shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

/// What a bio asks for (`bio_op()`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BioOp {
    /// `REQ_OP_READ`: fill the bio's pages from the device.
    Read,
    /// `REQ_OP_WRITE`: store the bio's pages on the device.
    Write,
}

impl fmt::Display for BioOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BioOp::Read => "READ",
            BioOp::Write => "WRITE",
        })
    }
}

/// How a bio ended (`blk_status_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlkStatus {
    /// `BLK_STS_OK`.
    Ok,
    /// `BLK_STS_IOERR`: what `DM_MAPIO_KILL` and a failed device give.
    IoErr,
}

impl fmt::Display for BlkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlkStatus::Ok => "BLK_STS_OK",
            BlkStatus::IoErr => "BLK_STS_IOERR",
        })
    }
}

/// A bio: an operation on a run of sectors of one device.
///
/// The kernel's `struct bio` points at pages; here the data lives in the bio.
/// A read bio's data is overwritten when it completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bio {
    /// `bio_op(bio)`.
    pub op: BioOp,
    /// `bio->bi_bdev`: the device this bio is addressed to. A target's `map`
    /// changes it to remap the bio.
    pub dev: DevT,
    /// `bio->bi_iter.bi_sector`: first sector, on `dev`.
    pub sector: u64,
    /// The payload; its length is `bio->bi_iter.bi_size`, a multiple of 512.
    pub data: Vec<u8>,
    /// `bio->bi_status`, set when the bio ends.
    pub status: BlkStatus,
}

impl Bio {
    /// A read of `sectors` sectors from `sector` of `dev`.
    pub fn read(dev: DevT, sector: u64, sectors: u64) -> Bio {
        Bio {
            op: BioOp::Read,
            dev,
            sector,
            data: vec![0; (sectors * SECTOR_SIZE) as usize],
            status: BlkStatus::Ok,
        }
    }

    /// A write of `data` (a whole number of sectors) at `sector` of `dev`.
    pub fn write(dev: DevT, sector: u64, data: Vec<u8>) -> Bio {
        Bio {
            op: BioOp::Write,
            dev,
            sector,
            data,
            status: BlkStatus::Ok,
        }
    }

    /// `bio_sectors(bio)`.
    pub fn sectors(&self) -> u64 {
        self.data.len() as u64 / SECTOR_SIZE
    }

    /// `zero_fill_bio(bio)`: what dm-zero does to a read.
    pub fn zero_fill(&mut self) {
        self.data.fill(0);
    }
}

/// What a target's `map` did with a bio (`DM_MAPIO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MapResult {
    /// `DM_MAPIO_REMAPPED`: the target changed `dev` and `sector`; the core
    /// submits the bio to that device.
    Remapped,
    /// `DM_MAPIO_SUBMITTED`: the target took the bio and ended it itself.
    Submitted,
    /// `DM_MAPIO_KILL`: fail the bio with `BLK_STS_IOERR`.
    Kill,
    /// `DM_MAPIO_REQUEUE`: give the bio back to the core to be tried again later.
    Requeue,
}

impl fmt::Display for MapResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MapResult::Remapped => "DM_MAPIO_REMAPPED",
            MapResult::Submitted => "DM_MAPIO_SUBMITTED",
            MapResult::Kill => "DM_MAPIO_KILL",
            MapResult::Requeue => "DM_MAPIO_REQUEUE",
        })
    }
}
