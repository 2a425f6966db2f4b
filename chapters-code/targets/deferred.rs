//! `deferred`, stage 4: the Rust twin of `module/stage4-deferred/deferred_target.c`.
//!
//! A passthrough that holds every bio for a set time: `map` keeps the clone
//! and returns `DM_MAPIO_SUBMITTED`, and the target's delayed work sends it
//! on once its time has come. `presuspend` lets go of what is held: sent on
//! at once, or handed back to the core during a `noflush` suspend.
//! Table line: `<start> <length> deferred <device> <start-sector> <delay_ms>
//! [<#features> max_io_len <sectors>]`.
//! The C module and this file make the same checks in the same order, fail
//! with the same `ti->error` strings, hold and let go of the same bios and
//! print the same status.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::dm::bio::{Bio, BlkStatus, CloneId, MapResult};
use crate::dm::target::{
    Clock, CtrContext, DelayedWork, DmDev, HeldClones, StatusType, Target, TargetInfo, TargetType,
};
use crate::errno::Errno;
use crate::targets::args::{kstrtouint, kstrtoull, read_arg_group};

/// `DEFERRED_MAX_DELAY_MS`.
pub const MAX_DELAY_MS: u32 = 60_000;

/// `sizeof(struct deferred_io)`: one `unsigned long`.
const DEFERRED_IO_SIZE: usize = 8;

/// The target type: what `dm_register_target(&deferred_target)` registers.
#[derive(Clone, Copy, Debug, Default)]
pub struct Deferred {
    /// The module parameter `drain_in_postsuspend`: the broken variant,
    /// which lets go of held bios only in `postsuspend`.
    pub drain_in_postsuspend: bool,
}

impl Deferred {
    /// The module loaded with `drain_in_postsuspend=1`.
    pub fn broken() -> Deferred {
        Deferred {
            drain_in_postsuspend: true,
        }
    }
}

/// What the spinlock guards in `struct deferred_c`.
#[derive(Debug)]
struct Held {
    /// The held clones, oldest first, with the time each may go (the C
    /// module reads it from the clone's per-bio data; the model's list
    /// keeps it beside the clone it names).
    queue: VecDeque<(CloneId, u64)>,
    /// False from `presuspend` until `resume`.
    holding: bool,
}

// ANCHOR: context
/// What `ctr` builds for one table line (`struct deferred_c`).
pub struct DeferredContext {
    dev: DmDev,
    start: u64,
    delay_ms: u32,
    /// The same in the clock's unit (`msecs_to_jiffies()`).
    delay: u64,
    max_io_len: u32,
    /// `jiffies`.
    clock: Clock,
    /// `issue_work`, on the target's own workqueue.
    work: DelayedWork,
    /// The spinlock and what it guards.
    held: Mutex<Held>,
    delayed: AtomicU64,
    drained: AtomicU64,
    pushed_back: AtomicU64,
    drain_in_postsuspend: bool,
}
// ANCHOR_END: context

impl TargetType for Deferred {
    fn name(&self) -> &'static str {
        "deferred"
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    /// `deferred_ctr`: `<device> <start-sector> <delay_ms>`, the features,
    /// then the device.
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let fail = |ti: &mut dyn CtrContext, reason| {
            ti.set_error(reason);
            Err(Errno::EINVAL)
        };
        if argv.len() < 3 {
            return fail(ti, "Invalid argument count");
        }
        let Some(start) = kstrtoull(argv[1]) else {
            return fail(ti, "Invalid device sector");
        };
        let Some(delay_ms) = kstrtouint(argv[2]) else {
            return fail(ti, "Invalid delay");
        };
        if delay_ms > MAX_DELAY_MS {
            return fail(ti, "Delay above 60000 ms");
        }
        let (max_io_len, rest) = match parse_features(&argv[3..]) {
            Ok(parsed) => parsed,
            Err(reason) => return fail(ti, reason),
        };
        if !rest.is_empty() {
            return fail(ti, "Unexpected words after the features");
        }
        let dev = ti.get_device(argv[0]).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        // (alloc_workqueue() cannot fail in the model.)
        if max_io_len > 0 {
            ti.set_max_io_len(u64::from(max_io_len));
        }
        ti.set_num_flush_bios(1);
        ti.set_num_discard_bios(1);
        ti.set_num_secure_erase_bios(1);
        ti.set_num_write_zeroes_bios(1);
        ti.set_per_io_data_size(DEFERRED_IO_SIZE);
        Ok(Box::new(DeferredContext {
            dev,
            start,
            delay_ms,
            delay: u64::from(delay_ms),
            max_io_len,
            clock: ti.clock(),
            work: DelayedWork::new(),
            held: Mutex::new(Held {
                queue: VecDeque::new(),
                holding: true,
            }),
            delayed: AtomicU64::new(0),
            drained: AtomicU64::new(0),
            pushed_back: AtomicU64::new(0),
            drain_in_postsuspend: self.drain_in_postsuspend,
        }))
    }
}

/// `parse_features` with its `ti->error` strings: `max_io_len` (0: none),
/// and the words after the features.
fn parse_features<'a>(words: &'a [&'a str]) -> Result<(u32, &'a [&'a str]), &'static str> {
    if words.is_empty() {
        return Ok((0, words));
    }
    // `dm_read_arg_group()` with `{0, 2}`.
    let Some(count) = read_arg_group(words, 0, 2) else {
        return Err("Invalid number of feature arguments");
    };
    let mut max_io_len = 0;
    let mut features = words[1..=count].iter();
    while let Some(word) = features.next() {
        if !word.eq_ignore_ascii_case("max_io_len") {
            return Err("Unrecognised feature argument");
        }
        let Some(value) = features.next() else {
            return Err("Feature max_io_len needs a number of sectors");
        };
        max_io_len = match kstrtouint(value) {
            Some(n) if n > 0 => n,
            _ => return Err("Invalid max_io_len"),
        };
    }
    Ok((max_io_len, &words[count + 1..]))
}

impl DeferredContext {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().expect("no panic holds the lock")
    }

    /// `release_held`: let go of every held clone at once.
    fn release_held(&self, core: &mut dyn HeldClones, push_back: bool) {
        let held = std::mem::take(&mut self.lock().queue);
        for (clone, _) in held {
            if push_back {
                self.pushed_back.fetch_add(1, Ordering::Relaxed);
                core.endio(clone, BlkStatus::DmRequeue);
            } else {
                self.drained.fetch_add(1, Ordering::Relaxed);
                core.submit_bio_remap(clone);
            }
        }
    }
}

impl Target for DeferredContext {
    // ANCHOR: map
    /// `deferred_map`.
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        bio.dev = self.dev.dev;
        if bio.sectors() > 0 {
            bio.sector = self.start + ti.target_offset(bio.sector);
        }
        if self.delay == 0 {
            return MapResult::Remapped;
        }
        let due = self.clock.now() + self.delay;
        bio.per_bio_data_mut(DEFERRED_IO_SIZE)
            .copy_from_slice(&due.to_ne_bytes());

        let mut held = self.lock();
        if !held.holding {
            drop(held);
            return if ti.noflush_suspending {
                MapResult::Requeue
            } else {
                MapResult::Remapped
            };
        }
        let first = held.queue.is_empty();
        let clone = bio.clone_id.expect("map is handed a clone");
        held.queue.push_back((clone, due));
        drop(held);

        self.delayed.fetch_add(1, Ordering::Relaxed);
        if first {
            self.work.queue(self.clock.now(), self.delay);
        }
        MapResult::Submitted
    }
    // ANCHOR_END: map

    fn work_due(&self) -> Option<u64> {
        self.work.due()
    }

    /// `issue_due`: send on every clone whose time has come, then wait again.
    fn run_work(&self, _ti: &TargetInfo, core: &mut dyn HeldClones) {
        self.work.start();
        let now = self.clock.now();
        let mut due = Vec::new();
        let mut held = self.lock();
        while let Some(&(clone, at)) = held.queue.front() {
            if now < at {
                break;
            }
            held.queue.pop_front();
            due.push(clone);
        }
        let next = held.queue.front().map(|&(_, at)| at);
        // Submitting may sleep: only once the lock is dropped.
        drop(held);
        for clone in due {
            core.submit_bio_remap(clone);
        }
        if let Some(next) = next {
            self.work.queue(now, next.saturating_sub(now));
        }
    }

    // ANCHOR: suspend
    /// `deferred_presuspend`.
    fn presuspend(&self, ti: &TargetInfo, core: &mut dyn HeldClones) {
        self.lock().holding = false;
        self.work.cancel();
        if self.drain_in_postsuspend {
            return;
        }
        self.release_held(core, ti.noflush_suspending);
    }

    /// `deferred_postsuspend`.
    fn postsuspend(&self, _ti: &TargetInfo, core: &mut dyn HeldClones) {
        if self.drain_in_postsuspend {
            self.release_held(core, false);
        }
    }

    /// `deferred_resume` (also its `presuspend_undo`).
    fn resume(&self, _ti: &TargetInfo) {
        let mut held = self.lock();
        held.holding = true;
        let any = !held.queue.is_empty();
        drop(held);
        if any {
            self.work.queue(self.clock.now(), 0);
        }
    }
    // ANCHOR_END: suspend

    /// `deferred_status`.
    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            StatusType::Info => format!(
                "held={} delayed={} drained={} pushed_back={}",
                self.lock().queue.len(),
                self.delayed.load(Ordering::Relaxed),
                self.drained.load(Ordering::Relaxed),
                self.pushed_back.load(Ordering::Relaxed),
            ),
            StatusType::Table => {
                let mut line = format!("{} {} {}", self.dev.name, self.start, self.delay_ms);
                if self.max_io_len > 0 {
                    line += &format!(" 2 max_io_len {}", self.max_io_len);
                }
                line
            }
        }
    }

    /// `deferred_iterate_devices`.
    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        callout(&self.dev, self.start, ti.len)
    }

    /// `deferred_dtr`: the timer is cancelled before the workqueue goes.
    fn dtr(&mut self) {
        self.work.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn features_are_read_as_the_c_module_reads_them() {
        let parse = |text: &str| {
            let words: Vec<&str> = text.split_whitespace().collect();
            parse_features(&words).map(|(n, rest)| (n, rest.len()))
        };
        assert_eq!(parse(""), Ok((0, 0)));
        assert_eq!(parse("2 max_io_len 8"), Ok((8, 0)));
        assert_eq!(parse("2 MAX_IO_LEN 8 extra"), Ok((8, 1)));
        assert_eq!(parse("0"), Ok((0, 0)));
        assert_eq!(parse("x"), Err("Invalid number of feature arguments"));
        assert_eq!(
            parse("3 max_io_len 8 x"),
            Err("Invalid number of feature arguments")
        );
        assert_eq!(
            parse("2 max_io_len"),
            Err("Invalid number of feature arguments")
        );
        assert_eq!(
            parse("1 max_io_len"),
            Err("Feature max_io_len needs a number of sectors")
        );
        assert_eq!(parse("2 max_io_len 0"), Err("Invalid max_io_len"));
        assert_eq!(parse("2 max_io_len x"), Err("Invalid max_io_len"));
        assert_eq!(parse("2 slow 8"), Err("Unrecognised feature argument"));
    }
}
