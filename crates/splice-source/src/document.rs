//! An open buffer: its text in a rope, cut into top-level chunks (see `chunks.rs`) that are
//! parsed one by one. An edit touches the rope at once; the lines it changed are scanned again
//! and the chunks whose text changed are parsed again when the definitions are next needed.
//! No tree is kept: a chunk's definitions are.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use ropey::Rope;
use tree_sitter::Parser;

use crate::chunks::{chunk_starts, scan_line, LineKind, LineState};
use crate::python_index::{self, ChunkIndex, PyDefinition};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LineInfo {
    kind: LineKind,
    /// The state the line was scanned in, and the one the next line starts in.
    start: LineState,
    end: LineState,
    hash: u64,
}

struct Chunk {
    start: usize,
    /// Of its lines' hashes when it was parsed.
    hash: u64,
    has_error: bool,
    definitions: ChunkDefinitions,
}

/// Where a chunk's definitions are. The document keeps one copy of them: the list
/// `definitions()` last gave, which chunks unchanged since point into.
enum ChunkDefinitions {
    /// Just parsed: `range` of the document's `parsed`, positions relative to the chunk.
    Parsed(std::ops::Range<usize>),
    /// `range` of a list built before, where the chunk began at `row` and `char`.
    Listed {
        list: Arc<Vec<PyDefinition>>,
        range: std::ops::Range<usize>,
        row: usize,
        char: usize,
    },
}

pub struct Document {
    pub rope: Rope,
    pub version: i32,
    /// One entry per line of the rope; `None` for lines an edit made unknown.
    lines: Vec<Option<LineInfo>>,
    chunks: Vec<Chunk>,
    /// Whether an edit happened since the chunks were last brought up to date.
    stale: bool,
    definitions: Option<Arc<Vec<PyDefinition>>>,
    /// Definitions of chunks parsed since the list was last built, moved into the next one. One
    /// allocation for all of them: freed whole, it goes back to the system.
    parsed: Vec<Option<PyDefinition>>,
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

impl ChunkDefinitions {
    /// How many definitions the chunk has.
    fn len(&self) -> usize {
        match self {
            ChunkDefinitions::Parsed(range) | ChunkDefinitions::Listed { range, .. } => range.len(),
        }
    }
}

impl Document {
    pub fn new(text: &str, version: i32) -> Document {
        let rope = Rope::from_str(text);
        let lines = vec![None; rope.len_lines()];
        Document {
            rope,
            version,
            lines,
            chunks: Vec::new(),
            stale: true,
            definitions: None,
            parsed: Vec::new(),
        }
    }

    /// Replaces the whole text (full sync).
    pub fn replace_all(&mut self, text: &str) {
        let len = self.rope.len_chars();
        self.apply(Change {
            start: 0,
            end: len,
            text,
        });
    }

    /// Takes `text` as the new text by one edit of the span where it differs (a file saved by
    /// another program): only the chunks that span touches are parsed again.
    pub fn set_text(&mut self, text: &str) {
        let old = self.rope.to_string();
        let mut prefix = old
            .bytes()
            .zip(text.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        while !text.is_char_boundary(prefix) || !old.is_char_boundary(prefix) {
            prefix -= 1;
        }
        let longest = old.len().min(text.len()) - prefix;
        let mut suffix = old
            .bytes()
            .rev()
            .zip(text.bytes().rev())
            .take(longest)
            .take_while(|(a, b)| a == b)
            .count();
        while !text.is_char_boundary(text.len() - suffix)
            || !old.is_char_boundary(old.len() - suffix)
        {
            suffix -= 1;
        }
        if prefix == old.len() && prefix == text.len() {
            return;
        }
        self.apply(Change {
            start: self.rope.byte_to_char(prefix),
            end: self.rope.byte_to_char(old.len() - suffix),
            text: &text[prefix..text.len() - suffix],
        });
    }

    /// Applies one edit to the text; the lines it touched are scanned again later.
    pub fn apply(&mut self, change: Change<'_>) {
        let len = self.rope.len_chars();
        let start = change.start.min(len);
        let end = change.end.clamp(start, len);
        let first = self.rope.char_to_line(start);
        let old_last = self.rope.char_to_line(end);
        self.rope.remove(start..end);
        self.rope.insert(start, change.text);
        let new_last = self.rope.char_to_line(start + change.text.chars().count());
        let unknown = std::iter::repeat_n(None, new_last - first + 1);
        let old_last = old_last.min(self.lines.len().saturating_sub(1));
        if first <= old_last {
            self.lines.splice(first..=old_last, unknown);
        } else {
            self.lines.extend(unknown);
        }
        self.lines.resize(self.rope.len_lines(), None);
        self.stale = true;
        self.definitions = None;
    }

    /// Brings lines and chunks up to date: scans the lines edits left unknown (and those after
    /// them whose start state changed), then parses the chunks whose text is new.
    pub fn reparse(&mut self) {
        if !self.stale {
            return;
        }
        self.scan_lines();
        let starts = chunk_starts(
            self.lines
                .iter()
                .map(|l| l.map_or(LineKind::Continues, |l| l.kind)),
        );
        // Taken, not copied: a chunk repeated word for word is parsed again.
        let mut known: HashMap<u64, (bool, ChunkDefinitions)> = HashMap::new();
        for chunk in self.chunks.drain(..) {
            known.insert(chunk.hash, (chunk.has_error, chunk.definitions));
        }
        let mut parser = None;
        let total = self.lines.len();
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(total);
            let hash = chunk_hash(&self.lines, start, end - start);
            let (has_error, definitions) = match known.remove(&hash) {
                Some(known) => known,
                None => {
                    let parser = parser.get_or_insert_with(python_parser);
                    let index = self.parse_chunk(parser, start, end);
                    let first = self.parsed.len();
                    self.parsed.extend(index.definitions.into_iter().map(Some));
                    let parsed = ChunkDefinitions::Parsed(first..self.parsed.len());
                    (index.has_error, parsed)
                }
            };
            self.chunks.push(Chunk {
                start,
                hash,
                has_error,
                definitions,
            });
        }
        self.stale = false;
    }

    /// Scans every line that is unknown or starts in another state than it was scanned in: an
    /// edit's lines, and the lines after it whose string state it changed.
    fn scan_lines(&mut self) {
        let mut state = LineState::default();
        for row in 0..self.lines.len() {
            match self.lines[row] {
                Some(info) if info.start == state => state = info.end,
                _ => {
                    let line = self.rope.line(row);
                    let text: std::borrow::Cow<'_, str> = line.into();
                    let (kind, end) = scan_line(&text, state);
                    let mut hasher = DefaultHasher::new();
                    text.hash(&mut hasher);
                    state.hash(&mut hasher);
                    self.lines[row] = Some(LineInfo {
                        kind,
                        start: state,
                        end,
                        hash: hasher.finish(),
                    });
                    state = end;
                }
            }
        }
    }

    fn parse_chunk(&self, parser: &mut Parser, start: usize, end: usize) -> ChunkIndex {
        let from = self.rope.line_to_char(start);
        let to = self.rope.line_to_char(end.min(self.rope.len_lines()));
        let text = self.rope.slice(from..to).to_string();
        let rope = Rope::from_str(&text);
        match parser.parse(&text, None) {
            Some(tree) => python_index::index_chunk(&tree, &rope),
            None => ChunkIndex::default(),
        }
    }

    pub fn text(&self) -> String {
        self.rope.to_string()
    }

    /// The definitions and statements of the current text (see `python_index`).
    pub fn definitions(&mut self) -> Arc<Vec<PyDefinition>> {
        if let Some(known) = &self.definitions {
            return known.clone();
        }
        self.reparse();
        let total = self.chunks.iter().map(|c| c.definitions.len()).sum();
        let mut found = Vec::with_capacity(total);
        let mut ranges = Vec::with_capacity(self.chunks.len());
        for chunk in &mut self.chunks {
            let (row, char) = (chunk.start, self.rope.line_to_char(chunk.start));
            let first = found.len();
            match &mut chunk.definitions {
                ChunkDefinitions::Parsed(range) => {
                    found.extend(self.parsed[range.clone()].iter_mut().filter_map(|d| {
                        let mut d = d.take()?;
                        d.place(row, char);
                        Some(d)
                    }));
                }
                ChunkDefinitions::Listed {
                    list,
                    range,
                    row: was_row,
                    char: was_char,
                } => found.extend(
                    list[range.clone()]
                        .iter()
                        .map(|d| d.moved((*was_row, *was_char), (row, char))),
                ),
            }
            ranges.push((first..found.len(), row, char));
        }
        self.parsed = Vec::new();
        let found = Arc::new(found);
        // The chunks now point into the new list, and the list they pointed into goes.
        for (chunk, (range, row, char)) in self.chunks.iter_mut().zip(ranges) {
            chunk.definitions = ChunkDefinitions::Listed {
                list: found.clone(),
                range,
                row,
                char,
            };
        }
        self.definitions = Some(found.clone());
        found
    }

    /// Whether a syntax error is anywhere in the text.
    pub fn has_error(&mut self) -> bool {
        self.reparse();
        self.chunks.iter().any(|c| c.has_error)
    }
}

/// A chunk's identity: the hashes of its lines, which take in their text and start state.
fn chunk_hash(lines: &[Option<LineInfo>], start: usize, len: usize) -> u64 {
    let mut hasher = DefaultHasher::new();
    for line in &lines[start..(start + len).min(lines.len())] {
        line.map(|l| l.hash).hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(doc: &mut Document) -> Vec<String> {
        doc.definitions()
            .iter()
            .filter(|d| d.kind != crate::python_index::DefKind::Statement)
            .map(|d| d.qualname.to_string())
            .collect()
    }

    fn fresh(doc: &Document) -> Vec<PyDefinition> {
        let mut again = Document::new(&doc.text(), 0);
        again.definitions().to_vec()
    }

    #[test]
    fn edits_give_what_a_fresh_document_gives() {
        let mut doc = Document::new("def f():\n    return 1\n", 1);
        doc.reparse();
        // (start, end, text) in chars, applied in order
        let edits: &[(usize, usize, &str)] = &[
            (4, 5, "g"),
            (22, 22, "\nclass A:\n    def m(self):\n        pass\n"),
            (0, 0, "# é😀\n"),
            (1000, 2000, "\ndef tail():\n    pass\n"),
            (0, 0, "x = '''\n"),
            (0, 8, ""),
            (0, 0, "@dec\n"),
            (0, 5, ""),
        ];
        for &(start, end, text) in edits {
            doc.apply(Change { start, end, text });
            let found = doc.definitions().to_vec();
            assert_eq!(found, fresh(&doc), "after inserting {text:?}");
        }
        assert_eq!(names(&mut doc), vec!["g", "A", "A.m", "tail"]);
    }

    #[test]
    fn a_new_text_set_whole_gives_what_a_fresh_document_gives() {
        let texts = [
            "def f():\n    return 1\n",
            "import os\ndef f():\n    return 1\n",
            "import os\ndef f():\n    return 'é'\n\ndef g():\n    pass\n",
            "import os\ndef f():\n    return 'è'\n\ndef g():\n    pass\n",
            "def g():\n    pass\n",
            "",
            "x = 1\n",
        ];
        let mut doc = Document::new(texts[0], 0);
        doc.definitions();
        for text in texts {
            doc.set_text(text);
            assert_eq!(doc.text(), text);
            assert_eq!(doc.definitions().to_vec(), fresh(&doc), "{text:?}");
        }
    }

    #[test]
    fn chunks_parsed_by_several_reparses_reach_one_list() {
        let mut doc = Document::new("def a():\n    pass\n", 1);
        doc.definitions();
        let edits: &[(usize, usize, &str)] = &[
            (0, 0, "def b():\n    pass\n"),
            (0, 0, "def c():\n    pass\ndef c():\n    pass\n"),
            (0, 18, ""),
        ];
        for &(start, end, text) in edits {
            doc.apply(Change { start, end, text });
            // Parses without building the list.
            doc.has_error();
        }
        assert_eq!(doc.definitions().to_vec(), fresh(&doc));
        assert_eq!(names(&mut doc), vec!["c", "b", "a"]);
    }

    #[test]
    fn an_unclosed_bracket_stays_in_its_chunk() {
        let mut doc = Document::new("def a():\n    return (\n\ndef b():\n    return 2\n", 0);
        let found = doc.definitions();
        let b = found
            .iter()
            .find(|d| &*d.qualname == "b")
            .expect("b is indexed")
            .clone();
        assert!(!b.has_error);
        assert_eq!(b.context(&doc.rope), "\n\n\ndef b():\n    return 2\n");
    }

    #[test]
    fn an_opened_string_hides_what_follows_until_closed() {
        let mut doc = Document::new("def a():\n    pass\n\ndef b():\n    pass\n", 0);
        doc.apply(Change {
            start: 0,
            end: 0,
            text: "s = '''\n",
        });
        assert_eq!(names(&mut doc), Vec::<String>::new());
        doc.apply(Change {
            start: 0,
            end: 8,
            text: "",
        });
        assert_eq!(names(&mut doc), vec!["a", "b"]);
    }
}
