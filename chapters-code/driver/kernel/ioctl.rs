//! Device-mapper requests: each one through the `devicemapper` crate, its
//! failure turned into a [`DmError`] carrying what the kernel logged.

use std::io;

use devicemapper::{DM, DevId, DmFlags, DmName, DmOptions};

use super::KernelBackend;
use crate::dm::bio::DevT;
use crate::dm::{DeviceInfo, DmError, Ioctl, TableSlot};
use crate::driver::{BackendError, Result};
use crate::errno::Errno;
use crate::table::{ParseError, Table, TableLine};

/// `DM_MAX_TYPE_NAME` in `include/uapi/linux/dm-ioctl.h`, less the closing NUL.
const MAX_TARGET_NAME: usize = 15;

impl KernelBackend {
    /// One device-mapper request: log lines from before it are set aside, and
    /// a failure carries the lines logged during it.
    pub(super) fn request<T>(
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
    pub(super) fn device_info(&mut self, name: &str) -> Result<DeviceInfo> {
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
    pub(super) fn table_status(
        &mut self,
        name: &str,
        slot: TableSlot,
        table: bool,
    ) -> Result<Vec<TableLine>> {
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
}

/// A device name as the crate takes it (at most 127 bytes, no `/`).
pub(super) fn dm_name(name: &str) -> Result<&DmName> {
    DmName::new(name).map_err(|e| {
        BackendError::io(
            format!("device name {name:?}"),
            io::Error::new(io::ErrorKind::InvalidInput, one_line(&e)),
        )
    })
}

/// The table as `(start, length, type, params)`, what `DM_TABLE_LOAD` carries.
/// Any target name goes, as long as it fits the ioctl's field.
pub(super) fn raw_targets(table: &Table) -> Result<Vec<(u64, u64, String, String)>> {
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
pub(super) fn device_info(name: &str, info: &devicemapper::DeviceInfo) -> DeviceInfo {
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
pub(super) fn with_kernel_reason(reason: String, log: &[String]) -> String {
    match log.first() {
        Some(line) => format!("{reason} (kernel log: {line})"),
        None => reason,
    }
}

/// An error's text on one line.
pub(super) fn one_line(err: &impl std::fmt::Display) -> String {
    err.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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
}
