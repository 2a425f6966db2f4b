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

use std::io::{self, Write};

use crate::dm::TableSlot;
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
}

impl<'w> Narrator<'w> {
    /// A narrator writing to `out`.
    pub fn new(out: &'w mut dyn Write) -> Narrator<'w> {
        Narrator { out }
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

    /// The bios' journeys the backend recorded, if it can see them.
    pub fn trace(&mut self, backend: &mut dyn Backend) -> io::Result<()> {
        for event in backend.take_trace() {
            writeln!(self.out, "  | {event}")?;
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
