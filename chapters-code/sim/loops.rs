//! Loop devices: the block devices below the mapped ones, each a file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;

use super::{DM_MAJOR, LOOP_MAJOR, LoopStat, Node, Simulator, WriteCache};
use crate::SECTOR_SIZE;
use crate::dm::bio::{Bio, BioOp, BlkStatus, DevT};
use crate::dm::trace::TraceEvent;
use crate::errno::Errno;

/// A loop device: `/dev/loopN` over a file.
#[derive(Debug)]
pub(super) struct LoopDevice {
    /// `/dev/loopN`, shared by the trace that records it.
    pub(super) path: Rc<str>,
    /// Held open for the device's life, as `LOOP_SET_FD` holds its file.
    pub(super) handle: File,
    pub(super) sectors: u64,
    /// Tables holding this device open.
    pub(super) holders: u32,
    /// `queue/write_cache`. Linux 6.1's `loop_configure()` turns the cache
    /// on when the file can be synced (`drivers/block/loop.c` lines
    /// 1075-1076, without FUA): a flush becomes an `fsync` of the file.
    pub(super) write_cache: WriteCache,
    /// What `/sys/block/loopN/stat` counts of the ops this model has.
    pub(super) stat: LoopStat,
}

impl Simulator {
    /// Attach `file` to the first free loop device (`losetup -f FILE`): it
    /// becomes `/dev/loopN` with device number `7:N`. Returns the path.
    pub fn attach_loop(&mut self, file: &Path) -> Result<String, Errno> {
        let handle = File::options()
            .read(true)
            .write(true)
            .open(file)
            .map_err(|_| Errno::ENOENT)?;
        let bytes = handle.metadata().map_err(|_| Errno::EIO)?.len();
        let minor = (0..).find(|m| !self.loops.contains_key(m)).unwrap_or(0);
        let path = format!("/dev/loop{minor}");
        self.loops.insert(
            minor,
            LoopDevice {
                path: path.as_str().into(),
                handle,
                sectors: bytes / SECTOR_SIZE,
                holders: 0,
                write_cache: WriteCache::WriteBack,
                stat: LoopStat::default(),
            },
        );
        self.nodes
            .insert(path.clone(), Node::Block(DevT::new(LOOP_MAJOR, minor)));
        Ok(path)
    }

    /// Detach a loop device (`losetup -d`). A device a table holds is busy.
    pub fn detach_loop(&mut self, path: &str) -> Result<(), Errno> {
        let Some(Node::Block(dev)) = self.nodes.get(path).cloned() else {
            return Err(Errno::ENXIO);
        };
        let loop_dev = self.loops.get(&dev.minor).ok_or(Errno::ENXIO)?;
        if dev.major != LOOP_MAJOR {
            return Err(Errno::EINVAL);
        }
        if loop_dev.holders > 0 {
            return Err(Errno::EBUSY);
        }
        self.loops.remove(&dev.minor);
        self.nodes.remove(path);
        Ok(())
    }

    /// `cat /sys/block/loopN/queue/write_cache` for loop device `path`.
    pub fn loop_write_cache(&self, path: &str) -> Result<WriteCache, Errno> {
        Ok(self.loop_by_path(path)?.write_cache)
    }

    /// `echo "write back" > /sys/block/loopN/queue/write_cache` (or
    /// `"write through"`). Mapped devices built on it afterwards see it;
    /// the kernel reads it when it binds a table (`dm_table_set_restrictions`).
    pub fn set_loop_write_cache(&mut self, path: &str, mode: WriteCache) -> Result<(), Errno> {
        let minor = self.loop_minor(path)?;
        self.loops.get_mut(&minor).expect("found above").write_cache = mode;
        Ok(())
    }

    /// What `/sys/block/loopN/stat` counts for loop device `path`.
    pub fn loop_stat(&self, path: &str) -> Result<LoopStat, Errno> {
        Ok(self.loop_by_path(path)?.stat)
    }

    fn loop_minor(&self, path: &str) -> Result<u32, Errno> {
        match self.nodes.get(path) {
            Some(Node::Block(dev))
                if dev.major == LOOP_MAJOR && self.loops.contains_key(&dev.minor) =>
            {
                Ok(dev.minor)
            }
            _ => Err(Errno::ENXIO),
        }
    }

    fn loop_by_path(&self, path: &str) -> Result<&LoopDevice, Errno> {
        Ok(&self.loops[&self.loop_minor(path)?])
    }

    /// `bdev_nr_sectors`: the size of a block device, if it exists (a mapped
    /// device once its disk is registered, at its first table load).
    pub(super) fn device_sectors(&self, dev: DevT) -> Option<u64> {
        match dev.major {
            LOOP_MAJOR => self.loops.get(&dev.minor).map(|l| l.sectors),
            DM_MAJOR => self
                .mapped
                .values()
                .find(|md| md.minor == dev.minor && md.queue_set_up)
                .map(|md| md.live.as_ref().map_or(0, |t| t.sectors())),
            _ => None,
        }
    }

    pub(super) fn hold(&mut self, dev: DevT, delta: i32) {
        if dev.major == LOOP_MAJOR
            && let Some(l) = self.loops.get_mut(&dev.minor)
        {
            l.holders = l.holders.saturating_add_signed(delta);
        }
    }

    pub(super) fn release_devices(&mut self, devices: &[DevT]) {
        for dev in devices {
            self.hold(*dev, -1);
        }
    }

    pub(super) fn loop_io(&mut self, bio: &mut Bio) {
        let Some(loop_dev) = self.loops.get(&bio.dev.minor) else {
            bio.status = BlkStatus::IoErr;
            return;
        };
        let end = bio.sector.checked_add(bio.sectors());
        let limit = loop_dev.sectors;
        if end.is_none_or(|end| end > limit) {
            // bio_check_eod() in block/blk-core.c, as Linux 6.1 prints it in
            // the lab for a direct read and write: the task's name, then the
            // device, the bio's op and flags (REQ_SYNC for a read; REQ_SYNC
            // and REQ_IDLE for a write), where it starts and how long it is.
            // No twin here remaps past its device (each checks its line
            // through iterate_devices), so only a new twin can get here.
            // The other ops print their bare number (`include/linux/blk_types.h`
            // lines 366-372); their flags are not modelled.
            let rw = match bio.op {
                BioOp::Read => 2048,
                BioOp::Write => 34817,
                BioOp::Discard => 3,
                BioOp::SecureErase => 5,
                BioOp::WriteZeroes => 9,
            };
            self.log(format!(
                "{}: attempt to access beyond end of device",
                task_name()
            ));
            self.log(format!(
                "loop{}: rw={rw}, sector={}, nr_sectors = {} limit={}",
                bio.dev.minor,
                bio.sector,
                bio.sectors(),
                limit
            ));
            bio.status = BlkStatus::IoErr;
            return;
        }
        self.trace.push(TraceEvent::Landed {
            device: Rc::clone(&loop_dev.path),
            dev: bio.dev,
            op: bio.op,
            sector: bio.sector,
            sectors: bio.sectors(),
        });
        let offset = bio.sector * SECTOR_SIZE;
        let file = &loop_dev.handle;
        // The flush machinery (`blk_flush_policy()`, `block/blk-flush.c`
        // lines 105-119) sends a queue with a write cache one flush before a
        // PREFLUSH bio's data, and, as loop has no FUA, one after a FUA
        // bio's data. Loop runs a flush as an fsync of its file.
        let preflush = u64::from(bio.preflush);
        let postflush = u64::from(bio.fua && bio.sectors() > 0);
        // Loop punches a hole for a discard and for a write-zeroes
        // (`lo_fallocate()`, `drivers/block/loop.c` lines 475-485): the
        // sectors read back as zeroes. (A write-zeroes with REQ_NOUNMAP asks
        // the file for FALLOC_FL_ZERO_RANGE instead, which can fail; the
        // model has no REQ_NOUNMAP.)
        let result = match bio.op {
            BioOp::Read => file.read_exact_at(&mut bio.data, offset),
            BioOp::Write => file.write_all_at(&bio.data, offset),
            BioOp::Discard | BioOp::WriteZeroes => {
                file.write_all_at(&vec![0; (bio.sectors() * SECTOR_SIZE) as usize], offset)
            }
            BioOp::SecureErase => unreachable!("refused by submit_below: loop has no secure erase"),
        };
        let stat = &mut self
            .loops
            .get_mut(&bio.dev.minor)
            .expect("found above")
            .stat;
        stat.flushes += preflush + postflush;
        if bio.op == BioOp::Discard {
            stat.discards += 1;
        }
        if result.is_err() {
            bio.status = BlkStatus::IoErr;
        }
    }
}

/// The running program's name as the kernel keeps it (`current->comm`: at
/// most 15 bytes).
fn task_name() -> String {
    let name = std::env::args_os()
        .next()
        .map(std::path::PathBuf::from)
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    name.chars().take(15).collect()
}
