//! One program that does not answer never holds up the others: a stopped one gets nothing
//! (and catches up on the first save after it runs again), and one that never loaded the file
//! is not even mentioned. The request timeout is a minute here: waiting for the stopped
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

fn save(lsp: &mut Lsp, ws: &Workspace, version: i32, text: &str) -> Value {
    let uri = ws.uri("app.py");
    ws.write("app.py", text);
    lsp.change(&uri, version, json!([{"text": text}]));
    lsp.save(&uri);
    lsp.patch_result(&uri)
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
    let first = save(&mut lsp, &ws, 2, &app("v2"));
    assert_eq!(
        by_pid(&first, elsewhere.pid()).unwrap()["modules"],
        json!([])
    );

    stopped.stop();
    elsewhere.stop();
    let second = save(&mut lsp, &ws, 3, &app("v3"));
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
    let third = save(&mut lsp, &ws, 4, &app("v4"));
    let caught_up = by_pid(&third, stopped.pid()).expect("the resumed program is reported");
    assert_eq!(caught_up["definitions"][0]["status"], "patched", "{third}");
    assert_eq!(stopped.eval("greet()"), "v4");
    lsp.shutdown();
}
