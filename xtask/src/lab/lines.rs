//! The kernel lines the lab boots: a view of the workbook's manifest
//! (`module/manifest.toml`), which says which Debian suites hold a line's
//! image and headers, which compiler builds modules for it, and where.

pub use dm_workbook::manifest::KernelLine;
use dm_workbook::manifest::Manifest;

/// Every line, oldest first.
pub fn all() -> &'static [KernelLine] {
    &Manifest::bundled().lines
}

/// The kernel line the simulator models: refusals seen there must match its.
pub fn simulated() -> &'static KernelLine {
    Manifest::bundled().modelled()
}

/// The lines' names, for `--kernel`'s possible values.
pub fn names() -> Vec<&'static str> {
    Manifest::bundled().line_names()
}

/// The line called `name`, or an error listing the known ones.
pub fn find(name: &str) -> anyhow::Result<&'static KernelLine> {
    Manifest::bundled()
        .line(name)
        .ok_or_else(|| anyhow::anyhow!("unknown kernel line {name}; known: {}", names().join(", ")))
}

/// `--kernel`: one of the manifest's lines.
pub fn kernel_arg() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(names())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_found_by_name() {
        assert_eq!(find("6.1").unwrap().name, "6.1");
        let err = find("4.19").unwrap_err().to_string();
        assert!(err.contains("known: 5.10, 6.1"), "{err}");
        assert!(all().iter().any(|l| l.name == simulated().name));
    }
}
