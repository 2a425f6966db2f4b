//! The simulator's map path allocates nothing per bio but the bio itself.
//! This test binary counts every allocation through a global allocator, and
//! a bio's way through `hello_target`, through `linear`, and through `linear`
//! on `linear` must make none once the model has warmed up.
//!
//! What is not held to zero, and why:
//! - a bio that a line boundary splits: each piece's clone gets a copy of its
//!   share of the data (the kernel allocates a clone for each piece too);
//! - per-bio data (`per_io_data_size`, the proxy's and stage 4's): the model
//!   gives each clone a buffer of its own, where the kernel carves it out of
//!   the front of the clone it allocates from the device's bioset for every
//!   bio (`alloc_io()` and `alloc_tio()`, Linux 6.1 `drivers/md/dm.c` lines
//!   568-640);
//! - clones a target keeps past `map` (stage 4, `targets/deferred.rs`): on
//!   top of their per-bio data, the core's table of clones in flight and the
//!   target's queue grow with how many are held.
//!
//! This is the only test in its file: tests run on several threads, and
//! another test's allocations would be counted too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dm_workbook::dm::bio::{Bio, BlkStatus, DevT};
use dm_workbook::sim::{Simulator, Submission};
use dm_workbook::table::Table;
use dm_workbook::targets::{self, hello::HelloTarget};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

const BIOS: usize = 1000;

/// Allocations made by `BIOS` 4 KiB bios (writes, then reads of the same
/// sectors) submitted to device `d`; the bios are made before counting.
fn allocations_per_run(sim: &mut Simulator) -> usize {
    let bios: Vec<Bio> = (0..BIOS)
        .map(|i| {
            // A write, then a read of the same sectors.
            let sector = (i / 2 % 64) as u64 * 8;
            if i % 2 == 0 {
                Bio::write(DevT::new(0, 0), sector, vec![0x5a; 4096])
            } else {
                Bio::read(DevT::new(0, 0), sector, 8)
            }
        })
        .collect();
    let mut done = Vec::with_capacity(BIOS);
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for bio in bios {
        let Submission::Done(bio) = sim.submit("d", bio).unwrap() else {
            panic!("the device is not suspended");
        };
        done.push(bio);
    }
    let made = ALLOCATIONS.load(Ordering::Relaxed) - before;
    for bio in &done {
        assert_eq!(bio.status, BlkStatus::Ok);
        assert!(
            bio.data.iter().all(|&b| b == 0x5a),
            "a read got what was written"
        );
    }
    // Forgotten without reading, keeping the room for the next run.
    sim.discard_trace();
    made
}

#[test]
fn a_bio_allocates_nothing_on_its_way_but_itself() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disk.img");
    std::fs::File::create(&file)
        .unwrap()
        .set_len(8192 * 512)
        .unwrap();
    let cases: [&[(&str, &str)]; 3] = [
        &[("d", "0 4096 hello_target /dev/loop0 0")],
        &[("d", "0 4096 linear /dev/loop0 0")],
        &[
            ("lower", "0 8192 linear /dev/loop0 0"),
            ("d", "0 4096 linear /dev/mapper/lower 0"),
        ],
    ];
    for tables in cases {
        let mut sim = Simulator::new(targets::standard());
        sim.register_target(Arc::new(HelloTarget)).unwrap();
        sim.attach_loop(&file).unwrap();
        for (name, table) in tables {
            sim.create(name).unwrap();
            sim.load(name, &Table::parse(table).unwrap()).unwrap();
            sim.resume(name).unwrap();
        }
        // The first run grows the trace's room (which also shows that the
        // count sees the simulator's allocations); the second needs none.
        assert!(allocations_per_run(&mut sim) > 0, "{tables:?}");
        assert_eq!(allocations_per_run(&mut sim), 0, "{tables:?}");
    }
}
