//! Mapped devices and their life cycle: create, load, suspend, resume, clear,
//! remove, and the queries `dmsetup info`, `table`, `status` and `message` make.

use std::collections::VecDeque;
use std::rc::Rc;

use super::io::Queued;
use super::tables::{BuiltTable, LiveLine};
use super::work::Core;
use super::{DEFAULT_READ_AHEAD, DM_MAJOR, DM_NAME_LEN, Hung, Node, Simulator, WaitError};
use crate::dm::bio::{BlkStatus, DevT};
use crate::dm::target::{MessageError, StatusType};
use crate::dm::{DeviceInfo, DmError, Ioctl, TableSlot};
use crate::errno::Errno;
use crate::table::{Table, TableLine};

/// The messages the core takes itself: `@cancel_deferred_remove`
/// (`message_for_md()`, Linux 6.1 `drivers/md/dm-ioctl.c` line 1710) and
/// dm-stats' (`dm_stats_message()`, `drivers/md/dm-stats.c` lines 1216-1229).
const CORE_MESSAGES: &[&str] = &[
    "@cancel_deferred_remove",
    "@stats_create",
    "@stats_delete",
    "@stats_clear",
    "@stats_list",
    "@stats_print",
    "@stats_print_clear",
    "@stats_set_aux",
];

/// A `struct mapped_device`: its two table slots and its state.
pub(super) struct MappedDevice {
    /// Its name and `/dev/mapper/NAME`, shared by the trace and the remaps
    /// that record them.
    pub(super) name: Rc<str>,
    pub(super) path: Rc<str>,
    pub(super) minor: u32,
    pub(super) live: Option<Rc<BuiltTable>>,
    pub(super) inactive: Option<BuiltTable>,
    pub(super) suspended: bool,
    /// `DMF_NOFLUSH_SUSPENDING`: set from before `presuspend` until nothing
    /// is in flight, during a `noflush` suspend.
    pub(super) noflush_suspending: bool,
    pub(super) event_nr: u32,
    /// `md->deferred`: pieces that arrived while suspended, and pieces a
    /// target handed back during a `noflush` suspend (at the front).
    pub(super) deferred: VecDeque<Queued>,
    /// Whether the first table load has set up the queue and registered the
    /// disk (`dm_setup_md_queue`, which calls `add_disk`). Until then there is
    /// no `/dev/dm-N` and no disk to open; the first load also checks device
    /// areas at load time rather than at resume.
    pub(super) queue_set_up: bool,
}

impl Simulator {
    /// `DM_DEV_CREATE`: a new mapped device with no table. Linux 6.1 only
    /// allocates its disk here and registers it at the first table load
    /// (docs/kernel-facts.md, fact (a)): `/dev/mapper/NAME` is there (dmsetup
    /// makes the node itself without udev) but opening it finds no disk.
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
        let path = format!("/dev/mapper/{name}");
        self.mapped.insert(
            name.to_string(),
            MappedDevice {
                name: name.into(),
                path: path.as_str().into(),
                minor,
                live: None,
                inactive: None,
                suspended: false,
                noflush_suspending: false,
                event_nr: 0,
                deferred: VecDeque::new(),
                queue_set_up: false,
            },
        );
        let dev = DevT::new(DM_MAJOR, minor);
        self.nodes.insert(path, Node::Block(dev));
        self.info(name)
    }

    /// Open a block device by its path for I/O (`blkdev_get_by_dev` on the
    /// node's device number): a missing node is `ENOENT`, a mapped device
    /// whose disk is not registered yet (no table ever loaded) `ENXIO`.
    pub fn open_block(&self, path: &str) -> Result<DevT, Errno> {
        match self.nodes.get(path) {
            Some(Node::Block(dev)) => self.device_sectors(*dev).map(|_| *dev).ok_or(Errno::ENXIO),
            Some(Node::Char(_)) => Err(Errno::ENXIO),
            None => Err(Errno::ENOENT),
        }
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
        if first_bind {
            // `add_disk`: devtmpfs makes /dev/dm-N.
            self.nodes.insert(
                format!("/dev/dm-{minor}"),
                Node::Block(DevT::new(DM_MAJOR, minor)),
            );
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

    pub(super) fn open_count(&self, dev: DevT) -> u32 {
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

    /// `DM_DEV_SUSPEND` with the suspend flag (`dmsetup suspend`): hold
    /// back new I/O once what is in flight has ended (`do_suspend()`, Linux
    /// 6.1 `drivers/md/dm-ioctl.c` lines 1116-1143). A suspended device is
    /// left as it is.
    pub fn suspend(&mut self, name: &str) -> Result<(), WaitError> {
        self.suspend_with(name, false)
    }

    /// `dmsetup suspend --noflush` (`DM_NOFLUSH_FLAG`): the same, except
    /// that what a target hands back to the core waits in the device's
    /// queue for resume rather than failing.
    pub fn suspend_noflush(&mut self, name: &str) -> Result<(), WaitError> {
        self.suspend_with(name, true)
    }

    fn suspend_with(&mut self, name: &str, noflush: bool) -> Result<(), WaitError> {
        if self.device_mut(Ioctl::Suspend, name)?.suspended {
            return Ok(());
        }
        self.dm_suspend(name, noflush)
    }

    /// `dm_suspend()` (dm.c lines 2784-2823, with `__dm_suspend()`, lines
    /// 2673-2766): the noflush flag, `presuspend` on each line, new bios
    /// held back, then the wait for every io in flight, running the
    /// targets' delayed work as it falls due; then `postsuspend`. A wait
    /// that nothing can end is a [`Hung`]: the kernel's ioctl never returns.
    fn dm_suspend(&mut self, name: &str, noflush: bool) -> Result<(), WaitError> {
        let live = self.mapped[name].live.clone();
        self.mapped
            .get_mut(name)
            .expect("exists")
            .noflush_suspending = noflush;
        if let Some(table) = &live {
            for line in &table.lines {
                let info = self.info_now(name, line);
                line.target.presuspend(&info, &mut Core { sim: self });
            }
        }
        self.mapped.get_mut(name).expect("exists").suspended = true;
        if live.is_some() {
            self.wait_idle(name).map_err(|held| {
                Hung(format!(
                    "suspending {name}: {held} bio(s) in flight that nothing will end \
                     (presuspend must let go of what the target holds)"
                ))
            })?;
        }
        self.mapped
            .get_mut(name)
            .expect("exists")
            .noflush_suspending = false;
        if let Some(table) = &live {
            for line in &table.lines {
                let info = self.info_now(name, line);
                line.target.postsuspend(&info, &mut Core { sim: self });
            }
        }
        Ok(())
    }

    /// `DM_DEV_SUSPEND` without the flag (`do_resume`): take the inactive
    /// table out of its slot, suspend the device if it is running, swap the
    /// table in if its device areas fit, then resume: each line's `resume`,
    /// then the bios the device held back, in order (`dm_resume()`, dm.c
    /// lines 2825-2880).
    ///
    /// A table that does not fit is destroyed, and the device is left
    /// suspended on its old live table; the only log line is the area's
    /// (docs/kernel-facts.md, fact (b)). A second resume finds no inactive
    /// table and lets the device run on the old one.
    pub fn resume(&mut self, name: &str) -> Result<(), WaitError> {
        let minor = self.device(Ioctl::Resume, name)?.minor;
        if let Some(next) = self.mapped.get_mut(name).and_then(|md| md.inactive.take()) {
            if !self.mapped[name].suspended
                && let Err(err) = self.dm_suspend(name, false)
            {
                self.destroy_table(next);
                return Err(err);
            }
            if let Err(log) = self.check_device_areas(&Self::dm_name(minor), &next) {
                self.destroy_table(next);
                return Err(self.fail(Ioctl::Resume, name, Errno::EINVAL, log).into());
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
        let md = &self.mapped[name];
        if md.suspended
            && let Some(live) = md.live.clone()
        {
            for line in &live.lines {
                let info = self.info_now(name, line);
                line.target.resume(&info);
            }
        }
        self.mapped.get_mut(name).expect("exists").suspended = false;
        while let Some(queued) = self
            .mapped
            .get_mut(name)
            .and_then(|md| md.deferred.pop_front())
        {
            self.split_and_process(name, queued.orig, queued.piece);
        }
        Ok(())
    }

    pub(super) fn drop_live(&mut self, table: Rc<BuiltTable>) {
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
        // `__dm_destroy()` (dm.c lines 2447-2492): a device that is not
        // suspended has its targets' presuspend and postsuspend called, with
        // no wait between them.
        if !self.mapped[name].suspended
            && let Some(live) = self.mapped[name].live.clone()
        {
            for line in &live.lines {
                let info = self.info_now(name, line);
                line.target.presuspend(&info, &mut Core { sim: self });
            }
            for line in &live.lines {
                let info = self.info_now(name, line);
                line.target.postsuspend(&info, &mut Core { sim: self });
            }
        }
        // What it held back fails.
        let queued: Vec<Queued> = (self.mapped.get_mut(name).expect("exists").deferred)
            .drain(..)
            .collect();
        for queued in queued {
            self.piece_done(queued.orig, BlkStatus::IoErr);
        }
        let md = self.mapped.remove(name).expect("exists");
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
            // Read-ahead is the disk's queue's: none before the disk exists.
            read_ahead: if md.queue_set_up {
                DEFAULT_READ_AHEAD
            } else {
                0
            },
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
    /// message to the live line that covers `sector`, with the checks of
    /// `target_message()` in Linux 6.1 `drivers/md/dm-ioctl.c` (lines
    /// 1729-1810) in its order: an empty message (lines 1758-1762), a word
    /// starting with `@` for the core itself (`message_for_md()`, lines
    /// 1702-1724), no live table (1768-1773), a sector no line covers
    /// (1780-1783), a target type without `.message` (1786-1789). A target
    /// that refuses logs its own reason and its errno is the ioctl's.
    pub fn message(&mut self, name: &str, sector: u64, argv: &[&str]) -> Result<String, DmError> {
        let md = self.device(Ioctl::Message, name)?;
        let live = md.live.clone();
        let refuse = |sim: &mut Simulator, text: String| {
            let log = vec![format!("device-mapper: ioctl: {text}")];
            Err(sim.fail(Ioctl::Message, name, Errno::EINVAL, log))
        };
        let Some(first) = argv.first() else {
            return refuse(self, "Empty message received.".into());
        };
        if first.starts_with('@') {
            // `@cancel_deferred_remove` and dm-stats' `@stats_*` messages
            // are the core's; the model has neither, and says so.
            if CORE_MESSAGES.iter().any(|m| first.eq_ignore_ascii_case(m)) {
                let log = vec![format!(
                    "dm-workbook: the simulator does not model the core's {first} message"
                )];
                return Err(self.fail(Ioctl::Message, name, Errno::EINVAL, log));
            }
            return refuse(
                self,
                format!("Unsupported message sent to DM core: {first}"),
            );
        }
        let Some(table) = live else {
            return refuse(self, "The device has no table.".into());
        };
        let Some(index) = table.find(sector) else {
            return refuse(self, "Target message sector outside device.".into());
        };
        let line = &table.lines[index];
        let mut log = Vec::new();
        let answer = line.target.message(&line.info, argv, &mut log);
        match answer {
            Ok(answer) => {
                self.kmsg.extend(log);
                Ok(answer.unwrap_or_default())
            }
            Err(MessageError::NotSupported) => {
                refuse(self, "Target type does not support messages".into())
            }
            Err(MessageError::Refused(errno)) => Err(self.fail(Ioctl::Message, name, errno, log)),
        }
    }
}
