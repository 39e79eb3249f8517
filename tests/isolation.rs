//! One program that does not answer never holds up the others: a stopped one gets nothing
//! (and catches up on the first save after it runs again), a slow one does not keep the others'
//! results from the editor, and one that never loaded the file is not even mentioned. The request timeout is a minute here: waiting for the stopped
//! program would miss every deadline of these tests.

mod common;

use common::{Lsp, Program, Workspace, PROBE_TAIL};
use serde_json::{json, Value};

fn app(tag: &str) -> String {
    format!("def greet():\n    return '{tag}'\n{PROBE_TAIL}")
}

fn by_pid(result: &Value, pid: u32) -> Option<Value> {
    result["agents"]
        .as_array()?
        .iter()
        .find(|a| a["pid"] == pid)
        .cloned()
}

#[test]
fn a_stopped_program_holds_up_no_save_and_catches_up_once_it_runs() {
    let ws = Workspace::new();
    ws.write("app.py", &app("v1"));
    ws.write("other.py", &format!("X = 1\n{PROBE_TAIL}"));
    let mut stopped = Program::start(&ws, "app.py");
    let mut running = Program::start(&ws, "app.py");
    let mut elsewhere = Program::start(&ws, "other.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"requestTimeoutMs": 60000}));
    lsp.open(&ws.uri("app.py"), &app("v1"));

    // The program running other.py says once that it has not loaded app.py.
    let first = lsp.save_text(&ws, "app.py", 2, &app("v2"));
    assert_eq!(
        by_pid(&first, elsewhere.pid()).unwrap()["modules"],
        json!([])
    );

    stopped.stop();
    elsewhere.stop();
    let second = lsp.save_text(&ws, "app.py", 3, &app("v3"));
    let error = by_pid(&second, stopped.pid()).expect("the stopped program is reported");
    assert!(
        error["error"].as_str().unwrap().contains("is stopped"),
        "{second}"
    );
    let patched = by_pid(&second, running.pid()).expect("the running program is reported");
    assert_eq!(patched["definitions"][0]["status"], "patched", "{second}");
    assert!(by_pid(&second, elsewhere.pid()).is_none(), "{second}");
    assert_eq!(running.eval("greet()"), "v3");

    stopped.resume();
    elsewhere.resume();
    let third = lsp.save_text(&ws, "app.py", 4, &app("v4"));
    let caught_up = by_pid(&third, stopped.pid()).expect("the resumed program is reported");
    assert_eq!(caught_up["definitions"][0]["status"], "patched", "{third}");
    assert_eq!(stopped.eval("greet()"), "v4");
    // Still without the file: asked whether it has it, it answers as before (the text itself
    // is not sent to it).
    let without = by_pid(&third, elsewhere.pid()).expect("the other program is reported");
    assert_eq!(without["modules"], json!([]), "{third}");
    assert_eq!(without["definitions"][0]["status"], "not-loaded", "{third}");
    lsp.shutdown();
}

/// A program whose patch takes `SLOW_SECONDS`: its decorator, applied again when its text
/// changes, sleeps that long in the agent.
fn decorated(tag: &str, level: u32) -> String {
    format!(
        "import os, time\n\n\ndef slow(level):\n    def apply(f):\n        if level > 1:\n            \
         time.sleep(float(os.environ.get('SLOW_SECONDS', '0')))\n        return f\n    return apply\n\n\n\
         @slow({level})\ndef greet():\n    return '{tag}'\n{PROBE_TAIL}"
    )
}

#[test]
fn a_slow_program_does_not_hold_back_the_results_of_the_others() {
    let ws = Workspace::new();
    ws.write("app.py", &decorated("v1", 1));
    let mut slow = Program::start_with(&ws, "app.py", &[("SLOW_SECONDS", "6")]);
    let mut quick = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"requestTimeoutMs": 60000}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &decorated("v1", 1));
    let text = decorated("v2", 2);
    ws.write("app.py", &text);
    lsp.change(&uri, 2, json!([{"text": text}]));
    lsp.save(&uri);

    // Shown while the slow program is still applying the patch.
    let waiting = |d: &[Value]| d.iter().any(|n| n["code"] == "waiting");
    let shown = lsp.diagnostics(&uri, waiting);
    let note = shown.iter().find(|n| n["code"] == "waiting").unwrap();
    let message = note["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("pid {}", slow.pid())),
        "{message}"
    );
    assert!(
        !message.contains(&format!("pid {}", quick.pid())),
        "{message}"
    );
    assert_eq!(quick.eval("greet()"), "v2");

    let result = lsp.patch_result(&uri);
    for pid in [slow.pid(), quick.pid()] {
        let agent = by_pid(&result, pid).unwrap_or_else(|| panic!("{result}"));
        assert_eq!(agent["definitions"][0]["status"], "patched", "{result}");
    }
    lsp.diagnostics(&uri, |d| !waiting(d));
    assert_eq!(slow.eval("greet()"), "v2");
    lsp.shutdown();
}

#[test]
fn a_request_grows_with_what_it_sends_not_with_where_it_is_in_the_file() {
    // 2,000 functions over 20,000 lines: each sent padded to its line made a 40 MB request,
    // over the agent's 32 MiB limit, and every save of the file failed.
    let ws = Workspace::new();
    let mut text = String::new();
    for n in 0..2000 {
        text.push_str(&format!(
            "def f{n}(x):\n    a = x\n    b = a\n    c = b\n    d = c\n    e = d\n    g = e\n    return g + {n}\n\n\n"
        ));
    }
    ws.write("big.py", &text);
    ws.write("app.py", &format!("import big\n{PROBE_TAIL}"));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"requestTimeoutMs": 120_000}));
    lsp.deadline = std::time::Duration::from_secs(120);
    let uri = ws.uri("big.py");
    lsp.open(&uri, &text);
    // Every function edited: each is sent with its previous text.
    let edited = text.replace("return g + ", "return g - ");
    ws.write("big.py", &edited);
    lsp.change(&uri, 2, json!([{"text": edited}]));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    let agent = by_pid(&result, program.pid()).unwrap_or_else(|| panic!("{result}"));
    assert!(agent.get("error").is_none(), "{agent}");
    let definitions = agent["definitions"].as_array().unwrap();
    assert_eq!(definitions.len(), 2000);
    assert!(
        definitions.iter().all(|d| d["status"] == "patched"),
        "{agent}"
    );
    assert_eq!(program.eval("big.f1999(5)"), 5 - 1999);
    lsp.shutdown();
}
