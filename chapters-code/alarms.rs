//! Kernel complaints that fail a lab run or a workshop check, read from `alarms.toml`.
//!
//! A learner's target rarely crashes the kernel cleanly: the core first logs
//! why (`unimplemented target map return value: -5`), then a BUG or an Oops
//! follows. The summary names the first alarm in the data's order, so it
//! names the explaining line, not only the crash after it.

use std::sync::OnceLock;

use serde::Deserialize;

/// One kind of complaint.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alarm {
    /// What went wrong, in a learner's words.
    pub name: String,
    /// Substrings of a kernel log line that raise this alarm.
    pub patterns: Vec<String>,
    /// The likely cause and fix.
    pub hint: String,
    /// A real line for each pattern: the evidence the tests hold the
    /// patterns to (nothing else reads it).
    #[cfg_attr(not(test), allow(dead_code))]
    pub samples: Vec<String>,
    /// Where each sample comes from.
    #[cfg_attr(not(test), allow(dead_code))]
    pub seen: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    alarm: Vec<Alarm>,
}

/// Every alarm, in the order the summary prefers them.
pub fn all() -> &'static [Alarm] {
    static ALARMS: OnceLock<Vec<Alarm>> = OnceLock::new();
    ALARMS.get_or_init(|| {
        toml::from_str::<File>(include_str!("alarms.toml"))
            .expect("chapters-code/alarms.toml is valid (a unit test checks it)")
            .alarm
    })
}

/// A log line that raised an alarm.
#[derive(Debug)]
pub struct Raised<'a> {
    pub alarm: &'static Alarm,
    pub line: &'a str,
}

impl Raised<'_> {
    /// One line for the run's summary.
    pub fn summary(&self) -> String {
        format!(
            "kernel: {}: `{}` ({})",
            self.alarm.name,
            self.line.trim(),
            self.alarm.hint
        )
    }
}

/// The alarm `line` raises, if any: the first whose pattern it holds.
pub fn check(line: &str) -> Option<&'static Alarm> {
    all()
        .iter()
        .find(|alarm| alarm.patterns.iter().any(|p| line.contains(p.as_str())))
}

/// Every line of `lines` that raised an alarm, the most telling first: by the
/// alarm's place in the data, then by the line's order in the log.
pub fn raised<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<Raised<'a>> {
    let mut found: Vec<(usize, usize, Raised<'a>)> = lines
        .into_iter()
        .enumerate()
        .filter_map(|(at, line)| {
            let alarm = check(line)?;
            let rank = all().iter().position(|a| std::ptr::eq(a, alarm))?;
            Some((rank, at, Raised { alarm, line }))
        })
        .collect();
    found.sort_by_key(|(rank, at, _)| (*rank, *at));
    found.into_iter().map(|(_, _, raised)| raised).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_raises_its_own_alarm_and_no_earlier_one() {
        assert!(all().len() >= 10);
        for alarm in all() {
            assert!(
                !alarm.seen.is_empty(),
                "{}: say where the samples come from",
                alarm.name
            );
            assert_eq!(
                alarm.samples.len(),
                alarm.patterns.len(),
                "{}: one sample per pattern",
                alarm.name
            );
            for sample in &alarm.samples {
                let got = check(sample).map(|a| a.name.as_str());
                assert_eq!(got, Some(alarm.name.as_str()), "{sample}");
            }
        }
    }

    #[test]
    fn the_explaining_line_comes_before_the_crash_it_causes() {
        // As the 6.1 lab printed them for a map that returned -EIO.
        let log = [
            "[   11.9] device-mapper: core: unimplemented target map return value: -5",
            "[   11.9] ------------[ cut here ]------------",
            "[   11.9] kernel BUG at drivers/md/dm.c:1442!",
            "[   11.9] invalid opcode: 0000 [#1] PREEMPT SMP NOPTI",
        ];
        let found = raised(log);
        assert_eq!(found.len(), 2);
        assert!(found[0].summary().contains("not a DM_MAPIO_* code"));
        assert!(found[0].summary().contains("return value: -5"));
        assert!(found[1].summary().contains("hit a BUG()"));
    }

    #[test]
    fn ordinary_lines_raise_nothing() {
        for line in [
            "device-mapper: table: 254:0: hello_target: Device lookup failed (-ENXIO)",
            "device-mapper: ioctl: 4.47.0-ioctl (2022-07-28) initialised: dm-devel@redhat.com",
            "EXT4-fs (dm-0): mounted filesystem with ordered data mode.",
            "loop0: detected capacity change from 0 to 262144",
            "DEBUGGING is fine",
        ] {
            assert_eq!(check(line).map(|a| &a.name), None, "{line}");
        }
    }
}
