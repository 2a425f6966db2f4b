//! The tests that need `spatch` (Debian package `coccinelle`), which
//! `cargo test` on a newcomer's machine may lack: they say so on the
//! terminal, past the test harness's capture, and check nothing; CI sets
//! `DMW_REQUIRE_SPATCH=1`, where a missing spatch fails them instead.

use std::io::Write as _;

use dm_workbook::drift::fix;

/// Whether spatch is here to run `what`; when it is not, says so (or, under
/// `DMW_REQUIRE_SPATCH=1`, fails).
pub fn spatch_for(what: &str) -> bool {
    match fix::spatch_version() {
        Ok(_) => true,
        Err(why) => {
            assert!(
                std::env::var_os("DMW_REQUIRE_SPATCH").is_none_or(|v| v != "1"),
                "{what}: {why} (DMW_REQUIRE_SPATCH=1)"
            );
            // Straight to the terminal: a passing test's output is captured.
            let _ = writeln!(
                std::io::stderr(),
                "NOT CHECKED here: {what}: {why}. CI installs it and checks this \
                 (DMW_REQUIRE_SPATCH=1)."
            );
            false
        }
    }
}
