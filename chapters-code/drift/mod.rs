//! Kernel API drift: how the device-mapper target API (and the block-layer API a
//! target touches) moved between the 2.6.3x kernels and 7.x, and a doctor that
//! finds those changes in a target's C source.
//!
//! One data file, `module/drift.toml`, is the source for the chapter's table,
//! the doctor's detections and the compat header's guards (a test keeps the
//! header in step).
//!
//! - [`release`]: kernel release numbers ("2.6.34", "4.14", "7.3") and their order.
//! - [`table`]: the drift table as typed data, loaded and checked for completeness.
//! - [`doctor`]: parses C with tree-sitter and reports each use of a form that
//!   does not fit the kernel the learner targets.
//! - [`guards`]: the source as a compiler for one kernel reads it: version
//!   guards decided, undecided conditionals marked.
//! - [`input`]: what the doctor refuses to read (not C, or no target).
//! - [`fix`]: the table's semantic patches, applied with `spatch` for
//!   `chapter4 doctor --fix`.

mod code;
pub mod doctor;
pub mod fix;
pub mod guards;
pub mod input;
pub mod release;
pub mod table;

pub use doctor::{Direction, Finding, diagnose, diagnose_file};
pub use input::{Expect, check_input};
pub use release::Release;
pub use table::{Change, Detector, DriftTable};

use std::path::PathBuf;

/// What can go wrong while loading the table or reading a target's source.
#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    // The cause is the source error, which `{:#}` prints after this line:
    // naming it here too would print it twice.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}")]
    Input {
        path: PathBuf,
        #[source]
        problem: Box<DriftError>,
    },
    #[error("this is not C source: {0}")]
    NotC(String),
    #[error(
        "no `struct target_type` with an initialiser here: the doctor reads a \
         device-mapper target's source (for one file of a target defined \
         elsewhere, pass --part)"
    )]
    NoTargetType,
    #[error("drift table is not valid TOML: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("drift table entry `{id}`: {problem}")]
    Entry { id: String, problem: String },
    #[error("`{0}` is not a kernel release (expected e.g. 2.6.34, 4.14 or 7.3)")]
    Release(String),
    #[error("kernel {0} is outside the range the table covers ({1} to {2})")]
    OutOfRange(Release, Release, Release),
    #[error("the C parser could not be set up: {0}")]
    Parser(String),
}
