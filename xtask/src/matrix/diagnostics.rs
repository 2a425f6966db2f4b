//! Reading the compiler's diagnostics out of a module build's log: the
//! errors a failing stage is judged by, and the lines the book shows.

use std::collections::BTreeSet;

/// A message with the compiler's typographic quotes made plain and runs of
/// blanks made one.
pub fn normalise_message(message: &str) -> String {
    let plain: String = message
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '`' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            c => c,
        })
        .collect();
    plain.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A compiler diagnostic line taken apart: `FILE:LINE:COL: KIND: MESSAGE`.
#[derive(Debug, PartialEq, Eq)]
pub struct Diagnostic<'a> {
    pub file: &'a str,
    pub line: u32,
    pub column: u32,
    /// `error`, `fatal error`, `warning` or `note`.
    pub kind: &'a str,
    pub message: &'a str,
}

pub fn diagnostic(text: &str) -> Option<Diagnostic<'_>> {
    let mut parts = text.splitn(5, ':');
    let file = parts.next()?;
    let line = parts.next()?.parse().ok()?;
    let column = parts.next()?.parse().ok()?;
    let kind = parts.next()?.trim();
    let message = parts.next()?.trim();
    if file.is_empty() || file.contains(' ') {
        return None;
    }
    Some(Diagnostic {
        file,
        line,
        column,
        kind,
        message,
    })
}

/// The error of one compiler line, normalised: position gone, quotes plain.
/// `None` for anything that is not an error (notes, warnings, make's chatter).
pub fn normalise(text: &str) -> Option<String> {
    let d = diagnostic(text)?;
    match d.kind {
        "error" => Some(normalise_message(d.message)),
        "fatal error" => Some(format!("fatal: {}", normalise_message(d.message))),
        _ => None,
    }
}

/// Every distinct error in a build log.
pub fn error_set(log: &str) -> BTreeSet<String> {
    log.lines().filter_map(normalise).collect()
}

/// A build log's errors, each with its notes, as the book shows them: the
/// module's own file by name, a kernel header from `include/`, quotes plain.
/// A warning's notes go with the warning (a note belongs to the diagnostic
/// before it).
pub fn shown_diagnostics(log: &str) -> String {
    let mut out = String::new();
    let mut after_error = false;
    for l in log.lines() {
        let Some(d) = diagnostic(l) else { continue };
        match d.kind {
            "error" | "fatal error" => after_error = true,
            "note" if after_error => {}
            "note" => continue,
            _ => {
                after_error = false;
                continue;
            }
        }
        let file = match d.file.find("/include/") {
            Some(at) => &d.file[at + 1..],
            None => d.file.rsplit('/').next().unwrap_or(d.file),
        };
        out += &format!(
            "{file}:{}:{}: {}: {}\n",
            d.line,
            d.column,
            d.kind,
            normalise_message(d.message)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_lose_their_position_and_typographic_quotes() {
        let gcc = "/build/stage0-historical/hello_target.c:52:13: error: too many arguments \
                   to function \u{2018}dm_get_device\u{2019}";
        assert_eq!(
            normalise(gcc).as_deref(),
            Some("too many arguments to function 'dm_get_device'")
        );
        let spaced = "x.c:1:2: error: from \u{2018}int (*)(status_type_t,  char *)\u{2019}";
        assert_eq!(
            normalise(spaced).as_deref(),
            Some("from 'int (*)(status_type_t, char *)'")
        );
        assert_eq!(
            normalise("x.c:3:4: fatal error: foo.h: No such file or directory").as_deref(),
            Some("fatal: foo.h: No such file or directory")
        );
        // Not errors: notes, warnings, make and cc1 chatter, source echoes.
        for other in [
            "include/linux/device-mapper.h:183:5: note: declared here",
            "x.c:9:1: warning: unused variable 'r'",
            "cc1: some warnings being treated as errors",
            "make[2]: *** [scripts/Makefile.build:250: x.o] Error 1",
            "   92 |     DMWARN(\"I/O error %d at sector %llu\", error,",
        ] {
            assert_eq!(normalise(other), None, "{other}");
        }
    }

    #[test]
    fn the_error_set_is_distinct_errors() {
        let log = "a.c:81:12: error: \u{2018}struct bio\u{2019} has no member named \u{2018}bi_sector\u{2019}\n\
                   a.c:81:42: error: 'struct bio' has no member named 'bi_sector'\n\
                   a.c:93:1: note: in expansion of macro 'DMWARN'\n";
        let set = error_set(log);
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            ["'struct bio' has no member named 'bi_sector'"]
        );
    }

    #[test]
    fn shown_diagnostics_keep_errors_and_notes_with_short_paths() {
        let log = "  CC [M]  /tmp/w/stage0/hello_target.c\n\
                   /tmp/w/stage0/hello_target.c:52:13: error: too many arguments to function \u{2018}f\u{2019}\n\
                   /c/linux-headers-6.1.0-56-common/include/linux/device-mapper.h:183:5: note: declared here\n\
                   cc1: some warnings being treated as errors\n";
        assert_eq!(
            shown_diagnostics(log),
            "hello_target.c:52:13: error: too many arguments to function 'f'\n\
             include/linux/device-mapper.h:183:5: note: declared here\n"
        );
    }

    #[test]
    fn a_warnings_notes_go_with_the_warning() {
        let log = "/w/hello_target.c:50:9: warning: passing argument 4 makes pointer from integer\n\
                   /h/include/linux/device-mapper.h:163:35: note: expected 'struct dm_dev **'\n\
                   /w/hello_target.c:52:13: error: too many arguments to function 'f'\n\
                   /h/include/linux/device-mapper.h:162:5: note: declared here\n";
        assert_eq!(
            shown_diagnostics(log),
            "hello_target.c:52:13: error: too many arguments to function 'f'\n\
             include/linux/device-mapper.h:162:5: note: declared here\n"
        );
    }
}
