//! A target that keeps bios past `map` (stage 4's `deferred`) in the
//! simulator, as Linux 6.1 treats one: held clones end later, from the
//! target's delayed work; a suspend waits for them, so `presuspend` must let
//! go of them; during a `noflush` suspend what a target hands back waits in
//! the device for resume; and a target that keeps a clone and never lets go
//! of it is reported as the hang it would be.

use std::sync::Arc;

use dm_workbook::SECTOR_SIZE;
use dm_workbook::dm::TableSlot;
use dm_workbook::dm::bio::{Bio, BlkStatus, MapResult};
use dm_workbook::dm::target::{CtrContext, StatusType, Target, TargetInfo, TargetType};
use dm_workbook::driver::Backend;
use dm_workbook::driver::sim::SimBackend;
use dm_workbook::errno::Errno;
use dm_workbook::sim::{Simulator, Submission, WaitError};
use dm_workbook::table::Table;
use dm_workbook::targets::deferred::Deferred;

mod common;
use common::{create, sim_with_disk};

/// A simulator with `deferred` (correct, or the broken variant) and a disk.
fn with_deferred(deferred: Deferred) -> (Simulator, tempfile::TempDir, std::path::PathBuf) {
    let (mut sim, dir, file) = sim_with_disk(8192);
    sim.register_target(Arc::new(deferred)).unwrap();
    (sim, dir, file)
}

fn status(sim: &Simulator, name: &str) -> String {
    sim.status(name, TableSlot::Live, StatusType::Info).unwrap()[0]
        .params
        .clone()
}

fn pending(submission: Submission) -> u64 {
    match submission {
        Submission::Deferred(id) => id,
        Submission::Done(bio) => panic!("ended at once: {bio:?}"),
    }
}

/// What the backing file holds at `sector`, 512 bytes.
fn on_disk(file: &std::path::Path, sector: u64) -> Vec<u8> {
    let bytes = std::fs::read(file).unwrap();
    let at = (sector * SECTOR_SIZE) as usize;
    bytes[at..at + SECTOR_SIZE as usize].to_vec()
}

#[test]
fn a_held_bio_ends_once_its_delay_has_passed() {
    let (mut sim, _dir, file) = with_deferred(Deferred::default());
    create(&mut sim, "slow", "0 4096 deferred /dev/loop0 1024 2000").unwrap();
    let start = sim.clock().now();
    let id = pending(sim.write("slow", 0, &[5; 4096]).unwrap());
    assert_eq!(
        status(&sim, "slow"),
        "held=1 delayed=1 drained=0 pushed_back=0"
    );
    assert_eq!(on_disk(&file, 1024), [0; 512], "not yet on the disk");
    assert!(sim.wait_for(id, Some(1999)).is_none(), "held for 2 s");
    let bio = sim.wait_for(id, Some(1)).expect("sent on at 2 s");
    assert_eq!(bio.status, BlkStatus::Ok);
    assert_eq!(sim.clock().now() - start, 2000);
    assert_eq!(on_disk(&file, 1024), [5; 512]);
    assert_eq!(
        status(&sim, "slow"),
        "held=0 delayed=1 drained=0 pushed_back=0"
    );
}

#[test]
fn max_io_len_makes_a_bio_into_pieces_held_each_on_its_own() {
    let (mut sim, _dir, _file) = with_deferred(Deferred::default());
    create(
        &mut sim,
        "slow",
        "0 4096 deferred /dev/loop0 0 500 2 max_io_len 4",
    )
    .unwrap();
    let id = pending(sim.write("slow", 0, &[1; 4096]).unwrap());
    assert_eq!(
        status(&sim, "slow"),
        "held=2 delayed=2 drained=0 pushed_back=0"
    );
    assert_eq!(sim.wait_for(id, None).unwrap().status, BlkStatus::Ok);
    // An empty flush is held like any bio (num_flush_bios = 1).
    let flush = pending(sim.flush("slow").unwrap());
    assert_eq!(
        status(&sim, "slow"),
        "held=1 delayed=3 drained=0 pushed_back=0"
    );
    assert_eq!(sim.wait_for(flush, None).unwrap().status, BlkStatus::Ok);
}

#[test]
fn a_suspend_sends_held_bios_on_at_once_and_waits_for_them() {
    let (mut sim, _dir, file) = with_deferred(Deferred::default());
    create(&mut sim, "slow", "0 4096 deferred /dev/loop0 0 5000").unwrap();
    let ids: Vec<u64> = (0..3u8)
        .map(|i| {
            pending(
                sim.write("slow", u64::from(i) * 4096, &[i + 1; 4096])
                    .unwrap(),
            )
        })
        .collect();
    let before = sim.clock().now();
    sim.suspend("slow").unwrap();
    assert_eq!(sim.clock().now(), before, "nothing waited for the delay");
    assert_eq!(
        status(&sim, "slow"),
        "held=0 delayed=3 drained=3 pushed_back=0"
    );
    for (i, id) in ids.into_iter().enumerate() {
        assert_eq!(sim.take_completed(id).unwrap().status, BlkStatus::Ok);
        assert_eq!(on_disk(&file, i as u64 * 8), [i as u8 + 1; 512]);
    }
    // Suspended: a new bio waits in the core, not in the target.
    let later = pending(sim.write("slow", 0, &[9; 512]).unwrap());
    assert_eq!(
        status(&sim, "slow"),
        "held=0 delayed=3 drained=3 pushed_back=0"
    );
    sim.resume("slow").unwrap();
    assert_eq!(
        status(&sim, "slow"),
        "held=1 delayed=4 drained=3 pushed_back=0"
    );
    assert_eq!(sim.wait_for(later, None).unwrap().status, BlkStatus::Ok);
}

#[test]
fn a_noflush_suspend_hands_held_bios_back_for_after_resume() {
    let (mut sim, _dir, file) = with_deferred(Deferred::default());
    create(&mut sim, "slow", "0 4096 deferred /dev/loop0 0 5000").unwrap();
    let id = pending(sim.write("slow", 0, &[7; 4096]).unwrap());
    sim.suspend_noflush("slow").unwrap();
    assert_eq!(
        status(&sim, "slow"),
        "held=0 delayed=1 drained=0 pushed_back=1"
    );
    assert!(
        sim.wait_for(id, Some(10_000)).is_none(),
        "it waits for resume"
    );
    assert_eq!(on_disk(&file, 0), [0; 512]);
    // A new table while suspended: the bio goes through it after resume.
    sim.load(
        "slow",
        &Table::parse("0 4096 deferred /dev/loop0 2048 1000").unwrap(),
    )
    .unwrap();
    sim.resume("slow").unwrap();
    assert_eq!(
        status(&sim, "slow"),
        "held=1 delayed=1 drained=0 pushed_back=0"
    );
    assert_eq!(sim.wait_for(id, None).unwrap().status, BlkStatus::Ok);
    assert_eq!(
        on_disk(&file, 2048),
        [7; 512],
        "written where the new table says"
    );
    assert_eq!(on_disk(&file, 0), [0; 512], "not where the old one did");
}

/// A resume onto a new table suspends a running device first, hooks and
/// all (`do_resume()`, dm-ioctl.c lines 1177-1183 in 6.1): what the old
/// table held is drained before the swap.
#[test]
fn a_reload_drains_what_the_old_table_held() {
    let (mut sim, _dir, _file) = with_deferred(Deferred::default());
    create(&mut sim, "slow", "0 4096 deferred /dev/loop0 0 1000").unwrap();
    let id = pending(sim.write("slow", 0, &[3; 512]).unwrap());
    sim.load(
        "slow",
        &Table::parse("0 4096 deferred /dev/loop0 0 1000").unwrap(),
    )
    .unwrap();
    sim.resume("slow").unwrap();
    assert_eq!(sim.take_completed(id).unwrap().status, BlkStatus::Ok);
}

#[test]
fn the_broken_variant_hangs_the_suspend_and_the_simulator_says_so() {
    let (mut sim, _dir, _file) = with_deferred(Deferred::broken());
    create(&mut sim, "slow", "0 4096 deferred /dev/loop0 0 1000").unwrap();
    pending(sim.write("slow", 0, &[1; 512]).unwrap());
    let err = sim.suspend("slow").unwrap_err();
    let WaitError::Hung(hung) = err else {
        panic!("refused instead of hung: {err:?}");
    };
    assert!(hung.0.contains("1 bio(s) in flight"), "{hung}");
    // Without a bio held, the broken variant suspends as well as any.
    let (mut idle, _dir, _file) = with_deferred(Deferred::broken());
    create(&mut idle, "idle", "0 4096 deferred /dev/loop0 0 1000").unwrap();
    idle.suspend("idle").unwrap();
    idle.resume("idle").unwrap();
    idle.remove("idle").unwrap();
}

/// A target that keeps every write and never lets go of it: the classic
/// learner's bug (`DM_MAPIO_SUBMITTED` and nothing after).
struct Forgetful;
struct ForgetfulLine(dm_workbook::dm::target::DmDev);

impl TargetType for Forgetful {
    fn name(&self) -> &'static str {
        "forgetful"
    }
    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }
    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        Ok(Box::new(ForgetfulLine(ti.get_device(argv[0])?)))
    }
}

impl Target for ForgetfulLine {
    fn map(&self, _ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        bio.dev = self.0.dev;
        MapResult::Submitted
    }
}

#[test]
fn a_bio_kept_and_never_ended_is_a_hang_not_a_result() {
    let mut backend = SimBackend::new().unwrap();
    let file = backend.scratch_dir().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let disk = backend.attach_loop(&file).unwrap();
    let stage = dm_workbook::manifest::Manifest::bundled()
        .stage("stage4-deferred")
        .unwrap();
    backend.load_stage(stage).unwrap();
    let table = Table::parse(&format!("0 8 deferred {disk} 0 100")).unwrap();
    backend.create_with_table("d", &table).unwrap();
    // The correct target: the write waits 100 ms of the clock and ends.
    backend
        .write("d", dm_workbook::dm::units::Bytes(0), &[1; 512])
        .unwrap();
    backend.remove("d").unwrap();
    let (mut sim, _dir, _file) = sim_with_disk(64);
    sim.register_target(Arc::new(Forgetful)).unwrap();
    create(&mut sim, "lost", "0 64 forgetful /dev/loop0").unwrap();
    let id = pending(sim.write("lost", 0, &[1; 512]).unwrap());
    assert!(sim.wait_for(id, None).is_none());
    let why = sim.why_waiting(id).to_string();
    assert!(
        why.contains("never sent the clone on nor ended it"),
        "{why}"
    );
    let err = sim.suspend("lost").unwrap_err();
    assert!(matches!(err, WaitError::Hung(_)), "{err:?}");
}
