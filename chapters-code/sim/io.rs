//! The bio path: a bio submitted to a mapped device, split at table lines,
//! mapped by each line's target, and sent down to the devices below; and
//! its way back up as the pieces end, now or later.
//!
//! The model keeps the kernel's three layers of a bio in flight:
//! - an [`Orig`], the bio a program (or a mapped device above) submitted,
//!   which ends once every piece of it has ended;
//! - an [`Io`], the kernel's `struct dm_io`: one piece of it, cut at a
//!   line's end or at `max_io_len`, with its clones. Linux 6.1 maps the
//!   first piece and submits the rest again (`dm_split_and_process_bio()`,
//!   `drivers/md/dm.c` lines 1732-1789), so each piece is an io of its own;
//! - a clone, handed to a target's `map`. Most end at once (a loop device
//!   below answers at once); a [`CloneInFlight`] is one a target kept
//!   (`DM_MAPIO_SUBMITTED` without ending it) or one a mapped device below
//!   has not ended yet.
//!
//! A bio's way allocates nothing but the bio. Its data stays in its
//! [`Orig`]: a piece names a run of its sectors ([`Piece`]), and a clone of
//! a piece that is all of the bio borrows the bio's own pages (as the
//! kernel's clone shares the original's), giving them back when it ends. Only
//! the clones of a bio cut in pieces get copies of their shares. Names in
//! the trace are shared, not copied. Its way back up, as its pieces end, is
//! in `completion.rs`.

use std::rc::Rc;

use super::limits::clones_for;
use super::tables::BuiltTable;
use super::{DM_MAJOR, LOOP_MAJOR, RecordedRemap, Simulator, Submission, WriteCache};
use crate::SECTOR_SIZE;
use crate::dm::bio::{Bio, BioOp, BlkStatus, CloneId, DevT, MapResult};
use crate::dm::target::TargetInfo;
use crate::dm::trace::TraceEvent;
use crate::dm::{DmError, Ioctl};
use crate::errno::Errno;

/// Who is told when an [`Orig`] ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Waiter {
    /// A program: the bio goes to [`Simulator::take_completed`] under this id.
    Program(u64),
    /// A clone a mapped device above sent down to this one.
    Clone(CloneId),
}

/// A bio submitted to a mapped device, until every piece of it has ended.
pub(super) struct Orig {
    pub(super) device: Rc<str>,
    /// As submitted; a read's data is filled in as its pieces end. Its
    /// data is lent to a clone that covers all of it ([`CloneInFlight::lent`])
    /// until that clone ends.
    pub(super) bio: Bio,
    /// Pieces not ended yet, waiting in the device's queue included.
    pub(super) remaining: u32,
    pub(super) status: BlkStatus,
    pub(super) waiter: Waiter,
}

/// A run of an [`Orig`]'s sectors, as the core cuts and queues it: its op,
/// device and FUA are the original's, and so is its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Piece {
    pub(super) sector: u64,
    pub(super) sectors: u64,
    /// `REQ_PREFLUSH`: set on a whole bio that still has to send its
    /// empty flushes first.
    pub(super) preflush: bool,
}

impl Piece {
    /// All of `bio`, with its flags.
    fn whole(bio: &Bio) -> Piece {
        Piece {
            sector: bio.sector,
            sectors: bio.sectors(),
            preflush: bio.preflush,
        }
    }
}

/// A `struct dm_io`: one piece of an [`Orig`], with its clones.
pub(super) struct Io {
    pub(super) orig: u64,
    pub(super) device: Rc<str>,
    /// The piece, as it would be submitted again after a requeue.
    pub(super) piece: Piece,
    /// Clones not ended, and one for the core while it is still mapping.
    pub(super) pending: u32,
    pub(super) status: BlkStatus,
    /// For the empty flushes of a `REQ_PREFLUSH` bio with data: the data,
    /// sent once the flushes have ended (`dm_io_complete()`, dm.c lines
    /// 968-974).
    pub(super) then: Option<Piece>,
}

/// A clone that has not ended: kept by its target, or sent to a mapped
/// device below that has not ended it yet.
pub(super) struct CloneInFlight {
    pub(super) io: u64,
    pub(super) table: Rc<BuiltTable>,
    pub(super) line: usize,
    /// As `map` left it.
    pub(super) bio: Bio,
    /// Its device and first sector before `map`: where its data sits in
    /// the original, and what `block_bio_remap` reports.
    pub(super) before: (DevT, u64),
    /// Whether its target keeps it (rather than a device below).
    pub(super) held: bool,
    /// Whether its data is the original's own, lent to it whole and given
    /// back when it ends; otherwise a copy of its share.
    pub(super) lent: bool,
}

/// A piece waiting in a mapped device's queue (`md->deferred`): submitted
/// while the device was suspended, or handed back during a `noflush`
/// suspend.
pub(super) struct Queued {
    pub(super) orig: u64,
    pub(super) piece: Piece,
}

impl Simulator {
    /// Hand a bio to mapped device `name` (`submit_bio` on `/dev/mapper/NAME`).
    /// The bio's `dev` and `sector` are set from `name` and `sector`.
    pub fn submit(&mut self, name: &str, mut bio: Bio) -> Result<Submission, DmError> {
        let md = self.device(Ioctl::Info, name)?;
        let (minor, device) = (md.minor, Rc::clone(&md.name));
        bio.dev = DevT::new(DM_MAJOR, minor);
        self.trace.push(TraceEvent::Submitted {
            device: Rc::clone(&device),
            op: bio.op,
            sector: bio.sector,
            sectors: bio.sectors(),
        });
        if let Some(status) = self.block_layer_checks(&mut bio) {
            bio.status = status;
            self.complete(&device, &bio);
            return Ok(Submission::Done(bio));
        }
        let id = self.next_id();
        self.start_orig(&device, id, bio, Waiter::Program(id));
        Ok(match self.completed.remove(&id) {
            Some(bio) => Submission::Done(bio),
            None => Submission::Deferred(id),
        })
    }

    /// A new [`Orig`] on `name`: processed now, or queued if the device is
    /// suspended (`dm_submit_bio()`, dm.c lines 1805-1814).
    fn start_orig(&mut self, name: &Rc<str>, id: u64, bio: Bio, waiter: Waiter) {
        let piece = Piece::whole(&bio);
        self.origs.insert(
            id,
            Orig {
                device: Rc::clone(name),
                bio,
                remaining: 1,
                status: BlkStatus::Ok,
                waiter,
            },
        );
        if self.mapped[&**name].suspended {
            self.trace.push(TraceEvent::Deferred {
                device: Rc::clone(name),
            });
            let md = self.mapped.get_mut(&**name).expect("exists");
            md.deferred.push_back(Queued { orig: id, piece });
        } else {
            self.split_and_process(name, id, piece);
        }
    }

    /// `fsync` on `/dev/mapper/NAME` once its data is written: an empty flush
    /// (`blkdev_issue_flush()`).
    pub fn flush(&mut self, name: &str) -> Result<Submission, DmError> {
        self.submit(name, Bio::flush(DevT::new(0, 0)))
    }

    /// `blkdiscard -o OFFSET -l LEN /dev/mapper/NAME` in one bio, or the
    /// same with another op without data. Both must be whole sectors.
    pub fn submit_extent(
        &mut self,
        name: &str,
        op: BioOp,
        offset: u64,
        len: u64,
    ) -> Result<Submission, DmError> {
        check_alignment(name, offset, len)?;
        let bio = Bio::extent(op, DevT::new(0, 0), offset / SECTOR_SIZE, len / SECTOR_SIZE);
        self.submit(name, bio)
    }

    /// What `submit_bio_noacct()` (Linux 6.1 `block/blk-core.c` line 712)
    /// does before a device's driver sees a bio: with no write cache,
    /// PREFLUSH and FUA are dropped and an empty flush ends at once (lines
    /// 746-753); an op the device does not offer ends with
    /// `BLK_STS_NOTSUPP` (lines 768-783). `Some` if the bio ended here.
    fn block_layer_checks(&self, bio: &mut Bio) -> Option<BlkStatus> {
        if bio.is_flush() && self.device_write_cache(bio.dev) == WriteCache::WriteThrough {
            bio.preflush = false;
            bio.fua = false;
            if bio.sectors() == 0 {
                return Some(BlkStatus::Ok);
            }
        }
        (!self.device_offers(bio.dev, bio.op)).then_some(BlkStatus::NotSupp)
    }

    /// A bio that has ended since [`Simulator::submit`] answered
    /// [`Submission::Deferred`], by the id it gave.
    pub fn take_completed(&mut self, id: u64) -> Option<Bio> {
        self.completed.remove(&id)
    }

    /// Read `len` bytes at byte `offset` of mapped device `name`. Both must be
    /// whole sectors.
    pub fn read(&mut self, name: &str, offset: u64, len: u64) -> Result<Submission, DmError> {
        check_alignment(name, offset, len)?;
        let bio = Bio::read(DevT::new(0, 0), offset / SECTOR_SIZE, len / SECTOR_SIZE);
        self.submit(name, bio)
    }

    /// Write `data` at byte `offset` of mapped device `name`, in whole sectors.
    pub fn write(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<Submission, DmError> {
        check_alignment(name, offset, data.len() as u64)?;
        let bio = Bio::write(DevT::new(0, 0), offset / SECTOR_SIZE, data.to_vec());
        self.submit(name, bio)
    }

    /// `dm_split_and_process_bio()`: a piece of `orig` (all of it, or what
    /// a requeue handed back) on a running device: cut at line ends, each
    /// piece mapped as an [`Io`] of its own.
    pub(super) fn split_and_process(&mut self, name: &str, orig: u64, piece: Piece) {
        let md = &self.mapped[name];
        let (device, table) = (Rc::clone(&md.name), md.live.clone());
        let (op, dev) = {
            let bio = &self.origs[&orig].bio;
            (bio.op, bio.dev)
        };
        let size = table.as_ref().map_or(0, |t| t.sectors());
        let end = piece.sector.checked_add(piece.sectors);
        if end.is_none_or(|end| end > size) {
            self.log(format!(
                "{}: attempt to access beyond end of device",
                self.kernel_name(dev)
            ));
            self.piece_done(orig, BlkStatus::IoErr);
            return;
        }
        let table = table.expect("a device with sectors has a live table");
        if piece.preflush {
            // `dm_split_and_process_bio()` (dm.c lines 1754-1757): a
            // PREFLUSH bio goes to every line as empty flushes first; its
            // data, if any, is sent again without PREFLUSH once they end.
            let then = (piece.sectors > 0).then_some(Piece {
                preflush: false,
                ..piece
            });
            let io = self.start_io(orig, &device, piece, then);
            self.send_empty_flush(io, &table, dev);
            self.io_dec(io, BlkStatus::Ok);
            self.piece_done(orig, BlkStatus::Ok);
            return;
        }
        let mut sector = piece.sector;
        let last = piece.sector + piece.sectors;
        while sector < last {
            let index = table.find(sector).expect("sector checked against size");
            let line = &table.lines[index];
            // Reads and writes are cut at the line's end and at its
            // `max_io_len` (`max_io_len()`, dm.c lines 1156-1172); a discard,
            // secure erase or write-zeroes only at the line's end
            // (`__send_changing_extent_only()`, lines 1568-1569), and the
            // target maps the whole range (as `stripe_map_range()` does).
            let piece_end = if op.has_data() {
                last.min(piece_limit(&line.info, sector))
            } else {
                last.min(line.info.begin + line.info.len)
            };
            // `__process_abnormal_io()` (dm.c lines 1601-1631): a line that
            // asked for no clones of a discard, secure erase or write-zeroes
            // fails the whole bio with BLK_STS_NOTSUPP; one that asked for
            // N gets N clones of its piece.
            let clones = clones_for(&line.info, op);
            if clones == 0 {
                self.orig_error(orig, BlkStatus::NotSupp);
                break;
            }
            let part = Piece {
                sector,
                sectors: piece_end - sector,
                preflush: false,
            };
            let io = self.start_io(orig, &device, part, None);
            for nr in 0..clones {
                let (clone, lent) = self.clone_piece(orig, part, nr, clones);
                self.trace.push(TraceEvent::Clone {
                    line: index,
                    target: Rc::clone(&line.target_name),
                    sector,
                    sectors: part.sectors,
                });
                self.map_clone(io, &table, index, clone, lent);
            }
            self.io_dec(io, BlkStatus::Ok);
            sector = piece_end;
        }
        self.piece_done(orig, BlkStatus::Ok);
    }

    /// Clone `nr` of the `clones` a line takes of `part` of `orig`
    /// (`alloc_tio()`, dm.c lines 604-640): the original's op, device and
    /// FUA, and its share of the data. A clone that is all of the original
    /// and its line's only one borrows the original's own pages, as the
    /// kernel's clone shares them (`bio_alloc_clone()`); it gives them back
    /// when it ends (`true`). Any other gets a copy of its share.
    fn clone_piece(&mut self, orig: u64, part: Piece, nr: u32, clones: u32) -> (Bio, bool) {
        let bio = &mut self.origs.get_mut(&orig).expect("in flight").bio;
        let whole = bio.op.has_data()
            && clones == 1
            && part.sector == bio.sector
            && part.sectors == bio.sectors();
        let mut clone = if whole {
            let data = std::mem::take(&mut bio.data);
            Bio {
                status: BlkStatus::Ok,
                ended: false,
                ..with_pages(bio, data)
            }
        } else {
            bio.piece(part.sector, part.sectors)
        };
        clone.preflush = part.preflush;
        clone.target_bio_nr = nr;
        (clone, whole)
    }

    /// A new [`Io`] for a piece of `orig`, counted among its pieces.
    fn start_io(&mut self, orig: u64, name: &Rc<str>, piece: Piece, then: Option<Piece>) -> u64 {
        if let Some(orig) = self.origs.get_mut(&orig) {
            orig.remaining += 1;
        }
        let id = self.next_id();
        self.ios.insert(
            id,
            Io {
                orig,
                device: Rc::clone(name),
                piece,
                pending: 1,
                status: BlkStatus::Ok,
                then,
            },
        );
        id
    }

    /// `__send_empty_flush()` (dm.c lines 1524-1561): an empty PREFLUSH
    /// write, at sector 0 of the mapped device, cloned `num_flush_bios`
    /// times for each line; a line that asked for none gets none.
    fn send_empty_flush(&mut self, io: u64, table: &Rc<BuiltTable>, dev: DevT) {
        for (index, line) in table.lines.iter().enumerate() {
            for nr in 0..line.info.num_flush_bios {
                self.trace.push(TraceEvent::Clone {
                    line: index,
                    target: Rc::clone(&line.target_name),
                    sector: 0,
                    sectors: 0,
                });
                let flush = Bio {
                    target_bio_nr: nr,
                    ..Bio::flush(dev)
                };
                self.map_clone(io, table, index, flush, false);
            }
        }
    }

    /// `__map_bio`: call the target's `map` and act on what it returns
    /// (Linux 6.1 `drivers/md/dm.c` lines 1384-1444). A remapped clone goes
    /// down and, once ended, to the target's `end_io` (`clone_endio()`,
    /// lines 1088-1143); a killed or requeued one is freed without it; one
    /// the target took is ended by it, now or later. `lent`: the clone's
    /// data is the original's own.
    fn map_clone(
        &mut self,
        io: u64,
        table: &Rc<BuiltTable>,
        index: usize,
        mut clone: Bio,
        lent: bool,
    ) {
        let line = &table.lines[index];
        // The clone's per-bio data: `alloc_tio()` carves the clone out of a
        // bioset whose front pad holds the largest `per_io_data_size` of the
        // table (`dm_table_alloc_md_mempools()`, dm-table.c lines
        // 1027-1057), so `map` and `end_io` find the same bytes.
        clone.per_bio_data = vec![0; line.info.per_io_data_size];
        let id = CloneId(self.next_id());
        clone.clone_id = Some(id);
        let in_io = self.ios.get_mut(&io).expect("in flight");
        in_io.pending += 1;
        let name = Rc::clone(&in_io.device);
        let info = self.info_now(&name, line);
        let before = (clone.dev, clone.sector);
        let result = line.target.map(&info, &mut clone);
        let to = (result == MapResult::Remapped).then_some((clone.dev, clone.sector));
        self.trace.push(TraceEvent::Mapped {
            line: index,
            target: Rc::clone(&line.target_name),
            result,
            to,
        });
        let in_flight = CloneInFlight {
            io,
            table: Rc::clone(table),
            line: index,
            bio: clone,
            before,
            held: false,
            lent,
        };
        match result {
            MapResult::Remapped => self.send_down(in_flight),
            // The target ended the clone itself with `bio_endio()`, which
            // runs the clone's `bi_end_io`, the core's `clone_endio()`, and
            // so the target's own `end_io` too.
            MapResult::Submitted if in_flight.bio.ended => self.end_clone(in_flight),
            // It keeps the clone, to send it on or end it later.
            MapResult::Submitted => {
                self.clones.insert(
                    id,
                    CloneInFlight {
                        held: true,
                        ..in_flight
                    },
                );
            }
            // `free_tio()` and no `end_io` (lines 1429-1438); a requeued
            // clone leaves its io marked BLK_STS_DM_REQUEUE.
            MapResult::Kill => {
                self.give_back_pages(in_flight);
                self.io_dec(io, BlkStatus::IoErr);
            }
            MapResult::Requeue => {
                self.give_back_pages(in_flight);
                self.io_dec(io, BlkStatus::DmRequeue);
            }
        }
    }

    /// `dm_submit_bio_remap()` (dm.c line 1362 in 6.1) fires `block_bio_remap`
    /// with the mapped device and the clone's sector from before `map`.
    fn record_remap(&mut self, before: (DevT, u64), after: &Bio) {
        let op = match after.op {
            BioOp::Read => "read",
            BioOp::Write if after.preflush && after.sectors() == 0 => "flush",
            BioOp::Write => "write",
            BioOp::Discard => "discard",
            // The chapters send none of these; named, not claimed to be
            // what the kernel's event prints for them.
            BioOp::SecureErase => "SecureErase",
            BioOp::WriteZeroes => "WriteZeroes",
        };
        let device = self
            .mapped_by_minor(before.0.minor)
            .map_or_else(|| before.0.to_string().into(), |md| Rc::clone(&md.name));
        let remap = RecordedRemap {
            op,
            device,
            sector: before.1,
            sectors: after.sectors(),
            to: self.shared_device_path(after.dev),
            to_sector: after.sector,
        };
        self.remaps.push(remap);
    }

    /// `dm_submit_bio_remap()` then `submit_bio_noacct()` on the device the
    /// target remapped the clone to. A loop device ends it at once; a
    /// mapped device below ends it when its own pieces have ended.
    pub(super) fn send_down(&mut self, mut clone: CloneInFlight) {
        self.record_remap(clone.before, &clone.bio);
        if let Some(status) = self.block_layer_checks(&mut clone.bio) {
            clone.bio.status = status;
            return self.end_clone(clone);
        }
        match clone.bio.dev.major {
            LOOP_MAJOR => {
                self.loop_io(&mut clone.bio);
                self.end_clone(clone);
            }
            DM_MAJOR => {
                let below = self
                    .mapped_by_minor(clone.bio.dev.minor)
                    .map(|md| Rc::clone(&md.name));
                let Some(below) = below else {
                    clone.bio.status = BlkStatus::IoErr;
                    return self.end_clone(clone);
                };
                let id = clone.bio.clone_id.expect("a clone has an id");
                // The device below gets a bio of its own over the clone's
                // pages, which it hands back when that bio ends.
                let pages = std::mem::take(&mut clone.bio.data);
                let bio = with_pages(&clone.bio, pages);
                self.clones.insert(id, clone);
                let orig = self.next_id();
                self.start_orig(&below, orig, bio, Waiter::Clone(id));
            }
            _ => {
                clone.bio.status = BlkStatus::IoErr;
                self.end_clone(clone);
            }
        }
    }
}

/// `bio` over `data`: every field copied but the data, the per-bio data and
/// the clone id, which belong to the clone the core made. (Field by field:
/// `..bio.clone()` would copy the data only to drop it.)
fn with_pages(bio: &Bio, data: Vec<u8>) -> Bio {
    Bio {
        op: bio.op,
        dev: bio.dev,
        sector: bio.sector,
        data,
        extent: bio.extent,
        preflush: bio.preflush,
        fua: bio.fua,
        status: bio.status,
        per_bio_data: Vec::new(),
        target_bio_nr: bio.target_bio_nr,
        clone_id: None,
        ended: bio.ended,
    }
}

/// `max_io_len()` in dm.c: where the piece starting at `sector` must end at
/// the latest: the line's end, or the next multiple of `max_io_len` counted
/// from the line's start.
fn piece_limit(info: &TargetInfo, sector: u64) -> u64 {
    let line_end = info.begin + info.len;
    if info.max_io_len == 0 {
        return line_end;
    }
    let offset = info.target_offset(sector);
    let boundary = sector + (info.max_io_len - offset % info.max_io_len);
    line_end.min(boundary)
}

fn check_alignment(name: &str, offset: u64, len: u64) -> Result<(), DmError> {
    if !offset.is_multiple_of(SECTOR_SIZE) || !len.is_multiple_of(SECTOR_SIZE) {
        return Err(DmError {
            ioctl: Ioctl::Info,
            device: name.to_string(),
            errno: Errno::EINVAL,
            log: vec![format!(
                "dm-workbook: I/O at byte {offset} for {len} bytes is not in whole 512-byte sectors"
            )],
        });
    }
    Ok(())
}
