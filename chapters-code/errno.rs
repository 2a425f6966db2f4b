//! The few `errno` values the device-mapper core and its targets return, with the
//! names the kernel prints (`%pe` turns `ERR_PTR(-EINVAL)` into `-EINVAL`).

use std::fmt;

/// A kernel error number. Targets return these from `ctr` as the kernel's do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Errno {
    /// Operation not permitted.
    EPERM,
    /// No such file or directory.
    ENOENT,
    /// I/O error.
    EIO,
    /// No such device or address.
    ENXIO,
    /// Out of memory.
    ENOMEM,
    /// Block device required.
    ENOTBLK,
    /// Device or resource busy.
    EBUSY,
    /// File exists.
    EEXIST,
    /// No such device.
    ENODEV,
    /// Invalid argument.
    EINVAL,
    /// No space left on device.
    ENOSPC,
    /// Value too large for defined data type.
    EOVERFLOW,
    /// Operation not supported: what `BLK_STS_NOTSUPP` becomes.
    EOPNOTSUPP,
}

impl Errno {
    /// The positive number, as in `<asm-generic/errno-base.h>`.
    pub fn code(self) -> i32 {
        match self {
            Errno::EPERM => 1,
            Errno::ENOENT => 2,
            Errno::EIO => 5,
            Errno::ENXIO => 6,
            Errno::ENOMEM => 12,
            Errno::ENOTBLK => 15,
            Errno::EBUSY => 16,
            Errno::EEXIST => 17,
            Errno::ENODEV => 19,
            Errno::EINVAL => 22,
            Errno::ENOSPC => 28,
            Errno::EOVERFLOW => 75,
            Errno::EOPNOTSUPP => 95,
        }
    }

    /// The C library's text for the number, as `dmsetup` prints it
    /// (`reload ioctl on NAME failed: Invalid argument`).
    pub fn describe(self) -> &'static str {
        match self {
            Errno::EPERM => "Operation not permitted",
            Errno::ENOENT => "No such file or directory",
            Errno::EIO => "Input/output error",
            Errno::ENXIO => "No such device or address",
            Errno::ENOMEM => "Cannot allocate memory",
            Errno::ENOTBLK => "Block device required",
            Errno::EBUSY => "Device or resource busy",
            Errno::EEXIST => "File exists",
            Errno::ENODEV => "No such device",
            Errno::EINVAL => "Invalid argument",
            Errno::ENOSPC => "No space left on device",
            Errno::EOVERFLOW => "Value too large for defined data type",
            Errno::EOPNOTSUPP => "Operation not supported",
        }
    }

    /// The errno with this positive number, if it is one of ours.
    pub fn from_code(code: i32) -> Option<Errno> {
        ALL.iter().copied().find(|e| e.code() == code)
    }
}

const ALL: [Errno; 13] = [
    Errno::EPERM,
    Errno::ENOENT,
    Errno::EIO,
    Errno::ENXIO,
    Errno::ENOMEM,
    Errno::ENOTBLK,
    Errno::EBUSY,
    Errno::EEXIST,
    Errno::ENODEV,
    Errno::EINVAL,
    Errno::ENOSPC,
    Errno::EOVERFLOW,
    Errno::EOPNOTSUPP,
];

impl fmt::Display for Errno {
    /// Printed as the kernel's `%pe` prints an error pointer: `-EINVAL`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "-{self:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for e in ALL {
            assert_eq!(Errno::from_code(e.code()), Some(e));
        }
        assert_eq!(Errno::EINVAL.to_string(), "-EINVAL");
    }
}
