//! The drift doctor: finds, in a target's C source, each use of an API form
//! that does not fit the kernel the learner targets.
//!
//! The source is parsed with tree-sitter's C grammar, so a call's argument count
//! or a callback's parameter list is found however the code is formatted. What
//! to look for comes from the table's `detect_old` and `detect_new` lists.
//!
//! The rule for `--kernel VERSION`: a use of an old form is reported when
//! VERSION has the new form, a use of the new form when it does not. A kernel
//! has the new form from the change's mainline release on, and on an older
//! line from a stable release the table lists (`6.1.83`), when VERSION names
//! its sublevel. Vendor backports are not assumed: a version number does not
//! say which vendor's kernel it is (RHEL 7's 3.10 and mainline 3.10 differ), so
//! the finding names them for the reader to weigh.
//!
//! Version guards (`#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 13, 0)`) are
//! decided for the kernel asked about, and the branch it would build is read
//! (a guard that picks the wrong branch on a newer kernel is reported like
//! unguarded code); a conditional on anything else (`#ifdef CONFIG_...`, a
//! vendor macro) keeps its first branch, and nothing in it is reported: the
//! author chose there. Include guards (`#ifndef FOO_H`) are no choice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::Path;

use tree_sitter::{Node, Parser, Tree};

use super::guards::select;
use super::input::{Expect, check_input};
use super::table::{Change, Detector, DetectorKind, DriftTable};
use super::{DriftError, Release};

/// Which form of a change a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Direction {
    /// The old form, on a kernel that has the new one.
    Old,
    /// The new form, on a kernel older than the change.
    New,
}

/// One use of a form that does not fit the target kernel.
#[derive(Debug, Clone)]
pub struct Finding<'t> {
    /// 1-based line of the use.
    pub line: usize,
    pub direction: Direction,
    pub change: &'t Change,
    /// For a callback: the lines that assign the function (`.map = f,`,
    /// `bio->bi_end_io = f;`), where a compiler reports the mismatch.
    pub assigned_at: Vec<usize>,
    /// The last line of the function the finding sits in, where GCC reports
    /// "control reaches end of non-void function" when the finding's
    /// statement was the return.
    pub function_end: Option<usize>,
}

impl Finding<'_> {
    /// The finding as a JSON object, for tools and editors: the same facts
    /// as [`Finding::render`], each in its own field.
    pub fn to_json(&self) -> serde_json::Value {
        let change = self.change;
        let direction = match self.direction {
            Direction::Old => "old",
            Direction::New => "new",
        };
        serde_json::json!({
            "line": self.line,
            "id": change.id,
            "direction": direction,
            "symbol": change.symbol,
            "summary": change.summary,
            "release": change.release.to_string(),
            "commit": change.commit,
            "title": change.title,
            "verified": change.verified,
            "fix": self.fix_text(),
            "backports": change.backports,
            "assigned_at": self.assigned_at,
            "function_end": self.function_end,
            "builds": self.builds(),
        })
    }

    /// Whether the code still builds despite this finding: advice, not an
    /// error the compiler will print.
    pub fn builds(&self) -> bool {
        self.direction == Direction::Old && self.change.old_builds
    }

    /// What to do about it, pointing towards the kernel asked about.
    fn fix_text(&self) -> String {
        let change = self.change;
        match (self.direction, &change.compat) {
            (Direction::Old, _) => change.fix.clone(),
            (Direction::New, Some(compat)) => format!(
                "Before {}, write the old form `{}`, or keep the new one and \
                 include module/compat/dmw_compat.h, whose {compat} bridges it.",
                change.release, change.old
            ),
            (Direction::New, None) => {
                let (a, b, c) = change.release.kernel_version();
                format!(
                    "Before {}, write the old form `{}`, or guard each form with \
                     #if LINUX_VERSION_CODE >= KERNEL_VERSION({a}, {b}, {c}).",
                    change.release, change.old
                )
            }
        }
    }

    /// The doctor's two- or three-line report for this finding.
    pub fn render(&self, file: &str, kernel: Release) -> String {
        let change = self.change;
        let what = match self.direction {
            Direction::Old => change.summary.clone(),
            Direction::New => format!(
                "new form used, but {kernel} predates it: {}",
                change.summary
            ),
        };
        // The fix points towards the kernel asked about: the new form for a
        // newer kernel, the old spelling (or the compat guard) for an older one.
        let fix = self.fix_text();
        let mut text = format!(
            "{file}:{}: {}: {what} (since {}, {})\n  fix: {fix}\n",
            self.line,
            change.id,
            change.release,
            change.commit_label(),
        );
        if !change.backports.is_empty() {
            let _ = writeln!(text, "  backports: {}", change.backports.join("; "));
        }
        text
    }
}

/// Reads a C file, checks it is what `expect` says, and diagnoses it against
/// `kernel`.
pub fn diagnose_file<'t>(
    path: &Path,
    table: &'t DriftTable,
    kernel: Release,
    expect: Expect,
) -> Result<Vec<Finding<'t>>, DriftError> {
    let bytes = std::fs::read(path).map_err(|source| DriftError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    // Old sources often carry Latin-1 names in comments: read past them.
    let source = String::from_utf8_lossy(&bytes);
    check_input(&source, expect).map_err(|problem| DriftError::Input {
        path: path.to_path_buf(),
        problem: Box::new(problem),
    })?;
    diagnose(&source, table, kernel)
}

/// Every finding in `source` for a build against `kernel`, by line.
pub fn diagnose<'t>(
    source: &str,
    table: &'t DriftTable,
    kernel: Release,
) -> Result<Vec<Finding<'t>>, DriftError> {
    let selected = select(source, kernel);
    let tree = parse(&selected.text)?;
    let code = Code::new(&tree, &selected.text);
    let guarded = selected.guarded;
    // Macro bodies are raw text to the grammar: read them again as code, on
    // their own lines, for the detectors that can fire inside an expression.
    let macros = macro_bodies(&tree, &selected.text);
    let macro_tree = parse(&macros)?;
    let macro_code = Code::new(&macro_tree, &macros);
    let mut found: BTreeMap<(usize, usize, Direction), BTreeSet<usize>> = BTreeMap::new();
    for (index, change) in table.changes.iter().enumerate() {
        // A kernel with the new form trips over the old one, and vice versa.
        let (direction, detectors) = if change.present_in(kernel) {
            (Direction::Old, &change.detect_old)
        } else if change.new_form_fails_on(kernel) {
            (Direction::New, &change.detect_new)
        } else {
            continue;
        };
        for detector in detectors {
            let in_macros = match detector.kind() {
                Ok(DetectorKind::Callback | DetectorKind::Include) | Err(_) => Vec::new(),
                Ok(_) => macro_code.lines_matching(detector),
            };
            for (line, assigned_at) in code.lines_matching(detector).into_iter().chain(in_macros) {
                // Inside a conditional the doctor could not decide.
                if guarded.get(line - 1).copied().unwrap_or(false) {
                    continue;
                }
                (found.entry((line, index, direction)).or_default()).extend(assigned_at);
            }
        }
    }
    let functions: Vec<(usize, usize)> = (code.nodes.iter())
        .filter(|n| n.kind() == "function_definition")
        .map(|n| (line_of(*n), n.end_position().row + 1))
        .collect();
    let function_end = |line: usize| {
        (functions.iter())
            .filter(|(start, end)| *start <= line && line <= *end)
            .min_by_key(|(start, end)| end - start)
            .map(|(_, end)| *end)
    };
    Ok(found
        .into_iter()
        .map(|((line, index, direction), assigned_at)| Finding {
            line,
            direction,
            change: &table.changes[index],
            assigned_at: assigned_at.into_iter().collect(),
            function_end: function_end(line),
        })
        .collect())
}

/// A source of the same lines as `source`, blank but for the body of each
/// `#define`, wrapped as a function body so the grammar reads it as code.
fn macro_bodies(tree: &Tree, source: &str) -> String {
    let mut lines: Vec<String> = vec![String::new(); source.lines().count() + 1];
    let mut stack = vec![tree.root_node()];
    while let Some(node) = stack.pop() {
        if matches!(node.kind(), "preproc_def" | "preproc_function_def") {
            if let Some(value) = node.child_by_field_name("value") {
                let row = value.start_position().row;
                let body = value.utf8_text(source.as_bytes()).unwrap_or("");
                let body = body.replace("\\\n", " \n");
                // `.bi_op = REQ_OP_READ, .bi_op_flags = 0` is a piece of an
                // initializer; anything else is read as a statement.
                let (open, close) = if body.trim_start().starts_with('.') {
                    ("void dmw_macro_body(void) { struct dmw m = { ", " }; }")
                } else {
                    ("void dmw_macro_body(void) { ", " ; }")
                };
                for (offset, text) in body.lines().enumerate() {
                    if let Some(line) = lines.get_mut(row + offset) {
                        if offset == 0 {
                            line.push_str(open);
                        }
                        line.push_str(text);
                    }
                }
                let last = row + body.lines().count().max(1) - 1;
                if let Some(line) = lines.get_mut(last) {
                    line.push_str(close);
                }
            }
            continue;
        }
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    lines.join("\n")
}

pub(super) fn parse(source: &str) -> Result<Tree, DriftError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_c::LANGUAGE.into())
        .map_err(|e| DriftError::Parser(e.to_string()))?;
    // Kernel macros (`__init`, `module_init(...)`) leave ERROR nodes in the
    // tree; the rest of it is still right, so those are not fatal.
    parser
        .parse(source, None)
        .ok_or_else(|| DriftError::Parser("tree-sitter returned no tree".into()))
}

/// Whether `source` defines a `struct target_type` with an initialiser.
pub(super) fn has_target_type(tree: &Tree, source: &str) -> bool {
    Code::new(tree, source).has_target_type
}

/// The parsed source with the indexes the detectors need.
struct Code<'a> {
    source: &'a str,
    /// Every node, in source order (conditionals already decided).
    nodes: Vec<Node<'a>>,
    /// Function definitions (or, failing that, prototypes) by name.
    functions: HashMap<&'a str, Node<'a>>,
    /// `struct target_type` member (or any field a function is assigned to,
    /// such as `bi_end_io`) -> the functions assigned to it.
    callbacks: HashMap<&'a str, Vec<(&'a str, usize)>>,
    /// Whether a `struct target_type` is defined (with an initialiser).
    has_target_type: bool,
}

impl<'a> Code<'a> {
    fn new(tree: &'a Tree, source: &'a str) -> Self {
        let mut code = Code {
            source,
            nodes: Vec::new(),
            functions: HashMap::new(),
            callbacks: HashMap::new(),
            has_target_type: false,
        };
        let mut stack = vec![tree.root_node()];
        while let Some(node) = stack.pop() {
            code.nodes.push(node);
            code.index(node);
            let mut cursor = node.walk();
            let children: Vec<_> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
        code
    }

    fn text(&self, node: Node) -> &'a str {
        node.utf8_text(self.source.as_bytes()).unwrap_or("")
    }

    fn index(&mut self, node: Node<'a>) {
        match node.kind() {
            "initializer_pair" => self.index_initializer_pair(node),
            "assignment_expression" => {
                let field = node
                    .child_by_field_name("left")
                    .filter(|left| left.kind() == "field_expression")
                    .and_then(|left| left.child_by_field_name("field"));
                let value = node
                    .child_by_field_name("right")
                    .and_then(function_reference);
                if let (Some(field), Some(value)) = (field, value) {
                    let field = self.text(field);
                    let function = self.text(value);
                    let at = line_of(node);
                    self.callbacks
                        .entry(field)
                        .or_default()
                        .push((function, at));
                }
            }
            "function_definition" => {
                if let Some(name) = function_name(node, self.source) {
                    self.functions.insert(name, node);
                }
            }
            "declaration" => {
                let declares_function = node
                    .child_by_field_name("declarator")
                    .is_some_and(|d| d.kind() == "function_declarator");
                if declares_function && let Some(name) = function_name(node, self.source) {
                    self.functions.entry(name).or_insert(node);
                }
                if self.declares_target_type(node) {
                    self.has_target_type |= descendants(node)
                        .iter()
                        .any(|n| n.kind() == "initializer_list");
                }
            }
            _ => {}
        }
    }

    fn declares_target_type(&self, declaration: Node) -> bool {
        declaration
            .child_by_field_name("type")
            .filter(|t| t.kind() == "struct_specifier")
            .and_then(|t| t.child_by_field_name("name"))
            .is_some_and(|name| self.text(name) == "target_type")
    }

    /// `.member = f` in any initializer (`.map = f` in a target_type,
    /// `.notify.fn = f` in a dm_io_request): the last designator names it.
    fn index_initializer_pair(&mut self, pair: Node<'a>) {
        let mut cursor = pair.walk();
        let member = pair
            .children_by_field_name("designator", &mut cursor)
            .filter(|d| d.kind() == "field_designator")
            .last()
            .and_then(|d| d.named_child(0));
        let value = pair
            .child_by_field_name("value")
            .and_then(function_reference);
        if let (Some(member), Some(value)) = (member, value) {
            let member = self.text(member);
            let function = self.text(value);
            self.callbacks
                .entry(member)
                .or_default()
                .push((function, line_of(pair)));
        }
    }

    /// Every unguarded use matching `detector`: its line, and for a callback
    /// the lines that assign it.
    fn lines_matching(&self, detector: &Detector) -> Vec<(usize, Vec<usize>)> {
        let Ok(kind) = detector.kind() else {
            return Vec::new();
        };
        if kind == DetectorKind::Callback {
            return self.callback_lines(detector);
        }
        self.nodes
            .iter()
            .filter(|node| match kind {
                DetectorKind::Call => self.call_matches(**node, detector),
                DetectorKind::Field => self.field_matches(**node, detector),
                DetectorKind::Type => {
                    node.kind() == "type_identifier"
                        && Some(self.text(**node)) == detector.type_name.as_deref()
                }
                DetectorKind::Ident => {
                    node.kind() == "identifier"
                        && Some(self.text(**node)) == detector.ident.as_deref()
                }
                DetectorKind::Include => {
                    node.kind() == "preproc_include"
                        && node.child_by_field_name("path").is_some_and(|path| {
                            let written = self.text(path).trim();
                            let name = written.trim_matches(|c| matches!(c, '"' | '<' | '>'));
                            Some(name) == detector.include.as_deref()
                        })
                }
                DetectorKind::Callback => false,
            })
            .map(|node| (line_of(*node), Vec::new()))
            .collect()
    }

    fn call_matches(&self, node: Node, detector: &Detector) -> bool {
        if node.kind() != "call_expression" {
            return false;
        }
        let named = node
            .child_by_field_name("function")
            .is_some_and(|f| Some(self.text(f)) == detector.call.as_deref());
        if !named {
            return false;
        }
        if let Some(wanted) = detector.args {
            let count = node
                .child_by_field_name("arguments")
                .map(|args| count_named(args, |n| n.kind() != "comment"))
                .unwrap_or(0);
            if count != wanted {
                return false;
            }
        }
        match detector.used_as_value {
            Some(wanted) => self.value_is_used(node) == wanted,
            None => true,
        }
    }

    fn value_is_used(&self, call: Node) -> bool {
        let Some(parent) = call.parent() else {
            return false;
        };
        match parent.kind() {
            "expression_statement" => false,
            // `(void)f(x);` discards the value on purpose.
            "cast_expression" => parent
                .child_by_field_name("type")
                .is_none_or(|t| self.text(t).trim() != "void"),
            _ => true,
        }
    }

    fn field_matches(&self, node: Node, detector: &Detector) -> bool {
        let wanted = detector.field.as_deref();
        match node.kind() {
            "field_expression" => {
                let named = node
                    .child_by_field_name("field")
                    .is_some_and(|f| Some(self.text(f)) == wanted);
                if !named {
                    return false;
                }
                if let Some(parent_field) = detector.not_under.as_deref() {
                    let under = node
                        .child_by_field_name("argument")
                        .filter(|a| a.kind() == "field_expression")
                        .and_then(|a| a.child_by_field_name("field"))
                        .is_some_and(|f| self.text(f) == parent_field);
                    if under {
                        return false;
                    }
                }
                match detector.assigned {
                    Some(wanted) => is_assigned(node) == wanted,
                    None => true,
                }
            }
            "field_designator" => {
                detector.assigned != Some(false)
                    && node
                        .named_child(0)
                        .is_some_and(|f| Some(self.text(f)) == wanted)
            }
            _ => false,
        }
    }

    fn callback_lines(&self, detector: &Detector) -> Vec<(usize, Vec<usize>)> {
        let Some(member) = detector.callback.as_deref() else {
            return Vec::new();
        };
        let Some(assigned) = self.callbacks.get(member) else {
            return Vec::new();
        };
        let mut found: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (name, at) in assigned {
            let Some(function) = self.functions.get(name) else {
                continue;
            };
            if self.nodes.contains(function) && self.callback_matches(*function, detector) {
                found.entry(line_of(*function)).or_default().push(*at);
            }
        }
        found.into_iter().collect()
    }

    fn callback_matches(&self, function: Node, detector: &Detector) -> bool {
        let params = parameters(function, self.source);
        if detector.params.is_some_and(|wanted| params.len() != wanted) {
            return false;
        }
        if let Some(wanted) = detector.returns.as_deref() {
            let returns = function
                .child_by_field_name("type")
                .map(|t| self.text(t).trim())
                .unwrap_or("");
            // `static int *f(...)` returns a pointer, not an int.
            let pointer = function
                .child_by_field_name("declarator")
                .is_some_and(|d| d.kind() == "pointer_declarator");
            if returns != wanted || pointer {
                return false;
            }
        }
        if let Some(needle) = detector.param_has.as_deref() {
            let needle = squeeze(needle);
            if !params
                .iter()
                .any(|p| squeeze(self.text(*p)).contains(&needle))
            {
                return false;
            }
        }
        let body = function.child_by_field_name("body");
        let mentions = |name: &str| {
            body.is_some_and(|body| {
                descendants(body)
                    .into_iter()
                    .any(|n| n.kind() == "identifier" && self.text(n) == name)
            })
        };
        if let Some(name) = detector.body_mentions.as_deref()
            && !mentions(name)
        {
            return false;
        }
        if let Some(name) = detector.body_lacks.as_deref()
            && mentions(name)
        {
            return false;
        }
        true
    }
}

/// The function an initializer names: `f`, `&f` or `(f)`.
fn function_reference(value: Node) -> Option<Node> {
    match value.kind() {
        "identifier" => Some(value),
        "pointer_expression" | "parenthesized_expression" => {
            value.named_child(0).and_then(function_reference)
        }
        _ => None,
    }
}

/// The name a function definition or prototype declares.
fn function_name<'a>(node: Node<'a>, source: &'a str) -> Option<&'a str> {
    let mut declarator = node.child_by_field_name("declarator")?;
    // `struct bio *f(...)` nests the function declarator in a pointer one.
    while declarator.kind() != "function_declarator" {
        declarator = declarator.child_by_field_name("declarator")?;
    }
    let name = declarator.child_by_field_name("declarator")?;
    (name.kind() == "identifier")
        .then(|| name.utf8_text(source.as_bytes()).ok())
        .flatten()
}

/// The parameter declarations of a function, `(void)` counting as none.
fn parameters<'a>(function: Node<'a>, source: &str) -> Vec<Node<'a>> {
    let mut declarator = function.child_by_field_name("declarator");
    while let Some(d) = declarator {
        if d.kind() == "function_declarator" {
            break;
        }
        declarator = d.child_by_field_name("declarator");
    }
    let Some(list) = declarator.and_then(|d| d.child_by_field_name("parameters")) else {
        return Vec::new();
    };
    let mut cursor = list.walk();
    let params: Vec<Node> = list
        .named_children(&mut cursor)
        .filter(|n| n.kind() == "parameter_declaration")
        .collect();
    // `(void)` is one declaration with no declarator and the bare type.
    let only_void = params.len() == 1
        && params[0].child_by_field_name("declarator").is_none()
        && params[0]
            .child_by_field_name("type")
            .is_some_and(|t| t.utf8_text(source.as_bytes()) == Ok("void"));
    if only_void { Vec::new() } else { params }
}

fn is_assigned(node: Node) -> bool {
    node.parent().is_some_and(|parent| {
        parent.kind() == "assignment_expression"
            && parent
                .child_by_field_name("left")
                .is_some_and(|left| left.id() == node.id())
    })
}

fn count_named(node: Node, keep: impl Fn(&Node) -> bool) -> usize {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|n| keep(n)).count()
}

fn descendants(node: Node) -> Vec<Node> {
    let mut all = Vec::new();
    let mut stack = vec![node];
    while let Some(node) = stack.pop() {
        all.push(node);
        let mut cursor = node.walk();
        stack.extend(node.children(&mut cursor));
    }
    all
}

pub(super) fn line_of(node: Node) -> usize {
    node.start_position().row + 1
}

/// Text without whitespace, so `blk_status_t *` matches `blk_status_t  *err`.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = r#"
[[change]]
id = "six-args"
symbol = "dm_get_device"
summary = "s"
old = "o"
new = "n"
release = "2.6.34"
commit = ""
title = ""
verified = false
checked = "Not found: test data"
fix = "f"
detect_old = [{ call = "dm_get_device", args = 6 }]

[[change]]
id = "map-params"
symbol = "target_type.map"
summary = "s"
old = "o"
new = "n"
release = "3.8"
commit = ""
title = ""
verified = false
checked = "Not found: test data"
fix = "f"
detect_old = [{ callback = "map", params = 3 }]
"#;

    fn lines(source: &str) -> Vec<(String, usize)> {
        let table = DriftTable::parse(TABLE).unwrap();
        diagnose(source, &table, Release::NEWEST)
            .unwrap()
            .into_iter()
            .map(|f| (f.change.id.clone(), f.line))
            .collect()
    }

    #[test]
    fn counts_arguments_however_they_are_laid_out() {
        let source = "int f(void)\n{\n\treturn dm_get_device(ti, /* path */ argv[0],\n\t\tstart,\n\t\tti->len, MODE(ti), &dev);\n}\n";
        assert_eq!(lines(source), [("six-args".to_string(), 3)]);
        let four = "int f(void) { return dm_get_device(ti, p, m, &d); }";
        assert!(lines(four).is_empty());
    }

    #[test]
    fn follows_callbacks_through_pointers_and_prototypes() {
        let source = "static int m(struct dm_target *ti,\n\tstruct bio *bio,\n\tunion map_info *mi);\n\
                      static struct target_type t = { .name = \"t\", .map = &m };\n";
        assert_eq!(lines(source), [("map-params".to_string(), 1)]);
    }

    #[test]
    fn skips_code_under_a_version_guard_but_not_an_include_guard() {
        let guarded = "#if LINUX_VERSION_CODE < KERNEL_VERSION(2, 6, 34)\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        assert!(lines(guarded).is_empty());
        let header = "#ifndef TALLY_H\n#define TALLY_H\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        assert_eq!(lines(header), [("six-args".to_string(), 3)]);
    }

    #[test]
    fn decides_version_guards_for_the_kernel_asked_about() {
        let table = DriftTable::parse(TABLE).unwrap();
        let source = "#if LINUX_VERSION_CODE >= KERNEL_VERSION(2, 6, 30)\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        // A guard that picks the old call on a kernel without it is no fix.
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [2]);
        let vendor = "#ifdef RHEL_RELEASE_CODE\nint f(void) { return dm_get_device(a, b, c, d, e, f); }\n#endif\n";
        assert!(
            diagnose(vendor, &table, Release::NEWEST)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn reads_calls_inside_macro_bodies() {
        let table = DriftTable::parse(TABLE).unwrap();
        let source = "#define GET(ti, p, d) \\\n\tdm_get_device(ti, p, 0, ti->len, 0, d)\nint f(void) { return 0; }\n";
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.iter().map(|f| f.line).collect::<Vec<_>>(), [2]);
    }

    #[test]
    fn a_void_parameter_list_is_empty() {
        let table = "[[change]]\nid = \"no-params\"\nsymbol = \"x\"\nsummary = \"s\"\nold = \"o\"\nnew = \"n\"\nrelease = \"3.0\"\ncommit = \"\"\ntitle = \"\"\nverified = false\nchecked = \"c\"\nfix = \"f\"\ndetect_old = [{ callback = \"busy\", params = 0 }]\n";
        let table = DriftTable::parse(table).unwrap();
        let source =
            "static int b(void) { return 0; }\nstatic struct target_type t = { .busy = b };\n";
        let found = diagnose(source, &table, Release::NEWEST).unwrap();
        assert_eq!(found.len(), 1);
    }
}
