//! The simulator and a real kernel, side by side: the same chapter run on both
//! must report the same tables, statuses and data placement, and the same
//! refusals for the same bad table lines.

use anyhow::{Context, Result};
use dm_workbook::driver::sim::SimBackend;
use dm_workbook::scenarios::chapter3::{self, ALL_STEPS, Options};
use serde_json::Value;

/// The parts of chapter 3's report that must agree: everything the kernel
/// answered, nothing about which backend asked.
const COMPARED: [&str; 4] = ["target", "table", "status", "placement"];

/// Run chapter 3 on the simulator with the options the lab used, and list
/// every difference from the report the real kernel produced.
pub fn chapter3_differences(kernel_report: &str) -> Result<Vec<String>> {
    let kernel: Value =
        serde_json::from_str(kernel_report).context("reading the guest's chapter 3 report")?;
    let mut backend = SimBackend::new()?;
    let mut transcript = Vec::new();
    let sim = chapter3::run(
        &mut backend,
        &ALL_STEPS,
        &Options::default(),
        &mut transcript,
    )
    .context("running chapter 3 on the simulator")?;
    let sim = serde_json::to_value(&sim)?;
    Ok(differences(&sim, &kernel))
}

/// The compared fields on which `sim` and `kernel` differ, one line each.
pub fn differences(sim: &Value, kernel: &Value) -> Vec<String> {
    COMPARED
        .iter()
        .filter(|key| sim[**key] != kernel[**key])
        .map(|key| format!("{key}: simulator {} / kernel {}", sim[*key], kernel[*key]))
        .collect()
}

/// A bad table line the kernel refused, and the first device-mapper line it
/// logged about it.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub table: String,
    pub reason: String,
}

/// What the simulator logs first for `table` (with `/dev/loop0` a 128 MiB
/// disk), or `None` if it accepts the line.
pub fn simulator_refusal(table: &str) -> Result<Option<String>> {
    use dm_workbook::driver::{Backend, STAGE1_HELLO};
    let mut backend = SimBackend::new()?;
    let file = backend.scratch_dir().join("disk.img");
    std::fs::File::create(&file)?.set_len(chapter3::BACKING_BYTES)?;
    backend.attach_loop(&file)?;
    backend.load_stage(&STAGE1_HELLO)?;
    let parsed = dm_workbook::table::Table::parse(table)?;
    match backend.create_with_table("refusal", &parsed) {
        Ok(_) => Ok(None),
        Err(dm_workbook::driver::BackendError::Dm(err)) => {
            Ok(Some(err.reason().unwrap_or_default().to_string()))
        }
        Err(other) => Err(other.into()),
    }
}

/// Check each refusal the kernel reported against the simulator's; list the
/// ones that differ.
pub fn refusal_differences(kernel: &[Refusal]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for refusal in kernel {
        let sim = simulator_refusal(&refusal.table)?;
        let kernel_reason = normalise_dm_minor(&refusal.reason);
        let sim_reason = sim.as_deref().map(normalise_dm_minor);
        if sim_reason.as_deref() != Some(kernel_reason.as_str()) {
            out.push(format!(
                "`{}`: kernel logged `{}`, simulator {}",
                refusal.table,
                refusal.reason,
                sim.map_or("accepted it".to_string(), |r| format!("logged `{r}`"))
            ));
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulator_agrees_with_itself() {
        let mut backend = SimBackend::new().unwrap();
        let mut out = Vec::new();
        let report =
            chapter3::run(&mut backend, &ALL_STEPS, &Options::default(), &mut out).unwrap();
        let json = serde_json::to_string(&report).unwrap();
        assert_eq!(chapter3_differences(&json).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_different_table_is_a_difference() {
        let sim = serde_json::json!({"table": ["0 262144 hello_target 7:0 0"], "backend": "sim"});
        let kernel =
            serde_json::json!({"table": ["0 262144 hello_target 7:1 0"], "backend": "kernel"});
        let found = differences(&sim, &kernel);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("table:"), "{found:?}");
    }

    #[test]
    fn refusals_compare_without_the_device_number() {
        let same = Refusal {
            table: "0 262144 hello_target /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:3: hello_target: Invalid device sector (-EINVAL)"
                .into(),
        };
        assert!(refusal_differences(&[same]).unwrap().is_empty());
        let other = Refusal {
            table: "0 262144 hello_target /dev/loop0 abc".into(),
            reason: "device-mapper: table: 254:3: hello_target: something else (-EINVAL)".into(),
        };
        assert_eq!(refusal_differences(&[other]).unwrap().len(), 1);
    }
}
