//! One-character edits plus an incremental reparse on a large Python file, in process, through
//! `splice_lsp::document::Document`: `apply` (all `didChange` does) then `reparse` (what the
//! next save or code action does first).
//! Each sample types one char at a random place and the next deletes it again (backspace), so
//! the text never drifts. Two kinds of places, reported apart because they cost very
//! differently: in the code of a line (at or after its indentation), and inside a line's
//! leading indentation (a space typed there changes Python's block structure, and tree-sitter
//! reparses from there on). The first edit after the initial parse is reported on its own.
//!
//! `cargo bench --bench edit_reparse` (release profile). The file is `$SPLICE_BENCH_SOURCE`
//! when set (`bench/lsp_bench.py` passes its generated 20,000-line module), else one generated
//! here. Human-readable lines go to stderr; the numbers go to stdout as one line
//! `EDIT_REPARSE_JSON {...}` (nanoseconds) for `bench/lsp_bench.py` to include.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use splice_lsp::document::{Change, Document};

mod common;
use common::{ms, summary, Rng};

const LINES: usize = 20_000;
const WARMUP: usize = 200;
/// Measured edits in code: half insert one char, half delete it again (typing, backspace).
const EDITS: usize = 4_000;
/// Measured edits inside indentation, the same way.
const INDENT_EDITS: usize = 400;
/// Reparses with no edit at all: the floor of any reparse of this file.
const NOOP_REPARSES: usize = 50;
/// Insert + delete pairs with a single reparse after both.
const DEFERRED: usize = 500;
/// Edits applied without any reparse (rope and tree edit only), then one reparse.
const APPLY_ONLY: usize = 2_000;
const DEFINITION_RUNS: usize = 10;
/// What gets typed: identifier chars, a space, and openers/colons that break the syntax.
const TYPED: &[char] = &['a', 'z', '_', '1', ' ', '(', ':', '.', 'é'];

/// Where an edit goes: a char index and what is typed there.
type Place = fn(&Document, &[usize], &mut Rng) -> (usize, char);

/// In the code of a random non-blank line: at or after its indentation, up to its end.
fn in_code(doc: &Document, lines: &[usize], rng: &mut Rng) -> (usize, char) {
    let line = lines[rng.below(lines.len())];
    let (indent, content) = shape(doc, line);
    let at = doc.rope.line_to_char(line) + indent + rng.below(content - indent + 1);
    (at, TYPED[rng.below(TYPED.len())])
}

/// A space typed inside the leading indentation of a random indented line.
fn in_indentation(doc: &Document, lines: &[usize], rng: &mut Rng) -> (usize, char) {
    loop {
        let line = lines[rng.below(lines.len())];
        let (indent, _) = shape(doc, line);
        if indent > 0 {
            return (doc.rope.line_to_char(line) + rng.below(indent), ' ');
        }
    }
}

/// (indentation, length without the newline) of a line, in chars.
fn shape(doc: &Document, line: usize) -> (usize, usize) {
    let slice = doc.rope.line(line);
    let content = slice
        .chars()
        .take_while(|&c| c != '\n' && c != '\r')
        .count();
    let indent = slice.chars().take_while(|&c| c == ' ' || c == '\t').count();
    (indent.min(content), content)
}

/// `count` edits at places chosen by `place`: (insert times, delete times) in nanoseconds.
fn edits(
    doc: &mut Document,
    lines: &[usize],
    rng: &mut Rng,
    place: Place,
    count: usize,
) -> (Vec<u64>, Vec<u64>) {
    let mut buf = [0u8; 4];
    let (mut inserts, mut deletes) = (Vec::with_capacity(count / 2), Vec::with_capacity(count / 2));
    for _ in 0..count / 2 {
        let (at, typed) = place(doc, lines, rng);
        let typed: &str = typed.encode_utf8(&mut buf);
        let t0 = Instant::now();
        doc.apply(Change {
            start: at,
            end: at,
            text: typed,
        });
        doc.reparse();
        let t1 = Instant::now();
        doc.apply(Change {
            start: at,
            end: at + 1,
            text: "",
        });
        doc.reparse();
        let t2 = Instant::now();
        inserts.push((t1 - t0).as_nanos() as u64);
        deletes.push((t2 - t1).as_nanos() as u64);
    }
    (inserts, deletes)
}

/// The same edits, but typed and deleted before one reparse (a reparse deferred until the tree
/// is needed sees the text valid again): nanoseconds per pair.
fn deferred(doc: &mut Document, lines: &[usize], rng: &mut Rng, count: usize) -> Vec<u64> {
    let mut buf = [0u8; 4];
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let (at, typed) = in_code(doc, lines, rng);
        let typed: &str = typed.encode_utf8(&mut buf);
        let t0 = Instant::now();
        doc.apply(Change {
            start: at,
            end: at,
            text: typed,
        });
        doc.apply(Change {
            start: at,
            end: at + 1,
            text: "",
        });
        doc.reparse();
        samples.push(t0.elapsed().as_nanos() as u64);
    }
    samples
}

/// `count` edits (half typing, half deleting again) with `apply` alone, as a `didChange` that
/// leaves the reparse for later would do: nanoseconds per edit, and the one reparse after all.
fn apply_only(doc: &mut Document, lines: &[usize], rng: &mut Rng, count: usize) -> (Vec<u64>, u64) {
    let mut buf = [0u8; 4];
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count / 2 {
        let (at, typed) = in_code(doc, lines, rng);
        let typed: &str = typed.encode_utf8(&mut buf);
        let t0 = Instant::now();
        doc.apply(Change {
            start: at,
            end: at,
            text: typed,
        });
        let t1 = Instant::now();
        doc.apply(Change {
            start: at,
            end: at + 1,
            text: "",
        });
        let t2 = Instant::now();
        samples.push((t1 - t0).as_nanos() as u64);
        samples.push((t2 - t1).as_nanos() as u64);
    }
    let t0 = Instant::now();
    doc.reparse();
    (samples, t0.elapsed().as_nanos() as u64)
}

fn both(inserts: &[u64], deletes: &[u64]) -> Vec<u64> {
    inserts.iter().chain(deletes).copied().collect()
}

fn main() {
    let (text, origin) = common::source(LINES);
    let lines = text.lines().count();

    let started = Instant::now();
    let mut doc = Document::new(&text, 1);
    doc.reparse();
    let full_parse = started.elapsed().as_nanos() as u64;
    let nothing = |doc: &mut Document| {
        doc.apply(Change {
            start: 0,
            end: 0,
            text: "",
        })
    };

    let non_blank: Vec<usize> = (0..doc.rope.len_lines())
        .filter(|&l| doc.rope.line(l).chars().any(|c| !c.is_whitespace()))
        .collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (first, _) = edits(&mut doc, &non_blank, &mut rng, in_code, 2);
    edits(&mut doc, &non_blank, &mut rng, in_code, WARMUP);
    let (inserts, deletes) = edits(&mut doc, &non_blank, &mut rng, in_code, EDITS);
    let noop: Vec<u64> = (0..NOOP_REPARSES)
        .map(|_| {
            // An edit that changes nothing still makes the tree out of date.
            nothing(&mut doc);
            let t0 = Instant::now();
            doc.reparse();
            t0.elapsed().as_nanos() as u64
        })
        .collect();
    let (indent_inserts, indent_deletes) =
        edits(&mut doc, &non_blank, &mut rng, in_indentation, INDENT_EDITS);
    let batched = deferred(&mut doc, &non_blank, &mut rng, DEFERRED);
    let (applied, reparse_after) = apply_only(&mut doc, &non_blank, &mut rng, APPLY_ONLY);
    assert_eq!(doc.text(), text, "every insert was deleted again");

    let mut definitions = Vec::new();
    let mut count = 0;
    for _ in 0..DEFINITION_RUNS {
        nothing(&mut doc);
        let t0 = Instant::now();
        count = doc.definitions().len();
        definitions.push(t0.elapsed().as_nanos() as u64);
    }
    let mut to_string = Vec::new();
    for _ in 0..DEFINITION_RUNS {
        let t0 = Instant::now();
        let copy = doc.text();
        to_string.push(t0.elapsed().as_nanos() as u64);
        assert_eq!(copy.len(), text.len());
    }

    let result = serde_json::json!({
        "source": origin,
        "lines": lines,
        "bytes": text.len(),
        "warmup": WARMUP,
        "typed": TYPED.iter().collect::<String>(),
        "first_edit": first[0],
        "edit_reparse": summary(both(&inserts, &deletes)),
        "insert": summary(inserts),
        "delete": summary(deletes),
        "indentation": summary(both(&indent_inserts, &indent_deletes)),
        "deferred": summary(batched),
        "apply_only": summary(applied),
        "reparse_after_apply_only": reparse_after,
        "noop": summary(noop),
        "full_parse": full_parse,
        "definitions": summary(definitions),
        "definition_count": count,
        "text_copy": summary(to_string),
    });
    let (e, i) = (&result["edit_reparse"], &result["indentation"]);
    let at = |v: &serde_json::Value, key: &str| ms(v[key].as_u64().unwrap_or(0));
    eprintln!(
        "edit_reparse on {lines} lines ({origin}): {} one-char edits in code (+{WARMUP} warm-up): \
         p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms; {} in indentation: p50 {:.3} ms, p99 {:.3} ms; \
         reparse with no edit {:.3} ms; first edit {:.3} ms; full parse {:.1} ms; \
         definitions() {:.1} ms ({count})",
        e["n"],
        at(e, "p50"),
        at(e, "p99"),
        at(e, "max"),
        i["n"],
        at(i, "p50"),
        at(i, "p99"),
        at(&result["noop"], "p50"),
        ms(first[0]),
        ms(full_parse),
        at(&result["definitions"], "p50"),
    );
    println!("EDIT_REPARSE_JSON {result}");
}
