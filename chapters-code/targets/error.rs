//! `error`: every bio fails.
//!
//! The twin of the `error` target in `drivers/md/dm-target.c`, which is used to
//! fence off a broken range of a device. It ignores its arguments.

use crate::dm::bio::{Bio, MapResult};
use crate::dm::target::{CtrContext, Target, TargetInfo, TargetType};
use crate::errno::Errno;

/// The `error` target type.
pub struct Error;

struct ErrorContext;

impl TargetType for Error {
    fn name(&self) -> &'static str {
        "error"
    }

    fn version(&self) -> [u32; 3] {
        [1, 5, 0]
    }

    fn ctr(&self, ti: &mut dyn CtrContext, _argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        // `io_err_ctr()` (dm-target.c lines 113-121 in 6.1) asks for one
        // clone of each discard, so that a discard fails with an I/O error
        // like any other bio instead of being refused as unsupported. It
        // asks for no flushes: the core sends this line none.
        ti.set_num_discard_bios(1);
        Ok(Box::new(ErrorContext))
    }
}

impl Target for ErrorContext {
    fn map(&self, _ti: &TargetInfo, _bio: &mut Bio) -> MapResult {
        MapResult::Kill
    }
}
