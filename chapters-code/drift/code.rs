//! A target's C source as the drift doctor reads it: parsed with
//! tree-sitter's C grammar, with the indexes the detectors ask (every node,
//! the functions by name, the callbacks by the field they are assigned to),
//! and `#define` bodies read again as code.

use std::collections::{BTreeMap, HashMap};

use tree_sitter::{Node, Parser, Tree};

use super::DriftError;
use super::table::{Detector, DetectorKind};

/// A source of the same lines as `source`, blank but for the body of each
/// `#define`, wrapped as a function body so the grammar reads it as code.
pub(super) fn macro_bodies(tree: &Tree, source: &str) -> String {
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
pub(super) struct Code<'a> {
    source: &'a str,
    /// Every node, in source order (conditionals already decided).
    pub(super) nodes: Vec<Node<'a>>,
    /// Function definitions (or, failing that, prototypes) by name.
    functions: HashMap<&'a str, Node<'a>>,
    /// `struct target_type` member (or any field a function is assigned to,
    /// such as `bi_end_io`) -> the functions assigned to it.
    callbacks: HashMap<&'a str, Vec<(&'a str, usize)>>,
    /// Whether a `struct target_type` is defined (with an initialiser).
    has_target_type: bool,
    /// Variables and parameters declared with a struct type (or a pointer
    /// to one) -> that struct's name, wherever in the file they are declared.
    struct_of: HashMap<&'a str, &'a str>,
}

impl<'a> Code<'a> {
    pub(super) fn new(tree: &'a Tree, source: &'a str) -> Self {
        let mut code = Code {
            source,
            nodes: Vec::new(),
            functions: HashMap::new(),
            callbacks: HashMap::new(),
            has_target_type: false,
            struct_of: HashMap::new(),
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
            "parameter_declaration" | "field_declaration" => self.index_struct_names(node),
            "declaration" => {
                self.index_struct_names(node);
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

    /// `struct dm_io_request io_req, *req;`: both names -> `dm_io_request`.
    fn index_struct_names(&mut self, declaration: Node<'a>) {
        let Some(name) = struct_type_name(declaration, self.source) else {
            return;
        };
        let mut cursor = declaration.walk();
        for declarator in declaration.children_by_field_name("declarator", &mut cursor) {
            if let Some(variable) = declared_name(declarator, self.source) {
                self.struct_of.insert(variable, name);
            }
        }
    }

    /// The struct a member access or designator belongs to, when the file
    /// says: `x.f` / `x->f` on a variable declared with a struct type, or
    /// `.f = ...` in the initialiser of one (or of a compound literal).
    fn struct_of_access(&self, node: Node<'a>) -> Option<&'a str> {
        match node.kind() {
            "field_expression" => {
                let argument = node.child_by_field_name("argument")?;
                (argument.kind() == "identifier")
                    .then(|| self.struct_of.get(self.text(argument)).copied())
                    .flatten()
            }
            "field_designator" => {
                let mut up = node.parent();
                while let Some(n) = up {
                    match n.kind() {
                        "declaration" | "compound_literal_expression" => {
                            // A compound literal's type is a type descriptor,
                            // whose own `type` is the struct.
                            let typed = if n.kind() == "declaration" {
                                Some(n)
                            } else {
                                n.child_by_field_name("type")
                            };
                            return typed.and_then(|t| struct_type_name(t, self.source));
                        }
                        _ => up = n.parent(),
                    }
                }
                None
            }
            _ => None,
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
    pub(super) fn lines_matching(&self, detector: &Detector) -> Vec<(usize, Vec<usize>)> {
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
        if detector.arg_mentions.is_some() || detector.arg_lacks.is_some() {
            let names: Vec<&str> = node
                .child_by_field_name("arguments")
                .map(descendants)
                .unwrap_or_default()
                .into_iter()
                .filter(|n| matches!(n.kind(), "identifier" | "field_identifier"))
                .map(|n| self.text(n))
                .collect();
            let names_it = |wanted: &Option<String>| wanted.as_deref().map(|w| names.contains(&w));
            if names_it(&detector.arg_mentions) == Some(false)
                || names_it(&detector.arg_lacks) == Some(true)
            {
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

    fn field_matches(&self, node: Node<'a>, detector: &Detector) -> bool {
        if !self.field_named(node, detector) {
            return false;
        }
        let owner = self.struct_of_access(node);
        if detector.of_struct.is_some() && owner != detector.of_struct.as_deref() {
            return false;
        }
        detector.not_of_struct.is_none() || owner != detector.not_of_struct.as_deref()
    }

    fn field_named(&self, node: Node, detector: &Detector) -> bool {
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
        if let Some(wanted) = detector.returns_errno {
            let found = body.is_some_and(|body| {
                descendants(body)
                    .into_iter()
                    .any(|n| n.kind() == "return_statement" && self.returns_negative_errno(n))
            });
            if found != wanted {
                return false;
            }
        }
        true
    }

    /// `return -EIO;` (or any `-E...` constant, or a negative number).
    fn returns_negative_errno(&self, statement: Node) -> bool {
        let Some(value) = statement.named_child(0) else {
            return false;
        };
        let value = match value.kind() {
            "parenthesized_expression" => value.named_child(0).unwrap_or(value),
            _ => value,
        };
        if value.kind() != "unary_expression"
            || value.child_by_field_name("operator").map(|o| self.text(o)) != Some("-")
        {
            return false;
        }
        let Some(operand) = value.child_by_field_name("argument") else {
            return false;
        };
        let text = self.text(operand);
        match operand.kind() {
            "identifier" => {
                text.len() > 1
                    && text.starts_with('E')
                    && text
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
            }
            "number_literal" => text != "0",
            _ => false,
        }
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

/// `struct NAME` when the node's `type` is a struct specifier.
fn struct_type_name<'a>(node: Node<'a>, source: &'a str) -> Option<&'a str> {
    let ty = node.child_by_field_name("type")?;
    if ty.kind() != "struct_specifier" {
        return None;
    }
    ty.child_by_field_name("name")?
        .utf8_text(source.as_bytes())
        .ok()
}

/// The variable a declarator names: `x`, `*x`, `x = ...`, `x[4]`.
fn declared_name<'a>(declarator: Node<'a>, source: &'a str) -> Option<&'a str> {
    let mut node = declarator;
    loop {
        match node.kind() {
            "identifier" | "field_identifier" => return node.utf8_text(source.as_bytes()).ok(),
            "pointer_declarator" | "init_declarator" | "array_declarator" => {
                node = node.child_by_field_name("declarator")?;
            }
            _ => return None,
        }
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
