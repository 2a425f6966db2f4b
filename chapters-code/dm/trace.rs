//! The journey of each bio through the simulated core, recorded for the reader.

use std::fmt;
use std::rc::Rc;

use super::bio::{BioOp, BlkStatus, DevT, MapResult};

/// One step of a bio's journey.
///
/// A reader gets names as `String`s. While a bio travels, the simulator
/// records `TraceEvent<Rc<str>>`, sharing each device's and target's name
/// rather than copying it, so that recording a step allocates nothing; the
/// names become `String`s when the trace is read ([`TraceEvent::into_owned`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent<Name = String> {
    /// A bio arrived at a mapped device (`dm_submit_bio`).
    Submitted {
        /// The mapped device's name.
        device: Name,
        /// Read or write.
        op: BioOp,
        /// First sector, on the mapped device.
        sector: u64,
        /// Length in sectors.
        sectors: u64,
    },
    /// The device was suspended: the bio waits for `resume`.
    Deferred {
        /// The mapped device's name.
        device: Name,
    },
    /// The core cut a piece for one table line (`__split_and_process_bio`):
    /// a bio never crosses a line's end.
    Clone {
        /// Index of the table line, from 0.
        line: usize,
        /// The line's target type.
        target: Name,
        /// First sector of the piece, on the mapped device.
        sector: u64,
        /// Length of the piece in sectors.
        sectors: u64,
    },
    /// The target's `map` returned.
    Mapped {
        /// Index of the table line.
        line: usize,
        /// The line's target type.
        target: Name,
        /// What `map` returned.
        result: MapResult,
        /// Where the piece goes next, when remapped: device and sector.
        to: Option<(DevT, u64)>,
    },
    /// A piece reached a real (backing) device.
    Landed {
        /// The backing device's path, such as `/dev/loop0`.
        device: Name,
        /// Its device number.
        dev: DevT,
        /// Read or write.
        op: BioOp,
        /// First sector, on that device.
        sector: u64,
        /// Length in sectors.
        sectors: u64,
    },
    /// The bio given to the mapped device ended.
    Completed {
        /// The mapped device's name.
        device: Name,
        /// How it ended.
        status: BlkStatus,
    },
}

impl TraceEvent<Rc<str>> {
    /// The same step with its names as `String`s.
    pub fn into_owned(self) -> TraceEvent {
        match self {
            TraceEvent::Submitted {
                device,
                op,
                sector,
                sectors,
            } => TraceEvent::Submitted {
                device: device.to_string(),
                op,
                sector,
                sectors,
            },
            TraceEvent::Deferred { device } => TraceEvent::Deferred {
                device: device.to_string(),
            },
            TraceEvent::Clone {
                line,
                target,
                sector,
                sectors,
            } => TraceEvent::Clone {
                line,
                target: target.to_string(),
                sector,
                sectors,
            },
            TraceEvent::Mapped {
                line,
                target,
                result,
                to,
            } => TraceEvent::Mapped {
                line,
                target: target.to_string(),
                result,
                to,
            },
            TraceEvent::Landed {
                device,
                dev,
                op,
                sector,
                sectors,
            } => TraceEvent::Landed {
                device: device.to_string(),
                dev,
                op,
                sector,
                sectors,
            },
            TraceEvent::Completed { device, status } => TraceEvent::Completed {
                device: device.to_string(),
                status,
            },
        }
    }
}

impl<Name: fmt::Display> fmt::Display for TraceEvent<Name> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEvent::Submitted {
                device,
                op,
                sector,
                sectors,
            } => write!(f, "bio {op} {device} sectors {sector}+{sectors}"),
            TraceEvent::Deferred { device } => {
                write!(f, "  {device} is suspended: bio deferred until resume")
            }
            TraceEvent::Clone {
                line,
                target,
                sector,
                sectors,
            } => write!(
                f,
                "  table line {line} ({target}) takes sectors {sector}+{sectors}"
            ),
            TraceEvent::Mapped {
                target, result, to, ..
            } => match to {
                Some((dev, sector)) => {
                    write!(f, "    {target}.map -> {result}: to {dev} sector {sector}")
                }
                None => write!(f, "    {target}.map -> {result}"),
            },
            TraceEvent::Landed {
                device,
                dev,
                op,
                sector,
                sectors,
            } => write!(
                f,
                "    {op} lands on {device} ({dev}) sectors {sector}+{sectors}"
            ),
            TraceEvent::Completed { device, status } => {
                write!(f, "  bio on {device} ends: {status}")
            }
        }
    }
}

/// One bio the core sent on to another device, as the kernel's
/// `block_bio_remap` tracepoint records it. dm.c fires it for every remapped
/// clone (`dm_submit_bio_remap()`, drivers/md/dm.c line 1362 in 6.1), with
/// the mapped device and the sector the clone had before `map`; the event's
/// format is `TP_printk("%d,%d %s %llu + %u <- (%d,%d) %llu", ...)` in
/// include/trace/events/block.h (line 503 in 6.1).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remap {
    /// The operation: `read`, `write`, `flush` (an empty flush), `discard`,
    /// or the event's raw flags otherwise.
    pub op: String,
    /// The mapped device's name (the event's second device).
    pub device: String,
    /// First sector on the mapped device, before `map`.
    pub sector: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// The device the clone was sent to: `/dev/loopN` or `/dev/mapper/NAME`.
    pub to: String,
    /// First sector there.
    pub to_sector: u64,
}

impl Remap {
    /// The operation's name from the event's `rwbs` flags (`blk_fill_rwbs()`
    /// in kernel/trace/blktrace.c: an optional `F` for a preflush, then the
    /// operation's letters, then modifiers such as `S` for sync or `F` for
    /// FUA). Only the operations the chapters send are named.
    pub fn op_from_rwbs(rwbs: &str, sectors: u64) -> String {
        let op = rwbs.strip_prefix('F').unwrap_or(rwbs);
        let preflush = op.len() != rwbs.len();
        match op.chars().next() {
            Some('W') if preflush && sectors == 0 => "flush",
            Some('W') => "write",
            Some('R') => "read",
            Some('D') if !op.starts_with("DE") => "discard",
            _ => return rwbs.to_string(),
        }
        .to_string()
    }
}

impl fmt::Display for Remap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} sectors {}+{} -> {} sector {}",
            self.op, self.device, self.sector, self.sectors, self.to, self.to_sector
        )
    }
}
