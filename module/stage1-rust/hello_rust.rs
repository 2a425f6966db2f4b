// SPDX-License-Identifier: GPL-2.0

//! hello_target in Rust: stage 1 of the dm-workbook, a passthrough target.
//!
//! Every bio goes to one underlying device, shifted by a fixed offset.
//! Table line: `<start> <length> hello_target <device> <start-sector>`.
//!
//! The same target as `module/stage1-hello/hello_target.c`: the same checks
//! in the same order, the same `ti->error` strings, the same status, and the
//! same flush and discard bios. Its callbacks are safe Rust over the layer in
//! `dm.rs`, which holds all of the module's `unsafe` code.

use core::ffi::CStr;
use core::fmt::Write;

use kernel::prelude::*;

mod dm;

use dm::{Bio, Ctr, Device, Devices, MapResult, Status, StatusType, Target, TargetInfo};

module! {
    type: HelloModule,
    name: "hello_target",
    authors: ["dm-workbook"],
    description: "device-mapper hello_target: a passthrough to one device at an offset, in Rust",
    license: "GPL",
}

// ANCHOR: context
/// What the constructor builds for one table line.
struct Hello {
    /// Where every bio goes; put back when the line goes away.
    dev: Device,
    /// Where this line's first sector lands there.
    start: u64,
}
// ANCHOR_END: context

impl Target for Hello {
    const NAME: &'static CStr = c"hello_target";
    const VERSION: [u32; 3] = [1, 0, 0];

    // ANCHOR: ctr
    /// `args` is `<device> <start-sector>`.
    fn ctr(ti: &mut Ctr<'_>, args: &[&CStr]) -> Result<Self> {
        let [path, start] = args else {
            ti.set_error(c"Invalid argument count");
            return Err(EINVAL);
        };
        // kstrtoull refuses junk, a '-' sign and overflow.
        let Some(start) = dm::kstrtoull(start) else {
            ti.set_error(c"Invalid device sector");
            return Err(EINVAL);
        };
        let dev = ti.get_device(path).inspect_err(|_| {
            ti.set_error(c"Device lookup failed");
        })?;
        // Without these the core sends this line none of them: a table with
        // no line asking for flushes is reported as "write through", and the
        // block layer drops every PREFLUSH and FUA on its way in.
        ti.set_num_flush_discard_bios(1);
        Ok(Hello { dev, start })
    }
    // ANCHOR_END: ctr

    // ANCHOR: map
    fn map(&self, ti: &TargetInfo<'_>, bio: &mut Bio<'_>) -> MapResult {
        bio.set_device(&self.dev);
        // An empty flush has no sectors: it only needs the right device.
        if bio.sectors() > 0 {
            bio.set_sector(self.start + ti.target_offset(bio.sector()));
        }
        MapResult::Remapped
    }
    // ANCHOR_END: map

    // ANCHOR: status
    fn status(&self, ti: &TargetInfo<'_>, kind: StatusType, out: &mut Status<'_>) {
        let dev = self.dev.name().to_str().unwrap_or("?");
        // Status's writer cuts off what does not fit, as DMEMIT does.
        let _ = match kind {
            StatusType::Info => Ok(()),
            StatusType::Table => write!(out, "{} {}", dev, self.start),
            StatusType::Ima => {
                let (name, [major, minor, patch]) = ti.type_name_version();
                let name = name.to_str().unwrap_or("?");
                write!(
                    out,
                    "target_name={name},target_version={major}.{minor}.{patch},\
                     device_name={dev},start={};",
                    self.start
                )
            }
        };
    }
    // ANCHOR_END: status

    // ANCHOR: iterate_devices
    /// Tell the core which part of which device this line uses: it refuses a
    /// table whose start plus length reaches past the end of the device.
    fn iterate_devices(&self, ti: &TargetInfo<'_>, devices: &mut Devices<'_>) -> i32 {
        devices.call(&self.dev, self.start, ti.len())
    }
    // ANCHOR_END: iterate_devices
}

// ANCHOR: dtr
// There is no dtr to write: when the core destroys the line, `dm.rs` drops
// the `Hello`, and dropping its `Device` calls `dm_put_device`.
// ANCHOR_END: dtr

// ANCHOR: init_exit
/// The target type the core calls, in a static: it must stay put while
/// registered.
static HELLO_TARGET: dm::TargetType<Hello> = dm::TargetType::new();

/// The loaded module: `hello_target` is registered while it exists.
struct HelloModule;

impl kernel::Module for HelloModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        HELLO_TARGET.register(module)?;
        Ok(HelloModule)
    }
}

impl Drop for HelloModule {
    fn drop(&mut self) {
        HELLO_TARGET.unregister();
    }
}
// ANCHOR_END: init_exit
