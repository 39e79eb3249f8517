//! Cases of one save each: a program runs `before`, the editor saves `after`, and the program's
//! state and the reasons given are checked.

use serde_json::{json, Value};

use super::{Lsp, Program, Workspace, PROBE_TAIL};

/// Starts a program running `before`, saves `after` in the editor, and returns the program and
/// the `(reason, status)` of every part the save sent.
fn save(before: &str, after: &str) -> (Program, Vec<(String, String)>, Lsp) {
    let ws = Workspace::new();
    let before = format!("{before}{PROBE_TAIL}");
    let after = format!("{after}{PROBE_TAIL}");
    ws.write("app.py", &before);
    let program = Program::start(&ws, "app.py");
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let uri = ws.uri("app.py");
    lsp.open(&uri, &before);
    ws.write("app.py", &after);
    lsp.change(&uri, 2, json!([{"text": after}]));
    lsp.save(&uri);
    let result = lsp.patch_result(&uri);
    let mut parts = Vec::new();
    for agent in result["agents"].as_array().unwrap() {
        for def in agent["definitions"].as_array().unwrap() {
            parts.push((
                def["reason"].as_str().unwrap_or_default().to_owned(),
                def["status"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    std::mem::forget(ws);
    (program, parts, lsp)
}

pub struct Case {
    pub name: &'static str,
    pub before: &'static str,
    pub after: &'static str,
    /// Expression evaluated in the program after the save, and its expected value.
    pub probe: &'static str,
    pub expected: Value,
    /// Reasons the save must report (others may come too).
    pub reasons: &'static [&'static str],
}

/// Runs every case and fails with the list of those whose program state or reasons differ.
pub fn run_cases(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let (mut program, parts, lsp) = save(case.before, case.after);
        let got = program.eval(case.probe);
        let reasons: Vec<&str> = parts.iter().map(|(r, _)| r.as_str()).collect();
        let missing: Vec<&&str> = case
            .reasons
            .iter()
            .filter(|r| !reasons.contains(r))
            .collect();
        if got != case.expected || !missing.is_empty() {
            failures.push(format!(
                "{}: {} = {got} (expected {}), parts {parts:?}",
                case.name, case.probe, case.expected
            ));
        }
        program.stop();
        lsp.shutdown();
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
