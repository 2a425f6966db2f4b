//! The simulator at the edges of the bio path, as Linux 6.1 behaves there: a
//! bio past a loop device's end, and flushes, FUA, discards and write-zeroes
//! routed by what each table line asks for.

use std::path::PathBuf;
use std::sync::Arc;

use dm_workbook::SECTOR_SIZE;
use dm_workbook::dm::bio::{Bio, BioOp, BlkStatus, DevT, MapResult};
use dm_workbook::dm::target::{CtrContext, DmDev, EndIo, Target, TargetInfo, TargetType};
use dm_workbook::dm::trace::TraceEvent;
use dm_workbook::errno::Errno;
use dm_workbook::sim::{Simulator, Submission, WriteCache};

mod common;
use common::{create, sim_with_disk};

/// A target type for a test, as small as the test needs: its name, what its
/// `map` and `end_io` do with the one device its table line names, and
/// whether it reports that device to the core (`iterate_devices`).
struct FnTarget {
    name: &'static str,
    map: fn(&DmDev, &TargetInfo, &mut Bio) -> MapResult,
    end_io: fn(&mut BlkStatus) -> EndIo,
    iterates_devices: bool,
}

struct FnTargetLine {
    dev: DmDev,
    map: fn(&DmDev, &TargetInfo, &mut Bio) -> MapResult,
    end_io: fn(&mut BlkStatus) -> EndIo,
    iterates_devices: bool,
}

impl TargetType for FnTarget {
    fn name(&self) -> &'static str {
        self.name
    }

    fn version(&self) -> [u32; 3] {
        [1, 0, 0]
    }

    fn ctr(&self, ti: &mut dyn CtrContext, argv: &[&str]) -> Result<Box<dyn Target>, Errno> {
        Ok(Box::new(FnTargetLine {
            dev: ti.get_device(argv[0])?,
            map: self.map,
            end_io: self.end_io,
            iterates_devices: self.iterates_devices,
        }))
    }
}

impl Target for FnTargetLine {
    fn map(&self, ti: &TargetInfo, bio: &mut Bio) -> MapResult {
        (self.map)(&self.dev, ti, bio)
    }

    fn end_io(&self, _ti: &TargetInfo, _bio: &Bio, status: &mut BlkStatus) -> EndIo {
        (self.end_io)(status)
    }

    fn iterate_devices(
        &self,
        ti: &TargetInfo,
        callout: &mut dyn FnMut(&DmDev, u64, u64) -> bool,
    ) -> bool {
        // Without it (the trait's default: no device, `false`) the core
        // cannot check the line against its device.
        self.iterates_devices && callout(&self.dev, 0, ti.len)
    }
}

/// `end_io` that lets the status stand.
fn done_as_is(_status: &mut BlkStatus) -> EndIo {
    EndIo::Done
}

/// A target without `iterate_devices` whose map sends every bio 300000
/// sectors further on its device: the core cannot check the line against the
/// device, so the first bio goes past the loop device's end.
const OVERSHOOT: FnTarget = FnTarget {
    name: "overshoot",
    map: |dev, ti, bio| {
        bio.dev = dev.dev;
        bio.sector = 300_000 + ti.target_offset(bio.sector);
        MapResult::Remapped
    },
    end_io: done_as_is,
    iterates_devices: false,
};

#[test]
fn a_bio_past_the_end_of_a_loop_device_is_logged_as_61_logs_it() {
    let (mut sim, _dir, _file) = sim_with_disk(262_144);
    sim.register_target(Arc::new(OVERSHOOT)).unwrap();
    create(&mut sim, "far", "0 8 overshoot /dev/loop0").unwrap();
    let before = sim.kmsg().len();
    let Submission::Done(bio) = sim.write("far", 0, &[7u8; 4096]).unwrap() else {
        panic!("the device is not suspended");
    };
    assert_eq!(bio.status, BlkStatus::IoErr);
    let log = &sim.kmsg()[before..];
    // As the lab's 6.1 run printed them for a direct write of 4 KiB.
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].ends_with(": attempt to access beyond end of device"),
        "{log:?}"
    );
    assert_eq!(
        log[1],
        "loop0: rw=34817, sector=300000, nr_sectors = 8 limit=262144"
    );
}

/// A passthrough that forgets `num_flush_bios` and the others: `hello_target`
/// as it was before it asked for them.
const FORGETFUL: FnTarget = FnTarget {
    name: "forgetful",
    map: |dev, ti, bio| {
        bio.dev = dev.dev;
        if bio.sectors() > 0 {
            bio.sector = ti.target_offset(bio.sector);
        }
        MapResult::Remapped
    },
    end_io: done_as_is,
    iterates_devices: true,
};

fn sim_with_forgetful(sectors: u64) -> (Simulator, tempfile::TempDir, PathBuf) {
    let (mut sim, dir, file) = sim_with_disk(sectors);
    sim.register_target(Arc::new(FORGETFUL)).unwrap();
    (sim, dir, file)
}

fn done(submission: Submission) -> Bio {
    match submission {
        Submission::Done(bio) => bio,
        Submission::Deferred(id) => panic!("bio {id} deferred"),
    }
}

#[test]
fn a_table_has_a_write_cache_only_if_a_line_asks_for_flushes() {
    let (mut sim, _dir, _file) = sim_with_forgetful(8192);
    assert_eq!(
        sim.loop_write_cache("/dev/loop0"),
        Ok(WriteCache::WriteBack)
    );
    create(&mut sim, "lin", "0 4096 linear /dev/loop0 2048").unwrap();
    create(&mut sim, "hello", "0 4096 hello_target /dev/loop0 2048").unwrap();
    create(&mut sim, "forgot", "0 4096 forgetful /dev/loop0").unwrap();
    create(
        &mut sim,
        "mixed",
        "0 8 forgetful /dev/loop0\n8 8 hello_target /dev/loop0 8",
    )
    .unwrap();
    create(&mut sim, "zero", "0 8 zero").unwrap();
    assert_eq!(sim.write_cache("lin"), Some(WriteCache::WriteBack));
    assert_eq!(sim.write_cache("hello"), Some(WriteCache::WriteBack));
    assert_eq!(sim.write_cache("forgot"), Some(WriteCache::WriteThrough));
    // One line that asks for flushes and has a cached device is enough.
    assert_eq!(sim.write_cache("mixed"), Some(WriteCache::WriteBack));
    assert_eq!(sim.write_cache("zero"), Some(WriteCache::WriteThrough));
    assert_eq!(WriteCache::WriteBack.to_string(), "write back");
    assert_eq!(WriteCache::WriteThrough.to_string(), "write through");

    // Over a loop device without a write cache, linear has none either.
    sim.set_loop_write_cache("/dev/loop0", WriteCache::WriteThrough)
        .unwrap();
    assert_eq!(sim.write_cache("lin"), Some(WriteCache::WriteThrough));
    assert_eq!(sim.write_cache("hello"), Some(WriteCache::WriteThrough));
}

#[test]
fn an_fsync_reaches_the_loop_device_only_through_a_target_that_asks_for_flushes() {
    let (mut sim, _dir, _file) = sim_with_forgetful(8192);
    create(&mut sim, "hello", "0 4096 hello_target /dev/loop0 2048").unwrap();
    create(&mut sim, "forgot", "0 4096 forgetful /dev/loop0").unwrap();

    sim.take_trace();
    assert_eq!(done(sim.flush("hello").unwrap()).status, BlkStatus::Ok);
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().flushes, 1);
    // The empty flush keeps its sector: hello_target only set the device.
    let trace = sim.take_trace();
    assert!(trace.contains(&TraceEvent::Mapped {
        line: 0,
        target: "hello_target".to_string(),
        result: MapResult::Remapped,
        to: Some((DevT::new(7, 0), 0)),
    }));

    // The forgetful device's cache is "write through": the block layer ends
    // the flush at once, successfully, and nothing reaches loop0.
    assert_eq!(done(sim.flush("forgot").unwrap()).status, BlkStatus::Ok);
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().flushes, 1);
    let trace = sim.take_trace();
    assert!(
        !trace.iter().any(|e| matches!(e, TraceEvent::Clone { .. })),
        "no line sees the flush: {trace:?}"
    );

    // A write with PREFLUSH and FUA through the forgetful device lands
    // without either; through hello_target it costs loop0 two flushes (one
    // before, and one after since loop has no FUA).
    let mut bio = Bio::write(DevT::new(0, 0), 0, vec![7; 4096]);
    bio.preflush = true;
    bio.fua = true;
    assert_eq!(
        done(sim.submit("forgot", bio.clone()).unwrap()).status,
        BlkStatus::Ok
    );
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().flushes, 1);
    assert_eq!(
        done(sim.submit("hello", bio).unwrap()).status,
        BlkStatus::Ok
    );
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().flushes, 3);
}

#[test]
fn an_empty_flush_goes_to_each_line_num_flush_bios_times() {
    let (mut sim, _dir, _file) = sim_with_forgetful(8192);
    create(
        &mut sim,
        "three",
        "0 8 hello_target /dev/loop0 0\n8 8 forgetful /dev/loop0\n16 8 linear /dev/loop0 100",
    )
    .unwrap();
    sim.take_trace();
    done(sim.flush("three").unwrap());
    let clones: Vec<(usize, String, u64)> = sim
        .take_trace()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::Clone {
                line,
                target,
                sectors,
                ..
            } => Some((line, target, sectors)),
            _ => None,
        })
        .collect();
    assert_eq!(
        clones,
        [
            (0, "hello_target".to_string(), 0),
            (2, "linear".to_string(), 0)
        ]
    );
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().flushes, 2);
}

#[test]
fn discards_and_write_zeroes_pass_where_every_line_asks_for_them() {
    let (mut sim, _dir, file) = sim_with_forgetful(8192);
    create(&mut sim, "hello", "0 4096 hello_target /dev/loop0 2048").unwrap();
    create(
        &mut sim,
        "mixed",
        "0 8 hello_target /dev/loop0 0\n8 8 forgetful /dev/loop0",
    )
    .unwrap();
    create(&mut sim, "zero", "0 8 zero").unwrap();
    sim.write("hello", 0, &[0xaa; 8192]).unwrap();

    let bio = done(sim.submit_extent("hello", BioOp::Discard, 0, 4096).unwrap());
    assert_eq!(bio.status, BlkStatus::Ok);
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().discards, 1);
    let bio = done(
        sim.submit_extent("hello", BioOp::WriteZeroes, 4096, 4096)
            .unwrap(),
    );
    assert_eq!(bio.status, BlkStatus::Ok);
    let on_disk = std::fs::read(&file).unwrap();
    let at = (2048 * SECTOR_SIZE) as usize;
    assert!(on_disk[at..at + 8192].iter().all(|&b| b == 0));

    // Loop has no secure erase, so neither has the table over it.
    let bio = done(
        sim.submit_extent("hello", BioOp::SecureErase, 0, 512)
            .unwrap(),
    );
    assert_eq!(bio.status, BlkStatus::NotSupp);
    // One line without num_discard_bios: the table offers no discard, and
    // the block layer refuses it before any line sees it, even the part
    // for the line that asked.
    sim.take_trace();
    let bio = done(sim.submit_extent("mixed", BioOp::Discard, 0, 512).unwrap());
    assert_eq!(bio.status, BlkStatus::NotSupp);
    assert!(
        !sim.take_trace()
            .iter()
            .any(|e| matches!(e, TraceEvent::Clone { .. }))
    );
    // zero asks for discards but names no device: no discard either.
    let bio = done(sim.submit_extent("zero", BioOp::Discard, 0, 512).unwrap());
    assert_eq!(bio.status, BlkStatus::NotSupp);
    assert_eq!(sim.loop_stat("/dev/loop0").unwrap().discards, 1);
}

/// The core records a remap only for a clone its target remapped: a read
/// across a `linear` line and an `error` line gives one remap, for the
/// linear piece, as the kernel's `block_bio_remap` event does.
#[test]
fn a_killed_clone_is_not_remapped() {
    let (mut dm, _dir, _file) = common::sim_with_disk(2048);
    common::create(
        &mut dm,
        "split",
        "0 1024 linear /dev/loop0 0\n1024 1024 error",
    )
    .unwrap();
    dm.take_remaps();
    dm.read("split", 1020 * 512, 8 * 512).unwrap();
    let remaps = dm.take_remaps();
    assert_eq!(remaps.len(), 1, "{remaps:?}");
    let remap = &remaps[0];
    assert_eq!(
        (
            remap.op.as_str(),
            remap.device.as_str(),
            remap.sector,
            remap.sectors
        ),
        ("read", "split", 1020, 4)
    );
    assert_eq!((remap.to.as_str(), remap.to_sector), ("/dev/loop0", 1020));
}

/// A target whose `map` asks for every bio again.
const REQUEUE_IN_MAP: FnTarget = FnTarget {
    name: "requeue_map",
    map: |_, _, _| MapResult::Requeue,
    end_io: done_as_is,
    iterates_devices: false,
};

/// A target whose `end_io` asks for every bio again.
const REQUEUE_IN_END_IO: FnTarget = FnTarget {
    name: "requeue_end_io",
    map: |dev, _, bio| {
        bio.dev = dev.dev;
        MapResult::Remapped
    },
    end_io: |_| EndIo::Requeue,
    iterates_devices: false,
};

/// Outside a `noflush` suspend, Linux 6.1 fails a bio its target asked to
/// requeue, from `map` or from `end_io`, with an I/O error, once, and logs
/// nothing (`dm_handle_requeue()`, drivers/md/dm.c lines 887-926).
#[test]
fn a_requeued_bio_fails_once_without_a_word() {
    for target in [REQUEUE_IN_MAP, REQUEUE_IN_END_IO] {
        let (mut dm, _dir, _file) = sim_with_disk(2048);
        let name = target.name;
        dm.register_target(Arc::new(target)).unwrap();
        create(&mut dm, "again", &format!("0 1024 {name} /dev/loop0")).unwrap();
        let logged = dm.kmsg().len();
        let Submission::Done(bio) = dm.read("again", 0, 4096).unwrap() else {
            panic!("a read of a resumed device was deferred");
        };
        assert_eq!(bio.status, BlkStatus::IoErr, "{name}");
        assert_eq!(
            dm.kmsg().len(),
            logged,
            "{name} logged {:?}",
            &dm.kmsg()[logged..]
        );
        let maps = dm
            .take_trace()
            .iter()
            .filter(|e| matches!(e, TraceEvent::Mapped { .. }))
            .count();
        assert_eq!(maps, 1, "{name}: map called {maps} times");
    }
}

/// `striped` asks for one flush and one discard clone per stripe, and sends
/// clone N to stripe N: a flush reaches every stripe's device, and a discard
/// of four chunks becomes one range on each (dm-stripe.c, `stripe_ctr()`
/// and `stripe_map()` in 6.1).
#[test]
fn striped_sends_flushes_and_discards_to_every_stripe() {
    let (mut dm, dir, _file) = sim_with_disk(64);
    let second = dir.path().join("second.img");
    std::fs::File::create(&second)
        .unwrap()
        .set_len(64 * SECTOR_SIZE)
        .unwrap();
    assert_eq!(dm.attach_loop(&second).unwrap(), "/dev/loop1");
    create(
        &mut dm,
        "stripes",
        "0 64 striped 2 8 /dev/loop0 0 /dev/loop1 0",
    )
    .unwrap();
    dm.take_remaps();

    dm.flush("stripes").unwrap();
    let flushes: Vec<_> = dm
        .take_remaps()
        .into_iter()
        .map(|r| (r.op, r.to, r.sectors))
        .collect();
    assert_eq!(
        flushes,
        [
            ("flush".to_string(), "/dev/loop0".to_string(), 0),
            ("flush".to_string(), "/dev/loop1".to_string(), 0),
        ]
    );

    // Sectors 0..32: chunks 0 and 2 on stripe 0, chunks 1 and 3 on stripe 1.
    dm.submit_extent("stripes", BioOp::Discard, 0, 32 * SECTOR_SIZE)
        .unwrap();
    let discards: Vec<_> = dm
        .take_remaps()
        .into_iter()
        .map(|r| (r.to, r.to_sector, r.sectors))
        .collect();
    assert_eq!(
        discards,
        [
            ("/dev/loop0".to_string(), 0, 16),
            ("/dev/loop1".to_string(), 0, 16),
        ]
    );
}
