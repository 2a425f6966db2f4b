//! A teaching model of the device-mapper core.
//!
//! [`Simulator`] plays the part of `drivers/md/dm.c`, `dm-table.c` and
//! `dm-ioctl.c`: it keeps mapped devices with their live and inactive tables,
//! builds tables line by line with the kernel's checks, calls each target's
//! callbacks, and carries bios from a mapped device down to the files that stand
//! in for block devices. Where the kernel logs a reason (`DMERR`), the model
//! appends the same words to its own [`Simulator::kmsg`], so a failure reads as
//! it would in `dmesg`.
//!
//! What it leaves out: concurrency, queue limits other than device size and
//! the write cache and discard support, request-based targets, and the page
//! cache (I/O here is always whole sectors, as with `O_DIRECT`). Flushes, FUA,
//! discards and write-zeroes are modelled as Linux 6.1 routes them; secure
//! erase only as far as being refused, since loop devices do not offer it.
//!
//! Its parts follow the kernel's seams:
//!
//! - `registry`: target types, registered and loaded on demand;
//! - `loops`: loop devices, the block devices below;
//! - `devices`: mapped devices and their life cycle (`dm-ioctl.c`);
//! - `tables`: building a table line by line (`dm-table.c`);
//! - `limits`: what a table offers the block layer: a write cache, discards
//!   (`dm_table_set_restrictions()` in `dm-table.c`);
//! - `io`: a bio's way through a mapped device (`dm.c`), and `completion`
//!   its way back up as its pieces end;
//! - `work`: the clock, the targets' delayed work, and the clones a target
//!   keeps past `map` and lets go of later.

mod completion;
mod devices;
mod io;
mod limits;
mod loops;
mod registry;
mod tables;
mod work;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use crate::dm::bio::{Bio, CloneId, DevT};
use crate::dm::target::{Clock, TargetRegistry, TargetType};
use crate::dm::trace::{Remap, TraceEvent};
use crate::dm::{DmError, Ioctl};
use crate::errno::Errno;
use devices::MappedDevice;
use io::{CloneInFlight, Io, Orig};
use loops::LoopDevice;

/// The loop driver's major number (`LOOP_MAJOR` in `include/uapi/linux/major.h`).
pub const LOOP_MAJOR: u32 = 7;
/// The major number device-mapper gets. The kernel asks for a dynamic one, and
/// the first dynamic block major handed out is 254.
pub const DM_MAJOR: u32 = 254;
/// The read-ahead a new mapped device gets, in sectors: the block layer's
/// default of 128 KiB, as `dmsetup info` shows it on a real kernel.
pub const DEFAULT_READ_AHEAD: u32 = 256;
/// `DM_NAME_LEN` in `include/uapi/linux/dm-ioctl.h`, counting the final NUL.
pub const DM_NAME_LEN: usize = 128;

/// What sits at a path under the model's `/dev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A block device.
    Block(DevT),
    /// A character device, such as `/dev/null`.
    Char(DevT),
}

/// A block device's `queue/write_cache`, as sysfs prints it
/// (`queue_wc_show()`, Linux 6.1 `block/blk-sysfs.c` lines 520-526).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WriteCache {
    /// `QUEUE_FLAG_WC` set: writes may sit in a volatile cache until a flush.
    WriteBack,
    /// `QUEUE_FLAG_WC` clear: the block layer drops PREFLUSH and FUA.
    WriteThrough,
}

impl std::fmt::Display for WriteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            WriteCache::WriteBack => "write back",
            WriteCache::WriteThrough => "write through",
        })
    }
}

/// The counters of `/sys/block/loopN/stat` the model keeps
/// (`Documentation/block/stat.rst`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStat {
    /// Field 12, discard I/Os completed.
    pub discards: u64,
    /// Field 16, flush requests completed.
    pub flushes: u64,
}

/// What became of a bio handed to [`Simulator::submit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Submission {
    /// It ended; here it is, with its status (and, for a read, its data).
    Done(Bio),
    /// It has not ended: the device is suspended, or a target holds a piece
    /// of it. Once it ends, [`Simulator::take_completed`] hands it over
    /// under this id; [`Simulator::wait_for`] waits for it.
    Deferred(u64),
}

/// A call that waits for I/O, stopped where a real kernel would wait
/// forever: the simulator cannot block, so it says what would.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}: on a real kernel this would wait forever")]
pub struct Hung(pub String);

/// Why a call that may wait for I/O (a suspend, a resume onto a new
/// table) failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WaitError {
    /// The ioctl failed.
    #[error(transparent)]
    Dm(#[from] DmError),
    /// It would never have returned.
    #[error(transparent)]
    Hung(#[from] Hung),
}

impl WaitError {
    /// The ioctl's failure, if that is what it was.
    pub fn dm(&self) -> Option<&DmError> {
        match self {
            WaitError::Dm(err) => Some(err),
            WaitError::Hung(_) => None,
        }
    }
}

/// The model of the device-mapper core. See the [module documentation](self).
pub struct Simulator {
    /// Registered target types, newest first: `dm_register_target` adds each
    /// to the head of the kernel's list, and `dmsetup targets` walks it in order.
    registered: Vec<Arc<dyn TargetType>>,
    /// Target types that can be loaded on demand, as `request_module("dm-%s")`
    /// loads `dm-zero.ko` the first time a table names `zero`.
    modules: BTreeMap<&'static str, Arc<dyn TargetType>>,
    /// How many table lines use each target type (the module's reference count).
    type_users: BTreeMap<String, u32>,
    nodes: BTreeMap<String, Node>,
    loops: BTreeMap<u32, LoopDevice>,
    mapped: BTreeMap<String, MappedDevice>,
    kmsg: Vec<String>,
    /// The trace and the remaps share the names they record: a bio's way
    /// allocates nothing but the bio, and the names become `String`s only
    /// for a reader who takes them.
    trace: Vec<TraceEvent<Rc<str>>>,
    /// What the kernel's `block_bio_remap` tracepoint would have recorded.
    remaps: Vec<RecordedRemap>,
    /// Bios a program submitted that have ended, by the id
    /// [`Submission::Deferred`] gave.
    completed: BTreeMap<u64, Bio>,
    /// `jiffies`, shared with the targets that keep time.
    clock: Clock,
    /// Bios submitted to mapped devices that have not ended, by id.
    origs: BTreeMap<u64, Orig>,
    /// Their pieces in flight (`struct dm_io`), by id.
    ios: BTreeMap<u64, Io>,
    /// Clones that have not ended: kept by a target, or below.
    clones: BTreeMap<CloneId, CloneInFlight>,
    next_id: u64,
}

impl Simulator {
    /// A core with `targets.builtin` registered, `targets.loadable` available
    /// as modules loaded on demand, and `/dev/null`. The workbook's usual core
    /// is `Simulator::new(dm_workbook::targets::standard())`.
    pub fn new(targets: TargetRegistry) -> Simulator {
        let mut sim = Simulator {
            registered: Vec::new(),
            modules: BTreeMap::new(),
            type_users: BTreeMap::new(),
            nodes: BTreeMap::new(),
            loops: BTreeMap::new(),
            mapped: BTreeMap::new(),
            kmsg: Vec::new(),
            trace: Vec::new(),
            remaps: Vec::new(),
            completed: BTreeMap::new(),
            clock: Clock::new(),
            origs: BTreeMap::new(),
            ios: BTreeMap::new(),
            clones: BTreeMap::new(),
            next_id: 1,
        };
        for builtin in targets.builtin {
            sim.registered.insert(0, builtin);
        }
        for module in targets.loadable {
            sim.modules.insert(module.name(), module);
        }
        sim.nodes
            .insert("/dev/null".to_string(), Node::Char(DevT::new(1, 3)));
        sim
    }

    /// Everything the model logged, as `dmesg` would show it.
    pub fn kmsg(&self) -> &[String] {
        &self.kmsg
    }

    /// The trace of bios since the last call, oldest first.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.trace.drain(..).map(TraceEvent::into_owned).collect()
    }

    /// The remaps since the last call, oldest first: one for each clone a
    /// target remapped, as the kernel's `block_bio_remap` event records it.
    pub fn take_remaps(&mut self) -> Vec<Remap> {
        self.remaps
            .drain(..)
            .map(RecordedRemap::into_remap)
            .collect()
    }

    /// Forget the trace and the remaps recorded so far without reading them,
    /// keeping their memory for the next ones: what a long run that never
    /// looks at them calls now and then, so they do not grow without end.
    pub fn discard_trace(&mut self) {
        self.trace.clear();
        self.remaps.clear();
    }

    /// The path a reader knows a device by: `/dev/loop0`, `/dev/mapper/NAME`.
    fn device_path(&self, dev: DevT) -> String {
        match dev.major {
            LOOP_MAJOR => format!("/dev/loop{}", dev.minor),
            DM_MAJOR => self
                .mapped_by_minor(dev.minor)
                .map_or_else(|| dev.to_string(), |md| md.path.to_string()),
            _ => dev.to_string(),
        }
    }

    /// [`Simulator::device_path`] of a device a bio can reach, shared.
    fn shared_device_path(&self, dev: DevT) -> Rc<str> {
        match dev.major {
            LOOP_MAJOR => self.loops.get(&dev.minor).map(|l| Rc::clone(&l.path)),
            DM_MAJOR => self
                .mapped_by_minor(dev.minor)
                .map(|md| Rc::clone(&md.path)),
            _ => None,
        }
        .unwrap_or_else(|| self.device_path(dev).into())
    }

    /// The mapped device with `minor`. A model has a handful of them: a
    /// walk costs less than keeping a second index in step.
    fn mapped_by_minor(&self, minor: u32) -> Option<&MappedDevice> {
        self.mapped.values().find(|md| md.minor == minor)
    }

    /// A fresh id for a bio, a piece or a clone.
    fn next_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn log(&mut self, line: String) {
        self.kmsg.push(line);
    }

    fn fail(&mut self, ioctl: Ioctl, device: &str, errno: Errno, log: Vec<String>) -> DmError {
        self.kmsg.extend(log.iter().cloned());
        DmError {
            ioctl,
            device: device.to_string(),
            errno,
            log,
        }
    }

    fn device_mut(&mut self, ioctl: Ioctl, name: &str) -> Result<&mut MappedDevice, DmError> {
        if !self.mapped.contains_key(name) {
            return Err(self.fail(ioctl, name, Errno::ENXIO, Vec::new()));
        }
        Ok(self.mapped.get_mut(name).expect("checked above"))
    }

    fn device(&self, ioctl: Ioctl, name: &str) -> Result<&MappedDevice, DmError> {
        self.mapped.get(name).ok_or_else(|| DmError {
            ioctl,
            device: name.to_string(),
            errno: Errno::ENXIO,
            log: Vec::new(),
        })
    }

    fn dm_name(minor: u32) -> String {
        format!("{DM_MAJOR}:{minor}")
    }

    /// The name the kernel prints for a device (`%pg`): `loop0`, `dm-1`.
    fn kernel_name(&self, dev: DevT) -> String {
        match dev.major {
            LOOP_MAJOR => format!("loop{}", dev.minor),
            DM_MAJOR => format!("dm-{}", dev.minor),
            _ => dev.to_string(),
        }
    }
}

/// A [`Remap`] as the core records it while the bio travels, its names
/// shared rather than copied.
struct RecordedRemap {
    op: &'static str,
    device: Rc<str>,
    sector: u64,
    sectors: u64,
    to: Rc<str>,
    to_sector: u64,
}

impl RecordedRemap {
    fn into_remap(self) -> Remap {
        Remap {
            op: self.op.to_string(),
            device: self.device.to_string(),
            sector: self.sector,
            sectors: self.sectors,
            to: self.to.to_string(),
            to_sector: self.to_sector,
        }
    }
}
