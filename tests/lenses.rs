//! Above each definition, whether the programs run it: live (and when it was patched in),
//! edited since, refused, or not loaded. Real programs, splice-lsp over stdio.

mod common;

use common::{Lsp, Program, Workspace, PROBE_TAIL};
use serde_json::{json, Value};

fn app(body: &str) -> String {
    format!(
        "def greet():\n    {body}\n\n\nclass Shop:\n    def total(self):\n        return 1\n{PROBE_TAIL}"
    )
}

/// Each lens as (line, title, command).
fn lenses(lsp: &mut Lsp, uri: &str) -> Vec<(u64, String, String)> {
    let found = lsp.request(
        "textDocument/codeLens",
        json!({"textDocument": {"uri": uri}}),
    );
    found
        .as_array()
        .unwrap_or_else(|| panic!("lenses: {found}"))
        .iter()
        .map(|lens: &Value| {
            (
                lens["range"]["start"]["line"].as_u64().unwrap(),
                lens["command"]["title"].as_str().unwrap().to_owned(),
                lens["command"]["command"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
fn each_definition_says_whether_the_programs_run_it() {
    let ws = Workspace::new();
    ws.write("app.py", &app("return 'v1'"));
    ws.write("other.py", "def unused():\n    return 0\n");
    let _first = Program::start(&ws, "app.py");
    let mut second = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app("return 'v1'"));
    let live = |title: &str| title == "live in 2 processes";

    // Both programs run the file as opened.
    let opened = lenses(&mut lsp, &uri);
    let lines: Vec<u64> = opened.iter().map(|l| l.0).collect();
    assert_eq!(lines, vec![0, 4, 5], "{opened:?}");
    assert!(opened.iter().all(|l| live(&l.1)), "{opened:?}");

    // Typed, not saved: the function is edited, and its lens patches it.
    lsp.change(&uri, 2, json!([{"text": app("return 'v2'")}]));
    let edited = lenses(&mut lsp, &uri);
    assert_eq!(edited[0].1, "edited · not in the program yet", "{edited:?}");
    assert_eq!(edited[0].2, "splice.patchFunction");
    assert!(live(&edited[1].1) && live(&edited[2].1), "{edited:?}");

    // Saved: live again, with the time it was patched in.
    lsp.save_text(&ws, "app.py", 3, &app("return 'v2'"));
    let patched = lenses(&mut lsp, &uri);
    assert!(
        patched[0].1.starts_with("live in 2 processes · patched "),
        "{patched:?}"
    );
    assert!(live(&patched[1].1), "{patched:?}");
    assert_eq!(second.eval("greet()"), "v2");

    // A function made a generator cannot change in place: refused.
    lsp.save_text(&ws, "app.py", 4, &app("yield 'v3'"));
    let refused = lenses(&mut lsp, &uri);
    assert_eq!(
        refused[0].1, "refused: restart to take this edit",
        "{refused:?}"
    );
    assert_eq!(second.eval("greet()"), "v2");

    // A file no program has loaded.
    let other = ws.uri("other.py");
    lsp.open(&other, "def unused():\n    return 0\n");
    assert_eq!(
        lenses(&mut lsp, &other),
        vec![(0, "not loaded".to_owned(), String::new())]
    );

    // Turned off.
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"splice": {"codeLens": false}}}),
    );
    let off = lsp.request(
        "textDocument/codeLens",
        json!({"textDocument": {"uri": uri}}),
    );
    assert_eq!(off, Value::Null);
    lsp.shutdown();
}
