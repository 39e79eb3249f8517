//! What the editor shows is current: a save republishes the file's notes from the state of
//! each program, also when nothing had to be sent, and a program that is gone takes its notes
//! with it.

mod common;

use common::{Lsp, Program, Workspace, PROBE_TAIL};
use serde_json::{json, Value};

fn app(body: &str) -> String {
    format!("def greet():\n    {body}\n{PROBE_TAIL}")
}

/// A program running `text` as app.py, and a server with app.py (and `others`) open.
fn started(text: &str, others: &[(&str, &str)]) -> (Workspace, Program, Lsp) {
    let ws = Workspace::new();
    ws.write("app.py", text);
    for (name, other) in others {
        ws.write(name, other);
    }
    let program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"successHints": "off"}));
    lsp.open(&ws.uri("app.py"), text);
    for (name, other) in others {
        lsp.open(&ws.uri(name), other);
    }
    (ws, program, lsp)
}

fn codes(diagnostics: &[Value]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| d["code"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn an_error_whose_cause_is_gone_is_cleared_though_no_part_is_sent() {
    let good = app("return 'hi'");
    let (ws, mut program, mut lsp) = started(&good, &[]);
    let uri = ws.uri("app.py");

    // Made a generator: refused, and shown.
    lsp.save_text(&ws, "app.py", 2, &app("yield 'hi'"));
    let shown = lsp.diagnostics(&uri, |d| codes(d).contains(&"refused".to_owned()));
    assert!(!shown.is_empty());

    // Put back to what the program runs: no part to send (the program only hears that its
    // file is saved), and nothing left to show.
    let result = lsp.save_text(&ws, "app.py", 3, &good);
    let agents = result["agents"].as_array().unwrap();
    assert!(
        agents.iter().all(|a| a["definitions"] == json!([])),
        "{result}"
    );
    lsp.diagnostics(&uri, |d| d.is_empty());
    assert_eq!(program.eval("greet()"), "hi");
    lsp.shutdown();
}

#[test]
fn a_program_that_is_gone_takes_its_notes_with_it() {
    let (ws, mut program, mut lsp) = started(&app("return 'hi'"), &[("other.py", "X = 1\n")]);
    let uri = ws.uri("app.py");
    lsp.save_text(&ws, "app.py", 2, &app("yield 'hi'"));
    lsp.diagnostics(&uri, |d| codes(d).contains(&"refused".to_owned()));

    program.kill();
    // Any later attempt finds it gone: app.py's notes about it go.
    lsp.save_text(&ws, "other.py", 2, "X = 2\n");
    lsp.diagnostics(&uri, |d| !codes(d).contains(&"refused".to_owned()));
    lsp.shutdown();
}

#[test]
fn every_syntax_error_of_a_save_is_shown_at_its_line() {
    let cases = [
        (
            "a bracket left open at the end of a line",
            "def greet():\n    return 2 + (\n",
            1,
        ),
        (
            "a def line without its colon",
            "def greet()\n    return 2\n",
            0,
        ),
    ];
    for (name, broken, line) in cases {
        let (ws, mut program, mut lsp) = started(&app("return 'hi'"), &[]);
        let uri = ws.uri("app.py");
        let text = format!("{broken}{PROBE_TAIL}");
        lsp.save_text(&ws, "app.py", 2, &text);
        let shown = lsp.diagnostics(&uri, |d| !d.is_empty());
        let at: Vec<i64> = shown
            .iter()
            .filter(|d| d["data"]["reason"] == "syntax-error")
            .map(|d| d["range"]["start"]["line"].as_i64().unwrap())
            .collect();
        assert!(at.contains(&line), "{name}: {shown:?}");
        assert_eq!(program.eval("greet()"), "hi", "{name}");
        lsp.shutdown();
    }
}
