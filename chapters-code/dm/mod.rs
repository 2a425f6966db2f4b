//! The vocabulary every backend speaks: what `dmsetup` asks the kernel for and
//! what comes back, whether the answer comes from the simulator or a real kernel.
//!
//! It sits below everything else: the [simulator](crate::sim), the
//! [target twins](crate::targets), the [backends](crate::driver) and the
//! [scenarios](crate::scenarios) all build on these types, and this module
//! builds on none of them.
//!
//! - [`bio`]: device numbers and bios, what a target's `map` looks at.
//! - [`target`]: the target contract, shaped like `struct target_type`.
//! - [`trace`]: the steps of a bio's journey, as the simulator records them.
//! - [`units`]: sizes in [`Sectors`](units::Sectors) and [`Bytes`](units::Bytes).

pub mod bio;
pub mod target;
pub mod trace;
pub mod units;

use std::fmt;

use crate::errno::Errno;
use bio::DevT;

/// The device-mapper ioctls, named as `dmsetup` names them in its errors
/// (`device-mapper: reload ioctl on NAME failed: ...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ioctl {
    /// `DM_DEV_CREATE`.
    Create,
    /// `DM_TABLE_LOAD`.
    Reload,
    /// `DM_DEV_SUSPEND` without `DM_SUSPEND_FLAG`.
    Resume,
    /// `DM_DEV_SUSPEND`.
    Suspend,
    /// `DM_DEV_REMOVE`.
    Remove,
    /// `DM_TABLE_CLEAR`.
    Clear,
    /// `DM_DEV_STATUS`.
    Info,
    /// `DM_TABLE_STATUS`.
    Status,
    /// `DM_TARGET_MSG`.
    Message,
    /// `DM_LIST_VERSIONS`.
    Versions,
    /// `DM_LIST_DEVICES`.
    Names,
}

impl fmt::Display for Ioctl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ioctl::Create => "create",
            Ioctl::Reload => "reload",
            Ioctl::Resume => "resume",
            Ioctl::Suspend => "suspend",
            Ioctl::Remove => "remove",
            Ioctl::Clear => "clear",
            Ioctl::Info => "info",
            Ioctl::Status => "status",
            Ioctl::Message => "message",
            Ioctl::Versions => "list_versions",
            Ioctl::Names => "names",
        })
    }
}

/// A failed device-mapper request: what userspace gets (an errno) and what the
/// kernel logged about it (the real reason, which only `dmesg` shows).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct DmError {
    /// The request that failed.
    pub ioctl: Ioctl,
    /// The device it named.
    pub device: String,
    /// The errno the ioctl returned.
    pub errno: Errno,
    /// The kernel's log lines about the failure, oldest first.
    pub log: Vec<String>,
}

impl DmError {
    /// The line `dmsetup` prints for this failure (it never sees the kernel log).
    pub fn dmsetup_line(&self) -> String {
        format!(
            "device-mapper: {} ioctl on {} failed: {}",
            self.ioctl,
            self.device,
            self.errno.describe()
        )
    }

    /// The most telling kernel log line: the first, which names the cause
    /// (later ones only say what gave up because of it).
    pub fn reason(&self) -> Option<&str> {
        self.log.first().map(String::as_str)
    }
}

impl fmt::Display for DmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ioctl on {} failed: {}",
            self.ioctl,
            self.device,
            self.errno.describe()
        )?;
        if let Some(reason) = self.reason() {
            write!(f, " (kernel log: {reason})")?;
        }
        Ok(())
    }
}

/// Which of a device's two table slots a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableSlot {
    /// The table that maps I/O now.
    Live,
    /// The table loaded but not yet swapped in by `resume`.
    Inactive,
}

/// A mapped device's state, as `dmsetup info` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Its name under `/dev/mapper`.
    pub name: String,
    /// Its device number: `dmsetup info`'s "Major, minor".
    pub dev: DevT,
    /// Whether I/O is held back.
    pub suspended: bool,
    /// Whether a table maps I/O now.
    pub live_table: bool,
    /// Whether a loaded table waits for `resume`.
    pub inactive_table: bool,
    /// How many openers hold the device (another table stacked on it counts).
    pub open_count: u32,
    /// The event counter that `dmsetup wait` watches.
    pub event_nr: u32,
    /// Lines in the live table.
    pub target_count: u32,
    /// Read-ahead in sectors (`BLKRAGET`).
    pub read_ahead: u32,
}

impl fmt::Display for DeviceInfo {
    /// The fields of `dmsetup info`, in its order and words.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables = match (self.live_table, self.inactive_table) {
            (false, false) => "None",
            (true, false) => "LIVE",
            (false, true) => "INACTIVE",
            (true, true) => "LIVE & INACTIVE",
        };
        writeln!(f, "Name:              {}", self.name)?;
        writeln!(
            f,
            "State:             {}",
            if self.suspended {
                "SUSPENDED"
            } else {
                "ACTIVE"
            }
        )?;
        writeln!(f, "Read Ahead:        {}", self.read_ahead)?;
        writeln!(f, "Tables present:    {tables}")?;
        writeln!(f, "Open count:        {}", self.open_count)?;
        writeln!(f, "Event number:      {}", self.event_nr)?;
        writeln!(
            f,
            "Major, minor:      {}, {}",
            self.dev.major, self.dev.minor
        )?;
        write!(f, "Number of targets: {}", self.target_count)
    }
}

/// A target type the kernel knows, as `dmsetup targets` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TargetVersion {
    /// The name used in table lines.
    pub name: String,
    /// Major, minor, patch.
    pub version: [u32; 3],
}

impl fmt::Display for TargetVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c] = self.version;
        write!(f, "{:<16} v{a}.{b}.{c}", self.name)
    }
}
