//! Where the kernel sent each bio: the `block/block_bio_remap` trace event,
//! read through tracefs.
//!
//! The device-mapper core fires this event for every clone a target remapped
//! (`dm_submit_bio_remap()`, drivers/md/dm.c line 1362 in 6.1); blktrace shows
//! the same events as its `A` lines. tracefs is the kernel's own interface to
//! them, and needs nothing installed. The event's text is one line of a fixed
//! format (`TP_printk` in include/trace/events/block.h, line 503 in 6.1), so
//! reading it here takes a few lines rather than a trace-parsing crate.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::dm::trace::Remap;

/// Where tracefs is mounted on current kernels, and where it was before 4.1.
const TRACEFS_DIRS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
/// The event's switch, under the tracefs directory or an instance's.
const EVENT_ENABLE: &str = "events/block/block_bio_remap/enable";

/// One `block_bio_remap` event as tracefs prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemapEvent {
    /// The device the bio goes to now, as `(major, minor)`.
    pub dev: (u32, u32),
    /// The operation and flags, as `blk_fill_rwbs()` writes them.
    pub rwbs: String,
    /// First sector on `dev`.
    pub sector: u64,
    /// Length in sectors.
    pub sectors: u64,
    /// The device it came from (the mapped device).
    pub old_dev: (u32, u32),
    /// Its first sector there.
    pub old_sector: u64,
}

/// Read one line of `trace_pipe`; `None` unless it is a `block_bio_remap`
/// event: `<task>-<pid> [cpu] flags time: block_bio_remap: 7,0 WS 2148 + 1 <- (254,0) 100`.
pub fn parse_event(line: &str) -> Option<RemapEvent> {
    let (_, event) = line.split_once("block_bio_remap: ")?;
    let words: Vec<&str> = event.split_whitespace().collect();
    let [dev, rwbs, sector, "+", sectors, "<-", old_dev, old_sector] = words[..] else {
        return None;
    };
    let old_dev = old_dev.strip_prefix('(')?.strip_suffix(')')?;
    Some(RemapEvent {
        dev: major_minor(dev)?,
        rwbs: rwbs.to_string(),
        sector: sector.parse().ok()?,
        sectors: sectors.parse().ok()?,
        old_dev: major_minor(old_dev)?,
        old_sector: old_sector.parse().ok()?,
    })
}

fn major_minor(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once(',')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// A tracefs instance of our own (`instances/NAME`): its own buffer, event
/// switches and PID filter, so that tracing here neither changes nor reads
/// what anyone else traces, and goes when it is dropped (Documentation/
/// trace/ftrace.rst, "Instances", line 3383 in 6.1).
pub struct RemapTrace {
    instance: PathBuf,
    /// `None` only while the trace is dropped.
    pipe: Option<File>,
    /// A line cut by the end of a read.
    partial: String,
}

impl RemapTrace {
    /// Switch the event on and start reading. Fails with the reason when the
    /// kernel has no tracefs or no such event. Every task's remaps count: a
    /// buffered write reaches the device from the kernel's writeback
    /// threads, not from the program that wrote.
    pub fn start() -> Result<RemapTrace, String> {
        let dir = tracefs_dir()?;
        let instance = dir
            .join("instances")
            .join(format!("dm-workbook-{}", std::process::id()));
        let at = |file: &str| instance.join(file);
        let write = |file: &str, value: &str| {
            fs::write(at(file), value).map_err(|e| format!("{}: {e}", at(file).display()))
        };
        if !instance.exists() {
            fs::create_dir(&instance).map_err(|e| format!("{}: {e}", instance.display()))?;
        }
        // From here on, dropping the trace removes the instance.
        let pipe_path = at("trace_pipe");
        // Non-blocking: a read of an empty pipe returns EAGAIN instead of
        // waiting for the next event.
        let pipe = OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(&pipe_path)
            .map_err(|e| format!("{}: {e}", pipe_path.display()));
        let pipe = match pipe {
            Ok(pipe) => pipe,
            Err(e) => {
                let _ = fs::remove_dir(&instance);
                return Err(e);
            }
        };
        let mut trace = RemapTrace {
            instance: instance.clone(),
            pipe: Some(pipe),
            partial: String::new(),
        };
        write(EVENT_ENABLE, "1")?;
        write("tracing_on", "1")?;
        // Whatever was recorded before now is not ours.
        trace
            .take()
            .map_err(|e| format!("reading trace_pipe: {e}"))?;
        Ok(trace)
    }

    /// The events since the last call. trace_pipe consumes what it gives, so
    /// no event is read twice.
    pub fn take(&mut self) -> io::Result<Vec<RemapEvent>> {
        let mut text = std::mem::take(&mut self.partial);
        let mut buf = [0u8; 8192];
        let Some(pipe) = self.pipe.as_mut() else {
            return Ok(Vec::new());
        };
        loop {
            match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        let complete = text.rfind('\n').map_or(0, |i| i + 1);
        self.partial = text[complete..].to_string();
        Ok(text[..complete].lines().filter_map(parse_event).collect())
    }
}

impl Drop for RemapTrace {
    fn drop(&mut self) {
        // Best effort: an instance with an event on cannot be removed, and
        // one with its pipe open is busy.
        let _ = fs::write(self.instance.join(EVENT_ENABLE), "0");
        drop(self.pipe.take());
        let _ = fs::remove_dir(&self.instance);
    }
}

/// The tracefs directory, mounting tracefs at /sys/kernel/tracing if no one has.
fn tracefs_dir() -> Result<PathBuf, String> {
    if let Some(dir) = TRACEFS_DIRS
        .iter()
        .map(Path::new)
        .find(|dir| dir.join("events").is_dir())
    {
        return Ok(dir.to_path_buf());
    }
    let dir = Path::new(TRACEFS_DIRS[0]);
    nix::mount::mount(
        Some("tracefs"),
        dir,
        Some("tracefs"),
        nix::mount::MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| {
        format!(
            "no tracefs, and mounting it at {} failed: {e}",
            dir.display()
        )
    })?;
    Ok(dir.to_path_buf())
}

/// A remap with its devices named: the mapped device by its name
/// (`/sys/dev/block/M:m/dm/name`), the device below by its path. `None` for
/// a remap that did not come from a mapped device (a partition's, say).
pub fn named(event: &RemapEvent) -> Option<Remap> {
    let device = dm_name(event.old_dev)?;
    let to = match dm_name(event.dev) {
        Some(name) => format!("/dev/mapper/{name}"),
        None => format!("/dev/{}", kernel_name(event.dev)?),
    };
    Some(Remap {
        op: Remap::op_from_rwbs(&event.rwbs, event.sectors),
        device,
        sector: event.old_sector,
        sectors: event.sectors,
        to,
        to_sector: event.sector,
    })
}

fn sysfs_dir((major, minor): (u32, u32)) -> PathBuf {
    PathBuf::from(format!("/sys/dev/block/{major}:{minor}"))
}

fn dm_name(dev: (u32, u32)) -> Option<String> {
    let name = fs::read_to_string(sysfs_dir(dev).join("dm/name")).ok()?;
    Some(name.trim().to_string())
}

/// `DEVNAME` from the device's uevent file: `loop0`.
fn kernel_name(dev: (u32, u32)) -> Option<String> {
    let uevent = fs::read_to_string(sysfs_dir(dev).join("uevent")).ok()?;
    uevent
        .lines()
        .find_map(|line| line.strip_prefix("DEVNAME="))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_event_line_as_tracefs_prints_it() {
        let line = "              dd-97      [000] .....    14.265431: block_bio_remap: 7,0 WS 2148 + 1 <- (254,0) 100";
        assert_eq!(
            parse_event(line),
            Some(RemapEvent {
                dev: (7, 0),
                rwbs: "WS".to_string(),
                sector: 2148,
                sectors: 1,
                old_dev: (254, 0),
                old_sector: 100,
            })
        );
    }

    #[test]
    fn ignores_other_lines() {
        assert_eq!(parse_event("# tracer: nop"), None);
        assert_eq!(
            parse_event("dd-97 [000] 1.0: block_bio_queue: 254,0 R 0 + 8 [dd]"),
            None
        );
        assert_eq!(parse_event("x: block_bio_remap: 7,0 WS 2148 + 1"), None);
    }
}
