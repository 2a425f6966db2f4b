//! The simulator as a [`Backend`]: no root, no module, no kernel.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Backend, BackendError, BackendKind, BackgroundWrite, FINISH, Result, SETTLE};
use crate::dm::bio::{Bio, BlkStatus};
use crate::dm::target::{StatusType, TargetType};
use crate::dm::trace::{Remap, TraceEvent};
use crate::dm::units::{Bytes, Sectors};
use crate::dm::{DeviceInfo, TableSlot, TargetVersion};
use crate::errno::Errno;
use crate::manifest::Stage;
use crate::sim::{Simulator, Submission};
use crate::table::{Table, TableLine};
use crate::targets;

/// The kernel line whose behaviour the simulator follows (messages, versions,
/// error numbers), checked against that kernel in the lab.
pub const MODELLED_KERNEL: crate::manifest::ModelledKernel = crate::manifest::ModelledKernel;

/// A [`Simulator`] with a scratch directory for its backing files.
pub struct SimBackend {
    sim: Simulator,
    scratch: tempfile::TempDir,
    kmsg_seen: usize,
    /// Background writes by ticket, with their device's name.
    background: BTreeMap<u64, (String, Background)>,
    next_ticket: u64,
}

/// Where a background write stands.
enum Background {
    /// Deferred inside a suspended device, under the simulator's bio id.
    Deferred(u64),
    /// Ended, with what the writer would be told.
    Ended(Result<()>),
}

impl SimBackend {
    /// A fresh simulator.
    pub fn new() -> Result<SimBackend> {
        let scratch = tempfile::Builder::new()
            .prefix("dm-workbook-")
            .tempdir()
            .map_err(|e| BackendError::io("making a scratch directory", e))?;
        Ok(SimBackend {
            sim: Simulator::new(targets::standard()),
            scratch,
            kmsg_seen: 0,
            background: BTreeMap::new(),
            next_ticket: 1,
        })
    }

    /// Open `/dev/mapper/NAME` for I/O, as a program would: a device whose
    /// disk is not registered yet cannot be opened.
    fn open(&self, name: &str) -> Result<()> {
        let path = format!("/dev/mapper/{name}");
        // A device the core does not know is the ioctl's ENXIO, as before.
        self.sim.info(name)?;
        self.sim
            .open_block(&path)
            .map(|_| ())
            .map_err(|errno| BackendError::Open {
                path,
                source: std::io::Error::from_raw_os_error(errno.code()),
            })
    }

    /// The mapped device's size: where its live table ends.
    fn size(&self, name: &str) -> Result<Bytes> {
        let live = self.sim.status(name, TableSlot::Live, StatusType::Info)?;
        Ok(Sectors(live.last().and_then(TableLine::end).unwrap_or(0)).bytes())
    }

    /// Hand a write to the simulator as the block device file would: one
    /// that starts at or past the end is refused before any bio is made
    /// (`blkdev_write_iter`), and one that runs over the end is shortened.
    fn submit_write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<Submission> {
        self.open(name)?;
        let size = self.size(name)?;
        if offset >= size && !data.is_empty() {
            return Err(BackendError::io(
                format!("writing at byte {offset} of /dev/mapper/{name}"),
                std::io::Error::from_raw_os_error(Errno::ENOSPC.code()),
            ));
        }
        let data = &data[..data.len().min((size - offset).0 as usize)];
        Ok(self.sim.write(name, offset.0, data)?)
    }

    /// Give a deferred background write up to `wait` (the clock moves, and
    /// the targets' delayed work runs) to end; if it did, it becomes ended.
    fn settle(&mut self, ticket: u64, wait: std::time::Duration) {
        let Some((_, Background::Deferred(id))) = self.background.get(&ticket) else {
            return;
        };
        let id = *id;
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        if let Some(bio) = self.sim.wait_for(id, Some(ms))
            && let Some((name, state)) = self.background.get_mut(&ticket)
        {
            *state = Background::Ended(bio_result(name, &bio));
        }
    }

    /// What a program waiting for its I/O gets: the bio once it has ended;
    /// on a suspended device, [`BackendError::Suspended`]; if nothing will
    /// ever end it, [`BackendError::Hung`].
    fn wait(&mut self, name: &str, submission: Submission) -> Result<Bio> {
        match submission {
            Submission::Done(bio) => Ok(bio),
            Submission::Deferred(id) => match self.sim.wait_for(id, None) {
                Some(bio) => Ok(bio),
                None if self.sim.info(name)?.suspended => {
                    Err(BackendError::Suspended(name.to_string()))
                }
                None => Err(self.sim.why_waiting(id).into()),
            },
        }
    }
}

/// The Rust twin of a module stage's target.
fn twin(stage: &Stage) -> Result<Arc<dyn TargetType>> {
    targets::twin(&stage.target).ok_or_else(|| BackendError::Module {
        module: stage.target.to_string(),
        reason: "the simulator has no Rust twin of this target".to_string(),
    })
}

impl Backend for SimBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Sim
    }

    fn describe(&self) -> String {
        format!("the simulator (a model of Linux {MODELLED_KERNEL}'s device-mapper core)")
    }

    fn scratch_dir(&self) -> &Path {
        self.scratch.path()
    }

    fn attach_loop(&mut self, file: &Path) -> Result<String> {
        self.sim.attach_loop(file).map_err(|errno| {
            BackendError::io(
                format!("attaching {} to a loop device", file.display()),
                std::io::Error::from_raw_os_error(errno.code()),
            )
        })
    }

    fn detach_loop(&mut self, device: &str) -> Result<()> {
        self.sim.detach_loop(device).map_err(|errno| {
            BackendError::io(
                format!("detaching {device}"),
                std::io::Error::from_raw_os_error(errno.code()),
            )
        })
    }

    fn load_stage(&mut self, stage: &Stage) -> Result<()> {
        self.sim
            .register_target(twin(stage)?)
            .map_err(|errno| BackendError::Module {
                module: stage.target.to_string(),
                reason: format!("dm_register_target failed: {errno}"),
            })
    }

    fn unload_stage(&mut self, stage: &Stage) -> Result<()> {
        self.sim
            .unregister_target(&stage.target)
            .map_err(|errno| BackendError::Module {
                module: stage.target.to_string(),
                reason: match errno {
                    Errno::EBUSY => "Module is in use".to_string(),
                    _ => "Module is not currently loaded".to_string(),
                },
            })
    }

    fn targets(&mut self) -> Result<Vec<TargetVersion>> {
        Ok(self.sim.targets())
    }

    fn create(&mut self, name: &str) -> Result<DeviceInfo> {
        Ok(self.sim.create(name)?)
    }

    fn load(&mut self, name: &str, table: &Table) -> Result<()> {
        Ok(self.sim.load(name, table)?)
    }

    fn resume(&mut self, name: &str) -> Result<()> {
        Ok(self.sim.resume(name)?)
    }

    fn suspend(&mut self, name: &str) -> Result<()> {
        Ok(self.sim.suspend(name)?)
    }

    fn suspend_noflush(&mut self, name: &str) -> Result<()> {
        Ok(self.sim.suspend_noflush(name)?)
    }

    fn clear(&mut self, name: &str) -> Result<()> {
        Ok(self.sim.clear(name)?)
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        Ok(self.sim.remove(name)?)
    }

    fn info(&mut self, name: &str) -> Result<DeviceInfo> {
        Ok(self.sim.info(name)?)
    }

    fn table(&mut self, name: &str, slot: TableSlot) -> Result<Vec<TableLine>> {
        Ok(self.sim.status(name, slot, StatusType::Table)?)
    }

    fn status(&mut self, name: &str, slot: TableSlot) -> Result<Vec<TableLine>> {
        Ok(self.sim.status(name, slot, StatusType::Info)?)
    }

    fn message(&mut self, name: &str, sector: Sectors, words: &[&str]) -> Result<String> {
        Ok(self.sim.message(name, sector.0, words)?)
    }

    fn write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<()> {
        let submitted = self.submit_write(name, offset, data)?;
        let bio = self.wait(name, submitted)?;
        bio_result(name, &bio)
    }

    fn fsync(&mut self, name: &str) -> Result<()> {
        self.open(name)?;
        let submitted = self.sim.flush(name)?;
        let bio = self.wait(name, submitted)?;
        bio_result(name, &bio)
    }

    fn read(&mut self, name: &str, offset: Bytes, len: Bytes) -> Result<Vec<u8>> {
        // Reading a block device file stops at its end: past it, `read(2)`
        // returns 0 bytes and no bio is made (`blkdev_read_iter`).
        self.open(name)?;
        let size = self.size(name)?;
        let len = len.min(size.saturating_sub(offset));
        if len == Bytes(0) {
            return Ok(Vec::new());
        }
        let submitted = self.sim.read(name, offset.0, len.0)?;
        let bio = self.wait(name, submitted)?;
        bio_result(name, &bio).map(|_| bio.data)
    }

    fn start_write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<BackgroundWrite> {
        let state = match self.submit_write(name, offset, data)? {
            Submission::Done(bio) => Background::Ended(bio_result(name, &bio)),
            Submission::Deferred(id) => Background::Deferred(id),
        };
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.background.insert(ticket, (name.to_string(), state));
        Ok(BackgroundWrite(ticket))
    }

    fn write_waiting(&mut self, write: &BackgroundWrite) -> bool {
        self.settle(write.0, SETTLE);
        matches!(
            self.background.get(&write.0),
            Some((_, Background::Deferred(_)))
        )
    }

    fn finish_write(&mut self, write: BackgroundWrite) -> Result<()> {
        self.settle(write.0, FINISH);
        match self.background.remove(&write.0) {
            Some((_, Background::Ended(result))) => result,
            Some((name, Background::Deferred(_))) => Err(BackendError::Suspended(name)),
            None => Err(BackendError::Unsupported(format!(
                "no background write {} on this backend",
                write.0
            ))),
        }
    }

    fn devices(&mut self) -> Result<Vec<String>> {
        Ok(self.sim.devices())
    }

    fn device_path(&mut self, name: &str) -> Result<PathBuf> {
        self.sim.info(name)?;
        Ok(PathBuf::from(format!("/dev/mapper/{name}")))
    }

    fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.sim.take_trace()
    }

    fn record_remaps(&mut self) -> Result<()> {
        self.sim.take_remaps();
        Ok(())
    }

    fn take_remaps(&mut self) -> Result<Vec<Remap>> {
        Ok(self.sim.take_remaps())
    }

    fn kernel_log(&mut self) -> Vec<String> {
        let new = self.sim.kmsg()[self.kmsg_seen..].to_vec();
        self.kmsg_seen = self.sim.kmsg().len();
        new
    }

    fn run_on_device(&mut self, name: &str, program: &str, _args: &[&str]) -> Result<String> {
        Err(needs_kernel(&format!("{program} on /dev/mapper/{name}")))
    }

    fn mount(&mut self, name: &str, dir: &Path) -> Result<()> {
        Err(needs_kernel(&format!(
            "mounting /dev/mapper/{name} on {}",
            dir.display()
        )))
    }

    fn unmount(&mut self, dir: &Path) -> Result<()> {
        Err(needs_kernel(&format!("unmounting {}", dir.display())))
    }
}

/// The simulator has no device node a program could open, nor a file system.
fn needs_kernel(what: &str) -> BackendError {
    BackendError::Unsupported(format!(
        "{what} needs a real kernel: the simulator has no device node a program \
         could open (run with --backend kernel, or `cargo xtask lab --chapter 3`)"
    ))
}

/// A bio that ended with an error is an I/O error for the caller, as `EIO`
/// from `read(2)` or `write(2)` would be (`EOPNOTSUPP` for an op the device
/// does not offer, as `blk_status_to_errno()` gives).
fn bio_result(name: &str, bio: &Bio) -> Result<()> {
    let errno = match bio.status {
        BlkStatus::Ok => return Ok(()),
        // A requeue never reaches a program: the core fails it or sends
        // the bio again.
        BlkStatus::IoErr | BlkStatus::DmRequeue => Errno::EIO,
        BlkStatus::NotSupp => Errno::EOPNOTSUPP,
    };
    Err(BackendError::io(
        format!(
            "{} of sectors {}+{} on /dev/mapper/{name}",
            bio.op,
            bio.sector,
            bio.sectors()
        ),
        std::io::Error::from_raw_os_error(errno.code()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A backend with `demo` live on 8 sectors of `zero`.
    fn with_zero_device() -> SimBackend {
        let mut backend = SimBackend::new().unwrap();
        let table = Table::parse("0 8 zero").unwrap();
        backend.create_with_table("demo", &table).unwrap();
        backend
    }

    #[test]
    fn a_background_write_waits_in_a_suspended_device_until_resume() {
        let mut backend = with_zero_device();
        backend.suspend("demo").unwrap();
        let held = backend.start_write("demo", Bytes(0), &[1; 512]).unwrap();
        assert!(backend.write_waiting(&held));
        backend.resume("demo").unwrap();
        assert!(!backend.write_waiting(&held));
        backend.finish_write(held).unwrap();
    }

    #[test]
    fn finishing_a_held_write_says_it_still_waits() {
        let mut backend = with_zero_device();
        backend.suspend("demo").unwrap();
        let held = backend.start_write("demo", Bytes(0), &[1; 512]).unwrap();
        let finished = backend.finish_write(held);
        assert!(
            matches!(&finished, Err(BackendError::Suspended(name)) if name == "demo"),
            "{finished:?}"
        );
    }

    #[test]
    fn a_background_write_to_a_live_device_ends_at_once() {
        let mut backend = with_zero_device();
        let done = backend.start_write("demo", Bytes(0), &[1; 512]).unwrap();
        assert!(!backend.write_waiting(&done));
        backend.finish_write(done).unwrap();
        let past_the_end = backend.start_write("demo", Sectors(8).bytes(), &[1; 512]);
        assert!(matches!(past_the_end, Err(BackendError::Io { .. })));
        assert_eq!(backend.devices().unwrap(), ["demo"]);
    }
}
