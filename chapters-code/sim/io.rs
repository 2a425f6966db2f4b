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

use std::rc::Rc;

use super::limits::clones_for;
use super::tables::{BuiltTable, LiveLine};
use super::{DM_MAJOR, LOOP_MAJOR, Simulator, Submission, WriteCache};
use crate::SECTOR_SIZE;
use crate::dm::bio::{Bio, BioOp, BlkStatus, CloneId, DevT, MapResult};
use crate::dm::target::{EndIo, TargetInfo};
use crate::dm::trace::{Remap, TraceEvent};
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
    pub(super) device: String,
    /// As submitted; a read's data is filled in as its pieces end.
    pub(super) bio: Bio,
    /// Pieces not ended yet, waiting in the device's queue included.
    pub(super) remaining: u32,
    pub(super) status: BlkStatus,
    pub(super) waiter: Waiter,
}

/// A `struct dm_io`: one piece of an [`Orig`], with its clones.
pub(super) struct Io {
    pub(super) orig: u64,
    pub(super) device: String,
    /// The piece, as it would be submitted again after a requeue.
    pub(super) piece: Bio,
    /// Clones not ended, and one for the core while it is still mapping.
    pub(super) pending: u32,
    pub(super) status: BlkStatus,
    /// For the empty flushes of a `REQ_PREFLUSH` bio with data: the data,
    /// sent once the flushes have ended (`dm_io_complete()`, dm.c lines
    /// 968-974).
    pub(super) then: Option<Bio>,
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
}

/// A piece waiting in a mapped device's queue (`md->deferred`): submitted
/// while the device was suspended, or handed back during a `noflush`
/// suspend.
pub(super) struct Queued {
    pub(super) orig: u64,
    pub(super) bio: Bio,
}

impl Simulator {
    /// Hand a bio to mapped device `name` (`submit_bio` on `/dev/mapper/NAME`).
    /// The bio's `dev` and `sector` are set from `name` and `sector`.
    pub fn submit(&mut self, name: &str, mut bio: Bio) -> Result<Submission, DmError> {
        let minor = self.device(Ioctl::Info, name)?.minor;
        bio.dev = DevT::new(DM_MAJOR, minor);
        self.trace.push(TraceEvent::Submitted {
            device: name.to_string(),
            op: bio.op,
            sector: bio.sector,
            sectors: bio.sectors(),
        });
        if let Some(status) = self.block_layer_checks(&mut bio) {
            bio.status = status;
            self.complete(name, &bio);
            return Ok(Submission::Done(bio));
        }
        let id = self.next_id();
        self.start_orig(name, id, bio, Waiter::Program(id));
        Ok(match self.completed.remove(&id) {
            Some(bio) => Submission::Done(bio),
            None => Submission::Deferred(id),
        })
    }

    /// A new [`Orig`] on `name`: processed now, or queued if the device is
    /// suspended (`dm_submit_bio()`, dm.c lines 1805-1814).
    fn start_orig(&mut self, name: &str, id: u64, bio: Bio, waiter: Waiter) {
        self.origs.insert(
            id,
            Orig {
                device: name.to_string(),
                bio: bio.clone(),
                remaining: 1,
                status: BlkStatus::Ok,
                waiter,
            },
        );
        if self.mapped[name].suspended {
            self.trace.push(TraceEvent::Deferred {
                device: name.to_string(),
            });
            let md = self.mapped.get_mut(name).expect("exists");
            md.deferred.push_back(Queued { orig: id, bio });
        } else {
            self.split_and_process(name, id, bio);
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

    /// `dm_split_and_process_bio()`: one piece of `orig` (all of it, or what
    /// a requeue handed back) on a running device: cut at line ends, each
    /// piece mapped as an [`Io`] of its own.
    pub(super) fn split_and_process(&mut self, name: &str, orig: u64, bio: Bio) {
        let table = self.mapped.get(name).and_then(|md| md.live.clone());
        let size = table.as_ref().map_or(0, |t| t.sectors());
        let end = bio.sector.checked_add(bio.sectors());
        if end.is_none_or(|end| end > size) {
            self.log(format!(
                "{}: attempt to access beyond end of device",
                self.kernel_name(bio.dev)
            ));
            self.piece_done(orig, BlkStatus::IoErr);
            return;
        }
        let table = table.expect("a device with sectors has a live table");
        if bio.preflush {
            // `dm_split_and_process_bio()` (dm.c lines 1754-1757): a
            // PREFLUSH bio goes to every line as empty flushes first; its
            // data, if any, is sent again without PREFLUSH once they end.
            let then = (bio.sectors() > 0).then(|| Bio {
                preflush: false,
                ..bio.clone()
            });
            let io = self.start_io(orig, name, bio.clone(), then);
            self.send_empty_flush(io, &table, bio.dev);
            self.io_dec(io, BlkStatus::Ok);
            self.piece_done(orig, BlkStatus::Ok);
            return;
        }
        let mut sector = bio.sector;
        let last = bio.sector + bio.sectors();
        while sector < last {
            let index = table.find(sector).expect("sector checked against size");
            let line = &table.lines[index];
            // Reads and writes are cut at the line's end and at its
            // `max_io_len` (`max_io_len()`, dm.c lines 1156-1172); a discard,
            // secure erase or write-zeroes only at the line's end
            // (`__send_changing_extent_only()`, lines 1568-1569), and the
            // target maps the whole range (as `stripe_map_range()` does).
            let piece_end = if bio.op.has_data() {
                last.min(piece_limit(&line.info, sector))
            } else {
                last.min(line.info.begin + line.info.len)
            };
            // `__process_abnormal_io()` (dm.c lines 1601-1631): a line that
            // asked for no clones of a discard, secure erase or write-zeroes
            // fails the whole bio with BLK_STS_NOTSUPP; one that asked for
            // N gets N clones of its piece.
            let clones = clones_for(&line.info, bio.op);
            if clones == 0 {
                self.orig_error(orig, BlkStatus::NotSupp);
                break;
            }
            let piece = bio.piece(sector, piece_end - sector);
            let io = self.start_io(orig, name, piece.clone(), None);
            for nr in 0..clones {
                let mut clone = piece.clone();
                clone.target_bio_nr = nr;
                self.trace.push(TraceEvent::Clone {
                    line: index,
                    target: line.line.target.clone(),
                    sector,
                    sectors: piece_end - sector,
                });
                self.map_clone(io, &table, index, clone);
            }
            self.io_dec(io, BlkStatus::Ok);
            sector = piece_end;
        }
        self.piece_done(orig, BlkStatus::Ok);
    }

    /// A new [`Io`] for a piece of `orig`, counted among its pieces.
    fn start_io(&mut self, orig: u64, name: &str, piece: Bio, then: Option<Bio>) -> u64 {
        if let Some(orig) = self.origs.get_mut(&orig) {
            orig.remaining += 1;
        }
        let id = self.next_id();
        self.ios.insert(
            id,
            Io {
                orig,
                device: name.to_string(),
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
                    target: line.line.target.clone(),
                    sector: 0,
                    sectors: 0,
                });
                let flush = Bio {
                    target_bio_nr: nr,
                    ..Bio::flush(dev)
                };
                self.map_clone(io, table, index, flush);
            }
        }
    }

    pub(super) fn complete(&mut self, name: &str, bio: &Bio) {
        self.trace.push(TraceEvent::Completed {
            device: name.to_string(),
            status: bio.status,
        });
    }

    /// The `dm_target` fields as a callback of `line` on device `name` reads
    /// them now.
    pub(super) fn info_now(&self, name: &str, line: &LiveLine) -> TargetInfo {
        TargetInfo {
            noflush_suspending: self
                .mapped
                .get(name)
                .is_some_and(|md| md.noflush_suspending),
            ..line.info
        }
    }

    /// `__map_bio`: call the target's `map` and act on what it returns
    /// (Linux 6.1 `drivers/md/dm.c` lines 1384-1444). A remapped clone goes
    /// down and, once ended, to the target's `end_io` (`clone_endio()`,
    /// lines 1088-1143); a killed or requeued one is freed without it; one
    /// the target took is ended by it, now or later.
    fn map_clone(&mut self, io: u64, table: &Rc<BuiltTable>, index: usize, mut clone: Bio) {
        let line = &table.lines[index];
        // The clone's per-bio data: `alloc_tio()` carves the clone out of a
        // bioset whose front pad holds the largest `per_io_data_size` of the
        // table (`dm_table_alloc_md_mempools()`, dm-table.c lines
        // 1027-1057), so `map` and `end_io` find the same bytes.
        clone.per_bio_data = vec![0; line.info.per_io_data_size];
        let id = CloneId(self.next_id());
        clone.clone_id = Some(id);
        self.ios.get_mut(&io).expect("in flight").pending += 1;
        let name = self.ios[&io].device.clone();
        let info = self.info_now(&name, line);
        let mut attempt = clone.clone();
        let result = line.target.map(&info, &mut attempt);
        let to = (result == MapResult::Remapped).then_some((attempt.dev, attempt.sector));
        self.trace.push(TraceEvent::Mapped {
            line: index,
            target: line.line.target.clone(),
            result,
            to,
        });
        let in_flight = CloneInFlight {
            io,
            table: Rc::clone(table),
            line: index,
            bio: attempt,
            before: (clone.dev, clone.sector),
            held: false,
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
            MapResult::Kill => self.io_dec(io, BlkStatus::IoErr),
            MapResult::Requeue => self.io_dec(io, BlkStatus::DmRequeue),
        }
    }

    /// `dm_submit_bio_remap()` (dm.c line 1362 in 6.1) fires `block_bio_remap`
    /// with the mapped device and the clone's sector from before `map`.
    fn record_remap(&mut self, before: (DevT, u64), after: &Bio) {
        let op = match after.op {
            BioOp::Read => "read".to_string(),
            BioOp::Write if after.preflush && after.sectors() == 0 => "flush".to_string(),
            BioOp::Write => "write".to_string(),
            BioOp::Discard => "discard".to_string(),
            // The chapters send none of these; named, not claimed to be
            // what the kernel's event prints for them.
            other => format!("{other:?}"),
        };
        let device = self
            .mapped
            .iter()
            .find(|(_, md)| md.minor == before.0.minor)
            .map_or_else(|| before.0.to_string(), |(name, _)| name.clone());
        let remap = Remap {
            op,
            device,
            sector: before.1,
            sectors: after.sectors(),
            to: self.device_path(after.dev),
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
                let minor = clone.bio.dev.minor;
                let below = self
                    .mapped
                    .iter()
                    .find(|(_, md)| md.minor == minor)
                    .map(|(n, _)| n.clone());
                let Some(below) = below else {
                    clone.bio.status = BlkStatus::IoErr;
                    return self.end_clone(clone);
                };
                let id = clone.bio.clone_id.expect("a clone has an id");
                let bio = Bio {
                    per_bio_data: Vec::new(),
                    clone_id: None,
                    ..clone.bio.clone()
                };
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

    /// `clone_endio()` (dm.c lines 1088-1143): the target's `end_io` sees
    /// the clone's status and may change it, or ask for the bio again; a
    /// read's data joins the original's; then the clone's io counts it.
    pub(super) fn end_clone(&mut self, clone: CloneInFlight) {
        let line = &clone.table.lines[clone.line];
        let name = self.ios[&clone.io].device.clone();
        let info = self.info_now(&name, line);
        let mut status = clone.bio.status;
        let status = match line.target.end_io(&info, &clone.bio, &mut status) {
            EndIo::Done => status,
            EndIo::Requeue => BlkStatus::DmRequeue,
        };
        if clone.bio.op == BioOp::Read {
            let orig = self.ios[&clone.io].orig;
            if let Some(orig) = self.origs.get_mut(&orig) {
                let from = ((clone.before.1 - orig.bio.sector) * SECTOR_SIZE) as usize;
                let to = from + clone.bio.data.len();
                orig.bio.data[from..to].copy_from_slice(&clone.bio.data);
            }
        }
        self.io_dec(clone.io, status);
    }

    /// `dm_io_set_error()` and `dm_io_dec_pending()` (dm.c lines
    /// 1046-1065): one clone of `io` has
    /// ended with `status`. During a `noflush` suspend a requeue outranks
    /// any error.
    fn io_dec(&mut self, id: u64, status: BlkStatus) {
        let name = self.ios[&id].device.clone();
        let noflush = self
            .mapped
            .get(&name)
            .is_some_and(|md| md.noflush_suspending);
        let io = self.ios.get_mut(&id).expect("in flight");
        if status != BlkStatus::Ok && !(io.status == BlkStatus::DmRequeue && noflush) {
            io.status = status;
        }
        io.pending -= 1;
        if io.pending == 0 {
            self.io_complete(id);
        }
    }

    /// `__dm_io_complete()` and `dm_io_complete()` (dm.c lines 934-1032): a
    /// piece whose clones have
    /// all ended. Handed back during a `noflush` suspend, it waits in the
    /// device's queue for resume, at its head; handed back otherwise, it
    /// fails (`dm_handle_requeue()`, lines 887-926). The flushes of a
    /// PREFLUSH bio with data are followed by the data.
    fn io_complete(&mut self, id: u64) {
        let io = self.ios.remove(&id).expect("in flight");
        let md = &self.mapped[&io.device];
        let (noflush, suspended) = (md.noflush_suspending, md.suspended);
        let mut status = io.status;
        if status == BlkStatus::DmRequeue {
            if noflush {
                let md = self.mapped.get_mut(&io.device).expect("exists");
                md.deferred.push_front(Queued {
                    orig: io.orig,
                    bio: io.piece,
                });
                return;
            }
            status = BlkStatus::IoErr;
        }
        if let (Some(then), BlkStatus::Ok) = (io.then, status) {
            // The data is a piece of its own, queued behind the flushes
            // (`queue_io()`): sent now, or after resume.
            if let Some(orig) = self.origs.get_mut(&io.orig) {
                orig.remaining += 1;
            }
            self.piece_done(io.orig, BlkStatus::Ok);
            if suspended {
                let md = self.mapped.get_mut(&io.device).expect("exists");
                md.deferred.push_back(Queued {
                    orig: io.orig,
                    bio: then,
                });
            } else {
                self.split_and_process(&io.device, io.orig, then);
            }
            return;
        }
        self.piece_done(io.orig, status);
    }

    /// Record an error for the whole of `orig`.
    fn orig_error(&mut self, orig: u64, status: BlkStatus) {
        if let Some(orig) = self.origs.get_mut(&orig) {
            orig.status = status;
        }
    }

    /// One piece of `orig` has ended with `status`; when the last has, the
    /// bio ends and whoever waits for it is told.
    pub(super) fn piece_done(&mut self, id: u64, status: BlkStatus) {
        let Some(orig) = self.origs.get_mut(&id) else {
            return;
        };
        if status != BlkStatus::Ok {
            orig.status = status;
        }
        orig.remaining -= 1;
        if orig.remaining > 0 {
            return;
        }
        let orig = self.origs.remove(&id).expect("looked up above");
        let mut bio = orig.bio;
        bio.status = orig.status;
        self.complete(&orig.device, &bio);
        match orig.waiter {
            Waiter::Program(id) => {
                self.completed.insert(id, bio);
            }
            Waiter::Clone(id) => {
                let mut clone = self.clones.remove(&id).expect("the clone waits below");
                clone.bio.status = bio.status;
                if clone.bio.op == BioOp::Read {
                    clone.bio.data = bio.data;
                }
                self.end_clone(clone);
            }
        }
    }

    /// Ios of mapped device `name` not ended: what `dm_wait_for_completion()`
    /// waits for.
    pub(super) fn in_flight(&self, name: &str) -> usize {
        self.ios.values().filter(|io| io.device == name).count()
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
