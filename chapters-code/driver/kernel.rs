//! The running kernel as a [`Backend`] (feature `kernel`).
//!
//! Device-mapper requests go through `/dev/mapper/control` with the
//! `devicemapper` crate's ioctls; loop devices, module loading, mounts and
//! direct I/O through `nix` and `std`. Nothing here needs udev: no udev cookie
//! is waited for when udev is not running, and device nodes come from devtmpfs
//! (`/dev/dm-<minor>`) or are made by the backend.
//!
//! When the kernel refuses a request, the error carries the device-mapper lines
//! the kernel logged during the call (`/dev/kmsg`): the errno says *that* a
//! table was refused, the log says *why*.

mod direct_io;
mod ioctl;
mod kmsg;
mod loopdev;
mod module;
mod node;
mod programs;
mod remaps;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use devicemapper::{DM, DevId, DmFlags, DmOptions};

use super::{Backend, BackendError, BackendKind, BackgroundWrite, OpenOptions, Result};
use crate::dm::trace::Remap;
use crate::dm::units::{Bytes, Sectors};
use crate::dm::{DeviceInfo, Ioctl, TableSlot, TargetVersion};
use crate::manifest::Stage;
use crate::table::{Table, TableLine};
use direct_io::{BackgroundIo, FINISH, Outcome, SETTLE, open_for_write, write_context};
use ioctl::{device_info, dm_name, one_line, raw_targets, with_kernel_reason};

/// The device-mapper control node.
pub const CONTROL_PATH: &str = "/dev/mapper/control";

/// Where udev keeps its control socket; the `devicemapper` crate waits for
/// udev to confirm each resume and remove when this exists.
const UDEV_CONTROL: &str = "/run/udev/control";

/// The udev rule that confirms device-mapper events (`dmsetup udevcomplete`).
const DM_NOTIFY_RULE: &str = "95-dm-notify.rules";

/// The machine's own kernel, driven as `dmsetup`, `losetup` and `insmod` drive it.
pub struct KernelBackend {
    dm: DM,
    kmsg: kmsg::Kmsg,
    release: String,
    scratch: PathBuf,
    /// A prebuilt module to load instead of building a stage.
    module_ko: Option<PathBuf>,
    /// The kernel module loaded for each target, so `unload_stage` removes
    /// the one that `load_stage` inserted.
    loaded: HashMap<String, String>,
    /// Background writes by ticket.
    background: HashMap<u64, BackgroundIo>,
    next_ticket: u64,
    /// The `block_bio_remap` event, once a scenario asked for remaps.
    remaps: Option<remaps::RemapTrace>,
}

impl KernelBackend {
    /// Open the running kernel's device mapper with default options.
    pub fn open() -> Result<KernelBackend> {
        KernelBackend::open_with(&OpenOptions::default())
    }

    /// Open the running kernel's device mapper. Needs root and
    /// `/dev/mapper/control`.
    pub fn open_with(options: &OpenOptions) -> Result<KernelBackend> {
        if !nix::unistd::geteuid().is_root() {
            return Err(BackendError::NotRoot(format!(
                "{CONTROL_PATH}, loop devices and insmod are root's"
            )));
        }
        if !Path::new(CONTROL_PATH).exists() {
            return Err(BackendError::NoDeviceMapper(format!(
                "{CONTROL_PATH} is missing: load the core with `modprobe dm-mod`"
            )));
        }
        refuse_udev_without_dm_rules()?;
        let dm = DM::new().map_err(|e| {
            BackendError::NoDeviceMapper(format!("opening {CONTROL_PATH}: {}", one_line(&e)))
        })?;
        // Kernel objects outlive this process (a chapter's steps can run one
        // per invocation), so their backing files live in a fixed folder.
        let scratch = std::env::temp_dir().join("dm-workbook");
        make_private_dir(&scratch)
            .map_err(|e| BackendError::io(format!("preparing {}", scratch.display()), e))?;
        Ok(KernelBackend {
            dm,
            kmsg: kmsg::Kmsg::open(),
            release: module::kernel_release()
                .map_err(|e| BackendError::io("reading the kernel release", e))?,
            scratch,
            module_ko: options.module_ko.clone(),
            loaded: HashMap::new(),
            background: HashMap::new(),
            next_ticket: 1,
            remaps: None,
        })
    }

    /// Where the backend makes a node for `name` when the system has none.
    fn own_node(&self, name: &str) -> PathBuf {
        self.scratch.join("dev").join(name)
    }

    /// A device node for `name`, refusing to hand out one of a suspended
    /// device for I/O (it would block until someone resumes it).
    fn node_for_io(&mut self, name: &str) -> Result<PathBuf> {
        if self.device_info(name)?.suspended {
            return Err(BackendError::Suspended(name.to_string()));
        }
        self.device_path(name)
    }

    /// The `.ko` to insert for `stage`: the prebuilt one, or a fresh build.
    fn module_file(&mut self, stage: &Stage) -> Result<(PathBuf, Option<PathBuf>)> {
        if let Some(ko) = &self.module_ko {
            return Ok((ko.clone(), None));
        }
        let module_error = |reason: String| BackendError::Module {
            module: stage.target.to_string(),
            reason,
        };
        let sources = module::find_sources(&stage.folder()).ok_or_else(|| {
            module_error(format!(
                "no sources: {} is not in the current folder nor in {}",
                stage.dir,
                env!("CARGO_MANIFEST_DIR")
            ))
        })?;
        let work = self.scratch.join("build");
        match module::build(&sources, &work, &stage.ko) {
            Ok(ko) => Ok((ko, Some(work))),
            Err(reason) => {
                let _ = std::fs::remove_dir_all(&work);
                Err(module_error(reason))
            }
        }
    }
}

impl Backend for KernelBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Kernel
    }

    fn describe(&self) -> String {
        match self.dm.version() {
            Ok((major, minor, patch)) => format!(
                "Linux {} (device-mapper ioctl interface {major}.{minor}.{patch})",
                self.release
            ),
            Err(_) => format!("Linux {}", self.release),
        }
    }

    fn scratch_dir(&self) -> &Path {
        &self.scratch
    }

    fn attach_loop(&mut self, file: &Path) -> Result<String> {
        loopdev::attach(file).map_err(|e| {
            BackendError::io(format!("attaching {} to a loop device", file.display()), e)
        })
    }

    fn detach_loop(&mut self, device: &str) -> Result<()> {
        loopdev::detach(device).map_err(|e| BackendError::io(format!("detaching {device}"), e))
    }

    fn load_stage(&mut self, stage: &Stage) -> Result<()> {
        let (ko, build) = self.module_file(stage)?;
        let name = module::module_name(&ko);
        self.kmsg.watch(&name);
        self.kmsg.watch(&stage.target);
        self.kmsg.collect();
        let inserted = module::insert(&ko);
        // The module lives in the kernel now (or failed to); the build is spent.
        if let Some(work) = build {
            let _ = std::fs::remove_dir_all(work);
        }
        match inserted {
            Ok(()) => {
                self.loaded.insert(stage.target.to_string(), name);
                Ok(())
            }
            Err(reason) => Err(BackendError::Module {
                module: name,
                reason: with_kernel_reason(reason, &self.kmsg.collect()),
            }),
        }
    }

    fn unload_stage(&mut self, stage: &Stage) -> Result<()> {
        let name = self
            .loaded
            .get(&stage.target)
            .cloned()
            .unwrap_or_else(|| module::module_name(Path::new(&stage.ko)));
        self.kmsg.collect();
        module::remove(&name).map_err(|reason| BackendError::Module {
            module: name.clone(),
            reason: with_kernel_reason(reason, &self.kmsg.collect()),
        })?;
        self.loaded.remove(&stage.target);
        Ok(())
    }

    fn targets(&mut self) -> Result<Vec<TargetVersion>> {
        let versions = self.request(Ioctl::Versions, "", DM::list_versions)?;
        Ok(versions
            .into_iter()
            .map(|(name, major, minor, patch)| TargetVersion {
                name,
                version: [major, minor, patch],
            })
            .collect())
    }

    fn create(&mut self, name: &str) -> Result<DeviceInfo> {
        let dm_name = dm_name(name)?;
        let info = self.request(Ioctl::Create, name, |dm| {
            dm.device_create(dm_name, None, udev_private())
        })?;
        Ok(device_info(name, &info))
    }

    fn load(&mut self, name: &str, table: &Table) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        let targets = raw_targets(table)?;
        self.request(Ioctl::Reload, name, |dm| {
            dm.table_load(&id, &targets, DmOptions::default())
        })?;
        Ok(())
    }

    fn resume(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        // DM_DEV_SUSPEND without DM_SUSPEND_FLAG is resume.
        self.request(Ioctl::Resume, name, |dm| {
            dm.device_suspend(&id, udev_private())
        })?;
        Ok(())
    }

    fn suspend(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        self.request(Ioctl::Suspend, name, |dm| {
            dm.device_suspend(&id, DmOptions::default().set_flags(DmFlags::DM_SUSPEND))
        })?;
        Ok(())
    }

    fn suspend_noflush(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        let flags = DmFlags::DM_SUSPEND | DmFlags::DM_NOFLUSH;
        self.request(Ioctl::Suspend, name, |dm| {
            dm.device_suspend(&id, DmOptions::default().set_flags(flags))
        })?;
        Ok(())
    }

    fn clear(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        self.request(Ioctl::Clear, name, |dm| dm.table_clear(&id))?;
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        self.request(Ioctl::Remove, name, |dm| {
            dm.device_remove(&id, udev_private())
        })?;
        // A node we made ourselves (see `device_path`) would name a dead device.
        let _ = std::fs::remove_file(self.own_node(name));
        Ok(())
    }

    fn info(&mut self, name: &str) -> Result<DeviceInfo> {
        self.device_info(name)
    }

    fn table(&mut self, name: &str, slot: TableSlot) -> Result<Vec<TableLine>> {
        self.table_status(name, slot, true)
    }

    fn status(&mut self, name: &str, slot: TableSlot) -> Result<Vec<TableLine>> {
        self.table_status(name, slot, false)
    }

    fn message(&mut self, name: &str, sector: Sectors, words: &[&str]) -> Result<String> {
        let id = DevId::Name(dm_name(name)?);
        let text = words.join(" ");
        let (_, answer) = self.request(Ioctl::Message, name, |dm| {
            dm.target_msg(&id, Some(sector.0), &text)
        })?;
        Ok(answer.unwrap_or_default())
    }

    fn write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<()> {
        let path = self.node_for_io(name)?;
        let (file, len) = open_for_write(&path, offset, data)?;
        node::write_direct(&file, offset, &data[..len])
            .map_err(|e| BackendError::io(write_context(&path, offset), e))
    }

    fn fsync(&mut self, name: &str) -> Result<()> {
        let path = self.node_for_io(name)?;
        let file = node::open_direct(&path, false).map_err(|source| BackendError::Open {
            path: path.display().to_string(),
            source,
        })?;
        file.sync_all()
            .map_err(|e| BackendError::io(format!("fsync on {}", path.display()), e))
    }

    fn start_write(&mut self, name: &str, offset: Bytes, data: &[u8]) -> Result<BackgroundWrite> {
        let path = self.device_path(name)?;
        let (file, len) = open_for_write(&path, offset, data)?;
        let data = data[..len].to_vec();
        let (done, outcome) = mpsc::channel();
        std::thread::spawn(move || {
            // Nobody may be waiting any more; then the result has no reader.
            let _ = done.send(node::write_direct(&file, offset, &data));
        });
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.background.insert(
            ticket,
            BackgroundIo {
                name: name.to_string(),
                context: write_context(&path, offset),
                outcome: Outcome::Running(outcome),
            },
        );
        Ok(BackgroundWrite(ticket))
    }

    fn write_waiting(&mut self, write: &BackgroundWrite) -> bool {
        self.settle(write.0, SETTLE);
        matches!(
            self.background.get(&write.0),
            Some(BackgroundIo {
                outcome: Outcome::Running(_),
                ..
            })
        )
    }

    fn finish_write(&mut self, write: BackgroundWrite) -> Result<()> {
        // A write still held is left to its thread, as a shell leaves `dd &`.
        self.settle(write.0, FINISH);
        match self.background.remove(&write.0) {
            Some(BackgroundIo {
                context,
                outcome: Outcome::Ended(result),
                ..
            }) => result.map_err(|e| BackendError::io(context, e)),
            Some(running) => Err(BackendError::Suspended(running.name)),
            None => Err(BackendError::Unsupported(format!(
                "no background write {} on this backend",
                write.0
            ))),
        }
    }

    fn devices(&mut self) -> Result<Vec<String>> {
        let listed = self.request(Ioctl::Names, "", DM::list_devices)?;
        let mut names: Vec<String> = listed
            .into_iter()
            .map(|(name, _, _)| name.to_string())
            .collect();
        names.sort();
        Ok(names)
    }

    fn read(&mut self, name: &str, offset: Bytes, len: Bytes) -> Result<Vec<u8>> {
        let path = self.node_for_io(name)?;
        let context = || format!("reading at byte {offset} of {}", path.display());
        node::check_whole_sectors(offset, len).map_err(|e| BackendError::io(context(), e))?;
        let file = node::open_direct(&path, false).map_err(|source| BackendError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let size = node::size_of(&file).map_err(|e| BackendError::io(context(), e))?;
        // Reading stops at the device's end, as read(2) does.
        let len = len.min(size.saturating_sub(offset));
        let len = usize::try_from(len.0).map_err(|_| {
            BackendError::io(
                context(),
                io::Error::new(io::ErrorKind::InvalidInput, "too large for memory"),
            )
        })?;
        node::read_direct(&file, offset, len).map_err(|e| BackendError::io(context(), e))
    }

    fn device_path(&mut self, name: &str) -> Result<PathBuf> {
        let dev = self.device_info(name)?.dev;
        if let Some(path) = node::candidate_paths(name, dev)
            .into_iter()
            .find(|path| node::is_node_of(path, dev))
        {
            return Ok(path);
        }
        // No udev and no devtmpfs: a node of our own.
        let path = self.own_node(name);
        node::make_node(&path, dev).map_err(|e| {
            BackendError::io(format!("making the node {} for {dev}", path.display()), e)
        })?;
        Ok(path)
    }

    fn record_remaps(&mut self) -> Result<()> {
        match &mut self.remaps {
            Some(trace) => {
                trace
                    .take()
                    .map_err(|e| BackendError::io("reading the remap trace", e))?;
            }
            None => {
                let trace = remaps::RemapTrace::start().map_err(|reason| {
                    BackendError::Unsupported(format!(
                        "the kernel's block_bio_remap event cannot be read: {reason}"
                    ))
                })?;
                self.remaps = Some(trace);
            }
        }
        Ok(())
    }

    fn take_remaps(&mut self) -> Result<Vec<Remap>> {
        if self.remaps.is_none() {
            self.record_remaps()?;
        }
        let trace = self.remaps.as_mut().expect("started above");
        let events = trace
            .take()
            .map_err(|e| BackendError::io("reading the remap trace", e))?;
        Ok(events.iter().filter_map(remaps::named).collect())
    }

    fn kernel_log(&mut self) -> Vec<String> {
        self.kmsg.take()
    }

    fn run_on_device(&mut self, name: &str, program: &str, args: &[&str]) -> Result<String> {
        let device = self.device_path(name)?;
        programs::run(program, args, &device)
    }

    fn mount(&mut self, name: &str, dir: &Path) -> Result<()> {
        let device = self.device_path(name)?;
        programs::mount(&device, dir)
    }

    fn unmount(&mut self, dir: &Path) -> Result<()> {
        nix::mount::umount2(dir, nix::mount::MntFlags::empty())
            .map_err(|e| BackendError::io(format!("unmounting {}", dir.display()), e.into()))
    }
}

/// The options of the ioctls that send udev an event (create, resume,
/// remove): the chapters' devices are marked private, as LVM marks its
/// internal volumes. udev still names them (/dev/mapper/NAME, from
/// 55-dm.rules), but its disk rules skip them (60-persistent-storage-dm.rules
/// ends at once on DM_UDEV_DISABLE_DISK_RULES_FLAG): no blkid probe reads
/// them and no inotify watch probes them again after each write. Without
/// this, udev's reads show in the chapters' traces and kernel logs, and a
/// probe started just before a suspend blocks until the resume. Where no
/// udev runs the flags go nowhere.
fn udev_private() -> DmOptions {
    DmOptions::private()
}

/// With udev running but without device-mapper's rules, nothing ever confirms
/// a udev cookie and the `devicemapper` crate would wait forever on resume.
fn refuse_udev_without_dm_rules() -> Result<()> {
    if !Path::new(UDEV_CONTROL).exists() {
        return Ok(());
    }
    let has_rule = [
        "/usr/lib/udev/rules.d",
        "/lib/udev/rules.d",
        "/etc/udev/rules.d",
    ]
    .iter()
    .any(|dir| Path::new(dir).join(DM_NOTIFY_RULE).exists());
    if has_rule {
        Ok(())
    } else {
        Err(BackendError::Unsupported(format!(
            "udev is running but has no device-mapper rules ({DM_NOTIFY_RULE}); \
             device-mapper requests would wait for it forever: install dmsetup"
        )))
    }
}

/// A folder only root can use. It sits in the shared `/tmp`, so one that
/// someone else made (or a symlink planted there) is refused, not used.
fn make_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    let meta = std::fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "not a folder of our own (remove it and retry)",
        ));
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_folder_is_private_and_never_a_symlink() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("dm-workbook");
        make_private_dir(&dir).unwrap();
        make_private_dir(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let planted = tmp.path().join("planted");
        std::os::unix::fs::symlink(&dir, &planted).unwrap();
        assert!(make_private_dir(&planted).is_err());
    }
}
