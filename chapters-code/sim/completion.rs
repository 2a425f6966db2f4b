//! A bio's way back up: its clones end (now, or later when a target lets
//! go of one or a device below ends it), each clone's io (`struct dm_io`) counts them,
//! and once every piece has ended the original bio ends and whoever waits
//! for it is told (`clone_endio()`, `dm_io_dec_pending()` and
//! `dm_io_complete()` in Linux 6.1 `drivers/md/dm.c`).

use std::rc::Rc;

use super::Simulator;
use super::io::{CloneInFlight, Queued, Waiter};
use super::tables::LiveLine;
use crate::SECTOR_SIZE;
use crate::dm::bio::{Bio, BioOp, BlkStatus};
use crate::dm::target::{EndIo, TargetInfo};
use crate::dm::trace::TraceEvent;

impl Simulator {
    /// The trace's last step of a bio given to mapped device `name`.
    pub(super) fn complete(&mut self, name: &Rc<str>, bio: &Bio) {
        self.trace.push(TraceEvent::Completed {
            device: Rc::clone(name),
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

    /// `clone_endio()` (dm.c lines 1088-1143): the target's `end_io` sees
    /// the clone's status and may change it, or ask for the bio again; a
    /// read's data joins the original's; then the clone's io counts it.
    pub(super) fn end_clone(&mut self, clone: CloneInFlight) {
        let line = &clone.table.lines[clone.line];
        let name = Rc::clone(&self.ios[&clone.io].device);
        let info = self.info_now(&name, line);
        let mut status = clone.bio.status;
        let status = match line.target.end_io(&info, &clone.bio, &mut status) {
            EndIo::Done => status,
            EndIo::Requeue => BlkStatus::DmRequeue,
        };
        let io = clone.io;
        if clone.lent {
            self.give_back_pages(clone);
        } else if clone.bio.op == BioOp::Read {
            let orig = self.ios[&io].orig;
            if let Some(orig) = self.origs.get_mut(&orig) {
                let from = ((clone.before.1 - orig.bio.sector) * SECTOR_SIZE) as usize;
                let to = from + clone.bio.data.len();
                orig.bio.data[from..to].copy_from_slice(&clone.bio.data);
            }
        }
        self.io_dec(io, status);
    }

    /// A clone freed: if it borrowed its original's pages, they go back
    /// (a read's filled in).
    pub(super) fn give_back_pages(&mut self, clone: CloneInFlight) {
        if !clone.lent {
            return;
        }
        let orig = self.ios[&clone.io].orig;
        if let Some(orig) = self.origs.get_mut(&orig) {
            orig.bio.data = clone.bio.data;
        }
    }

    /// `dm_io_set_error()` and `dm_io_dec_pending()` (dm.c lines
    /// 1046-1065): one clone of `io` has
    /// ended with `status`. During a `noflush` suspend a requeue outranks
    /// any error.
    pub(super) fn io_dec(&mut self, id: u64, status: BlkStatus) {
        let name = Rc::clone(&self.ios[&id].device);
        let noflush = self
            .mapped
            .get(&*name)
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
        let md = &self.mapped[&*io.device];
        let (noflush, suspended) = (md.noflush_suspending, md.suspended);
        let mut status = io.status;
        if status == BlkStatus::DmRequeue {
            if noflush {
                let md = self.mapped.get_mut(&*io.device).expect("exists");
                md.deferred.push_front(Queued {
                    orig: io.orig,
                    piece: io.piece,
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
                let md = self.mapped.get_mut(&*io.device).expect("exists");
                md.deferred.push_back(Queued {
                    orig: io.orig,
                    piece: then,
                });
            } else {
                self.split_and_process(&io.device, io.orig, then);
            }
            return;
        }
        self.piece_done(io.orig, status);
    }

    /// Record an error for the whole of `orig`.
    pub(super) fn orig_error(&mut self, orig: u64, status: BlkStatus) {
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
                // The clone's pages come back from the device below.
                clone.bio.status = bio.status;
                clone.bio.data = bio.data;
                self.end_clone(clone);
            }
        }
    }

    /// Ios of mapped device `name` not ended: what `dm_wait_for_completion()`
    /// waits for.
    pub(super) fn in_flight(&self, name: &str) -> usize {
        self.ios.values().filter(|io| &*io.device == name).count()
    }
}
