//! `linear`: map a run of sectors onto one device at an offset.
//!
//! The twin of `drivers/md/dm-linear.c`. Table arguments: `<device> <offset>`.

use crate::dm::bio::{Bio, MapResult};
use crate::dm::target::{CtrContext, DmDev, StatusType, Target, TargetInfo, TargetType};
use crate::errno::Errno;
use crate::targets::args::sscanf_llu;

/// The `linear` target type.
pub struct Linear;

/// One `linear` line's context (`struct linear_c`).
pub struct LinearContext {
    dev: DmDev,
    start: u64,
}

impl TargetType for Linear {
    fn name(&self) -> &'static str {
        "linear"
    }

    fn version(&self) -> [u32; 3] {
        [1, 4, 0]
    }

    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let [path, offset] = argv else {
            ti.set_error("Invalid argument count");
            return Err(Errno::EINVAL);
        };
        let Some(start) = sscanf_llu(offset) else {
            ti.set_error("Invalid device sector");
            return Err(Errno::EINVAL);
        };
        let dev = ti.get_device(path).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        // `linear_ctr()`, Linux 6.1 `drivers/md/dm-linear.c` lines 60-63.
        ti.set_num_flush_bios(1);
        ti.set_num_discard_bios(1);
        ti.set_num_secure_erase_bios(1);
        ti.set_num_write_zeroes_bios(1);
        Ok(Box::new(LinearContext { dev, start }))
    }
}

impl Target for LinearContext {
    /// `linear_map()` in 6.1 remaps every bio's sector, an empty flush's too
    /// (`dm-linear.c` lines 87-95), with `sector_t`'s wrapping arithmetic.
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        bio.dev = self.dev.dev;
        bio.sector = self.start.wrapping_add(ti.target_offset(bio.sector));
        MapResult::Remapped
    }

    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            StatusType::Info => String::new(),
            StatusType::Table => format!("{} {}", self.dev.name, self.start),
        }
    }

    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        callout(&self.dev, self.start, ti.len)
    }
}
