//! Per-document costs behind splice-lsp's memory and save latency, in process, on one Python
//! file (`$SPLICE_BENCH_SOURCE`; `bench/lsp_bench.py` passes its 3,000-line module):
//! - what one open document keeps in memory: the VmRSS growth of a fresh child process that
//!   keeps 100 of them, for its rope alone, its tree-sitter tree alone, a parser that has parsed
//!   it once (every `Document` owns one), and a whole `Document`;
//! - what a save computes before anything is sent to an agent, as `Session::patch` does it:
//!   `Document::text`, `Document::definitions`, the selection of changed definitions (one, here)
//!   and the patch request serialized as it goes on the socket.
//!
//! `cargo bench --bench documents`. Human-readable lines go to stderr; the numbers go to stdout
//! as one line `DOCUMENTS_JSON {...}` (nanoseconds, KB) for `bench/lsp_bench.py`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

use ropey::Rope;
use splice_lsp::changes;
use splice_lsp::document::{Change, Document};
use splice_protocol::{framing, Call, Request};

mod common;
use common::{ms, summary};

const LINES: usize = 3_000;
const COPIES: usize = 100;
const RUNS: usize = 30;
const KINDS: [&str; 4] = ["rope", "tree", "parser", "document"];

fn rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn parser() -> tree_sitter::Parser {
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the bundled grammar");
    parser
}

/// In a child process: VmRSS growth (KB) while COPIES of `kind` of `text` are kept.
fn keep(kind: &str, text: &str) -> u64 {
    let before = rss_kb();
    let after = match kind {
        "rope" => {
            let kept: Vec<Rope> = (0..COPIES).map(|_| Rope::from_str(text)).collect();
            let after = rss_kb();
            drop(kept);
            after
        }
        "tree" => {
            let mut parser = parser();
            let kept: Vec<_> = (0..COPIES).map(|_| parser.parse(text, None)).collect();
            let after = rss_kb();
            drop(kept);
            after
        }
        "parser" => {
            let kept: Vec<_> = (0..COPIES)
                .map(|_| {
                    let mut parser = parser();
                    drop(parser.parse(text, None));
                    parser
                })
                .collect();
            let after = rss_kb();
            drop(kept);
            after
        }
        "document" => {
            let kept: Vec<Document> = (0..COPIES)
                .map(|_| {
                    let mut doc = Document::new(text, 1);
                    doc.reparse();
                    doc
                })
                .collect();
            let after = rss_kb();
            drop(kept);
            after
        }
        other => panic!("unknown kind {other}"),
    };
    after.saturating_sub(before)
}

fn timed<T>(runs: usize, mut f: impl FnMut() -> T) -> (Vec<u64>, T) {
    let mut samples = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        last = Some(f());
        samples.push(t0.elapsed().as_nanos() as u64);
    }
    (samples, last.expect("runs > 0"))
}

fn main() {
    let (text, origin) = common::source(LINES);
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--keep") {
        println!("{}", keep(&args[at + 1], &text));
        return;
    }
    let lines = text.lines().count();

    let (parse, mut doc) = timed(RUNS, || {
        let mut doc = Document::new(&text, 1);
        doc.reparse();
        doc
    });
    // After an edit that changes nothing: the incremental reparse, then the index.
    let (definitions, defs) = timed(RUNS, || {
        doc.apply(Change {
            start: 0,
            end: 0,
            text: "",
        });
        doc.definitions()
    });

    // A baseline that knows every definition but one function: a save sends that one.
    let keyed = changes::keyed(&defs);
    let changed_key = keyed
        .iter()
        .find(|(_, d)| &*d.qualname == "hot_path")
        .or_else(|| keyed.get(keyed.len() / 2))
        .map(|(k, _)| k.clone())
        .expect("the file has definitions");
    // What the program runs: the file as it is, but for the changed function.
    let mut running: Vec<_> = defs.to_vec();
    if let Some(def) = running
        .iter_mut()
        .zip(changes::keyed(&defs))
        .find(|(_, (key, _))| *key == changed_key)
        .map(|(def, _)| def)
    {
        def.text_hash ^= 1;
    }
    let baseline = changes::taken_from(&doc.rope, &std::sync::Arc::new(running));
    let (save, (sent, bytes)) = timed(RUNS, || {
        // The didChange before a save leaves the definitions to be found again.
        doc.apply(Change {
            start: 0,
            end: 0,
            text: "",
        });
        let text = doc.text();
        let defs = doc.definitions();
        let diffs = changes::diff(&baseline, &defs);
        let selected: Vec<_> = diffs.iter().filter(|d| d.change.is_some()).collect();
        let (params, _) = changes::request(
            "/bench/target.py",
            &text,
            &doc.rope,
            &selected,
            splice_protocol::StatementPolicy::Run,
        );
        let mut frame = Vec::new();
        let request = Request {
            id: 1,
            call: Call::Patch(params),
        };
        framing::write_frame(&mut frame, &request).expect("serialize");
        (selected.len(), frame.len())
    });

    let exe = std::env::current_exe().expect("the bench's own path");
    let mut memory = serde_json::Map::new();
    for kind in KINDS {
        let out = std::process::Command::new(&exe)
            .args(["--keep", kind])
            .output()
            .expect("run a child");
        assert!(out.status.success(), "child {kind} failed");
        let kb: u64 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a number");
        memory.insert(kind.into(), serde_json::json!(kb as f64 / COPIES as f64));
    }

    let result = serde_json::json!({
        "source": origin,
        "lines": lines,
        "bytes": text.len(),
        "definition_count": defs.len(),
        "parse": summary(parse),
        "definitions": summary(definitions),
        "save": summary(save),
        "sent": sent,
        "request_bytes": bytes,
        "copies": COPIES,
        "kb_per_copy": memory,
    });
    let p50 = |key: &str| ms(result[key]["p50"].as_u64().unwrap_or(0));
    eprintln!(
        "documents on {lines} lines ({origin}): parse {:.2} ms, definitions() {:.2} ms ({} \
         definitions), save path {:.2} ms ({sent} sent, {bytes} bytes); KB per copy: {:?}",
        p50("parse"),
        p50("definitions"),
        defs.len(),
        p50("save"),
        result["kb_per_copy"],
    );
    println!("DOCUMENTS_JSON {result}");
}
