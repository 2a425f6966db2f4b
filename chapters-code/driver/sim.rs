//! The simulator as a [`Backend`]: no root, no module, no kernel.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Backend, BackendError, BackendKind, ModuleStage, Result};
use crate::dm::{DeviceInfo, TableSlot, TargetVersion};
use crate::errno::Errno;
use crate::sim::target::{StatusType, TargetType};
use crate::sim::trace::TraceEvent;
use crate::sim::{Simulator, Submission};
use crate::table::{Table, TableLine};
use crate::targets::hello::HelloTarget;

/// The kernel line whose behaviour the simulator follows (messages, versions,
/// error numbers), checked against that kernel in the lab.
pub const MODELLED_KERNEL: crate::manifest::ModelledKernel = crate::manifest::ModelledKernel;

/// A [`Simulator`] with a scratch directory for its backing files.
pub struct SimBackend {
    sim: Simulator,
    scratch: tempfile::TempDir,
    kmsg_seen: usize,
}

impl SimBackend {
    /// A fresh simulator.
    pub fn new() -> Result<SimBackend> {
        let scratch = tempfile::Builder::new()
            .prefix("dm-workbook-")
            .tempdir()
            .map_err(|e| BackendError::io("making a scratch directory", e))?;
        Ok(SimBackend {
            sim: Simulator::new(),
            scratch,
            kmsg_seen: 0,
        })
    }

    /// The mapped device's size: where its live table ends.
    fn size_in_bytes(&self, name: &str) -> Result<u64> {
        let live = self.sim.status(name, TableSlot::Live, StatusType::Info)?;
        Ok(live.last().and_then(TableLine::end).unwrap_or(0) * crate::SECTOR_SIZE)
    }

    /// The simulator inside, for what only a model can show (deferred bios).
    pub fn simulator(&mut self) -> &mut Simulator {
        &mut self.sim
    }
}

/// The Rust twin of a module stage's target.
fn twin(stage: &ModuleStage) -> Result<Arc<dyn TargetType>> {
    match stage.target {
        "hello_target" => Ok(Arc::new(HelloTarget)),
        other => Err(BackendError::Module {
            module: other.to_string(),
            reason: "the simulator has no Rust twin of this target".to_string(),
        }),
    }
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

    fn load_stage(&mut self, stage: &ModuleStage) -> Result<()> {
        self.sim
            .register_target(twin(stage)?)
            .map_err(|errno| BackendError::Module {
                module: stage.target.to_string(),
                reason: format!("dm_register_target failed: {errno}"),
            })
    }

    fn unload_stage(&mut self, stage: &ModuleStage) -> Result<()> {
        self.sim
            .unregister_target(stage.target)
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

    fn message(&mut self, name: &str, sector: u64, words: &[&str]) -> Result<String> {
        Ok(self.sim.message(name, sector, words)?)
    }

    fn write(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<()> {
        // The block device file refuses a write that starts at or past its end
        // before any bio is made (`blkdev_write_iter`), and shortens one that
        // runs over it.
        let size = self.size_in_bytes(name)?;
        if offset >= size && !data.is_empty() {
            return Err(BackendError::io(
                format!("writing at byte {offset} of /dev/mapper/{name}"),
                std::io::Error::from_raw_os_error(Errno::ENOSPC.code()),
            ));
        }
        let data = &data[..data.len().min((size - offset) as usize)];
        match self.sim.write(name, offset, data)? {
            Submission::Done(bio) => bio_result(name, &bio).map(|_| ()),
            Submission::Deferred(_) => Err(BackendError::Suspended(name.to_string())),
        }
    }

    fn read(&mut self, name: &str, offset: u64, len: u64) -> Result<Vec<u8>> {
        // Reading a block device file stops at its end: past it, `read(2)`
        // returns 0 bytes and no bio is made (`blkdev_read_iter`).
        let size = self.size_in_bytes(name)?;
        let len = len.min(size.saturating_sub(offset));
        if len == 0 {
            return Ok(Vec::new());
        }
        match self.sim.read(name, offset, len)? {
            Submission::Done(bio) => bio_result(name, &bio).map(|_| bio.data),
            Submission::Deferred(_) => Err(BackendError::Suspended(name.to_string())),
        }
    }

    fn device_path(&mut self, name: &str) -> Result<PathBuf> {
        self.sim.info(name)?;
        Ok(PathBuf::from(format!("/dev/mapper/{name}")))
    }

    fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.sim.take_trace()
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
/// from `read(2)` or `write(2)` would be.
fn bio_result(name: &str, bio: &crate::sim::bio::Bio) -> Result<()> {
    match bio.status {
        crate::sim::bio::BlkStatus::Ok => Ok(()),
        crate::sim::bio::BlkStatus::IoErr => Err(BackendError::io(
            format!(
                "{} of sectors {}+{} on /dev/mapper/{name}",
                bio.op,
                bio.sector,
                bio.sectors()
            ),
            std::io::Error::from_raw_os_error(Errno::EIO.code()),
        )),
    }
}
