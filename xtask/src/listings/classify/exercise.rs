//! Listings of the workshop: an exercise's source or its skeleton as the
//! book keeps it, tested by `cargo xtask exercises` in `.ci/run`.

use std::path::Path;

use super::ci::ci_commands;
use super::{How, Include, Repo, Verdict, anchor_in, resolve};

/// A block that includes an exercise's file: its source under `exercises/`
/// or its skeleton as the book keeps it. `None` for any other file.
pub(super) fn exercise_listing(
    lang: &str,
    include: &Include<'_>,
    chapter: &Path,
    repo: &dyn Repo,
) -> Option<Verdict> {
    use dm_workbook::workshop;
    let file = resolve(chapter, include.path)?;
    let skeletons = Path::new(workshop::book::DIR).join("skeletons");
    let (rest, skeleton) = match (
        file.strip_prefix(workshop::DIR),
        file.strip_prefix(&skeletons),
    ) {
        (Ok(rest), _) => (rest, false),
        (_, Ok(rest)) => (rest, true),
        _ => return None,
    };
    let mut parts = rest.iter().map(|p| p.to_string_lossy().into_owned());
    let (Some(dir), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return Some(Verdict::Untested(format!(
            "{} is not an exercise's file",
            file.display()
        )));
    };
    let manifest = repo
        .read(Path::new(workshop::PATH))
        .and_then(|text| workshop::Manifest::parse(&text).ok());
    let known = manifest.is_some_and(|m| {
        m.exercises
            .iter()
            .any(|e| e.dir == dir && e.files.contains(&name))
    });
    if !known {
        return Some(Verdict::Untested(format!(
            "{} is not a file {} lists for an exercise",
            file.display(),
            workshop::PATH
        )));
    }
    let wanted = match name.rsplit('.').next() {
        Some("c") => "c",
        Some("rs") => "rust",
        _ => "sh",
    };
    if lang != wanted {
        return Some(Verdict::Untested(format!(
            "{} is shown as {lang}, not {wanted}",
            file.display()
        )));
    }
    if !ci_commands(repo)
        .iter()
        .any(|l| l.starts_with("cargo xtask exercises"))
    {
        return Some(Verdict::Untested(format!(
            "{}: .ci/run does not run `cargo xtask exercises`",
            file.display()
        )));
    }
    Some(match anchor_in(include, &file, repo) {
        Ok(anchor) => Verdict::Tested(How::Exercise {
            file,
            anchor,
            skeleton,
        }),
        Err(why) => Verdict::Untested(why),
    })
}
