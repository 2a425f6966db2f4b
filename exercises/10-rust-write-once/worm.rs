//! `worm`: write once, read many. Every sector of the line may be written
//! once; a write that touches a sector written before fails, and reads
//! always pass.
//!
//! Table line: `<start> <length> worm <device> <start-sector>`.
//! `dmsetup status` prints `written=N`, the sectors written so far.
//! It exists for this exercise only: no kernel target does this.

use std::collections::BTreeSet;
use std::sync::Mutex;

use dm_workbook::dm::bio::{Bio, BioOp, MapResult};
use dm_workbook::dm::target::{CtrContext, DmDev, StatusType, Target, TargetInfo, TargetType};
use dm_workbook::errno::Errno;
use dm_workbook::targets::args::kstrtoull;

/// The target type.
pub struct Worm;

// ANCHOR: context
/// One table line's context.
pub struct WormLine {
    dev: DmDev,
    start: u64,
    // TODO 1: the sectors written so far. `map` takes `&self` and runs for
    // many bios at once, as in the kernel: the set needs a lock.
    written: Mutex<BTreeSet<u64>>,
    // END TODO 1
}
// ANCHOR_END: context

impl TargetType for Worm {
    fn name(&self) -> &'static str {
        "worm"
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let [path, start] = argv else {
            ti.set_error("Invalid argument count");
            return Err(Errno::EINVAL);
        };
        let Some(start) = kstrtoull(start) else {
            ti.set_error("Invalid device sector");
            return Err(Errno::EINVAL);
        };
        let dev = ti.get_device(path).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        ti.set_num_flush_bios(1);
        Ok(Box::new(WormLine {
            dev,
            start,
            // TODO 1: nothing written yet.
            written: Mutex::new(BTreeSet::new()),
            // END TODO 1
        }))
    }
}

impl Target for WormLine {
    // ANCHOR: map
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        let first = ti.target_offset(bio.sector);
        // TODO 2: a write with data may only touch sectors never written:
        // refuse it (the kernel's DM_MAPIO_KILL) if one was, else note its
        // sectors as written. Check and note under one lock, or two writes
        // to one sector could both pass.
        if bio.op == BioOp::Write && bio.sectors() > 0 {
            let sectors = first..first + bio.sectors();
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            if written.range(sectors.clone()).next().is_some() {
                return MapResult::Kill;
            }
            written.extend(sectors);
        }
        // END TODO 2
        bio.dev = self.dev.dev;
        if bio.sectors() > 0 {
            bio.sector = self.start + first;
        }
        MapResult::Remapped
    }
    // ANCHOR_END: map

    // ANCHOR: status
    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            // TODO 3: how many sectors have been written.
            StatusType::Info => {
                let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
                format!("written={}", written.len())
            }
            //~ StatusType::Info => "written=0".to_string(),
            // END TODO 3
            StatusType::Table => format!("{} {}", self.dev.name, self.start),
        }
    }
    // ANCHOR_END: status

    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        callout(&self.dev, self.start, ti.len)
    }
}
