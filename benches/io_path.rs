//! What the simulated device-mapper core costs per bio, against writing the
//! backing file directly, for several tables. Run with `cargo bench`.
//!
//! Each case writes the same 64 KiB at the same place, many times; the report
//! gives the median time per write and its ratio to the direct write, all
//! measured in this one run so the ratios do not depend on the machine.

use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dm_workbook::sim::{Simulator, Submission};
use dm_workbook::table::Table;
use dm_workbook::targets::{self, hello::HelloTarget};

const WRITE: usize = 64 << 10;
const DISK_SECTORS: u64 = 16384;
const ROUNDS: usize = 15;
const WRITES_PER_ROUND: usize = 200;

/// The median over `ROUNDS` rounds of the mean time of one `op`.
fn measure(mut op: impl FnMut()) -> Duration {
    for _ in 0..WRITES_PER_ROUND {
        op(); // warm the page cache and the allocator
    }
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..WRITES_PER_ROUND {
                op();
            }
            start.elapsed() / WRITES_PER_ROUND as u32
        })
        .collect();
    rounds.sort();
    rounds[ROUNDS / 2]
}

fn disk(dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .set_len(DISK_SECTORS * 512)
        .unwrap();
    path
}

/// A simulator with /dev/loop0 and /dev/loop1 on fresh files (reusing a file
/// another case wrote to would measure the page cache, not the model) and
/// `tables` created in order.
fn simulator(dir: &std::path::Path, tables: &[(&str, &str)]) -> Simulator {
    let dir = tempfile::tempdir_in(dir).unwrap().keep();
    let mut sim = Simulator::new(targets::standard());
    sim.register_target(Arc::new(HelloTarget)).unwrap();
    sim.attach_loop(&disk(&dir, "a.img")).unwrap();
    sim.attach_loop(&disk(&dir, "b.img")).unwrap();
    for (name, table) in tables {
        sim.create(name).unwrap();
        sim.load(name, &Table::parse(table).unwrap()).unwrap();
        sim.resume(name).unwrap();
    }
    sim
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![0xa5u8; WRITE];

    let direct_file = std::fs::File::options()
        .write(true)
        .open(disk(dir.path(), "direct.img"))
        .unwrap();
    let direct = measure(|| direct_file.write_all_at(&data, 4096).unwrap());

    let cases: [(&str, Vec<(&str, &str)>); 4] = [
        ("linear", vec![("d", "0 8192 linear /dev/loop0 0")]),
        (
            "hello_target",
            vec![("d", "0 8192 hello_target /dev/loop0 0")],
        ),
        (
            "striped, 2 x 8-sector chunks",
            vec![("d", "0 16384 striped 2 8 /dev/loop0 0 /dev/loop1 0")],
        ),
        (
            "linear on linear",
            vec![
                ("lower", "0 8192 linear /dev/loop0 0"),
                ("d", "0 4096 linear /dev/mapper/lower 0"),
            ],
        ),
    ];
    println!("64 KiB writes, median of {ROUNDS} rounds of {WRITES_PER_ROUND}");
    println!("{:<32} {:>12} {:>10}", "path", "per write", "vs direct");
    println!(
        "{:<32} {:>12?} {:>9.2}x",
        "file write (no device mapper)", direct, 1.0
    );
    for (label, tables) in cases {
        let mut sim = simulator(dir.path(), &tables);
        let took = measure(|| {
            let Submission::Done(bio) = sim.write("d", 8 * 512, &data).unwrap() else {
                panic!("the device is not suspended");
            };
            assert_eq!(bio.status, dm_workbook::dm::bio::BlkStatus::Ok);
            sim.take_trace();
        });
        println!(
            "{label:<32} {took:>12?} {:>9.2}x",
            took.as_secs_f64() / direct.as_secs_f64()
        );
    }
}
