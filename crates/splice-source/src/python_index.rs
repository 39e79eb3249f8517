//! Python structure from tree-sitter: every `def`, `async def` and `class` with the qualified
//! name CPython gives it, and every statement of a module or class body: its range, the source
//! that compiles it in context, and a hash of its own text. The parts of a file (what a save
//! compares with what the program took) are the definitions and statements not inside a
//! function. A syntax error inside one part leaves the others.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ropey::Rope;
use tree_sitter::{Node, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DefKind {
    Function,
    Class,
    /// Any other statement of a module or class body (its `qualname` is the class's, `""` at
    /// module level).
    Statement,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyDefinition {
    pub qualname: Arc<str>,
    pub kind: DefKind,
    /// Char range of the definition, decorators included.
    pub start: usize,
    pub end: usize,
    /// Char range of its name.
    pub name_start: usize,
    pub name_end: usize,
    pub decorators: Vec<String>,
    /// Zero-based line of the `def`/`class` keyword.
    pub line: usize,
    /// The rows that compile the definition in its context: top-level imports, headers of
    /// enclosing classes, or the whole enclosing function; in order. See `context()`. Rows are
    /// counted from `context_offset`, so that a chunk's definitions placed in the document share
    /// them with the chunk.
    pub context_rows: Arc<[ContextRows]>,
    pub context_offset: usize,
    /// Of its own text, wherever it is: a class's header (decorators, bases), a statement's
    /// text without the definitions inside it, a function's whole text.
    pub text_hash: u64,
    /// A part of the file: not inside a function.
    pub part: bool,
    /// Whether tree-sitter found a syntax error inside it.
    pub has_error: bool,
}

/// Rows of the document that go into a definition's context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContextRows {
    /// Rows `first..=last`, as they are.
    Copy { first: usize, last: usize },
    /// A block (if, try, with, ...) around the definition: an opener at that row and indent.
    Opener { row: usize, indent: usize },
}

/// The text of a row without its line ending.
fn row_text(rope: &Rope, row: usize) -> ropey::RopeSlice<'_> {
    if row >= rope.len_lines() {
        return rope.slice(0..0);
    }
    let line = rope.line(row);
    let mut len = line.len_chars();
    while len > 0 && matches!(line.char(len - 1), '\n' | '\r') {
        len -= 1;
    }
    line.slice(..len)
}

impl PyDefinition {
    /// Compilable text with the definition at its real lines, every other line blank. `rope`
    /// is the text the definitions were found in.
    pub fn context(&self, rope: &Rope) -> String {
        let (first, text) = self.context_from(rope);
        "\n".repeat(first) + &text
    }

    /// The context from its first line on, and that line's row: what a request carries, so
    /// that its size follows the definition, not its place in the file.
    pub fn context_from(&self, rope: &Rope) -> (usize, String) {
        let first = self
            .context_rows
            .iter()
            .map(|part| match *part {
                ContextRows::Copy { first, .. } => first,
                ContextRows::Opener { row, .. } => row,
            })
            .min()
            .map_or(0, |first| first + self.context_offset);
        let mut text = String::new();
        let mut row = first;
        let mut put = |text: &mut String, at: usize, line: &dyn Fn(&mut String)| {
            if at < row {
                return;
            }
            while row < at {
                text.push('\n');
                row += 1;
            }
            line(text);
            text.push('\n');
            row += 1;
        };
        let offset = self.context_offset;
        for part in self.context_rows.iter() {
            match *part {
                ContextRows::Copy { first, last } => {
                    for at in first + offset..=last + offset {
                        put(&mut text, at, &|t: &mut String| {
                            for chunk in row_text(rope, at).chunks() {
                                t.push_str(chunk);
                            }
                        });
                    }
                }
                ContextRows::Opener { row, indent } => {
                    put(&mut text, row + offset, &|t: &mut String| {
                        t.extend(std::iter::repeat_n(' ', indent));
                        t.push_str("if True:");
                    });
                }
            }
        }
        (first, text)
    }

    /// Moves this definition `rows` lines and `chars` characters further down.
    pub fn place(&mut self, rows: usize, chars: usize) {
        self.start += chars;
        self.end += chars;
        self.name_start += chars;
        self.name_end += chars;
        self.line += rows;
        self.context_offset += rows;
    }

    /// This definition, placed where a chunk starting at `from` (row, char) was, now that the
    /// chunk starts at `to`.
    pub fn moved(&self, from: (usize, usize), to: (usize, usize)) -> PyDefinition {
        let mut moved = self.clone();
        if from != to {
            moved.start -= from.1;
            moved.end -= from.1;
            moved.name_start -= from.1;
            moved.name_end -= from.1;
            moved.line -= from.0;
            moved.context_offset -= from.0;
            moved.place(to.0, to.1);
        }
        moved
    }

    /// Tells apart definitions sharing a qualified name (a property's getter and setter).
    pub fn key(&self, occurrence: usize) -> String {
        format!("{}#{occurrence}", self.qualname)
    }
}

enum Enclosing<'t> {
    Class {
        qualname: String,
        first_row: usize,
        last_row: usize,
    },
    Block {
        row: usize,
        indent: usize,
    },
    Function {
        qualname: String,
        node: Node<'t>,
    },
}

struct Indexer<'a> {
    rope: &'a Rope,
    found: Vec<PyDefinition>,
}

const COMPOUND: &[&str] = &[
    "if_statement",
    "for_statement",
    "while_statement",
    "try_statement",
    "with_statement",
    "match_statement",
];
const CLAUSES: &[&str] = &[
    "block",
    "else_clause",
    "elif_clause",
    "except_clause",
    "except_group_clause",
    "finally_clause",
    "case_clause",
    "ERROR",
];

/// The definitions and statements of one parsed text, with positions relative to it.
#[derive(Debug, Clone, Default)]
pub struct ChunkIndex {
    pub definitions: Vec<PyDefinition>,
    /// Whether tree-sitter found a syntax error anywhere in it.
    pub has_error: bool,
}

pub fn index_chunk(tree: &Tree, rope: &Rope) -> ChunkIndex {
    let mut indexer = Indexer {
        rope,
        found: Vec::new(),
    };
    let mut chain = Vec::new();
    indexer.visit(tree.root_node(), Some(""), &mut chain);
    // A chunk usually holds one definition; a growing Vec would keep room for four.
    indexer.found.shrink_to_fit();
    ChunkIndex {
        definitions: indexer.found,
        has_error: tree.root_node().has_error(),
    }
}

impl<'a> Indexer<'a> {
    fn text(&self, node: Node<'_>) -> String {
        let start = self.rope.byte_to_char(node.start_byte());
        let end = self.rope.byte_to_char(node.end_byte());
        self.rope.slice(start..end).to_string()
    }

    /// Hashes the text of `node` without the char ranges in `holes` (sorted).
    fn hash_text(&self, node: Node<'_>, holes: &[(usize, usize)]) -> u64 {
        let mut hasher = DefaultHasher::new();
        let mut at = self.rope.byte_to_char(node.start_byte());
        let end = self.rope.byte_to_char(node.end_byte());
        for &(hole_start, hole_end) in holes.iter().chain([(end, end)].iter()) {
            if hole_start > at {
                for chunk in self.rope.slice(at..hole_start.min(end)).chunks() {
                    hasher.write(chunk.as_bytes());
                }
            }
            hasher.write_u8(0);
            at = at.max(hole_end);
        }
        hasher.finish()
    }

    /// Visits the children of `node`. `scope` is the qualified name of the module or class whose
    /// body they are directly in, and `None` inside a block or a function.
    fn visit<'t>(&mut self, node: Node<'t>, scope: Option<&str>, chain: &mut Vec<Enclosing<'t>>) {
        let prefix = match chain.iter().rev().find_map(|e| match e {
            Enclosing::Function { qualname, .. } | Enclosing::Class { qualname, .. } => {
                Some(qualname.as_str())
            }
            Enclosing::Block { .. } => None,
        }) {
            Some(q) => q.to_owned(),
            None => String::new(),
        };
        let mut cursor = node.walk();
        let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
        for child in children {
            match child.kind() {
                "decorated_definition" => {
                    if let Some(def) = child.child_by_field_name("definition") {
                        self.definition(child, def, &prefix, chain);
                    }
                }
                "function_definition" | "class_definition" => {
                    self.definition(child, child, &prefix, chain)
                }
                "comment" => {}
                kind => {
                    let first_found = self.found.len();
                    if COMPOUND.contains(&kind) {
                        let row = child.start_position().row;
                        chain.push(Enclosing::Block {
                            row,
                            indent: child.start_position().column,
                        });
                        self.visit(child, None, chain);
                        chain.pop();
                    } else if CLAUSES.contains(&kind) {
                        self.visit(child, None, chain);
                    }
                    if let Some(scope) = scope {
                        self.statement(child, scope, first_found, chain);
                    }
                }
            }
        }
    }

    /// A statement of a module or class body; definitions inside it (in its blocks) were found
    /// from `first_found` on and are parts of their own.
    fn statement(
        &mut self,
        node: Node<'_>,
        scope: &str,
        first_found: usize,
        chain: &[Enclosing<'_>],
    ) {
        let holes: Vec<(usize, usize)> = self.found[first_found..]
            .iter()
            .filter(|d| d.part)
            .map(|d| (d.start, d.end))
            .collect();
        let text_hash = self.hash_text(node, &holes);
        let start = self.rope.byte_to_char(node.start_byte());
        let end = self.rope.byte_to_char(node.end_byte());
        let first_line_end = self
            .rope
            .line_to_char(node.start_position().row + 1)
            .min(end)
            .max(start);
        let mut line_end = first_line_end;
        while line_end > start && matches!(self.rope.char(line_end - 1), '\n' | '\r') {
            line_end -= 1;
        }
        self.found.push(PyDefinition {
            qualname: scope.into(),
            kind: DefKind::Statement,
            start,
            end,
            name_start: start,
            name_end: line_end,
            decorators: Vec::new(),
            line: node.start_position().row,
            context_rows: self.context(node, chain),
            context_offset: 0,
            text_hash,
            part: true,
            has_error: node.has_error() || node.kind() == "ERROR",
        });
    }

    fn definition<'t>(
        &mut self,
        outer: Node<'t>,
        def: Node<'t>,
        prefix: &str,
        chain: &mut Vec<Enclosing<'t>>,
    ) {
        let Some(name_node) = def.child_by_field_name("name") else {
            return;
        };
        let name = self.text(name_node);
        let qualname = if prefix.is_empty() {
            name
        } else {
            let inside_function = matches!(
                chain
                    .iter()
                    .rev()
                    .find(|e| !matches!(e, Enclosing::Block { .. })),
                Some(Enclosing::Function { .. })
            );
            let separator = if inside_function { ".<locals>." } else { "." };
            format!("{prefix}{separator}{name}")
        };
        let kind = if def.kind() == "class_definition" {
            DefKind::Class
        } else {
            DefKind::Function
        };
        let decorators = if outer.kind() == "decorated_definition" {
            let mut cursor = outer.walk();
            outer
                .named_children(&mut cursor)
                .filter(|n| n.kind() == "decorator")
                .map(|n| self.text(n).trim_start_matches('@').trim().to_owned())
                .collect()
        } else {
            Vec::new()
        };
        let part = !chain
            .iter()
            .any(|e| matches!(e, Enclosing::Function { .. }));
        let context_rows = self.context(outer, chain);
        let body = def.child_by_field_name("body");
        let text_hash = match (kind, body) {
            // A class's own text is its header: its body's statements are parts of their own.
            (DefKind::Class, Some(body)) => {
                let start = self.rope.byte_to_char(body.start_byte());
                let end = self.rope.byte_to_char(outer.end_byte());
                self.hash_text(outer, &[(start, end)])
            }
            _ => self.hash_text(outer, &[]),
        };
        self.found.push(PyDefinition {
            qualname: qualname.as_str().into(),
            kind,
            start: self.rope.byte_to_char(outer.start_byte()),
            end: self.rope.byte_to_char(outer.end_byte()),
            name_start: self.rope.byte_to_char(name_node.start_byte()),
            name_end: self.rope.byte_to_char(name_node.end_byte()),
            decorators,
            line: def.start_position().row,
            context_rows,
            context_offset: 0,
            text_hash,
            part,
            has_error: outer.has_error(),
        });
        let Some(body) = body else {
            return;
        };
        let (enclosing, scope) = match kind {
            DefKind::Class => {
                let first_row = def.start_position().row;
                let body_row = body.start_position().row;
                let last_row = if body_row > first_row {
                    body_row - 1
                } else {
                    first_row
                };
                (
                    Enclosing::Class {
                        qualname: qualname.clone(),
                        first_row,
                        last_row,
                    },
                    part.then_some(qualname.as_str()),
                )
            }
            _ => (
                Enclosing::Function {
                    qualname: qualname.clone(),
                    node: outer,
                },
                None,
            ),
        };
        chain.push(enclosing);
        self.visit(body, scope, chain);
        chain.pop();
    }

    fn context(&self, outer: Node<'_>, chain: &[Enclosing<'_>]) -> Arc<[ContextRows]> {
        let mut parts: Vec<ContextRows> = Vec::new();
        let copy = |parts: &mut Vec<ContextRows>, node: Node<'_>| {
            let (first, last) = rows(node);
            parts.push(ContextRows::Copy { first, last });
        };
        let mut inside_function = false;
        for enclosing in chain {
            match enclosing {
                Enclosing::Function { node, .. } => {
                    // A function's free variables depend on its whole enclosing function.
                    copy(&mut parts, *node);
                    inside_function = true;
                    break;
                }
                Enclosing::Class {
                    first_row,
                    last_row,
                    ..
                } => parts.push(ContextRows::Copy {
                    first: *first_row,
                    last: *last_row,
                }),
                Enclosing::Block { row, indent } => parts.push(ContextRows::Opener {
                    row: *row,
                    indent: *indent,
                }),
            }
        }
        if !inside_function {
            copy(&mut parts, outer);
        }
        parts.sort_by_key(|part| match *part {
            ContextRows::Copy { first, .. } => first,
            ContextRows::Opener { row, .. } => row,
        });
        parts.into()
    }
}

/// First and last row a node occupies (a node ending at column 0 ends on the row before).
fn rows(node: Node<'_>) -> (usize, usize) {
    let start = node.start_position().row;
    let end = node.end_position();
    let last = if end.column == 0 && end.row > start {
        end.row - 1
    } else {
        end.row
    };
    (start, last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Vec<PyDefinition> {
        crate::document::Document::new(text, 0)
            .definitions()
            .to_vec()
    }

    fn names(text: &str) -> Vec<String> {
        index(text)
            .into_iter()
            .filter(|d| d.kind != DefKind::Statement)
            .map(|d| d.qualname.to_string())
            .collect()
    }

    #[test]
    fn qualified_names_as_cpython_gives_them() {
        let cases: &[(&str, &[&str])] = &[
            ("def f():\n    pass\n", &["f"]),
            ("async def f():\n    pass\n", &["f"]),
            ("class A:\n    def m(self):\n        pass\n", &["A", "A.m"]),
            (
                "class A:\n    class B:\n        def m(self):\n            pass\n",
                &["A", "A.B", "A.B.m"],
            ),
            (
                "def outer():\n    def inner():\n        pass\n    return inner\n",
                &["outer", "outer.<locals>.inner"],
            ),
            (
                "def f():\n    class C:\n        def m(self):\n            pass\n",
                &["f", "f.<locals>.C", "f.<locals>.C.m"],
            ),
            (
                "import sys\nif sys.version_info > (3,):\n    def f():\n        pass\nelse:\n    def g():\n        pass\n",
                &["f", "g"],
            ),
            (
                "try:\n    import x\nexcept ImportError:\n    def f():\n        pass\n",
                &["f"],
            ),
            ("@decorator\ndef f():\n    pass\n", &["f"]),
            (
                "class A:\n    @property\n    def x(self):\n        return 1\n    @x.setter\n    def x(self, v):\n        pass\n",
                &["A", "A.x", "A.x"],
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(&names(text), expected, "{text}");
        }
    }

    #[test]
    fn syntax_error_in_one_definition_keeps_the_others() {
        let text = "def good():\n    return 1\n\ndef bad(:\n    return (\n\ndef also_good():\n    return 2\n";
        let defs = index(text);
        let names: Vec<&str> = defs.iter().map(|d| &*d.qualname).collect();
        assert!(names.contains(&"good"), "{names:?}");
        assert!(names.contains(&"also_good"), "{names:?}");
        let good = defs.iter().find(|d| &*d.qualname == "good").unwrap();
        assert!(!good.has_error);
        assert_eq!(
            good.context(&Rope::from_str(text)),
            "def good():\n    return 1\n"
        );
    }

    #[test]
    fn contexts_hold_definitions_at_their_real_lines() {
        // text, qualname, expected context
        let cases: &[(&str, &str, &str)] = &[
            ("x = 1\n\ndef f():\n    return x\n", "f", "\n\ndef f():\n    return x\n"),
            (
                "import time\nfrom os import (\n    path,\n)\nX = 1\ndef f():\n    time.sleep(0)\n",
                "f",
                "\n\n\n\n\ndef f():\n    time.sleep(0)\n",
            ),
            (
                "class A(Base):\n    y = 1\n\n    @staticmethod\n    def s():\n        return 2\n",
                "A.s",
                "class A(Base):\n\n\n    @staticmethod\n    def s():\n        return 2\n",
            ),
            (
                "class A:\n    @dec\n    def first(self):\n        pass\n    def m(self):\n        pass\n",
                "A.m",
                "class A:\n\n\n\n    def m(self):\n        pass\n",
            ),
            (
                "def outer(n):\n    k = 2\n    def inner():\n        return n\n    return inner\n",
                "outer.<locals>.inner",
                "def outer(n):\n    k = 2\n    def inner():\n        return n\n    return inner\n",
            ),
            (
                "if True:\n    pass\nelse:\n    def g():\n        pass\n",
                "g",
                "if True:\n\n\n    def g():\n        pass\n",
            ),
            (
                "def f():\r\n    return 1\r\n",
                "f",
                "def f():\n    return 1\n",
            ),
        ];
        for (text, qualname, expected) in cases {
            let defs = index(text);
            let def = defs.iter().find(|d| &*d.qualname == *qualname).unwrap();
            assert_eq!(
                &def.context(&Rope::from_str(text)),
                expected,
                "{qualname} in {text:?}"
            );
        }
    }

    #[test]
    fn text_hashes_change_with_own_text_only() {
        let hash = |text: &str| index(text)[0].text_hash;
        let base = hash("def f():\n    return 1\n");
        assert_eq!(base, hash("def f():\n    return 1\n\nx = 2\n"));
        assert_eq!(base, hash("\ndef f():\n    return 1\n"));
        assert_ne!(base, hash("def f():\n    return 2\n"));
        let class = hash("class A:\n    x = 1\n");
        assert_eq!(class, hash("class A:\n    x = 2\n"));
        assert_ne!(class, hash("class A(B):\n    x = 1\n"));
    }

    #[test]
    fn statements_of_modules_and_class_bodies_are_parts() {
        let text = "import os\nX = 1\nclass A:\n    y = 2\n    def m(self):\n        z = 3\nif X:\n    def f():\n        pass\n";
        let parts: Vec<(String, DefKind, usize)> = index(text)
            .into_iter()
            .filter(|d| d.part)
            .map(|d| (d.qualname.to_string(), d.kind, d.line))
            .collect();
        use DefKind::*;
        let expected: Vec<(String, DefKind, usize)> = [
            ("", Statement, 0),
            ("", Statement, 1),
            ("A", Class, 2),
            ("A", Statement, 3),
            ("A.m", Function, 4),
            ("f", Function, 7),
            ("", Statement, 6),
        ]
        .into_iter()
        .map(|(q, k, l)| (q.to_owned(), k, l))
        .collect();
        assert_eq!(parts, expected);
    }

    #[test]
    fn ranges_and_decorators() {
        let text = "@a.b(1)\n@c\ndef é():\n    pass\n";
        let def = &index(text)[0];
        assert_eq!(def.decorators, vec!["a.b(1)", "c"]);
        assert_eq!(def.start, 0);
        assert_eq!(def.line, 2);
        assert_eq!((def.name_start, def.name_end), (15, 16));
    }
}
