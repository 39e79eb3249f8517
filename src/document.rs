//! An open buffer: its text in a rope and its tree-sitter tree, both updated per edit, the
//! tree reparsed incrementally.

use ropey::Rope;
use tree_sitter::{InputEdit, Parser, Point, Tree};

use crate::python_index::{self, PyDefinition};

pub struct Document {
    pub rope: Rope,
    pub version: i32,
    tree: Option<Tree>,
    parser: Parser,
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
        let mut doc = Document {
            rope: Rope::from_str(text),
            version,
            tree: None,
            parser: python_parser(),
        };
        doc.reparse();
        doc
    }

    /// Replaces the whole text (full sync): a fresh parse is as fast as an incremental one.
    pub fn replace_all(&mut self, text: &str) {
        self.rope = Rope::from_str(text);
        self.tree = None;
        self.reparse();
    }

    /// Applies one edit; the caller reparses once after a batch.
    pub fn apply(&mut self, change: Change<'_>) {
        let len = self.rope.len_chars();
        let start = change.start.min(len);
        let end = change.end.clamp(start, len);
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

    pub fn reparse(&mut self) {
        let rope = &self.rope;
        let mut read = |byte: usize, _: Point| -> &[u8] {
            if byte >= rope.len_bytes() {
                return &[];
            }
            let (chunk, chunk_start, _, _) = rope.chunk_at_byte(byte);
            &chunk.as_bytes()[byte - chunk_start..]
        };
        self.tree = self
            .parser
            .parse_with_options(&mut read, self.tree.as_ref(), None);
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    pub fn definitions(&self) -> Vec<PyDefinition> {
        match &self.tree {
            Some(tree) => python_index::definitions(tree, &self.rope),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(doc: &Document) -> Vec<String> {
        doc.definitions().into_iter().map(|d| d.qualname).collect()
    }

    #[test]
    fn incremental_edits_match_a_fresh_parse() {
        let mut doc = Document::new("def f():\n    return 1\n", 1);
        // (start, end, text) in chars, applied in order
        let edits: &[(usize, usize, &str)] = &[
            (4, 5, "g"),
            (22, 22, "\nclass A:\n    def m(self):\n        pass\n"),
            (0, 0, "# é😀\n"),
            (1000, 2000, "\ndef tail():\n    pass\n"),
        ];
        for &(start, end, text) in edits {
            doc.apply(Change { start, end, text });
            doc.reparse();
            let fresh = Document::new(&doc.text(), 0);
            assert_eq!(names(&doc), names(&fresh));
        }
        assert_eq!(names(&doc), vec!["g", "A", "A.m", "tail"]);
    }
}
