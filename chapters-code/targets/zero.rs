//! `zero`: a device of zeroes that swallows writes.
//!
//! The twin of `drivers/md/dm-zero.c`. Takes no arguments.

use crate::dm::bio::{Bio, BioOp, MapResult};
use crate::dm::target::{CtrContext, Target, TargetInfo, TargetType};
use crate::errno::Errno;

/// The `zero` target type.
pub struct Zero;

struct ZeroContext;

impl TargetType for Zero {
    fn name(&self) -> &'static str {
        "zero"
    }

    fn version(&self) -> [u32; 3] {
        [1, 2, 0]
    }

    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        if !argv.is_empty() {
            ti.set_error("No arguments required");
            return Err(Errno::EINVAL);
        }
        // `zero_ctr()`, Linux 6.1 `drivers/md/dm-zero.c` line 28. With no
        // `iterate_devices` the table still offers no discard, so the block
        // layer refuses them before they get here.
        ti.set_num_discard_bios(1);
        Ok(Box::new(ZeroContext))
    }
}

impl Target for ZeroContext {
    /// The target ends reads and writes itself, so for them it returns
    /// `Submitted`. The kernel's `zero_map` (`drivers/md/dm-zero.c`, Linux
    /// 6.1) returns `DM_MAPIO_KILL` for a readahead read and for any other
    /// operation (6.12 also accepts discards); the simulator has no
    /// readahead.
    fn map(&self, _ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        match bio.op {
            BioOp::Read => bio.zero_fill(),
            BioOp::Write => {} // dropped on the floor
            BioOp::Discard | BioOp::SecureErase | BioOp::WriteZeroes => return MapResult::Kill,
        }
        bio.endio();
        MapResult::Submitted
    }
}
