//! The learner's side: their copies of the exercises and their progress.
//!
//! `workshop start N` writes exercise N's skeleton into a folder the learner
//! owns, `workshop/NN-name/` at the repository's top (git-ignored), or under
//! `$DMW_WORKSHOP_DIR`. What they have done is kept beside it in
//! `.progress.json`: the hints shown, each exercise's last check.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Exercise, Kind, regions};

/// The learner's folder: `$DMW_WORKSHOP_DIR`, else `workshop/` beside `exercises/`.
pub fn root() -> PathBuf {
    match std::env::var_os("DMW_WORKSHOP_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => super::repo_root().join("workshop"),
    }
}

/// Where the learner's copy of `exercise` lives under `root`.
pub fn copy_dir(root: &Path, exercise: &Exercise) -> PathBuf {
    root.join(&exercise.dir)
}

/// What a rendering of an exercise's files holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Skeleton,
    Solution,
}

/// The text of one of the exercise's files, as the learner gets it (no
/// anchors): its skeleton or its solution.
pub fn render(
    repo: &Path,
    exercise: &Exercise,
    file: &str,
    variant: Variant,
) -> Result<String, String> {
    let path = repo.join(exercise.folder()).join(file);
    let source =
        fs::read_to_string(&path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let text = match variant {
        Variant::Skeleton => regions::skeleton(&source),
        Variant::Solution => regions::solution(&source),
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(regions::without_anchors(&text))
}

/// Write `exercise`'s files into `dir`, as `variant`, with what building
/// them needs: for a kernel exercise a `Kbuild` and a `Makefile`, and the
/// workbook's compat header beside `dir` (in `dir/../compat/`). Refuses to
/// overwrite anything: the learner's work is never lost.
pub fn write_copy(
    repo: &Path,
    exercise: &Exercise,
    dir: &Path,
    variant: Variant,
) -> Result<Vec<PathBuf>, String> {
    if dir.exists() {
        return Err(format!(
            "{} exists already: it is your copy (move it away to start again)",
            dir.display()
        ));
    }
    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for file in &exercise.files {
        files.push((dir.join(file), render(repo, exercise, file, variant)?));
    }
    let readme = repo.join(exercise.folder()).join("README.md");
    if let Ok(text) = fs::read_to_string(&readme) {
        files.push((dir.join("README.md"), text));
    }
    if exercise.kind == Kind::Kernel
        && let Some(module) = &exercise.module
    {
        files.push((
            dir.join("Kbuild"),
            format!(
                "# Built out of tree: make -C <kernel build dir> M=$(pwd) modules\n\
                 ccflags-y := -I$(src)/../compat\nobj-m := {module}.o\n\
                 # dmw_compat.h's DMW_HAVE_... come from probes of the kernel's headers.\n\
                 include $(src)/../compat/dmw_probes.kbuild\n"
            ),
        ));
        files.push((
            dir.join("Makefile"),
            "# Build for the running kernel: make (or make KDIR=/path/to/build)\n\
             KDIR ?= /lib/modules/$(shell uname -r)/build\n\n\
             all:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) modules\n\n\
             clean:\n\t$(MAKE) -C $(KDIR) M=$(CURDIR) clean\n\n.PHONY: all clean\n"
                .to_string(),
        ));
    }
    fs::create_dir_all(dir).map_err(|e| format!("making {}: {e}", dir.display()))?;
    let mut written = Vec::new();
    for (path, text) in files {
        fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        written.push(path);
    }
    if exercise.kind == Kind::Kernel {
        let compat = dir.parent().unwrap_or(dir).join("compat");
        if !compat.join("dmw_probes.kbuild").exists() {
            let copied = super::kernel::copy_compat(repo, &compat)
                .map_err(|e| format!("writing {}: {e}", compat.display()))?;
            written.extend(copied);
        }
    }
    Ok(written)
}

/// One exercise's record.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// How many hints the learner has seen.
    pub hints_shown: usize,
    /// The last check's verdict, if any.
    pub last_check: Option<bool>,
    /// Whether any check passed.
    pub passed: bool,
}

/// `.progress.json` in the learner's folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// By exercise folder (`NN-name`).
    pub exercises: BTreeMap<String, Record>,
}

impl Progress {
    fn path(root: &Path) -> PathBuf {
        root.join(".progress.json")
    }

    /// The learner's progress; nothing yet if the file is missing. A file
    /// that cannot be read is an error, not a fresh start.
    pub fn load(root: &Path) -> Result<Progress, String> {
        let path = Progress::path(root);
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| format!("{} cannot be read ({e}): fix or remove it", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Progress::default()),
            Err(e) => Err(format!("reading {}: {e}", path.display())),
        }
    }

    /// Write it (through a temporary file, so a crash never leaves half).
    pub fn save(&self, root: &Path) -> Result<(), String> {
        fs::create_dir_all(root).map_err(|e| format!("making {}: {e}", root.display()))?;
        let path = Progress::path(root);
        let partial = path.with_extension("json.partial");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())? + "\n";
        fs::write(&partial, text).map_err(|e| format!("writing {}: {e}", partial.display()))?;
        fs::rename(&partial, &path).map_err(|e| format!("writing {}: {e}", path.display()))
    }

    pub fn record(&mut self, exercise: &Exercise) -> &mut Record {
        self.exercises.entry(exercise.dir.clone()).or_default()
    }

    pub fn get(&self, exercise: &Exercise) -> Record {
        self.exercises
            .get(&exercise.dir)
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workshop::Manifest;

    #[test]
    fn a_copy_is_written_once_and_never_overwritten() {
        let repo = crate::workshop::repo_root();
        let dir = tempfile::tempdir().unwrap();
        let exercise = Manifest::bundled().exercise(1).unwrap();
        let copy = copy_dir(dir.path(), exercise);
        let written = write_copy(&repo, exercise, &copy, Variant::Skeleton).unwrap();
        assert!(written.iter().any(|p| p.ends_with("Kbuild")));
        assert!(dir.path().join("compat/dmw_compat.h").is_file());
        let source = fs::read_to_string(copy.join(&exercise.files[0])).unwrap();
        assert!(
            !source.contains("ANCHOR"),
            "the learner's copy has no anchors"
        );
        assert!(source.contains("TODO 1:"));
        fs::write(copy.join("mine"), "work").unwrap();
        let again = write_copy(&repo, exercise, &copy, Variant::Skeleton).unwrap_err();
        assert!(again.contains("exists already"), "{again}");
        assert_eq!(fs::read_to_string(copy.join("mine")).unwrap(), "work");
    }

    #[test]
    fn progress_survives_a_round_trip_and_a_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Progress::load(dir.path()).unwrap(), Progress::default());
        let mut progress = Progress::default();
        let exercise = Manifest::bundled().exercise(1).unwrap();
        progress.record(exercise).hints_shown = 2;
        progress.save(dir.path()).unwrap();
        assert_eq!(Progress::load(dir.path()).unwrap(), progress);
        fs::write(dir.path().join(".progress.json"), "{").unwrap();
        assert!(
            Progress::load(dir.path())
                .unwrap_err()
                .contains("cannot be read")
        );
    }
}
