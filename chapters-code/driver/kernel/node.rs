//! Device nodes of mapped devices, and I/O on them that skips the page cache.
//!
//! Without udev nobody makes `/dev/mapper/NAME`; devtmpfs still makes
//! `/dev/dm-<minor>` as the kernel names the disk. Where neither is there, the
//! backend makes its own node.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, makedev, mknod};

use crate::SECTOR_SIZE;
use crate::dm::bio::DevT;
use crate::dm::units::Bytes;

/// `O_DIRECT` wants the buffer aligned to the device's logical block size;
/// a page is enough for any of them.
pub const DIRECT_IO_ALIGN: usize = 4096;

/// Where a mapped device's node may be, best first: the name udev gives it,
/// then the name devtmpfs gives it.
pub fn candidate_paths(name: &str, dev: DevT) -> [PathBuf; 2] {
    [
        PathBuf::from(format!("/dev/mapper/{name}")),
        PathBuf::from(format!("/dev/dm-{}", dev.minor)),
    ]
}

/// Whether `path` is the block device `dev`.
pub fn is_node_of(path: &Path, dev: DevT) -> bool {
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.file_type().is_block_device() && meta.rdev() == dev_number(dev))
}

fn dev_number(dev: DevT) -> u64 {
    makedev(u64::from(dev.major), u64::from(dev.minor))
}

/// A node for `dev` at `path`, made with `mknod` (replacing a stale one).
pub fn make_node(path: &Path, dev: DevT) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    mknod(
        path,
        SFlag::S_IFBLK,
        Mode::from_bits_truncate(0o600),
        dev_number(dev),
    )?;
    Ok(())
}

/// A byte buffer whose start is aligned for `O_DIRECT`.
pub struct AlignedBuf {
    storage: Vec<u8>,
    start: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> AlignedBuf {
        let storage = vec![0u8; len + DIRECT_IO_ALIGN];
        let start = storage.as_ptr().align_offset(DIRECT_IO_ALIGN);
        AlignedBuf {
            storage,
            start,
            len,
        }
    }

    /// A copy of `data`.
    pub fn from_slice(data: &[u8]) -> AlignedBuf {
        let mut buf = AlignedBuf::zeroed(data.len());
        buf.as_mut_slice().copy_from_slice(data);
        buf
    }

    /// The aligned bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.start..self.start + self.len]
    }

    /// The aligned bytes, to fill.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.start..self.start + self.len]
    }
}

/// `O_DIRECT` moves whole logical blocks; the workbook's devices use 512 bytes.
pub fn check_whole_sectors(offset: Bytes, len: Bytes) -> io::Result<()> {
    if offset.whole_sectors().is_none() || len.whole_sectors().is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "direct I/O moves whole {SECTOR_SIZE}-byte sectors: offset {offset} and length {len} must both be multiples of {SECTOR_SIZE}"
            ),
        ));
    }
    Ok(())
}

/// Open a block device for direct I/O.
pub fn open_direct(path: &Path, write: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(nix::libc::O_DIRECT)
        .open(path)
}

/// The size of an open block device in bytes.
pub fn size_of(file: &File) -> io::Result<Bytes> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::End(0)).map(Bytes)
}

/// Write all of `data` at `offset`, as `dd oflag=direct` does: the write is
/// done when the device says so, and nothing more is asked. No `fsync`
/// follows, because the chapters' commands have none: on a device with a
/// write cache it would send an empty flush down every table line (seen as a
/// `flush` remap), which the scenario never asked for.
pub fn write_direct(file: &File, offset: Bytes, data: &[u8]) -> io::Result<()> {
    let buf = AlignedBuf::from_slice(data);
    file.write_all_at(buf.as_slice(), offset.0)
}

/// Read exactly `len` bytes at `offset`.
pub fn read_direct(file: &File, offset: Bytes, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = AlignedBuf::zeroed(len);
    file.read_exact_at(buf.as_mut_slice(), offset.0)?;
    Ok(buf.as_slice().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_the_udev_name_then_the_kernel_name() {
        let [mapper, kernel] = candidate_paths("my_device_mapper", DevT::new(254, 3));
        assert_eq!(mapper, Path::new("/dev/mapper/my_device_mapper"));
        assert_eq!(kernel, Path::new("/dev/dm-3"));
    }

    #[test]
    fn buffers_are_aligned_for_direct_io() {
        for len in [0, 512, 4096, 16 << 10, 1000] {
            let buf = AlignedBuf::zeroed(len);
            assert_eq!(buf.as_slice().len(), len);
            assert_eq!(buf.as_slice().as_ptr() as usize % DIRECT_IO_ALIGN, 0);
        }
        let buf = AlignedBuf::from_slice(b"sector");
        assert_eq!(buf.as_slice(), b"sector");
    }

    #[test]
    fn only_whole_sectors_pass() {
        assert!(check_whole_sectors(Bytes(0), Bytes(16 << 10)).is_ok());
        assert!(check_whole_sectors(Bytes(512), Bytes(512)).is_ok());
        assert!(check_whole_sectors(Bytes(1), Bytes(512)).is_err());
        let err = check_whole_sectors(Bytes(0), Bytes(100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_regular_file_is_no_device_node() {
        let file = tempfile::NamedTempFile::new().unwrap();
        assert!(!is_node_of(file.path(), DevT::new(254, 0)));
        assert!(!is_node_of(
            Path::new("/nonexistent/dm-0"),
            DevT::new(254, 0)
        ));
    }
}
