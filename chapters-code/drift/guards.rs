//! The source as a compiler for one kernel would read it, line for line:
//! version guards (`#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 13, 0)`)
//! are decided for that kernel, so the branch it builds is read and the
//! others are blanked; a conditional the doctor cannot decide (`#ifdef
//! CONFIG_...`, `defined(...)`, a vendor's macro) keeps its first branch.
//! A choice on kernel options alone (`#ifdef CONFIG_BLK_DEV_ZONED`) is read
//! like unguarded code: the branch is built wherever the option is on. Any
//! other undecided branch counts as guarded: the author chose there, and
//! the doctor reports nothing in it.
//!
//! Blanking whole branches also lets tree-sitter parse what a conditional
//! around half a function header would otherwise break.

use super::Release;

/// A source with one branch of each conditional kept.
pub struct Selected {
    /// The source with inactive branches and conditional directives blanked
    /// (each blanked line left empty, so line numbers stay).
    pub text: String,
    /// Per line (0-based): inside a conditional the doctor could not decide.
    pub guarded: Vec<bool>,
}

/// One open conditional.
struct Frame {
    /// The current branch is compiled (or, undecided, kept for reading).
    active: bool,
    /// Some branch was already taken: later ones are not.
    taken: bool,
    /// The current branch was kept without being decided.
    undecided: bool,
}

/// Decide the conditionals of `source` for `kernel`.
pub fn select(source: &str, kernel: Release) -> Selected {
    let mut frames: Vec<Frame> = Vec::new();
    let mut text = String::with_capacity(source.len());
    let mut guarded = Vec::new();
    let lines: Vec<&str> = source.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let directive = line.trim_start().strip_prefix('#').map(str::trim_start);
        // A directive continues over lines ending in a backslash.
        let mut end = index;
        if directive.is_some() {
            while end + 1 < lines.len() && lines[end].trim_end().ends_with('\\') {
                end += 1;
            }
        }
        let conditional = directive.and_then(|d| {
            let word: String = d.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
            let matches = matches!(
                word.as_str(),
                "if" | "ifdef" | "ifndef" | "elif" | "else" | "endif"
            );
            matches.then(|| {
                let mut whole = d[word.len()..].to_string();
                for more in &lines[index + 1..=end] {
                    whole.push(' ');
                    whole.push_str(more);
                }
                (word, whole.replace('\\', " "))
            })
        });
        let Some((word, condition)) = conditional else {
            let shown = frames.iter().all(|f| f.active);
            let undecided = frames.iter().any(|f| f.undecided);
            for line in &lines[index..=end] {
                if shown {
                    text.push_str(line);
                }
                text.push('\n');
                guarded.push(shown && undecided);
            }
            index = end + 1;
            continue;
        };
        match word.as_str() {
            "if" | "ifdef" | "ifndef" => {
                let decided = match word.as_str() {
                    "if" => evaluate(&condition, kernel),
                    "ifndef" if is_include_guard(&condition) => Some(true),
                    _ => None,
                };
                let mut frame = open(decided);
                if decided.is_none() && names_only_options(&condition) {
                    frame.undecided = false;
                }
                frames.push(frame);
            }
            "elif" => {
                if let Some(frame) = frames.last_mut() {
                    if frame.taken {
                        frame.active = false;
                        frame.undecided = false;
                    } else {
                        *frame = open(evaluate(&condition, kernel));
                    }
                }
            }
            "else" => {
                if let Some(frame) = frames.last_mut() {
                    frame.active = !frame.taken;
                    frame.taken = true;
                    frame.undecided = false;
                }
            }
            _ => {
                frames.pop();
            }
        }
        // The directive's own lines stay, blank.
        text.extend(std::iter::repeat_n('\n', end + 1 - index));
        guarded.resize(guarded.len() + end + 1 - index, false);
        index = end + 1;
    }
    Selected { text, guarded }
}

fn open(decided: Option<bool>) -> Frame {
    match decided {
        Some(value) => Frame {
            active: value,
            taken: value,
            undecided: false,
        },
        None => Frame {
            active: true,
            taken: true,
            undecided: true,
        },
    }
}

/// A condition on kernel options only: `CONFIG_X`, `defined(CONFIG_X)`,
/// `IS_ENABLED(CONFIG_X)`, joined by `!`, `&&`, `||`.
fn names_only_options(condition: &str) -> bool {
    let Some(tokens) = tokens(condition) else {
        return false;
    };
    let mut any = false;
    for token in &tokens {
        match token {
            Token::Name(name) if name.starts_with("CONFIG_") => any = true,
            Token::Name(name)
                if matches!(
                    name.as_str(),
                    "defined" | "IS_ENABLED" | "IS_BUILTIN" | "IS_MODULE"
                ) => {}
            Token::Op(op) if matches!(*op, "!" | "&&" | "||" | "(" | ")") => {}
            _ => return false,
        }
    }
    any
}

/// `#ifndef FOO_H`: a header's include guard, not a choice between kernels.
fn is_include_guard(name: &str) -> bool {
    let name = name.trim();
    name.trim_end_matches('_').ends_with("_H")
}

/// A token of a preprocessor condition.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(i64),
    Name(String),
    Op(&'static str),
}

/// The operators a condition may use, longest first where one starts another.
const OPS: [&str; 14] = [
    "&&", "||", ">=", "<=", "==", "!=", ">", "<", "!", "(", ")", ",", "+", "-",
];

fn tokens(text: &str) -> Option<Vec<Token>> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        // A comment ends what the condition says.
        if rest.is_empty() || rest.starts_with("//") || rest.starts_with("/*") {
            return Some(out);
        }
        let c = rest.chars().next()?;
        if c.is_ascii_digit() {
            let digits: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            rest = &rest[digits.len()..];
            let number = digits.trim_end_matches(['u', 'U', 'l', 'L']);
            let value = match number.strip_prefix("0x") {
                Some(hex) => i64::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            out.push(Token::Number(value));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            rest = &rest[name.len()..];
            out.push(Token::Name(name));
        } else {
            let op = OPS.iter().find(|op| rest.starts_with(**op))?;
            rest = &rest[op.len()..];
            out.push(Token::Op(op));
        }
    }
}

/// A condition's value: a number, or unknown (a name the doctor cannot know).
type Value = Option<i64>;

/// The condition's truth for `kernel`, or `None` when it depends on
/// something other than the kernel's version.
pub fn evaluate(condition: &str, kernel: Release) -> Option<bool> {
    let tokens = tokens(condition)?;
    let mut parser = Condition {
        tokens,
        at: 0,
        kernel,
    };
    let value = parser.or()?;
    if parser.at != parser.tokens.len() {
        return None;
    }
    value.map(|v| v != 0)
}

struct Condition {
    tokens: Vec<Token>,
    at: usize,
    kernel: Release,
}

/// Parsing fails (`None`) on what is not a condition; a parsed condition's
/// value may still be unknown (`Some(None)`).
impl Condition {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Token::Op(o)) if *o == op) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Option<Value> {
        let mut left = self.and()?;
        while self.eat("||") {
            let right = self.and()?;
            left = match (left, right) {
                (Some(a), _) if a != 0 => Some(1),
                (_, Some(b)) if b != 0 => Some(1),
                (Some(_), Some(_)) => Some(0),
                _ => None,
            };
        }
        Some(left)
    }

    fn and(&mut self) -> Option<Value> {
        let mut left = self.comparison()?;
        while self.eat("&&") {
            let right = self.comparison()?;
            left = match (left, right) {
                (Some(0), _) | (_, Some(0)) => Some(0),
                (Some(_), Some(_)) => Some(1),
                _ => None,
            };
        }
        Some(left)
    }

    fn comparison(&mut self) -> Option<Value> {
        let left = self.sum()?;
        for op in [">=", "<=", "==", "!=", ">", "<"] {
            if self.eat(op) {
                let right = self.sum()?;
                return Some(match (left, right) {
                    (Some(a), Some(b)) => Some(i64::from(match op {
                        ">=" => a >= b,
                        "<=" => a <= b,
                        "==" => a == b,
                        "!=" => a != b,
                        ">" => a > b,
                        _ => a < b,
                    })),
                    _ => None,
                });
            }
        }
        Some(left)
    }

    fn sum(&mut self) -> Option<Value> {
        let mut left = self.unary()?;
        loop {
            let plus = self.eat("+");
            if !plus && !self.eat("-") {
                return Some(left);
            }
            let right = self.unary()?;
            left = match (left, right) {
                (Some(a), Some(b)) => Some(if plus { a + b } else { a - b }),
                _ => None,
            };
        }
    }

    fn unary(&mut self) -> Option<Value> {
        if self.eat("!") {
            return Some(self.unary()?.map(|v| i64::from(v == 0)));
        }
        if self.eat("(") {
            let value = self.or()?;
            return self.eat(")").then_some(value);
        }
        match self.peek()?.clone() {
            Token::Number(n) => {
                self.at += 1;
                Some(Some(n))
            }
            Token::Name(name) => {
                self.at += 1;
                self.name(&name)
            }
            Token::Op(_) => None,
        }
    }

    fn name(&mut self, name: &str) -> Option<Value> {
        match name {
            "LINUX_VERSION_CODE" => {
                let (a, b, c) = self.kernel.kernel_version();
                Some(Some(version_code(a, b, c)))
            }
            "KERNEL_VERSION" => {
                let args = self.arguments()?;
                match args.as_slice() {
                    [Some(a), Some(b), Some(c)] => Some(Some((a << 16) + (b << 8) + c.min(&255))),
                    [_, _, _] => Some(None),
                    _ => None,
                }
            }
            "defined" => {
                // `defined(X)` or `defined X`: which macros exist is unknown.
                if self.eat("(") {
                    self.at += 1;
                    self.eat(")").then_some(None)
                } else {
                    self.at += 1;
                    Some(None)
                }
            }
            _ => {
                // Another macro, maybe function-like: its value is unknown.
                if matches!(self.peek(), Some(Token::Op("("))) {
                    self.arguments()?;
                }
                Some(None)
            }
        }
    }

    fn arguments(&mut self) -> Option<Vec<Value>> {
        if !self.eat("(") {
            return None;
        }
        let mut args = Vec::new();
        if self.eat(")") {
            return Some(args);
        }
        loop {
            args.push(self.or()?);
            if self.eat(")") {
                return Some(args);
            }
            if !self.eat(",") {
                return None;
            }
        }
    }
}

fn version_code(a: u32, b: u32, c: u32) -> i64 {
    (i64::from(a) << 16) + (i64::from(b) << 8) + i64::from(c.min(255))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(text: &str) -> Release {
        text.parse().unwrap()
    }

    #[test]
    fn decides_version_guards_and_leaves_the_rest_unknown() {
        let at = |c: &str, k: &str| evaluate(c, r(k));
        let ge = "LINUX_VERSION_CODE >= KERNEL_VERSION(4,13,0)";
        assert_eq!(at(ge, "4.12"), Some(false));
        assert_eq!(at(ge, "7.3"), Some(true));
        let backport = "(LINUX_VERSION_CODE >= KERNEL_VERSION(6,8,2)) || \
            ((LINUX_VERSION_CODE >= KERNEL_VERSION(6,1,83)) && (LINUX_VERSION_CODE < KERNEL_VERSION(6,2,0)))";
        assert_eq!(at(backport, "6.1"), Some(false));
        assert_eq!(at(backport, "6.1.192"), Some(true));
        assert_eq!(at(backport, "6.12"), Some(true));
        let vendor = "LINUX_VERSION_CODE >= KERNEL_VERSION(4,6,0) || RHEL_RELEASE_CODE >= RHEL_RELEASE_VERSION(7,3)";
        assert_eq!(at(vendor, "5.10"), Some(true));
        assert_eq!(at(vendor, "3.10"), None);
        assert_eq!(at("defined(CONFIG_BLK_DEV_ZONED)", "6.1"), None);
        assert_eq!(at("!defined(X) && 0", "6.1"), Some(false));
        assert_eq!(at("DMW_HAVE_STATUSTYPE_IMA", "6.1"), None);
        assert_eq!(
            at(
                "LINUX_VERSION_CODE < KERNEL_VERSION(5, 10, 0) /* old */",
                "5.10"
            ),
            Some(false)
        );
    }

    #[test]
    fn keeps_the_branch_the_kernel_builds_and_blanks_the_others() {
        let source = "a\n#if LINUX_VERSION_CODE >= KERNEL_VERSION(4,13,0)\nnew\n#else\nold\n#endif\n#ifdef CONFIG_X\nx\n#else\ny\n#endif\n#ifndef FOO_H\nz\n#endif\n";
        let new = select(source, r("7.3"));
        assert_eq!(new.text, "a\n\nnew\n\n\n\n\nx\n\n\n\n\nz\n\n");
        let old = select(source, r("4.9"));
        assert_eq!(old.text, "a\n\n\n\nold\n\n\nx\n\n\n\n\nz\n\n");
        // Only the undecided branch counts as guarded.
        let guarded: Vec<usize> = (new.guarded.iter().enumerate())
            .filter(|(_, g)| **g)
            .map(|(i, _)| i + 1)
            .collect();
        assert!(guarded.is_empty(), "{guarded:?}");
        let vendor = select("#ifdef RHEL_RELEASE_CODE\nx\n#endif\n", r("7.3"));
        assert_eq!(vendor.guarded, [false, true, false]);
    }

    #[test]
    fn a_directive_continues_over_backslashes() {
        let source =
            "#if LINUX_VERSION_CODE >= \\\n    KERNEL_VERSION(5,0,0)\nyes\n#elif 1\nno\n#endif\n";
        let selected = select(source, r("6.1"));
        assert_eq!(selected.text, "\n\nyes\n\n\n\n");
    }
}
