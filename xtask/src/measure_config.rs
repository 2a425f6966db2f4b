//! How `cargo xtask bench` and `cargo xtask stress` drive a stage: its
//! table, and for stress the messages it takes, read from the stage's
//! optional `tests/measure.toml`. A stage without one is measured and
//! stressed with its own table file and no messages.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use dm_workbook::manifest::Stage;

/// The file in a stage's folder.
pub const FILE: &str = "tests/measure.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    table: Option<String>,
    #[serde(default)]
    messages: Vec<String>,
    faults: Option<Faults>,
}

/// Messages that make a stage fail I/O, and the ones that stop it again.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    /// The table for these runs, if not the stage's own.
    pub table: Option<String>,
    pub on: Vec<String>,
    pub off: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageConfig {
    /// One table line over all of `/dev/loop0` (262144 sectors).
    pub table: String,
    /// Sent again and again during stress (`dmsetup message DEV 0 ...`);
    /// none may change what the device reads or writes.
    pub messages: Vec<String>,
    /// For stress under ext4 with faults switched on and off.
    pub faults: Option<Faults>,
}

impl StageConfig {
    pub fn read(repo: &Path, stage: &Stage) -> Result<StageConfig> {
        let folder = repo.join(stage.folder());
        let path = folder.join(FILE);
        let file: File = if path.exists() {
            let text = std::fs::read_to_string(&path)?;
            toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?
        } else {
            File::default()
        };
        let table = match file.table {
            Some(table) => table,
            None => {
                let name = (stage.table.as_ref()).with_context(|| {
                    format!("{} has no table file and no table in {FILE}", stage.dir)
                })?;
                let text = std::fs::read_to_string(folder.join(name))?;
                text.lines()
                    .find(|l| !l.trim().is_empty() && !l.starts_with('#'))
                    .with_context(|| format!("{name} holds no table line"))?
                    .trim()
                    .to_string()
            }
        };
        Ok(StageConfig {
            table,
            messages: file.messages,
            faults: file.faults,
        })
    }
}
