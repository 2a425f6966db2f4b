//! The kernel lines the lab boots, as data: which Debian suites hold a line's
//! image and headers, which compiler builds modules for it, and where.

/// Where a line's modules are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildHost {
    /// On this machine, against headers unpacked under the cache.
    Host,
    /// In a chroot of this suite (the host's compiler is too old for it).
    Chroot(&'static str),
}

/// One kernel line and how to get it.
#[derive(Debug, PartialEq, Eq)]
pub struct KernelLine {
    /// What `--kernel` takes: the upstream release, such as "6.1".
    pub name: &'static str,
    /// Suites whose newest `linux-image-amd64` is this line, in the order
    /// their sources are listed (the newest version among them wins).
    pub suites: &'static [&'static str],
    /// The compiler the line's headers call (`make CC=...`).
    pub compiler: &'static str,
    pub build: BuildHost,
}

impl KernelLine {
    /// The suite a chroot for this line is made of, and any extra suites on
    /// top of it (backports need their base suite).
    pub fn chroot_suites(&self) -> Option<Vec<&'static str>> {
        match self.build {
            BuildHost::Host => None,
            BuildHost::Chroot(base) => {
                let mut suites = vec![base];
                suites.extend(self.suites.iter().filter(|s| **s != base));
                Some(suites)
            }
        }
    }
}

pub const LINES: &[KernelLine] = &[
    KernelLine {
        name: "5.10",
        suites: &["bullseye", "bullseye-security"],
        // The headers ask for gcc-10; the host's gcc-12 builds them too.
        compiler: "gcc-12",
        build: BuildHost::Host,
    },
    KernelLine {
        name: "6.1",
        suites: &["bookworm", "bookworm-security"],
        compiler: "gcc-12",
        build: BuildHost::Host,
    },
    KernelLine {
        name: "6.12",
        suites: &["trixie"],
        // gcc-12 lacks -fmin-function-alignment, and objtool needs a newer glibc.
        compiler: "gcc-14",
        build: BuildHost::Chroot("trixie"),
    },
    KernelLine {
        name: "7.2",
        suites: &["sid"],
        compiler: "gcc-16",
        build: BuildHost::Chroot("sid"),
    },
    KernelLine {
        name: "7.3",
        suites: &["trixie-backports"],
        compiler: "gcc-14",
        build: BuildHost::Chroot("trixie"),
    },
];

/// The kernel line the simulator models: refusals seen there must match its.
pub const SIMULATED: &str = "6.1";

/// The line called `name`, or an error listing the known ones.
pub fn find(name: &str) -> anyhow::Result<&'static KernelLine> {
    LINES.iter().find(|l| l.name == name).ok_or_else(|| {
        let known: Vec<&str> = LINES.iter().map(|l| l.name).collect();
        anyhow::anyhow!("unknown kernel line {name}; known: {}", known.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backports_chroots_carry_their_base_suite() {
        assert_eq!(
            find("7.3").unwrap().chroot_suites().unwrap(),
            ["trixie", "trixie-backports"]
        );
        assert_eq!(find("6.12").unwrap().chroot_suites().unwrap(), ["trixie"]);
        assert_eq!(find("6.1").unwrap().chroot_suites(), None);
        assert!(find("4.19").is_err());
    }
}
