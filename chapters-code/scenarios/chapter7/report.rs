//! What chapter 7 found, for comparing the simulator with a real kernel:
//! the [`Report`] and the `dmsetup status` lines of `deferred` in it.

use serde::{Deserialize, Serialize};

use crate::scenarios::stage_over_loop::status_numbers;

/// The fields `deferred` prints for `dmsetup status`, in its order
/// (`deferred_status()` in `module/stage4-deferred/deferred_target.c`).
pub const STATUS_FIELDS: [&str; 4] = ["held", "delayed", "drained", "pushed_back"];

/// What a run found, for comparing the simulator with a real kernel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    /// Which backend ran.
    pub backend: String,
    /// `dmsetup targets`' line for `deferred`.
    pub target: Option<String>,
    /// `dmsetup table` right after `create`.
    pub table: Vec<String>,
    /// `dmsetup status` right after `create`.
    pub created: Status,
    /// One write, held for its delay.
    pub held_write: HeldWrite,
    /// A plain suspend with writes held.
    pub suspend: SuspendRun,
    /// A noflush suspend with writes held, and a new table.
    pub noflush: NoflushRun,
    /// An `fsync`'s empty flush, held too.
    pub flush: FlushRun,
}

/// One `dmsetup status` line of `deferred`, read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Status {
    pub held: u64,
    pub delayed: u64,
    pub drained: u64,
    pub pushed_back: u64,
}

impl Status {
    /// Read the words after `<start> <length> deferred` in `dmsetup
    /// status`: exactly [`STATUS_FIELDS`], in order, as `name=value`.
    pub fn parse(params: &str) -> std::result::Result<Status, String> {
        let values = status_numbers(params, STATUS_FIELDS)?;
        let [held, delayed, drained, pushed_back] = values;
        Ok(Status {
            held,
            delayed,
            drained,
            pushed_back,
        })
    }
}

/// How one background write ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteEnd {
    /// The 4 KiB block of the device it wrote.
    pub block: u64,
    /// `ok`, or the errno's name it failed with.
    pub result: String,
    /// Whether the backing file holds its data.
    pub on_disk: bool,
}

/// One write, held for its delay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldWrite {
    /// The status once the target held it.
    pub holding: Status,
    /// Whether it was still waiting half a second later.
    pub waiting: bool,
    /// Whether its data was on the disk then.
    pub on_disk_while_held: bool,
    /// How it ended.
    pub end: WriteEnd,
    /// The status after.
    pub after: Status,
}

/// A plain suspend with writes held, a write while suspended, and resume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuspendRun {
    /// The status while the writes were held.
    pub holding: Status,
    /// `dmsetup info`: suspended once `dmsetup suspend` returned.
    pub suspended: bool,
    /// The status then.
    pub after_suspend: Status,
    /// How the held writes ended.
    pub writes: Vec<WriteEnd>,
    /// A write started while suspended: still waiting half a second later.
    pub late_waiting: bool,
    /// The status then: the target never saw it.
    pub while_suspended: Status,
    /// The status right after resume.
    pub after_resume: Status,
    /// How the late write ended.
    pub late: WriteEnd,
}

/// A noflush suspend with writes held, a new table, and resume.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoflushRun {
    /// The status while the writes were held.
    pub holding: Status,
    /// The status once `dmsetup suspend --noflush` returned.
    pub after_suspend: Status,
    /// Whether each write was still waiting half a second later.
    pub waiting: Vec<bool>,
    /// Whether each write's data was on the disk then.
    pub on_disk_while_suspended: Vec<bool>,
    /// `dmsetup table` after the reload and resume.
    pub table: Vec<String>,
    /// The new table's status right after resume.
    pub after_resume: Status,
    /// How the writes ended.
    pub writes: Vec<WriteEnd>,
}

/// An `fsync`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlushRun {
    /// `ok`, or the errno's name it failed with.
    pub result: String,
    /// The status after.
    pub after: Status,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_line_reads_only_in_the_documented_format() {
        let s = Status::parse("held=2 delayed=6 drained=2 pushed_back=0").unwrap();
        assert_eq!((s.held, s.delayed, s.drained, s.pushed_back), (2, 6, 2, 0));
        assert!(Status::parse("held=2").is_err());
        assert!(Status::parse("delayed=6 held=2 drained=2 pushed_back=0").is_err());
        assert!(Status::parse("held=x delayed=6 drained=2 pushed_back=0").is_err());
    }
}
