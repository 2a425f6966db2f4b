//! `reverse`: a target that lays its chunks on the device in reverse order.
//!
//! Table line: `<start> <length> reverse <device> <start-sector> <chunk>`.
//! The line is cut into chunks of `<chunk>` sectors (a power of two); chunk
//! 0 of the line is the last chunk of the line's area on the device, chunk 1
//! the one before it, and so on. Inside a chunk, sectors keep their order.
//! It exists for this exercise only: no kernel target maps this way.

use dm_workbook::dm::bio::{Bio, MapResult};
use dm_workbook::dm::target::{CtrContext, DmDev, StatusType, Target, TargetInfo, TargetType};
use dm_workbook::errno::Errno;
use dm_workbook::targets::args::kstrtoull;

/// The target type.
pub struct Reverse;

/// One table line's context.
pub struct ReverseLine {
    dev: DmDev,
    /// The line's first sector on the device.
    start: u64,
    /// Sectors per chunk.
    chunk: u64,
}

impl TargetType for Reverse {
    fn name(&self) -> &'static str {
        "reverse"
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    // ANCHOR: ctr
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let [path, start, chunk] = argv else {
            ti.set_error("Invalid argument count");
            return Err(Errno::EINVAL);
        };
        let Some(start) = kstrtoull(start) else {
            ti.set_error("Invalid device sector");
            return Err(Errno::EINVAL);
        };
        // TODO 1: refuse a chunk that is not a power of two ("Invalid chunk
        // size"), and a line whose length is not a whole number of chunks
        // ("Length is not a multiple of the chunk size").
        let Some(chunk) = kstrtoull(chunk).filter(|c| c.is_power_of_two()) else {
            ti.set_error("Invalid chunk size");
            return Err(Errno::EINVAL);
        };
        if !ti.info().len.is_multiple_of(chunk) {
            ti.set_error("Length is not a multiple of the chunk size");
            return Err(Errno::EINVAL);
        }
        //~ let chunk = kstrtoull(chunk).unwrap_or(8);
        // END TODO 1
        let dev = ti.get_device(path).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        // TODO 2: make the core split bios so that map never sees one that
        // crosses a chunk.
        ti.set_max_io_len(chunk);
        // END TODO 2
        ti.set_num_flush_bios(1);
        Ok(Box::new(ReverseLine { dev, start, chunk }))
    }
    // ANCHOR_END: ctr
}

impl Target for ReverseLine {
    // ANCHOR: map
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        bio.dev = self.dev.dev;
        if bio.sectors() == 0 {
            // An empty flush: no sector to move.
            return MapResult::Remapped;
        }
        // TODO 3: find the bio's chunk in the line, and send the bio to the
        // mirrored chunk of the line's area on the device, at the same
        // place inside it.
        let offset = ti.target_offset(bio.sector);
        let chunks = ti.len / self.chunk;
        let (index, within) = (offset / self.chunk, offset % self.chunk);
        bio.sector = self.start + (chunks - 1 - index) * self.chunk + within;
        //~ bio.sector = self.start + ti.target_offset(bio.sector);
        // END TODO 3
        MapResult::Remapped
    }
    // ANCHOR_END: map

    // ANCHOR: status
    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            StatusType::Info => String::new(),
            // TODO 4: the arguments that would build this line again.
            StatusType::Table => format!("{} {} {}", self.dev.name, self.start, self.chunk),
            //~ StatusType::Table => String::new(),
            // END TODO 4
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
