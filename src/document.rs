//! An open buffer: its text in a rope and, while it is in use, its tree-sitter tree. Edits
//! apply to the rope at once; the tree is brought up to date (incrementally) only when the
//! definitions are needed, and the definitions are kept until the next edit.

use std::sync::Arc;

use ropey::Rope;
use tree_sitter::{InputEdit, Parser, Point, Tree};

use crate::python_index::{self, PyDefinition};

pub struct Document {
    pub rope: Rope,
    pub version: i32,
    tree: Option<Tree>,
    /// Whether the rope changed since the tree was last parsed.
    stale: bool,
    definitions: Option<Arc<Vec<PyDefinition>>>,
}

/// A change in char indices of the text before it: `start..end` replaced by `text`.
pub struct Change<'a> {
    pub start: usize,
    pub end: usize,
    pub text: &'a str,
}

fn python_parser() -> Parser {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled tree-sitter-python grammar matches the tree-sitter runtime");
    parser
}

impl Document {
    pub fn new(text: &str, version: i32) -> Document {
        Document {
            rope: Rope::from_str(text),
            version,
            tree: None,
            stale: true,
            definitions: None,
        }
    }

    /// Replaces the whole text (full sync).
    pub fn replace_all(&mut self, text: &str) {
        self.rope = Rope::from_str(text);
        self.tree = None;
        self.stale = true;
        self.definitions = None;
    }

    /// Applies one edit to the text, and to the tree's positions if there is a tree.
    pub fn apply(&mut self, change: Change<'_>) {
        let len = self.rope.len_chars();
        let start = change.start.min(len);
        let end = change.end.clamp(start, len);
        self.stale = true;
        self.definitions = None;
        if self.tree.is_none() {
            self.rope.remove(start..end);
            self.rope.insert(start, change.text);
            return;
        }
        let start_byte = self.rope.char_to_byte(start);
        let old_end_byte = self.rope.char_to_byte(end);
        let start_position = self.point(start_byte);
        let old_end_position = self.point(old_end_byte);
        self.rope.remove(start..end);
        self.rope.insert(start, change.text);
        let new_end_byte = start_byte + change.text.len();
        let new_end_position = self.point(new_end_byte);
        if let Some(tree) = self.tree.as_mut() {
            tree.edit(&InputEdit {
                start_byte,
                old_end_byte,
                new_end_byte,
                start_position,
                old_end_position,
                new_end_position,
            });
        }
    }

    fn point(&self, byte: usize) -> Point {
        let byte = byte.min(self.rope.len_bytes());
        let row = self.rope.byte_to_line(byte);
        Point::new(row, byte - self.rope.line_to_byte(row))
    }

    /// Brings the tree up to date: incrementally from the last one when there is one.
    pub fn reparse(&mut self) {
        if !self.stale && self.tree.is_some() {
            return;
        }
        let rope = &self.rope;
        let mut read = |byte: usize, _: Point| -> &[u8] {
            if byte >= rope.len_bytes() {
                return &[];
            }
            let (chunk, chunk_start, _, _) = rope.chunk_at_byte(byte);
            &chunk.as_bytes()[byte - chunk_start..]
        };
        self.tree = python_parser().parse_with_options(&mut read, self.tree.as_ref(), None);
        self.stale = false;
    }

    /// Frees the tree (most of a document's memory); the next need parses afresh.
    pub fn drop_tree(&mut self) {
        self.tree = None;
        self.stale = true;
    }

    pub fn has_tree(&self) -> bool {
        self.tree.is_some()
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    /// The definitions of the current text, parsed when an edit made them out of date.
    pub fn definitions(&mut self) -> Arc<Vec<PyDefinition>> {
        if let Some(known) = &self.definitions {
            return known.clone();
        }
        self.reparse();
        let found = Arc::new(match &self.tree {
            Some(tree) => python_index::definitions(tree, &self.rope),
            None => Vec::new(),
        });
        self.definitions = Some(found.clone());
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(doc: &mut Document) -> Vec<String> {
        doc.definitions()
            .iter()
            .map(|d| d.qualname.clone())
            .collect()
    }

    #[test]
    fn incremental_edits_match_a_fresh_parse() {
        let mut doc = Document::new("def f():\n    return 1\n", 1);
        doc.reparse();
        // (start, end, text) in chars, applied in order
        let edits: &[(usize, usize, &str)] = &[
            (4, 5, "g"),
            (22, 22, "\nclass A:\n    def m(self):\n        pass\n"),
            (0, 0, "# é😀\n"),
            (1000, 2000, "\ndef tail():\n    pass\n"),
        ];
        for &(start, end, text) in edits {
            doc.apply(Change { start, end, text });
            let mut fresh = Document::new(&doc.text(), 0);
            assert_eq!(names(&mut doc), names(&mut fresh));
            assert!(doc.has_tree());
        }
        assert_eq!(names(&mut doc), vec!["g", "A", "A.m", "tail"]);
        doc.drop_tree();
        assert_eq!(
            names(&mut doc),
            vec!["g", "A", "A.m", "tail"],
            "kept until an edit"
        );
        doc.apply(Change {
            start: 0,
            end: 0,
            text: "\n",
        });
        assert_eq!(
            names(&mut doc),
            vec!["g", "A", "A.m", "tail"],
            "parsed afresh"
        );
    }
}
