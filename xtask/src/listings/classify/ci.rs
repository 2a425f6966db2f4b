//! What `.ci/run` runs: its commands, and whether one of them runs a given
//! test. A test that a plain `cargo test` skips (`#[ignore]`) tests a
//! listing only if CI runs it by name.

use std::path::Path;

use super::Repo;

/// The commands `.ci/run` runs, one a line: continued lines joined, runs of
/// blanks made one space.
pub(super) fn ci_commands(repo: &dyn Repo) -> Vec<String> {
    let ci = repo
        .read(Path::new(".ci/run"))
        .unwrap_or_default()
        .replace("\\\n", " ");
    ci.lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// `Ok` if CI runs the test function `name` of the integration test file
/// `file` (`tests/NAME.rs`): a plain test, if some `cargo test` line runs
/// that file's tests; an `#[ignore]`d one, only if such a line asks for the
/// ignored tests (`--ignored` or `--include-ignored`) with no filter or one
/// that matches `name`. `Err` says what is missing.
pub(super) fn ci_runs_test(repo: &dyn Repo, file: &Path, name: &str) -> Result<(), String> {
    let Some(text) = repo.read(file) else {
        return Err(format!("{} cannot be read", file.display()));
    };
    let Some(ignored) = test_is_ignored(&text, name) else {
        return Err(format!("{} has no test `{name}`", file.display()));
    };
    let target = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if ci_commands(repo)
        .iter()
        .any(|line| cargo_test_runs(line, target, name, ignored))
    {
        return Ok(());
    }
    Err(if ignored {
        format!(
            "{}'s `{name}` is ignored by `cargo test`, and .ci/run does not run it \
             (it needs `cargo test --test {target} -- --ignored`)",
            file.display()
        )
    } else {
        format!(
            "{}'s `{name}`: .ci/run runs no `cargo test` that includes it",
            file.display()
        )
    })
}

/// `Some(ignored)` for a `#[test]` function `name` in `text`, `None` if there
/// is none. Its attributes are the `#[...]` lines right above it.
fn test_is_ignored(text: &str, name: &str) -> Option<bool> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with(&format!("fn {name}(")))?;
    let attributes: Vec<&str> = lines[..at]
        .iter()
        .rev()
        .take_while(|l| l.starts_with("#["))
        .copied()
        .collect();
    attributes
        .contains(&"#[test]")
        .then(|| attributes.iter().any(|a| a.starts_with("#[ignore")))
}

/// Whether the `.ci/run` command `line` runs test `name` of the integration
/// test target `target`.
fn cargo_test_runs(line: &str, target: &str, name: &str, ignored: bool) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some(start) = words.windows(2).position(|w| w == ["cargo", "test"]) else {
        return false;
    };
    let words = &words[start + 2..];
    let (cargo_args, harness_args) = match words.iter().position(|w| *w == "--") {
        Some(at) => (&words[..at], &words[at + 1..]),
        None => (words, &[][..]),
    };
    // Another package, or only other kinds of target.
    let elsewhere = [
        "-p",
        "--package",
        "--lib",
        "--bins",
        "--bin",
        "--doc",
        "--benches",
    ];
    let targets: Vec<&str> = cargo_args
        .windows(2)
        .filter(|w| w[0] == "--test")
        .map(|w| w[1])
        .collect();
    if targets.is_empty() && cargo_args.iter().any(|a| elsewhere.contains(a)) {
        return false;
    }
    if !targets.is_empty() && !targets.contains(&target) {
        return false;
    }
    let has = |flag: &str| harness_args.contains(&flag);
    let runs_ignored = has("--ignored") || has("--include-ignored");
    if ignored != runs_ignored && !has("--include-ignored") {
        return false;
    }
    let filters: Vec<&str> = (harness_args.iter())
        .filter(|a| !a.starts_with('-'))
        .copied()
        .collect();
    filters.is_empty()
        || filters.iter().any(|f| {
            if has("--exact") {
                *f == name
            } else {
                name.contains(f)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ignored_test_counts_only_where_ci_asks_for_ignored_tests() {
        let run =
            |line: &str, ignored: bool| cargo_test_runs(line, "drift_fix", "patch_it", ignored);
        assert!(run("cargo test", false));
        assert!(!run("cargo test", true));
        assert!(run("cargo test --test drift_fix -- --ignored", true));
        assert!(run(
            "cargo test --test drift_fix --test other -- --include-ignored",
            true
        ));
        assert!(run(
            "cargo test --test drift_fix -- --include-ignored",
            false
        ));
        assert!(!run("cargo test --test drift_fix -- --ignored", false));
        assert!(!run("cargo test --test other -- --ignored", true));
        assert!(run("cargo test -- --ignored patch", true));
        assert!(!run("cargo test -- --ignored other_name", true));
        assert!(!run("cargo test -- --ignored --exact patch", true));
        assert!(!run("cargo test -p xtask -- --ignored", true));
        assert!(!run("cargo test --lib -- --ignored", true));
        assert!(!run("cargo build", false));
    }

    #[test]
    fn a_tests_attributes_are_the_lines_above_it() {
        let text = "#[test]\nfn plain() {}\n\n#[test]\n#[ignore = \"needs x\"]\nfn skipped() {}\nfn helper() {}\n";
        assert_eq!(test_is_ignored(text, "plain"), Some(false));
        assert_eq!(test_is_ignored(text, "skipped"), Some(true));
        assert_eq!(test_is_ignored(text, "helper"), None);
        assert_eq!(test_is_ignored(text, "absent"), None);
    }
}
