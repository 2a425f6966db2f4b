//! Building tables: each line's target type found, its constructor run with
//! the core's checks, and the whole table checked against its devices.

use std::rc::Rc;

use super::{Node, Simulator};
use crate::dm::bio::DevT;
use crate::dm::target::{Clock, CtrContext, DmDev, Target, TargetInfo};
use crate::errno::Errno;
use crate::table::{Table, TableLine};

/// One line of a built table: its text, its `dm_target` fields, and what its
/// constructor built.
pub(super) struct LiveLine {
    pub(super) line: TableLine,
    /// `line.target`, shared by the trace events of every bio it maps.
    pub(super) target_name: Rc<str>,
    pub(super) info: TargetInfo,
    pub(super) target: Box<dyn Target>,
}

/// A table that passed every check: its lines with their constructed targets.
pub(super) struct BuiltTable {
    pub(super) lines: Vec<LiveLine>,
    /// Devices opened with `dm_get_device`, released when the table goes.
    pub(super) devices: Vec<DevT>,
}

impl BuiltTable {
    pub(super) fn sectors(&self) -> u64 {
        self.lines.last().map_or(0, |l| l.info.begin + l.info.len)
    }

    /// `dm_table_find_target`: the line covering `sector`. The kernel walks a
    /// btree of each line's last sector; a binary search is the same idea.
    pub(super) fn find(&self, sector: u64) -> Option<usize> {
        let index = self
            .lines
            .partition_point(|l| l.info.begin + l.info.len <= sector);
        (index < self.lines.len()).then_some(index)
    }
}

/// Why the core refused a table: the errno the ioctl returns and the lines it
/// logged.
pub(super) type Refusal = (Errno, Vec<String>);

/// What `ctr` produced for one line: the target, the `dm_target` fields it may
/// have changed, and the devices it opened.
pub(super) type LiveLineParts = (Box<dyn Target>, TargetInfo, Vec<DevT>);

impl Simulator {
    /// `dm_table_add_target` for each line, in order, with the kernel's checks
    /// and messages. On failure every line built so far is destroyed again.
    pub(super) fn build_table(
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
                        target_name: line.target.as_str().into(),
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

    pub(super) fn add_target(
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
                ..TargetInfo::default()
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
    pub(super) fn check_device_areas(
        &self,
        md_name: &str,
        table: &BuiltTable,
    ) -> Result<(), Vec<String>> {
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

    /// `dm_table_destroy`: call each line's `dtr`, then put its devices.
    pub(super) fn destroy_table(&mut self, mut table: BuiltTable) {
        for line in &mut table.lines {
            line.target.dtr();
            if let Some(users) = self.type_users.get_mut(&line.line.target) {
                *users -= 1;
            }
        }
        self.release_devices(&table.devices);
    }
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

    fn set_num_flush_bios(&mut self, n: u32) {
        self.info.num_flush_bios = n;
    }

    fn set_num_discard_bios(&mut self, n: u32) {
        self.info.num_discard_bios = n;
    }

    fn set_num_secure_erase_bios(&mut self, n: u32) {
        self.info.num_secure_erase_bios = n;
    }

    fn set_num_write_zeroes_bios(&mut self, n: u32) {
        self.info.num_write_zeroes_bios = n;
    }

    fn set_per_io_data_size(&mut self, bytes: usize) {
        self.info.per_io_data_size = bytes;
    }

    fn clock(&self) -> Clock {
        self.sim.clock.clone()
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
