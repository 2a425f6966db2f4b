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

mod kmsg;
mod loopdev;
mod module;
mod node;

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use devicemapper::{DM, DevId, DmFlags, DmName, DmOptions};

use super::{
    Backend, BackendError, BackendKind, BackgroundWrite, ModuleStage, OpenOptions, Result,
};
use crate::dm::bio::DevT;
use crate::dm::units::{Bytes, Sectors};
use crate::dm::{DeviceInfo, DmError, Ioctl, TableSlot, TargetVersion};
use crate::errno::Errno;
use crate::table::{ParseError, Table, TableLine};

/// The device-mapper control node.
pub const CONTROL_PATH: &str = "/dev/mapper/control";

/// `DM_MAX_TYPE_NAME` in `include/uapi/linux/dm-ioctl.h`, less the closing NUL.
const MAX_TARGET_NAME: usize = 15;

/// Where udev keeps its control socket; the `devicemapper` crate waits for
/// udev to confirm each resume and remove when this exists.
const UDEV_CONTROL: &str = "/run/udev/control";

/// The udev rule that confirms device-mapper events (`dmsetup udevcomplete`).
const DM_NOTIFY_RULE: &str = "95-dm-notify.rules";

/// Folders searched for programs besides `$PATH` (a user's `$PATH` often lacks
/// the `sbin` ones, where `mkfs.ext4` lives).
const SBIN_DIRS: [&str; 4] = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/bin"];

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
}

/// A write running on a thread of its own, as `dd ... &` runs: on a suspended
/// device it blocks in the kernel until `resume`.
struct BackgroundIo {
    name: String,
    /// What was being done, for the error.
    context: String,
    outcome: Outcome,
}

enum Outcome {
    Running(mpsc::Receiver<io::Result<()>>),
    Ended(io::Result<()>),
}

/// How long a background write gets to end before it counts as held: a
/// direct write to a device that is not suspended is done well within it.
const SETTLE: Duration = Duration::from_millis(500);
/// How long [`Backend::finish_write`] waits for a write that a resume let go.
const FINISH: Duration = Duration::from_secs(10);

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
        })
    }

    /// One device-mapper request: log lines from before it are set aside, and
    /// a failure carries the lines logged during it.
    fn request<T>(
        &mut self,
        ioctl: Ioctl,
        device: &str,
        call: impl FnOnce(&DM) -> devicemapper::DmResult<T>,
    ) -> Result<T> {
        self.kmsg.collect();
        call(&self.dm).map_err(|err| {
            let log = self.kmsg.collect();
            dm_failure(ioctl, device, &err, log)
        })
    }

    /// The info of `name` with the size of its live table counted.
    fn device_info(&mut self, name: &str) -> Result<DeviceInfo> {
        let dm_name = dm_name(name)?;
        let id = DevId::Name(dm_name);
        let info = self.request(Ioctl::Info, name, |dm| dm.device_info(&id))?;
        let mut device = device_info(name, &info);
        if device.live_table {
            // The crate keeps the header's target count to itself; the
            // status of the live table has one entry per target.
            let (_, lines) = self.request(Ioctl::Status, name, |dm| {
                dm.table_status(&id, DmOptions::default())
            })?;
            device.target_count = lines.len() as u32;
        }
        Ok(device)
    }

    /// `dmsetup table` or `dmsetup status`, live or inactive.
    fn table_status(&mut self, name: &str, slot: TableSlot, table: bool) -> Result<Vec<TableLine>> {
        let id = DevId::Name(dm_name(name)?);
        let mut flags = DmFlags::empty();
        if table {
            flags |= DmFlags::DM_STATUS_TABLE;
        }
        if slot == TableSlot::Inactive {
            flags |= DmFlags::DM_QUERY_INACTIVE_TABLE;
        }
        let (_, lines) = self.request(Ioctl::Status, name, |dm| {
            dm.table_status(&id, DmOptions::default().set_flags(flags))
        })?;
        Ok(lines
            .into_iter()
            .map(|(start, length, target, params)| TableLine::new(start, length, &target, &params))
            .collect())
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

    /// Give a running background write up to `wait` to end.
    fn settle(&mut self, ticket: u64, wait: Duration) {
        let Some(io) = self.background.get_mut(&ticket) else {
            return;
        };
        if let Outcome::Running(done) = &io.outcome {
            match done.recv_timeout(wait) {
                Ok(result) => io.outcome = Outcome::Ended(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    io.outcome = Outcome::Ended(Err(io::Error::other("the writing thread died")));
                }
            }
        }
    }

    /// The `.ko` to insert for `stage`: the prebuilt one, or a fresh build.
    fn module_file(&mut self, stage: &ModuleStage) -> Result<(PathBuf, Option<PathBuf>)> {
        if let Some(ko) = &self.module_ko {
            return Ok((ko.clone(), None));
        }
        let module_error = |reason: String| BackendError::Module {
            module: stage.target.to_string(),
            reason,
        };
        let sources = module::find_sources(stage.dir).ok_or_else(|| {
            module_error(format!(
                "no sources: {} is not in the current folder nor in {}",
                stage.dir,
                env!("CARGO_MANIFEST_DIR")
            ))
        })?;
        let work = self.scratch.join("build");
        match module::build(&sources, &work, stage.ko) {
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

    fn load_stage(&mut self, stage: &ModuleStage) -> Result<()> {
        let (ko, build) = self.module_file(stage)?;
        let name = module::module_name(&ko);
        self.kmsg.watch(&name);
        self.kmsg.watch(stage.target);
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

    fn unload_stage(&mut self, stage: &ModuleStage) -> Result<()> {
        let name = self
            .loaded
            .get(stage.target)
            .cloned()
            .unwrap_or_else(|| module::module_name(Path::new(stage.ko)));
        self.kmsg.collect();
        module::remove(&name).map_err(|reason| BackendError::Module {
            module: name.clone(),
            reason: with_kernel_reason(reason, &self.kmsg.collect()),
        })?;
        self.loaded.remove(stage.target);
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
            dm.device_create(dm_name, None, DmOptions::default())
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
            dm.device_suspend(&id, DmOptions::default())
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

    fn clear(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        self.request(Ioctl::Clear, name, |dm| dm.table_clear(&id))?;
        Ok(())
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        let id = DevId::Name(dm_name(name)?);
        self.request(Ioctl::Remove, name, |dm| {
            dm.device_remove(&id, DmOptions::default())
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
        let file = node::open_direct(&path, false).map_err(|e| BackendError::io(context(), e))?;
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

    fn kernel_log(&mut self) -> Vec<String> {
        self.kmsg.take()
    }

    fn run_on_device(&mut self, name: &str, program: &str, args: &[&str]) -> Result<String> {
        let device = self.device_path(name)?;
        let command_line = format!("{program} {} {}", args.join(" "), device.display());
        let (executable, extra_args) = find_program(program).ok_or_else(|| {
            BackendError::io(
                format!("running {command_line}"),
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "`{program}` is not installed (searched $PATH and {}){}",
                        SBIN_DIRS.join(", "),
                        install_hint(program)
                    ),
                ),
            )
        })?;
        let output = Command::new(&executable)
            .args(&extra_args)
            .args(args)
            .arg(&device)
            .output()
            .map_err(|e| BackendError::io(format!("running {}", executable.display()), e))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            return Err(BackendError::io(
                format!("{command_line} failed ({})", output.status),
                io::Error::other(last.unwrap_or("no output").trim().to_string()),
            ));
        }
        Ok(text.trim_end().to_string())
    }

    fn mount(&mut self, name: &str, dir: &Path) -> Result<()> {
        let device = self.device_path(name)?;
        let context = || format!("mounting {} on {}", device.display(), dir.display());
        let types = block_filesystems().map_err(|e| BackendError::io(context(), e))?;
        let types = try_order(types, has_ext_magic(&device));
        // mount(2) needs a type; like mount(8) without -t, try each one the
        // kernel knows until one recognises the device.
        let mut last = io::Error::new(
            io::ErrorKind::NotFound,
            "the kernel lists no block file systems in /proc/filesystems",
        );
        for fstype in &types {
            match nix::mount::mount(
                Some(&device),
                dir,
                Some(fstype.as_str()),
                nix::mount::MsFlags::empty(),
                None::<&str>,
            ) {
                Ok(()) => return Ok(()),
                // Not this type's superblock: try the next.
                Err(nix::errno::Errno::EINVAL) => {
                    last = io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("no file system found (tried {})", types.join(", ")),
                    );
                }
                Err(other) => return Err(BackendError::io(context(), other.into())),
            }
        }
        Err(BackendError::io(context(), last))
    }

    fn unmount(&mut self, dir: &Path) -> Result<()> {
        nix::mount::umount2(dir, nix::mount::MntFlags::empty())
            .map_err(|e| BackendError::io(format!("unmounting {}", dir.display()), e.into()))
    }
}

/// With udev running but without device-mapper's rules, nothing ever confirms
/// a udev cookie and the `devicemapper` crate would wait forever on resume.
/// What a failed write at `offset` of `path` was doing.
fn write_context(path: &Path, offset: Bytes) -> String {
    format!("writing at byte {offset} of {}", path.display())
}

/// Open `path` for a direct write of `data` at `offset` and say how much of it
/// goes, as a block device file takes a write: none starts at or past the
/// end, and one that runs over it is cut short.
fn open_for_write(path: &Path, offset: Bytes, data: &[u8]) -> Result<(File, usize)> {
    let fail = |e| BackendError::io(write_context(path, offset), e);
    node::check_whole_sectors(offset, Bytes::of(data)).map_err(fail)?;
    let file = node::open_direct(path, true).map_err(fail)?;
    let size = node::size_of(&file).map_err(fail)?;
    if offset >= size && !data.is_empty() {
        return Err(fail(io::Error::from_raw_os_error(Errno::ENOSPC.code())));
    }
    Ok((file, data.len().min((size - offset).0 as usize)))
}

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

/// A device name as the crate takes it (at most 127 bytes, no `/`).
fn dm_name(name: &str) -> Result<&DmName> {
    DmName::new(name).map_err(|e| {
        BackendError::io(
            format!("device name {name:?}"),
            io::Error::new(io::ErrorKind::InvalidInput, one_line(&e)),
        )
    })
}

/// The table as `(start, length, type, params)`, what `DM_TABLE_LOAD` carries.
/// Any target name goes, as long as it fits the ioctl's field.
fn raw_targets(table: &Table) -> Result<Vec<(u64, u64, String, String)>> {
    table
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            if line.target.len() > MAX_TARGET_NAME {
                return Err(BackendError::Table(ParseError {
                    line: index + 1,
                    reason: format!(
                        "target type `{}` is longer than the kernel's {MAX_TARGET_NAME} characters",
                        line.target
                    ),
                }));
            }
            Ok((
                line.start,
                line.length,
                line.target.clone(),
                line.params.clone(),
            ))
        })
        .collect()
}

/// Our view of the crate's device info.
fn device_info(name: &str, info: &devicemapper::DeviceInfo) -> DeviceInfo {
    let flags = info.flags();
    let dev = info.device();
    DeviceInfo {
        name: name.to_string(),
        dev: DevT::new(dev.major, dev.minor),
        suspended: flags.contains(DmFlags::DM_SUSPEND),
        live_table: flags.contains(DmFlags::DM_ACTIVE_PRESENT),
        inactive_table: flags.contains(DmFlags::DM_INACTIVE_PRESENT),
        open_count: u32::try_from(info.open_count()).unwrap_or(0),
        event_nr: info.event_nr(),
        target_count: 0,
        read_ahead: read_ahead_sectors(dev.minor),
    }
}

/// What `dmsetup info` shows as Read Ahead: the queue's read-ahead, which
/// sysfs gives in KiB. 0 if sysfs is not mounted.
fn read_ahead_sectors(minor: u32) -> u32 {
    std::fs::read_to_string(format!("/sys/block/dm-{minor}/queue/read_ahead_kb"))
        .ok()
        .and_then(|kb| kb.trim().parse::<u32>().ok())
        .map_or(0, |kb| kb * 2)
}

/// The errno of a failed ioctl, if the crate's error is one.
fn ioctl_errno(err: &devicemapper::DmError) -> Option<i32> {
    match err {
        devicemapper::DmError::Core(devicemapper::errors::Error::Ioctl(_, _, _, errno)) => {
            Some(**errno as i32)
        }
        _ => None,
    }
}

/// A failed request in our terms: a [`DmError`] with the kernel's reason when
/// the kernel refused it, an I/O error otherwise.
fn dm_failure(
    ioctl: Ioctl,
    device: &str,
    err: &devicemapper::DmError,
    log: Vec<String>,
) -> BackendError {
    let code = ioctl_errno(err);
    if let Some(errno) = code.and_then(Errno::from_code) {
        return BackendError::Dm(DmError {
            ioctl,
            device: device.to_string(),
            errno,
            log,
        });
    }
    // An errno the workbook's table does not name, or a failure before the
    // ioctl: keep the system's text and the kernel's reason.
    let source = match code {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::other(one_line(err)),
    };
    let context = match log.first() {
        Some(reason) => format!("{ioctl} ioctl on {device} (kernel log: {reason})"),
        None => format!("{ioctl} ioctl on {device}"),
    };
    BackendError::io(context, source)
}

/// The first kernel log line, when there is one, after our reason.
fn with_kernel_reason(reason: String, log: &[String]) -> String {
    match log.first() {
        Some(line) => format!("{reason} (kernel log: {line})"),
        None => reason,
    }
}

/// An error's text on one line.
fn one_line(err: &impl std::fmt::Display) -> String {
    err.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The block file systems the kernel knows, in its order (`/proc/filesystems`
/// lines without `nodev`).
fn block_filesystems() -> io::Result<Vec<String>> {
    Ok(parse_filesystems(&std::fs::read_to_string(
        "/proc/filesystems",
    )?))
}

/// The ext2/3/4 superblock's magic number, `s_magic` at byte 56 of the
/// superblock, which starts at byte 1024.
const EXT_MAGIC: u16 = 0xEF53;
const EXT_MAGIC_OFFSET: u64 = 1024 + 56;

/// Whether the device holds an ext2/3/4 file system.
fn has_ext_magic(device: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    let mut magic = [0u8; 2];
    std::fs::File::open(device)
        .and_then(|file| file.read_exact_at(&mut magic, EXT_MAGIC_OFFSET))
        .is_ok_and(|()| u16::from_le_bytes(magic) == EXT_MAGIC)
}

/// The order to try file system types in: on an ext file system the ext4
/// driver first (it mounts all three; trying `ext3` and `ext2` first only
/// fills the log with "couldn't mount as ext3").
fn try_order(mut types: Vec<String>, ext: bool) -> Vec<String> {
    if ext && let Some(at) = types.iter().position(|t| t == "ext4") {
        let ext4 = types.remove(at);
        types.insert(0, ext4);
    }
    types
}

fn parse_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with("nodev"))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// The executable for `program`, and arguments it needs in front. A
/// `mkfs.ext4` that is not installed under that name is `mke2fs -t ext4`
/// (e2fsprogs installs one as a link to the other; small systems may ship
/// only `mke2fs`).
fn find_program(program: &str) -> Option<(PathBuf, Vec<String>)> {
    if let Some(path) = lookup(program) {
        return Some((path, Vec::new()));
    }
    let fstype = program.strip_prefix("mkfs.")?;
    if !matches!(fstype, "ext2" | "ext3" | "ext4") {
        return None;
    }
    let mke2fs = lookup("mke2fs")?;
    Some((mke2fs, vec!["-t".to_string(), fstype.to_string()]))
}

/// A program by path, or by name in `$PATH` and the `sbin` folders. Busybox's
/// applets are skipped: its `mke2fs` knows no `-t`, and its tools differ from
/// the ones the book shows.
fn lookup(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_real_program(candidate))
}

fn is_real_program(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(target) = std::fs::canonicalize(path) else {
        return false;
    };
    let executable = std::fs::metadata(&target)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0);
    executable && target.file_name().is_none_or(|name| name != "busybox")
}

/// Which package brings a program the chapters run.
fn install_hint(program: &str) -> &'static str {
    if program.starts_with("mkfs.ext") || program == "mke2fs" {
        ": apt-get install e2fsprogs"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ioctl_error(errno: nix::errno::Errno) -> devicemapper::DmError {
        devicemapper::DmError::Core(devicemapper::errors::Error::Ioctl(
            9,
            None,
            None,
            Box::new(errno),
        ))
    }

    #[test]
    fn a_refused_table_carries_the_kernels_reason() {
        let log = vec![
            "device-mapper: table: 254:0: hello_target: Invalid device sector (-EINVAL)"
                .to_string(),
            "device-mapper: ioctl: error adding target to table".to_string(),
        ];
        let err = dm_failure(
            Ioctl::Reload,
            "my_device_mapper",
            &ioctl_error(nix::errno::Errno::EINVAL),
            log.clone(),
        );
        let BackendError::Dm(dm) = &err else {
            panic!("not a DmError: {err}");
        };
        assert_eq!(dm.errno, Errno::EINVAL);
        assert_eq!(dm.log, log);
        assert_eq!(
            err.to_string(),
            "reload ioctl on my_device_mapper failed: Invalid argument (kernel log: \
             device-mapper: table: 254:0: hello_target: Invalid device sector (-EINVAL))"
        );
    }

    #[test]
    fn an_errno_outside_the_workbooks_table_keeps_its_text() {
        let err = dm_failure(
            Ioctl::Create,
            "x",
            &ioctl_error(nix::errno::Errno::EACCES),
            vec![],
        );
        assert!(matches!(err, BackendError::Io { .. }));
        assert_eq!(
            err.to_string(),
            "create ioctl on x: Permission denied (os error 13)"
        );
    }

    #[test]
    fn a_failure_before_the_ioctl_is_an_io_error_on_one_line() {
        let err = dm_failure(
            Ioctl::Status,
            "x",
            &devicemapper::DmError::Core(devicemapper::errors::Error::GeneralIo(
                "two\nlines".to_string(),
            )),
            vec!["device-mapper: something".to_string()],
        );
        let text = err.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.starts_with("status ioctl on x (kernel log: device-mapper: something)"));
    }

    #[test]
    fn tables_go_out_as_raw_tuples_for_any_target_name() {
        let table = Table::parse("0 8 my_learner_tgt /dev/loop0 0\n8 8 zero").unwrap();
        assert_eq!(
            raw_targets(&table).unwrap(),
            vec![
                (
                    0,
                    8,
                    "my_learner_tgt".to_string(),
                    "/dev/loop0 0".to_string()
                ),
                (8, 8, "zero".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn a_target_name_too_long_for_the_ioctl_is_refused_not_cut() {
        let table = Table::parse("0 8 zero\n8 8 a_very_long_target_name").unwrap();
        let err = raw_targets(&table).unwrap_err();
        assert!(matches!(
            err,
            BackendError::Table(ParseError { line: 2, .. })
        ));
        let longest = Table::parse(&format!("0 8 {}", "t".repeat(MAX_TARGET_NAME))).unwrap();
        assert!(raw_targets(&longest).is_ok());
    }

    #[test]
    fn bad_device_names_are_refused_before_any_ioctl() {
        assert!(dm_name("my_device_mapper").is_ok());
        assert!(dm_name("").is_err());
        assert!(dm_name(&"x".repeat(200)).is_err());
    }

    #[test]
    fn module_errors_add_the_first_kernel_line() {
        assert_eq!(
            with_kernel_reason(
                "insmod x.ko: Invalid module format".to_string(),
                &["hello_target: disagrees about version of symbol module_layout".to_string()]
            ),
            "insmod x.ko: Invalid module format (kernel log: hello_target: disagrees about \
             version of symbol module_layout)"
        );
        assert_eq!(with_kernel_reason("r".to_string(), &[]), "r");
    }

    #[test]
    fn block_file_systems_skip_nodev_ones() {
        let text = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text2\n\text4\nnodev\tproc\n";
        assert_eq!(parse_filesystems(text), ["ext3", "ext2", "ext4"]);
    }

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

    #[test]
    fn ext_file_systems_try_ext4_first() {
        let types = || vec!["ext3".to_string(), "ext2".to_string(), "ext4".to_string()];
        assert_eq!(try_order(types(), true), ["ext4", "ext3", "ext2"]);
        assert_eq!(try_order(types(), false), ["ext3", "ext2", "ext4"]);
        assert_eq!(try_order(vec!["vfat".to_string()], true), ["vfat"]);
    }

    #[test]
    fn the_ext_magic_is_read_from_the_superblock() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut image = vec![0u8; 2048];
        assert!(!has_ext_magic(file.path()));
        image[1080..1082].copy_from_slice(&EXT_MAGIC.to_le_bytes());
        std::fs::write(file.path(), &image).unwrap();
        assert!(has_ext_magic(file.path()));
        assert!(!has_ext_magic(Path::new("/nonexistent/dm-0")));
    }

    #[test]
    fn programs_are_found_by_path_and_missing_ones_say_so() {
        assert_eq!(
            find_program("/opt/x/mkfs.thing").map(|(p, a)| (p, a.len())),
            Some((PathBuf::from("/opt/x/mkfs.thing"), 0))
        );
        assert!(find_program("surely-no-such-program-dmw").is_none());
        assert!(find_program("mkfs.no-such-fs-dmw").is_none());
        assert!(install_hint("mkfs.ext4").contains("e2fsprogs"));
    }
}
