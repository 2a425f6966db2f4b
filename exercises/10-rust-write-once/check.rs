// The check of exercise 10: the learner's `worm` target on the simulator.
// Each test is one step of the check (exercises/manifest.toml).

use std::path::PathBuf;
use std::sync::Arc;

use dm_workbook::SECTOR_SIZE;
use dm_workbook::dm::TableSlot;
use dm_workbook::dm::bio::BlkStatus;
use dm_workbook::dm::target::StatusType;
use dm_workbook::sim::{Simulator, Submission};
use dm_workbook::table::Table;

use exercise::Worm;

/// A simulator with `worm` over a 16 MiB disk, as `ws-worm` at sector 2048.
fn worm() -> (Simulator, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(32768 * SECTOR_SIZE)
        .unwrap();
    let mut sim = Simulator::new(dm_workbook::targets::standard());
    sim.register_target(Arc::new(Worm)).unwrap();
    sim.attach_loop(&file).unwrap();
    sim.create("ws-worm").unwrap();
    let table = Table::parse("0 4096 worm /dev/loop0 2048").unwrap();
    sim.load("ws-worm", &table).unwrap();
    sim.resume("ws-worm").unwrap();
    (sim, dir, file)
}

/// Write `data` at `sector` of ws-worm; how the bio ended.
fn write(sim: &mut Simulator, sector: u64, data: &[u8]) -> BlkStatus {
    match sim.write("ws-worm", sector * SECTOR_SIZE, data).unwrap() {
        Submission::Done(bio) => bio.status,
        Submission::Deferred(_) => panic!("the device is suspended"),
    }
}

#[test]
fn first_writes_land() {
    let (mut sim, _dir, file) = worm();
    assert_eq!(write(&mut sim, 0, &[1; 4096]), BlkStatus::Ok, "a first write must pass");
    assert_eq!(write(&mut sim, 8, &[2; 4096]), BlkStatus::Ok, "a write next to it must pass");
    let disk = std::fs::read(&file).unwrap();
    let at = |sector: u64| disk[(sector * SECTOR_SIZE) as usize];
    assert_eq!((at(2048), at(2056)), (1, 2), "the data must land at /dev/loop0's sector 2048 on");
}

#[test]
fn second_writes_fail() {
    let (mut sim, _dir, file) = worm();
    assert_eq!(write(&mut sim, 16, &[1; 4096]), BlkStatus::Ok);
    assert_eq!(
        write(&mut sim, 20, &[9; 4096]),
        BlkStatus::IoErr,
        "a write over sectors 20-27, of which 20-23 were written, must fail"
    );
    assert_eq!(
        write(&mut sim, 16, &[9; 512]),
        BlkStatus::IoErr,
        "a second write to sector 16 must fail"
    );
    let disk = std::fs::read(&file).unwrap();
    assert_eq!(disk[(2064 * SECTOR_SIZE) as usize], 1, "a failed write must not reach the disk");
    assert_eq!(
        disk[(2072 * SECTOR_SIZE) as usize],
        0,
        "a refused write must write nothing, not even its new sectors"
    );
}

#[test]
fn reads_pass() {
    let (mut sim, _dir, _file) = worm();
    assert_eq!(write(&mut sim, 0, &[5; 4096]), BlkStatus::Ok);
    for _ in 0..2 {
        match sim.read("ws-worm", 0, 4096).unwrap() {
            Submission::Done(bio) => {
                assert_eq!(bio.status, BlkStatus::Ok, "reads always pass");
                assert!(bio.data.iter().all(|b| *b == 5), "a read must return what was written");
            }
            Submission::Deferred(_) => panic!("the device is suspended"),
        }
    }
}

#[test]
fn status_counts_written() {
    let (mut sim, _dir, _file) = worm();
    write(&mut sim, 0, &[1; 4096]);
    write(&mut sim, 0, &[1; 4096]);
    write(&mut sim, 64, &[1; 1024]);
    let lines = sim.status("ws-worm", TableSlot::Live, StatusType::Info).unwrap();
    assert_eq!(
        lines[0].to_string(),
        "0 4096 worm written=10",
        "8 sectors, then a refused write, then 2 sectors: written=10"
    );
}
