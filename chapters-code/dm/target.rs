//! Target types and targets, shaped like the kernel's `struct target_type`.
//!
//! The kernel splits a target in two: a `struct target_type` registered once per
//! module (its name, version and callbacks), and a `struct dm_target` for each
//! table line that uses it, whose `private` pointer holds what `ctr` built. Here
//! [`TargetType`] is the first and a `Box<dyn Target>` returned by its `ctr` is the
//! second's private context; the callbacks that act on a table line are methods of
//! [`Target`], and [`TargetInfo`] carries the `dm_target` fields they read.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::bio::{Bio, BlkStatus, CloneId, DevT, MapResult};
use crate::errno::Errno;

/// The fields of `struct dm_target` a callback reads: where the line starts
/// on the mapped device and how long it is, and how many clones of each
/// special bio the core sends it (`include/linux/device-mapper.h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetInfo {
    /// `ti->begin`.
    pub begin: u64,
    /// `ti->len`.
    pub len: u64,
    /// `ti->max_io_len`: if not 0, the core never hands `map` a bio that
    /// crosses a multiple of this many sectors, counted from `begin`.
    pub max_io_len: u64,
    /// `ti->num_flush_bios`: empty flushes this line gets for each flush
    /// sent to the device. 0: none, and if no line asks for any, the device
    /// has no write cache to flush.
    pub num_flush_bios: u32,
    /// `ti->num_discard_bios`: clones of each discard; 0 refuses discards.
    pub num_discard_bios: u32,
    /// `ti->num_secure_erase_bios`: clones of each secure erase; 0 refuses them.
    pub num_secure_erase_bios: u32,
    /// `ti->num_write_zeroes_bios`: clones of each write-zeroes; 0 refuses them.
    pub num_write_zeroes_bios: u32,
    /// `ti->per_io_data_size`: bytes the core reserves in front of every
    /// clone it hands this line, for the target's own per-bio data
    /// (`dm_per_bio_data`). 0: none.
    pub per_io_data_size: usize,
    /// What `dm_noflush_suspending(ti)` answers at the time of the call:
    /// whether the device is in a `noflush` suspend. The core sets its flag
    /// before `presuspend` and clears it once nothing is in flight (Linux
    /// 6.1 `__dm_suspend()`, `drivers/md/dm.c` lines 2683-2749); the
    /// simulator fills this in for each call.
    pub noflush_suspending: bool,
}

impl TargetInfo {
    /// `dm_target_offset(ti, sector)`: a mapped device's sector, counted from
    /// the start of this line. The kernel's `sector_t` arithmetic wraps, so
    /// does this: an empty flush (sector 0) on a line that starts later gets
    /// a meaningless offset, which is why a target leaves its sector alone.
    pub fn target_offset(&self, sector: u64) -> u64 {
        sector.wrapping_sub(self.begin)
    }
}

/// A device a target opened with `dm_get_device` (`struct dm_dev`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DmDev {
    /// `dm_dev->name`: always `major:minor`, whatever path the table gave.
    pub name: String,
    /// `dm_dev->bdev->bd_dev`.
    pub dev: DevT,
    /// `bdev_nr_sectors(dm_dev->bdev)`.
    pub sectors: u64,
}

/// Which status `dmsetup` asked for (`status_type_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusType {
    /// `STATUSTYPE_INFO`: `dmsetup status`, the target's running state.
    Info,
    /// `STATUSTYPE_TABLE`: `dmsetup table`, the arguments that would rebuild it.
    Table,
}

/// What `end_io` tells the core (`DM_ENDIO_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndIo {
    /// `DM_ENDIO_DONE`: let the bio complete with its status.
    Done,
    /// `DM_ENDIO_REQUEUE`: give the bio back to the core, which tries it
    /// again only during a `noflush` suspend and otherwise fails it.
    Requeue,
}

/// How a constructor reaches the device-mapper core: `ti->error` and
/// `dm_get_device`.
pub trait CtrContext {
    /// The `dm_target` fields of the line being built.
    fn info(&self) -> TargetInfo;
    /// `ti->error = reason`: the message the core logs when `ctr` fails.
    fn set_error(&mut self, reason: &'static str);
    /// `dm_set_target_max_io_len(ti, len)`: split bios at multiples of `len`.
    fn set_max_io_len(&mut self, len: u64);
    /// `ti->num_flush_bios = n`: send this line `n` empty flushes for each
    /// flush the device gets.
    fn set_num_flush_bios(&mut self, n: u32);
    /// `ti->num_discard_bios = n`: send this line `n` clones of each discard.
    fn set_num_discard_bios(&mut self, n: u32);
    /// `ti->num_secure_erase_bios = n`: `n` clones of each secure erase.
    fn set_num_secure_erase_bios(&mut self, n: u32);
    /// `ti->num_write_zeroes_bios = n`: `n` clones of each write-zeroes.
    fn set_num_write_zeroes_bios(&mut self, n: u32);
    /// `ti->per_io_data_size = bytes`: reserve `bytes` of per-bio data in
    /// every clone this line gets ([`Bio::per_bio_data`]).
    fn set_per_io_data_size(&mut self, bytes: usize);
    /// `dm_get_device(ti, path, dm_table_get_mode(ti->table), &dev)`: open a
    /// block device by path or `major:minor`, for the life of the table.
    fn get_device(&mut self, path: &str) -> Result<DmDev, Errno>;
    /// The kernel's clock, `jiffies`, for a target that keeps time (one
    /// that holds bios for a while).
    fn clock(&self) -> Clock;
}

/// The kernel's clock as a target reads it (`jiffies`), in milliseconds.
///
/// The simulator's clock moves only when someone waits: a program for its
/// I/O, a suspend for the bios in flight. It moves by as long as the same
/// wait takes on a real kernel, and runs the targets' delayed work that
/// falls due on the way. (Debian's kernels tick at 250 Hz, so
/// `msecs_to_jiffies()` rounds a delay up to 4 ms; the chapters' delays are
/// multiples of 4 ms.)
#[derive(Clone, Debug, Default)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// A clock at 0.
    pub fn new() -> Clock {
        Clock::default()
    }

    /// `jiffies`, in milliseconds.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Move the clock to `ms`, never back.
    pub fn advance_to(&self, ms: u64) {
        self.0.fetch_max(ms, Ordering::Relaxed);
    }
}

/// A target's `struct delayed_work` on its own workqueue: armed for a time,
/// then run once by the workqueue. The simulator runs a target's work
/// ([`Target::run_work`]) when its clock reaches [`DelayedWork::due`].
#[derive(Debug, Default)]
pub struct DelayedWork {
    due: Mutex<Option<u64>>,
}

impl DelayedWork {
    /// `INIT_DELAYED_WORK`: not armed.
    pub fn new() -> DelayedWork {
        DelayedWork::default()
    }

    /// `queue_delayed_work(wq, work, delay)` at time `now`: arm it for
    /// `now + delay`, unless it is armed already (then nothing changes and
    /// the answer is `false`, as the kernel's).
    pub fn queue(&self, now: u64, delay: u64) -> bool {
        let mut due = self.due.lock().expect("no panic holds the lock");
        if due.is_some() {
            return false;
        }
        *due = Some(now + delay);
        true
    }

    /// `cancel_delayed_work_sync(work)`: disarm it; whether it was armed.
    pub fn cancel(&self) -> bool {
        self.due
            .lock()
            .expect("no panic holds the lock")
            .take()
            .is_some()
    }

    /// When it is due, if armed.
    pub fn due(&self) -> Option<u64> {
        *self.due.lock().expect("no panic holds the lock")
    }

    /// The workqueue starts the work: it is no longer armed, so the work
    /// function may arm it again.
    pub fn start(&self) {
        self.cancel();
    }
}

/// What a target that keeps clones past `map` asks of the core later, from
/// its work or a suspend hook: the kernel's `dm_submit_bio_remap()` and
/// `bio_endio()` on a clone it held.
pub trait HeldClones {
    /// `dm_submit_bio_remap(clone, NULL)`: send a held clone on, to the
    /// device and sector `map` gave it.
    fn submit_bio_remap(&mut self, clone: CloneId);
    /// `clone->bi_status = status; bio_endio(clone)`.
    fn endio(&mut self, clone: CloneId, status: BlkStatus);
}

/// A registered target type: `struct target_type` without the per-line callbacks.
pub trait TargetType: Send + Sync {
    /// `.name`: the word used in table lines.
    fn name(&self) -> &'static str;
    /// `.version`, as `dmsetup targets` shows it.
    fn version(&self) -> [u32; 3];
    /// `.ctr`: read one table line's arguments and build its context. On failure
    /// call [`CtrContext::set_error`] and return the errno, as a kernel target
    /// sets `ti->error` and returns `-EINVAL`.
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno>;
}

/// The target types a device-mapper core starts with: those built into
/// `dm-mod`, and those in modules of their own that it loads the first time a
/// table names them (`request_module("dm-%s", name)`). The core is handed them
/// rather than knowing them, so it depends on the target contract, not on any
/// target.
#[derive(Clone)]
pub struct TargetRegistry {
    /// Registered when the core starts, in registration order.
    pub builtin: Vec<Arc<dyn TargetType>>,
    /// Registered on demand, when a table first names one.
    pub loadable: Vec<Arc<dyn TargetType>>,
}

/// One table line's target: the callbacks that take a `dm_target`.
pub trait Target: Send {
    /// `.map`: decide what happens to a bio addressed to this line's sectors.
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult;

    /// `.end_io`: look at a remapped bio once the device below finished it.
    /// The core calls it from the clone's completion (`clone_endio()`, Linux
    /// 6.1 `drivers/md/dm.c` lines 1088-1143) for every clone `map`
    /// remapped, never for one it killed or requeued (`__map_bio()`, lines
    /// 1429-1438). `status` is the clone's `bi_status`; the target may
    /// change it.
    fn end_io(&self, _ti: &TargetInfo, _bio: &Bio, _status: &mut BlkStatus) -> EndIo {
        EndIo::Done
    }

    /// `.status`: the text after `<start> <length> <target>` in `dmsetup status`
    /// (`Info`) or `dmsetup table` (`Table`). Without it both are empty.
    fn status(&self, _ti: &TargetInfo, _kind: StatusType) -> String {
        String::new()
    }

    /// `.message`: handle `dmsetup message`, as `target_message()` (Linux
    /// 6.1 `drivers/md/dm-ioctl.c` line 1785) calls it with the message
    /// split into words. `Ok(None)` is the kernel's `return 0`, `Ok(Some(text))`
    /// its `return 1` with `text` in `result`; a refusal is an errno, and its
    /// reason is a line the target logs itself (`DMWARN`, see [`dm_fmt`])
    /// into `kmsg`. Targets without one are refused by the core.
    fn message(
        &self,
        _ti: &TargetInfo,
        _argv: &[&str],
        _kmsg: &mut Vec<String>,
    ) -> Result<Option<String>, MessageError> {
        Err(MessageError::NotSupported)
    }

    /// `.iterate_devices`: call `callout(dev, start, len)` for each device this
    /// line uses; stop and return `true` as soon as one returns `true`.
    fn iterate_devices(
        &self,
        _ti: &TargetInfo,
        _callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        false
    }

    /// `.presuspend`: the device is being suspended. The core calls it
    /// before it stops sending bios and waits for those in flight, which
    /// include the clones a target holds (Linux 6.1 `__dm_suspend()`,
    /// `drivers/md/dm.c` lines 2696-2744): a target that holds clones lets
    /// go of them here, through `core`.
    fn presuspend(&self, _ti: &TargetInfo, _core: &mut dyn HeldClones) {}

    /// `.postsuspend`: the device is suspended; nothing is in flight
    /// (`dm_suspend()`, dm.c line 2817).
    fn postsuspend(&self, _ti: &TargetInfo, _core: &mut dyn HeldClones) {}

    /// `.resume`: the device resumes with this table live
    /// (`dm_table_resume_targets()`, `drivers/md/dm-table.c` lines 2121-2150),
    /// before the bios the core kept are sent again (`__dm_resume()`, dm.c
    /// lines 2825-2833).
    fn resume(&self, _ti: &TargetInfo) {}

    /// When the target's delayed work is next due ([`DelayedWork::due`]),
    /// if it has any armed.
    fn work_due(&self) -> Option<u64> {
        None
    }

    /// The target's work function, run by its workqueue once
    /// [`Target::work_due`] has come.
    fn run_work(&self, _ti: &TargetInfo, _core: &mut dyn HeldClones) {}

    /// `.dtr`: undo what `ctr` did. The core calls it once, when the table goes.
    /// (The devices `ctr` opened are released by the core, as `dm_put_device`
    /// calls in a kernel `dtr` would.)
    fn dtr(&mut self) {}
}

/// Why a message was not taken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// The target has no `.message` callback.
    #[error("Target type does not support messages")]
    NotSupported,
    /// The target read the message and refused it with this errno (its
    /// reason is in the log it wrote).
    #[error("refused: {0}")]
    Refused(Errno),
}

/// A line as `DMERR`, `DMWARN` and `DMINFO` print it for a target whose
/// `DM_MSG_PREFIX` is `prefix`: `device-mapper: <prefix>: <text>` (`DM_FMT`,
/// Linux 6.1 `include/linux/device-mapper.h` lines 610-618).
pub fn dm_fmt(prefix: &str, text: &str) -> String {
    format!("device-mapper: {prefix}: {text}")
}

impl fmt::Debug for dyn Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("dyn Target")
    }
}
