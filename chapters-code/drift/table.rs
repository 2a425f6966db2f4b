//! The drift table (`module/drift.toml`) as typed data.

use std::collections::HashSet;
use std::path::Path;

use serde::Deserialize;

use super::{DriftError, Release};

/// The table as the workbook ships it, built into the crate so the doctor works
/// from any directory.
pub const BUNDLED: &str = include_str!("../../module/drift.toml");

/// Every known change, oldest release first.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriftTable {
    #[serde(rename = "change")]
    pub changes: Vec<Change>,
}

/// One change of the API: what it was, what it became, where and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Short stable name, used in the doctor's output and by the book.
    pub id: String,
    /// The function, field, callback or type that changed.
    pub symbol: String,
    /// One line: what changed.
    pub summary: String,
    /// The old form, as a short C snippet.
    pub old: String,
    /// The new form, as a short C snippet.
    pub new: String,
    /// The first mainline release with the new form.
    pub release: Release,
    /// The upstream commit that made the change (12 or more hex digits), or
    /// empty when no source read named it (then `verified` is false).
    pub commit: String,
    /// That commit's title, or empty when unknown.
    pub title: String,
    /// Whether commit, title and release were checked against sources read.
    pub verified: bool,
    /// What was read to check it (or, when unverified, what was and was not).
    pub checked: String,
    /// Kernels that carry the new form before `release` (vendor or stable),
    /// in words for the reader.
    #[serde(default)]
    pub backports: Vec<String>,
    /// The stable releases that brought the new form to older lines
    /// (`6.1.83`): a kernel at or past one of them, on its line, has it.
    #[serde(default)]
    pub stable: Vec<Release>,
    /// What to write instead, and how the compat header bridges both forms.
    pub fix: String,
    /// The macro `module/compat/dmw_compat.h` bridges this change with; its
    /// value comes from the feature probe `module/compat/probes/<id>.c`.
    #[serde(default)]
    pub compat: Option<String>,
    /// Whether `module/drift/cocci/<id>.cocci` rewrites the old form into the
    /// new one (`chapter4 doctor --fix`).
    #[serde(default)]
    pub cocci: bool,
    /// A later entry that changed the new form again: from its release on,
    /// this entry's new form does not build either.
    #[serde(default)]
    pub superseded_by: Option<String>,
    /// The old form still builds on kernels with the new one: a finding of it
    /// is advice (`STATUSTYPE_IMA` left unanswered), not a build error.
    #[serde(default)]
    pub old_builds: bool,
    /// The new form also built on kernels older than this release (an API
    /// that went away and came back, like `bio->bi_bdev`): below it the new
    /// form is not reported.
    #[serde(default)]
    pub also_before: Option<Release>,
    /// Uses of the old form: reported when the kernel is at or past `release`.
    #[serde(default)]
    pub detect_old: Vec<Detector>,
    /// Uses of the new form: reported when the kernel is older than `release`.
    #[serde(default)]
    pub detect_new: Vec<Detector>,
}

/// One pattern the doctor looks for in the parsed C.
///
/// Exactly one of `call`, `field`, `callback`, `type_name`, `ident` or
/// `include` names
/// what to look for; the other keys narrow it.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Detector {
    /// A call of this function (or function-like macro).
    pub call: Option<String>,
    /// ... with exactly this many arguments.
    pub args: Option<usize>,
    /// ... whose result is used (assigned, tested, returned), not discarded.
    pub used_as_value: Option<bool>,
    /// ... one of whose arguments names this identifier or field
    /// (`dm_suspended(dm_table_get_md(ti->table))` names `dm_table_get_md`).
    pub arg_mentions: Option<String>,
    /// ... none of whose arguments names this one.
    pub arg_lacks: Option<String>,

    /// A member access `x->f` / `x.f`, or a designator `.f =` in an initializer.
    pub field: Option<String>,
    /// ... unless reached through this member (`bio->bi_iter.bi_sector`).
    pub not_under: Option<String>,
    /// ... only when it is the left side of an assignment.
    pub assigned: Option<bool>,
    /// ... only on a variable or initialiser of this struct type
    /// (`dm_io_request`: `io_req.bi_rw`, `struct dm_io_request r = { .bi_rw = 0 }`).
    pub of_struct: Option<String>,
    /// ... except on a variable or initialiser of this struct type.
    pub not_of_struct: Option<String>,

    /// A function assigned to this member of a `struct target_type` initializer,
    /// or assigned to this field anywhere (`bio->bi_end_io = f`).
    pub callback: Option<String>,
    /// ... whose parameter list has exactly this many parameters.
    pub params: Option<usize>,
    /// ... one of whose parameters contains this text (e.g. `blk_status_t *`).
    pub param_has: Option<String>,
    /// ... whose return type is exactly this (`int`, `void`).
    pub returns: Option<String>,
    /// ... whose body mentions this identifier ...
    pub body_mentions: Option<String>,
    /// ... but never this one.
    pub body_lacks: Option<String>,
    /// ... which returns a negative errno (`return -EIO;`) somewhere.
    pub returns_errno: Option<bool>,

    /// A use of this type name (a typedef such as `fmode_t`).
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    /// A use of this identifier (a constant such as `FMODE_READ`).
    pub ident: Option<String>,
    /// An `#include` of this header, as written between the quotes or angle
    /// brackets (`dm.h`).
    pub include: Option<String>,
}

/// What a detector looks for, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetectorKind {
    Call,
    Field,
    Callback,
    Type,
    Ident,
    Include,
}

impl Detector {
    /// The kind, or why the detector is malformed.
    pub fn kind(&self) -> Result<DetectorKind, String> {
        let named = [
            (self.call.is_some(), DetectorKind::Call),
            (self.field.is_some(), DetectorKind::Field),
            (self.callback.is_some(), DetectorKind::Callback),
            (self.type_name.is_some(), DetectorKind::Type),
            (self.ident.is_some(), DetectorKind::Ident),
            (self.include.is_some(), DetectorKind::Include),
        ];
        let mut kinds = named.iter().filter(|(set, _)| *set).map(|(_, kind)| *kind);
        let kind = kinds
            .next()
            .ok_or("a detector needs one of call, field, callback, type, ident, include")?;
        if kinds.next().is_some() {
            return Err("a detector names more than one thing to look for".into());
        }
        let call_keys = self.args.is_some()
            || self.used_as_value.is_some()
            || self.arg_mentions.is_some()
            || self.arg_lacks.is_some();
        let field_keys = self.not_under.is_some()
            || self.assigned.is_some()
            || self.of_struct.is_some()
            || self.not_of_struct.is_some();
        let callback_keys = self.params.is_some()
            || self.param_has.is_some()
            || self.returns.is_some()
            || self.body_mentions.is_some()
            || self.body_lacks.is_some()
            || self.returns_errno.is_some();
        let stray = (call_keys && kind != DetectorKind::Call)
            || (field_keys && kind != DetectorKind::Field)
            || (callback_keys && kind != DetectorKind::Callback);
        if stray {
            return Err(format!("a {kind:?} detector has keys of another kind"));
        }
        Ok(kind)
    }
}

impl DriftTable {
    /// The table built into the crate.
    pub fn bundled() -> Result<DriftTable, DriftError> {
        DriftTable::parse(BUNDLED)
    }

    /// Reads and checks a table file.
    pub fn load(path: &Path) -> Result<DriftTable, DriftError> {
        let text = std::fs::read_to_string(path).map_err(|source| DriftError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        DriftTable::parse(&text)
    }

    /// Parses and checks a table's text.
    pub fn parse(text: &str) -> Result<DriftTable, DriftError> {
        let table: DriftTable = toml::from_str(text)?;
        table.check()?;
        Ok(table)
    }

    /// The entry with this id.
    pub fn get(&self, id: &str) -> Option<&Change> {
        self.changes.iter().find(|change| change.id == id)
    }

    /// Every entry complete, ids unique, releases in order.
    fn check(&self) -> Result<(), DriftError> {
        let mut ids = HashSet::new();
        let mut previous: Option<Release> = None;
        for change in &self.changes {
            let fail = |problem: String| DriftError::Entry {
                id: change.id.clone(),
                problem,
            };
            if !ids.insert(change.id.as_str()) {
                return Err(fail("the id is used twice".into()));
            }
            change.check().map_err(fail)?;
            if previous.is_some_and(|before| before > change.release) {
                return Err(fail("entries must be in release order".into()));
            }
            previous = Some(change.release);
        }
        for change in &self.changes {
            if let Some(later) = &change.superseded_by {
                let ok = self.get(later).is_some_and(|l| l.release > change.release);
                if !ok {
                    return Err(DriftError::Entry {
                        id: change.id.clone(),
                        problem: format!("superseded_by `{later}` is not a later entry"),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Change {
    fn check(&self) -> Result<(), String> {
        let texts = [
            ("id", &self.id),
            ("symbol", &self.symbol),
            ("summary", &self.summary),
            ("old", &self.old),
            ("new", &self.new),
            ("checked", &self.checked),
            ("fix", &self.fix),
        ];
        for (name, text) in texts {
            if text.trim().is_empty() {
                return Err(format!("`{name}` is empty"));
            }
        }
        let id_ok = self
            .id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !id_ok {
            return Err("ids are lower-case words joined by '-'".into());
        }
        let hex = self.commit.chars().all(|c| c.is_ascii_hexdigit());
        if !self.commit.is_empty() && (!hex || self.commit.len() < 12) {
            return Err(format!("commit `{}` is not 12+ hex digits", self.commit));
        }
        if self.verified && (self.commit.is_empty() || self.title.trim().is_empty()) {
            return Err("a verified entry needs its commit and title".into());
        }
        if self.release > Release::NEWEST {
            return Err(format!(
                "release {} is past {}",
                self.release,
                Release::NEWEST
            ));
        }
        for stable in &self.stable {
            if stable.line() >= self.release || stable.line() == *stable {
                return Err(format!(
                    "stable release {stable} is not a sublevel of a line before {}",
                    self.release
                ));
            }
        }
        if self
            .also_before
            .is_some_and(|before| before >= self.release)
        {
            return Err("`also_before` must be older than `release`".into());
        }
        if !self.stable.is_empty() && self.backports.is_empty() {
            return Err("stable releases need a `backports` line for the reader".into());
        }
        if self.detect_old.is_empty() && self.detect_new.is_empty() {
            return Err("no detector for either form".into());
        }
        for detector in self.detect_old.iter().chain(&self.detect_new) {
            detector.kind()?;
        }
        if let Some(name) = &self.compat
            && !name.starts_with("DMW_")
        {
            return Err(format!("compat macro `{name}` lacks the DMW_ prefix"));
        }
        Ok(())
    }
}

impl Change {
    /// Whether `kernel` has the new form: it is at or past the mainline
    /// release, or a stable release at or past a backport on its line.
    pub fn present_in(&self, kernel: Release) -> bool {
        kernel.line() >= self.release || self.stable.iter().any(|s| kernel.reaches_stable(*s))
    }

    /// Whether a use of the new form fails to build on `kernel`: it lacks
    /// the new form and is not from the era before `also_before`.
    pub fn new_form_fails_on(&self, kernel: Release) -> bool {
        !self.present_in(kernel)
            && self
                .also_before
                .is_none_or(|before| kernel.line() >= before)
    }

    /// What a feature probe of this change's new form should find on
    /// `kernel` (its sublevel counting for stable backports): the new form
    /// is there and no later entry replaced it.
    pub fn new_form_builds_on(&self, kernel: Release, table: &DriftTable) -> bool {
        self.present_in(kernel)
            && (self.superseded_by.as_deref())
                .and_then(|id| table.get(id))
                .is_none_or(|later| !later.present_in(kernel))
    }

    /// What `#if LINUX_VERSION_CODE >= KERNEL_VERSION(release)` (and below
    /// the superseding entry's release) answers on `kernel`: mainline
    /// releases only, blind to backports.
    pub fn version_check_says(&self, kernel: Release, table: &DriftTable) -> bool {
        kernel.line() >= self.release
            && (self.superseded_by.as_deref())
                .and_then(|id| table.get(id))
                .is_none_or(|later| kernel.line() < later.release)
    }

    /// `commit 4f024f3797c4 "block: Abstract out bvec iterator"`, or what is
    /// known of it.
    pub fn commit_label(&self) -> String {
        let short = self.commit.get(..12).unwrap_or(&self.commit);
        match (short.is_empty(), self.title.trim().is_empty()) {
            (false, false) => format!("commit {short} \"{}\"", self.title),
            (false, true) => format!("commit {short}"),
            (true, false) => format!("commit id not checked, \"{}\"", self.title),
            (true, true) => "commit not checked".to_string(),
        }
    }
}

impl DriftTable {
    /// The table as text columns (release, symbol, change), oldest first:
    /// what `chapter4 table` prints and the book shows.
    pub fn render_text(&self) -> String {
        let header = ("RELEASE", "SYMBOL", "CHANGE");
        let symbol_width = self
            .changes
            .iter()
            .map(|c| c.symbol.len())
            .chain([header.1.len()])
            .max()
            .unwrap_or(0);
        let mut text = format!("{:<8} {:<symbol_width$} {}\n", header.0, header.1, header.2);
        for change in &self.changes {
            let mark = if change.verified { "" } else { " [unverified]" };
            text.push_str(&format!(
                "{:<8} {:<symbol_width$} {}{mark}\n",
                change.release.to_string(),
                change.symbol,
                change.summary
            ));
        }
        text
    }
}
