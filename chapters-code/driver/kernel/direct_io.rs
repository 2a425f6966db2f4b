//! Direct I/O on a mapped device's node, including writes left running in
//! the background as `dd ... &` leaves them.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use super::{KernelBackend, node};
use crate::dm::units::Bytes;
use crate::driver::{BackendError, Result};
pub(super) use crate::driver::{FINISH, SETTLE};
use crate::errno::Errno;

/// A write running on a thread of its own, as `dd ... &` runs: on a suspended
/// device it blocks in the kernel until `resume`.
pub(super) struct BackgroundIo {
    pub(super) name: String,
    /// What was being done, for the error.
    pub(super) context: String,
    pub(super) outcome: Outcome,
}

/// How a background write stands.
pub(super) enum Outcome {
    Running(mpsc::Receiver<io::Result<()>>),
    Ended(io::Result<()>),
}

impl KernelBackend {
    /// Give a running background write up to `wait` to end.
    pub(super) fn settle(&mut self, ticket: u64, wait: Duration) {
        let Some(io) = self.background.get_mut(&ticket) else {
            return;
        };
        if let Outcome::Running(done) = &io.outcome {
            match done.recv_timeout(wait) {
                Ok(result) => io.outcome = Outcome::Ended(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    io.outcome = Outcome::Ended(Err(io::Error::other("the writing thread died")));
                }
            }
        }
    }
}

/// What a failed write at `offset` of `path` was doing.
pub(super) fn write_context(path: &Path, offset: Bytes) -> String {
    format!("writing at byte {offset} of {}", path.display())
}

/// Open `path` for a direct write of `data` at `offset` and say how much of it
/// goes, as a block device file takes a write: none starts at or past the
/// end, and one that runs over it is cut short.
pub(super) fn open_for_write(path: &Path, offset: Bytes, data: &[u8]) -> Result<(File, usize)> {
    let fail = |e| BackendError::io(write_context(path, offset), e);
    node::check_whole_sectors(offset, Bytes::of(data)).map_err(fail)?;
    let file = node::open_direct(path, true).map_err(fail)?;
    let size = node::size_of(&file).map_err(fail)?;
    if offset >= size && !data.is_empty() {
        return Err(fail(io::Error::from_raw_os_error(Errno::ENOSPC.code())));
    }
    Ok((file, data.len().min((size - offset).0 as usize)))
}
