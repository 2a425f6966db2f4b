//! Kernel release numbers as the table and `--kernel` write them.

use std::fmt;
use std::str::FromStr;

use super::DriftError;

/// A kernel release: `2.6.34` (three numbers in the 2.6 era), `4.14`, or a
/// stable release of a line such as `6.1.83`.
///
/// A vendor suffix is dropped: `3.10.0-957.el7` is `3.10` and Debian's
/// `6.1.0-20` is `6.1` (its ABI number says nothing of the stable sublevel).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Release {
    major: u32,
    minor: u32,
    /// The release itself in the 2.6 era; from 3.0 on the stable sublevel
    /// (0 for the mainline release of a line).
    patch: u32,
}

impl Release {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Release {
            major,
            minor,
            patch,
        }
    }

    /// The oldest release the table covers.
    pub const OLDEST: Release = Release::new(2, 6, 32);
    /// The newest kernel line the workbook builds against.
    pub const NEWEST: Release = Release::new(7, 3, 0);

    /// Parses a release and checks its line lies in
    /// [`Release::OLDEST`]..=[`Release::NEWEST`].
    pub fn parse_in_range(text: &str) -> Result<Release, DriftError> {
        let release: Release = text.parse()?;
        let line = release.line();
        if line < Release::OLDEST || line > Release::NEWEST {
            return Err(DriftError::OutOfRange(
                release,
                Release::OLDEST,
                Release::NEWEST,
            ));
        }
        Ok(release)
    }

    /// The mainline release this one belongs to: `6.1` for `6.1.83`.
    pub fn line(&self) -> Release {
        match self.major {
            2 => *self,
            _ => Release::new(self.major, self.minor, 0),
        }
    }

    /// Whether this is a stable release of the same line as `other` and at
    /// least as new: `6.1.90` reaches `6.1.83`, `6.1` and `6.2.90` do not.
    pub fn reaches_stable(&self, other: Release) -> bool {
        self.major >= 3 && self.line() == other.line() && self.patch >= other.patch
    }

    /// The release just before this one (2.6.39 before 3.0, 4.20 before 5.0),
    /// for asking "does a kernel without this change still build it?".
    pub fn previous(&self) -> Option<Release> {
        // The last minor of each major line: after them the major went up.
        const LAST_MINOR: [(u32, u32); 4] = [(3, 19), (4, 20), (5, 19), (6, 19)];
        match (self.major, self.minor, self.patch) {
            (2, 6, 0) | (0..=1, _, _) | (2, 0..=5, _) => None,
            (2, 6, patch) => Some(Release::new(2, 6, patch - 1)),
            (3, 0, _) => Some(Release::new(2, 6, 39)),
            (major, 0, _) => LAST_MINOR
                .iter()
                .find(|(m, _)| *m == major - 1)
                .map(|(m, last)| Release::new(*m, *last, 0)),
            (major, minor, _) => Some(Release::new(major, minor - 1, 0)),
        }
    }

    /// The numbers as `KERNEL_VERSION(a, b, c)` takes them.
    pub fn kernel_version(&self) -> (u32, u32, u32) {
        (self.major, self.minor, self.patch)
    }
}

impl FromStr for Release {
    type Err = DriftError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || DriftError::Release(text.to_string());
        // Vendor kernels append "-957.el7" and the like.
        let numbers = text.trim().split(['-', '+']).next().ok_or_else(bad)?;
        let parts: Vec<u32> = numbers
            .split('.')
            .map(|part| part.parse::<u32>().map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        match parts.as_slice() {
            [2, 6, patch, ..] => Ok(Release::new(2, 6, *patch)),
            [2, ..] => Err(bad()),
            [major, minor] if *major >= 3 => Ok(Release::new(*major, *minor, 0)),
            [major, minor, sublevel, ..] if *major >= 3 => {
                Ok(Release::new(*major, *minor, *sublevel))
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.major == 2 || self.patch != 0 {
            write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
        } else {
            write!(f, "{}.{}", self.major, self.minor)
        }
    }
}

impl<'de> serde::Deserialize<'de> for Release {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_the_2_6_era_before_3_x() {
        let r = |s: &str| s.parse::<Release>().unwrap();
        assert!(r("2.6.33") < r("2.6.34"));
        assert!(r("2.6.39") < r("3.0"));
        assert!(r("4.9") < r("4.14"));
        assert_eq!(r("3.10.0-957.el7"), r("3.10"));
        assert_eq!(r("6.1.0-20").to_string(), "6.1");
        assert_eq!(r("5.10.120").to_string(), "5.10.120");
        assert!(r("6.1") < r("6.1.83") && r("6.1.83") < r("6.2"));
    }

    #[test]
    fn a_stable_release_reaches_backports_of_its_own_line_only() {
        let r = |s: &str| s.parse::<Release>().unwrap();
        assert!(r("6.1.90").reaches_stable(r("6.1.83")));
        assert!(r("6.1.83").reaches_stable(r("6.1.83")));
        assert!(!r("6.1.82").reaches_stable(r("6.1.83")));
        assert!(!r("6.1").reaches_stable(r("6.1.83")));
        assert!(!r("6.2.90").reaches_stable(r("6.1.83")));
        assert_eq!(r("6.1.83").line(), r("6.1"));
        assert!(Release::parse_in_range("7.3.5").is_ok());
    }

    #[test]
    fn steps_back_across_major_lines() {
        let r = |s: &str| s.parse::<Release>().unwrap();
        assert_eq!(r("2.6.34").previous(), Some(r("2.6.33")));
        assert_eq!(r("3.0").previous(), Some(r("2.6.39")));
        assert_eq!(r("5.0").previous(), Some(r("4.20")));
        assert_eq!(r("7.0").previous(), Some(r("6.19")));
        assert_eq!(r("4.14").previous(), Some(r("4.13")));
    }

    #[test]
    fn refuses_what_is_not_a_release() {
        for text in ["", "6", "two.six", "2.4.0", "1.0", "2.6"] {
            assert!(text.parse::<Release>().is_err(), "{text}");
        }
        assert!(Release::parse_in_range("2.6.31").is_err());
        assert!(Release::parse_in_range("7.4").is_err());
        assert!(Release::parse_in_range("7.3").is_ok());
    }
}
