//! # dm-workbook
//!
//! The code behind the workbook on Linux device-mapper targets.
//!
//! - [`dm`]: the vocabulary below everything else: ioctls and their errors, device
//!   numbers and bios, the target contract, trace events.
//! - [`table`]: table lines in `dmsetup` syntax, shared by every backend.
//! - [`sim`]: a teaching model of the device-mapper core (mapped devices, tables,
//!   target types, bios) that follows the kernel's rules.
//! - [`targets`]: Rust twins of kernel targets (`linear`, `zero`, `error`, and the
//!   workbook's own `hello_target`), shaped like `struct target_type`.
//! - [`driver`]: the [`driver::Backend`] seam that a chapter's scenario runs on: the
//!   simulator, or (feature `kernel`) a real kernel through `/dev/mapper/control`.
//! - [`scenarios`]: each chapter's steps, written once for every backend.
//! - [`workshop`]: the exercises, their skeletons, checks and the learner's progress.
//! - [`alarms`]: the kernel log lines that mean a target went wrong.

pub mod alarms;
pub mod cli;
pub mod dm;
pub mod drift;
pub mod driver;
pub mod errno;
pub mod manifest;
pub mod scenarios;
pub mod sim;
pub mod table;
pub mod targets;
pub mod workshop;

/// The kernel's sector: 512 bytes, whatever the device's logical block size.
pub const SECTOR_SIZE: u64 = 512;
/// `SECTOR_SHIFT` in `include/linux/blk_types.h`.
pub const SECTOR_SHIFT: u32 = 9;
