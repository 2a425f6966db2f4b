//! Each chapter's steps, written once and run on any [`crate::driver::Backend`].
//!
//! A scenario prints what it does as the shell commands a reader would type
//! (`$ dmsetup create ...`), then what came back, so running a chapter teaches
//! `dmsetup` and `losetup` on the way. On the simulator it also prints each
//! bio's journey through the core.

pub mod chapter1;
pub mod chapter2;
pub mod chapter3;
pub mod chapter5;
pub mod chapter6;
pub mod chapter7;
mod stage_over_loop;

use std::io::{self, Write};

use crate::dm::TableSlot;
use crate::dm::trace::Remap;
use crate::driver::{Backend, BackendError};
use crate::table::Table;

/// Why a scenario stopped.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The backend refused or failed a step.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The scenario was asked for something it cannot do, such as I/O past
    /// the device's end.
    #[error("{0}")]
    Usage(String),
    /// Data did not come back as written, or landed in the wrong place.
    #[error("verification failed: {0}")]
    Verify(String),
    /// The scenario's own output could not be written.
    #[error("writing the scenario's output: {0}")]
    Output(#[from] io::Error),
}

/// Shorthand for a scenario step's result.
pub type Result<T, E = ScenarioError> = std::result::Result<T, E>;

/// Prints a scenario for the reader: headings, commands, their output, notes.
pub struct Narrator<'w> {
    out: &'w mut dyn Write,
    /// Whether the reader was told that the backend cannot see remaps.
    said_no_remaps: bool,
}

impl<'w> Narrator<'w> {
    /// A narrator writing to `out`.
    pub fn new(out: &'w mut dyn Write) -> Narrator<'w> {
        Narrator {
            out,
            said_no_remaps: false,
        }
    }

    /// A section heading: `== title ==`.
    pub fn heading(&mut self, title: &str) -> io::Result<()> {
        writeln!(self.out, "\n== {title} ==")
    }

    /// The shell command this step stands for: `$ command`.
    pub fn command(&mut self, command: &str) -> io::Result<()> {
        writeln!(self.out, "$ {command}")
    }

    /// What the command printed, line by line.
    pub fn output(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            writeln!(self.out, "{line}")?;
        }
        Ok(())
    }

    /// An explanation, written as a shell comment so a transcript stays a
    /// transcript: `# text`.
    pub fn note(&mut self, text: &str) -> io::Result<()> {
        for line in text.lines() {
            writeln!(self.out, "# {line}")?;
        }
        Ok(())
    }

    /// Start recording remaps before the I/O a report will describe. A
    /// backend that cannot see them is said once, and is not an error.
    pub fn record_remaps(&mut self, backend: &mut dyn Backend) -> Result<()> {
        match backend.record_remaps() {
            Err(BackendError::Unsupported(reason)) => self.no_remaps(&reason),
            other => Ok(other?),
        }
    }

    /// The bios' journeys the backend recorded (the simulator can show
    /// them), and the remaps since the last look, returned for the report.
    /// A backend with no journey to show (a kernel) prints the remaps
    /// instead, one per `block_bio_remap` event. `None` when the backend
    /// cannot see remaps.
    pub fn trace(&mut self, backend: &mut dyn Backend) -> Result<Option<Vec<Remap>>> {
        let journey = backend.take_trace();
        for event in &journey {
            writeln!(self.out, "  | {event}")?;
        }
        match backend.take_remaps() {
            Ok(remaps) => {
                if journey.is_empty() {
                    for remap in &remaps {
                        writeln!(self.out, "  | block_bio_remap: {remap}")?;
                    }
                }
                Ok(Some(remaps))
            }
            Err(BackendError::Unsupported(reason)) => {
                self.no_remaps(&reason)?;
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    fn no_remaps(&mut self, reason: &str) -> Result<()> {
        if !self.said_no_remaps {
            self.said_no_remaps = true;
            self.note(reason)?;
        }
        Ok(())
    }

    /// Kernel log lines the backend saw since the last look, as `dmesg` shows them.
    pub fn kernel_log(&mut self, backend: &mut dyn Backend) -> io::Result<()> {
        let lines = backend.kernel_log();
        if !lines.is_empty() {
            self.command("dmesg | tail")?;
            for line in lines {
                writeln!(self.out, "{line}")?;
            }
        }
        Ok(())
    }
}

/// Remaps seen in two looks, as one list; `None` if either could not look.
pub(crate) fn join_remaps(
    first: Option<Vec<Remap>>,
    then: Option<Vec<Remap>>,
) -> Option<Vec<Remap>> {
    first.zip(then).map(|(mut both, then)| {
        both.extend(then);
        both
    })
}

/// `dmsetup table [--inactive] NAME`, printed and returned as text lines.
pub fn show_table(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    name: &str,
    slot: TableSlot,
) -> Result<Vec<String>> {
    let flag = if slot == TableSlot::Inactive {
        "--inactive "
    } else {
        ""
    };
    n.command(&format!("dmsetup table {flag}{name}"))?;
    let lines: Vec<String> = backend
        .table(name, slot)?
        .iter()
        .map(ToString::to_string)
        .collect();
    n.output(&lines.join("\n"))?;
    Ok(lines)
}

/// `dmsetup status NAME`, printed and returned as text lines.
pub fn show_status(
    n: &mut Narrator<'_>,
    backend: &mut dyn Backend,
    name: &str,
) -> Result<Vec<String>> {
    n.command(&format!("dmsetup status {name}"))?;
    let lines: Vec<String> = backend
        .status(name, TableSlot::Live)?
        .iter()
        .map(ToString::to_string)
        .collect();
    n.output(&lines.join("\n"))?;
    Ok(lines)
}

/// `dmsetup info NAME`, printed.
pub fn show_info(n: &mut Narrator<'_>, backend: &mut dyn Backend, name: &str) -> Result<()> {
    n.command(&format!("dmsetup info {name}"))?;
    let info = backend.info(name)?;
    n.output(&info.to_string())?;
    Ok(())
}

/// How a table is given to `dmsetup` on the command line.
pub fn table_argument(table: &Table) -> String {
    let text = table.to_string();
    let lines: Vec<&str> = text.lines().collect();
    if lines.len() == 1 {
        format!("--table '{}'", lines[0])
    } else {
        format!("<<'EOF'\n{}\nEOF", lines.join("\n"))
    }
}

/// Make a sparse file of `bytes` bytes, as `truncate -s` does.
pub fn make_backing_file(path: &std::path::Path, bytes: u64) -> Result<()> {
    let file = std::fs::File::create(path)
        .map_err(|e| BackendError::io(format!("creating {}", path.display()), e))?;
    file.set_len(bytes)
        .map_err(|e| BackendError::io(format!("sizing {}", path.display()), e))?;
    Ok(())
}

/// Read `len` bytes at `offset` of a plain file (a loop device's backing file).
pub fn read_file_at(path: &std::path::Path, offset: u64, len: usize) -> Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path)
        .map_err(|e| BackendError::io(format!("opening {}", path.display()), e))?;
    let mut buf = vec![0; len];
    file.read_exact_at(&mut buf, offset)
        .map_err(|e| BackendError::io(format!("reading {}", path.display()), e))?;
    Ok(buf)
}
