//! The bio path: a bio submitted to a mapped device, split at table lines,
//! mapped by each line's target, and sent down to the devices below.

use super::limits::clones_for;
use super::tables::{BuiltTable, LiveLine};
use super::{DM_MAJOR, LOOP_MAJOR, RecordedRemap, Simulator, Submission, WriteCache};
use std::rc::Rc;

use crate::SECTOR_SIZE;
use crate::dm::bio::{Bio, BioOp, BlkStatus, DevT, MapResult};
use crate::dm::target::{EndIo, TargetInfo};
use crate::dm::trace::TraceEvent;
use crate::dm::{DmError, Ioctl};
use crate::errno::Errno;

impl Simulator {
    /// Hand a bio to mapped device `name` (`submit_bio` on `/dev/mapper/NAME`).
    /// The bio's `dev` and `sector` are set from `name` and `sector`.
    pub fn submit(&mut self, name: &str, mut bio: Bio) -> Result<Submission, DmError> {
        let (minor, suspended, shared_name) = {
            let md = self.device(Ioctl::Info, name)?;
            (md.minor, md.suspended, md.name.clone())
        };
        bio.dev = DevT::new(DM_MAJOR, minor);
        self.trace.push(TraceEvent::Submitted {
            device: shared_name.clone(),
            op: bio.op,
            sector: bio.sector,
            sectors: bio.sectors(),
        });
        if let Some(status) = self.block_layer_checks(&mut bio) {
            bio.status = status;
            self.complete(&shared_name, &bio);
            return Ok(Submission::Done(bio));
        }
        if suspended {
            let id = self.next_bio_id;
            self.next_bio_id += 1;
            self.trace.push(TraceEvent::Deferred {
                device: shared_name,
            });
            self.mapped
                .get_mut(name)
                .expect("exists")
                .deferred
                .push_back((id, bio));
            return Ok(Submission::Deferred(id));
        }
        Ok(Submission::Done(self.process(name, bio)))
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

    /// A deferred bio that has since ended, by the id [`Simulator::submit`] gave.
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

    /// The core's handling of one bio on a resumed device: split it at line
    /// boundaries, map each piece, send remapped pieces down, gather the result.
    pub(super) fn process(&mut self, name: &str, mut bio: Bio) -> Bio {
        let md = &self.mapped[name];
        let (name, table) = (md.name.clone(), md.live.clone());
        let name = &name;
        let size = table.as_ref().map_or(0, |t| t.sectors());
        let end = bio.sector.checked_add(bio.sectors());
        if end.is_none_or(|end| end > size) {
            self.log(format!(
                "{}: attempt to access beyond end of device",
                self.kernel_name(bio.dev)
            ));
            bio.status = BlkStatus::IoErr;
            self.complete(name, &bio);
            return bio;
        }
        let table = table.expect("a device with sectors has a live table");
        if bio.preflush {
            // `dm_split_and_process_bio()` (dm.c lines 1754-1757): a PREFLUSH
            // bio goes to every line as empty flushes first; its data, if
            // any, is sent again without PREFLUSH once they end
            // (`dm_io_complete()`, lines 968-974).
            bio.status = self.send_empty_flush(&table, bio.dev);
            bio.preflush = false;
            if bio.sectors() == 0 || bio.status != BlkStatus::Ok {
                self.complete(name, &bio);
                return bio;
            }
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
                bio.status = BlkStatus::NotSupp;
                break;
            }
            // A bio that one line takes whole lends its pages to its one
            // clone and gets them back when it ends, as the kernel's clone
            // shares the original's pages; a split bio's pieces each get a
            // copy of their share.
            let whole =
                bio.op.has_data() && clones == 1 && sector == bio.sector && piece_end == last;
            for nr in 0..clones {
                let mut clone = if whole {
                    let mut clone = bio.piece(sector, 0);
                    clone.data = std::mem::take(&mut bio.data);
                    clone
                } else {
                    bio.piece(sector, piece_end - sector)
                };
                clone.target_bio_nr = nr;
                self.trace.push(TraceEvent::Clone {
                    line: index,
                    target: line.target_name.clone(),
                    sector,
                    sectors: piece_end - sector,
                });
                let clone = self.map_piece(index, line, clone);
                if clone.status != BlkStatus::Ok {
                    bio.status = clone.status;
                }
                if whole {
                    bio.data = clone.data;
                } else if bio.op == BioOp::Read {
                    let from = ((sector - bio.sector) * SECTOR_SIZE) as usize;
                    let to = ((piece_end - bio.sector) * SECTOR_SIZE) as usize;
                    bio.data[from..to].copy_from_slice(&clone.data);
                }
            }
            sector = piece_end;
        }
        self.complete(name, &bio);
        bio
    }

    /// `__send_empty_flush()` (dm.c lines 1524-1561): an empty PREFLUSH
    /// write, at sector 0 of the mapped device, cloned `num_flush_bios`
    /// times for each line; a line that asked for none gets none.
    fn send_empty_flush(&mut self, table: &BuiltTable, dev: DevT) -> BlkStatus {
        let mut status = BlkStatus::Ok;
        for (index, line) in table.lines.iter().enumerate() {
            for nr in 0..line.info.num_flush_bios {
                self.trace.push(TraceEvent::Clone {
                    line: index,
                    target: line.target_name.clone(),
                    sector: 0,
                    sectors: 0,
                });
                let flush = Bio {
                    target_bio_nr: nr,
                    ..Bio::flush(dev)
                };
                let done = self.map_piece(index, line, flush);
                if done.status != BlkStatus::Ok {
                    status = done.status;
                }
            }
        }
        status
    }

    pub(super) fn complete(&mut self, name: &Rc<str>, bio: &Bio) {
        self.trace.push(TraceEvent::Completed {
            device: name.clone(),
            status: bio.status,
        });
    }

    /// `__map_bio`: call the target's `map` and act on what it returns
    /// (Linux 6.1 `drivers/md/dm.c` lines 1384-1444). A remapped clone goes
    /// down and, once ended, to the target's `end_io` (`clone_endio()`,
    /// lines 1088-1143); a killed or requeued one is freed without it.
    pub(super) fn map_piece(&mut self, index: usize, line: &LiveLine, mut clone: Bio) -> Bio {
        // The clone's per-bio data: `alloc_tio()` carves the clone out of a
        // bioset whose front pad holds the largest `per_io_data_size` of the
        // table (`dm_table_alloc_md_mempools()`, dm-table.c lines
        // 1027-1057), so `map` and `end_io` find the same bytes.
        clone.per_bio_data = vec![0; line.info.per_io_data_size];
        let before = (clone.dev, clone.sector);
        let mut attempt = clone;
        let result = line.target.map(&line.info, &mut attempt);
        let to = (result == MapResult::Remapped).then_some((attempt.dev, attempt.sector));
        self.trace.push(TraceEvent::Mapped {
            line: index,
            target: line.target_name.clone(),
            result,
            to,
        });
        match result {
            MapResult::Remapped => {
                self.record_remap(before, &attempt);
                let done = self.submit_below(attempt);
                end_clone(line, done)
            }
            // The target ended the clone itself with `bio_endio()`, which
            // runs the clone's `bi_end_io`, the core's `clone_endio()`, and
            // so the target's own `end_io` too.
            MapResult::Submitted => end_clone(line, attempt),
            // `free_tio()` and no `end_io` (lines 1429-1438).
            MapResult::Kill => {
                attempt.status = BlkStatus::IoErr;
                attempt
            }
            MapResult::Requeue => {
                attempt.status = requeued();
                attempt
            }
        }
    }

    /// `dm_submit_bio_remap()` (dm.c line 1362 in 6.1) fires `block_bio_remap`
    /// with the mapped device and the clone's sector from before `map`.
    /// `before` is the clone's device and sector before `map`.
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
            .map_or_else(|| before.0.to_string().into(), |md| md.name.clone());
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

    /// `submit_bio_noacct` on the device a target remapped to.
    pub(super) fn submit_below(&mut self, mut bio: Bio) -> Bio {
        if let Some(status) = self.block_layer_checks(&mut bio) {
            bio.status = status;
            return bio;
        }
        match bio.dev.major {
            LOOP_MAJOR => {
                self.loop_io(&mut bio);
                bio
            }
            DM_MAJOR => {
                let name = self
                    .mapped_by_minor(bio.dev.minor)
                    .filter(|md| !md.suspended)
                    .map(|md| md.name.clone());
                match name {
                    Some(name) => self.process(&name, bio),
                    _ => {
                        bio.status = BlkStatus::IoErr;
                        bio
                    }
                }
            }
            _ => {
                bio.status = BlkStatus::IoErr;
                bio
            }
        }
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

/// `clone_endio()` (dm.c lines 1088-1143): the target's `end_io` sees the
/// clone's status and may change it, or ask for the bio again.
fn end_clone(line: &LiveLine, mut done: Bio) -> Bio {
    let mut status = done.status;
    done.status = match line.target.end_io(&line.info, &done, &mut status) {
        EndIo::Done => status,
        EndIo::Requeue => requeued(),
    };
    done
}

/// What a bio a target asked to requeue (`DM_MAPIO_REQUEUE` from `map`,
/// `DM_ENDIO_REQUEUE` from `end_io`) ends with. The core marks the bio
/// `BLK_STS_DM_REQUEUE`, and when it completes, `dm_handle_requeue()`
/// (dm.c lines 887-926) queues it again only during a `noflush` suspend, or
/// once if the core had split it (`dm_io_complete()`, lines 1016-1032);
/// otherwise it fails with `BLK_STS_IOERR`. The model has no `noflush`
/// suspend and does not send a split bio again, so it fails at once.
fn requeued() -> BlkStatus {
    BlkStatus::IoErr
}
