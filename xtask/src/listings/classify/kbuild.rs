//! Listings of the compat header's feature probes and of kbuild files,
//! tested by the kernel matrix, which builds every stage (whose Kbuild
//! includes the probes' fragment) and runs each probe on every line; and of
//! the drift table's semantic patches, which `tests/drift_fix.rs` applies to
//! their drift cases.

use std::path::{Path, PathBuf};

use super::ci::ci_runs_test;
use super::{How, Include, Repo, Verdict, anchor_in, resolve, stage_sources};

/// The kbuild fragment that runs the probes, relative to the repository.
const PROBES_FRAGMENT: &str = "module/compat/dmw_probes.kbuild";

/// Whether some stage of the manifest includes the probes' fragment in its
/// `Kbuild`: then the matrix runs the fragment, and every probe, on each
/// line the stage builds on.
fn probes_run(repo: &dyn Repo) -> bool {
    repo.read(Path::new(PROBES_FRAGMENT)).is_some()
        && stage_kbuilds(repo)
            .iter()
            .filter_map(|k| repo.read(k))
            .any(|text| includes_fragment(&text, PROBES_FRAGMENT))
}

/// Each manifest stage's `Kbuild`.
fn stage_kbuilds(repo: &dyn Repo) -> Vec<PathBuf> {
    (stage_sources(repo).iter())
        .filter_map(|source| source.parent().map(|dir| dir.join("Kbuild")))
        .collect()
}

/// `include $(src)/../compat/NAME` names `module/compat/NAME`.
fn includes_fragment(kbuild: &str, fragment: &str) -> bool {
    let Some(name) = Path::new(fragment).file_name() else {
        return false;
    };
    let wanted = format!("include $(src)/../compat/{}", name.to_string_lossy());
    kbuild.lines().any(|l| l.trim() == wanted)
}

/// A feature probe, `module/compat/probes/NAME.c`, which the matrix
/// compiles on every line through the fragment.
pub(super) fn is_probe(file: &Path, repo: &dyn Repo) -> bool {
    file.parent() == Some(Path::new("module/compat/probes"))
        && file.extension().is_some_and(|e| e == "c")
        && probes_run(repo)
}

/// A ```` ```make ```` block: a stage's `Kbuild` or the probes' fragment,
/// by anchor.
pub(super) fn make(
    attrs: &[&str],
    directive: Option<Include<'_>>,
    chapter: &Path,
    repo: &dyn Repo,
) -> Verdict {
    if let Some(other) = attrs.first() {
        return Verdict::Untested(format!("attribute `{other}` on a make block"));
    }
    let Some(include) = directive else {
        return Verdict::Untested(
            "an inline makefile is not built: include a stage's Kbuild or a \
             module/compat/ fragment by anchor"
                .into(),
        );
    };
    let Some(file) = resolve(chapter, include.path) else {
        return Verdict::Untested(format!("{} leaves the repository", include.path));
    };
    let stage_kbuild = stage_kbuilds(repo).contains(&file);
    let fragment = file == Path::new(PROBES_FRAGMENT) && probes_run(repo);
    if !stage_kbuild && !fragment {
        return Verdict::Untested(format!(
            "{} is neither a stage's Kbuild nor a kbuild fragment a stage includes",
            file.display()
        ));
    }
    match anchor_in(&include, &file, repo) {
        Ok(anchor) => Verdict::Tested(How::KbuildInclude { file, anchor }),
        Err(why) => Verdict::Untested(why),
    }
}

/// The test that applies every semantic patch to its drift case (it needs
/// spatch, so a plain `cargo test` ignores it and CI must run it).
const COCCI_TEST: (&str, &str) = (
    "tests/drift_fix.rs",
    "every_semantic_patch_clears_its_drift_from_its_old_case",
);

/// A ```` ```cocci ```` block: a semantic patch of `module/drift/cocci/`
/// whose drift entry says `cocci = true`, by anchor.
pub(super) fn cocci(
    attrs: &[&str],
    directive: Option<Include<'_>>,
    chapter: &Path,
    repo: &dyn Repo,
) -> Verdict {
    if let Some(other) = attrs.first() {
        return Verdict::Untested(format!("attribute `{other}` on a cocci block"));
    }
    let Some(include) = directive else {
        return Verdict::Untested(
            "an inline semantic patch is not applied: include one of module/drift/cocci/ by anchor"
                .into(),
        );
    };
    let Some(file) = resolve(chapter, include.path) else {
        return Verdict::Untested(format!("{} leaves the repository", include.path));
    };
    let id = (file.parent() == Some(Path::new("module/drift/cocci")))
        .then(|| file.file_stem().and_then(|s| s.to_str()))
        .flatten();
    let table = repo
        .read(Path::new("module/drift.toml"))
        .unwrap_or_default();
    let marked = id.is_some_and(|id| entry_has_cocci(&table, id));
    if !marked {
        return Verdict::Untested(format!(
            "{} is not a semantic patch of a drift entry with `cocci = true`",
            file.display()
        ));
    }
    if let Err(why) = ci_runs_test(repo, Path::new(COCCI_TEST.0), COCCI_TEST.1) {
        return Verdict::Untested(format!("{}: {why}", file.display()));
    }
    match anchor_in(&include, &file, repo) {
        Ok(anchor) => Verdict::Tested(How::SemanticPatch { file, anchor }),
        Err(why) => Verdict::Untested(why),
    }
}

/// Whether the drift table's entry `id` says `cocci = true`.
fn entry_has_cocci(table: &str, id: &str) -> bool {
    let Ok(table) = dm_workbook::drift::DriftTable::parse(table) else {
        return false;
    };
    table.get(id).is_some_and(|c| c.cocci)
}
