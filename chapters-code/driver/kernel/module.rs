//! Building a module stage against the running kernel, and `insmod`/`rmmod`.

use std::ffi::CString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::errno::Errno;
use nix::kmod::{DeleteModuleFlags, ModuleInitFlags, delete_module, finit_module};

/// Why a module could not be built, loaded or unloaded (the backend adds the
/// module's name).
pub type Reason = String;

/// The module's name in the kernel: the `.ko` file's stem, with `-` read as `_`
/// as `kbuild` names it (`KBUILD_MODNAME`).
pub fn module_name(ko: &Path) -> String {
    let stem = ko.file_name().and_then(|n| n.to_str()).unwrap_or("");
    stem.strip_suffix(".ko").unwrap_or(stem).replace('-', "_")
}

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> std::io::Result<String> {
    Ok(std::fs::read_to_string("/proc/sys/kernel/osrelease")?
        .trim()
        .to_string())
}

/// Where kbuild for `release` lives once its headers are installed.
pub fn build_dir(release: &str) -> PathBuf {
    PathBuf::from(format!("/lib/modules/{release}/build"))
}

/// The stage's sources: from the current directory (a checkout), else from the
/// checkout this binary was built in.
pub fn find_sources(stage_dir: &str) -> Option<PathBuf> {
    [
        PathBuf::from(stage_dir),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(stage_dir),
    ]
    .into_iter()
    .find(|dir| dir.is_dir())
}

/// `make -C /lib/modules/$(uname -r)/build M=<copy> modules` on a copy of the
/// stage (the checkout stays clean, and a read-only one works); returns the
/// built `.ko`. The copy takes the stage's parent folder too, because stages
/// include shared headers by relative path (`-I$(src)/../compat`).
pub fn build(sources: &Path, work: &Path, ko: &str) -> Result<PathBuf, Reason> {
    let release = kernel_release().map_err(|e| format!("reading the kernel release: {e}"))?;
    let kbuild = build_dir(&release);
    if !kbuild.is_dir() {
        return Err(format!(
            "no kernel headers for {release} ({} is missing): install linux-headers-{release}",
            kbuild.display()
        ));
    }
    build_against(&kbuild, sources, work, ko)
}

/// [`build`] against the kernel build tree `kbuild`.
pub fn build_against(
    kbuild: &Path,
    sources: &Path,
    work: &Path,
    ko: &str,
) -> Result<PathBuf, Reason> {
    let (tree, stage) = match (sources.parent(), sources.file_name()) {
        (Some(parent), Some(stage)) if !parent.as_os_str().is_empty() => (parent, stage),
        _ => (sources, "".as_ref()),
    };
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| format!("clearing {}: {e}", work.display()))?;
    }
    copy_sources(tree, work)
        .map_err(|e| format!("copying {} to {}: {e}", tree.display(), work.display()))?;
    let stage_copy = work.join(stage);
    let output = Command::new("make")
        .arg("-C")
        .arg(kbuild)
        .arg(format!("M={}", stage_copy.display()))
        .arg("modules")
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                "`make` is not installed (apt-get install make gcc)".to_string()
            }
            _ => format!("running make: {e}"),
        })?;
    let built = stage_copy.join(ko);
    if !output.status.success() || !built.is_file() {
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return Err(format!(
            "make failed against {}: {}",
            kbuild.display(),
            telling_make_line(&text).unwrap_or("no output")
        ));
    }
    Ok(built)
}

/// Copy the source tree `from` into `to`, leaving out what kbuild made there
/// (an old `.o` copied in would look newer than its source and be reused).
fn copy_sources(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name();
        if is_build_output(&name.to_string_lossy()) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_sources(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))?;
        }
    }
    Ok(())
}

/// Kbuild's outputs and hidden files (`.hello_target.o.cmd`, `.tmp_versions`).
fn is_build_output(name: &str) -> bool {
    const OUTPUT_SUFFIXES: [&str; 5] = [".o", ".ko", ".mod", ".mod.c", ".cmd"];
    name.starts_with('.')
        || name == "Module.symvers"
        || name == "modules.order"
        || OUTPUT_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

/// The line of a failed build that says why: the compiler's first error
/// (later ones often follow from it), else make's last complaint, else the
/// last line printed.
pub fn telling_make_line(output: &str) -> Option<&str> {
    let lines = || output.lines().map(str::trim).filter(|l| !l.is_empty());
    lines()
        .find(|l| l.contains("error:"))
        .or_else(|| lines().rfind(|l| l.contains("***")))
        .or_else(|| lines().next_back())
}

/// `insmod FILE`. A module that is already loaded is fine: the target is there.
pub fn insert(ko: &Path) -> Result<(), Reason> {
    let file = File::open(ko).map_err(|e| format!("opening {}: {e}", ko.display()))?;
    let no_parameters = CString::default();
    match finit_module(&file, &no_parameters, ModuleInitFlags::empty()) {
        Ok(()) | Err(Errno::EEXIST) => Ok(()),
        Err(errno) => Err(format!(
            "insmod {}: {}",
            ko.display(),
            insert_error_text(errno)
        )),
    }
}

/// What `insmod` says for the errors `finit_module` gives.
fn insert_error_text(errno: Errno) -> String {
    match errno {
        Errno::ENOEXEC => "Invalid module format (built for another kernel?)".to_string(),
        Errno::ENOENT => "Unknown symbol in module, or unknown parameter".to_string(),
        Errno::EPERM => {
            "Operation not permitted (needs root; or module loading is locked down)".to_string()
        }
        other => other.desc().to_string(),
    }
}

/// `rmmod NAME`, without waiting for users to go away (as `rmmod` does).
pub fn remove(name: &str) -> Result<(), Reason> {
    let c_name = CString::new(name).map_err(|_| format!("bad module name {name:?}"))?;
    delete_module(&c_name, DeleteModuleFlags::O_NONBLOCK).map_err(remove_error_text)
}

/// What `rmmod` says for the errors `delete_module` gives.
fn remove_error_text(errno: Errno) -> Reason {
    match errno {
        Errno::ENOENT => "Module is not currently loaded".to_string(),
        // EWOULDBLOCK: its use count is not zero (a table holds the target).
        Errno::EBUSY | Errno::EWOULDBLOCK => "Module is in use".to_string(),
        other => other.desc().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_name_is_the_ko_stem_with_underscores() {
        assert_eq!(module_name(Path::new("/x/hello_target.ko")), "hello_target");
        assert_eq!(module_name(Path::new("dm-learner.ko")), "dm_learner");
        assert_eq!(module_name(Path::new("odd")), "odd");
    }

    #[test]
    fn build_dir_follows_the_release() {
        assert_eq!(
            build_dir("6.1.0-28-amd64"),
            Path::new("/lib/modules/6.1.0-28-amd64/build")
        );
    }

    #[test]
    fn picks_the_compilers_first_error() {
        let output = "\
make: Entering directory '/usr/src/linux-headers-6.1.0-28-amd64'
  CC [M]  /tmp/w/hello_target.o
/tmp/w/hello_target.c:42:9: error: implicit declaration of function 'bio_set_devv'
/tmp/w/hello_target.c:50:1: error: expected ';' before '}' token
make[2]: *** [scripts/Makefile.build:250: /tmp/w/hello_target.o] Error 1
make: *** [Makefile:2012: /tmp/w] Error 2
";
        assert_eq!(
            telling_make_line(output),
            Some(
                "/tmp/w/hello_target.c:42:9: error: implicit declaration of function 'bio_set_devv'"
            )
        );
    }

    #[test]
    fn without_a_compiler_error_takes_makes_last_complaint() {
        let output = "make: *** No rule to make target 'modules'.  Stop.\nsomething\nmake: *** [x] Error 2\n\n";
        assert_eq!(telling_make_line(output), Some("make: *** [x] Error 2"));
        assert_eq!(telling_make_line("a\nlast words\n"), Some("last words"));
        assert_eq!(telling_make_line("\n \n"), None);
    }

    #[test]
    fn error_texts_follow_the_tools() {
        assert_eq!(
            remove_error_text(Errno::ENOENT),
            "Module is not currently loaded"
        );
        assert_eq!(remove_error_text(Errno::EWOULDBLOCK), "Module is in use");
        assert!(insert_error_text(Errno::ENOEXEC).starts_with("Invalid module format"));
    }

    /// A stand-in for a kernel build tree: it "builds" `M=`'s module by
    /// copying the source, or fails as a compiler would when the source says so.
    fn fake_kbuild(dir: &Path) {
        let makefile = "modules:\n\
            \t@if grep -q broken $(M)/hello_target.c; then \\\n\
            \t  echo \"$(M)/hello_target.c:3:1: error: expected ';'\" >&2; exit 1; fi\n\
            \t@test -f $(M)/../compat/dmw_compat.h\n\
            \tcp $(M)/hello_target.c $(M)/hello_target.ko\n";
        std::fs::write(dir.join("Makefile"), makefile).unwrap();
    }

    fn stage_tree(source: &str) -> tempfile::TempDir {
        let tree = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tree.path().join("stage1-hello")).unwrap();
        std::fs::create_dir_all(tree.path().join("compat")).unwrap();
        std::fs::write(tree.path().join("stage1-hello/hello_target.c"), source).unwrap();
        std::fs::write(tree.path().join("compat/dmw_compat.h"), "").unwrap();
        tree
    }

    #[test]
    fn builds_a_copy_of_the_stage_with_its_shared_headers() {
        let kbuild = tempfile::tempdir().unwrap();
        fake_kbuild(kbuild.path());
        let tree = stage_tree("int x;\n");
        let scratch = tempfile::tempdir().unwrap();
        let work = scratch.path().join("build");
        let ko = build_against(
            kbuild.path(),
            &tree.path().join("stage1-hello"),
            &work,
            "hello_target.ko",
        )
        .unwrap();
        assert_eq!(ko, work.join("stage1-hello/hello_target.ko"));
        assert!(ko.is_file());
        // The checkout stays clean.
        assert!(!tree.path().join("stage1-hello/hello_target.ko").exists());
    }

    #[test]
    fn a_failed_build_says_the_compilers_error() {
        let kbuild = tempfile::tempdir().unwrap();
        fake_kbuild(kbuild.path());
        let tree = stage_tree("broken\n");
        let scratch = tempfile::tempdir().unwrap();
        let reason = build_against(
            kbuild.path(),
            &tree.path().join("stage1-hello"),
            &scratch.path().join("build"),
            "hello_target.ko",
        )
        .unwrap_err();
        assert!(reason.starts_with("make failed against "), "{reason}");
        assert!(
            reason.ends_with("stage1-hello/hello_target.c:3:1: error: expected ';'"),
            "{reason}"
        );
    }

    #[test]
    // CI runs it after the lab, against the 6.1 kit's headers (see .ci/run).
    #[ignore = "needs kernel headers: DMW_KBUILD=/lib/modules/<release>/build"]
    fn builds_stage1_against_real_kernel_headers() {
        let kbuild = std::env::var_os("DMW_KBUILD").expect("DMW_KBUILD");
        let sources = find_sources("module/stage1-hello").expect("a checkout");
        let scratch = tempfile::tempdir().unwrap();
        let ko = build_against(
            Path::new(&kbuild),
            &sources,
            &scratch.path().join("build"),
            "hello_target.ko",
        )
        .unwrap();
        assert!(std::fs::metadata(ko).unwrap().len() > 0);
    }

    #[test]
    fn sources_are_copied_without_build_outputs() {
        let from = tempfile::tempdir().unwrap();
        let stage = from.path().join("stage1-hello");
        let compat = from.path().join("compat");
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::create_dir_all(&compat).unwrap();
        for name in [
            "hello_target.c",
            "Kbuild",
            "hello_target.o",
            "hello_target.ko",
        ] {
            std::fs::write(stage.join(name), "").unwrap();
        }
        std::fs::write(stage.join(".hello_target.o.cmd"), "").unwrap();
        std::fs::write(stage.join("hello_target.mod.c"), "").unwrap();
        std::fs::write(stage.join("modules.order"), "").unwrap();
        std::fs::write(compat.join("dmw_compat.h"), "").unwrap();
        let to = tempfile::tempdir().unwrap();
        copy_sources(from.path(), to.path()).unwrap();
        let names = |dir: &Path| {
            let mut names: Vec<_> = std::fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            names.sort();
            names
        };
        assert_eq!(
            names(&to.path().join("stage1-hello")),
            ["Kbuild", "hello_target.c"]
        );
        assert_eq!(names(&to.path().join("compat")), ["dmw_compat.h"]);
    }
}
