//! The one rule for copying a module's folder: its sources, build files and
//! scripts go, whatever a previous `make` left behind does not. The lab's
//! build copies and `cargo xtask new-stage` both copy through it, so a
//! learner's stale `.ko` never reaches a guest or the repository.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Whether a file name is something `make modules` writes: objects, modules,
/// the modpost files, kbuild's hidden command files and what the compat
/// header's feature probes write (module/compat/dmw_probes.kbuild).
pub fn is_build_artefact(name: &str) -> bool {
    let by_extension = [".o", ".ko", ".mod", ".mod.c", ".a"]
        .iter()
        .any(|ext| name.ends_with(ext));
    let kbuild_files = [
        "Module.symvers",
        "modules.order",
        ".tmp_versions",
        "dmw_probes.h",
        "dmw_probes.log",
        "dmw_probes.h.runs",
    ]
    .contains(&name);
    let hidden_command_file = name.starts_with('.') && name.ends_with(".cmd");
    by_extension || kbuild_files || hidden_command_file
}

/// Copy the folder `from` to `to` (made if missing), leaving out build
/// artefacts; returns the files copied, relative to `from`, in order.
pub fn copy_module_sources(from: &Path, to: &Path) -> Result<Vec<PathBuf>> {
    let mut copied = Vec::new();
    copy_into(from, to, Path::new(""), &mut copied)?;
    copied.sort();
    Ok(copied)
}

fn copy_into(from: &Path, to: &Path, relative: &Path, copied: &mut Vec<PathBuf>) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("making {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if is_build_artefact(&name.to_string_lossy()) {
            continue;
        }
        let kind = entry.file_type()?;
        let (source, target) = (entry.path(), to.join(&name));
        if kind.is_dir() {
            copy_into(&source, &target, &relative.join(&name), copied)?;
        } else {
            // Through symlinks too: the copy must stand on its own.
            fs::copy(&source, &target).with_context(|| format!("copying {}", source.display()))?;
            copied.push(relative.join(&name));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_artefacts_are_named_as_such() {
        for made in [
            "hello_target.o",
            "hello_target.ko",
            "hello_target.mod",
            "hello_target.mod.c",
            "hello_target.mod.o",
            "Module.symvers",
            "modules.order",
            ".hello_target.o.cmd",
            ".Module.symvers.cmd",
            "dmw_probes.h",
            "dmw_probes.log",
            ".dmw_probes.h.cmd",
        ] {
            assert!(is_build_artefact(made), "{made}");
        }
        for source in [
            "hello_target.c",
            "Kbuild",
            "Makefile",
            "check.sh",
            "x.table",
            "compat.h",
            "dmw_compat.h",
            "dmw_probes.kbuild",
            "dmw_probes.sh",
            ".gitignore",
        ] {
            assert!(!is_build_artefact(source), "{source}");
        }
    }

    #[test]
    fn copies_sources_and_leaves_what_make_wrote() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        for file in [
            "t.c",
            "Kbuild",
            "t.ko",
            "t.o",
            ".t.o.cmd",
            "modules.order",
            "tests/check.sh",
        ] {
            let path = from.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(&path, file).unwrap();
        }
        let copied = copy_module_sources(from.path(), &to.path().join("stage")).unwrap();
        assert_eq!(
            copied,
            [
                PathBuf::from("Kbuild"),
                "t.c".into(),
                "tests/check.sh".into()
            ]
        );
        let check = fs::read_to_string(to.path().join("stage/tests/check.sh")).unwrap();
        assert_eq!(check, "tests/check.sh");
        assert!(!to.path().join("stage/t.ko").exists());
    }
}
