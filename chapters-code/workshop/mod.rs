//! The workshop: exercises that check themselves.
//!
//! Each exercise is a folder of `exercises/` and an entry of
//! `exercises/manifest.toml` ([`Manifest`]): one annotated source per file
//! the learner edits (the solution, with TODO regions that give the skeleton,
//! see [`regions`]), a README with the task, hints, and a check. How a check
//! runs depends on the exercise's [`Kind`]:
//!
//! - [`Kind::Kernel`]: a C module, built for a real kernel and loaded there;
//!   `exercises/harness.sh` runs the exercise's hidden `check.sh` against it
//!   (on the running kernel as root, or in the qemu lab through
//!   `cargo xtask exercises`, which runs the same harness in its guest);
//! - [`Kind::Battery`]: the learner writes the guest script; it must pass
//!   against the exercise's reference target and fail against each of its
//!   mutants, each built with one bug;
//! - [`Kind::Simulator`]: Rust against the target contract, tested on the
//!   simulator by the exercise's hidden `check.rs`.
//!
//! Every check gives a [`report::Report`]: its steps, in order, each passed,
//! failed (with what the check saw and the hint that fits) or not run.

pub mod book;
pub mod kernel;
pub mod learner;
pub mod regions;
pub mod report;
pub mod simulator;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The exercises' folder and manifest, relative to the repository's top.
pub const DIR: &str = "exercises";
pub const PATH: &str = "exercises/manifest.toml";
const BUNDLED: &str = include_str!("../../exercises/manifest.toml");

/// How an exercise is checked.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A C module, checked on a real kernel.
    Kernel,
    /// A guest script, checked against a reference target and its mutants.
    Battery,
    /// Rust against the target contract, checked on the simulator.
    Simulator,
}

/// One step of a check, as the manifest declares it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The name the check script (`step ID ...`) or test (`fn ID`) uses.
    pub id: String,
    /// What the step holds true, in plain words.
    pub checks: String,
    /// The hint (1-based) that fits when it fails.
    pub hint: usize,
}

/// A mutant of a battery exercise's reference target: the reference built
/// with one `-D` macro that turns one bug on.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mutant {
    /// The macro, such as `MUTANT_ACCEPTS_EXTRA_WORDS`.
    pub define: String,
    /// The bug, in plain words.
    pub bug: String,
    /// The hint (1-based) that fits when the learner's battery misses it.
    pub hint: usize,
}

/// One exercise.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Exercise {
    /// Its folder under `exercises/`: `NN-name`.
    pub dir: String,
    pub title: String,
    pub kind: Kind,
    /// The annotated sources the learner gets (as skeletons), in the folder.
    pub files: Vec<String>,
    /// Kernel and battery exercises: the module's name (`obj-m := NAME.o`).
    #[serde(default)]
    pub module: Option<String>,
    /// The target type's name in table lines.
    #[serde(default)]
    pub target: Option<String>,
    /// What to read or do first: chapters of the book, earlier exercises.
    pub prerequisites: Vec<String>,
    /// Anchors of the sources the book's exercise page shows.
    pub show: Vec<String>,
    /// Kernel lines the drift doctor must find nothing for (a check step of
    /// its own, before the build).
    #[serde(default)]
    pub doctor: Vec<String>,
    /// Kernel lines the module must also build on without a warning (in the
    /// lab only: they need the lines' kits).
    #[serde(default)]
    pub build_on: Vec<String>,
    /// Battery exercises: the reference target's folder in the exercise's.
    #[serde(default)]
    pub reference: Option<String>,
    #[serde(default, rename = "mutant")]
    pub mutants: Vec<Mutant>,
    /// The hints, from a nudge to the answer.
    pub hints: Vec<String>,
    /// The check's own steps, in the order it runs them.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// The steps every kernel check has besides its script's, and their hints
/// when the exercise does not name one: building, loading, unloading, what
/// was left behind and the kernel's log.
pub const BUILTIN_STEPS: &[(&str, &str)] = &[
    ("doctor", "the drift doctor finds no API the kernel lacks"),
    ("build", "the module builds without an error or a warning"),
    (
        "build-on",
        "the module builds on the other kernel lines named",
    ),
    ("load", "the module loads (insmod) and registers its target"),
    (
        "unload",
        "nothing is left behind: no device, and the module unloads",
    ),
    (
        "kernel-log",
        "the kernel logs no BUG, WARNING, Oops or hung task",
    ),
];

impl Exercise {
    /// Its number: the folder's `NN`.
    pub fn number(&self) -> u32 {
        self.dir
            .split('-')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    /// `NN` as the folder writes it.
    pub fn id(&self) -> String {
        format!("{:02}", self.number())
    }

    /// Its folder relative to the repository's top.
    pub fn folder(&self) -> PathBuf {
        Path::new(DIR).join(&self.dir)
    }

    /// The declared step `id`, or a built-in one.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    /// What a step checks, in plain words (declared or built in).
    pub fn step_text(&self, id: &str) -> String {
        if let Some(step) = self.step(id) {
            return step.checks.clone();
        }
        if id == "build" && self.kind == Kind::Simulator {
            return "your file builds against the target contract".to_string();
        }
        BUILTIN_STEPS
            .iter()
            .find(|(name, _)| *name == id)
            .map_or_else(|| id.to_string(), |(_, text)| text.to_string())
    }

    /// The hint that fits a failed step: the step's own, else the first.
    pub fn hint_for(&self, id: &str) -> usize {
        self.step(id).map_or(1, |s| s.hint)
    }

    /// Whether the check needs a real kernel.
    pub fn needs_kernel(&self) -> bool {
        matches!(self.kind, Kind::Kernel | Kind::Battery)
    }
}

/// `exercises/manifest.toml`, read and checked.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "exercise")]
    pub exercises: Vec<Exercise>,
}

impl Manifest {
    /// Read and check a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| format!("{PATH}: {e}"))?;
        manifest.validate().map_err(|e| format!("{PATH}: {e}"))?;
        Ok(manifest)
    }

    /// The manifest as it was when the crate was built.
    pub fn bundled() -> &'static Manifest {
        static ONCE: OnceLock<Manifest> = OnceLock::new();
        ONCE.get_or_init(|| match Manifest::parse(BUNDLED) {
            Ok(m) => m,
            Err(err) => panic!("the bundled exercise manifest is invalid: {err}"),
        })
    }

    /// The exercise numbered `n`.
    pub fn exercise(&self, n: u32) -> Option<&Exercise> {
        self.exercises.iter().find(|e| e.number() == n)
    }

    fn validate(&self) -> Result<(), String> {
        let lines = crate::manifest::Manifest::bundled().line_names();
        let mut numbers = BTreeSet::new();
        for (i, e) in self.exercises.iter().enumerate() {
            let n = e.number();
            if n as usize != i + 1 {
                return Err(format!(
                    "{}: exercises are numbered 01, 02, ... in order; this is number {} in the list",
                    e.dir,
                    i + 1
                ));
            }
            numbers.insert(n);
            if e.files.is_empty() || e.hints.is_empty() || e.steps.is_empty() {
                return Err(format!("{}: needs files, hints and steps", e.dir));
            }
            for step in &e.steps {
                if step.hint == 0 || step.hint > e.hints.len() {
                    return Err(format!(
                        "{}: step {} names hint {}, of {}",
                        e.dir,
                        step.id,
                        step.hint,
                        e.hints.len()
                    ));
                }
            }
            for m in &e.mutants {
                if m.hint == 0 || m.hint > e.hints.len() {
                    return Err(format!(
                        "{}: mutant {} names hint {}",
                        e.dir, m.define, m.hint
                    ));
                }
            }
            for line in e.doctor.iter().chain(&e.build_on) {
                if !lines.contains(&line.as_str()) {
                    return Err(format!("{}: no kernel line {line}", e.dir));
                }
            }
            let needs_module = e.kind != Kind::Simulator;
            if needs_module != e.module.is_some() {
                return Err(format!(
                    "{}: `module` is for kernel and battery exercises only, and they need one",
                    e.dir
                ));
            }
            if (e.kind == Kind::Battery) != e.reference.is_some() {
                return Err(format!(
                    "{}: `reference` is for battery exercises only, and they need one",
                    e.dir
                ));
            }
        }
        Ok(())
    }
}

/// The repository's top: where `exercises/` is. The current folder when it
/// holds the manifest (a checkout the learner works in), else the checkout
/// this program was built from.
pub fn repo_root() -> PathBuf {
    let here = PathBuf::from(".");
    if here.join(PATH).is_file() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_manifest_is_valid_and_has_twelve_exercises_or_more() {
        let m = Manifest::bundled();
        assert!(m.exercises.len() >= 12, "{}", m.exercises.len());
        assert_eq!(m.exercise(1).unwrap().id(), "01");
    }

    #[test]
    fn a_manifest_that_contradicts_itself_is_refused_with_the_reason() {
        let good = "[[exercise]]\ndir = \"01-x\"\ntitle = \"x\"\nkind = \"simulator\"\n\
                    files = [\"x.rs\"]\nprerequisites = []\nshow = []\nhints = [\"h\"]\n\
                    [[exercise.step]]\nid = \"s\"\nchecks = \"c\"\nhint = 1\n";
        assert!(Manifest::parse(good).is_ok());
        for (bad, why) in [
            (good.replace("01-x", "02-x"), "numbered"),
            (good.replace("hint = 1", "hint = 2"), "names hint 2"),
            (
                good.replace("kind = \"simulator\"", "kind = \"kernel\""),
                "`module`",
            ),
            (
                good.replace("prerequisites", "prerequisite"),
                "unknown field",
            ),
            (
                good.replace("show = []", "show = []\ndoctor = [\"4.19\"]"),
                "no kernel line 4.19",
            ),
        ] {
            let err = Manifest::parse(&bad).unwrap_err();
            assert!(err.contains(why), "{err}");
        }
    }
}
