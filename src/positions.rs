//! Positions: the negotiated LSP encoding (UTF-8 or UTF-16 code units per line) and the
//! agent's spans (1-based lines, code-point columns), converted to and from char indices of a
//! rope. Out-of-range input is clamped, never a panic.

use ropey::{Rope, RopeSlice};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    Utf16,
}

/// A position as LSP sends it: zero-based line, offset in the encoding's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineCol {
    pub line: u32,
    pub col: u32,
}

fn content_chars(line: RopeSlice<'_>) -> usize {
    let mut len = line.len_chars();
    if len > 0 && line.char(len - 1) == '\n' {
        len -= 1;
    }
    if len > 0 && line.char(len - 1) == '\r' {
        len -= 1;
    }
    len
}

/// The char index of an LSP position; a line past the end clamps to the end of the text, a
/// column past the end of its line to the end of that line.
pub fn to_char(rope: &Rope, pos: LineCol, encoding: Encoding) -> usize {
    let line = pos.line as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let start = rope.line_to_char(line);
    let slice = rope.line(line);
    let content = slice.slice(..content_chars(slice));
    let within = match encoding {
        Encoding::Utf8 => {
            let bytes = (pos.col as usize).min(content.len_bytes());
            content.byte_to_char(bytes)
        }
        Encoding::Utf16 => {
            let units = (pos.col as usize).min(content.len_utf16_cu());
            content.utf16_cu_to_char(units)
        }
    };
    start + within
}

/// The LSP position of a char index (clamped to the text).
pub fn from_char(rope: &Rope, char_idx: usize, encoding: Encoding) -> LineCol {
    let char_idx = char_idx.min(rope.len_chars());
    let line = rope.char_to_line(char_idx);
    let within = rope.line(line).slice(..char_idx - rope.line_to_char(line));
    let col = match encoding {
        Encoding::Utf8 => within.len_bytes(),
        Encoding::Utf16 => within.len_utf16_cu(),
    };
    LineCol {
        line: line as u32,
        col: col as u32,
    }
}

/// The char index of an agent position: 1-based line, column in code points.
pub fn agent_to_char(rope: &Rope, line: u32, column: u32) -> usize {
    let line = (line.max(1) - 1) as usize;
    if line >= rope.len_lines() {
        return rope.len_chars();
    }
    let slice = rope.line(line);
    rope.line_to_char(line) + (column as usize).min(content_chars(slice))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lc(line: u32, col: u32) -> LineCol {
        LineCol { line, col }
    }

    #[test]
    fn lsp_positions_to_chars() {
        use Encoding::*;
        // text, position, encoding, expected char index
        let cases: &[(&str, LineCol, Encoding, usize)] = &[
            ("abc\ndef", lc(1, 1), Utf16, 5),
            ("abc\ndef", lc(1, 1), Utf8, 5),
            ("é=1\nx", lc(0, 1), Utf16, 1),
            ("é=1\nx", lc(0, 2), Utf8, 1),
            ("é=1\nx", lc(0, 1), Utf8, 0), // inside a character: its start
            ("😀x\n", lc(0, 2), Utf16, 1),
            ("😀x\n", lc(0, 4), Utf8, 1),
            ("中文x", lc(0, 2), Utf16, 2),
            ("中文x", lc(0, 6), Utf8, 2),
            ("ab\r\ncd", lc(0, 9), Utf16, 2), // past the end of a CRLF line: before \r
            ("ab\r\ncd", lc(1, 0), Utf16, 4),
            ("ab\ncd", lc(7, 3), Utf16, 5), // past the last line: end of text
            ("ab\n", lc(1, 0), Utf16, 3),
            ("", lc(0, 0), Utf16, 0),
        ];
        for &(text, pos, encoding, expected) in cases {
            let rope = Rope::from_str(text);
            assert_eq!(
                to_char(&rope, pos, encoding),
                expected,
                "{text:?} {pos:?} {encoding:?}"
            );
        }
    }

    #[test]
    fn chars_to_lsp_positions() {
        use Encoding::*;
        let cases: &[(&str, usize, Encoding, LineCol)] = &[
            ("abc\ndef", 5, Utf16, lc(1, 1)),
            ("😀x", 1, Utf16, lc(0, 2)),
            ("😀x", 1, Utf8, lc(0, 4)),
            ("é\r\nx", 3, Utf16, lc(1, 0)),
            ("abc", 99, Utf16, lc(0, 3)),
        ];
        for &(text, idx, encoding, expected) in cases {
            let rope = Rope::from_str(text);
            assert_eq!(
                from_char(&rope, idx, encoding),
                expected,
                "{text:?} {idx} {encoding:?}"
            );
        }
    }

    #[test]
    fn agent_positions_to_chars() {
        let cases: &[(&str, u32, u32, usize)] = &[
            ("def f():\n    x\n", 2, 4, 13),
            ("é😀\nx", 1, 2, 2),
            ("ab\n", 1, 50, 2),
            ("ab\n", 0, 0, 0),
            ("ab\n", 9, 0, 3),
        ];
        for &(text, line, column, expected) in cases {
            let rope = Rope::from_str(text);
            assert_eq!(
                agent_to_char(&rope, line, column),
                expected,
                "{text:?} {line}:{column}"
            );
        }
    }
}
