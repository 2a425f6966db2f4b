//! What the chapter programs share: one set of flags, one `main`, and the
//! table that tells the lab how to call each program without asking it.
//!
//! Every `chapterN` binary that runs a scenario flattens [`ChapterArgs`] into
//! its own clap parser, so `--backend`, `--module-ko` and `--report` mean the
//! same everywhere. [`CHAPTERS`] says which of them a chapter can use: the lab
//! reads it to build a guest's command line, and a flag a chapter cannot use
//! is refused in one line rather than ignored.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::driver::{self, Backend, BackendKind, OpenOptions};
use crate::manifest::{Manifest, Stage};

/// A chapter program that runs a scenario on a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chapter {
    /// N in `chapterN`.
    pub number: u32,
    /// Whether it can write what it found as JSON (`--report`).
    pub report: bool,
    /// Why it cannot run on a real kernel yet, if it cannot.
    pub simulator_only: Option<&'static str>,
    /// The kernel's own modules its tables need that a full system loads on
    /// demand (`request_module`, through modprobe): a machine without
    /// modprobe, such as the lab's guest, must load them first.
    pub kernel_modules: &'static [&'static str],
}

impl Chapter {
    /// The binary's name.
    pub fn binary(&self) -> String {
        format!("chapter{}", self.number)
    }

    /// The module stage its scenario loads, if any (the manifest says which
    /// stage runs which chapter): `--module-ko` replaces building it.
    pub fn stage(&self) -> Option<&'static Stage> {
        Manifest::bundled().stage_of_chapter(self.number)
    }
}

/// The chapter programs that run scenarios (chapter 4 reads C sources instead).
pub const CHAPTERS: &[Chapter] = &[
    Chapter {
        number: 1,
        report: true,
        simulator_only: None,
        kernel_modules: &[],
    },
    Chapter {
        number: 2,
        report: true,
        simulator_only: None,
        kernel_modules: &["dm-zero"],
    },
    Chapter {
        number: 3,
        report: true,
        simulator_only: None,
        kernel_modules: &[],
    },
    Chapter {
        number: 5,
        report: true,
        simulator_only: None,
        kernel_modules: &[],
    },
    Chapter {
        number: 6,
        report: true,
        simulator_only: None,
        kernel_modules: &[],
    },
    Chapter {
        number: 7,
        report: true,
        simulator_only: None,
        kernel_modules: &[],
    },
];

/// The chapter program numbered `number`, if it runs a scenario.
pub fn chapter(number: u32) -> Option<&'static Chapter> {
    CHAPTERS.iter().find(|c| c.number == number)
}

/// The flags every chapter program takes.
#[derive(Clone, Debug, clap::Args)]
pub struct ChapterArgs {
    /// Where to run: the built-in simulator or the running kernel (needs root).
    #[arg(long, value_enum, default_value_t = BackendKind::Sim)]
    pub backend: BackendKind,

    /// Load this prebuilt module for the chapter's stage instead of building
    /// the stage from source (kernel backend).
    #[arg(long, value_name = "PATH")]
    pub module_ko: Option<PathBuf>,

    /// Also write what the run found (tables, status, data placement) as JSON.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
}

impl ChapterArgs {
    /// Refuse the flags `chapter` cannot use, then open the backend.
    pub fn open(&self, chapter: &Chapter) -> anyhow::Result<Box<dyn Backend>> {
        if self.module_ko.is_some() && chapter.stage().is_none() {
            anyhow::bail!(
                "--module-ko does not apply: chapter {} loads no module",
                chapter.number
            );
        }
        if self.report.is_some() && !chapter.report {
            anyhow::bail!(
                "--report does not apply: chapter {} writes no report",
                chapter.number
            );
        }
        if let (BackendKind::Kernel, Some(why)) = (self.backend, chapter.simulator_only) {
            anyhow::bail!(
                "chapter {} runs on the simulator only: {why}",
                chapter.number
            );
        }
        let options = OpenOptions {
            module_ko: self.module_ko.clone(),
        };
        Ok(driver::open(self.backend, &options)?)
    }

    /// Write `report` as JSON where `--report` asked for it.
    pub fn write_report(&self, report: &impl serde::Serialize) -> anyhow::Result<()> {
        if let Some(path) = &self.report {
            let json = serde_json::to_string_pretty(report)?;
            std::fs::write(path, json + "\n")
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        }
        Ok(())
    }
}

/// A chapter program's `main`: run it, and on failure print one line naming
/// the program and every cause, and exit 1.
pub fn main(program: &str, run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{program}: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(module_ko: Option<&str>, report: Option<&str>) -> ChapterArgs {
        ChapterArgs {
            backend: BackendKind::Sim,
            module_ko: module_ko.map(PathBuf::from),
            report: report.map(PathBuf::from),
        }
    }

    #[test]
    fn flags_a_chapter_cannot_use_are_refused_not_ignored() {
        let one = chapter(1).unwrap();
        let err = args(Some("x.ko"), None).open(one).err().unwrap();
        assert_eq!(
            err.to_string(),
            "--module-ko does not apply: chapter 1 loads no module"
        );
        let silent = Chapter {
            report: false,
            ..*one
        };
        let err = args(None, Some("r.json")).open(&silent).err().unwrap();
        assert_eq!(
            err.to_string(),
            "--report does not apply: chapter 1 writes no report"
        );
        assert!(args(None, None).open(one).is_ok());
        assert!(args(None, Some("r.json")).open(one).is_ok());
        // Chapter 3 takes both (on the simulator the module flag is unused:
        // the twin stands in for the module).
        assert!(
            args(Some("x.ko"), Some("r.json"))
                .open(chapter(3).unwrap())
                .is_ok()
        );
    }

    #[test]
    fn a_chapter_that_does_not_match_a_kernel_yet_says_so() {
        let not_yet = Chapter {
            simulator_only: Some("its steps do not match a real kernel yet"),
            ..*chapter(2).unwrap()
        };
        let kernel = ChapterArgs {
            backend: BackendKind::Kernel,
            ..args(None, None)
        };
        let err = kernel.open(&not_yet).err().unwrap().to_string();
        assert_eq!(
            err,
            "chapter 2 runs on the simulator only: its steps do not match a real kernel yet"
        );
        assert!(args(None, None).open(&not_yet).is_ok());
    }

    #[test]
    fn every_chapter_runs_on_a_kernel_and_writes_a_report() {
        for c in CHAPTERS {
            assert_eq!(c.simulator_only, None, "chapter {}", c.number);
            assert!(c.report, "chapter {}", c.number);
        }
        assert!(args(None, Some("r.json")).open(chapter(2).unwrap()).is_ok());
    }

    #[test]
    fn chapter_numbers_are_unique() {
        for (i, c) in CHAPTERS.iter().enumerate() {
            assert!(CHAPTERS[..i].iter().all(|d| d.number != c.number));
        }
        assert!(chapter(4).is_none(), "chapter 4 runs no scenario");
    }
}
