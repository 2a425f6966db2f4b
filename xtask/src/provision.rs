//! `cargo xtask provision-check`: run the Vagrant box's provisioning script in
//! a fresh Debian 12 chroot and check that it installed what the chapters
//! need: the module builds against the installed headers, and the kernel
//! backend's build finds libdevmapper and libclang; a workshop copy builds
//! the same way, and the tools the workshop's checks call are installed.
//!
//! The chroot starts from a minimal Debian 12 (cached as a tarball in the
//! cache directory, so only the first run downloads it); the script's own
//! downloads are real each time, as on a new box. Rust itself is not
//! installed here (rustup needs the internet); the check runs the script with
//! `DMW_INSTALL_RUST=0`.

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail, ensure};

use crate::apt;

#[derive(clap::Args)]
pub struct ProvisionArgs {
    /// Keep the chroot afterwards (its path is printed).
    #[arg(long)]
    keep: bool,
}

const SUITE: &str = "bookworm";

pub fn run(args: ProvisionArgs) -> Result<ExitCode> {
    let top = crate::repo_root()?;
    let cache = crate::cache_dir()?.join("provision");
    std::fs::create_dir_all(&cache)?;
    let base = cache.join(format!("{SUITE}-minbase.tar"));
    if !base.exists() {
        make_base(&base)?;
    }
    let root = tempfile::Builder::new()
        .prefix("provision-")
        .tempdir_in(&cache)
        .context("making the chroot's directory")?;
    let root_path = root.path().to_path_buf();
    let result = check(&top, &base, &root_path);
    if args.keep {
        println!("chroot kept at {}", root_path.display());
        std::mem::forget(root);
    }
    match result {
        Ok(kernel_release) => {
            println!(
                "provision-check: pass (Debian 12, headers {kernel_release}: module and workshop copy built, \
                 devmapper and libclang found)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            println!("provision-check: FAIL: {err:#}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// A minimal Debian 12 from the host's own mirrors, as a tarball.
fn make_base(tarball: &Path) -> Result<()> {
    let sources = apt::host_sources()?;
    let lines: Vec<String> = sources
        .iter()
        .filter(|s| s.suite.starts_with(SUITE))
        .map(|s| format!("deb {} {} {}", s.uri, s.suite, s.components.join(" ")))
        .collect();
    ensure!(
        !lines.is_empty(),
        "the host's apt sources have no {SUITE} suite to build a chroot from"
    );
    println!("provision-check: building a minimal {SUITE} chroot (once; cached)");
    let partial = tarball.with_extension("tar.partial");
    let mut cmd = Command::new("mmdebstrap");
    cmd.args([
        "--variant=minbase",
        "--mode=root",
        "--format=tar",
        "--quiet",
        SUITE,
    ])
    .arg(&partial)
    .args(&lines);
    crate::run_checked(&mut cmd)?;
    std::fs::rename(&partial, tarball)?;
    Ok(())
}

/// Run a shell command inside the chroot, with /proc mounted in a private
/// mount namespace so nothing leaks onto the host.
fn in_chroot(root: &Path, script: &str) -> Result<String> {
    let wrapper = format!(
        "mount -t proc proc '{root}/proc' && exec chroot '{root}' /bin/sh -c \"$0\"",
        root = root.display()
    );
    let output = Command::new("unshare")
        .args(["--mount", "--fork", "sh", "-c", &wrapper, script])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .output()
        .context("running unshare")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!("in the chroot, `{script}` failed:\n{}", tail.join("\n"));
    }
    Ok(text)
}

fn check(top: &Path, base: &Path, root: &Path) -> Result<String> {
    crate::run_checked(Command::new("tar").arg("-xf").arg(base).arg("-C").arg(root))?;
    // The script and the module, as the box's synced folder would have them.
    let work = root.join("workbook");
    std::fs::create_dir_all(work.join("vagrant"))?;
    std::fs::copy(
        top.join("vagrant/provision.sh"),
        work.join("vagrant/provision.sh"),
    )?;
    crate::run_checked(
        Command::new("cp")
            .arg("-r")
            .arg(top.join("module"))
            .arg(&work),
    )?;
    // resolv.conf for apt inside the chroot.
    std::fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf")).ok();

    // A box runs the kernel its headers are for; here, take the release the
    // suite's linux-headers-amd64 points at.
    in_chroot(root, "apt-get update -q")?;
    let depends = in_chroot(root, "apt-cache depends linux-headers-amd64")?;
    let kernel_release = apt::headers_release(&depends)
        .context("linux-headers-amd64 names no linux-headers-<release> package")?;
    println!("provision-check: running vagrant/provision.sh for {kernel_release}");
    in_chroot(
        root,
        &format!(
            "DMW_KERNEL_RELEASE={kernel_release} DMW_INSTALL_RUST=0 \
             bash /workbook/vagrant/provision.sh"
        ),
    )?;

    println!("provision-check: building module/stage1-hello against the installed headers");
    in_chroot(
        root,
        &format!(
            "make -C /lib/modules/{kernel_release}/build M=/workbook/module/stage1-hello modules"
        ),
    )?;
    ensure!(
        root.join("workbook/module/stage1-hello/hello_target.ko")
            .exists(),
        "the module build made no hello_target.ko"
    );
    // What the kernel backend's build (devicemapper-sys: pkg-config + bindgen),
    // the chapters' real run and `cargo xtask bench --here` look for.
    in_chroot(root, "pkg-config --exists devmapper")?;
    in_chroot(root, "ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null")?;
    in_chroot(
        root,
        "command -v dmsetup && command -v losetup && command -v mkfs.ext4 && command -v insmod \
         && command -v fio && test -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    )?;

    // The workshop: a learner's copy of exercise 1, as `workshop start 1`
    // writes it (its Kbuild, the compat header beside it), builds against
    // the same headers, and the tools its check's harness calls are there.
    println!("provision-check: building a workshop copy (exercise 1's solution) the same way");
    let exercise = dm_workbook::workshop::Manifest::bundled()
        .exercise(1)
        .context("the workshop has no exercise 1")?;
    let copy = work.join("workshop").join(&exercise.dir);
    dm_workbook::workshop::learner::write_copy(
        top,
        exercise,
        &copy,
        dm_workbook::workshop::learner::Variant::Solution,
    )
    .map_err(anyhow::Error::msg)?;
    in_chroot(
        root,
        &format!(
            "make -C /lib/modules/{kernel_release}/build M=/workbook/workshop/{} modules",
            exercise.dir
        ),
    )?;
    let module = exercise.module.as_deref().unwrap_or_default();
    ensure!(
        copy.join(format!("{module}.ko")).exists(),
        "the workshop copy's build made no {module}.ko"
    );
    in_chroot(
        root,
        "for tool in blkdiscard cmp awk sudo dd sed grep tail cut; do \
         command -v $tool >/dev/null || { echo \"missing: $tool\"; exit 1; }; done",
    )?;
    Ok(kernel_release)
}
