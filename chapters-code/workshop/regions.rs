//! One annotated source gives an exercise's skeleton and its solution.
//!
//! The source is the solution, with numbered TODO regions (the way
//! linux-kernel-labs marks its solutions, with an explicit end):
//!
//! ```text
//! <comment> TODO 2: what the learner must do      kept in both
//!     solution lines                              solution only
//! <comment>~ skeleton line                        skeleton only, unprefixed
//! <comment> END TODO 2                            in neither
//! ```
//!
//! `<comment>` is `//` or `/*` (C and Rust) or `#` (shell); skeleton-only
//! lines start with `//~` or `#~`, and keep their indentation when the prefix
//! (and one space after it) is taken off. A TODO header that opens a block
//! comment runs to the line that closes it; a line-comment header takes the
//! comment lines right after it too. Several regions may share a number (one
//! TODO touching two functions). mdBook's `ANCHOR` lines pass through both
//! renderings, so the book can show either by anchor; the learner's copies
//! drop them ([`without_anchors`]).

use std::fmt;

/// Why a source's regions cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionError {
    /// 1-based line.
    pub line: usize,
    pub message: String,
}

impl fmt::Display for RegionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for RegionError {}

/// What one line of an annotated source is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Outside any region, or a TODO header: in both renderings.
    Both,
    /// Inside a region: the solution's code.
    SolutionOnly,
    /// `//~ ...` inside a region: the skeleton's code.
    SkeletonOnly,
    /// `END TODO N`: in neither.
    Marker,
}

/// A TODO region's number and where its header starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Todo {
    pub number: u32,
    /// 1-based line of the header.
    pub line: usize,
    /// The header's first line, without its comment leader.
    pub text: String,
}

/// The comment leader a trimmed line starts with, if any.
fn leader(trimmed: &str) -> Option<&'static str> {
    ["//", "/*", "#"]
        .into_iter()
        .find(|l| trimmed.starts_with(l))
}

fn skeleton_prefix(trimmed: &str) -> Option<&'static str> {
    ["//~", "#~"].into_iter().find(|p| trimmed.starts_with(p))
}

/// `TODO N: ...` at the start of a comment: N and the text after the colon.
fn todo_header(trimmed: &str) -> Option<(u32, String)> {
    let lead = leader(trimmed)?;
    let rest = trimmed[lead.len()..].trim_start();
    let rest = rest.strip_prefix("TODO ")?;
    let (number, text) = rest.split_once(':')?;
    let number = number.trim().parse().ok()?;
    let text = text.trim().trim_end_matches("*/").trim_end().to_string();
    Some((number, text))
}

/// `END TODO N` in a comment.
fn end_marker(trimmed: &str) -> Option<u32> {
    let lead = leader(trimmed)?;
    let rest = trimmed[lead.len()..].trim_start();
    let rest = rest.strip_prefix("END TODO ")?;
    rest.trim().trim_end_matches("*/").trim().parse().ok()
}

/// Each line's role, and the regions' headers.
fn roles(source: &str) -> Result<(Vec<Role>, Vec<Todo>), RegionError> {
    let lines: Vec<&str> = source.lines().collect();
    let mut roles = Vec::with_capacity(lines.len());
    let mut todos = Vec::new();
    let mut open: Option<u32> = None;
    let mut i = 0;
    let error = |line: usize, message: String| RegionError { line, message };
    while i < lines.len() {
        let trimmed = lines[i].trim_start();
        if let Some(number) = end_marker(trimmed) {
            match open.take() {
                Some(n) if n == number => roles.push(Role::Marker),
                Some(n) => {
                    return Err(error(i + 1, format!("END TODO {number} closes TODO {n}")));
                }
                None => return Err(error(i + 1, format!("END TODO {number} without its TODO"))),
            }
            i += 1;
            continue;
        }
        if let Some((number, text)) = todo_header(trimmed) {
            if let Some(n) = open {
                return Err(error(i + 1, format!("TODO {number} inside TODO {n}")));
            }
            open = Some(number);
            todos.push(Todo {
                number,
                line: i + 1,
                text,
            });
            roles.push(Role::Both);
            let lead = leader(trimmed).unwrap_or("//");
            if lead == "/*" {
                // The header runs to the end of its block comment.
                if !trimmed.contains("*/") {
                    i += 1;
                    while i < lines.len() && !lines[i].contains("*/") {
                        roles.push(Role::Both);
                        i += 1;
                    }
                    if i == lines.len() {
                        return Err(error(
                            todos.last().map_or(0, |t| t.line),
                            "unclosed comment".into(),
                        ));
                    }
                    roles.push(Role::Both);
                }
            } else {
                while i + 1 < lines.len() {
                    let next = lines[i + 1].trim_start();
                    if next.starts_with(lead)
                        && skeleton_prefix(next).is_none()
                        && end_marker(next).is_none()
                        && todo_header(next).is_none()
                    {
                        roles.push(Role::Both);
                        i += 1;
                    } else {
                        break;
                    }
                }
            }
            i += 1;
            continue;
        }
        if skeleton_prefix(trimmed).is_some() {
            if open.is_none() {
                return Err(error(i + 1, "a skeleton line outside a TODO region".into()));
            }
            roles.push(Role::SkeletonOnly);
        } else if open.is_some() {
            roles.push(Role::SolutionOnly);
        } else {
            roles.push(Role::Both);
        }
        i += 1;
    }
    if let Some(n) = open {
        let line = todos.last().map_or(0, |t| t.line);
        return Err(error(line, format!("TODO {n} has no END TODO {n}")));
    }
    if todos.is_empty() {
        return Err(error(1, "no TODO region".into()));
    }
    Ok((roles, todos))
}

fn render(
    source: &str,
    keep: impl Fn(Role) -> bool,
    unprefix: bool,
) -> Result<String, RegionError> {
    let (roles, _) = roles(source)?;
    let mut out = String::with_capacity(source.len());
    for (line, role) in source.lines().zip(roles) {
        if !keep(role) {
            continue;
        }
        if role == Role::SkeletonOnly && unprefix {
            let indent = &line[..line.len() - line.trim_start().len()];
            let trimmed = line.trim_start();
            let prefix = skeleton_prefix(trimmed).unwrap_or("");
            let code = &trimmed[prefix.len()..];
            let code = code.strip_prefix(' ').unwrap_or(code);
            if code.is_empty() {
                out.push('\n');
            } else {
                out.push_str(indent);
                out.push_str(code);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

/// The skeleton: the TODO headers stay, the solution's lines go, and the
/// skeleton-only lines take their place.
pub fn skeleton(source: &str) -> Result<String, RegionError> {
    render(
        source,
        |r| matches!(r, Role::Both | Role::SkeletonOnly),
        true,
    )
}

/// The solution: the source without its skeleton-only lines and end markers.
pub fn solution(source: &str) -> Result<String, RegionError> {
    render(
        source,
        |r| matches!(r, Role::Both | Role::SolutionOnly),
        false,
    )
}

/// The TODO regions' headers, in order.
pub fn todos(source: &str) -> Result<Vec<Todo>, RegionError> {
    Ok(roles(source)?.1)
}

/// A rendering without mdBook's `ANCHOR:` and `ANCHOR_END:` lines, for the
/// learner's copy (the book needs them; the learner does not).
pub fn without_anchors(text: &str) -> String {
    text.lines()
        .filter(|l| !l.contains("ANCHOR:") && !l.contains("ANCHOR_END:"))
        .fold(String::with_capacity(text.len()), |mut out, l| {
            out.push_str(l);
            out.push('\n');
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "\
int f(int x)
{
\t/* TODO 1: return twice x */
\treturn 2 * x;
\t//~ return 0;
\t/* END TODO 1 */
}
";

    #[test]
    fn a_region_gives_both_renderings() {
        assert_eq!(
            skeleton(C).unwrap(),
            "int f(int x)\n{\n\t/* TODO 1: return twice x */\n\treturn 0;\n}\n"
        );
        assert_eq!(
            solution(C).unwrap(),
            "int f(int x)\n{\n\t/* TODO 1: return twice x */\n\treturn 2 * x;\n}\n"
        );
        let todos = todos(C).unwrap();
        assert_eq!(todos.len(), 1);
        assert_eq!((todos[0].number, todos[0].line), (1, 3));
        assert_eq!(todos[0].text, "return twice x");
    }

    #[test]
    fn headers_run_to_the_end_of_their_comment() {
        let block = "/*\n * x\n */\n/* TODO 2: a\n * b\n */\nsolution();\n/* END TODO 2 */\n";
        assert_eq!(
            skeleton(block).unwrap(),
            "/*\n * x\n */\n/* TODO 2: a\n * b\n */\n"
        );
        let line = "# TODO 3: check it\n# more words\nrun\n#~ true\n# END TODO 3\n";
        assert_eq!(
            skeleton(line).unwrap(),
            "# TODO 3: check it\n# more words\ntrue\n"
        );
        assert_eq!(
            solution(line).unwrap(),
            "# TODO 3: check it\n# more words\nrun\n"
        );
    }

    #[test]
    fn bad_regions_are_refused_with_their_line() {
        let cases = [
            ("x\n", "no TODO region"),
            ("// TODO 1: a\nx\n", "TODO 1 has no END TODO 1"),
            ("// TODO 1: a\n// TODO 2: b\n", "TODO 2 inside TODO 1"),
            ("// TODO 1: a\n// END TODO 2\n", "END TODO 2 closes TODO 1"),
            ("// END TODO 2\n", "END TODO 2 without its TODO"),
            ("//~ x\n", "a skeleton line outside a TODO region"),
            ("/* TODO 1: a\n", "unclosed comment"),
        ];
        for (source, message) in cases {
            let err = skeleton(source).unwrap_err();
            assert_eq!(err.message, message, "{source:?}");
        }
        assert_eq!(skeleton("x\n// TODO 1: a\n").unwrap_err().line, 2);
    }

    #[test]
    fn anchors_pass_through_and_the_learners_copy_drops_them() {
        let source = "// ANCHOR: f\n// TODO 1: a\nb\n// END TODO 1\n// ANCHOR_END: f\n";
        let skel = skeleton(source).unwrap();
        assert_eq!(skel, "// ANCHOR: f\n// TODO 1: a\n// ANCHOR_END: f\n");
        assert_eq!(without_anchors(&skel), "// TODO 1: a\n");
    }

    #[test]
    fn an_empty_skeleton_line_is_a_blank_line() {
        let source = "// TODO 1: a\n//~\n//~ x\nb\n// END TODO 1\n";
        assert_eq!(skeleton(source).unwrap(), "// TODO 1: a\n\nx\n");
    }
}
