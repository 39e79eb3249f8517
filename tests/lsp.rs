//! `splice-lsp` end to end: real stdio framing, real programs running the agent.

mod common;

use common::{Lsp, Program, Workspace, PROBE_TAIL};
use serde_json::{json, Value};

const APP: &str = "def greet(name):\n    return 'hello ' + name\n\n\ndef other():\n    return 1\n";

fn app(body: &str) -> String {
    format!("{body}{PROBE_TAIL}")
}

fn statuses(result: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for agent in result["agents"].as_array().unwrap() {
        for def in agent["definitions"].as_array().unwrap() {
            out.push((
                def["qualname"].as_str().unwrap().to_owned(),
                def["status"].as_str().unwrap().to_owned(),
            ));
        }
    }
    out
}

/// The reason code each agent gave for `qualname`.
fn reasons_of(result: &Value, qualname: &str) -> Vec<String> {
    let agents = result["agents"].as_array().unwrap();
    agents
        .iter()
        .flat_map(|agent| agent["definitions"].as_array().unwrap())
        .filter(|def| def["qualname"] == qualname)
        .map(|def| def["reason"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn full_change(text: &str) -> Value {
    json!([{"text": text}])
}

#[test]
fn save_patches_the_running_program() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, init) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-16");
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(APP));
    assert_eq!(program.eval("greet('a')"), "hello a");

    let edited = app(&APP.replace("'hello '", "'bye '"));
    ws.write("app.py", &edited);
    lsp.change(&uri, 2, full_change(&edited));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert_eq!(result["trigger"], "save");
    assert!(
        statuses(&result).contains(&("greet".into(), "patched".into())),
        "{result}"
    );
    assert_eq!(program.eval("greet('a')"), "bye a");
    let hints = lsp.diagnostics(&uri, |d| !d.is_empty());
    assert_eq!(hints[0]["severity"], 4);
    assert_eq!(hints[0]["source"], "splice");
    let message = hints[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("patched in pid {} (app.py)", program.pid())),
        "{message}"
    );

    // The next save sends only what changed since.
    let again = app(&APP
        .replace("'hello '", "'bye '")
        .replace("return 1", "return 2"));
    lsp.change(&uri, 3, full_change(&again));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert_eq!(
        statuses(&result),
        vec![("other".to_owned(), "patched".to_owned())]
    );
    assert_eq!(program.eval("other()"), 2);
    lsp.assert_nothing_unconsumed();
    lsp.shutdown();
}

#[test]
fn code_action_patches_an_unsaved_buffer() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"patchOnSave": false}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(APP));
    // Unsaved edit: 'hello ' -> 'howdy ' on line 1.
    lsp.change(
        &uri,
        2,
        json!([{"range": {"start": {"line": 1, "character": 12}, "end": {"line": 1, "character": 17}}, "text": "howdy"}]),
    );
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 1, "character": 4}, "end": {"line": 1, "character": 4}}, "context": {"diagnostics": []}}),
    );
    let action = &actions[0];
    assert_eq!(action["title"], "Patch function 'greet'");
    let command = &action["command"];
    let result = lsp.request(
        "workspace/executeCommand",
        json!({"command": command["command"], "arguments": command["arguments"]}),
    );
    assert_eq!(
        statuses(&result),
        vec![("greet".to_owned(), "patched".to_owned())]
    );
    lsp.patch_result(&uri);
    assert_eq!(program.eval("greet('a')"), "howdy a");
    // Nothing at a position outside any function.
    let none = lsp.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": uri}, "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}}, "context": {"diagnostics": []}}),
    );
    assert!(
        none.is_null() || none.as_array().unwrap().is_empty(),
        "{none}"
    );
    lsp.shutdown();
}

#[test]
fn syntax_error_elsewhere_and_refused_edit_become_diagnostics() {
    let ws = Workspace::new();
    let before = "def make(n):\n    m = 1\n    def add(x):\n        return x + n\n    return add\n\n\ndef good():\n    return 1\n\n\ndef broken():\n    return 2\n";
    ws.write("app.py", &app(before));
    let mut program = Program::start(&ws, "app.py");
    program.eval("globals().__setitem__('made', make(1))");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(before));
    let after = before
        .replace("return x + n", "return x + m")
        .replace("return 1\n\n\ndef broken", "return 100\n\n\ndef broken")
        .replace("return 2", "return (2");
    lsp.change(&uri, 2, full_change(&app(&after)));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    let got = statuses(&result);
    assert!(got.contains(&("good".into(), "patched".into())), "{result}");
    assert!(got.contains(&("broken".into(), "error".into())), "{result}");
    assert!(
        got.contains(&("make.<locals>.add".into(), "refused".into())),
        "{result}"
    );
    assert_eq!(reasons_of(&result, "broken"), ["syntax-error"], "{result}");
    assert_eq!(
        reasons_of(&result, "make.<locals>.add"),
        ["closure-changed"],
        "{result}"
    );
    assert_eq!(program.eval("good()"), 100);
    assert_eq!(program.eval("broken()"), 2);
    assert_eq!(program.eval("made(1)"), 2);
    assert_eq!(program.eval("make(1)(1)"), 2);
    let diagnostics = lsp.diagnostics(&uri, |d| d.iter().any(|x| x["severity"] == 1));
    let error = diagnostics.iter().find(|d| d["code"] == "error").unwrap();
    assert_eq!(error["range"]["start"]["line"], 12, "{error}");
    let refused = diagnostics.iter().find(|d| d["code"] == "refused").unwrap();
    assert_eq!(
        refused["range"]["start"],
        json!({"line": 2, "character": 8})
    );
    assert_eq!(refused["range"]["end"], json!({"line": 2, "character": 11}));
    let message = refused["message"].as_str().unwrap();
    assert!(
        message.contains("calls of make() from now on get the new one"),
        "{message}"
    );
    lsp.shutdown();
}

#[test]
fn one_save_patches_two_agents() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let mut first = Program::start(&ws, "app.py");
    let mut second = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(APP));
    let edited = app(&APP.replace("'hello '", "'hi '"));
    lsp.change(&uri, 2, full_change(&edited));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    let pids: Vec<u64> = result["agents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["pid"].as_u64().unwrap())
        .collect();
    assert!(
        pids.contains(&(first.pid() as u64)) && pids.contains(&(second.pid() as u64)),
        "{result}"
    );
    assert_eq!(first.eval("greet('a')"), "hi a");
    assert_eq!(second.eval("greet('a')"), "hi a");
    lsp.shutdown();
}

#[test]
fn agent_killed_mid_request_ends_with_an_error_and_the_server_carries_on() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"requestTimeoutMs": 60000}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(APP));
    // The agent evaluates new defaults inside the program: this one says the request arrived,
    // then keeps the agent busy until the program is killed.
    let marker = ws.root.join("in-flight");
    let stall = format!(
        "def greet(name, _=__import__('pathlib').Path('{}').touch() or __import__('time').sleep(120)):",
        marker.display()
    );
    let edited = app(&APP.replace("def greet(name):", &stall));
    lsp.change(&uri, 2, full_change(&edited));
    lsp.save(&uri);
    common::wait_until("the patch request to reach the agent", || marker.exists());
    program.kill();
    let result = lsp.patch_result(&uri);
    let error = result["agents"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains(&format!("pid {}", program.pid())),
        "{result}"
    );
    assert!(error.contains("exited"), "{error}");
    // Still serving: the next request is answered.
    let agents = lsp.request(
        "workspace/executeCommand",
        json!({"command": "splice.listAgents", "arguments": []}),
    );
    assert_eq!(agents, json!([]));
    lsp.shutdown();
}

#[test]
fn incremental_edits_with_utf16_positions_and_emoji() {
    let ws = Workspace::new();
    let text = "def face():\n    return '😀 hi'\n";
    ws.write("app.py", &app(text));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(text));
    // "    return '😀 hi'": the emoji is 2 UTF-16 units at 12..14; "hi" at 15..17.
    lsp.change(
        &uri,
        2,
        json!([
            {"range": {"start": {"line": 1, "character": 15}, "end": {"line": 1, "character": 17}}, "text": "yo"},
            {"range": {"start": {"line": 1, "character": 12}, "end": {"line": 1, "character": 14}}, "text": "é中"}
        ]),
    );
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert_eq!(
        statuses(&result),
        vec![("face".to_owned(), "patched".to_owned())]
    );
    assert_eq!(program.eval("face()"), "é中 yo");
    lsp.shutdown();
}

#[test]
fn utf8_is_negotiated_when_offered() {
    let ws = Workspace::new();
    let text = "def face():\n    return '😀 hi'\n";
    ws.write("app.py", &app(text));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, init) = Lsp::initialized(&ws, &["utf-8", "utf-16"], json!({}));
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(text));
    // In UTF-8 the emoji is 4 bytes at 12..16; "hi" at 17..19.
    lsp.change(
        &uri,
        2,
        json!([{"range": {"start": {"line": 1, "character": 17}, "end": {"line": 1, "character": 19}}, "text": "yo"}]),
    );
    lsp.save(&uri);
    lsp.patch_result(&uri);
    assert_eq!(program.eval("face()"), "😀 yo");
    lsp.shutdown();
}

#[test]
fn out_of_range_edits_are_clamped_and_the_server_keeps_serving() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    let text = app(APP);
    lsp.open(&uri, &text);
    // Past the end of line 0 and past the last line: both clamp instead of panicking.
    lsp.change(
        &uri,
        2,
        json!([
            {"range": {"start": {"line": 0, "character": 400}, "end": {"line": 0, "character": 999}}, "text": ""},
            {"range": {"start": {"line": 900, "character": 0}, "end": {"line": 901, "character": 3}}, "text": "\ndef extra():\n    return 'x'\n"}
        ]),
    );
    // An edit on an unknown document is ignored.
    lsp.change("file:///nowhere.py", 2, json!([{"text": "x"}]));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert!(
        statuses(&result).contains(&("extra".into(), "added".into())),
        "{result}"
    );
    assert_eq!(program.eval("extra()"), "x");
    lsp.shutdown();
}

#[test]
fn five_megabyte_file_is_indexed_and_patched() {
    let ws = Workspace::new();
    let mut text = String::new();
    let mut n = 0;
    while text.len() < 5 * 1024 * 1024 {
        text.push_str(&format!(
            "def f{n}(x):\n    \"\"\"{}\"\"\"\n    return x + {n}\n\n",
            "pad ".repeat(20)
        ));
        n += 1;
    }
    ws.write("big.py", &text);
    ws.write("app.py", &app("import big\n"));
    let mut program = Program::start(&ws, "app.py");
    // A debug build on a busy machine parses 5 MB slowly: wait on it generously.
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({"requestTimeoutMs": 120_000}));
    lsp.deadline = std::time::Duration::from_secs(120);
    let uri = ws.uri("big.py");
    lsp.open(&uri, &text);
    let last = n - 1;
    let edited = text.replace(&format!("return x + {last}\n"), "return -1\n");
    lsp.change(&uri, 2, full_change(&edited));
    let line = edited.lines().position(|l| l == "    return -1").unwrap();
    let result = lsp.request(
        "workspace/executeCommand",
        json!({"command": "splice.patchFunction", "arguments": [{"uri": uri, "position": {"line": line, "character": 5}}]}),
    );
    assert_eq!(
        statuses(&result),
        vec![(format!("f{last}"), "patched".to_owned())]
    );
    assert_eq!(program.eval(&format!("big.f{last}(5)")), -1);
    lsp.patch_result(&uri);
    lsp.shutdown();
}

#[test]
fn file_not_loaded_gets_one_information_diagnostic() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let _program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("other.py");
    ws.write("other.py", "def f():\n    return 1\n");
    lsp.open(&uri, "def f():\n    return 1\n");
    // A save sends what differs from the text last saved.
    ws.write("other.py", "def f():\n    return 2\n");
    lsp.change(&uri, 2, full_change("def f():\n    return 2\n"));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    assert_eq!(result["notLoaded"]["reason"], "file-not-loaded", "{result}");
    assert!(
        result["notLoaded"]["message"]
            .as_str()
            .unwrap()
            .contains("searched pid"),
        "{result}"
    );
    let diagnostics = lsp.diagnostics(&uri, |d| !d.is_empty());
    assert_eq!(diagnostics.len(), 1);
    assert_eq!(diagnostics[0]["severity"], 3);
    assert_eq!(diagnostics[0]["code"], "not-loaded");
    lsp.shutdown();
}

#[test]
fn revert_command_restores_the_previous_body() {
    let ws = Workspace::new();
    ws.write("app.py", &app(APP));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(APP));
    let edited = app(&APP.replace("'hello '", "'bye '"));
    lsp.change(&uri, 2, full_change(&edited));
    lsp.save(&uri);
    lsp.patch_result(&uri);
    assert_eq!(program.eval("greet('a')"), "bye a");
    let result = lsp.request(
        "workspace/executeCommand",
        json!({"command": "splice.revertFunction", "arguments": [{"uri": uri, "position": {"line": 1, "character": 4}}]}),
    );
    assert_eq!(
        statuses(&result),
        vec![("greet".to_owned(), "reverted".to_owned())]
    );
    assert_eq!(program.eval("greet('a')"), "hello a");
    lsp.shutdown();
}

#[test]
fn version_and_help() {
    let run = |arg: &str| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_splice-lsp"))
            .arg(arg)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(run("--version").starts_with("splice-lsp "));
    assert!(run("--help").contains("USAGE"));
}

#[test]
fn exceptions_in_patched_code_become_diagnostics_until_patched_again() {
    let ws = Workspace::new();
    let before = "def divide(a, b):\n    return a / b\n\n\ndef handle(a, b):\n    try:\n        return divide(a, b)\n    except ZeroDivisionError:\n        return None\n";
    ws.write("app.py", &app(before));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(before));
    let patched = before.replace("return a / b", "value = a / b\n    return value");
    lsp.change(&uri, 2, full_change(&app(&patched)));
    lsp.save(&uri);
    lsp.patch_result(&uri);
    assert_eq!(
        program.eval("[handle(1, 0) for _ in range(3)]"),
        json!([null, null, null])
    );
    let diagnostics = lsp.diagnostics(&uri, |d| d.iter().any(|x| x["code"] == "exception"));
    let raised = diagnostics
        .iter()
        .find(|d| d["code"] == "exception")
        .unwrap();
    assert_eq!(raised["range"]["start"], json!({"line": 1, "character": 4}));
    assert_eq!(raised["severity"], 2);
    let message = raised["message"].as_str().unwrap();
    assert!(
        message.starts_with("ZeroDivisionError: division by zero — raised"),
        "{message}"
    );
    assert!(
        message.contains(&format!("pid {} (app.py)", program.pid())),
        "{message}"
    );
    assert!(message.contains("since the patch of divide()"), "{message}");
    // Patching the function again clears it.
    let fixed = before.replace("return a / b", "return a / b if b else 0");
    lsp.change(&uri, 3, full_change(&app(&fixed)));
    lsp.save(&uri);
    lsp.patch_result(&uri);
    lsp.diagnostics(&uri, |d| d.iter().all(|x| x["code"] != "exception"));
    assert_eq!(program.eval("handle(1, 0)"), 0);
    lsp.shutdown();
}

#[test]
fn uncaught_exception_in_a_thread_is_shown_at_its_line() {
    let ws = Workspace::new();
    let text = "import threading\n\n\ndef work():\n    raise RuntimeError('worker failed')\n";
    ws.write("app.py", &app(text));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(text));
    // The language server follows the agent once it has seen it.
    lsp.request(
        "workspace/executeCommand",
        json!({"command": "splice.listAgents", "arguments": []}),
    );
    program.eval("[t.start() or t.join() for t in [threading.Thread(target=work, name='w1')]]");
    let diagnostics = lsp.diagnostics(&uri, |d| d.iter().any(|x| x["code"] == "uncaught"));
    let uncaught = diagnostics
        .iter()
        .find(|d| d["code"] == "uncaught")
        .unwrap();
    assert_eq!(uncaught["range"]["start"]["line"], 4);
    assert_eq!(uncaught["severity"], 1);
    let message = uncaught["message"].as_str().unwrap();
    assert!(
        message.starts_with("uncaught RuntimeError: worker failed in thread w1 of pid"),
        "{message}"
    );
    lsp.shutdown();
}

#[test]
fn old_body_still_running_gets_an_information_diagnostic() {
    let ws = Workspace::new();
    let text = "import threading\nstop = threading.Event()\n\n\ndef serve_forever():\n    while not stop.wait(0.01):\n        pass\n    return 1\n\n\nthreading.Thread(target=serve_forever, name='server').start()\n";
    ws.write("app.py", &app(text));
    let mut program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &app(text));
    let edited = app(&text.replace("return 1", "return 2"));
    lsp.change(&uri, 2, full_change(&edited));
    lsp.save(&uri);
    lsp.patch_result(&uri);
    let diagnostics = lsp.diagnostics(&uri, |d| d.iter().any(|x| x["code"] == "still-running"));
    let running = diagnostics
        .iter()
        .find(|d| d["code"] == "still-running")
        .unwrap();
    assert_eq!(running["severity"], 3);
    assert_eq!(
        running["message"],
        "thread server is inside serve_forever(); it picks up the new body on its next call"
    );
    assert_eq!(running["range"]["start"]["line"], 4);
    program.eval("stop.set()");
    lsp.shutdown();
}
