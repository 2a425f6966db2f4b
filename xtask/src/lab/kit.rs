//! A kernel line's boot kit: its image and headers downloaded from the
//! host's own mirror with a private apt configuration, unpacked under the
//! cache, and a way to build an out-of-tree module against them.
//!
//! Layout under `<cache>/lines/<line>/`: `apt/` (sources, lists, archives),
//! `debs/`, `root/` (the unpacked packages), `release` (the ABI name, such as
//! `6.1.0-28-amd64`) and `ready` (the suites) once all of it is there. Chroots live in
//! `<cache>/chroots/<line>/`. Anything missing is made again.

pub(crate) mod download;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use dm_workbook::drift::Release;

use super::lines::KernelLine;
use super::progress::Progress;
use crate::module_files::copy_module_sources;

/// A line's unpacked kernel, ready to boot and to build modules against.
pub struct Kit {
    pub line: &'static KernelLine,
    pub release: String,
    /// The unpacked image (and, for host builds, headers).
    pub root: PathBuf,
    /// The chroot modules are built in, for lines that need one.
    pub chroot: Option<PathBuf>,
}

impl Kit {
    /// The kernel to boot: `/boot/vmlinuz-RELEASE` up to 6.12; 7.x packages
    /// put it beside the modules as `/usr/lib/modules/RELEASE/vmlinuz`.
    pub fn vmlinuz(&self) -> PathBuf {
        let boot = self.root.join(format!("boot/vmlinuz-{}", self.release));
        let beside_modules = self
            .root
            .join(format!("usr/lib/modules/{}/vmlinuz", self.release));
        if boot.exists() || !beside_modules.exists() {
            boot
        } else {
            beside_modules
        }
    }

    /// The kernel build folder to pass as `make -C DIR M=...` on this
    /// machine: the unpacked headers. Lines built in a chroot have none.
    pub fn host_kbuild_dir(&self) -> Result<PathBuf> {
        ensure!(
            self.chroot.is_none(),
            "Linux {}'s modules are built in a chroot ({}): its headers need that chroot's compiler",
            self.line.name,
            self.chroot.as_deref().unwrap_or(Path::new("")).display()
        );
        Ok(self
            .root
            .join(format!("usr/src/linux-headers-{}", self.release)))
    }

    /// This kit with its build chroot swapped for the line's Rust chroot
    /// ([`super::rust_kit`]), made if missing: where Rust modules build.
    pub fn with_rust(self, cache: &Path, progress: &Progress) -> Result<Kit> {
        let chroot = super::rust_kit::ensure(self.line, &self.release, cache, progress)?;
        Ok(Kit {
            chroot: Some(chroot),
            ..self
        })
    }

    /// `modprobe -d ROOT -S RELEASE --show-depends --all NAMES`: the module files
    /// to insmod, dependencies first.
    pub fn module_order(&self, names: &[&str]) -> Result<Vec<PathBuf>> {
        let output = Command::new("modprobe")
            .arg("-d")
            .arg(&self.root)
            .args(["-S", &self.release, "--show-depends", "--all"])
            .args(names)
            .output()
            .context("running modprobe --show-depends")?;
        ensure!(
            output.status.success(),
            "modprobe --show-depends {names:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        Ok(parse_show_depends(&String::from_utf8_lossy(&output.stdout)))
    }

    /// Build the out-of-tree module in `dir` for this kernel; returns the
    /// `.ko` files it made and the compiler's warnings.
    pub fn build_module(&self, dir: &Path, compat: &Path, work: &Path) -> Result<Built> {
        let made = self.make_module(dir, compat, work)?;
        let (name, log) = (made.name, made.log);
        if !made.success {
            bail!(
                "building {name} for {} failed:\n{}",
                self.release,
                log.trim()
            );
        }
        let mut kos = Vec::new();
        for entry in fs::read_dir(&made.dir)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "ko") {
                kos.push(path);
            }
        }
        kos.sort();
        ensure!(!kos.is_empty(), "building {name} made no .ko file");
        let warnings = log
            .lines()
            .filter(|l| l.contains("warning:") || l.starts_with("WARNING:"))
            .map(str::to_string)
            .collect();
        Ok(Built { kos, warnings })
    }

    /// Run `make modules` for the module in `dir` (copied, with the compat
    /// header beside it, under `work` or the chroot), whether or not it
    /// builds: the matrix reads the log of stages that must fail.
    pub fn make_module(&self, dir: &Path, compat: &Path, work: &Path) -> Result<MakeRun> {
        self.make_module_with(dir, compat, work, &[])
    }

    /// `make_module` with more arguments for make, such as `-k` to build
    /// every object of a folder of unrelated targets even when one fails.
    pub fn make_module_with(
        &self,
        dir: &Path,
        compat: &Path,
        work: &Path,
        extra: &[&str],
    ) -> Result<MakeRun> {
        let name = dir
            .file_name()
            .context("the module folder has no name")?
            .to_string_lossy()
            .into_owned();
        // Build in a copy so the learner's folder stays clean; the compat
        // header sits beside it as it does in the repository.
        let (build_root, inside) = match &self.chroot {
            None => (work.to_path_buf(), work.to_path_buf()),
            Some(chroot) => (chroot.join("build"), PathBuf::from("/build")),
        };
        if build_root.exists() {
            fs::remove_dir_all(&build_root)?;
        }
        fs::create_dir_all(&build_root)?;
        copy_module_sources(dir, &build_root.join(&name))?;
        copy_module_sources(compat, &build_root.join("compat"))?;
        let headers = format!("/usr/src/linux-headers-{}", self.release);
        let (probes_cache, probes_cache_seen) = self.probes_cache();
        fs::create_dir_all(&probes_cache)?;
        let make_args = |kdir: &str, m: &Path| {
            vec![
                "-C".to_string(),
                kdir.to_string(),
                format!("M={}", m.display()),
                format!("CC={}", self.line.compiler),
                // A stage's feature probes run once per kernel and compiler
                // (module/compat/dmw_probes.sh), not once per build.
                format!("DMW_PROBES_CACHE={}", probes_cache_seen.display()),
            ]
            .into_iter()
            .chain(extra.iter().map(|a| a.to_string()))
            .chain(["modules".to_string()])
            .collect::<Vec<_>>()
        };
        let output = match &self.chroot {
            None => {
                let kdir = self.root.join(headers.trim_start_matches('/'));
                Command::new("make")
                    .args(make_args(&kdir.to_string_lossy(), &build_root.join(&name)))
                    .output()
            }
            Some(chroot) => {
                // objtool (7.x) reads /proc: mount it in a private namespace
                // so nothing leaks to the host's mounts.
                let make = make_args(&headers, &inside.join(&name)).join(" ");
                Command::new("unshare")
                    .args(["--mount", "sh", "-c"])
                    .arg(format!(
                        "mount -t proc proc \"$0/proc\" && exec chroot \"$0\" make {make}"
                    ))
                    .arg(chroot)
                    .output()
            }
        }
        .context("running make")?;
        let log = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        Ok(MakeRun {
            dir: build_root.join(&name),
            name,
            success: output.status.success(),
            log,
        })
    }
}

impl Kit {
    /// Where the verdicts of the stages' feature probes are kept between
    /// builds for this line: the folder, and the same folder as `make`
    /// sees it (inside the chroot, for lines built in one).
    pub fn probes_cache(&self) -> (PathBuf, PathBuf) {
        match &self.chroot {
            None => {
                let dir = (self.root.parent())
                    .unwrap_or(&self.root)
                    .join("probes-cache");
                (dir.clone(), dir)
            }
            Some(chroot) => {
                let inside = PathBuf::from("/var/cache/dmw-probes");
                (chroot.join("var/cache/dmw-probes"), inside)
            }
        }
    }

    /// Run the feature probes of `compat` (module/compat/probes) against
    /// this kernel as a stage's build does, afresh: the kbuild fragment
    /// alone, in a folder of its own. Returns each probe's verdict by
    /// entry id, and what its compiler said.
    pub fn probe(&self, compat: &Path, work: &Path) -> Result<Probed> {
        let (cache, _) = self.probes_cache();
        if cache.exists() {
            fs::remove_dir_all(&cache)?;
        }
        let source = work.join("probe-source").join("dmw-probes");
        fs::create_dir_all(&source)?;
        fs::write(
            source.join("Kbuild"),
            "# The feature probes alone (written by cargo xtask matrix).\n\
             include $(src)/../compat/dmw_probes.kbuild\n",
        )?;
        let made = self.make_module(&source, compat, &work.join("probe-build"))?;
        ensure!(
            made.success,
            "the feature probes failed to run for {}:\n{}",
            self.release,
            made.log.trim()
        );
        let header = fs::read_to_string(made.dir.join("dmw_probes.h"))
            .context("the probes wrote no dmw_probes.h")?;
        let log = fs::read_to_string(made.dir.join("dmw_probes.log")).unwrap_or_default();
        Ok(Probed {
            verdicts: parse_probes_header(&header)?,
            log,
        })
    }

    /// The release the kit's headers are: LINUX_VERSION_CODE of their
    /// version.h, whose sublevel byte stops at 255 (5.10.262 reads as
    /// 5.10.255).
    pub fn headers_release(&self) -> Result<Release> {
        let src = self.root.join("usr/src");
        for entry in fs::read_dir(&src)?.flatten() {
            let path = entry.path().join("include/generated/uapi/linux/version.h");
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let code: u32 = (text.lines())
                .find_map(|l| l.strip_prefix("#define LINUX_VERSION_CODE "))
                .and_then(|v| v.trim().parse().ok())
                .with_context(|| format!("no LINUX_VERSION_CODE in {}", path.display()))?;
            return Ok(release_of_code(code));
        }
        bail!("no headers with a version.h under {}", src.display())
    }
}

/// `LINUX_VERSION_CODE` as a release: 393664 is 6.1.192.
pub fn release_of_code(code: u32) -> Release {
    Release::new(code >> 16, (code >> 8) & 0xff, code & 0xff)
}

/// The feature probes' verdicts on one kernel.
pub struct Probed {
    /// Drift entry id (the probe's file name) -> whether it compiled.
    pub verdicts: BTreeMap<String, bool>,
    /// What each probe's compiler said (dmw_probes.log).
    pub log: String,
}

/// `#define DMW_HAVE_DM_IO_IOPRIO 1` lines, by the probe's entry id
/// (`dm-io-ioprio`).
pub fn parse_probes_header(text: &str) -> Result<BTreeMap<String, bool>> {
    let mut verdicts = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some("#define"), Some(name), Some(value)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        let Some(id) = name.strip_prefix("DMW_HAVE_") else {
            continue;
        };
        let have = match value {
            "1" => true,
            "0" => false,
            other => bail!("{name} is {other}, not 0 or 1"),
        };
        verdicts.insert(id.to_lowercase().replace('_', "-"), have);
    }
    ensure!(!verdicts.is_empty(), "no DMW_HAVE_ line in dmw_probes.h");
    Ok(verdicts)
}

/// One `make modules` run, built or not.
pub struct MakeRun {
    /// The module folder's name.
    pub name: String,
    /// Where it was built (on the host; inside the chroot's tree for chroot lines).
    pub dir: PathBuf,
    pub success: bool,
    /// make's output and errors.
    pub log: String,
}

/// What a module build made.
pub struct Built {
    pub kos: Vec<PathBuf>,
    pub warnings: Vec<String>,
}

/// Make (or find, when cached) the kit of `line` under `cache`.
pub fn prepare(line: &'static KernelLine, cache: &Path, progress: &Progress) -> Result<Kit> {
    let dir = cache.join("lines").join(&line.name);
    // The stamp names the suites, so a changed line is downloaded again.
    let ready = dir.join("ready");
    let stamp = format!("{}\n", line.suites.join(" "));
    let cached = fs::read_to_string(&ready)
        .is_ok_and(|s| s == stamp)
        .then(|| fs::read_to_string(dir.join("release")).ok())
        .flatten()
        .map(|release| Kit {
            line,
            release: release.trim().to_string(),
            root: dir.join("root"),
            chroot: None,
        })
        // A kit whose files went missing is made again.
        .filter(|kit| kit.vmlinuz().exists() && kit.root.join("lib/modules").is_dir());
    let kit = match cached {
        Some(kit) => kit,
        None => {
            let kit = download::download(line, &dir, progress)?;
            fs::write(&ready, stamp)?;
            kit
        }
    };
    let chroot = match line.chroot_suites() {
        None => None,
        Some(suites) => Some(download::ensure_chroot(
            line,
            &kit.release,
            &suites,
            cache,
            progress,
        )?),
    };
    Ok(Kit { chroot, ..kit })
}

/// The lock on one line's cache: a lab run and the matrix share the line's
/// kit, build folders and initrd, so one of them works on a line at a time.
/// Held until the returned file is dropped.
pub fn lock_line(cache: &Path, line: &str, progress: &Progress) -> Result<fs::File> {
    let lines = cache.join("lines");
    fs::create_dir_all(&lines)?;
    let lock = fs::File::create(lines.join(format!("{line}.lock")))?;
    if lock.try_lock().is_err() {
        let step = progress.step(format!("{line}: waiting for another lab on this line"));
        lock.lock()?;
        step.done();
    }
    Ok(lock)
}

/// Debian's `linux-headers-<release>/Makefile` includes the `-common`
/// headers by absolute path; unpacked elsewhere, point it at the copy.
pub(super) fn point_headers_at_common(root: &Path, release: &str) -> Result<()> {
    let makefile = root.join(format!("usr/src/linux-headers-{release}/Makefile"));
    let text =
        fs::read_to_string(&makefile).with_context(|| format!("reading {}", makefile.display()))?;
    let src = root.join("usr/src");
    let fixed = text.replace("/usr/src/", &format!("{}/", src.display()));
    fs::write(&makefile, fixed)?;
    Ok(())
}

/// The module files in `modprobe --show-depends` output, in order
/// (`builtin` lines name modules compiled into the kernel: nothing to load).
pub fn parse_show_depends(text: &str) -> Vec<PathBuf> {
    let mut seen = BTreeSet::new();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("insmod "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|path| seen.insert(path.to_string()))
        .map(PathBuf::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_probes_verdicts_by_entry() {
        let text = "/* Made by ... */\n#define DMW_HAVE_DM_IO_IOPRIO 1\n#define DMW_HAVE_STATUSTYPE_IMA 0\n";
        let verdicts = parse_probes_header(text).unwrap();
        assert_eq!(verdicts.get("dm-io-ioprio"), Some(&true));
        assert_eq!(verdicts.get("statustype-ima"), Some(&false));
        assert!(parse_probes_header("#define DMW_HAVE_X 2\n").is_err());
        assert!(parse_probes_header("/* nothing */\n").is_err());
    }

    #[test]
    fn a_version_code_is_a_release_with_its_sublevel() {
        assert_eq!(release_of_code(393664), Release::new(6, 1, 192));
        // The sublevel byte stops at 255: 5.10.262 reads as 5.10.255.
        assert_eq!(release_of_code(330495), Release::new(5, 10, 255));
    }

    #[test]
    fn reads_the_insmod_order() {
        let text = "insmod /k/lib/modules/6.1.0-28-amd64/kernel/lib/crc16.ko \n\
                    insmod /k/lib/modules/6.1.0-28-amd64/kernel/fs/ext4/ext4.ko \n\
                    builtin dm_mod\n\
                    insmod /k/lib/modules/6.1.0-28-amd64/kernel/lib/crc16.ko \n";
        assert_eq!(
            parse_show_depends(text),
            [
                PathBuf::from("/k/lib/modules/6.1.0-28-amd64/kernel/lib/crc16.ko"),
                PathBuf::from("/k/lib/modules/6.1.0-28-amd64/kernel/fs/ext4/ext4.ko"),
            ]
        );
    }
}
