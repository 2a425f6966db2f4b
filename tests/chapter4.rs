//! Chapter 4 names kernel releases in parentheses: `(3.14)`, or `(3.8,
//! unverified)` where module/drift.toml could not confirm the change. This
//! test keeps those marks in step with the drift table: a release the table
//! has must carry `unverified` exactly when every change of that release is
//! unverified there (mixed releases may go either way).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Release → (any change verified, any change unverified).
fn releases() -> BTreeMap<String, (bool, bool)> {
    let text = fs::read_to_string(root().join("module/drift.toml")).expect("drift.toml");
    let table: toml::Table = toml::from_str(&text).expect("drift.toml parses");
    let mut out: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for change in table["change"].as_array().expect("[[change]]") {
        let release = change["release"].as_str().expect("release").to_string();
        let verified = change["verified"].as_bool().expect("verified");
        let entry = out.entry(release).or_default();
        if verified {
            entry.0 = true;
        } else {
            entry.1 = true;
        }
    }
    out
}

/// Each `(RELEASE ...)` in `text`: the release and whether `unverified`
/// follows it inside the same parentheses.
fn mentions(text: &str) -> Vec<(String, bool)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('(') {
        let rest = &text[at + 1..];
        let inside = &rest[..rest.find(')').unwrap_or(rest.len())];
        let release: String = inside
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.')
            .collect();
        let numeric = release.split('.').count() >= 2
            && release.split('.').all(|p| !p.is_empty() && p.len() <= 3);
        if numeric {
            found.push((release, inside.contains("unverified")));
        }
    }
    found
}

#[test]
fn finds_release_mentions() {
    assert_eq!(
        mentions("a (3.8, unverified) b (3.14) c (Debian 12) d (7.2 adds) e (x 4.1)"),
        [
            ("3.8".to_string(), true),
            ("3.14".to_string(), false),
            ("7.2".to_string(), false),
        ]
    );
}

#[test]
fn chapter4_marks_releases_as_the_drift_table_does() {
    let text = fs::read_to_string(root().join("book/src/chapter4.md")).expect("chapter4.md");
    let releases = releases();
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (release, marked) in mentions(&text) {
        let Some(&(any_verified, any_unverified)) = releases.get(&release) else {
            continue;
        };
        checked += 1;
        if marked && !any_unverified {
            wrong.push(format!("({release}, unverified): the table verified it"));
        }
        if !marked && !any_verified {
            wrong.push(format!("({release}): the table marks it unverified"));
        }
    }
    assert!(checked >= 10, "only {checked} release mentions found");
    assert!(
        wrong.is_empty(),
        "chapter 4 vs module/drift.toml:\n{}",
        wrong.join("\n")
    );
}
