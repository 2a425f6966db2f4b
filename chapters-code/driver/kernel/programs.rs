//! Programs run on a mapped device (`mkfs.ext4`) and file systems mounted
//! from it: chapter 3's format step, which only a real kernel can take.

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::driver::{BackendError, Result};

/// Folders searched for programs besides `$PATH` (a user's `$PATH` often lacks
/// the `sbin` ones, where `mkfs.ext4` lives).
const SBIN_DIRS: [&str; 4] = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/bin"];

/// Run `program` with `args` on `device`, as a shell would, and return what it
/// printed.
pub(super) fn run(program: &str, args: &[&str], device: &Path) -> Result<String> {
    let command_line = format!("{program} {} {}", args.join(" "), device.display());
    let (executable, extra_args) = find_program(program).ok_or_else(|| {
        BackendError::io(
            format!("running {command_line}"),
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "`{program}` is not installed (searched $PATH and {}){}",
                    SBIN_DIRS.join(", "),
                    install_hint(program)
                ),
            ),
        )
    })?;
    let output = Command::new(&executable)
        .args(&extra_args)
        .args(args)
        .arg(device)
        .output()
        .map_err(|e| BackendError::io(format!("running {}", executable.display()), e))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if !output.status.success() {
        let last = text.lines().rev().find(|l| !l.trim().is_empty());
        return Err(BackendError::io(
            format!("{command_line} failed ({})", output.status),
            io::Error::other(last.unwrap_or("no output").trim().to_string()),
        ));
    }
    Ok(text.trim_end().to_string())
}

/// `mount DEVICE DIR` with the file system type probed, as `mount(8)` does
/// without `-t`.
pub(super) fn mount(device: &Path, dir: &Path) -> Result<()> {
    let context = || format!("mounting {} on {}", device.display(), dir.display());
    let types = block_filesystems().map_err(|e| BackendError::io(context(), e))?;
    let types = try_order(types, has_ext_magic(device));
    // mount(2) needs a type; like mount(8) without -t, try each one the
    // kernel knows until one recognises the device.
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        "the kernel lists no block file systems in /proc/filesystems",
    );
    for fstype in &types {
        match nix::mount::mount(
            Some(device),
            dir,
            Some(fstype.as_str()),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        ) {
            Ok(()) => return Ok(()),
            // Not this type's superblock: try the next.
            Err(nix::errno::Errno::EINVAL) => {
                last = io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("no file system found (tried {})", types.join(", ")),
                );
            }
            Err(other) => return Err(BackendError::io(context(), other.into())),
        }
    }
    Err(BackendError::io(context(), last))
}

/// The block file systems the kernel knows, in its order (`/proc/filesystems`
/// lines without `nodev`).
fn block_filesystems() -> io::Result<Vec<String>> {
    Ok(parse_filesystems(&std::fs::read_to_string(
        "/proc/filesystems",
    )?))
}

/// The ext2/3/4 superblock's magic number, `s_magic` at byte 56 of the
/// superblock, which starts at byte 1024.
const EXT_MAGIC: u16 = 0xEF53;

const EXT_MAGIC_OFFSET: u64 = 1024 + 56;

/// Whether the device holds an ext2/3/4 file system.
fn has_ext_magic(device: &Path) -> bool {
    use std::os::unix::fs::FileExt;
    let mut magic = [0u8; 2];
    std::fs::File::open(device)
        .and_then(|file| file.read_exact_at(&mut magic, EXT_MAGIC_OFFSET))
        .is_ok_and(|()| u16::from_le_bytes(magic) == EXT_MAGIC)
}

/// The order to try file system types in: on an ext file system the ext4
/// driver first (it mounts all three; trying `ext3` and `ext2` first only
/// fills the log with "couldn't mount as ext3").
fn try_order(mut types: Vec<String>, ext: bool) -> Vec<String> {
    if ext && let Some(at) = types.iter().position(|t| t == "ext4") {
        let ext4 = types.remove(at);
        types.insert(0, ext4);
    }
    types
}

fn parse_filesystems(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with("nodev"))
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// The executable for `program`, and arguments it needs in front. A
/// `mkfs.ext4` that is not installed under that name is `mke2fs -t ext4`
/// (e2fsprogs installs one as a link to the other; small systems may ship
/// only `mke2fs`).
fn find_program(program: &str) -> Option<(PathBuf, Vec<String>)> {
    if let Some(path) = lookup(program) {
        return Some((path, Vec::new()));
    }
    let fstype = program.strip_prefix("mkfs.")?;
    if !matches!(fstype, "ext2" | "ext3" | "ext4") {
        return None;
    }
    let mke2fs = lookup("mke2fs")?;
    Some((mke2fs, vec!["-t".to_string(), fstype.to_string()]))
}

/// A program by path, or by name in `$PATH` and the `sbin` folders. Busybox's
/// applets are skipped: its `mke2fs` knows no `-t`, and its tools differ from
/// the ones the book shows.
fn lookup(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(SBIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_real_program(candidate))
}

fn is_real_program(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(target) = std::fs::canonicalize(path) else {
        return false;
    };
    let executable = std::fs::metadata(&target)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0);
    executable && target.file_name().is_none_or(|name| name != "busybox")
}

/// Which package brings a program the chapters run.
fn install_hint(program: &str) -> &'static str {
    if program.starts_with("mkfs.ext") || program == "mke2fs" {
        ": apt-get install e2fsprogs"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_file_systems_skip_nodev_ones() {
        let text = "nodev\tsysfs\nnodev\ttmpfs\n\text3\n\text2\n\text4\nnodev\tproc\n";
        assert_eq!(parse_filesystems(text), ["ext3", "ext2", "ext4"]);
    }

    #[test]
    fn ext_file_systems_try_ext4_first() {
        let types = || vec!["ext3".to_string(), "ext2".to_string(), "ext4".to_string()];
        assert_eq!(try_order(types(), true), ["ext4", "ext3", "ext2"]);
        assert_eq!(try_order(types(), false), ["ext3", "ext2", "ext4"]);
        assert_eq!(try_order(vec!["vfat".to_string()], true), ["vfat"]);
    }

    #[test]
    fn the_ext_magic_is_read_from_the_superblock() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut image = vec![0u8; 2048];
        assert!(!has_ext_magic(file.path()));
        image[1080..1082].copy_from_slice(&EXT_MAGIC.to_le_bytes());
        std::fs::write(file.path(), &image).unwrap();
        assert!(has_ext_magic(file.path()));
        assert!(!has_ext_magic(Path::new("/nonexistent/dm-0")));
    }

    #[test]
    fn programs_are_found_by_path_and_missing_ones_say_so() {
        assert_eq!(
            find_program("/opt/x/mkfs.thing").map(|(p, a)| (p, a.len())),
            Some((PathBuf::from("/opt/x/mkfs.thing"), 0))
        );
        assert!(find_program("surely-no-such-program-dmw").is_none());
        assert!(find_program("mkfs.no-such-fs-dmw").is_none());
        assert!(install_hint("mkfs.ext4").contains("e2fsprogs"));
    }
}
