//! The seam between a chapter's scenario and the device mapper it runs on.
//!
//! A scenario talks to a [`Backend`] the way `dmsetup` and `losetup` talk to the
//! kernel: create a device, load a table, resume, read and write, ask for its
//! table and status, remove it. [`sim::SimBackend`] answers from the
//! [simulator](crate::sim); with the cargo feature `kernel`, `kernel::KernelBackend`
//! answers from a real kernel through `/dev/mapper/control`.

pub mod sim;

#[cfg(feature = "kernel")]
pub mod kernel;

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dm::trace::{Remap, TraceEvent};
use crate::dm::units::{Bytes, Sectors};
use crate::dm::{DeviceInfo, DmError, TableSlot, TargetVersion};
use crate::manifest::Stage;
use crate::table::{ParseError, Table, TableLine};

/// Which device mapper a backend drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendKind {
    /// The built-in simulator: no root, no kernel module, works anywhere.
    Sim,
    /// The running Linux kernel (needs root, device mapper and the feature `kernel`).
    Kernel,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Sim => "sim",
            BackendKind::Kernel => "kernel",
        })
    }
}

/// Why a backend could not do what was asked, in one line.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The kernel (or the simulator) refused a device-mapper request.
    #[error(transparent)]
    Dm(#[from] DmError),
    /// A table's text could not be read.
    #[error(transparent)]
    Table(#[from] ParseError),
    /// A file or device operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A device node could not be opened for I/O, as `dd` fails to open it
    /// (on Linux 6.1, a mapped device that has never had a table: `ENXIO`).
    #[error("opening {path}: {source}")]
    Open {
        /// The path opened, as the reader would type it.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The step needs something this backend does not have.
    #[error("{0}")]
    Unsupported(String),
    /// Talking to the kernel needs root.
    #[error("the kernel backend needs root (try sudo): {0}")]
    NotRoot(String),
    /// The machine has no device mapper.
    #[error("no device mapper here: {0}")]
    NoDeviceMapper(String),
    /// A kernel module could not be built or loaded.
    #[error("module {module}: {reason}")]
    Module {
        /// The module's name.
        module: String,
        /// What went wrong.
        reason: String,
    },
    /// The I/O was not finished: the device is suspended.
    #[error("I/O on {0} waits for resume: the device is suspended")]
    Suspended(String),
    /// The simulator stopped a call that would never return on a real
    /// kernel, and says what it would wait for.
    #[error(transparent)]
    Hung(#[from] crate::sim::Hung),
}

impl From<crate::sim::WaitError> for BackendError {
    fn from(err: crate::sim::WaitError) -> BackendError {
        match err {
            crate::sim::WaitError::Dm(err) => BackendError::Dm(err),
            crate::sim::WaitError::Hung(hung) => BackendError::Hung(hung),
        }
    }
}

/// How long a background write gets to end before it counts as held: a
/// direct write to a device that holds nothing is done well within it.
pub const SETTLE: Duration = Duration::from_millis(500);

/// How long [`Backend::finish_write`] waits for a background write to end.
pub const FINISH: Duration = Duration::from_secs(10);

impl BackendError {
    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> BackendError {
        BackendError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A write started in the background, as `dd ... &` starts one: on a
/// suspended device it waits inside the device until `resume`. A ticket for
/// [`Backend::write_waiting`] and [`Backend::finish_write`] of the backend
/// that started it.
#[derive(Debug, PartialEq, Eq)]
pub struct BackgroundWrite(u64);

/// Shorthand for a backend call's result.
pub type Result<T, E = BackendError> = std::result::Result<T, E>;

/// What a chapter needs from a device mapper. Method names follow `dmsetup`'s
/// verbs; each says which ioctl or system call it stands for.
pub trait Backend {
    /// Which kind of backend this is.
    fn kind(&self) -> BackendKind;

    /// One line for the reader: what this backend is running on.
    fn describe(&self) -> String;

    /// A directory for scratch files (backing files), removed with the backend.
    fn scratch_dir(&self) -> &Path;

    /// `losetup -f --show FILE`: attach `file` to a free loop device; returns
    /// its path, such as `/dev/loop0`.
    fn attach_loop(&mut self, file: &Path) -> Result<String>;

    /// `losetup -d DEVICE`.
    fn detach_loop(&mut self, device: &str) -> Result<()>;

    /// Make a module stage's target available: `insmod` on a kernel, registering
    /// the Rust twin on the simulator.
    fn load_stage(&mut self, stage: &Stage) -> Result<()>;

    /// Undo [`Backend::load_stage`]: `rmmod`.
    fn unload_stage(&mut self, stage: &Stage) -> Result<()>;

    /// `dmsetup targets`.
    fn targets(&mut self) -> Result<Vec<TargetVersion>>;

    /// `dmsetup create NAME --notable`.
    fn create(&mut self, name: &str) -> Result<DeviceInfo>;

    /// `dmsetup load NAME`: put `table` in the inactive slot.
    fn load(&mut self, name: &str, table: &Table) -> Result<()>;

    /// `dmsetup resume NAME`.
    fn resume(&mut self, name: &str) -> Result<()>;

    /// `dmsetup suspend NAME`: returns once what is in flight has ended.
    fn suspend(&mut self, name: &str) -> Result<()>;

    /// `dmsetup suspend --noflush NAME`: what a target hands back to the
    /// core waits in the device for resume instead of failing.
    fn suspend_noflush(&mut self, name: &str) -> Result<()>;

    /// `dmsetup clear NAME`: drop the inactive table.
    fn clear(&mut self, name: &str) -> Result<()>;

    /// `dmsetup remove NAME`.
    fn remove(&mut self, name: &str) -> Result<()>;

    /// `dmsetup info NAME`.
    fn info(&mut self, name: &str) -> Result<DeviceInfo>;

    /// `dmsetup table [--inactive] NAME`.
    fn table(&mut self, name: &str, slot: TableSlot) -> Result<Vec<TableLine>>;

    /// `dmsetup status [--inactive] NAME`.
    fn status(&mut self, name: &str, slot: TableSlot) -> Result<Vec<TableLine>>;

    /// `dmsetup message NAME SECTOR WORDS...`.
    fn message(&mut self, name: &str, sector: Sectors, words: &[&str]) -> Result<String>;

    /// Write `data` at byte `offset` of the mapped device as `dd
    /// oflag=direct` does: straight to the device (`O_DIRECT`), whole
    /// sectors only, and no `fsync` after it, so no flush follows (see
    /// [`Backend::fsync`]).
    fn write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<()>;

    /// Read `len` bytes at byte `offset` of the mapped device (`O_DIRECT`).
    fn read(&mut self, name: &str, offset: Bytes, len: Bytes) -> Result<Vec<u8>>;

    /// `fsync` on the device's node: the block layer sends the device one
    /// empty flush (`blkdev_fsync()` calls `blkdev_issue_flush()`, Linux 6.1
    /// `block/fops.c` lines 458-478), which it
    /// drops at once if the device has no write cache.
    fn fsync(&mut self, name: &str) -> Result<()>;

    /// Start writing `data` at byte `offset` of the mapped device without
    /// waiting for it to end (`dd oflag=direct ... &`): the one way to put I/O
    /// into a suspended device, where [`Backend::write`] refuses.
    fn start_write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<BackgroundWrite>;

    /// Whether a background write is still held inside its device, after
    /// giving it [`SETTLE`] to end.
    fn write_waiting(&mut self, write: &BackgroundWrite) -> bool;

    /// How a background write ended, after waiting up to [`FINISH`] for it.
    /// One still held inside its device is left to end whenever it can, and
    /// the answer is [`BackendError::Suspended`].
    fn finish_write(&mut self, write: BackgroundWrite) -> Result<()>;

    /// `dmsetup ls`: the names of all mapped devices, sorted.
    fn devices(&mut self) -> Result<Vec<String>>;

    /// The path a program opens to use the device.
    fn device_path(&mut self, name: &str) -> Result<PathBuf>;

    /// The bios' journeys since the last call. Only the simulator can see
    /// inside the core; a kernel backend returns nothing.
    fn take_trace(&mut self) -> Vec<TraceEvent> {
        Vec::new()
    }

    /// Start recording where the core sends bios: the remaps the kernel's
    /// `block_bio_remap` trace event reports (tracefs), or the simulator's
    /// record of the same. Anything recorded before is dropped.
    fn record_remaps(&mut self) -> Result<()>;

    /// The remaps recorded since the last call, oldest first. A backend that
    /// cannot see them says why ([`BackendError::Unsupported`]).
    fn take_remaps(&mut self) -> Result<Vec<Remap>>;

    /// Kernel log lines since the last call (device-mapper's and the module's).
    fn kernel_log(&mut self) -> Vec<String>;

    /// Run a real program on the device, such as `mkfs.ext4`. Only a kernel
    /// backend can; the simulator says so.
    fn run_on_device(&mut self, name: &str, program: &str, args: &[&str]) -> Result<String>;

    /// `mount DEVICE DIR` for the mapped device (file system type probed).
    /// Only a kernel backend can.
    fn mount(&mut self, name: &str, dir: &Path) -> Result<()>;

    /// `umount DIR`.
    fn unmount(&mut self, dir: &Path) -> Result<()>;

    /// Load `table` into a new device `name` and resume it, as `dmsetup create
    /// NAME --table LINE` does; on failure remove the device again.
    fn create_with_table(&mut self, name: &str, table: &Table) -> Result<DeviceInfo> {
        self.create(name)?;
        let loaded = self.load(name, table).and_then(|()| self.resume(name));
        if let Err(err) = loaded {
            // dmsetup removes what it created when the load fails; keep the
            // first error, which names the cause.
            let _ = self.remove(name);
            return Err(err);
        }
        self.info(name)
    }
}

/// How to open a backend.
#[derive(Clone, Debug, Default)]
pub struct OpenOptions {
    /// A module already built for the running kernel, loaded with `insmod`
    /// instead of building the stage from source (the qemu lab ships one).
    pub module_ko: Option<PathBuf>,
}

/// Open the backend `kind`. The kernel backend needs the feature `kernel`.
pub fn open(kind: BackendKind, options: &OpenOptions) -> Result<Box<dyn Backend>> {
    match kind {
        BackendKind::Sim => Ok(Box::new(sim::SimBackend::new()?)),
        #[cfg(feature = "kernel")]
        BackendKind::Kernel => Ok(Box::new(kernel::KernelBackend::open_with(options)?)),
        #[cfg(not(feature = "kernel"))]
        BackendKind::Kernel => Err({
            let _ = options;
            BackendError::Unsupported(
                "this build has no kernel backend: rebuild with `--features kernel` \
             (needs libdevmapper-dev and libclang)"
                    .to_string(),
            )
        }),
    }
}
