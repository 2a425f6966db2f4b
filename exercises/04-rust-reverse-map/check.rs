// The check of exercise 04: the learner's `reverse` target on the
// simulator. Each test is one step of the check (exercises/manifest.toml).

use std::path::PathBuf;
use std::sync::Arc;

use dm_workbook::SECTOR_SIZE;
use dm_workbook::dm::TableSlot;
use dm_workbook::dm::target::StatusType;
use dm_workbook::sim::{Simulator, Submission};
use dm_workbook::table::Table;

use exercise::Reverse;

/// A simulator with `reverse` registered and a 16 MiB disk on /dev/loop0.
fn simulator() -> (Simulator, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(32768 * SECTOR_SIZE)
        .unwrap();
    let mut sim = Simulator::new(dm_workbook::targets::standard());
    sim.register_target(Arc::new(Reverse)).unwrap();
    sim.attach_loop(&file).unwrap();
    (sim, dir, file)
}

/// `dmsetup create NAME` with TABLE; the kernel log's new lines on failure.
fn create(sim: &mut Simulator, name: &str, table: &str) -> Result<(), Vec<String>> {
    let before = sim.kmsg().len();
    sim.create(name).unwrap();
    // A resume that would hang is a failure too (the simulator's WaitError).
    let loaded = match sim.load(name, &Table::parse(table).unwrap()) {
        Ok(()) => sim.resume(name).is_ok(),
        Err(_) => false,
    };
    if !loaded {
        sim.remove(name).unwrap();
        return Err(sim.kmsg()[before..].to_vec());
    }
    Ok(())
}

fn write(sim: &mut Simulator, name: &str, sector: u64, data: &[u8]) {
    match sim.write(name, sector * SECTOR_SIZE, data).unwrap() {
        Submission::Done(bio) => assert_eq!(bio.status, dm_workbook::dm::bio::BlkStatus::Ok),
        Submission::Deferred(_) => panic!("the device is suspended"),
    }
}

fn on_disk(file: &PathBuf, sector: u64, sectors: u64) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let from = (sector * SECTOR_SIZE) as usize;
    bytes[from..from + (sectors * SECTOR_SIZE) as usize].to_vec()
}

#[test]
fn maps_chunks_in_reverse() {
    let (mut sim, _dir, file) = simulator();
    create(&mut sim, "rev", "0 64 reverse /dev/loop0 2048 8").expect("the table is refused");
    for chunk in 0..8u64 {
        write(&mut sim, "rev", chunk * 8, &[chunk as u8 + 1; 4096]);
    }
    for chunk in 0..8u64 {
        let landed = on_disk(&file, 2048 + (7 - chunk) * 8, 8);
        assert!(
            landed.iter().all(|b| *b == chunk as u8 + 1),
            "chunk {chunk} of the line must land at sector {} of /dev/loop0",
            2048 + (7 - chunk) * 8
        );
    }
}

#[test]
fn splits_bios_at_chunks() {
    let (mut sim, _dir, file) = simulator();
    create(&mut sim, "rev", "0 64 reverse /dev/loop0 2048 8").expect("the table is refused");
    // 8 KiB from sector 4: the second half of chunk 0, the first of chunk 1.
    let mut data = vec![0xaa; 2048];
    data.extend(vec![0xbb; 2048]);
    data.extend(vec![0xcc; 4096]);
    write(&mut sim, "rev", 4, &data);
    assert!(
        on_disk(&file, 2048 + 7 * 8 + 4, 4) == data[..2048],
        "sectors 4-7 of the line belong to chunk 0, at /dev/loop0's sectors 2108-2111"
    );
    assert!(
        on_disk(&file, 2048 + 6 * 8, 4) == data[2048..4096],
        "sectors 8-11 of the line start chunk 1, at /dev/loop0's sector 2096"
    );
}

#[test]
fn refuses_bad_tables() {
    let (mut sim, _dir, _file) = simulator();
    for (table, reason) in [
        ("0 64 reverse /dev/loop0 2048 6", "reverse: Invalid chunk size"),
        ("0 64 reverse /dev/loop0 2048 0", "reverse: Invalid chunk size"),
        ("0 64 reverse /dev/loop0 2048 x", "reverse: Invalid chunk size"),
        ("0 60 reverse /dev/loop0 2048 8", "reverse: Length is not a multiple of the chunk size"),
        ("0 64 reverse /dev/loop0 2048", "reverse: Invalid argument count"),
    ] {
        let log = create(&mut sim, "bad", table).err().unwrap_or_else(|| {
            panic!("the table \"{table}\" was accepted; it must be refused with \"{reason}\"")
        });
        assert!(
            log.iter().any(|l| l.contains(reason)),
            "\"{table}\" was refused, but not with \"{reason}\": {log:?}"
        );
    }
}

#[test]
fn status_rebuilds_the_line() {
    let (mut sim, _dir, _file) = simulator();
    create(&mut sim, "rev", "0 64 reverse /dev/loop0 2048 8").expect("the table is refused");
    let lines = sim.status("rev", TableSlot::Live, StatusType::Table).unwrap();
    assert_eq!(
        lines[0].to_string(),
        "0 64 reverse 7:0 2048 8",
        "dmsetup table must show the arguments that build the line again"
    );
}
