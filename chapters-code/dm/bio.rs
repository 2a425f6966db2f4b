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
///
/// A cache flush is not an op of its own: `REQ_OP_FLUSH` cannot be submitted
/// as a bio in Linux 6.1 (`submit_bio_noacct()` fails it, `block/blk-core.c`
/// lines 762-767). A flush is a write with [`Bio::preflush`] set, and an
/// empty flush is such a write with no data ([`Bio::flush`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BioOp {
    /// `REQ_OP_READ`: fill the bio's pages from the device.
    Read,
    /// `REQ_OP_WRITE`: store the bio's pages on the device.
    Write,
    /// `REQ_OP_DISCARD`: the sectors' contents are no longer needed.
    Discard,
    /// `REQ_OP_SECURE_ERASE`: a discard that must also erase.
    SecureErase,
    /// `REQ_OP_WRITE_ZEROES`: make the sectors read back as zeroes.
    WriteZeroes,
}

impl BioOp {
    /// Whether the op carries pages (`bio_has_data()`): the others only
    /// name a run of sectors.
    pub fn has_data(self) -> bool {
        matches!(self, BioOp::Read | BioOp::Write)
    }
}

impl fmt::Display for BioOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BioOp::Read => "READ",
            BioOp::Write => "WRITE",
            BioOp::Discard => "DISCARD",
            BioOp::SecureErase => "SECURE_ERASE",
            BioOp::WriteZeroes => "WRITE_ZEROES",
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
    /// `BLK_STS_NOTSUPP` (`-EOPNOTSUPP`): an op the device does not offer.
    NotSupp,
    /// `BLK_STS_DM_REQUEUE`: a target hands a clone back to the core. Never
    /// seen above the core: during a `noflush` suspend the core keeps the
    /// bio for after resume, otherwise it becomes `BLK_STS_IOERR`
    /// (`dm_handle_requeue()`, Linux 6.1 `drivers/md/dm.c` lines 887-926).
    DmRequeue,
}

impl fmt::Display for BlkStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BlkStatus::Ok => "BLK_STS_OK",
            BlkStatus::IoErr => "BLK_STS_IOERR",
            BlkStatus::NotSupp => "BLK_STS_NOTSUPP",
            BlkStatus::DmRequeue => "BLK_STS_DM_REQUEUE",
        })
    }
}

/// The core's name for a clone it handed a target's `map`: in the kernel,
/// the `struct bio *` a target keeps when it returns `DM_MAPIO_SUBMITTED`
/// without ending the clone. The target names the clone by it later, when
/// it sends it on or ends it ([`crate::dm::target::HeldClones`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloneId(pub u64);

impl fmt::Display for CloneId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "clone {}", self.0)
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
    /// The payload of a read or write; its length is `bio->bi_iter.bi_size`,
    /// a multiple of 512. Empty for the ops without data.
    pub data: Vec<u8>,
    /// `bio->bi_iter.bi_size` in sectors for the ops without data (discard,
    /// secure erase, write-zeroes); 0 for reads and writes.
    pub extent: u64,
    /// `REQ_PREFLUSH`: flush the device's write cache before this bio's data.
    pub preflush: bool,
    /// `REQ_FUA`: this bio's data must be on stable storage when it ends.
    pub fua: bool,
    /// `bio->bi_status`, set when the bio ends.
    pub status: BlkStatus,
    /// The per-bio data in front of a clone: `ti->per_io_data_size` bytes
    /// the core reserves for the target that maps it (`dm_per_bio_data()`,
    /// Linux 6.1 `drivers/md/dm.c` lines 96-102). Empty for a bio the core
    /// did not make. The kernel does not clear them; the model starts them
    /// at zero.
    pub per_bio_data: Vec<u8>,
    /// Which of a line's clones of one bio this is, from 0
    /// (`dm_bio_get_target_bio_nr()`, dm.c lines 114-118): a target that
    /// asked for N flush or discard clones sends each to its own device.
    pub target_bio_nr: u32,
    /// The core's name for this clone, for a target that keeps it past
    /// `map`; `None` for a bio the core did not make.
    pub clone_id: Option<CloneId>,
    /// Whether `bio_endio()` was called on it ([`Bio::endio`]): a target
    /// whose `map` returns `DM_MAPIO_SUBMITTED` either ended the clone
    /// already or keeps it, to send it on or end it later.
    pub ended: bool,
}

impl Bio {
    /// A read of `sectors` sectors from `sector` of `dev`.
    pub fn read(dev: DevT, sector: u64, sectors: u64) -> Bio {
        Bio {
            op: BioOp::Read,
            dev,
            sector,
            data: vec![0; (sectors * SECTOR_SIZE) as usize],
            extent: 0,
            preflush: false,
            fua: false,
            status: BlkStatus::Ok,
            per_bio_data: Vec::new(),
            target_bio_nr: 0,
            clone_id: None,
            ended: false,
        }
    }

    /// A write of `data` (a whole number of sectors) at `sector` of `dev`.
    pub fn write(dev: DevT, sector: u64, data: Vec<u8>) -> Bio {
        Bio {
            op: BioOp::Write,
            dev,
            sector,
            data,
            extent: 0,
            preflush: false,
            fua: false,
            status: BlkStatus::Ok,
            per_bio_data: Vec::new(),
            target_bio_nr: 0,
            clone_id: None,
            ended: false,
        }
    }

    /// An empty flush: a write with `REQ_PREFLUSH` and no data, what
    /// `blkdev_issue_flush()` sends for an `fsync` on a block device.
    pub fn flush(dev: DevT) -> Bio {
        Bio {
            preflush: true,
            ..Bio::write(dev, 0, Vec::new())
        }
    }

    /// An op without data (`Discard`, `SecureErase`, `WriteZeroes`) on
    /// `sectors` sectors from `sector` of `dev`.
    ///
    /// # Panics
    /// If `op` carries data.
    pub fn extent(op: BioOp, dev: DevT, sector: u64, sectors: u64) -> Bio {
        assert!(
            !op.has_data(),
            "{op} carries data: use Bio::read or Bio::write"
        );
        Bio {
            op,
            extent: sectors,
            ..Bio::write(dev, sector, Vec::new())
        }
    }

    /// `bio_sectors(bio)`.
    pub fn sectors(&self) -> u64 {
        if self.op.has_data() {
            self.data.len() as u64 / SECTOR_SIZE
        } else {
            self.extent
        }
    }

    /// `op_is_flush(bio->bi_opf)`: `REQ_PREFLUSH` or `REQ_FUA` is set.
    pub fn is_flush(&self) -> bool {
        self.preflush || self.fua
    }

    /// A piece of this bio: `sectors` sectors from `sector` (on the same
    /// device), with the same op and flags and its share of the data.
    pub fn piece(&self, sector: u64, sectors: u64) -> Bio {
        // Field by field: `..self.clone()` would copy the data only to drop it.
        let mut piece = Bio {
            op: self.op,
            dev: self.dev,
            sector,
            data: Vec::new(),
            extent: 0,
            preflush: self.preflush,
            fua: self.fua,
            status: BlkStatus::Ok,
            per_bio_data: Vec::new(),
            target_bio_nr: self.target_bio_nr,
            clone_id: None,
            ended: false,
        };
        if self.op.has_data() {
            let from = ((sector - self.sector) * SECTOR_SIZE) as usize;
            let to = from + (sectors * SECTOR_SIZE) as usize;
            piece.data = self.data[from..to].to_vec();
        } else {
            piece.extent = sectors;
        }
        piece
    }

    /// `dm_per_bio_data(bio, size)`: the target's per-bio data of this
    /// clone, to write (in `map`).
    ///
    /// # Panics
    /// If `size` is not the `per_io_data_size` the core reserved: in the
    /// kernel the pointer would land in memory that is not the target's.
    pub fn per_bio_data_mut(&mut self, size: usize) -> &mut [u8] {
        self.check_per_bio_data(size);
        &mut self.per_bio_data
    }

    /// `dm_per_bio_data(bio, size)`, to read (in `end_io`).
    ///
    /// # Panics
    /// As [`Bio::per_bio_data_mut`].
    pub fn per_bio_data(&self, size: usize) -> &[u8] {
        self.check_per_bio_data(size);
        &self.per_bio_data
    }

    fn check_per_bio_data(&self, size: usize) {
        assert_eq!(
            self.per_bio_data.len(),
            size,
            "dm_per_bio_data({size}) on a clone with {} bytes of per-bio data: \
             ti->per_io_data_size must be the size the target reads",
            self.per_bio_data.len()
        );
    }

    /// `bio_endio(bio)`: end the bio with its `status`. A target's `map`
    /// that does this returns `DM_MAPIO_SUBMITTED`, and the core completes
    /// the clone at once; one that returns `DM_MAPIO_SUBMITTED` without it
    /// keeps the clone.
    pub fn endio(&mut self) {
        self.ended = true;
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
    /// `DM_MAPIO_SUBMITTED`: the target took the bio: it ended it already
    /// ([`Bio::endio`]), or keeps it to send it on or end it later.
    Submitted,
    /// `DM_MAPIO_KILL`: fail the bio with `BLK_STS_IOERR`.
    Kill,
    /// `DM_MAPIO_REQUEUE`: give the bio back to the core, which tries it
    /// again only during a `noflush` suspend and otherwise fails it.
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
