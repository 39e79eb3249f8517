//! Python structure from tree-sitter: every `def`, `async def` and `class` with the qualified
//! name CPython gives it, its range, decorators, the source that compiles it in context, and
//! a fingerprint of that source. A syntax error inside one definition leaves the others.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use ropey::Rope;
use tree_sitter::{Node, Tree};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefKind {
    Function,
    Class,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyDefinition {
    pub qualname: String,
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
    /// enclosing classes, or the whole enclosing function; in order. See `context()`.
    pub context_rows: Vec<ContextRows>,
    pub fingerprint: u64,
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
        let mut text = String::new();
        let mut row = 0;
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
        for part in &self.context_rows {
            match *part {
                ContextRows::Copy { first, last } => {
                    for at in first..=last {
                        put(&mut text, at, &|t: &mut String| {
                            for chunk in row_text(rope, at).chunks() {
                                t.push_str(chunk);
                            }
                        });
                    }
                }
                ContextRows::Opener { row: at, indent } => {
                    put(&mut text, at, &|t: &mut String| {
                        t.extend(std::iter::repeat_n(' ', indent));
                        t.push_str("if True:");
                    });
                }
            }
        }
        text
    }

    /// This definition found `rows` lines and `chars` characters further down, with the file's
    /// imports in its context: CPython compiles calls on imported modules differently, and the
    /// code must compare equal to what runs. Its fingerprint takes in its place and the imports.
    pub fn placed(
        &self,
        rows: usize,
        chars: usize,
        imports: &[ContextRows],
        imports_fp: u64,
    ) -> PyDefinition {
        let mut context_rows: Vec<ContextRows> = imports.to_vec();
        context_rows.extend(self.context_rows.iter().map(|part| match *part {
            ContextRows::Copy { first, last } => ContextRows::Copy {
                first: first + rows,
                last: last + rows,
            },
            ContextRows::Opener { row, indent } => ContextRows::Opener {
                row: row + rows,
                indent,
            },
        }));
        context_rows.sort_by_key(|part| match *part {
            ContextRows::Copy { first, .. } => first,
            ContextRows::Opener { row, .. } => row,
        });
        let mut hasher = DefaultHasher::new();
        (self.fingerprint, self.line + rows, imports_fp).hash(&mut hasher);
        PyDefinition {
            qualname: self.qualname.clone(),
            kind: self.kind,
            start: self.start + chars,
            end: self.end + chars,
            name_start: self.name_start + chars,
            name_end: self.name_end + chars,
            decorators: self.decorators.clone(),
            line: self.line + rows,
            context_rows,
            fingerprint: hasher.finish(),
            has_error: self.has_error,
        }
    }

    /// Tells apart definitions sharing a qualified name (a property's getter and setter).
    pub fn key(&self, occurrence: usize) -> String {
        format!("{}#{occurrence}", self.qualname)
    }
}

enum Enclosing<'t> {
    Class { first_row: usize, last_row: usize },
    Block { row: usize, indent: usize },
    Function(Node<'t>),
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

/// The definitions of one parsed text, with positions relative to it, and the rows of its
/// top-level imports. Contexts and fingerprints leave imports out: see `PyDefinition::placed`.
#[derive(Debug, Clone, Default)]
pub struct ChunkIndex {
    pub definitions: Vec<PyDefinition>,
    pub import_rows: Vec<usize>,
}

pub fn index_chunk(tree: &Tree, rope: &Rope) -> ChunkIndex {
    let import_rows = top_level_imports(tree.root_node())
        .into_iter()
        .flat_map(|n| {
            let (first, last) = rows(n);
            first..=last
        })
        .collect();
    let mut indexer = Indexer {
        rope,
        found: Vec::new(),
    };
    let mut chain = Vec::new();
    indexer.visit(tree.root_node(), "", &mut chain);
    ChunkIndex {
        definitions: indexer.found,
        import_rows,
    }
}

/// The imports every context carries, as parts, and a fingerprint of their text.
pub fn imports(rope: &Rope, import_rows: &[usize]) -> (Vec<ContextRows>, u64) {
    let mut hasher = DefaultHasher::new();
    for &row in import_rows {
        row.hash(&mut hasher);
        for chunk in row_text(rope, row).chunks() {
            hasher.write(chunk.as_bytes());
        }
    }
    let parts = import_rows
        .iter()
        .map(|&row| ContextRows::Copy {
            first: row,
            last: row,
        })
        .collect();
    (parts, hasher.finish())
}

impl<'a> Indexer<'a> {
    fn text(&self, node: Node<'_>) -> String {
        let start = self.rope.byte_to_char(node.start_byte());
        let end = self.rope.byte_to_char(node.end_byte());
        self.rope.slice(start..end).to_string()
    }

    fn visit<'t>(&mut self, node: Node<'t>, prefix: &str, chain: &mut Vec<Enclosing<'t>>) {
        let mut cursor = node.walk();
        let children: Vec<Node<'t>> = node.named_children(&mut cursor).collect();
        for child in children {
            match child.kind() {
                "decorated_definition" => {
                    if let Some(def) = child.child_by_field_name("definition") {
                        self.definition(child, def, prefix, chain);
                    }
                }
                "function_definition" | "class_definition" => {
                    self.definition(child, child, prefix, chain)
                }
                kind if COMPOUND.contains(&kind) => {
                    let row = child.start_position().row;
                    chain.push(Enclosing::Block {
                        row,
                        indent: child.start_position().column,
                    });
                    self.visit(child, prefix, chain);
                    chain.pop();
                }
                kind if CLAUSES.contains(&kind) => self.visit(child, prefix, chain),
                _ => {}
            }
        }
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
        let qualname = format!("{prefix}{name}");
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
        let context_rows = self.context(outer, chain);
        let mut hasher = DefaultHasher::new();
        match kind {
            // A class's own body is never run again: only a new or renamed class matters, and
            // its methods are definitions of their own.
            DefKind::Class => (qualname.as_str(), def.start_position().row).hash(&mut hasher),
            DefKind::Function => {
                for part in &context_rows {
                    part.hash(&mut hasher);
                    if let ContextRows::Copy { first, last } = *part {
                        for row in first..=last {
                            for chunk in row_text(self.rope, row).chunks() {
                                hasher.write(chunk.as_bytes());
                            }
                            hasher.write_u8(b'\n');
                        }
                    }
                }
            }
        }
        self.found.push(PyDefinition {
            qualname: qualname.clone(),
            kind,
            start: self.rope.byte_to_char(outer.start_byte()),
            end: self.rope.byte_to_char(outer.end_byte()),
            name_start: self.rope.byte_to_char(name_node.start_byte()),
            name_end: self.rope.byte_to_char(name_node.end_byte()),
            decorators,
            line: def.start_position().row,
            context_rows,
            fingerprint: hasher.finish(),
            has_error: outer.has_error(),
        });
        let Some(body) = def.child_by_field_name("body") else {
            return;
        };
        let (inner_prefix, enclosing) = match kind {
            DefKind::Function => (format!("{qualname}.<locals>."), Enclosing::Function(outer)),
            DefKind::Class => {
                let first_row = def.start_position().row;
                let body_row = body.start_position().row;
                let last_row = if body_row > first_row {
                    body_row - 1
                } else {
                    first_row
                };
                (
                    format!("{qualname}."),
                    Enclosing::Class {
                        first_row,
                        last_row,
                    },
                )
            }
        };
        chain.push(enclosing);
        self.visit(body, &inner_prefix, chain);
        chain.pop();
    }

    fn context(&self, outer: Node<'_>, chain: &[Enclosing<'_>]) -> Vec<ContextRows> {
        let mut parts: Vec<ContextRows> = Vec::new();
        let copy = |parts: &mut Vec<ContextRows>, node: Node<'_>| {
            let (first, last) = rows(node);
            parts.push(ContextRows::Copy { first, last });
        };
        let mut inside_function = false;
        for enclosing in chain {
            match enclosing {
                Enclosing::Function(node) => {
                    // A function's free variables depend on its whole enclosing function.
                    copy(&mut parts, *node);
                    inside_function = true;
                    break;
                }
                Enclosing::Class {
                    first_row,
                    last_row,
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
        parts
    }
}

/// Intact imports at the top level, also those a syntax error further down wrapped into an
/// ERROR node.
fn top_level_imports(root: Node<'_>) -> Vec<Node<'_>> {
    let mut found = Vec::new();
    let mut cursor = root.walk();
    for child in root.named_children(&mut cursor) {
        match child.kind() {
            "import_statement" | "import_from_statement" | "future_import_statement"
                if !child.has_error() =>
            {
                found.push(child)
            }
            "ERROR" => found.extend(
                top_level_imports(child)
                    .into_iter()
                    .filter(|n| n.start_position().column == 0),
            ),
            _ => {}
        }
    }
    found
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
        index(text).into_iter().map(|d| d.qualname).collect()
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
        let names: Vec<&str> = defs.iter().map(|d| d.qualname.as_str()).collect();
        assert!(names.contains(&"good"), "{names:?}");
        assert!(names.contains(&"also_good"), "{names:?}");
        let good = defs.iter().find(|d| d.qualname == "good").unwrap();
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
                "import time\nfrom os import (\n    path,\n)\n\ndef f():\n    time.sleep(0)\n",
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
            let def = defs.iter().find(|d| d.qualname == *qualname).unwrap();
            assert_eq!(
                &def.context(&Rope::from_str(text)),
                expected,
                "{qualname} in {text:?}"
            );
        }
    }

    #[test]
    fn syntax_error_below_keeps_fingerprints_above() {
        let good =
            "import time\n\ndef f():\n    time.sleep(0)\n\ndef g():\n    return round(1, 2)\n";
        let broken = good.replace("round(1, 2)", "round(1, 2");
        assert_eq!(index(good)[0].fingerprint, index(&broken)[0].fingerprint);
    }

    #[test]
    fn fingerprints_change_with_text_and_position() {
        let fp = |text: &str| index(text)[0].fingerprint;
        let base = fp("def f():\n    return 1\n");
        assert_eq!(base, fp("def f():\n    return 1\n\nx = 2\n"));
        assert_ne!(base, fp("def f():\n    return 2\n"));
        assert_ne!(base, fp("\ndef f():\n    return 1\n"));
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
