//! Loop devices, as `losetup` makes them: three ioctls.
//!
//! Called through `nix` directly: the `loopdev` crates generate their bindings
//! with bindgen at build time, which would add a second libclang-dependent
//! build for three request numbers that never change.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use nix::errno::Errno;

/// The loop driver's control device (`drivers/block/loop.c`).
pub const LOOP_CONTROL: &str = "/dev/loop-control";

// Request numbers from `include/uapi/linux/loop.h`.
nix::ioctl_none_bad!(loop_ctl_get_free, 0x4C82);
nix::ioctl_write_int_bad!(loop_set_fd, 0x4C00);
nix::ioctl_none_bad!(loop_clr_fd, 0x4C01);

/// Another program can take the free device between our two ioctls; `losetup`
/// retries too.
const ATTACH_ATTEMPTS: usize = 8;

/// The node of loop device number `n`.
pub fn loop_path(n: i32) -> String {
    format!("/dev/loop{n}")
}

/// `losetup --find --show FILE`: bind `file` to a free loop device; its path.
pub fn attach(file: &Path) -> io::Result<String> {
    let control = OpenOptions::new()
        .read(true)
        .write(true)
        .open(LOOP_CONTROL)
        .map_err(|e| with_context(e, &format!("opening {LOOP_CONTROL} (modprobe loop)")))?;
    let backing = OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .map_err(|e| with_context(e, &format!("opening {}", file.display())))?;
    let mut last = io::Error::from(io::ErrorKind::WouldBlock);
    for _ in 0..ATTACH_ATTEMPTS {
        // SAFETY: the request takes no argument; the fd is open.
        let n = unsafe { loop_ctl_get_free(control.as_raw_fd()) }
            .map_err(|e| with_context(e.into(), "LOOP_CTL_GET_FREE"))?;
        let path = loop_path(n);
        let device = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| with_context(e, &format!("opening {path}")))?;
        // SAFETY: the argument is an open file descriptor, as the request expects.
        match unsafe { loop_set_fd(device.as_raw_fd(), backing.as_raw_fd()) } {
            Ok(_) => return Ok(path),
            // Someone took it first: ask for another.
            Err(Errno::EBUSY) => last = with_context(Errno::EBUSY.into(), &path),
            Err(e) => return Err(with_context(e.into(), &format!("LOOP_SET_FD on {path}"))),
        }
    }
    Err(last)
}

/// `losetup -d DEVICE`. While a mapped device still holds the loop device, the
/// kernel only marks it to detach on last close (autoclear) and succeeds.
pub fn detach(device: &str) -> io::Result<()> {
    let file = File::open(device).map_err(|e| with_context(e, &format!("opening {device}")))?;
    // SAFETY: the request takes no argument; the fd is open.
    match unsafe { loop_clr_fd(file.as_raw_fd()) } {
        Ok(_) => Ok(()),
        Err(Errno::ENXIO) => Err(io::Error::other(format!(
            "{device} is not attached to a file"
        ))),
        Err(e) => Err(with_context(e.into(), &format!("LOOP_CLR_FD on {device}"))),
    }
}

/// The same error kind, with what was being done in front of the text.
fn with_context(err: io::Error, what: &str) -> io::Error {
    io::Error::new(err.kind(), format!("{what}: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_node_of_a_loop_number() {
        assert_eq!(loop_path(0), "/dev/loop0");
        assert_eq!(loop_path(12), "/dev/loop12");
    }

    #[test]
    fn context_keeps_the_kind() {
        let err = with_context(Errno::EBUSY.into(), "/dev/loop3");
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy);
        assert!(err.to_string().starts_with("/dev/loop3: "), "{err}");
    }
}
