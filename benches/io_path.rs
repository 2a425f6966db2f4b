//! What the simulated device-mapper core costs per bio. Run with
//! `cargo bench --bench io_path`.
//!
//! Every case writes one 4 KiB bio at the same place, again and again, with
//! criterion timing it. The simulator ends each write in a file write, which
//! says nothing about the model: the bare file write of the same bytes is
//! measured too, and the *map path* of a case is its time less that one.
//! After criterion's own report, the ratios the simulator is held to are
//! printed from the same samples, so they do not depend on the machine:
//!
//! - bios per second through `hello_target`'s map path (goal: >= 1 M);
//! - a 10,000-line table against a 1-line one (goal: <= 2x);
//! - `linear` on `linear` against twice `linear` (stacked devices cost about
//!   the sum of their parts).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use dm_workbook::dm::bio::BlkStatus;
use dm_workbook::sim::{Simulator, Submission};
use dm_workbook::table::Table;
use dm_workbook::targets::{self, hello::HelloTarget};

const BIO: usize = 4096;
const BIO_SECTORS: u64 = (BIO / 512) as u64;
/// Room for 10,000 lines of one bio each, with some to spare.
const DISK_SECTORS: u64 = 1 << 17;
const MANY_LINES: u64 = 10_000;
/// The trace is thrown away this often, so it does not grow in a long run.
const DISCARD_EVERY: u64 = 1024;

const FILE: &str = "file write (no device mapper)";
const LINEAR: &str = "linear";
const HELLO: &str = "hello_target";
const HELLO_MANY: &str = "hello_target, 10,000-line table";
const STACKED: &str = "linear on linear";

/// Nanoseconds per write of every sample criterion took, by case: the
/// ratios below are computed from the very samples criterion reports.
type Samples = RefCell<BTreeMap<&'static str, Vec<f64>>>;

/// A case: its name, its tables (name, text) in order, and where it writes.
type Case = (&'static str, Vec<(&'static str, String)>, u64);

fn disk(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .set_len(DISK_SECTORS * 512)
        .unwrap();
    path
}

/// A simulator with /dev/loop0 on a fresh file (reusing a file another case
/// wrote to would measure the page cache, not the model) and `tables`
/// created in order; the case writes to the last one.
fn simulator(dir: &Path, tables: &[(&str, String)]) -> Simulator {
    let dir = tempfile::tempdir_in(dir).unwrap().keep();
    let mut sim = Simulator::new(targets::standard());
    sim.register_target(Arc::new(HelloTarget)).unwrap();
    sim.attach_loop(&disk(&dir, "a.img")).unwrap();
    for (name, table) in tables {
        sim.create(name).unwrap();
        sim.load(name, &Table::parse(table).unwrap()).unwrap();
        sim.resume(name).unwrap();
    }
    sim
}

/// One line of one bio's length per bio, end to end: `i*8 8 hello_target
/// /dev/loop0 i*8`.
fn many_lines() -> String {
    (0..MANY_LINES)
        .map(|i| {
            let start = i * BIO_SECTORS;
            format!("{start} {BIO_SECTORS} hello_target /dev/loop0 {start}\n")
        })
        .collect()
}

/// Time `iters` runs of `op` for criterion and keep the sample.
fn timed(samples: &Samples, case: &'static str, iters: u64, mut op: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for i in 0..iters {
        op(i);
    }
    let took = start.elapsed();
    samples
        .borrow_mut()
        .entry(case)
        .or_default()
        .push(took.as_nanos() as f64 / iters as f64);
    took
}

fn bench(c: &mut Criterion, samples: &Samples) {
    let dir = tempfile::tempdir().unwrap();
    let data = vec![0xa5u8; BIO];
    let mut group = c.benchmark_group("4 KiB write");

    let file = std::fs::File::options()
        .write(true)
        .open(disk(dir.path(), "direct.img"))
        .unwrap();
    group.bench_function(FILE, |b| {
        b.iter_custom(|iters| {
            timed(samples, FILE, iters, |_| {
                file.write_all_at(&data, 8 * 512).unwrap()
            })
        })
    });

    // The middle line of the long table, at its own sector on loop0.
    let middle = MANY_LINES / 2 * BIO_SECTORS * 512;
    let cases: [Case; 4] = [
        (
            LINEAR,
            vec![("d", "0 8192 linear /dev/loop0 0".into())],
            8 * 512,
        ),
        (
            HELLO,
            vec![("d", "0 8192 hello_target /dev/loop0 0".into())],
            8 * 512,
        ),
        (HELLO_MANY, vec![("d", many_lines())], middle),
        (
            STACKED,
            vec![
                ("lower", "0 8192 linear /dev/loop0 0".into()),
                ("d", "0 4096 linear /dev/mapper/lower 0".into()),
            ],
            8 * 512,
        ),
    ];
    for (case, tables, offset) in cases {
        let mut sim = simulator(dir.path(), &tables);
        group.bench_function(case, |b| {
            b.iter_custom(|iters| {
                timed(samples, case, iters, |i| {
                    let Submission::Done(bio) = sim.write("d", offset, &data).unwrap() else {
                        panic!("the device is not suspended");
                    };
                    assert_eq!(bio.status, BlkStatus::Ok);
                    if i % DISCARD_EVERY == 0 {
                        sim.discard_trace();
                    }
                })
            })
        });
    }
    group.finish();
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// The ratios, from the medians of the samples criterion took.
fn report(samples: &Samples) {
    let samples = samples.borrow();
    let Some(file) = samples.get(FILE).map(|s| median(s)) else {
        return;
    };
    let per_write = |case: &str| samples.get(case).map(|s| median(s));
    let map_path = |case: &str| per_write(case).map(|t| t - file);
    println!("\nThe simulator's map path (each case less the bare file write, {file:.0} ns):");
    println!(
        "{:<34} {:>12} {:>12} {:>14}",
        "case", "per write", "map path", "bios/s (map)"
    );
    for case in [LINEAR, HELLO, HELLO_MANY, STACKED] {
        if let (Some(total), Some(map)) = (per_write(case), map_path(case)) {
            println!(
                "{case:<34} {total:>9.0} ns {map:>9.0} ns {:>14.0}",
                1e9 / map.max(1.0)
            );
        }
    }
    let (Some(hello), Some(many), Some(linear), Some(stacked)) = (
        map_path(HELLO),
        map_path(HELLO_MANY),
        map_path(LINEAR),
        map_path(STACKED),
    ) else {
        return;
    };
    let verdict = |ok: bool| if ok { "goal met" } else { "GOAL MISSED" };
    let rate = 1e9 / hello.max(1.0);
    println!(
        "hello_target map path: {rate:.0} bios/s (goal >= 1,000,000: {})",
        verdict(rate >= 1e6)
    );
    let ratio = many / hello;
    println!(
        "10,000-line table / 1-line table: {ratio:.2}x (goal <= 2x: {})",
        verdict(ratio <= 2.0)
    );
    println!(
        "linear on linear / (2 x linear): {:.2} (the sum of the parts is 1.00)",
        stacked / (2.0 * linear)
    );
}

fn main() {
    let samples = Samples::default();
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &samples);
    c.final_summary();
    report(&samples);
}
