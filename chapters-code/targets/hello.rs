//! `hello_target`, stage 1: the Rust twin of `module/stage1-hello/hello_target.c`.
//!
//! A passthrough: every bio goes to one device, shifted by a fixed offset.
//! Table line: `<start> <length> hello_target <device> <start-sector>`.
//! The C module and this file make the same checks in the same order and fail
//! with the same `ti->error` strings, so the simulator and a real kernel refuse
//! the same lines for the same reasons. Both ask the core for flushes,
//! discards, secure erases and write-zeroes, one of each per line, as
//! `linear` does.

use crate::dm::bio::{Bio, MapResult};
use crate::dm::target::{CtrContext, DmDev, StatusType, Target, TargetInfo, TargetType};
use crate::errno::Errno;
use crate::targets::args::kstrtoull;

// ANCHOR: context
/// The target type: what `dm_register_target(&hello_target)` registers.
pub struct HelloTarget;

/// What `ctr` builds for one table line (`struct hello_c` in the C module).
pub struct HelloContext {
    /// The device every bio is sent to.
    dev: DmDev,
    /// Where this line's first sector lands on that device.
    start: u64,
}
// ANCHOR_END: context

impl TargetType for HelloTarget {
    fn name(&self) -> &'static str {
        "hello_target"
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    // ANCHOR: ctr
    /// `hello_ctr`: `argv` is `<device> <start-sector>`.
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let [path, start] = argv else {
            ti.set_error("Invalid argument count");
            return Err(Errno::EINVAL);
        };
        // kstrtoull refuses junk, signs other than '+', and overflow.
        let Some(start) = kstrtoull(start) else {
            ti.set_error("Invalid device sector");
            return Err(Errno::EINVAL);
        };
        let dev = ti.get_device(path).inspect_err(|_| {
            ti.set_error("Device lookup failed");
        })?;
        // Without these the core sends this line none of them: a table with
        // no line asking for flushes is reported as "write through", and the
        // block layer drops every PREFLUSH and FUA on its way in.
        ti.set_num_flush_bios(1);
        ti.set_num_discard_bios(1);
        ti.set_num_secure_erase_bios(1);
        ti.set_num_write_zeroes_bios(1);
        Ok(Box::new(HelloContext { dev, start }))
    }
    // ANCHOR_END: ctr
}

impl Target for HelloContext {
    // ANCHOR: map
    /// `hello_map`: point the bio at our device and shift its sector.
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        bio.dev = self.dev.dev;
        // An empty flush has no sectors: it only needs the right device.
        if bio.sectors() > 0 {
            bio.sector = self.start + ti.target_offset(bio.sector);
        }
        MapResult::Remapped
    }
    // ANCHOR_END: map

    // ANCHOR: status
    /// `hello_status`: nothing to report for `dmsetup status`; for
    /// `dmsetup table`, the arguments that would build this line again.
    fn status(&self, _ti: &TargetInfo, kind: StatusType) -> String {
        match kind {
            StatusType::Info => String::new(),
            StatusType::Table => format!("{} {}", self.dev.name, self.start),
        }
    }
    // ANCHOR_END: status

    // ANCHOR: iterate_devices
    /// `hello_iterate_devices`: tell the core which device range this line
    /// uses, so it can refuse a table that reaches past the device's end.
    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        callout(&self.dev, self.start, ti.len)
    }
    // ANCHOR_END: iterate_devices

    // ANCHOR: dtr
    /// `hello_dtr`: the core puts the device; nothing else to undo.
    fn dtr(&mut self) {}
    // ANCHOR_END: dtr
}
