//! The simulator's map path allocates nothing per bio but the bio itself:
//! this test binary counts every allocation, and a bio's way through
//! `hello_target` (and through `linear` on `linear`) must make none. (The
//! only test in its file: tests run on several threads, and another test's
//! allocations would be counted too.)

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

/// Allocations made by `BIOS` writes to device `d`, the bios made first.
fn allocations_per_run(sim: &mut Simulator) -> usize {
    let bios: Vec<Bio> = (0..BIOS)
        .map(|i| Bio::write(DevT::new(0, 0), (i % 64) as u64 * 8, vec![0x5a; 4096]))
        .collect();
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    for bio in bios {
        let Submission::Done(done) = sim.submit("d", bio).unwrap() else {
            panic!("the device is not suspended");
        };
        assert_eq!(done.status, BlkStatus::Ok);
    }
    let made = ALLOCATIONS.load(Ordering::Relaxed) - before;
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
    for tables in [
        &["0 4096 hello_target /dev/loop0 0"][..],
        &[
            "0 8192 linear /dev/loop0 0",
            "0 4096 linear /dev/mapper/lower 0",
        ][..],
    ] {
        let mut sim = Simulator::new(targets::standard());
        sim.register_target(Arc::new(HelloTarget)).unwrap();
        sim.attach_loop(&file).unwrap();
        let names = if tables.len() == 1 {
            &["d"][..]
        } else {
            &["lower", "d"][..]
        };
        for (name, table) in names.iter().zip(tables) {
            sim.create(name).unwrap();
            sim.load(name, &Table::parse(table).unwrap()).unwrap();
            sim.resume(name).unwrap();
        }
        // The first run grows the trace's room (which also shows the count
        // works); the second must need none.
        assert!(allocations_per_run(&mut sim) > 0);
        assert_eq!(allocations_per_run(&mut sim), 0, "{tables:?}");
    }
}
