//! Rust twins of kernel targets, each shaped like its C original.
//!
//! | target | kernel source | what it does |
//! | --- | --- | --- |
//! | [`linear`] | `drivers/md/dm-linear.c` | one device, at an offset |
//! | [`zero`] | `drivers/md/dm-zero.c` | reads zeroes, drops writes |
//! | [`striped`] | `drivers/md/dm-stripe.c` | chunks spread over several devices |
//! | [`error`] | `drivers/md/dm-target.c` | fails every bio |
//! | [`hello`] | `module/stage1-hello/hello_target.c` | the workbook's stage 1 |
//! | [`proxy`] | `module/stage2-proxy/proxy_target.c` | stage 2: counts what passes |
//! | [`faulty`] | `module/stage3-faulty/faulty_target.c` | stage 3: bad sectors on purpose |
//! | [`deferred`] | `module/stage4-deferred/deferred_target.c` | stage 4: every bio held for a delay |

pub mod args;
pub mod deferred;
pub mod error;
pub mod faulty;
pub mod hello;
pub mod linear;
pub mod proxy;
pub mod striped;
pub mod zero;

use std::sync::Arc;

use crate::dm::target::{TargetRegistry, TargetType};

/// The standard core's targets: those built into `dm-mod` itself, in the order
/// it registers them when it loads (`error` first, from `dm_target_init`, then
/// `linear` and `striped`), and `zero`, which lives in a module of its own.
pub fn standard() -> TargetRegistry {
    TargetRegistry {
        builtin: vec![
            Arc::new(error::Error),
            Arc::new(linear::Linear),
            Arc::new(striped::Striped),
        ],
        loadable: vec![Arc::new(zero::Zero)],
    }
}

/// Every Rust twin. Each knows its own name, so adding a twin is one line.
const TWINS: &[fn() -> Arc<dyn TargetType>] = &[
    || Arc::new(error::Error),
    || Arc::new(linear::Linear),
    || Arc::new(striped::Striped),
    || Arc::new(zero::Zero),
    || Arc::new(hello::HelloTarget),
    || Arc::new(proxy::Proxy),
    || Arc::new(faulty::Faulty),
    || Arc::new(deferred::Deferred::default()),
];

/// The Rust twin of the kernel target called `name` in table lines, if the
/// workbook has one.
pub fn twin(name: &str) -> Option<Arc<dyn TargetType>> {
    TWINS.iter().map(|make| make()).find(|t| t.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_twin_is_found_by_its_table_name() {
        for name in [
            "error",
            "linear",
            "striped",
            "zero",
            "hello_target",
            "proxy",
            "faulty",
            "deferred",
        ] {
            assert_eq!(twin(name).map(|t| t.name()), Some(name));
        }
        assert!(twin("crypt").is_none());
        let mut names: Vec<_> = TWINS.iter().map(|make| make().name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TWINS.len(), "two twins share a name");
    }

    #[test]
    fn the_standard_targets_all_have_twins() {
        let standard = standard();
        for target in standard.builtin.iter().chain(&standard.loadable) {
            assert!(twin(target.name()).is_some(), "{}", target.name());
        }
    }
}
