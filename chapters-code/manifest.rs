//! The workbook's manifest (`module/manifest.toml`) as typed data: the kernel
//! lines the qemu lab boots and the module stages the book builds.
//!
//! It is the one place a kernel line or a stage is listed; the simulator's
//! modelled kernel, the lab, the matrix and the tests all read it here.
//! [`Manifest::parse`] refuses a manifest that leaves a stage × line cell
//! undecided, so every reader can rely on what it finds.
//!
//! Unknown keys are refused, so a typo never passes for a setting. A new kind
//! of entry (exercises, say) is a new `[[table]]` and a new field of
//! [`Manifest`], with its own checks in `validate`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;

/// The manifest's path, relative to the repository's top.
pub const PATH: &str = "module/manifest.toml";

/// The manifest as it was when the crate was built.
pub const BUNDLED: &str = include_str!("../module/manifest.toml");

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not TOML, or not the manifest's shape (an unknown key, a missing one).
    #[error("{PATH}: {0}")]
    Toml(#[from] toml::de::Error),
    /// Well formed, but inconsistent.
    #[error("{PATH}: {0}")]
    Invalid(String),
}

/// `module/manifest.toml`, read and checked.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The kernel lines, oldest first.
    #[serde(rename = "line")]
    pub lines: Vec<KernelLine>,
    /// The module stages, in the order the book builds them.
    #[serde(rename = "stage", default)]
    pub stages: Vec<Stage>,
}

/// One kernel line and how to get it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KernelLine {
    /// What `--kernel` takes: the upstream release, such as "6.1".
    pub name: String,
    /// Suites whose newest `linux-image-amd64` is this line, in the order
    /// their sources are listed (the newest version among them wins).
    pub suites: Vec<String>,
    /// The compiler the line's headers call (`make CC=...`).
    pub compiler: String,
    /// The suite of the chroot its modules are built in; `None`: on the host,
    /// against headers unpacked under the lab's cache.
    #[serde(default)]
    pub chroot: Option<String>,
    /// Whether the kernel is built with `CONFIG_RUST=y`.
    #[serde(default)]
    pub rust: bool,
    /// Whether this is the line the simulator models.
    #[serde(default)]
    pub modelled: bool,
}

impl KernelLine {
    /// The suite a chroot for this line is made of, then any extra suites on
    /// top of it (backports need their base suite); `None` for host builds.
    pub fn chroot_suites(&self) -> Option<Vec<&str>> {
        let base = self.chroot.as_deref()?;
        let mut suites = vec![base];
        suites.extend(
            self.suites
                .iter()
                .map(String::as_str)
                .filter(|s| *s != base),
        );
        Some(suites)
    }
}

/// The language a stage's module is written in.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    C,
    /// Needs a kernel with `CONFIG_RUST=y`.
    Rust,
}

/// What a stage must do on a line.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Build, load and run its scenario.
    Pass,
    /// Fail to build, with exactly the declared errors.
    Fail,
    /// Not tried on this line, for the reason given.
    NotApplicable(String),
}

/// What the lab runs once a stage is loaded.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// Chapter N's binary with the kernel backend.
    Chapter(u32),
    /// A shell script, by its path inside the stage's folder.
    Script(String),
}

/// One module stage: a folder of `module/` and what it must do where.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    /// Its folder under `module/`, which is also its name on the command line.
    pub dir: String,
    /// The target type's name in table lines.
    pub target: String,
    pub language: Language,
    /// The module's file name once built.
    pub ko: String,
    /// The source that names the target, when it is not named after the
    /// module (a module built from several objects cannot share its name
    /// with one of them).
    #[serde(default)]
    pub source: Option<String>,
    /// A table file in the folder.
    #[serde(default)]
    pub table: Option<String>,
    /// What runs where the stage must pass.
    #[serde(default)]
    pub scenario: Option<Scenario>,
    /// The chapter whose program drives this stage's target, when the
    /// stage's `scenario` is a script (a bad-input battery, say): the lab's
    /// `--chapter N` then loads this stage. A stage whose scenario is a
    /// chapter names it there instead.
    #[serde(default)]
    pub chapter: Option<u32>,
    /// What the stage must do, per line name.
    pub expect: BTreeMap<String, Expect>,
    /// Where it must fail: the compiler's errors, per line name.
    #[serde(default)]
    pub errors: BTreeMap<String, Vec<String>>,
    /// What the stage's C sources, once `chapter4 doctor --fix` has applied
    /// the drift table's semantic patches for a line's kernel (no hand
    /// edit), must pass on every line: the matrix's `DIR --fixed` row.
    #[serde(default)]
    pub fixed: Option<Scenario>,
}

impl Stage {
    /// Whether chapter `chapter`'s program drives this stage's target.
    pub fn drives_chapter(&self, chapter: u32) -> bool {
        self.scenario == Some(Scenario::Chapter(chapter)) || self.chapter == Some(chapter)
    }

    /// What the stage must do on `line` (every line is covered once parsed).
    pub fn expect_on(&self, line: &str) -> Option<&Expect> {
        self.expect.get(line)
    }

    /// Its rows in the matrix: the stage, and `DIR --fixed` when the
    /// doctor's fixed version of it must pass too.
    pub fn matrix_rows(&self) -> Vec<String> {
        let mut rows = vec![self.dir.clone()];
        if self.fixed.is_some() {
            rows.push(self.fixed_row());
        }
        rows
    }

    /// The matrix row of the stage's fixed version.
    pub fn fixed_row(&self) -> String {
        format!("{} --fixed", self.dir)
    }

    /// The stage's folder relative to the repository's top.
    pub fn folder(&self) -> String {
        format!("module/{}", self.dir)
    }

    /// The module's main source in its folder: `source` if given, else the
    /// module's name (the `.ko` file's stem) as a `.c` or `.rs` file.
    pub fn main_source(&self) -> String {
        if let Some(source) = &self.source {
            return source.clone();
        }
        let module = self.ko.strip_suffix(".ko").unwrap_or(&self.ko);
        match self.language {
            Language::C => format!("{module}.c"),
            Language::Rust => format!("{module}.rs"),
        }
    }
}

impl Manifest {
    /// Read and check a manifest's text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text)?;
        manifest.validate().map_err(ManifestError::Invalid)?;
        Ok(manifest)
    }

    /// The manifest bundled into the crate. The tests parse the same file,
    /// so a bad one fails them long before it reaches a reader.
    pub fn bundled() -> &'static Manifest {
        static BUNDLED_MANIFEST: OnceLock<Manifest> = OnceLock::new();
        BUNDLED_MANIFEST.get_or_init(|| match Manifest::parse(BUNDLED) {
            Ok(manifest) => manifest,
            Err(err) => panic!("the bundled manifest is invalid: {err}"),
        })
    }

    /// The line called `name`.
    pub fn line(&self, name: &str) -> Option<&KernelLine> {
        self.lines.iter().find(|l| l.name == name)
    }

    /// The line names, oldest first.
    pub fn line_names(&self) -> Vec<&str> {
        self.lines.iter().map(|l| l.name.as_str()).collect()
    }

    /// The line the simulator models (there is exactly one).
    pub fn modelled(&self) -> &KernelLine {
        self.lines
            .iter()
            .find(|l| l.modelled)
            .unwrap_or(&self.lines[0])
    }

    /// The newest line: the last one listed.
    pub fn newest(&self) -> &KernelLine {
        &self.lines[self.lines.len() - 1]
    }

    /// The stage whose folder is `dir`.
    pub fn stage(&self, dir: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.dir == dir)
    }

    /// The stage a chapter's program loads: the first whose scenario is that
    /// chapter, or that names it as its `chapter`.
    pub fn stage_of_chapter(&self, chapter: u32) -> Option<&Stage> {
        self.stages.iter().find(|s| s.drives_chapter(chapter))
    }

    /// The lines as prose: "5.10, 6.1, 6.12, 7.2 or 7.3".
    pub fn line_list(&self, last_joiner: &str) -> String {
        let names = self.line_names();
        match names.split_last() {
            None => String::new(),
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} {last_joiner} {last}", rest.join(", ")),
        }
    }

    fn validate(&self) -> Result<(), String> {
        if self.lines.is_empty() {
            return Err("no [[line]]".into());
        }
        let mut names = BTreeSet::new();
        for line in &self.lines {
            if !names.insert(line.name.as_str()) {
                return Err(format!("line {} is listed twice", line.name));
            }
            if line.suites.is_empty() {
                return Err(format!("line {} names no suite", line.name));
            }
        }
        // "Newest" is the last line: the order must be the releases' order.
        let mut numbers = Vec::new();
        for line in &self.lines {
            let number: Option<Vec<u32>> = line.name.split('.').map(|n| n.parse().ok()).collect();
            match number {
                Some(n) if n.len() == 2 => numbers.push(n),
                _ => return Err(format!("line {:?} is not MAJOR.MINOR", line.name)),
            }
        }
        if numbers.windows(2).any(|pair| pair[0] >= pair[1]) {
            return Err("the lines must be listed oldest first".into());
        }
        let modelled: Vec<&str> = self
            .lines
            .iter()
            .filter(|l| l.modelled)
            .map(|l| l.name.as_str())
            .collect();
        if modelled.len() != 1 {
            return Err(format!(
                "exactly one line must be `modelled = true` (the simulator's), found {modelled:?}"
            ));
        }
        let mut dirs = BTreeSet::new();
        for (i, stage) in self.stages.iter().enumerate() {
            if !dirs.insert(stage.dir.as_str()) {
                return Err(format!("stage {} is listed twice", stage.dir));
            }
            stage.validate(self)?;
            // A chapter named by `chapter` loads that stage: no other stage
            // may claim it, or `--chapter N` would load whichever came first.
            if let Some(n) = stage.chapter
                && let Some(other) =
                    (self.stages.iter().enumerate()).find(|(j, s)| *j != i && s.drives_chapter(n))
            {
                return Err(format!(
                    "{}: `chapter = {n}`, but {} runs chapter {n} too",
                    stage.dir, other.1.dir
                ));
            }
        }
        Ok(())
    }
}

impl Stage {
    fn validate(&self, manifest: &Manifest) -> Result<(), String> {
        let dir = &self.dir;
        if dir.is_empty() || dir.contains('/') || dir.starts_with('.') {
            return Err(format!(
                "stage {dir:?}: `dir` must be one folder of module/"
            ));
        }
        for named in self.expect.keys() {
            if manifest.line(named).is_none() {
                return Err(format!(
                    "{dir}: `expect` names {named}, which is no kernel line"
                ));
            }
        }
        if let (Some(Scenario::Chapter(runs)), Some(named)) = (&self.scenario, self.chapter) {
            return Err(format!(
                "{dir}: `chapter = {named}` is for a stage whose scenario is a script; \
                 its scenario already runs chapter {runs}"
            ));
        }
        let scripts = [&self.scenario, &self.fixed];
        if let Some(path) = scripts.iter().find_map(|s| match s {
            Some(Scenario::Script(path)) => Some(path),
            _ => None,
        }) && (path.starts_with('/') || path.split('/').any(|part| part == ".."))
        {
            return Err(format!(
                "{dir}: the script {path} must be a path inside the stage's folder"
            ));
        }
        for line in &manifest.lines {
            let name = line.name.as_str();
            let declared = self.errors.get(name).filter(|e| !e.is_empty());
            match self.expect.get(name) {
                None => return Err(format!("{dir}: `expect` says nothing about {name}")),
                Some(Expect::Pass) if self.scenario.is_none() => {
                    return Err(format!(
                        "{dir}: expected to pass on {name}, but names no `scenario` to run"
                    ));
                }
                Some(Expect::Fail) if declared.is_none() => {
                    return Err(format!(
                        "{dir}: expected to fail on {name}, but declares no errors for it"
                    ));
                }
                Some(Expect::NotApplicable(why)) if why.trim().is_empty() => {
                    return Err(format!(
                        "{dir}: not applicable on {name}, but gives no reason"
                    ));
                }
                Some(Expect::Pass | Expect::Fail)
                    if self.language == Language::Rust && !line.rust =>
                {
                    return Err(format!(
                        "{dir}: a Rust stage cannot build on {name}, whose kernel has no Rust: \
                         make it not-applicable there"
                    ));
                }
                _ => {}
            }
        }
        for named in self.errors.keys() {
            if self.expect.get(named) != Some(&Expect::Fail) {
                return Err(format!(
                    "{dir}: errors are declared for {named}, where the stage is not expected to fail"
                ));
            }
        }
        Ok(())
    }
}

/// The kernel line the simulator models, read from the bundled manifest; it
/// prints and compares as the line's name ("6.1").
#[derive(Clone, Copy)]
pub struct ModelledKernel;

impl std::ops::Deref for ModelledKernel {
    type Target = str;
    fn deref(&self) -> &str {
        &Manifest::bundled().modelled().name
    }
}

impl fmt::Display for ModelledKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

impl fmt::Debug for ModelledKernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq<str> for ModelledKernel {
    fn eq(&self, other: &str) -> bool {
        **self == *other
    }
}

impl PartialEq<&str> for ModelledKernel {
    fn eq(&self, other: &&str) -> bool {
        **self == **other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINES: &str = r#"
[[line]]
name = "6.1"
suites = ["bookworm"]
compiler = "gcc-12"
modelled = true

[[line]]
name = "7.2"
suites = ["sid"]
compiler = "gcc-16"
chroot = "sid"
rust = true
"#;

    fn with_stage(stage: &str) -> String {
        format!("{LINES}\n[[stage]]\n{stage}")
    }

    const OLD: &str = r#"dir = "old"
target = "t"
language = "c"
ko = "t.ko"
expect = { "6.1" = "fail", "7.2" = "fail" }
[stage.errors]
"6.1" = ["too many arguments to function ‘dm_get_device’"]
"7.2" = ["x", "y"]
"#;

    const NEW: &str = r#"dir = "new"
target = "t"
language = "c"
ko = "t.ko"
scenario = { chapter = 3 }
expect = { "6.1" = "pass", "7.2" = "pass" }
"#;

    fn refused(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(err) => err.to_string(),
        }
    }

    #[test]
    fn reads_lines_and_stages() {
        let text = format!("{}\n[[stage]]\n{NEW}", with_stage(OLD));
        let m = Manifest::parse(&text).unwrap();
        assert_eq!(m.line_names(), ["6.1", "7.2"]);
        assert_eq!(m.modelled().name, "6.1");
        assert_eq!(m.newest().name, "7.2");
        assert!(m.line("7.2").unwrap().rust);
        assert_eq!(m.line("7.2").unwrap().chroot_suites().unwrap(), ["sid"]);
        assert_eq!(m.line("6.1").unwrap().chroot_suites(), None);
        assert_eq!(m.stages.len(), 2);
        assert_eq!(m.stages[0].expect["7.2"], Expect::Fail);
        assert_eq!(m.stages[0].errors["7.2"].len(), 2);
        assert_eq!(m.stage("new").unwrap().scenario, Some(Scenario::Chapter(3)));
        assert_eq!(m.line_list("or"), "6.1 or 7.2");
    }

    #[test]
    fn backports_chroots_carry_their_base_suite() {
        let line = KernelLine {
            name: "7.3".into(),
            suites: vec!["trixie-backports".into()],
            compiler: "gcc-14".into(),
            chroot: Some("trixie".into()),
            rust: true,
            modelled: false,
        };
        assert_eq!(
            line.chroot_suites().unwrap(),
            ["trixie", "trixie-backports"]
        );
    }

    #[test]
    fn reads_scripts_and_not_applicable_cells() {
        let stage = r#"dir = "rusty"
target = "r"
language = "rust"
ko = "r.ko"
scenario = { script = "tests/check.sh" }
expect = { "6.1" = { not-applicable = "6.1 has no Rust" }, "7.2" = "pass" }
"#;
        let m = Manifest::parse(&with_stage(stage)).unwrap();
        let s = &m.stages[0];
        assert_eq!(s.scenario, Some(Scenario::Script("tests/check.sh".into())));
        assert_eq!(
            s.expect["6.1"],
            Expect::NotApplicable("6.1 has no Rust".into())
        );
    }

    #[test]
    fn a_stage_with_a_script_can_name_the_chapter_that_drives_it() {
        let battery = NEW.replace("\"new\"", "\"battery\"").replace(
            "{ chapter = 3 }",
            "{ script = \"tests/bad.sh\" }\nchapter = 6",
        );
        let m = Manifest::parse(&with_stage(&battery)).unwrap();
        assert_eq!(m.stage_of_chapter(6).unwrap().dir, "battery");
        assert!(m.stage_of_chapter(3).is_none());
        // Both ways of naming a chapter are found.
        let both = format!("{}\n[[stage]]\n{NEW}", with_stage(&battery));
        let m = Manifest::parse(&both).unwrap();
        assert_eq!(m.stage_of_chapter(3).unwrap().dir, "new");
        assert_eq!(m.stage_of_chapter(6).unwrap().dir, "battery");
        // A chapter loads one stage, and a chapter scenario names its own.
        let claimed = both.replace("{ chapter = 3 }", "{ chapter = 6 }");
        assert!(
            refused(&claimed).contains("runs chapter 6 too"),
            "{claimed}"
        );
        let twice = with_stage(&NEW.replace("ko = ", "chapter = 6\nko = "));
        assert!(refused(&twice).contains("already runs chapter 3"));
    }

    #[test]
    fn every_stage_covers_exactly_the_known_lines() {
        let missing = with_stage(&NEW.replace(", \"7.2\" = \"pass\"", ""));
        assert!(refused(&missing).contains("says nothing about 7.2"));
        let unknown = with_stage(&NEW.replace(
            "\"7.2\" = \"pass\"",
            "\"7.2\" = \"pass\", \"2.6\" = \"pass\"",
        ));
        assert!(refused(&unknown).contains("2.6, which is no kernel line"));
    }

    #[test]
    fn every_cell_is_decided() {
        let cases = [
            (
                NEW.replace("scenario = { chapter = 3 }\n", ""),
                "no `scenario`",
            ),
            (
                OLD.replace("\"7.2\" = [\"x\", \"y\"]\n", ""),
                "declares no errors for it",
            ),
            (
                format!("{NEW}[stage.errors]\n\"6.1\" = [\"x\"]\n"),
                "not expected to fail",
            ),
            (NEW.replace("\"pass\" }", "\"maybe\" }"), "unknown variant"),
            (
                NEW.replace("\"6.1\" = \"pass\"", "\"6.1\" = { not-applicable = \" \" }"),
                "gives no reason",
            ),
            (NEW.replace("\"c\"", "\"rust\""), "whose kernel has no Rust"),
            (
                NEW.replace("{ chapter = 3 }", "{ script = \"../x.sh\" }"),
                "inside the stage's folder",
            ),
            (NEW.replace("\"new\"", "\"a/b\""), "one folder of module/"),
        ];
        for (stage, why) in cases {
            let err = refused(&with_stage(&stage));
            assert!(err.contains(why), "{why}: {err}");
        }
        let twice = format!("{}\n[[stage]]\n{NEW}", with_stage(NEW));
        assert!(refused(&twice).contains("listed twice"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let stage = NEW.replace("ko = ", "exercise = 3\nko = ");
        assert!(refused(&with_stage(&stage)).contains("unknown field `exercise`"));
        let line = LINES.replace("rust = true", "rust = true\nmirror = \"x\"");
        assert!(refused(&line).contains("unknown field `mirror`"));
        assert!(refused(&format!("exercise = 1\n{LINES}")).contains("unknown field"));
    }

    #[test]
    fn exactly_one_line_is_modelled() {
        let none = LINES.replace("modelled = true\n", "");
        assert!(refused(&none).contains("exactly one line"));
        let two = LINES.replace("rust = true", "rust = true\nmodelled = true");
        assert!(refused(&two).contains("exactly one line"));
        assert!(refused("").contains("line"));
        let unordered = LINES.replace("\"7.2\"", "\"5.10\"");
        assert!(refused(&unordered).contains("oldest first"));
    }

    #[test]
    fn the_bundled_manifest_is_valid() {
        let m = Manifest::parse(BUNDLED).unwrap();
        assert_eq!(&m, Manifest::bundled());
        assert!(m.stages.iter().any(|s| s.errors.is_empty()));
        assert!(m.stages.iter().any(|s| !s.errors.is_empty()));
        assert_eq!(ModelledKernel, m.modelled().name.as_str());
        assert_eq!(ModelledKernel.to_string(), m.modelled().name);
    }

    /// `Release::NEWEST`, the drift doctor's upper bound, is the newest line.
    #[test]
    fn the_newest_release_is_the_newest_line() {
        let newest: crate::drift::Release = Manifest::bundled().newest().name.parse().unwrap();
        assert_eq!(newest, crate::drift::Release::NEWEST);
    }
}
