//! What a guest script reports of the kernel beside the chapters' reports:
//! the tables it refused (`REFUSAL` lines) and what it saw of a table's write
//! cache and flushes (`WRITE_CACHE` and `FLUSH` lines), each held to the
//! simulator's answer for the same table.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use dm_workbook::driver::sim::SimBackend;
use dm_workbook::scenarios::chapter3::{self, Options};
use dm_workbook::targets;

/// A bad table line the kernel refused, and the first device-mapper line it
/// logged about it.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub table: String,
    pub reason: String,
}

/// A simulator backend over a 128 MiB `/dev/loop0` with stage 1's twin
/// loaded, and the twins of any other stage whose target `table` names.
fn simulator_for(table: &dm_workbook::table::Table) -> Result<SimBackend> {
    use dm_workbook::driver::Backend;
    let mut backend = SimBackend::new()?;
    let file = backend.scratch_dir().join("disk.img");
    std::fs::File::create(&file)?.set_len(chapter3::BACKING_BYTES)?;
    backend.attach_loop(&file)?;
    let first = Options::default().stage;
    backend.load_stage(first)?;
    let manifest = dm_workbook::manifest::Manifest::bundled();
    let mut loaded = vec![first.target.clone()];
    for line in &table.lines {
        if let Some(stage) = manifest.stages.iter().find(|s| {
            s.target == line.target && s.scenario.is_some() && !loaded.contains(&s.target)
        }) {
            backend.load_stage(stage)?;
            loaded.push(stage.target.clone());
        }
    }
    Ok(backend)
}

/// What the simulator logs first for `table` (with `/dev/loop0` a 128 MiB
/// disk), or `None` if it accepts the line.
pub fn simulator_refusal(table: &str) -> Result<Option<String>> {
    use dm_workbook::driver::Backend;
    let parsed = dm_workbook::table::Table::parse(table)?;
    let mut backend = simulator_for(&parsed)?;
    match backend.create_with_table("refusal", &parsed) {
        Ok(_) => Ok(None),
        Err(dm_workbook::driver::BackendError::Dm(err)) => {
            Ok(Some(err.reason().unwrap_or_default().to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

/// The refusals a run's kernel reported, held to the simulator's.
#[derive(Debug, Default)]
pub struct RefusalCheck {
    /// One line per refusal the simulator gives differently.
    pub differences: Vec<String>,
    /// Target types the tables name that the simulator has no twin of: their
    /// refusals are not compared.
    pub without_twin: BTreeSet<String>,
}

/// Check each refusal the kernel reported against the simulator's, where the
/// simulator knows every target type the table names.
pub fn check_refusals(kernel: &[Refusal]) -> Result<RefusalCheck> {
    let mut check = RefusalCheck::default();
    for refusal in kernel {
        let named: Vec<String> = dm_workbook::table::Table::parse(&refusal.table)
            .map(|t| t.lines.into_iter().map(|l| l.target).collect())
            .unwrap_or_default();
        let unknown: Vec<String> = named
            .into_iter()
            .filter(|name| targets::twin(name).is_none())
            .collect();
        if !unknown.is_empty() {
            check.without_twin.extend(unknown);
            continue;
        }
        let sim = simulator_refusal(&refusal.table)?;
        let kernel_reason = normalise_dm_minor(&refusal.reason);
        let sim_reason = sim.as_deref().map(normalise_dm_minor);
        if sim_reason.as_deref() != Some(kernel_reason.as_str()) {
            check.differences.push(format!(
                "`{}`: kernel logged `{}`, simulator {}",
                refusal.table,
                refusal.reason,
                sim.map_or("accepted it".to_string(), |r| format!("logged `{r}`"))
            ));
        }
    }
    Ok(check)
}

/// A message the kernel refused on a device with `table`: `MESSAGE_REFUSAL
/// <table>|<sector> <words>|<first device-mapper log line>`, as
/// `module/stage2-proxy/tests/bad-input.sh` prints them.
#[derive(Debug, PartialEq, Eq)]
pub struct MessageRefused {
    pub table: String,
    pub sector: u64,
    pub words: Vec<String>,
    pub reason: String,
}

impl MessageRefused {
    /// Read one line of a script's output, if it is one of these.
    pub fn parse(line: &str) -> Option<MessageRefused> {
        let mut parts = line.strip_prefix("MESSAGE_REFUSAL ")?.splitn(3, '|');
        let table = parts.next()?;
        let mut message = parts.next()?.split_whitespace();
        let reason = parts.next()?;
        Some(MessageRefused {
            table: table.to_string(),
            sector: message.next()?.parse().ok()?,
            words: message.map(str::to_string).collect(),
            reason: reason.to_string(),
        })
    }
}

/// Send each refused message to the simulator, on a device made with the
/// same table, and list where it answers otherwise: accepted, or refused
/// with another first log line. Tables naming a target without a twin are
/// left out.
pub fn message_differences(kernel: &[MessageRefused]) -> Result<Vec<String>> {
    use dm_workbook::driver::{Backend, BackendError};
    let mut found = Vec::new();
    for refused in kernel {
        let parsed = dm_workbook::table::Table::parse(&refused.table)?;
        if parsed
            .lines
            .iter()
            .any(|l| targets::twin(&l.target).is_none())
        {
            continue;
        }
        let mut backend = simulator_for(&parsed)?;
        backend.create_with_table("message", &parsed)?;
        let words: Vec<&str> = refused.words.iter().map(String::as_str).collect();
        let sim = match backend.message(
            "message",
            dm_workbook::dm::units::Sectors(refused.sector),
            &words,
        ) {
            Ok(_) => None,
            Err(BackendError::Dm(err)) => Some(err.reason().unwrap_or_default().to_string()),
            Err(other) => return Err(other.into()),
        };
        let sim_reason = sim.as_deref().map(normalise_dm_minor);
        if sim_reason.as_deref() != Some(normalise_dm_minor(&refused.reason).as_str()) {
            found.push(format!(
                "`{} {}` on `{}`: kernel logged `{}`, simulator {}",
                refused.sector,
                refused.words.join(" "),
                refused.table,
                refused.reason,
                sim.map_or("accepted it".to_string(), |r| format!("logged `{r}`"))
            ));
        }
    }
    Ok(found)
}

/// Device names such as `254:3` depend on how many devices the guest made
/// before; the simulator's first device is always `254:0`.
fn normalise_dm_minor(line: &str) -> String {
    line.split(' ')
        .map(
            |word| match word.strip_suffix(':').and_then(|w| w.split_once(':')) {
                Some((major, minor))
                    if major.bytes().all(|b| b.is_ascii_digit())
                        && minor.bytes().all(|b| b.is_ascii_digit())
                        && !major.is_empty()
                        && !minor.is_empty() =>
                {
                    format!("{major}:N:")
                }
                _ => word.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a guest script saw of one table's cache: `WRITE_CACHE <table>|<mode>`
/// (`queue/write_cache` of the device) or `FLUSH <table>|reached` / `FLUSH
/// <table>|not reached` (whether an fsync on the device raised `/dev/loop0`'s
/// flush count), as `module/stage1-hello/tests/flush.sh` prints them.
#[derive(Debug, PartialEq, Eq)]
pub struct CacheSeen {
    pub what: CacheQuestion,
    pub table: String,
    pub answer: String,
}

/// Which question a [`CacheSeen`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheQuestion {
    WriteCache,
    Flush,
}

impl CacheSeen {
    /// Read one line of a script's output, if it is one of these.
    pub fn parse(line: &str) -> Option<CacheSeen> {
        let (what, rest) = if let Some(rest) = line.strip_prefix("WRITE_CACHE ") {
            (CacheQuestion::WriteCache, rest)
        } else {
            (CacheQuestion::Flush, line.strip_prefix("FLUSH ")?)
        };
        let (table, answer) = rest.split_once('|')?;
        Some(CacheSeen {
            what,
            table: table.to_string(),
            answer: answer.to_string(),
        })
    }
}

/// What the simulator answers for `seen`'s table (built as the only device
/// over a 128 MiB `/dev/loop0` with a write-back cache), where it differs
/// from what the kernel answered; tables naming a target type the simulator
/// has no twin of are left out.
pub fn cache_differences(kernel: &[CacheSeen]) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for seen in kernel {
        let sim = simulator_cache_answer(seen.what, &seen.table)?;
        if let Some(sim) = sim
            && sim != seen.answer
        {
            found.push(format!(
                "`{}`: {} is `{}` on the kernel, `{sim}` on the simulator",
                seen.table,
                match seen.what {
                    CacheQuestion::WriteCache => "write_cache",
                    CacheQuestion::Flush => "the fsync's flush",
                },
                seen.answer
            ));
        }
    }
    Ok(found)
}

fn simulator_cache_answer(what: CacheQuestion, table: &str) -> Result<Option<String>> {
    use dm_workbook::sim::{Simulator, Submission};
    let parsed = dm_workbook::table::Table::parse(table)?;
    let mut sim = Simulator::new(targets::standard());
    for line in &parsed.lines {
        let Some(twin) = targets::twin(&line.target) else {
            return Ok(None);
        };
        if !sim.targets().iter().any(|t| t.name == line.target) {
            sim.register_target(twin)
                .map_err(|e| anyhow::anyhow!("registering {}: {e}", line.target))?;
        }
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)?.set_len(chapter3::BACKING_BYTES)?;
    sim.attach_loop(&file)
        .map_err(|e| anyhow::anyhow!("attaching the simulator's loop device: {e}"))?;
    sim.create("flush")?;
    sim.load("flush", &parsed)?;
    sim.resume("flush")?;
    Ok(Some(match what {
        CacheQuestion::WriteCache => sim
            .write_cache("flush")
            .context("the device just made")?
            .to_string(),
        CacheQuestion::Flush => {
            let before = stat_flushes(&sim)?;
            // What `dd bs=4096 count=1 conv=fsync` sends: the block, then
            // an empty flush.
            sim.write("flush", 0, &[0; 4096])?;
            let Submission::Done(_) = sim.flush("flush")? else {
                anyhow::bail!("the simulator deferred a flush on a running device");
            };
            if stat_flushes(&sim)? > before {
                "reached".to_string()
            } else {
                "not reached".to_string()
            }
        }
    }))
}

fn stat_flushes(sim: &dm_workbook::sim::Simulator) -> Result<u64> {
    Ok(sim
        .loop_stat("/dev/loop0")
        .map_err(|e| anyhow::anyhow!("/dev/loop0's stat: {e}"))?
        .flushes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_compare_without_the_device_number() {
        let same = Refusal {
            table: "0 262144 hello_target /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:3: hello_target: Invalid device sector (-EINVAL)"
                .into(),
        };
        assert!(check_refusals(&[same]).unwrap().differences.is_empty());
        let other = Refusal {
            table: "0 262144 hello_target /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:3: hello_target: something else (-EINVAL)".into(),
        };
        assert_eq!(check_refusals(&[other]).unwrap().differences.len(), 1);
    }

    #[test]
    fn a_target_without_a_twin_is_not_compared_but_named() {
        let learner = Refusal {
            table: "0 262144 learner /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:0: learner: Invalid device sector (-EINVAL)".into(),
        };
        let check = check_refusals(&[learner]).unwrap();
        assert!(check.differences.is_empty());
        assert_eq!(
            check.without_twin.into_iter().collect::<Vec<_>>(),
            ["learner"]
        );
    }

    #[test]
    fn refused_messages_are_held_to_the_simulators_refusals() {
        let line = "MESSAGE_REFUSAL 0 4096 proxy /dev/loop0 2048|0 reset now|\
                    device-mapper: proxy: Invalid argument count for message: reset takes none";
        let refused = MessageRefused::parse(line).unwrap();
        assert_eq!(refused.sector, 0);
        assert_eq!(refused.words, ["reset", "now"]);
        assert!(message_differences(&[refused]).unwrap().is_empty());
        let other = MessageRefused::parse(
            "MESSAGE_REFUSAL 0 4096 proxy /dev/loop0 2048|0 reset|device-mapper: proxy: no",
        )
        .unwrap();
        let found = message_differences(&[other]).unwrap();
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("simulator accepted it"), "{found:?}");
        let outside = MessageRefused::parse(
            "MESSAGE_REFUSAL 0 4096 proxy /dev/loop0 2048|4096 reset|\
             device-mapper: ioctl: Target message sector outside device.",
        )
        .unwrap();
        assert!(message_differences(&[outside]).unwrap().is_empty());
        assert_eq!(MessageRefused::parse("REFUSAL 0 8 x|y"), None);
    }

    #[test]
    fn a_proxy_table_is_refused_by_its_twin() {
        let refusal = Refusal {
            table: "0 262144 proxy /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:0: proxy: Invalid device sector (-EINVAL)".into(),
        };
        let check = check_refusals(&[refusal]).unwrap();
        assert!(check.differences.is_empty(), "{:?}", check.differences);
        assert!(check.without_twin.is_empty());
    }

    #[test]
    fn reads_the_flush_scripts_lines() {
        assert_eq!(
            CacheSeen::parse("WRITE_CACHE 0 8 linear /dev/loop0 0|write back"),
            Some(CacheSeen {
                what: CacheQuestion::WriteCache,
                table: "0 8 linear /dev/loop0 0".to_string(),
                answer: "write back".to_string(),
            })
        );
        assert_eq!(
            CacheSeen::parse("FLUSH 0 8 hello_target /dev/loop0 0|not reached")
                .map(|s| (s.what, s.answer)),
            Some((CacheQuestion::Flush, "not reached".to_string()))
        );
        assert_eq!(CacheSeen::parse("   write_cache: write back"), None);
    }

    #[test]
    fn the_simulator_answers_as_61_did_and_a_wrong_answer_is_a_difference() {
        let table = "0 4096 hello_target /dev/loop0 2048";
        let seen = |what, answer: &str| CacheSeen {
            what,
            table: table.to_string(),
            answer: answer.to_string(),
        };
        let as_61 = [
            seen(CacheQuestion::WriteCache, "write back"),
            seen(CacheQuestion::Flush, "reached"),
        ];
        assert_eq!(cache_differences(&as_61).unwrap(), Vec::<String>::new());
        let wrong = [
            seen(CacheQuestion::WriteCache, "write through"),
            seen(CacheQuestion::Flush, "not reached"),
        ];
        assert_eq!(cache_differences(&wrong).unwrap().len(), 2);
    }
}
