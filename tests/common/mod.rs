//! What the simulator tests share: a simulator over a backing file, and
//! `dmsetup create` as the simulator does it.

use std::path::PathBuf;
use std::sync::Arc;

use dm_workbook::SECTOR_SIZE;
use dm_workbook::sim::Simulator;
use dm_workbook::table::Table;
use dm_workbook::targets::{self, hello::HelloTarget};

/// A simulator with `hello_target` registered and one backing file of
/// `sectors` sectors on /dev/loop0.
pub fn sim_with_disk(sectors: u64) -> (Simulator, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(sectors * SECTOR_SIZE)
        .unwrap();
    let mut sim = Simulator::new(targets::standard());
    sim.register_target(Arc::new(HelloTarget)).unwrap();
    assert_eq!(sim.attach_loop(&file).unwrap(), "/dev/loop0");
    (sim, dir, file)
}

/// Create `name` with `table` (text) and resume it, as `dmsetup create` does.
/// (A first resume has nothing in flight to wait for, so it never hangs.)
pub fn create(
    sim: &mut Simulator,
    name: &str,
    table: &str,
) -> Result<(), dm_workbook::dm::DmError> {
    sim.create(name)?;
    let loaded = sim
        .load(name, &Table::parse(table).unwrap())
        .and_then(|()| {
            sim.resume(name)
                .map_err(|err| err.dm().cloned().expect("no hang"))
        });
    if loaded.is_err() {
        sim.remove(name).unwrap();
    }
    loaded
}
