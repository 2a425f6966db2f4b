//! The simulator's per-bio data, `end_io` and messages, as Linux 6.1's core
//! drives them, and stage 2's twin (`proxy`) counting through them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use dm_workbook::dm::Ioctl;
use dm_workbook::dm::bio::{Bio, BlkStatus, MapResult};
use dm_workbook::dm::target::StatusType;
use dm_workbook::dm::target::{
    CtrContext, DmDev, EndIo, MessageError, Target, TargetInfo, TargetType, dm_fmt,
};
use dm_workbook::dm::{DmError, TableSlot};
use dm_workbook::errno::Errno;
use dm_workbook::sim::{Simulator, Submission};
use dm_workbook::targets::proxy::Proxy;

mod common;
use common::{create, sim_with_disk};

/// A target that records what the core hands it: the per-bio data `map`
/// sees (and marks) and what `end_io` finds there, with its status.
struct Recorder {
    seen: Arc<Mutex<Vec<String>>>,
    map_result: MapResult,
}

struct RecorderLine {
    dev: DmDev,
    seen: Arc<Mutex<Vec<String>>>,
    map_result: MapResult,
    next: AtomicU64,
}

impl TargetType for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        let dev = ti.get_device(argv[0])?;
        ti.set_per_io_data_size(8);
        ti.set_num_flush_bios(1);
        Ok(Box::new(RecorderLine {
            dev,
            seen: self.seen.clone(),
            map_result: self.map_result,
            next: AtomicU64::new(1),
        }))
    }
}

impl Target for RecorderLine {
    fn map(&self, _ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        let data = bio.per_bio_data_mut(8);
        let before = u64::from_ne_bytes(data.try_into().unwrap());
        let mark = self.next.fetch_add(1, Ordering::Relaxed);
        data.copy_from_slice(&mark.to_ne_bytes());
        self.seen.lock().unwrap().push(format!(
            "map {} sectors, data {before} -> {mark}",
            bio.sectors()
        ));
        bio.dev = self.dev.dev;
        self.map_result
    }

    fn end_io(&self, _ti: &TargetInfo, bio: &Bio, status: &mut BlkStatus) -> EndIo {
        let mark = u64::from_ne_bytes(bio.per_bio_data(8).try_into().unwrap());
        self.seen
            .lock()
            .unwrap()
            .push(format!("end_io data {mark}, {status}"));
        *status = BlkStatus::IoErr;
        EndIo::Done
    }
}

fn recorder(map_result: MapResult) -> (Simulator, tempfile::TempDir, Arc<Mutex<Vec<String>>>) {
    let (mut sim, dir, _file) = sim_with_disk(262_144);
    let seen = Arc::new(Mutex::new(Vec::new()));
    sim.register_target(Arc::new(Recorder {
        seen: seen.clone(),
        map_result,
    }))
    .unwrap();
    create(&mut sim, "rec", "0 64 recorder /dev/loop0").unwrap();
    (sim, dir, seen)
}

#[test]
fn each_clone_gets_fresh_per_bio_data_that_end_io_finds_again() {
    let (mut sim, _dir, seen) = recorder(MapResult::Remapped);
    sim.write("rec", 0, &[1; 4096]).unwrap();
    sim.read("rec", 0, 1024).unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "map 8 sectors, data 0 -> 1",
            "end_io data 1, BLK_STS_OK",
            "map 2 sectors, data 0 -> 2",
            "end_io data 2, BLK_STS_OK",
        ]
    );
}

#[test]
fn the_status_end_io_sets_is_the_status_the_bio_ends_with() {
    let (mut sim, _dir, _seen) = recorder(MapResult::Remapped);
    let Submission::Done(bio) = sim.write("rec", 0, &[1; 512]).unwrap() else {
        panic!("not suspended");
    };
    assert_eq!(bio.status, BlkStatus::IoErr);
}

#[test]
fn a_killed_clone_never_reaches_end_io() {
    let (mut sim, _dir, seen) = recorder(MapResult::Kill);
    let Submission::Done(bio) = sim.write("rec", 0, &[1; 512]).unwrap() else {
        panic!("not suspended");
    };
    assert_eq!(bio.status, BlkStatus::IoErr);
    assert_eq!(*seen.lock().unwrap(), ["map 1 sectors, data 0 -> 1"]);
}

/// A proxy over 4096 sectors of /dev/loop0 from sector 2048, as stage 2's
/// battery makes it.
fn proxy() -> (Simulator, tempfile::TempDir) {
    let (mut sim, dir, _file) = sim_with_disk(262_144);
    sim.register_target(Arc::new(Proxy)).unwrap();
    create(&mut sim, "good", "0 4096 proxy /dev/loop0 2048").unwrap();
    (sim, dir)
}

fn counters(sim: &Simulator, name: &str) -> Vec<(String, u64)> {
    let status = sim.status(name, TableSlot::Live, StatusType::Info).unwrap();
    status[0]
        .params
        .split(' ')
        .map(|word| {
            let (k, v) = word.split_once('=').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect()
}

fn counter(sim: &Simulator, name: &str, which: &str) -> u64 {
    counters(sim, name)
        .into_iter()
        .find(|(k, _)| k == which)
        .unwrap_or_else(|| panic!("no {which}"))
        .1
}

#[test]
fn the_proxy_counts_what_passes_and_reset_zeroes_it() {
    let (mut sim, _dir) = proxy();
    for i in 0..4 {
        sim.write("good", i * 4096, &[7; 4096]).unwrap();
    }
    for i in 0..2 {
        sim.read("good", i * 8192, 8192).unwrap();
    }
    sim.flush("good").unwrap();
    let got: Vec<(String, u64)> = counters(&sim, "good")
        .into_iter()
        .filter(|(k, _)| !k.contains("latency"))
        .collect();
    let want = [
        ("reads", 2),
        ("read_sectors", 32),
        ("writes", 4),
        ("write_sectors", 32),
        ("flushes", 1),
        ("others", 0),
        ("errors", 0),
    ];
    assert_eq!(
        got,
        want.map(|(k, v)| (k.to_string(), v)).to_vec(),
        "in the C module's order"
    );
    assert!(counter(&sim, "good", "latency_ns") > 0);
    assert!(counter(&sim, "good", "max_latency_ns") <= counter(&sim, "good", "latency_ns"));

    assert_eq!(sim.message("good", 0, &["reset"]).unwrap(), "");
    assert!(counters(&sim, "good").iter().all(|(_, v)| *v == 0));
}

#[test]
fn the_proxy_counts_errors_from_below() {
    let (mut sim, _dir) = proxy();
    create(&mut sim, "failing", "0 8 error").unwrap();
    create(&mut sim, "over", "0 8 proxy 254:1 0").unwrap();
    let Submission::Done(bio) = sim.read("over", 0, 4096).unwrap() else {
        panic!("not suspended");
    };
    assert_eq!(bio.status, BlkStatus::IoErr);
    assert_eq!(counter(&sim, "over", "reads"), 1);
    assert_eq!(counter(&sim, "over", "read_sectors"), 8);
    assert_eq!(counter(&sim, "over", "errors"), 1);
}

fn refused(result: Result<String, DmError>) -> (Errno, Vec<String>) {
    let err = result.unwrap_err();
    assert_eq!(err.ioctl, Ioctl::Message);
    (err.errno, err.log)
}

#[test]
fn messages_are_refused_where_and_as_61_refuses_them() {
    let (mut sim, _dir) = proxy();
    let cases: [(u64, &[&str], &str); 6] = [
        (0, &[], "device-mapper: ioctl: Empty message received."),
        (
            0,
            &["frobnicate"],
            "device-mapper: proxy: Unrecognised message received: frobnicate",
        ),
        (
            0,
            &["reset", "now"],
            "device-mapper: proxy: Invalid argument count for message: reset takes none",
        ),
        (
            4096,
            &["reset"],
            "device-mapper: ioctl: Target message sector outside device.",
        ),
        (
            0,
            &["@frobnicate"],
            "device-mapper: ioctl: Unsupported message sent to DM core: @frobnicate",
        ),
        (
            0,
            &["@stats_list"],
            "dm-workbook: the simulator does not model the core's @stats_list message",
        ),
    ];
    sim.write("good", 0, &[1; 512]).unwrap();
    let before = counter(&sim, "good", "writes");
    for (sector, words, line) in cases {
        let (errno, log) = refused(sim.message("good", sector, words));
        assert_eq!(errno, Errno::EINVAL, "{words:?}");
        assert_eq!(log, [line], "{words:?}");
        assert_eq!(sim.kmsg().last().map(String::as_str), Some(line));
    }
    assert_eq!(
        counter(&sim, "good", "writes"),
        before,
        "a refusal resets nothing"
    );
    // Case does not matter, as strcasecmp() does not mind it.
    sim.message("good", 0, &["RESET"]).unwrap();
    assert_eq!(counter(&sim, "good", "writes"), 0);
}

#[test]
fn a_device_without_a_table_or_a_message_handler_refuses_with_the_cores_reasons() {
    let (mut sim, _dir) = proxy();
    sim.create("empty").unwrap();
    let (_, log) = refused(sim.message("empty", 0, &["reset"]));
    assert_eq!(log, ["device-mapper: ioctl: The device has no table."]);
    // The core's own check comes first: an empty message is refused as such.
    let (_, log) = refused(sim.message("empty", 0, &[]));
    assert_eq!(log, ["device-mapper: ioctl: Empty message received."]);
    create(&mut sim, "zeroes", "0 8 zero").unwrap();
    let (_, log) = refused(sim.message("zeroes", 0, &["reset"]));
    assert_eq!(
        log,
        ["device-mapper: ioctl: Target type does not support messages"]
    );
    assert_eq!(
        MessageError::NotSupported.to_string(),
        "Target type does not support messages"
    );
    assert_eq!(dm_fmt("proxy", "x"), "device-mapper: proxy: x");
}

#[test]
fn the_proxy_prints_its_table_line_as_its_c_original_does() {
    let (sim, _dir) = proxy();
    let table = sim
        .status("good", TableSlot::Live, StatusType::Table)
        .unwrap();
    assert_eq!(table[0].to_string(), "0 4096 proxy 7:0 2048");
}
