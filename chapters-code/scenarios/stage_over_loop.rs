//! What the chapters that drive one module stage over a loop device share
//! (chapters 5, 6 and 7): the disk and the module set up and taken down
//! around the chapter's steps, the target's line in `dmsetup targets`,
//! messages taken or refused, a status line read, and a failed read's or
//! write's text as `dd` prints it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chapter2::{normalise_log_line, os_errno};
use super::{Narrator, Result, ScenarioError, make_backing_file, show_status};
use crate::dm::TableSlot;
use crate::dm::units::Sectors;
use crate::driver::{Backend, BackendError, BackendKind};
use crate::errno::Errno;
use crate::manifest::Stage;

/// The backing file's name in the scratch directory.
pub const BACKING_FILE: &str = "disk.img";
/// The backing file's size: 128 MiB.
pub const BACKING_BYTES: u64 = 128 << 20;

/// A message the target refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageRefusal {
    /// The words sent.
    pub message: String,
    /// The errno the ioctl returned, by name.
    pub errno: String,
    /// The kernel's first log line about it, the device's minor made `N`.
    pub reason: String,
}

/// A backing file on a loop device and `stage`'s module loaded (`heading`
/// opens the chapter; on the simulator, `twin` names the Rust twin it
/// registers), then `steps` with the loop device's name and the backing
/// file; then the module unloaded and the loop device detached, whether the
/// steps succeeded or not.
pub(crate) fn with_stage_over_a_loop<'w, R>(
    backend: &mut dyn Backend,
    n: &mut Narrator<'w>,
    stage: &Stage,
    heading: &str,
    twin: &str,
    steps: impl FnOnce(&mut Narrator<'w>, &mut dyn Backend, &str, &Path) -> Result<R>,
) -> Result<R> {
    n.heading(heading)?;
    n.note(&format!("On {}.", backend.describe()))?;
    let file = backend.scratch_dir().join(BACKING_FILE);
    n.command(&format!("truncate -s 128M {BACKING_FILE}"))?;
    make_backing_file(&file, BACKING_BYTES)?;
    n.command(&format!("losetup --find --show {BACKING_FILE}"))?;
    let disk = backend.attach_loop(&file)?;
    n.output(&disk)?;
    n.command(&format!("insmod {}/{}", stage.folder(), stage.ko))?;
    if backend.kind() == BackendKind::Sim {
        n.note(&format!(
            "(the simulator registers the Rust twin, dm_workbook::targets::{twin})"
        ))?;
    }
    let result = match backend.load_stage(stage) {
        Ok(()) => steps(n, &mut *backend, &disk, &file),
        Err(err) => Err(err.into()),
    };
    let result = result.and_then(|report| {
        n.command(&format!("rmmod {}", stage.target))?;
        backend.unload_stage(stage)?;
        Ok(report)
    });
    if result.is_err() {
        let _ = n.kernel_log(backend);
        let _ = backend.unload_stage(stage);
    }
    n.command(&format!("losetup -d {disk}"))?;
    backend.detach_loop(&disk)?;
    let _ = std::fs::remove_file(&file);
    result
}

/// `dmsetup targets`, printed; `target`'s line in it, if it is registered.
pub(crate) fn target_line(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    target: &str,
) -> Result<Option<String>> {
    n.command("dmsetup targets")?;
    let targets = backend.targets()?;
    let listing: Vec<String> = targets.iter().map(ToString::to_string).collect();
    n.output(&listing.join("\n"))?;
    Ok(targets
        .iter()
        .find(|t| t.name == target)
        .map(ToString::to_string))
}

/// `dmsetup message NAME 0 WORDS`, which must be taken; its answer, printed.
pub(crate) fn message(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    name: &str,
    words: &[&str],
) -> Result<String> {
    n.command(&format!("dmsetup message {name} 0 {}", words.join(" ")))?;
    let answer = backend.message(name, Sectors(0), words)?;
    n.output(&answer)?;
    Ok(answer)
}

/// `dmsetup message NAME 0 WORDS`, which `target` (as the error names it)
/// must refuse: dmsetup's lines and the kernel's reason printed.
pub(crate) fn refused_message(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    name: &str,
    words: &[&str],
    target: &str,
) -> Result<MessageRefusal> {
    let text = words.join(" ");
    n.command(&format!("dmsetup message {name} 0 {text}"))?;
    let err = match backend.message(name, Sectors(0), words) {
        Ok(_) => {
            return Err(ScenarioError::Verify(format!(
                "{target} took the message `{text}`"
            )));
        }
        Err(err) => err,
    };
    let (errno, reason) = match &err {
        BackendError::Dm(dm) => {
            n.output(&dm.dmsetup_line())?;
            n.output("Command failed.")?;
            (
                format!("{:?}", dm.errno),
                dm.reason().map(normalise_log_line).unwrap_or_default(),
            )
        }
        other => return Err(ScenarioError::Verify(format!("`{text}`: {other}"))),
    };
    n.command("dmesg | tail -1")?;
    n.output(&reason)?;
    // Shown: not again at the end.
    backend.kernel_log();
    Ok(MessageRefusal {
        message: text,
        errno,
        reason,
    })
}

/// `dmsetup status NAME`, printed, and its one line read by `parse`.
pub(crate) fn read_status<T>(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    name: &str,
    parse: fn(&str) -> std::result::Result<T, String>,
) -> Result<T> {
    let lines = show_status(n, backend, name)?;
    let line = backend.status(name, TableSlot::Live)?;
    let [line] = line.as_slice() else {
        return Err(ScenarioError::Verify(format!(
            "{name} has {} status lines: {lines:?}",
            line.len()
        )));
    };
    parse(&line.params).map_err(ScenarioError::Verify)
}

/// The C library's text for the errno a read or write failed with, as `dd`
/// prints it.
pub(crate) fn describe(err: &BackendError) -> String {
    os_errno(err)
        .and_then(Errno::from_code)
        .map_or_else(|| err.to_string(), |e| e.describe().to_string())
}

/// The values of a target's status line (the words after `<start> <length>
/// TARGET`), which must be exactly `fields`, in order, as `name=value`.
pub(crate) fn status_values<'p, const N: usize>(
    params: &'p str,
    fields: [&str; N],
) -> std::result::Result<[&'p str; N], String> {
    let words: Vec<&str> = params.split(' ').collect();
    if words.len() != N {
        return Err(format!("{} words in `{params}`, expected {N}", words.len()));
    }
    let mut values = [""; N];
    for ((word, name), value) in words.iter().zip(fields).zip(&mut values) {
        *value = word
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .ok_or_else(|| format!("`{word}` where {name}=... belongs"))?;
    }
    Ok(values)
}

/// A status value that must be a number.
pub(crate) fn number(name: &str, value: &str) -> std::result::Result<u64, String> {
    value
        .parse()
        .map_err(|_| format!("{name}: `{value}` is not a number"))
}

/// [`status_values`], every one a number.
pub(crate) fn status_numbers<const N: usize>(
    params: &str,
    fields: [&str; N],
) -> std::result::Result<[u64; N], String> {
    let values = status_values(params, fields)?;
    let mut numbers = [0; N];
    for ((value, name), number_) in values.iter().zip(fields).zip(&mut numbers) {
        *number_ = number(name, value)?;
    }
    Ok(numbers)
}
