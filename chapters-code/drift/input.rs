//! What the doctor will read: C source, and (unless it is declared one part
//! of a target) a whole target with its `struct target_type`.

use tree_sitter::Node;

use super::code::{has_target_type, line_of, parse};
use super::guards::select;
use super::{DriftError, Release};

/// What makes a file something the doctor can read: C, and (unless it is
/// declared one part of a target) holding the target's `struct target_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A whole target: its `struct target_type` must be in the file.
    Target,
    /// One source file of a target whose `struct target_type` is elsewhere.
    Part,
}

/// The share of a file's non-blank bytes tree-sitter may fail to parse before
/// the file is taken for something other than C. Kernel macros the grammar
/// does not know (`module_init(...)`, `__init`) leave small errors in real
/// targets; prose or broken code leaves large ones.
const MOST_UNPARSED: f64 = 0.25;

/// Refuse a source the doctor cannot meaningfully read: not C, or (for a
/// whole target) no `struct target_type` in it. Its findings would be
/// silence, not "no drift".
pub fn check_input(source: &str, expect: Expect) -> Result<(), DriftError> {
    // Read as the newest kernel would build it: a conditional around half a
    // function header is not a parse failure of the file.
    let selected = select(source, Release::NEWEST);
    let source = selected.text.as_str();
    let tree = parse(source)?;
    let total = source.bytes().filter(|b| !b.is_ascii_whitespace()).count();
    let unparsed = unparsed_bytes(tree.root_node(), source);
    if total == 0 {
        return Err(DriftError::NotC("the file is empty".into()));
    }
    if unparsed as f64 > MOST_UNPARSED * total as f64 {
        let line = first_error_line(tree.root_node()).unwrap_or(1);
        return Err(DriftError::NotC(format!(
            "{}% of it does not parse, from line {line}",
            unparsed * 100 / total
        )));
    }
    if expect == Expect::Target && !has_target_type(&tree, source) {
        return Err(DriftError::NoTargetType);
    }
    Ok(())
}

/// Non-blank bytes under ERROR or missing nodes.
fn unparsed_bytes(node: Node, source: &str) -> usize {
    if node.is_error() || node.is_missing() {
        let text = &source.as_bytes()[node.byte_range()];
        return text
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .count()
            .max(1);
    }
    if !node.has_error() {
        return 0;
    }
    let mut cursor = node.walk();
    let children: Vec<Node> = node.children(&mut cursor).collect();
    children.iter().map(|c| unparsed_bytes(*c, source)).sum()
}

fn first_error_line(node: Node) -> Option<usize> {
    if node.is_error() || node.is_missing() {
        return Some(line_of(node));
    }
    let mut cursor = node.walk();
    let children: Vec<Node> = node.children(&mut cursor).collect();
    children
        .into_iter()
        .filter(|c| c.has_error())
        .find_map(first_error_line)
}
