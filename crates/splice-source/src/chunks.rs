//! A Python file as top-level statements ("chunks"), found line by line. Each chunk is parsed
//! on its own: an edit reparses only its chunk, and a syntax error (an unclosed bracket, say)
//! cannot spill into the definitions after it.
//!
//! A chunk starts at a line of code at column 0 that is not inside a triple-quoted string,
//! does not continue a backslash line, does not close a bracket and is not `else`, `elif`,
//! `except` or `finally`; decorators stay with what they decorate. Brackets are deliberately
//! not tracked, so that an unclosed one stays in its chunk.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct LineState {
    /// Inside a triple-quoted string opened with this quote byte.
    pub in_string: Option<u8>,
    /// The line before ended with a backslash.
    pub continued: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Code at column 0 that starts a chunk.
    Opens,
    /// A decorator at column 0: starts a chunk that goes on through what it decorates.
    Decorator,
    /// Anything else: belongs to the chunk above.
    Continues,
}

const CONTINUING: [&str; 4] = ["else", "elif", "except", "finally"];

fn starts_with_word(text: &str, word: &str) -> bool {
    text.strip_prefix(word)
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

/// What a line is, given the state it starts in, and the state the next line starts in.
pub fn scan_line(line: &str, state: LineState) -> (LineKind, LineState) {
    let text = line.trim_end_matches(['\n', '\r']);
    let kind = if state.in_string.is_some() || state.continued {
        LineKind::Continues
    } else {
        match text.chars().next() {
            None => LineKind::Continues,
            Some(c) if c.is_whitespace() || matches!(c, '#' | ')' | ']' | '}') => {
                LineKind::Continues
            }
            Some('@') => LineKind::Decorator,
            _ if CONTINUING.iter().any(|w| starts_with_word(text, w)) => LineKind::Continues,
            _ => LineKind::Opens,
        }
    };
    let bytes = text.as_bytes();
    let mut in_string = state.in_string;
    let mut i = 0;
    while i < bytes.len() {
        match in_string {
            Some(quote) => {
                if bytes[i] == b'\\' {
                    i += 2;
                } else if bytes[i..].starts_with(&[quote; 3]) {
                    in_string = None;
                    i += 3;
                } else {
                    i += 1;
                }
            }
            None => match bytes[i] {
                b'#' => break,
                quote @ (b'"' | b'\'') => {
                    if bytes[i..].starts_with(&[quote; 3]) {
                        in_string = Some(quote);
                        i += 3;
                    } else {
                        // A one-line string: to its closing quote or the end of the line.
                        i += 1;
                        while i < bytes.len() && bytes[i] != quote {
                            i += if bytes[i] == b'\\' { 2 } else { 1 };
                        }
                        i += 1;
                    }
                }
                _ => i += 1,
            },
        }
    }
    let continued =
        in_string.is_none() && text.ends_with('\\') && !text.trim_start().starts_with('#');
    (
        kind,
        LineState {
            in_string,
            continued,
        },
    )
}

/// Which lines start a chunk, from the lines' kinds (line 0 always does).
pub fn chunk_starts(kinds: impl Iterator<Item = LineKind>) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut decorators_only = false;
    for (row, kind) in kinds.enumerate() {
        let starts_here = match kind {
            LineKind::Continues => row == 0,
            LineKind::Opens | LineKind::Decorator => row == 0 || !decorators_only,
        };
        if starts_here {
            starts.push(row);
            decorators_only = kind == LineKind::Decorator;
        } else if kind == LineKind::Opens {
            decorators_only = false;
        }
    }
    starts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(text: &str) -> Vec<usize> {
        let mut state = LineState::default();
        let kinds: Vec<LineKind> = text
            .split_inclusive('\n')
            .map(|line| {
                let (kind, next) = scan_line(line, state);
                state = next;
                kind
            })
            .collect();
        chunk_starts(kinds.into_iter())
    }

    #[test]
    fn chunks_are_top_level_statements() {
        // text, first line of each chunk
        let cases: &[(&str, &[usize])] = &[
            (
                "import os\ndef f():\n    pass\n\n\ndef g():\n    pass\n",
                &[0, 1, 5],
            ),
            (
                "@dec\n@other(\n    1,\n)\ndef f():\n    pass\nx = 1\n",
                &[0, 6],
            ),
            (
                "if a:\n    pass\nelif b:\n    pass\nelse:\n    pass\ny = 2\n",
                &[0, 6],
            ),
            (
                "try:\n    pass\nexcept E:\n    pass\nfinally:\n    pass\n",
                &[0],
            ),
            (
                "def f():\n    '''doc\nnot code\n'''\n    return 1\nz = 3\n",
                &[0, 5],
            ),
            (
                "x = \"\"\"\ndef fake():\n\"\"\"\ndef real():\n    pass\n",
                &[0, 3],
            ),
            ("# comment\n\nimport sys\n", &[0, 2]),
            (
                "def f():\n    return (1,\n2)\ndef g():\n    pass\n",
                &[0, 2, 3],
            ),
            ("x = 1 + \\\n2\ny = 'a # not a comment'\n", &[0, 2]),
            ("def f():\n    return (\n\ndef g():\n    pass\n", &[0, 3]),
            ("elsewhere = 1\nelse_ = 2\n", &[0, 1]),
        ];
        for (text, expected) in cases {
            assert_eq!(&starts(text), expected, "{text:?}");
        }
    }
}
