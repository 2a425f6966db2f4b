//! Rust twins of kernel targets, each shaped like its C original.
//!
//! | target | kernel source | what it does |
//! | --- | --- | --- |
//! | [`linear`] | `drivers/md/dm-linear.c` | one device, at an offset |
//! | [`zero`] | `drivers/md/dm-zero.c` | reads zeroes, drops writes |
//! | [`striped`] | `drivers/md/dm-stripe.c` | chunks spread over several devices |
//! | [`error`] | `drivers/md/dm-target.c` | fails every bio |
//! | [`hello`] | `module/stage1-hello/hello_target.c` | the workbook's stage 1 |

pub mod args;
pub mod error;
pub mod hello;
pub mod linear;
pub mod striped;
pub mod zero;

use std::sync::Arc;

use crate::dm::target::TargetType;

/// The targets built into `dm-mod` itself, in the order it registers them
/// when it loads (`error` first, from `dm_target_init`, then `linear` and
/// `striped`).
pub fn builtin() -> Vec<Arc<dyn TargetType>> {
    vec![
        Arc::new(error::Error),
        Arc::new(linear::Linear),
        Arc::new(striped::Striped),
    ]
}

/// Targets that live in modules of their own, which the core loads the first
/// time a table names them (`request_module("dm-%s", name)`).
pub fn loadable() -> Vec<Arc<dyn TargetType>> {
    vec![Arc::new(zero::Zero)]
}
