//! What goes into one boot's initramfs: busybox and the tools the scenarios
//! call, the kernel's own modules, the module under test, the scenario.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use super::LineRun;
use super::guest::{self, Scenario};
use super::initramfs::{self, Content, Initramfs};
use super::kit::Kit;

/// The batteries' shared shell helpers, in the repository.
pub(crate) const SCRIPT_LIB: &str = "module/tests/lib.sh";

/// The kernel's own modules the guest loads, by name, before the module
/// under test; modprobe adds what they depend on.
const KERNEL_MODULES: [&str; 3] = ["loop", "dm-mod", "ext4"];

/// The kernel's own modules a scenario needs: the guest has no modprobe, so
/// what a chapter's tables would have loaded on demand is loaded at boot.
fn kernel_modules(scenario: &Scenario) -> Vec<&'static str> {
    let mut names = KERNEL_MODULES.to_vec();
    if let Scenario::Chapter(chapter) = scenario {
        names.extend(chapter.kernel_modules);
    }
    names
}

impl LineRun<'_> {
    pub(super) fn initramfs(
        &self,
        kit: &Kit,
        kos: &[PathBuf],
        ko_names: &[String],
    ) -> Result<Initramfs> {
        let mut fs = Initramfs::default();
        for dir in ["proc", "sys", "dev", "tmp", "mnt", "root", "etc"] {
            fs.dir(dir);
        }
        fs.char_device("/dev/console", 5, 1);
        fs.file(
            "/init",
            Content::Bytes(
                guest::init_script_with(self.scenario, ko_names, self.udev).into_bytes(),
            ),
            0o755,
        );
        // busybox-static: one file, every applet a link to it.
        fs.file("/bin/busybox", Content::Host("/bin/busybox".into()), 0o755);
        for applet in busybox_applets()? {
            if applet != "busybox" {
                fs.symlink(&format!("/bin/{applet}"), "busybox");
            }
        }
        fs.program(Path::new("/usr/sbin/dmsetup"), "/usr/sbin/dmsetup")?;
        // busybox has a mke2fs without -t: the real one goes first on PATH.
        fs.program(Path::new("/usr/sbin/mke2fs"), "/sbin/mke2fs")?;
        fs.symlink("/sbin/mkfs.ext4", "mke2fs");
        // What a file system's owner reaches for after an I/O error: fsck,
        // and debugfs to find which blocks hold a file (e2fsprogs, as mke2fs).
        fs.program(Path::new("/usr/sbin/e2fsck"), "/sbin/e2fsck")?;
        fs.symlink("/sbin/fsck.ext4", "e2fsck");
        fs.program(Path::new("/usr/sbin/debugfs"), "/sbin/debugfs")?;
        if Path::new("/etc/mke2fs.conf").exists() {
            fs.file(
                "/etc/mke2fs.conf",
                Content::Host("/etc/mke2fs.conf".into()),
                0o644,
            );
        }

        if self.udev {
            add_udev(&mut fs)?;
        }

        let mut list = String::new();
        for module in kit.module_order(&kernel_modules(self.scenario))? {
            let file = initramfs::module_file_name(&module);
            let bytes = initramfs::module_bytes(&module)?;
            fs.file(
                &format!("/lab/modules/{file}"),
                Content::Bytes(bytes),
                0o644,
            );
            list += &file;
            list.push('\n');
        }
        fs.file(
            guest::MODULES_LIST,
            Content::Bytes(list.into_bytes()),
            0o644,
        );
        for (ko, name) in kos.iter().zip(ko_names) {
            fs.file(
                &format!("{}/{name}", guest::STAGE_DIR),
                Content::Host(ko.clone()),
                0o644,
            );
        }
        fs.file(guest::SCRIPT, Content::Bytes(self.script.to_vec()), 0o755);
        fs.file(
            guest::SCRIPT_LIB,
            Content::Host(self.repo.join(SCRIPT_LIB)),
            0o644,
        );
        match (self.chapter_bin, self.scenario) {
            (Some(bin), Scenario::Chapter(run)) => fs.file(
                &guest::chapter_binary(run.number),
                Content::Host(bin.into()),
                0o755,
            ),
            (Some(bin), Scenario::BackendTests) => {
                fs.file(guest::BACKEND_TESTS, Content::Host(bin.into()), 0o755)
            }
            _ => {}
        }
        Ok(fs)
    }
}

/// The udev rules the guest runs with (`--udev`): the defaults for block
/// devices, and device-mapper's own (from Debian's dmsetup package), which
/// confirm each cookie (`95-dm-notify.rules`) and name `/dev/mapper/NAME`.
const UDEV_RULES: [&str; 5] = [
    "50-udev-default.rules",
    "55-dm.rules",
    "60-block.rules",
    "60-persistent-storage-dm.rules",
    "95-dm-notify.rules",
];

/// This machine's `systemd-udevd` (one program with `udevadm`), its
/// libraries, the rules, and what they call: `/sbin/dmsetup`, and the
/// groups they name.
fn add_udev(fs: &mut Initramfs) -> Result<()> {
    let udevadm = ["/usr/bin/udevadm", "/bin/udevadm"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.exists())
        .context("no udevadm on this machine: install udev (apt-get install udev) for --udev")?;
    fs.program(udevadm, "/bin/udevadm")?;
    fs.symlink("/lib/systemd/systemd-udevd", "/bin/udevadm");
    fs.symlink("/sbin/dmsetup", "/usr/sbin/dmsetup");
    for rule in UDEV_RULES {
        let host = ["/usr/lib/udev/rules.d", "/lib/udev/rules.d"]
            .into_iter()
            .map(|dir| Path::new(dir).join(rule))
            .find(|p| p.exists())
            .with_context(|| {
                format!("no udev rule {rule} on this machine (dmsetup and udev install them)")
            })?;
        fs.file(
            &format!("/usr/lib/udev/rules.d/{rule}"),
            Content::Host(host),
            0o644,
        );
    }
    fs.file(
        "/etc/group",
        Content::Bytes(b"root:x:0:\ndisk:x:6:\n".to_vec()),
        0o644,
    );
    fs.file(
        "/etc/passwd",
        Content::Bytes(b"root:x:0:0:root:/root:/bin/sh\n".to_vec()),
        0o644,
    );
    Ok(())
}

/// The applets the host's busybox has (`busybox --list`).
fn busybox_applets() -> Result<Vec<String>> {
    let output = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .context("running /bin/busybox --list (is busybox-static installed?)")?;
    ensure!(output.status.success(), "busybox --list failed");
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chapter_gets_the_modules_its_tables_would_load_on_demand() {
        let two = dm_workbook::cli::chapter(2).unwrap();
        assert_eq!(
            kernel_modules(&Scenario::Chapter(two)),
            ["loop", "dm-mod", "ext4", "dm-zero"]
        );
        let three = dm_workbook::cli::chapter(3).unwrap();
        assert_eq!(kernel_modules(&Scenario::Chapter(three)), KERNEL_MODULES);
        assert_eq!(kernel_modules(&Scenario::Script), KERNEL_MODULES);
    }

    /// How a battery finds the shared helpers: beside it, as the lab puts
    /// them in the guest, else from its stage's tests/ folder in a checkout.
    const SOURCE_LIB: &str = "here=$(dirname \"$0\")\n\
        if [ -f \"$here/lib.sh\" ]; then . \"$here/lib.sh\"; else . \"$here/../../tests/lib.sh\"; fi\n";

    #[test]
    fn every_battery_finds_the_shared_helpers_in_a_checkout() {
        let repo = crate::repo_root().unwrap();
        let mut sourcing = 0;
        for stage in std::fs::read_dir(repo.join("module")).unwrap() {
            let tests = stage.unwrap().path().join("tests");
            let Ok(scripts) = std::fs::read_dir(&tests) else {
                continue;
            };
            for script in scripts {
                let script = script.unwrap().path();
                let text = std::fs::read_to_string(&script).unwrap_or_default();
                if text.contains("tests/lib.sh") {
                    assert!(text.contains(SOURCE_LIB), "{}", script.display());
                    assert!(tests.join("../../tests/lib.sh").is_file());
                    sourcing += 1;
                }
            }
        }
        assert!(sourcing >= 4, "the four batteries source the helpers");
        assert!(repo.join(SCRIPT_LIB).is_file());
    }

    #[test]
    fn the_shared_helpers_count_problems_and_decide_the_exit_status() {
        let repo = crate::repo_root().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(repo.join(SCRIPT_LIB), dir.path().join("lib.sh")).unwrap();
        let run = |body: &str| {
            let script = dir.path().join("script.sh");
            std::fs::write(&script, format!("{SOURCE_LIB}{body}")).unwrap();
            let out = std::process::Command::new("sh")
                .arg(&script)
                .output()
                .unwrap();
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        };
        assert_eq!(run("finish \"all well\"\n"), (Some(0), "all well\n".into()));
        assert_eq!(
            run("problem one\nproblem two\nfinish \"all well\"\n"),
            (Some(1), "PROBLEM: one\nPROBLEM: two\n2 problem(s)\n".into())
        );
    }
}
