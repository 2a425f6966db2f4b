//! The Rust toolchain of a line with `rust = true`, as data in the cache: a
//! chroot of the line's suites with the very `rustc` that built Debian's
//! kernel, `rust-src`, `bindgen`, libclang and the line's `linux-source`,
//! in which the kernel's Rust crates (`core`, `kernel`, `macros`, ...) are
//! built from that source with Debian's own `.config`.
//!
//! Debian's headers packages ship no Rust metadata. The kernel build passes
//! no `-Cmetadata`, so the hashes in the kernel crate's symbol names depend
//! only on the crate names and the compiler's version string: the same
//! `rustc` over the same source gives the symbols Debian's `vmlinux` exports.
//! The generated `rust/*.rmeta`, `rust/lib*.so` and `scripts/target.json`
//! are copied into the chroot's headers tree, where `make M=...` then builds
//! Rust modules like C ones; beside them, `rust/bindgen-cflags` keeps the
//! compiler flags the kernel's build gave bindgen, for a module's own
//! bindings (the unpacked source stays in the chroot for those paths).
//!
//! Layout: `<cache>/chroots/<line>-rust/` and `<cache>/chroots/<line>-rust.ready`
//! (the kernel release, once all of it is there). Anything missing is made
//! again.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, ensure};

use super::kit::download::mirror_for;
use super::lines::KernelLine;
use super::progress::Progress;
use crate::{apt, run_checked};

/// What the headers tree lacks for Rust modules, relative to it: made by
/// `make prepare` in the source tree.
const ARTEFACTS: [&str; 4] = [
    "rust/libmacros.so",
    "rust/libkernel.rmeta",
    "scripts/target.json",
    "rust/bindgen-cflags",
];

/// The chroot (made, or found when cached) in which `line`'s Rust modules
/// are built against `release`'s headers.
pub fn ensure(
    line: &KernelLine,
    release: &str,
    cache: &Path,
    progress: &Progress,
) -> Result<PathBuf> {
    ensure!(
        line.rust,
        "Linux {} is not built with CONFIG_RUST: no Rust modules for it",
        line.name
    );
    let chroots = cache.join("chroots");
    let dir = chroots.join(format!("{}-rust", line.name));
    let ready = chroots.join(format!("{}-rust.ready", line.name));
    let stamp = format!("{release}\n");
    let headers = format!("usr/src/linux-headers-{release}");
    let complete = ARTEFACTS
        .iter()
        .all(|a| dir.join(&headers).join(a).exists());
    if fs::read_to_string(&ready).is_ok_and(|s| s == stamp) && complete {
        return Ok(dir);
    }
    let _ = fs::remove_file(&ready);
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir_all(&chroots)?;
    let suites = line
        .chroot_suites()
        .with_context(|| format!("Linux {} names no chroot suite", line.name))?;

    let started = Instant::now();
    let step = progress.step(format!(
        "{}: making a {} chroot with the kernel's Rust toolchain",
        line.name, suites[0]
    ));
    let sources = apt::host_sources()?;
    let mut mirrors = Vec::new();
    for suite in &suites {
        let uri = mirror_for(&sources, suite)
            .with_context(|| format!("no Debian mirror in the host's apt sources for {suite}"))?;
        mirrors.push(format!("deb {uri} {suite} main"));
    }
    run_checked(
        Command::new("mmdebstrap")
            .args(["--mode=root", "--variant=apt", "--quiet"])
            .arg("--aptopt=Acquire::Check-Valid-Until \"false\"")
            .arg(format!("--include={}", packages(line, release).join(",")))
            .arg(suites[0])
            .arg(&dir)
            .args(&mirrors),
    )?;
    let chroot_seconds = started.elapsed().as_secs();
    step.done_with(format!("{chroot_seconds} s"));

    // The compiler must print exactly what built the kernel: another
    // version string gives other symbol hashes.
    let config = fs::read_to_string(dir.join(&headers).join(".config"))
        .context("reading the headers' .config")?;
    let wanted = config_value(&config, "CONFIG_RUSTC_VERSION_TEXT")
        .context("the kernel's .config names no CONFIG_RUSTC_VERSION_TEXT")?;
    let found = chroot_output(&dir, "rustc --version")?;
    ensure!(
        found.trim() == wanted,
        "Linux {} was built by {wanted}, but the {} chroot has {}",
        line.name,
        suites[0],
        found.trim()
    );

    let started = Instant::now();
    let step = progress.step(format!(
        "{}: building the kernel's Rust crates from linux-source-{}",
        line.name, line.name
    ));
    run_checked(&mut in_chroot(&dir, &prepare_script(line, release)))?;
    step.done_with(format!("{} s", started.elapsed().as_secs()));
    fs::write(&ready, stamp)?;
    Ok(dir)
}

/// What the chroot installs: the compiler pair, what `make prepare` needs,
/// the source and the headers of the line's kernel.
fn packages(line: &KernelLine, release: &str) -> Vec<String> {
    let fixed = [
        "rustc",
        "rust-src",
        "bindgen",
        "libclang-dev",
        "clang",
        "make",
        "bc",
        "flex",
        "bison",
        "libelf-dev",
        "libssl-dev",
        "python3",
        "kmod",
        "pahole",
        "xz-utils",
    ];
    (fixed.iter().map(|p| p.to_string()))
        .chain([
            line.compiler.clone(),
            format!("linux-source-{}", line.name),
            format!("linux-headers-{release}"),
        ])
        .collect()
}

/// The shell script run in the chroot: unpack the source, configure it as
/// Debian did, build the Rust crates and copy them into the headers tree.
fn prepare_script(line: &KernelLine, release: &str) -> String {
    let (version, cc) = (&line.name, &line.compiler);
    format!(
        r#"set -e
cd /usr/src
rm -rf linux-rust
mkdir linux-rust
tar -xaf linux-source-{version}.tar.xz -C linux-rust --strip-components=1
cd linux-rust
headers=/usr/src/linux-headers-{release}
cp "$headers/.config" .config
cp "$headers/Module.symvers" Module.symvers
make -s -j"$(nproc)" CC={cc} HOSTCC={cc} KERNELRELEASE={release} \
    olddefconfig rustavailable prepare modules_prepare
mkdir -p "$headers/rust"
cp rust/*.rmeta rust/lib*.so "$headers/rust/"
cp scripts/target.json "$headers/scripts/"
# The compiler flags this build gave bindgen for the kernel crate's
# bindings, for modules' own bindings: the flags after `--` in its command,
# without the dependency file and the object's name, with absolute paths.
head -n 1 rust/bindings/.bindings_generated.rs.cmd |
    sed -e 's/^.* -- //' -e 's/ *; sed .*$//' -e 's/-Wp,-MMD,[^ ]* //' \
        -e 's/-D_*KBUILD_[A-Z]*=[^ ]* //g' \
        -e 's#-I\./#-I/usr/src/linux-rust/#g' \
        -e 's#-include \./#-include /usr/src/linux-rust/#g' \
        >"$headers/rust/bindgen-cflags"
"#
    )
}

/// `sh -c SCRIPT` in the chroot, with its own `/proc` (objtool reads it) in
/// a private mount namespace, so nothing leaks to the host's mounts.
fn in_chroot(chroot: &Path, script: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "sh", "-c"])
        .arg("mount -t proc proc \"$0/proc\" && exec chroot \"$0\" sh -c \"$1\"")
        .arg(chroot)
        .arg(script);
    cmd
}

/// What `script` prints in the chroot.
fn chroot_output(chroot: &Path, script: &str) -> Result<String> {
    let output = in_chroot(chroot, script)
        .output()
        .with_context(|| format!("running {script} in {}", chroot.display()))?;
    ensure!(
        output.status.success(),
        "{script} failed in {}: {}",
        chroot.display(),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What another compiler makes of a Rust module built for a kernel: the
/// command the kernel's build ran for `object` in `built` (a successful
/// build in the chroot `chroot`, against `release`'s headers), run again
/// with the `rustc` of the chroot `other`, where those headers and that
/// build folder are mounted at their own paths. Returns that compiler's
/// version and what it printed; it must fail.
pub fn build_with_other_rustc(
    chroot: &Path,
    other: &Path,
    release: &str,
    built: &Path,
    object: &str,
) -> Result<(String, String)> {
    let cmd_file = built.join(format!(".{object}.cmd"));
    let saved =
        fs::read_to_string(&cmd_file).with_context(|| format!("reading {}", cmd_file.display()))?;
    let prefix = format!("savedcmd_{object} := ");
    let command = (saved.lines().next())
        .and_then(|l| l.strip_prefix(&prefix))
        .with_context(|| format!("{} holds no command", cmd_file.display()))?;
    let inside = Path::new("/").join(
        built
            .strip_prefix(chroot)
            .context("the build folder is not in its chroot")?,
    );
    // The kernel's Makefile exports RUSTC_BOOTSTRAP=1 (its -Z options need
    // it); the saved command does not say so.
    let command = format!("RUSTC_BOOTSTRAP=1 {command}");
    let headers = format!("/usr/src/linux-headers-{release}");
    let version = chroot_output(other, "rustc --version")?;
    // The mount points are made in `other` once and left there, empty.
    let script = r#"set -e
mkdir -p "$1$3" "$1$4"
mount --bind "$0$3" "$1$3"
mount --bind "$0$4" "$1$4"
mount -t proc proc "$1/proc"
exec chroot "$1" sh -c "cd "$4" && $2""#;
    let output = Command::new("unshare")
        .args(["--mount", "sh", "-c", script])
        .arg(chroot)
        .arg(other)
        .arg(&command)
        .arg(&headers)
        .arg(&inside)
        .output()
        .context("running rustc in the other chroot")?;
    ensure!(
        !output.status.success(),
        "{} built {object} for {release}: the compilers were expected to disagree",
        version.trim()
    );
    let text = String::from_utf8_lossy(&output.stderr).into_owned()
        + &String::from_utf8_lossy(&output.stdout);
    Ok((version.trim().to_string(), text))
}

/// Whether the module folder `dir` has Rust sources: such a module builds
/// in the line's Rust chroot.
pub fn holds_rust(dir: &Path) -> Result<bool> {
    for entry in fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        if entry?.path().extension().is_some_and(|e| e == "rs") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// A string option's value in a kernel `.config`, without its quotes.
pub fn config_value(config: &str, name: &str) -> Option<String> {
    config.lines().find_map(|l| {
        let value = l.strip_prefix(name)?.strip_prefix('=')?;
        Some(value.trim_matches('"').to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prepare_script_uses_the_lines_compiler_and_keeps_bindgens_flags() {
        let line = dm_workbook::manifest::Manifest::bundled()
            .line("7.2")
            .unwrap();
        let script = prepare_script(line, "7.2.13+deb14-amd64");
        assert!(script.contains("tar -xaf linux-source-7.2.tar.xz"));
        assert!(script.contains("CC=gcc-16 HOSTCC=gcc-16 KERNELRELEASE=7.2.13+deb14-amd64"));
        assert!(script.contains("headers=/usr/src/linux-headers-7.2.13+deb14-amd64\n"));
        assert!(script.contains(r#"-e 's#-I\./#-I/usr/src/linux-rust/#g'"#));
        assert!(script.ends_with(">\"$headers/rust/bindgen-cflags\"\n"));
        assert!(packages(line, "7.2.13+deb14-amd64").contains(&"linux-source-7.2".to_string()));
    }

    #[test]
    fn reads_a_string_option() {
        let config = "CONFIG_RUST=y\nCONFIG_RUSTC_VERSION_TEXT=\"rustc 1.97.1 (abc 2026-01-01) (Debian)\"\n\
                      CONFIG_RUSTC_VERSION=109701\n";
        assert_eq!(
            config_value(config, "CONFIG_RUSTC_VERSION_TEXT").as_deref(),
            Some("rustc 1.97.1 (abc 2026-01-01) (Debian)")
        );
        assert_eq!(
            config_value(config, "CONFIG_RUSTC_VERSION").as_deref(),
            Some("109701")
        );
        assert_eq!(config_value(config, "CONFIG_BINDGEN"), None);
    }
}
