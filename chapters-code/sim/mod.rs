//! A teaching model of the device-mapper core.
//!
//! [`Simulator`] plays the part of `drivers/md/dm.c`, `dm-table.c` and
//! `dm-ioctl.c`: it keeps mapped devices with their live and inactive tables,
//! builds tables line by line with the kernel's checks, calls each target's
//! callbacks, and carries bios from a mapped device down to the files that stand
//! in for block devices. Where the kernel logs a reason (`DMERR`), the model
//! appends the same words to its own [`Simulator::kmsg`], so a failure reads as
//! it would in `dmesg`.
//!
//! What it leaves out: concurrency, queue limits other than device size, request-
//! based targets, flushes and discards, and the page cache (I/O here is always
//! whole sectors, as with `O_DIRECT`).

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use crate::SECTOR_SIZE;
use crate::dm::bio::{Bio, BioOp, BlkStatus, DevT, MapResult};
use crate::dm::target::{
    CtrContext, DmDev, EndIo, MessageError, StatusType, Target, TargetInfo, TargetRegistry,
    TargetType,
};
use crate::dm::trace::TraceEvent;
use crate::dm::{DeviceInfo, DmError, Ioctl, TableSlot, TargetVersion};
use crate::errno::Errno;
use crate::table::{Table, TableLine};

/// The loop driver's major number (`LOOP_MAJOR` in `include/uapi/linux/major.h`).
pub const LOOP_MAJOR: u32 = 7;
/// The major number device-mapper gets. The kernel asks for a dynamic one, and
/// the first dynamic block major handed out is 254.
pub const DM_MAJOR: u32 = 254;
/// The read-ahead a new mapped device gets, in sectors: the block layer's
/// default of 128 KiB, as `dmsetup info` shows it on a real kernel.
pub const DEFAULT_READ_AHEAD: u32 = 256;
/// `DM_NAME_LEN` in `include/uapi/linux/dm-ioctl.h`, counting the final NUL.
pub const DM_NAME_LEN: usize = 128;
/// How often the model lets one bio be requeued before it fails it. The kernel
/// would retry for ever; a teaching model should not hang.
pub const MAX_REQUEUES: u32 = 8;

/// What sits at a path under the model's `/dev`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// A block device.
    Block(DevT),
    /// A character device, such as `/dev/null`.
    Char(DevT),
}

#[derive(Debug)]
struct LoopDevice {
    path: String,
    /// Held open for the device's life, as `LOOP_SET_FD` holds its file.
    handle: File,
    sectors: u64,
    /// Tables holding this device open.
    holders: u32,
}

struct LiveLine {
    line: TableLine,
    info: TargetInfo,
    target: Box<dyn Target>,
}

/// A table that passed every check: its lines with their constructed targets.
struct BuiltTable {
    lines: Vec<LiveLine>,
    /// Devices opened with `dm_get_device`, released when the table goes.
    devices: Vec<DevT>,
}

impl BuiltTable {
    fn sectors(&self) -> u64 {
        self.lines.last().map_or(0, |l| l.info.begin + l.info.len)
    }

    /// `dm_table_find_target`: the line covering `sector`. The kernel walks a
    /// btree of each line's last sector; a binary search is the same idea.
    fn find(&self, sector: u64) -> Option<usize> {
        let index = self
            .lines
            .partition_point(|l| l.info.begin + l.info.len <= sector);
        (index < self.lines.len()).then_some(index)
    }
}

/// Why the core refused a table: the errno the ioctl returns and the lines it
/// logged.
type Refusal = (Errno, Vec<String>);

/// What `ctr` produced for one line: the target, the `dm_target` fields it may
/// have changed, and the devices it opened.
type LiveLineParts = (Box<dyn Target>, TargetInfo, Vec<DevT>);

struct MappedDevice {
    minor: u32,
    live: Option<Rc<BuiltTable>>,
    inactive: Option<BuiltTable>,
    suspended: bool,
    event_nr: u32,
    /// Bios that arrived while suspended, with the ids they were given.
    deferred: VecDeque<(u64, Bio)>,
    /// Whether a table has ever been bound: the first load also sets up the
    /// queue, so it checks device areas at load time rather than at resume.
    queue_set_up: bool,
}

/// What became of a bio handed to [`Simulator::submit`].
#[derive(Debug, PartialEq, Eq)]
pub enum Submission {
    /// It ended; here it is, with its status (and, for a read, its data).
    Done(Bio),
    /// The device is suspended; the bio will be issued on resume and can then
    /// be collected with [`Simulator::take_completed`] under this id.
    Deferred(u64),
}

/// The model of the device-mapper core. See the [module documentation](self).
pub struct Simulator {
    /// Registered target types, newest first: `dm_register_target` adds each
    /// to the head of the kernel's list, and `dmsetup targets` walks it in order.
    registered: Vec<Arc<dyn TargetType>>,
    /// Target types that can be loaded on demand, as `request_module("dm-%s")`
    /// loads `dm-zero.ko` the first time a table names `zero`.
    modules: BTreeMap<&'static str, Arc<dyn TargetType>>,
    /// How many table lines use each target type (the module's reference count).
    type_users: BTreeMap<String, u32>,
    nodes: BTreeMap<String, Node>,
    loops: BTreeMap<u32, LoopDevice>,
    mapped: BTreeMap<String, MappedDevice>,
    kmsg: Vec<String>,
    trace: Vec<TraceEvent>,
    completed: BTreeMap<u64, Bio>,
    next_bio_id: u64,
}

impl Simulator {
    /// A core with `targets.builtin` registered, `targets.loadable` available
    /// as modules loaded on demand, and `/dev/null`. The workbook's usual core
    /// is `Simulator::new(dm_workbook::targets::standard())`.
    pub fn new(targets: TargetRegistry) -> Simulator {
        let mut sim = Simulator {
            registered: Vec::new(),
            modules: BTreeMap::new(),
            type_users: BTreeMap::new(),
            nodes: BTreeMap::new(),
            loops: BTreeMap::new(),
            mapped: BTreeMap::new(),
            kmsg: Vec::new(),
            trace: Vec::new(),
            completed: BTreeMap::new(),
            next_bio_id: 1,
        };
        for builtin in targets.builtin {
            sim.registered.insert(0, builtin);
        }
        for module in targets.loadable {
            sim.modules.insert(module.name(), module);
        }
        sim.nodes
            .insert("/dev/null".to_string(), Node::Char(DevT::new(1, 3)));
        sim
    }

    // ----- the kernel log and the trace -------------------------------------------------

    /// Everything the model logged, as `dmesg` would show it.
    pub fn kmsg(&self) -> &[String] {
        &self.kmsg
    }

    /// The trace of bios since the last call, oldest first.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        std::mem::take(&mut self.trace)
    }

    fn log(&mut self, line: String) {
        self.kmsg.push(line);
    }

    // ----- target types ------------------------------------------------------------------

    /// `dm_register_target`: make a target type usable in tables, as loading
    /// its module does. Fails with `EEXIST` if the name is taken.
    pub fn register_target(&mut self, target_type: Arc<dyn TargetType>) -> Result<(), Errno> {
        let name = target_type.name();
        if self.registered_type(name).is_some() {
            self.log(format!("device-mapper: ioctl: {name}: register failed -17"));
            return Err(Errno::EEXIST);
        }
        self.registered.insert(0, target_type);
        Ok(())
    }

    /// `dm_unregister_target`, as unloading the module does. A module whose
    /// target is still in a table is busy and cannot be unloaded.
    pub fn unregister_target(&mut self, name: &str) -> Result<(), Errno> {
        if self.type_users.get(name).copied().unwrap_or(0) > 0 {
            return Err(Errno::EBUSY);
        }
        let index = self
            .registered
            .iter()
            .position(|t| t.name() == name)
            .ok_or(Errno::ENOENT)?;
        self.registered.remove(index);
        Ok(())
    }

    /// `DM_LIST_VERSIONS`: the registered target types, newest first.
    pub fn targets(&self) -> Vec<TargetVersion> {
        self.registered
            .iter()
            .map(|t| TargetVersion {
                name: t.name().to_string(),
                version: t.version(),
            })
            .collect()
    }

    /// `dm_get_target_type`: a registered type, or one loaded on demand.
    fn get_target_type(&mut self, name: &str) -> Option<Arc<dyn TargetType>> {
        if let Some(found) = self.registered_type(name) {
            return Some(found);
        }
        let module = self.modules.get(name)?.clone();
        self.registered.insert(0, module.clone());
        Some(module)
    }

    fn registered_type(&self, name: &str) -> Option<Arc<dyn TargetType>> {
        self.registered.iter().find(|t| t.name() == name).cloned()
    }

    // ----- block devices below ------------------------------------------------------------

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
                path: path.clone(),
                handle,
                sectors: bytes / SECTOR_SIZE,
                holders: 0,
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

    /// `bdev_nr_sectors`: the size of a block device, if it exists.
    fn device_sectors(&self, dev: DevT) -> Option<u64> {
        match dev.major {
            LOOP_MAJOR => self.loops.get(&dev.minor).map(|l| l.sectors),
            DM_MAJOR => self
                .mapped
                .values()
                .find(|md| md.minor == dev.minor)
                .map(|md| md.live.as_ref().map_or(0, |t| t.sectors())),
            _ => None,
        }
    }

    // ----- mapped devices -----------------------------------------------------------------

    fn fail(&mut self, ioctl: Ioctl, device: &str, errno: Errno, log: Vec<String>) -> DmError {
        self.kmsg.extend(log.iter().cloned());
        DmError {
            ioctl,
            device: device.to_string(),
            errno,
            log,
        }
    }

    fn device_mut(&mut self, ioctl: Ioctl, name: &str) -> Result<&mut MappedDevice, DmError> {
        if !self.mapped.contains_key(name) {
            return Err(self.fail(ioctl, name, Errno::ENXIO, Vec::new()));
        }
        Ok(self.mapped.get_mut(name).expect("checked above"))
    }

    fn device(&self, ioctl: Ioctl, name: &str) -> Result<&MappedDevice, DmError> {
        self.mapped.get(name).ok_or_else(|| DmError {
            ioctl,
            device: name.to_string(),
            errno: Errno::ENXIO,
            log: Vec::new(),
        })
    }

    fn dm_name(minor: u32) -> String {
        format!("{DM_MAJOR}:{minor}")
    }

    /// `DM_DEV_CREATE`: a new mapped device with no table, `/dev/dm-N`.
    pub fn create(&mut self, name: &str) -> Result<DeviceInfo, DmError> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(self.fail(Ioctl::Create, name, Errno::EINVAL, Vec::new()));
        }
        if name.len() >= DM_NAME_LEN {
            return Err(self.fail(Ioctl::Create, name, Errno::EINVAL, Vec::new()));
        }
        if self.mapped.contains_key(name) {
            let log = vec![format!(
                "device-mapper: ioctl: Device name {name} is already in use."
            )];
            return Err(self.fail(Ioctl::Create, name, Errno::EBUSY, log));
        }
        let minor = (0..)
            .find(|m| self.mapped.values().all(|md| md.minor != *m))
            .unwrap_or(0);
        self.mapped.insert(
            name.to_string(),
            MappedDevice {
                minor,
                live: None,
                inactive: None,
                suspended: false,
                event_nr: 0,
                deferred: VecDeque::new(),
                queue_set_up: false,
            },
        );
        let dev = DevT::new(DM_MAJOR, minor);
        self.nodes
            .insert(format!("/dev/dm-{minor}"), Node::Block(dev));
        self.nodes
            .insert(format!("/dev/mapper/{name}"), Node::Block(dev));
        self.info(name)
    }

    /// `DM_TABLE_LOAD` (`dmsetup load` and `reload`): build `table` into the
    /// device's inactive slot, replacing any table already waiting there.
    pub fn load(&mut self, name: &str, table: &Table) -> Result<(), DmError> {
        let (minor, first_bind) = {
            let md = self.device_mut(Ioctl::Reload, name)?;
            (md.minor, !md.queue_set_up)
        };
        let md_name = Self::dm_name(minor);
        let built = match self.build_table(&md_name, table) {
            Ok(built) => built,
            Err((errno, log)) => return Err(self.fail(Ioctl::Reload, name, errno, log)),
        };
        // The first table a device gets also sets up its request queue, and the
        // queue limits are computed from the table's devices then and there
        // (`dm_setup_md_queue`); later tables are checked when resumed.
        if first_bind && let Err(mut log) = self.check_device_areas(&md_name, &built) {
            log.push("device-mapper: core: Cannot calculate initial queue limits".to_string());
            log.push(
                "device-mapper: ioctl: unable to set up device queue for new table.".to_string(),
            );
            self.destroy_table(built);
            return Err(self.fail(Ioctl::Reload, name, Errno::EINVAL, log));
        }
        let old = {
            let md = self.mapped.get_mut(name).expect("looked up above");
            md.queue_set_up = true;
            md.inactive.replace(built)
        };
        if let Some(old) = old {
            self.destroy_table(old);
        }
        Ok(())
    }

    /// `dm_table_add_target` for each line, in order, with the kernel's checks
    /// and messages. On failure every line built so far is destroyed again.
    fn build_table(
        &mut self,
        md_name: &str,
        table: &Table,
    ) -> Result<BuiltTable, (Errno, Vec<String>)> {
        let mut built = BuiltTable {
            lines: Vec::new(),
            devices: Vec::new(),
        };
        if table.lines.is_empty() {
            return Err((
                Errno::EINVAL,
                vec!["device-mapper: ioctl: populate_table: no targets specified".to_string()],
            ));
        }
        for line in &table.lines {
            match self.add_target(md_name, &built, line) {
                Ok((target, info, devices)) => {
                    built.devices.extend(devices);
                    *self.type_users.entry(line.target.clone()).or_default() += 1;
                    built.lines.push(LiveLine {
                        line: line.clone(),
                        info,
                        target,
                    });
                }
                Err((errno, mut log)) => {
                    // `populate_table` in dm-ioctl.c adds its own line.
                    log.push("device-mapper: ioctl: error adding target to table".to_string());
                    self.destroy_table(built);
                    return Err((errno, log));
                }
            }
        }
        Ok(built)
    }

    fn add_target(
        &mut self,
        md_name: &str,
        built: &BuiltTable,
        line: &TableLine,
    ) -> Result<LiveLineParts, Refusal> {
        let kind = &line.target;
        if line.length == 0 {
            return Err((
                Errno::EINVAL,
                vec![format!(
                    "device-mapper: table: {md_name}: zero-length target"
                )],
            ));
        }
        let Some(target_type) = self.get_target_type(kind) else {
            return Err((
                Errno::EINVAL,
                vec![format!(
                    "device-mapper: table: {md_name}: {kind}: unknown target type"
                )],
            ));
        };
        let ctr_failed = |reason: &str, errno: Errno| {
            (
                errno,
                vec![format!(
                    "device-mapper: table: {md_name}: {kind}: {reason} ({errno})"
                )],
            )
        };
        // `adjoin()`: the first line starts at 0, each next one where the last ended.
        if line.start != built.sectors() || line.end().is_none() {
            return Err(ctr_failed("Gap in table", Errno::EINVAL));
        }
        let argv: Vec<&str> = line.params.split_whitespace().collect();
        let mut ctx = Ctr {
            sim: self,
            info: TargetInfo {
                begin: line.start,
                len: line.length,
                max_io_len: 0,
            },
            error: "Unknown error",
            opened: Vec::new(),
        };
        match target_type.ctr(&mut ctx, &argv) {
            Ok(target) => {
                let opened = std::mem::take(&mut ctx.opened);
                Ok((target, ctx.info, opened))
            }
            Err(errno) => {
                let (reason, opened) = (ctx.error, std::mem::take(&mut ctx.opened));
                // A kernel ctr puts what it got before failing; so does the core here.
                self.release_devices(&opened);
                Err(ctr_failed(reason, errno))
            }
        }
    }

    /// `device_area_is_invalid` through each target's `iterate_devices`.
    fn check_device_areas(&self, md_name: &str, table: &BuiltTable) -> Result<(), Vec<String>> {
        let mut log = Vec::new();
        for line in &table.lines {
            line.target
                .iterate_devices(&line.info, &mut |dev, start, len| {
                    let dev_size = self.device_sectors(dev.dev).unwrap_or(0);
                    if dev_size == 0 {
                        return false;
                    }
                    let end = start.checked_add(len);
                    if start >= dev_size || end.is_none_or(|end| end > dev_size) {
                        log.push(format!(
                            "device-mapper: table: {md_name}: {} too small for target: \
                         start={start}, len={len}, dev_size={dev_size}",
                            self.kernel_name(dev.dev)
                        ));
                        return true;
                    }
                    false
                });
            if !log.is_empty() {
                return Err(log);
            }
        }
        Ok(())
    }

    /// The name the kernel prints for a device (`%pg`): `loop0`, `dm-1`.
    fn kernel_name(&self, dev: DevT) -> String {
        match dev.major {
            LOOP_MAJOR => format!("loop{}", dev.minor),
            DM_MAJOR => format!("dm-{}", dev.minor),
            _ => dev.to_string(),
        }
    }

    fn hold(&mut self, dev: DevT, delta: i32) {
        if dev.major == LOOP_MAJOR
            && let Some(l) = self.loops.get_mut(&dev.minor)
        {
            l.holders = l.holders.saturating_add_signed(delta);
        }
    }

    fn release_devices(&mut self, devices: &[DevT]) {
        for dev in devices {
            self.hold(*dev, -1);
        }
    }

    /// `dm_table_destroy`: call each line's `dtr`, then put its devices.
    fn destroy_table(&mut self, mut table: BuiltTable) {
        for line in &mut table.lines {
            line.target.dtr();
            if let Some(users) = self.type_users.get_mut(&line.line.target) {
                *users -= 1;
            }
        }
        self.release_devices(&table.devices);
    }

    fn open_count(&self, dev: DevT) -> u32 {
        let stacked = self
            .mapped
            .values()
            .flat_map(|md| {
                md.live
                    .iter()
                    .map(|t| &t.devices)
                    .chain(md.inactive.iter().map(|t| &t.devices))
            })
            .flatten()
            .filter(|d| **d == dev)
            .count();
        stacked as u32
    }

    /// `DM_DEV_SUSPEND` with the suspend flag: hold back new I/O.
    pub fn suspend(&mut self, name: &str) -> Result<(), DmError> {
        self.device_mut(Ioctl::Suspend, name)?.suspended = true;
        Ok(())
    }

    /// `DM_DEV_SUSPEND` without the flag: swap in the inactive table if there is
    /// one, then let I/O through, starting with what was deferred.
    pub fn resume(&mut self, name: &str) -> Result<(), DmError> {
        let minor = self.device(Ioctl::Resume, name)?.minor;
        if let Some(next) = self.mapped.get_mut(name).and_then(|md| md.inactive.take()) {
            if let Err(mut log) = self.check_device_areas(&Self::dm_name(minor), &next) {
                log.push(format!(
                    "device-mapper: ioctl: can't change device limits for {name}"
                ));
                // The table stays in the inactive slot; the device keeps its state.
                self.mapped.get_mut(name).expect("exists").inactive = Some(next);
                return Err(self.fail(Ioctl::Resume, name, Errno::EINVAL, log));
            }
            let old = self
                .mapped
                .get_mut(name)
                .expect("exists")
                .live
                .replace(Rc::new(next));
            if let Some(old) = old {
                self.drop_live(old);
            }
        }
        let deferred = {
            let md = self.mapped.get_mut(name).expect("exists");
            md.suspended = false;
            std::mem::take(&mut md.deferred)
        };
        for (id, bio) in deferred {
            let done = self.process(name, bio);
            self.completed.insert(id, done);
        }
        Ok(())
    }

    fn drop_live(&mut self, table: Rc<BuiltTable>) {
        if let Ok(table) = Rc::try_unwrap(table) {
            self.destroy_table(table);
        }
    }

    /// `DM_TABLE_CLEAR`: throw away the inactive table.
    pub fn clear(&mut self, name: &str) -> Result<(), DmError> {
        if let Some(table) = self.device_mut(Ioctl::Clear, name)?.inactive.take() {
            self.destroy_table(table);
        }
        Ok(())
    }

    /// `DM_DEV_REMOVE`: destroy the device and its tables. A device another
    /// table holds open is busy. Deferred bios fail.
    pub fn remove(&mut self, name: &str) -> Result<(), DmError> {
        let minor = self.device(Ioctl::Remove, name)?.minor;
        if self.open_count(DevT::new(DM_MAJOR, minor)) > 0 {
            let log = vec![format!(
                "device-mapper: ioctl: unable to remove open device {name}"
            )];
            return Err(self.fail(Ioctl::Remove, name, Errno::EBUSY, log));
        }
        let md = self.mapped.remove(name).expect("exists");
        for (id, mut bio) in md.deferred {
            bio.status = BlkStatus::IoErr;
            self.completed.insert(id, bio);
        }
        if let Some(live) = md.live {
            self.drop_live(live);
        }
        if let Some(inactive) = md.inactive {
            self.destroy_table(inactive);
        }
        self.nodes.remove(&format!("/dev/dm-{minor}"));
        self.nodes.remove(&format!("/dev/mapper/{name}"));
        Ok(())
    }

    /// Names of all mapped devices (`dmsetup ls`).
    pub fn devices(&self) -> Vec<String> {
        self.mapped.keys().cloned().collect()
    }

    /// `DM_DEV_STATUS` (`dmsetup info`).
    pub fn info(&self, name: &str) -> Result<DeviceInfo, DmError> {
        let md = self.device(Ioctl::Info, name)?;
        let dev = DevT::new(DM_MAJOR, md.minor);
        Ok(DeviceInfo {
            name: name.to_string(),
            dev,
            suspended: md.suspended,
            live_table: md.live.is_some(),
            inactive_table: md.inactive.is_some(),
            open_count: self.open_count(dev),
            event_nr: md.event_nr,
            target_count: md.live.as_ref().map_or(0, |t| t.lines.len() as u32),
            read_ahead: DEFAULT_READ_AHEAD,
        })
    }

    /// `DM_TABLE_STATUS`: each line of one table, its parameters rewritten by
    /// the target's `status` callback (`Table`), or its running state (`Info`).
    pub fn status(
        &self,
        name: &str,
        slot: TableSlot,
        kind: StatusType,
    ) -> Result<Vec<TableLine>, DmError> {
        let md = self.device(Ioctl::Status, name)?;
        let lines: &[LiveLine] = match slot {
            TableSlot::Live => md.live.as_ref().map_or(&[], |t| &t.lines),
            TableSlot::Inactive => md.inactive.as_ref().map_or(&[], |t| &t.lines),
        };
        Ok(lines
            .iter()
            .map(|l| {
                TableLine::new(
                    l.info.begin,
                    l.info.len,
                    &l.line.target,
                    &l.target.status(&l.info, kind),
                )
            })
            .collect())
    }

    /// `DM_TARGET_MSG` (`dmsetup message NAME SECTOR MESSAGE...`): hand a
    /// message to the live line that covers `sector`.
    pub fn message(&mut self, name: &str, sector: u64, argv: &[&str]) -> Result<String, DmError> {
        let md = self.device(Ioctl::Message, name)?;
        let live = md.live.clone();
        let refuse = |sim: &mut Simulator, text: String| {
            let log = vec![format!("device-mapper: ioctl: {text}")];
            Err(sim.fail(Ioctl::Message, name, Errno::EINVAL, log))
        };
        let Some(table) = live else {
            return refuse(
                self,
                "Target message sent to a device with no live table.".into(),
            );
        };
        if argv.is_empty() {
            return refuse(self, "Empty message received.".into());
        }
        let Some(index) = table.find(sector) else {
            return refuse(self, "Target message sector outside device.".into());
        };
        let line = &table.lines[index];
        match line.target.message(&line.info, argv) {
            Ok(answer) => Ok(answer),
            Err(MessageError::NotSupported) => {
                refuse(self, "Target type does not support messages".into())
            }
            Err(MessageError::Refused(why)) => refuse(self, why),
        }
    }

    // ----- I/O ----------------------------------------------------------------------------

    /// Hand a bio to mapped device `name` (`submit_bio` on `/dev/mapper/NAME`).
    /// The bio's `dev` and `sector` are set from `name` and `sector`.
    pub fn submit(&mut self, name: &str, mut bio: Bio) -> Result<Submission, DmError> {
        let (minor, suspended) = {
            let md = self.device(Ioctl::Info, name)?;
            (md.minor, md.suspended)
        };
        bio.dev = DevT::new(DM_MAJOR, minor);
        self.trace.push(TraceEvent::Submitted {
            device: name.to_string(),
            op: bio.op,
            sector: bio.sector,
            sectors: bio.sectors(),
        });
        if suspended {
            let id = self.next_bio_id;
            self.next_bio_id += 1;
            self.trace.push(TraceEvent::Deferred {
                device: name.to_string(),
            });
            self.mapped
                .get_mut(name)
                .expect("exists")
                .deferred
                .push_back((id, bio));
            return Ok(Submission::Deferred(id));
        }
        Ok(Submission::Done(self.process(name, bio)))
    }

    /// A deferred bio that has since ended, by the id [`Simulator::submit`] gave.
    pub fn take_completed(&mut self, id: u64) -> Option<Bio> {
        self.completed.remove(&id)
    }

    /// Read `len` bytes at byte `offset` of mapped device `name`. Both must be
    /// whole sectors.
    pub fn read(&mut self, name: &str, offset: u64, len: u64) -> Result<Submission, DmError> {
        check_alignment(name, offset, len)?;
        let bio = Bio::read(DevT::new(0, 0), offset / SECTOR_SIZE, len / SECTOR_SIZE);
        self.submit(name, bio)
    }

    /// Write `data` at byte `offset` of mapped device `name`, in whole sectors.
    pub fn write(&mut self, name: &str, offset: u64, data: &[u8]) -> Result<Submission, DmError> {
        check_alignment(name, offset, data.len() as u64)?;
        let bio = Bio::write(DevT::new(0, 0), offset / SECTOR_SIZE, data.to_vec());
        self.submit(name, bio)
    }

    /// The core's handling of one bio on a resumed device: split it at line
    /// boundaries, map each piece, send remapped pieces down, gather the result.
    fn process(&mut self, name: &str, mut bio: Bio) -> Bio {
        let table = self.mapped.get(name).and_then(|md| md.live.clone());
        let size = table.as_ref().map_or(0, |t| t.sectors());
        let end = bio.sector.checked_add(bio.sectors());
        if end.is_none_or(|end| end > size) {
            self.log(format!(
                "{}: attempt to access beyond end of device",
                self.kernel_name(bio.dev)
            ));
            bio.status = BlkStatus::IoErr;
            self.complete(name, &bio);
            return bio;
        }
        let table = table.expect("a device with sectors has a live table");
        let mut sector = bio.sector;
        let last = bio.sector + bio.sectors();
        while sector < last {
            let index = table.find(sector).expect("sector checked against size");
            let line = &table.lines[index];
            let piece_end = last.min(piece_limit(&line.info, sector));
            let from = ((sector - bio.sector) * SECTOR_SIZE) as usize;
            let to = ((piece_end - bio.sector) * SECTOR_SIZE) as usize;
            let clone = Bio {
                op: bio.op,
                dev: bio.dev,
                sector,
                data: bio.data[from..to].to_vec(),
                status: BlkStatus::Ok,
            };
            self.trace.push(TraceEvent::Clone {
                line: index,
                target: line.line.target.clone(),
                sector,
                sectors: piece_end - sector,
            });
            let clone = self.map_piece(index, line, clone);
            if clone.status != BlkStatus::Ok {
                bio.status = clone.status;
            }
            if bio.op == BioOp::Read {
                bio.data[from..to].copy_from_slice(&clone.data);
            }
            sector = piece_end;
        }
        self.complete(name, &bio);
        bio
    }

    fn complete(&mut self, name: &str, bio: &Bio) {
        self.trace.push(TraceEvent::Completed {
            device: name.to_string(),
            status: bio.status,
        });
    }

    /// `__map_bio`: call the target's `map` and act on what it returns.
    fn map_piece(&mut self, index: usize, line: &LiveLine, mut clone: Bio) -> Bio {
        for _ in 0..=MAX_REQUEUES {
            let mut attempt = clone.clone();
            let result = line.target.map(&line.info, &mut attempt);
            let to = (result == MapResult::Remapped).then_some((attempt.dev, attempt.sector));
            self.trace.push(TraceEvent::Mapped {
                line: index,
                target: line.line.target.clone(),
                result,
                to,
            });
            match result {
                MapResult::Remapped => {
                    let mut done = self.submit_below(attempt);
                    let mut status = done.status;
                    match line.target.end_io(&line.info, &done, &mut status) {
                        EndIo::Done => {
                            done.status = status;
                            return done;
                        }
                        EndIo::Requeue => continue,
                    }
                }
                MapResult::Submitted => return attempt,
                MapResult::Kill => {
                    attempt.status = BlkStatus::IoErr;
                    return attempt;
                }
                MapResult::Requeue => clone = attempt,
            }
        }
        self.log(format!(
            "dm-workbook: bio requeued more than {MAX_REQUEUES} times; failing it"
        ));
        clone.status = BlkStatus::IoErr;
        clone
    }

    /// `submit_bio_noacct` on the device a target remapped to.
    fn submit_below(&mut self, mut bio: Bio) -> Bio {
        match bio.dev.major {
            LOOP_MAJOR => {
                self.loop_io(&mut bio);
                bio
            }
            DM_MAJOR => {
                let name = self
                    .mapped
                    .iter()
                    .find(|(_, md)| md.minor == bio.dev.minor)
                    .map(|(n, _)| n.clone());
                match name {
                    Some(name) if !self.mapped[&name].suspended => self.process(&name, bio),
                    _ => {
                        bio.status = BlkStatus::IoErr;
                        bio
                    }
                }
            }
            _ => {
                bio.status = BlkStatus::IoErr;
                bio
            }
        }
    }

    fn loop_io(&mut self, bio: &mut Bio) {
        let Some(loop_dev) = self.loops.get(&bio.dev.minor) else {
            bio.status = BlkStatus::IoErr;
            return;
        };
        let end = bio.sector.checked_add(bio.sectors());
        if end.is_none_or(|end| end > loop_dev.sectors) {
            self.log(format!(
                "loop{}: attempt to access beyond end of device",
                bio.dev.minor
            ));
            bio.status = BlkStatus::IoErr;
            return;
        }
        self.trace.push(TraceEvent::Landed {
            device: loop_dev.path.clone(),
            dev: bio.dev,
            op: bio.op,
            sector: bio.sector,
            sectors: bio.sectors(),
        });
        let offset = bio.sector * SECTOR_SIZE;
        let file = &loop_dev.handle;
        let result = match bio.op {
            BioOp::Read => file.read_exact_at(&mut bio.data, offset),
            BioOp::Write => file.write_all_at(&bio.data, offset),
        };
        if result.is_err() {
            bio.status = BlkStatus::IoErr;
        }
    }
}

/// `max_io_len()` in dm.c: where the piece starting at `sector` must end at
/// the latest: the line's end, or the next multiple of `max_io_len` counted
/// from the line's start.
fn piece_limit(info: &TargetInfo, sector: u64) -> u64 {
    let line_end = info.begin + info.len;
    if info.max_io_len == 0 {
        return line_end;
    }
    let offset = info.target_offset(sector);
    let boundary = sector + (info.max_io_len - offset % info.max_io_len);
    line_end.min(boundary)
}

fn check_alignment(name: &str, offset: u64, len: u64) -> Result<(), DmError> {
    if !offset.is_multiple_of(SECTOR_SIZE) || !len.is_multiple_of(SECTOR_SIZE) {
        return Err(DmError {
            ioctl: Ioctl::Info,
            device: name.to_string(),
            errno: Errno::EINVAL,
            log: vec![format!(
                "dm-workbook: I/O at byte {offset} for {len} bytes is not in whole 512-byte sectors"
            )],
        });
    }
    Ok(())
}

/// The constructor's view of the core while one line is being built.
struct Ctr<'a> {
    sim: &'a mut Simulator,
    info: TargetInfo,
    error: &'static str,
    opened: Vec<DevT>,
}

impl CtrContext for Ctr<'_> {
    fn info(&self) -> TargetInfo {
        self.info
    }

    fn set_error(&mut self, reason: &'static str) {
        self.error = reason;
    }

    fn set_max_io_len(&mut self, len: u64) {
        self.info.max_io_len = len;
    }

    /// `dm_get_device`: `major:minor` is taken as it is; anything else is a path
    /// that must name a block device. In 6.1 a failed `lookup_bdev` falls back
    /// to `name_to_dev_t`, which finds nothing for a missing path or a character
    /// device alike, so both end as `-ENODEV`.
    fn get_device(&mut self, path: &str) -> Result<DmDev, Errno> {
        let dev = match parse_major_minor(path) {
            Some(Ok(dev)) => dev,
            Some(Err(errno)) => return Err(errno),
            None => match self.sim.nodes.get(path) {
                Some(Node::Block(dev)) => *dev,
                Some(Node::Char(_)) | None => return Err(Errno::ENODEV),
            },
        };
        let Some(sectors) = self.sim.device_sectors(dev) else {
            return Err(Errno::ENXIO);
        };
        self.sim.hold(dev, 1);
        self.opened.push(dev);
        Ok(DmDev {
            name: dev.to_string(),
            dev,
            sectors,
        })
    }
}

/// `sscanf(path, "%u:%u%c", ...) == 2`: `Some` if `path` is `major:minor`.
fn parse_major_minor(path: &str) -> Option<Result<DevT, Errno>> {
    let (major, minor) = path.split_once(':')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(major) || !digits(minor) {
        return None;
    }
    // MKDEV keeps 12 bits of major and 20 of minor; more is -EOVERFLOW.
    match (major.parse::<u32>(), minor.parse::<u32>()) {
        (Ok(major), Ok(minor)) if major < (1 << 12) && minor < (1 << 20) => {
            Some(Ok(DevT::new(major, minor)))
        }
        _ => Some(Err(Errno::EOVERFLOW)),
    }
}
