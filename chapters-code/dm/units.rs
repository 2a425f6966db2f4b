//! Sizes that say what they count. A byte offset passed where a sector was
//! meant is off by a factor of 512 and still looks plausible, so the
//! [`Backend`](crate::driver::Backend) boundary takes typed sizes.

use std::fmt;
use std::ops::Sub;

use crate::SECTOR_SIZE;

/// A count or position in 512-byte sectors, the kernel's unit for devices.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sectors(pub u64);

/// A count or position in bytes, the unit of `read(2)` and `write(2)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

impl Sectors {
    /// The same size in bytes.
    pub const fn bytes(self) -> Bytes {
        Bytes(self.0 * SECTOR_SIZE)
    }
}

impl Bytes {
    /// The length of `data`.
    pub fn of(data: &[u8]) -> Bytes {
        Bytes(data.len() as u64)
    }

    /// `self - other`, or nothing when `other` is larger.
    pub const fn saturating_sub(self, other: Bytes) -> Bytes {
        Bytes(self.0.saturating_sub(other.0))
    }

    /// The same size in sectors, if it is a whole number of them.
    pub const fn whole_sectors(self) -> Option<Sectors> {
        if self.0.is_multiple_of(SECTOR_SIZE) {
            Some(Sectors(self.0 / SECTOR_SIZE))
        } else {
            None
        }
    }
}

impl From<Sectors> for Bytes {
    fn from(sectors: Sectors) -> Bytes {
        sectors.bytes()
    }
}

/// Both print as bare numbers, as `dd` and `dmsetup` take them.
impl fmt::Display for Sectors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Sub for Bytes {
    type Output = Bytes;
    fn sub(self, other: Bytes) -> Bytes {
        Bytes(self.0 - other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sectors_are_512_bytes() {
        assert_eq!(Sectors(3).bytes(), Bytes(1536));
        assert_eq!(Bytes::from(Sectors(1)), Bytes(512));
        assert_eq!(Bytes(1536).whole_sectors(), Some(Sectors(3)));
        assert_eq!(Bytes(1000).whole_sectors(), None);
        assert_eq!(Bytes::of(&[0; 1024]), Bytes(1024));
    }

    #[test]
    fn they_print_as_plain_numbers_and_subtract() {
        assert_eq!(format!("{} {}", Sectors(8), Bytes(4096)), "8 4096");
        assert_eq!(Bytes(4096) - Bytes(1024), Bytes(3072));
        assert_eq!(Bytes(512).saturating_sub(Bytes(1024)), Bytes(0));
    }
}
