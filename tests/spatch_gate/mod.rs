//! The tests that need `spatch` (Debian package `coccinelle`) are marked
//! `#[ignore = "needs spatch (coccinelle)"]`, so a plain `cargo test` lists
//! them as ignored rather than passing them unchecked; `.ci/run` runs them
//! with `--ignored` where coccinelle is installed, as README.md tells a
//! newcomer to.

use dm_workbook::drift::fix;

/// Fails at once, saying what to install, when spatch is missing: a test
/// that needs it checks nothing without it.
pub fn require_spatch() {
    if let Err(why) = fix::spatch_version() {
        panic!("this test checks nothing without spatch: {why}");
    }
}
