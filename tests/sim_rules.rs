//! The simulator follows the kernel's rules: table checks with the kernel's
//! messages, the device life cycle, and bios split at table-line boundaries.
//! (The bio path's edges, flushes and discards among them: `sim_edges.rs`.)

use dm_workbook::SECTOR_SIZE;
use dm_workbook::dm::TableSlot;
use dm_workbook::dm::bio::{BlkStatus, DevT};
use dm_workbook::dm::target::StatusType;
use dm_workbook::dm::trace::TraceEvent;
use dm_workbook::errno::Errno;
use dm_workbook::sim::{DM_MAJOR, Submission};
use dm_workbook::table::{Table, TableLine};
use proptest::prelude::*;

mod common;
use common::{create, sim_with_disk};

fn refusal(table: &str) -> (Errno, String) {
    let (mut sim, _dir, _file) = sim_with_disk(2048);
    let err = create(&mut sim, "t", table).unwrap_err();
    assert!(
        sim.devices().is_empty(),
        "a refused create leaves no device"
    );
    (err.errno, err.reason().unwrap_or_default().to_string())
}

#[test]
fn table_rules_give_the_kernels_messages() {
    let cases = [
        (
            "0 0 zero",
            "device-mapper: table: 254:0: zero-length target",
        ),
        (
            "0 8 striped_nonsense",
            "device-mapper: table: 254:0: striped_nonsense: unknown target type",
        ),
        (
            "8 8 zero",
            "device-mapper: table: 254:0: zero: Gap in table (-EINVAL)",
        ),
        (
            "0 8 zero\n16 8 zero",
            "device-mapper: table: 254:0: zero: Gap in table (-EINVAL)",
        ),
        (
            "0 16 zero\n8 8 zero",
            "device-mapper: table: 254:0: zero: Gap in table (-EINVAL)",
        ),
        (
            "0 8 zero extra",
            "device-mapper: table: 254:0: zero: No arguments required (-EINVAL)",
        ),
        (
            "0 8 linear /dev/loop0",
            "device-mapper: table: 254:0: linear: Invalid argument count (-EINVAL)",
        ),
        (
            "0 8 linear /dev/nosuch 0",
            "device-mapper: table: 254:0: linear: Device lookup failed (-ENODEV)",
        ),
    ];
    for (table, reason) in cases {
        let (errno, got) = refusal(table);
        // The ioctl returns the constructor's errno; dmsetup prints its text.
        let expected = if reason.ends_with("(-ENODEV)") {
            Errno::ENODEV
        } else {
            Errno::EINVAL
        };
        assert_eq!(errno, expected, "{table}");
        assert_eq!(got, reason, "{table}");
    }
}

#[test]
fn hello_target_refuses_bad_arguments_like_its_c_twin() {
    let base = "0 2048 hello_target";
    let cases = [
        (
            format!("{base} /dev/loop0"),
            "Invalid argument count (-EINVAL)",
        ),
        (
            format!("{base} /dev/loop0 0 extra"),
            "Invalid argument count (-EINVAL)",
        ),
        (
            format!("{base} /dev/loop0 abc"),
            "Invalid device sector (-EINVAL)",
        ),
        (
            format!("{base} /dev/loop0 -1"),
            "Invalid device sector (-EINVAL)",
        ),
        (
            format!("{base} /dev/loop0 12x"),
            "Invalid device sector (-EINVAL)",
        ),
        (
            format!("{base} /dev/loop0 18446744073709551616"),
            "Invalid device sector (-EINVAL)",
        ),
        (
            format!("{base} /dev/nosuch 0"),
            "Device lookup failed (-ENODEV)",
        ),
        (
            format!("{base} /dev/null 0"),
            "Device lookup failed (-ENODEV)",
        ),
        (format!("{base} 7:9 0"), "Device lookup failed (-ENXIO)"),
    ];
    for (table, reason) in cases {
        let (_, got) = refusal(&table);
        assert_eq!(
            got,
            format!("device-mapper: table: 254:0: hello_target: {reason}"),
            "{table}"
        );
    }
}

#[test]
fn an_offset_past_the_device_end_is_refused_by_the_core() {
    let (errno, got) = refusal("0 2048 hello_target /dev/loop0 1");
    assert_eq!(errno, Errno::EINVAL);
    assert_eq!(
        got,
        "device-mapper: table: 254:0: loop0 too small for target: start=1, len=2048, dev_size=2048"
    );
    // The same line fits when it is one sector shorter.
    let (mut sim, _dir, _file) = sim_with_disk(2048);
    create(&mut sim, "t", "0 2047 hello_target /dev/loop0 1").unwrap();
}

/// Linux 6.1 (docs/kernel-facts.md, fact (b), read in `do_resume()` and
/// `dm_swap_table()` and measured in the lab): the load is accepted, the
/// resume is refused with the area's one log line, the new table is destroyed
/// and the device is left suspended on its old table; a second resume lets it
/// run again.
#[test]
fn a_reload_past_the_device_end_fails_at_resume_and_leaves_the_device_suspended() {
    let (mut sim, _dir, _file) = sim_with_disk(2048);
    create(&mut sim, "t", "0 2048 hello_target /dev/loop0 0").unwrap();
    sim.load(
        "t",
        &Table::parse("0 2048 hello_target /dev/loop0 8").unwrap(),
    )
    .unwrap();
    assert!(
        sim.info("t").unwrap().inactive_table,
        "the load is accepted"
    );
    let before = sim.kmsg().len();
    let err = sim.resume("t").unwrap_err();
    let err = err.dm().expect("refused, not hung");
    assert_eq!(err.errno, Errno::EINVAL);
    let expected = "device-mapper: table: 254:0: loop0 too small for target: \
                    start=8, len=2048, dev_size=2048";
    assert_eq!(err.log, [expected]);
    assert_eq!(sim.kmsg()[before..], [expected], "no other log line");

    let info = sim.info("t").unwrap();
    assert!(info.suspended, "left suspended");
    assert!(
        info.live_table && !info.inactive_table,
        "new table destroyed"
    );
    let live = sim.status("t", TableSlot::Live, StatusType::Table).unwrap();
    assert_eq!(live, vec![TableLine::new(0, 2048, "hello_target", "7:0 0")]);
    // Only the old table holds the loop device now.
    assert_eq!(sim.detach_loop("/dev/loop0"), Err(Errno::EBUSY));

    // Suspended: a bio waits; the second resume brings the old table back.
    let Submission::Deferred(id) = sim.write("t", 0, &[3u8; 512]).unwrap() else {
        panic!("a suspended device holds bios");
    };
    sim.resume("t").unwrap();
    let info = sim.info("t").unwrap();
    assert!(!info.suspended && info.live_table && !info.inactive_table);
    assert_eq!(sim.take_completed(id).unwrap().status, BlkStatus::Ok);
    assert_eq!(sim.kmsg().len(), before + 1);
}

/// Linux 6.1 registers a mapped device's disk at its first table load, not at
/// create (docs/kernel-facts.md, fact (a)): before that there is no
/// `/dev/dm-N`, the device cannot be opened (`ENXIO`, as the lab saw from
/// `dd`), and its read-ahead is 0 (`dmsetup info` there: `Read Ahead: 0`).
#[test]
fn a_device_without_a_table_has_no_disk_until_its_first_load() {
    let (mut sim, _dir, _file) = sim_with_disk(64);
    let info = sim.create("d").unwrap();
    assert_eq!(info.read_ahead, 0);
    assert_eq!(sim.open_block("/dev/mapper/d"), Err(Errno::ENXIO));
    assert_eq!(sim.open_block("/dev/dm-0"), Err(Errno::ENOENT));

    sim.load("d", &Table::parse("0 8 zero").unwrap()).unwrap();
    let disk = DevT::new(DM_MAJOR, 0);
    assert_eq!(sim.open_block("/dev/mapper/d"), Ok(disk));
    assert_eq!(sim.open_block("/dev/dm-0"), Ok(disk));
    assert_eq!(sim.info("d").unwrap().read_ahead, 256);
    sim.remove("d").unwrap();
    assert_eq!(sim.open_block("/dev/dm-0"), Err(Errno::ENOENT));
}

#[test]
fn the_life_cycle_moves_tables_between_slots() {
    let (mut sim, _dir, _file) = sim_with_disk(2048);
    let info = sim.create("d").unwrap();
    assert_eq!(info.dev, DevT::new(DM_MAJOR, 0));
    assert!(!info.live_table && !info.inactive_table);
    assert_eq!(sim.create("d").unwrap_err().errno, Errno::EBUSY);

    sim.load("d", &Table::parse("0 8 zero").unwrap()).unwrap();
    let info = sim.info("d").unwrap();
    assert!(!info.live_table && info.inactive_table);

    sim.resume("d").unwrap();
    let info = sim.info("d").unwrap();
    assert!(info.live_table && !info.inactive_table);
    assert_eq!(info.target_count, 1);

    sim.load("d", &Table::parse("0 8 error").unwrap()).unwrap();
    sim.clear("d").unwrap();
    assert!(!sim.info("d").unwrap().inactive_table);

    sim.remove("d").unwrap();
    assert_eq!(sim.info("d").unwrap_err().errno, Errno::ENXIO);
}

#[test]
fn a_suspended_device_holds_bios_until_resume() {
    let (mut sim, _dir, file) = sim_with_disk(64);
    create(&mut sim, "d", "0 64 linear /dev/loop0 0").unwrap();
    sim.suspend("d").unwrap();
    let data = vec![7u8; 512];
    let Submission::Deferred(id) = sim.write("d", 512, &data).unwrap() else {
        panic!("a write to a suspended device must wait");
    };
    assert_eq!(std::fs::read(&file).unwrap()[512..1024], [0u8; 512]);
    assert!(sim.take_completed(id).is_none());
    sim.resume("d").unwrap();
    let done = sim.take_completed(id).expect("runs on resume");
    assert_eq!(done.status, BlkStatus::Ok);
    assert_eq!(std::fs::read(&file).unwrap()[512..1024], data[..]);
}

#[test]
fn a_device_under_another_is_busy_and_io_passes_through_both() {
    let (mut sim, _dir, file) = sim_with_disk(64);
    create(&mut sim, "lower", "0 32 linear /dev/loop0 32").unwrap();
    create(&mut sim, "upper", "0 16 linear /dev/mapper/lower 8").unwrap();
    assert_eq!(sim.info("lower").unwrap().open_count, 1);
    assert_eq!(sim.remove("lower").unwrap_err().errno, Errno::EBUSY);
    let data = vec![9u8; 512];
    let Submission::Done(bio) = sim.write("upper", 0, &data).unwrap() else {
        panic!("not suspended");
    };
    assert_eq!(bio.status, BlkStatus::Ok);
    // upper 0 -> lower 8 -> loop0 40
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(bytes[40 * 512..41 * 512], data[..]);
    sim.remove("upper").unwrap();
    sim.remove("lower").unwrap();
}

#[test]
fn the_error_target_kills_and_zero_reads_zeroes() {
    let (mut sim, _dir, _file) = sim_with_disk(64);
    create(&mut sim, "d", "0 8 zero\n8 8 error").unwrap();
    let Submission::Done(bio) = sim.read("d", 0, 4096).unwrap() else {
        panic!()
    };
    assert_eq!(bio.status, BlkStatus::Ok);
    assert!(bio.data.iter().all(|b| *b == 0));
    let Submission::Done(bio) = sim.read("d", 4 * 512, 8 * 512).unwrap() else {
        panic!()
    };
    assert_eq!(bio.status, BlkStatus::IoErr);
}

#[test]
fn a_module_in_use_cannot_be_unloaded() {
    let (mut sim, _dir, _file) = sim_with_disk(64);
    create(&mut sim, "d", "0 64 hello_target /dev/loop0 0").unwrap();
    assert_eq!(sim.unregister_target("hello_target"), Err(Errno::EBUSY));
    assert_eq!(sim.detach_loop("/dev/loop0"), Err(Errno::EBUSY));
    sim.remove("d").unwrap();
    sim.unregister_target("hello_target").unwrap();
    sim.detach_loop("/dev/loop0").unwrap();
}

/// Lines of a random linear table over a 4096-sector disk: (length, offset).
fn linear_lines() -> impl Strategy<Value = Vec<(u64, u64)>> {
    prop::collection::vec((1u64..64, 0u64..2048), 1..8)
}

proptest! {
    #[test]
    fn table_text_round_trips(lines in prop::collection::vec(
        (1u64..1 << 40, "[a-z][a-z_]{0,12}", prop::collection::vec("[a-z0-9:/]{1,8}", 0..4)),
        1..6,
    )) {
        let mut start = 0;
        let table = Table::new(lines.iter().map(|(len, target, args)| {
            let line = TableLine::new(start, *len, target, &args.join(" "));
            start += len;
            line
        }).collect());
        prop_assert_eq!(Table::parse(&table.to_string()).unwrap(), table);
    }

    #[test]
    fn table_parsing_never_panics(text in "\\PC{0,80}") {
        let _ = Table::parse(&text);
    }

    #[test]
    fn bios_split_at_line_ends_and_land_where_the_table_says(
        lines in linear_lines(),
        first in 0u64..512,
        count in 1u64..128,
    ) {
        let (mut sim, _dir, file) = sim_with_disk(4096);
        let mut start = 0;
        let mut text = String::new();
        for (len, offset) in &lines {
            text += &format!("{start} {len} linear /dev/loop0 {offset}\n");
            start += len;
        }
        let size = start;
        create(&mut sim, "d", &text).unwrap();
        let first = first % size;
        let count = count.min(size - first);
        let data: Vec<u8> = (0..count * 512).map(|i| (i / 512 + first) as u8 ^ 0x5a).collect();
        sim.take_trace();
        let Submission::Done(bio) = sim.write("d", first * 512, &data).unwrap() else {
            panic!("not suspended");
        };
        prop_assert_eq!(bio.status, BlkStatus::Ok);

        // Each piece stays inside one line, and the pieces tile the bio.
        let mut expect = first;
        for event in sim.take_trace() {
            if let TraceEvent::Clone { line, sector, sectors, .. } = event {
                let line_start: u64 = lines[..line].iter().map(|l| l.0).sum();
                prop_assert_eq!(sector, expect);
                prop_assert!(sector >= line_start && sector + sectors <= line_start + lines[line].0);
                expect += sectors;
            }
        }
        prop_assert_eq!(expect, first + count);

        // Sector by sector, the data is where the table maps it... unless a later
        // sector of the same bio was mapped to the same place (overlapping offsets).
        let bytes = std::fs::read(&file).unwrap();
        let place = |s: u64| {
            let mut begin = 0;
            for (len, offset) in &lines {
                if s < begin + len { return offset + (s - begin); }
                begin += len;
            }
            unreachable!()
        };
        for s in first..first + count {
            let last_writer = (first..first + count).rev().find(|t| place(*t) == place(s)).unwrap();
            let want = &data[((last_writer - first) * 512) as usize..][..512];
            let at = (place(s) * 512) as usize;
            prop_assert_eq!(&bytes[at..at + 512], want);
        }
        // Reading back through the device sees the disk as it is now.
        let Submission::Done(back) = sim.read("d", first * 512, count * 512).unwrap() else {
            panic!("not suspended");
        };
        for s in first..first + count {
            let at = (place(s) * 512) as usize;
            prop_assert_eq!(&back.data[((s - first) * 512) as usize..][..512], &bytes[at..at + 512]);
        }
    }
}

#[test]
fn striped_spreads_chunks_round_robin_and_splits_at_chunk_boundaries() {
    let (mut sim, dir, file0) = sim_with_disk(64);
    let file1 = dir.path().join("disk1.img");
    std::fs::File::create(&file1)
        .unwrap()
        .set_len(64 * SECTOR_SIZE)
        .unwrap();
    assert_eq!(sim.attach_loop(&file1).unwrap(), "/dev/loop1");
    // Two stripes of 8-sector chunks: chunk 0 -> loop0, chunk 1 -> loop1, ...
    create(&mut sim, "s", "0 64 striped 2 8 /dev/loop0 0 /dev/loop1 16").unwrap();
    assert_eq!(
        sim.status("s", TableSlot::Live, StatusType::Table).unwrap()[0].params,
        "2 8 7:0 0 7:1 16"
    );
    assert_eq!(
        sim.status("s", TableSlot::Live, StatusType::Info).unwrap()[0].params,
        "2 7:0 7:1 1 AA"
    );
    sim.take_trace();
    // Sectors 4..20 cross two chunk boundaries: three pieces.
    let data: Vec<u8> = (0..16 * 512).map(|i| (i / 512) as u8 + 1).collect();
    let Submission::Done(bio) = sim.write("s", 4 * 512, &data).unwrap() else {
        panic!()
    };
    assert_eq!(bio.status, BlkStatus::Ok);
    let pieces: Vec<(u64, u64)> = sim
        .take_trace()
        .into_iter()
        .filter_map(|e| match e {
            TraceEvent::Clone {
                sector, sectors, ..
            } => Some((sector, sectors)),
            _ => None,
        })
        .collect();
    assert_eq!(pieces, vec![(4, 4), (8, 8), (16, 4)]);
    let disk0 = std::fs::read(&file0).unwrap();
    let disk1 = std::fs::read(&file1).unwrap();
    // sector 4 (chunk 0) -> loop0 sector 4; sector 8 (chunk 1) -> loop1 16 + 0;
    // sector 16 (chunk 2, second row of stripe 0) -> loop0 sector 8.
    assert_eq!(disk0[4 * 512], 1);
    assert_eq!(disk1[16 * 512], 5);
    assert_eq!(disk0[8 * 512], 13);
}

#[test]
fn striped_refuses_shapes_that_do_not_divide() {
    let (mut sim, _dir, _file) = sim_with_disk(64);
    let cases = [
        ("0 64 striped 2", "Not enough arguments"),
        ("0 64 striped 0 8", "Invalid stripe count"),
        ("0 64 striped 2 x", "Invalid chunk_size"),
        (
            "0 63 striped 2 8 /dev/loop0 0 /dev/loop0 32",
            "Target length not divisible by number of stripes",
        ),
        (
            "0 48 striped 2 16 /dev/loop0 0 /dev/loop0 32",
            "Target length not divisible by chunk size",
        ),
        (
            "0 64 striped 2 8 /dev/loop0 0",
            "Not enough destinations specified",
        ),
        (
            "0 64 striped 2 8 /dev/loop0 0 /dev/nosuch 0",
            "Couldn't parse stripe destination",
        ),
    ];
    for (table, reason) in cases {
        let err = create(&mut sim, "s", table).unwrap_err();
        assert!(
            err.reason().unwrap().contains(reason),
            "{table}: {:?}",
            err.log
        );
    }
    // Nothing stays open after the failures.
    sim.detach_loop("/dev/loop0").unwrap();
}
