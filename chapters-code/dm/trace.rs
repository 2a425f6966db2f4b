//! The journey of each bio through the simulated core, recorded for the reader.

use std::fmt;

use super::bio::{BioOp, BlkStatus, DevT, MapResult};

/// One step of a bio's journey.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A bio arrived at a mapped device (`dm_submit_bio`).
    Submitted {
        /// The mapped device's name.
        device: String,
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
        device: String,
    },
    /// The core cut a piece for one table line (`__split_and_process_bio`):
    /// a bio never crosses a line's end.
    Clone {
        /// Index of the table line, from 0.
        line: usize,
        /// The line's target type.
        target: String,
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
        target: String,
        /// What `map` returned.
        result: MapResult,
        /// Where the piece goes next, when remapped: device and sector.
        to: Option<(DevT, u64)>,
    },
    /// A piece reached a real (backing) device.
    Landed {
        /// The backing device's path, such as `/dev/loop0`.
        device: String,
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
        device: String,
        /// How it ended.
        status: BlkStatus,
    },
}

impl fmt::Display for TraceEvent {
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
