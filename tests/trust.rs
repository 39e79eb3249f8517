//! `splice-lsp` trusts only a runtime folder and records nobody else could have made, and only
//! agents that are the process their record names: otherwise nothing is sent, and the editor
//! says why.

mod common;

use std::os::unix::net::UnixListener;

use common::{Lsp, Program, Workspace, PROBE_TAIL};
use serde_json::{json, Value};
use splice_protocol::discovery::{ensure_private_dir, socket_path, write_record, AgentRecord};
use splice_protocol::{AgentInfo, PROTOCOL_VERSION};

const APP: &str = "def f():\n    return 1\n";

fn planted(pid: u32, address: String, token: Option<String>) -> AgentRecord {
    AgentRecord {
        info: AgentInfo {
            pid,
            argv: vec!["app.py".into()],
            cwd: "/".into(),
            python_version: "3.11.7".into(),
            python_executable: "/usr/bin/python3".into(),
            protocol_version: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            address,
            started_at: 1.0,
            parent_pid: None,
        },
        token,
    }
}

/// Opens app.py, saves an edit of it and returns the `splice/patchResult`.
fn save_edit(lsp: &mut Lsp, ws: &Workspace) -> Value {
    let uri = ws.uri("app.py");
    let before = format!("{APP}{PROBE_TAIL}");
    let after = before.replace("return 1", "return 2");
    lsp.open(&uri, &before);
    ws.write("app.py", &after);
    lsp.change(&uri, 2, json!([{"text": after}]));
    lsp.save(&uri);
    lsp.patch_result(&uri)
}

#[test]
fn a_runtime_folder_planted_as_a_symlink_gets_nothing_and_the_editor_says_why() {
    let ws = Workspace::new();
    ws.write("app.py", &format!("{APP}{PROBE_TAIL}"));
    // Another user's folder, with a record naming a socket that listens for whatever comes.
    let planted_dir = ws.root.join("planted");
    ensure_private_dir(&planted_dir).unwrap();
    let pid = std::process::id();
    let trap = UnixListener::bind(socket_path(&planted_dir, pid)).unwrap();
    trap.set_nonblocking(true).unwrap();
    let address = format!("unix:{}", socket_path(&planted_dir, pid).display());
    write_record(&planted_dir, &planted(pid, address, None)).unwrap();
    std::os::unix::fs::symlink(&planted_dir, ws.runtime_dir()).unwrap();

    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let result = save_edit(&mut lsp, &ws);
    let message = result["notLoaded"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("symbolic link") && message.contains("refused"),
        "{result}"
    );
    let shown = lsp.await_notification("window/showMessage", |p| p["type"] == 2);
    assert!(
        shown["message"].as_str().unwrap().contains("symbolic link"),
        "{shown}"
    );
    assert!(
        trap.accept().is_err(),
        "splice-lsp connected to the planted socket"
    );
    lsp.shutdown();
}

#[test]
fn a_record_naming_another_agent_is_refused_at_the_handshake() {
    let ws = Workspace::new();
    ws.write("app.py", &format!("{APP}{PROBE_TAIL}"));
    let mut program = Program::start_with(&ws, "app.py", &[("SPLICE_LISTEN", "tcp:0")]);
    let real: AgentRecord = serde_json::from_slice(
        &std::fs::read(ws.runtime_dir().join(format!("{}.json", program.pid()))).unwrap(),
    )
    .unwrap();
    // A record of ours, under a live pid that is not the agent's, naming the agent's listener.
    let phantom = std::process::id();
    write_record(
        &ws.runtime_dir(),
        &planted(phantom, real.info.address.clone(), real.token.clone()),
    )
    .unwrap();

    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let result = save_edit(&mut lsp, &ws);
    let agents = result["agents"].as_array().unwrap();
    let by_pid = |pid: u32| agents.iter().find(|a| a["pid"] == pid).cloned();
    // Refused at its first connection: this save's, or the one following its events, which
    // removes the record before the save looks.
    if let Some(forged) = by_pid(phantom) {
        assert!(
            forged["error"].as_str().unwrap().contains("answers as pid"),
            "{result}"
        );
    }
    let genuine = by_pid(program.pid()).expect("the agent is reported");
    assert_eq!(genuine["definitions"][0]["status"], "patched", "{result}");
    assert_eq!(program.eval("f()"), 2);
    // Never tried again: the record is gone.
    let record = ws.runtime_dir().join(format!("{phantom}.json"));
    common::wait_until("the phantom's record removed", || !record.exists());
    lsp.shutdown();
}

#[test]
fn a_record_nobody_answers_for_is_removed() {
    let ws = Workspace::new();
    ws.write("app.py", &format!("{APP}{PROBE_TAIL}"));
    ensure_private_dir(&ws.runtime_dir()).unwrap();
    // A live pid (this test's) that is no agent: its socket was never made.
    let pid = std::process::id();
    let address = format!("unix:{}", socket_path(&ws.runtime_dir(), pid).display());
    write_record(&ws.runtime_dir(), &planted(pid, address, None)).unwrap();
    let record = ws.runtime_dir().join(format!("{pid}.json"));

    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    // The first connection to it (to follow its events, or this save's) finds nobody there.
    let result = save_edit(&mut lsp, &ws);
    let agents = result["agents"].as_array().unwrap();
    assert!(
        agents
            .iter()
            .all(|a| a["pid"] != pid || a["error"].is_string()),
        "{result}"
    );
    common::wait_until("the record of nobody removed", || !record.exists());
    lsp.shutdown();
}
