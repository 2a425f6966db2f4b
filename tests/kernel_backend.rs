//! The kernel backend against a real kernel. These need root, device mapper and
//! loop devices, so they only run when asked:
//! `sudo cargo test --features kernel --test kernel_backend -- --ignored --test-threads=1`
//! (the qemu lab runs them in a guest: `cargo xtask lab --kernel 6.1
//! --backend-tests`, which CI runs). The module test also needs
//! `DMW_MODULE_KO=/path/to/module.ko` and `DMW_MODULE_TARGET=<its target name>`.
#![cfg(feature = "kernel")]

use std::path::{Path, PathBuf};

use dm_workbook::dm::TableSlot;
use dm_workbook::dm::units::{Bytes, Sectors};
use dm_workbook::driver::kernel::KernelBackend;
use dm_workbook::driver::{Backend, BackendError, OpenOptions};
use dm_workbook::errno::Errno;
use dm_workbook::manifest::{Language, Stage};
use dm_workbook::table::{Table, TableLine};

/// 8 MiB: big enough for ext4, small enough for a guest's RAM.
const DISK_SECTORS: u64 = 16384;

/// A backend with what a test made: loop devices over sparse files and mapped
/// devices, all removed on drop, so a failing test leaves nothing behind.
struct Fixture {
    b: KernelBackend,
    files: Vec<PathBuf>,
    loops: Vec<String>,
    devices: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            b: open(),
            files: Vec::new(),
            loops: Vec::new(),
            devices: Vec::new(),
        }
    }

    /// A loop device over a fresh sparse file; its path and the file's.
    fn disk(&mut self, tag: &str) -> (String, PathBuf) {
        let file = self.b.scratch_dir().join(format!("test-{tag}.img"));
        std::fs::File::create(&file)
            .and_then(|f| f.set_len(DISK_SECTORS * 512))
            .unwrap();
        self.files.push(file.clone());
        let device = self.b.attach_loop(&file).unwrap();
        self.loops.push(device.clone());
        (device, file)
    }

    /// Remember `name` for removal; returns it.
    fn device(&mut self, name: &str) -> String {
        self.devices.push(name.to_string());
        name.to_string()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for name in &self.devices {
            let _ = self.b.remove(name);
        }
        for device in &self.loops {
            let _ = self.b.detach_loop(device);
        }
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}

fn open() -> KernelBackend {
    KernelBackend::open().expect("run as root on a kernel with device mapper")
}

fn table(text: &str) -> Table {
    Table::parse(text).unwrap()
}

fn dm_errno(result: Result<impl std::fmt::Debug, BackendError>) -> (Errno, Vec<String>) {
    match result {
        Err(BackendError::Dm(err)) => (err.errno, err.log),
        other => panic!("expected a device-mapper error, got {other:?}"),
    }
}

#[test]
#[ignore = "needs root and device mapper: run in the lab"]
fn a_device_lives_through_load_resume_suspend_clear_and_remove() {
    let mut f = Fixture::new();
    let targets = f.b.targets().unwrap();
    assert!(targets.iter().any(|t| t.name == "linear"), "{targets:?}");
    let (loop_device, file) = f.disk("life");
    let name = &f.device("dmw_test_life");
    let b = &mut f.b;

    let created = b.create(name).unwrap();
    assert!(!created.live_table && !created.inactive_table);
    let linear = table(&format!("0 {DISK_SECTORS} linear {loop_device} 0"));
    b.load(name, &linear).unwrap();
    let info = b.info(name).unwrap();
    assert!(info.inactive_table && !info.live_table, "{info}");
    assert_eq!(b.table(name, TableSlot::Live).unwrap(), vec![]);
    b.resume(name).unwrap();
    let info = b.info(name).unwrap();
    assert!(
        info.live_table && !info.inactive_table && !info.suspended,
        "{info}"
    );
    assert_eq!(info.target_count, 1);

    // The kernel keeps the device as major:minor, not the path we gave.
    let live = b.table(name, TableSlot::Live).unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!((live[0].start, live[0].length), (0, DISK_SECTORS));
    assert_eq!(live[0].target, "linear");
    assert!(live[0].params.ends_with(" 0"), "{}", live[0]);
    assert_eq!(
        b.status(name, TableSlot::Live).unwrap(),
        vec![TableLine::new(0, DISK_SECTORS, "linear", "")]
    );

    // Data goes through to the loop device's file.
    let data: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    b.write(name, Bytes(4096), &data).unwrap();
    assert_eq!(b.read(name, Bytes(4096), Bytes::of(&data)).unwrap(), data);
    let stored = std::fs::read(&file).unwrap();
    assert_eq!(&stored[4096..4096 + data.len()], &data[..]);
    // Past the end: nothing to read, no room to write.
    let end = Sectors(DISK_SECTORS).bytes();
    assert!(b.read(name, end, Bytes(512)).unwrap().is_empty());
    assert!(b.write(name, end, &[0; 512]).is_err());
    assert!(
        b.write(name, Bytes(1), &[0; 512]).is_err(),
        "not a whole sector"
    );

    // A second table waits in the inactive slot until resume swaps it in.
    // (`error` is built into dm-mod, so every kernel has it.)
    let error = table(&format!("0 {DISK_SECTORS} error"));
    b.load(name, &error).unwrap();
    assert_eq!(
        b.table(name, TableSlot::Inactive).unwrap(),
        vec![TableLine::new(0, DISK_SECTORS, "error", "")]
    );
    b.clear(name).unwrap();
    assert!(!b.info(name).unwrap().inactive_table);
    b.load(name, &error).unwrap();
    b.suspend(name).unwrap();
    assert!(b.info(name).unwrap().suspended);
    assert!(matches!(
        b.read(name, Bytes(0), Bytes(512)),
        Err(BackendError::Suspended(_))
    ));
    // A write started in the background is held inside the device; resume
    // lets it go, through the new table, which fails it.
    let held = b.start_write(name, Bytes(0), &[7; 512]).unwrap();
    assert!(b.write_waiting(&held));
    b.resume(name).unwrap();
    let failed = b.finish_write(held).unwrap_err();
    assert!(
        matches!(&failed, BackendError::Io { source, .. } if source.raw_os_error() == Some(5)),
        "{failed}"
    );
    let failed = b.read(name, Bytes(4096), Bytes(512)).unwrap_err();
    assert!(
        matches!(&failed, BackendError::Io { source, .. } if source.raw_os_error() == Some(5)),
        "{failed}"
    );

    let path = b.device_path(name).unwrap();
    assert!(path.exists(), "{}", path.display());
    assert!(b.devices().unwrap().contains(name));
    b.remove(name).unwrap();
    assert!(!b.devices().unwrap().contains(name));
    let (errno, _) = dm_errno(b.info(name));
    assert_eq!(errno, Errno::ENXIO);
}

#[test]
#[ignore = "needs root and device mapper: run in the lab"]
fn a_refused_table_says_why_and_leaves_no_device() {
    let mut f = Fixture::new();
    let (loop_device, _) = f.disk("refused");
    let name = &f.device("dmw_test_refused");
    let b = &mut f.b;
    b.kernel_log();

    // One sector past the end of the loop device.
    let past_end = table(&format!("0 {DISK_SECTORS} linear {loop_device} 1"));
    let (errno, log) = dm_errno(b.create_with_table(name, &past_end));
    assert_eq!(errno, Errno::EINVAL);
    let reason = log.first().expect("the kernel logs why");
    assert!(reason.starts_with("device-mapper: table: "), "{log:?}");
    assert!(reason.contains("too small for target"), "{log:?}");
    // create_with_table removed the device again.
    assert_eq!(dm_errno(b.info(name)).0, Errno::ENXIO);
    // The same lines reach kernel_log for the narration.
    assert!(b.kernel_log().contains(reason));

    let (errno, log) = dm_errno(b.create_with_table(name, &table("0 8 no_such_target")));
    assert_eq!(errno, Errno::EINVAL);
    assert!(log.iter().any(|l| l.contains("no_such_target")), "{log:?}");
    assert_eq!(dm_errno(b.info(name)).0, Errno::ENXIO);
}

#[test]
#[ignore = "needs root and device mapper: run in the lab"]
fn a_message_to_a_target_without_messages_is_refused_with_the_reason() {
    let mut f = Fixture::new();
    let name = &f.device("dmw_test_message");
    let b = &mut f.b;
    b.create_with_table(name, &table("0 8 error")).unwrap();
    let (errno, log) = dm_errno(b.message(name, Sectors(0), &["hello"]));
    assert_eq!(errno, Errno::EINVAL);
    assert!(
        log.first()
            .is_some_and(|l| l.contains("does not support messages")),
        "{log:?}"
    );
}

#[test]
#[ignore = "needs root, device mapper, ext4 and mke2fs: run in the lab"]
fn a_file_system_on_a_mapped_device_mounts_and_keeps_files() {
    let mut f = Fixture::new();
    let (loop_device, _) = f.disk("fs");
    let name = &f.device("dmw_test_fs");
    let b = &mut f.b;
    let linear = table(&format!("0 {DISK_SECTORS} linear {loop_device} 0"));
    b.create_with_table(name, &linear).unwrap();
    let mkfs = b.run_on_device(name, "mkfs.ext4", &["-q"]);
    let dir = b.scratch_dir().join("test-mnt");
    std::fs::create_dir_all(&dir).unwrap();
    let used = mkfs.and_then(|_| {
        b.mount(name, &dir)?;
        let wrote = std::fs::write(dir.join("test.txt"), "hello\n")
            .and_then(|()| std::fs::read_to_string(dir.join("test.txt")));
        b.unmount(&dir)?;
        wrote.map_err(|e| BackendError::io("using the file system", e))
    });
    let _ = b.unmount(&dir);
    b.remove(name).unwrap();
    assert_eq!(used.unwrap(), "hello\n");
    let missing = b.run_on_device(name, "mkfs.ext4", &[]);
    assert!(missing.is_err());
}

#[test]
#[ignore = "needs root, a module built for this kernel in DMW_MODULE_KO and its target in DMW_MODULE_TARGET"]
fn a_module_loads_registers_its_target_and_unloads() {
    let ko = std::env::var_os("DMW_MODULE_KO").expect("DMW_MODULE_KO");
    let target = std::env::var("DMW_MODULE_TARGET").expect("DMW_MODULE_TARGET");
    let ko_name = Path::new(&ko)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a .ko file name")
        .to_string();
    // A stage outside the manifest: only its target and module file matter
    // when the module comes prebuilt.
    let stage = Stage {
        dir: String::new(),
        target,
        language: Language::C,
        ko: ko_name,
        source: None,
        table: None,
        scenario: None,
        chapter: None,
        expect: Default::default(),
        errors: Default::default(),
        fixed: None,
    };
    let mut b = KernelBackend::open_with(&OpenOptions {
        module_ko: Some(PathBuf::from(&ko)),
    })
    .unwrap();
    let has_target =
        |b: &mut KernelBackend| b.targets().unwrap().iter().any(|t| t.name == stage.target);
    b.load_stage(&stage).unwrap();
    // Loading twice is fine: the target is there.
    b.load_stage(&stage).unwrap();
    assert!(has_target(&mut b));
    b.unload_stage(&stage).unwrap();
    assert!(!has_target(&mut b));
    let err = b.unload_stage(&stage).unwrap_err();
    assert!(err.to_string().contains("not currently loaded"), "{err}");
}

/// The ioctls `dmsetup create`, `table`, `rename` and `remove` make, issued
/// one by one through the devicemapper crate. The book's chapter on what
/// dmsetup says to the kernel includes this test by anchor.
#[test]
#[ignore = "needs root and device mapper: run in the lab"]
fn the_ioctls_one_by_one() {
    // ANCHOR: raw_ioctls
    use devicemapper::{DM, DevId, DmFlags, DmName, DmOptions};

    // Opening /dev/mapper/control; every call below is one ioctl on it.
    let dm = DM::new().unwrap();
    let (major, _minor, _patch) = dm.version().unwrap(); // DM_VERSION
    assert_eq!(
        major, 4,
        "DM_VERSION_MAJOR in include/uapi/linux/dm-ioctl.h"
    );

    let name = DmName::new("dmw_ioctls").unwrap();
    let id = DevId::Name(name);
    let created = dm.device_create(name, None, DmOptions::default()).unwrap(); // DM_DEV_CREATE
    assert_eq!(created.event_nr(), 0);

    // One line of 8 sectors of `error`, loaded into the inactive slot.
    let table = [(0, 8, "error".to_string(), String::new())];
    dm.table_load(&id, &table, DmOptions::default()).unwrap(); // DM_TABLE_LOAD
    let info = dm.device_info(&id).unwrap(); // DM_DEV_STATUS
    assert!(info.flags().contains(DmFlags::DM_INACTIVE_PRESENT));
    assert!(!info.flags().contains(DmFlags::DM_ACTIVE_PRESENT));

    // DM_DEV_SUSPEND without DM_SUSPEND_FLAG is a resume: the inactive
    // table becomes the live one.
    dm.device_suspend(&id, DmOptions::default()).unwrap();
    let table_flag = DmOptions::default().set_flags(DmFlags::DM_STATUS_TABLE);
    let (info, lines) = dm.table_status(&id, table_flag).unwrap(); // DM_TABLE_STATUS
    assert!(info.flags().contains(DmFlags::DM_ACTIVE_PRESENT));
    assert_eq!(
        (lines[0].0, lines[0].1, lines[0].2.as_str()),
        (0, 8, "error")
    );

    // A rename is an event: the device's event number goes up by one.
    let renamed = DmName::new("dmw_ioctls_renamed").unwrap();
    dm.device_rename(name, &DevId::Name(renamed)).unwrap(); // DM_DEV_RENAME
    let info = dm.device_info(&DevId::Name(renamed)).unwrap();
    assert_eq!(info.event_nr(), 1);

    dm.device_remove(&DevId::Name(renamed), DmOptions::default()) // DM_DEV_REMOVE
        .unwrap();
    assert!(dm.device_info(&DevId::Name(renamed)).is_err());
    // ANCHOR_END: raw_ioctls
}
