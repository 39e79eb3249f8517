//! Domain values to LSP values and back: positions in the negotiated encoding, notes to
//! diagnostics, reports to `splice/patchResult`.

use ropey::Rope;
use tower_lsp_server::ls_types::{
    CodeLens, Command, Diagnostic, DiagnosticSeverity, NumberOrString, Position,
    PositionEncodingKind, Range, Uri,
};

use crate::diagnostics::{not_loaded_message, Note, Severity};
use crate::lenses::{Lens, LiveState};
use crate::lsp::ext::{
    self, AgentReport, DefinitionReport, NotLoaded, NotLoadedReason, PatchResultParams,
    PositionArgs,
};
use crate::patching::{PatchReport, Trigger};
use crate::positions::{agent_to_char, from_char, to_char, Encoding, LineCol};
use crate::python_index::DefKind;

pub fn encoding_kind(encoding: Encoding) -> PositionEncodingKind {
    match encoding {
        Encoding::Utf8 => PositionEncodingKind::UTF8,
        Encoding::Utf16 => PositionEncodingKind::UTF16,
    }
}

pub fn char_of(rope: &Rope, position: Position, encoding: Encoding) -> usize {
    to_char(
        rope,
        LineCol {
            line: position.line,
            col: position.character,
        },
        encoding,
    )
}

pub fn position(rope: &Rope, char_idx: usize, encoding: Encoding) -> Position {
    let LineCol { line, col } = from_char(rope, char_idx, encoding);
    Position::new(line, col)
}

pub fn range(rope: &Rope, start: usize, end: usize, encoding: Encoding) -> Range {
    Range::new(
        position(rope, start, encoding),
        position(rope, end, encoding),
    )
}

pub fn diagnostic(rope: &Rope, note: &Note, encoding: Encoding) -> Diagnostic {
    Diagnostic {
        range: range(rope, note.start, note.end, encoding),
        severity: Some(match note.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
            Severity::Information => DiagnosticSeverity::INFORMATION,
            Severity::Hint => DiagnosticSeverity::HINT,
        }),
        code: Some(NumberOrString::String(note.code.clone())),
        source: Some("splice".into()),
        message: note.message.clone(),
        data: note
            .reason
            .map(|r| serde_json::json!({ "reason": r.slug() })),
        ..Diagnostic::default()
    }
}

/// A definition's live state as a lens on its first line. An edited function's lens patches it
/// when clicked; the others only say.
pub fn code_lens(rope: &Rope, lens: &Lens, uri: &Uri, encoding: Encoding) -> CodeLens {
    let at = position(rope, lens.start, encoding);
    let command = match lens.state {
        LiveState::Edited { .. } if lens.kind == DefKind::Function => {
            serde_json::to_value(PositionArgs {
                uri: uri.clone(),
                position: at,
            })
            .ok()
            .map(|args| (ext::PATCH_FUNCTION, vec![args]))
        }
        _ => None,
    };
    let (command, arguments) = command.map_or(("", None), |(c, a)| (c, Some(a)));
    CodeLens {
        range: Range { start: at, end: at },
        command: Some(Command {
            title: lens.state.title(),
            command: command.into(),
            arguments,
        }),
        data: None,
    }
}

pub fn trigger_name(trigger: Trigger) -> String {
    serde_json::to_value(trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Why nothing was patched, when that is the case: no program runs, or none has the file.
pub fn not_loaded(report: &PatchReport) -> Option<NotLoaded> {
    let message = not_loaded_message(report)?;
    let reason = if report.agents_found == 0 {
        NotLoadedReason::NoProgram
    } else {
        NotLoadedReason::FileNotLoaded
    };
    Some(NotLoaded { reason, message })
}

pub fn patch_result(
    uri: Uri,
    rope: &Rope,
    report: &PatchReport,
    encoding: Encoding,
) -> PatchResultParams {
    let agents = report
        .agents
        .iter()
        .map(|outcome| {
            let (modules, error, definitions) = match &outcome.result {
                Err(err) => (Vec::new(), Some(err.clone()), Vec::new()),
                Ok(result) => {
                    let definitions = outcome
                        .sent
                        .iter()
                        .zip(&result.definitions)
                        .map(|(sent, answer)| {
                            let (start, end) = match answer.span {
                                Some(s) => (
                                    agent_to_char(rope, s.line, s.column),
                                    agent_to_char(rope, s.end_line, s.end_column),
                                ),
                                None => (sent.name_start, sent.name_end),
                            };
                            DefinitionReport {
                                qualname: answer.qualname.clone(),
                                status: answer.status,
                                reason: answer.reason,
                                message: answer.message.clone(),
                                range: Some(range(rope, start, end.max(start), encoding)),
                                live_functions: answer.live_functions,
                            }
                        })
                        .collect();
                    (result.modules.clone(), None, definitions)
                }
            };
            AgentReport {
                pid: outcome.pid,
                program: outcome.label.clone(),
                modules,
                error,
                definitions,
            }
        })
        .collect();
    PatchResultParams {
        uri,
        trigger: trigger_name(report.trigger),
        agents,
        not_loaded: not_loaded(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::SentDefinition;
    use crate::patching::AgentOutcome;
    use splice_protocol::{DefinitionResult, FileResult, Reason, Status};

    fn report(
        agents_found: usize,
        modules: &[&str],
        status: Status,
        reason: Reason,
    ) -> PatchReport {
        let answered = agents_found > 0;
        PatchReport {
            trigger: Trigger::Save,
            path: "/x/app.py".into(),
            runtime_dir: "/run".into(),
            refused: Vec::new(),
            in_step: Vec::new(),
            agents_found,
            complete: true,
            agents: answered
                .then(|| AgentOutcome {
                    pid: 7,
                    label: "pid 7 (app.py)".into(),
                    started_at: 1.0,
                    result: Ok(FileResult {
                        path: "/x/app.py".into(),
                        modules: modules.iter().map(|m| m.to_string()).collect(),
                        definitions: vec![DefinitionResult {
                            qualname: "f".into(),
                            status,
                            reason,
                            message: "for people".into(),
                            span: None,
                            live_functions: 0,
                            still_running: Vec::new(),
                        }],
                        notices: Vec::new(),
                    }),
                    sent: vec![SentDefinition {
                        key: "f#0".into(),
                        qualname: "f".into(),
                        start: 0,
                        end: 17,
                        name_start: 4,
                        name_end: 5,
                    }],
                })
                .into_iter()
                .collect(),
        }
    }

    fn params(report: &PatchReport) -> serde_json::Value {
        let uri: Uri = "file:///x/app.py".parse().unwrap();
        let rope = Rope::from_str("def f():\n    pass\n");
        serde_json::to_value(patch_result(uri, &rope, report, Encoding::Utf16)).unwrap()
    }

    #[test]
    fn definitions_carry_status_reason_and_message() {
        let sent = params(&report(
            1,
            &["__main__"],
            Status::Refused,
            Reason::ClosureChanged,
        ));
        let def = &sent["agents"][0]["definitions"][0];
        assert_eq!(def["status"], "refused");
        assert_eq!(def["reason"], "closure-changed");
        assert_eq!(def["message"], "for people");
        assert!(sent.get("notLoaded").is_none(), "{sent}");
    }

    #[test]
    fn not_loaded_says_why_with_a_code() {
        // (agents found, modules, expected reason)
        let cases = [
            (0, &[][..], Some("no-program")),
            (1, &[][..], Some("file-not-loaded")),
            (1, &["__main__"][..], None),
        ];
        for (found, modules, expected) in cases {
            let sent = params(&report(
                found,
                modules,
                Status::NotLoaded,
                Reason::FileNotLoaded,
            ));
            let reason = sent["notLoaded"]["reason"].as_str();
            assert_eq!(reason, expected, "{sent}");
            if expected.is_some() {
                assert!(sent["notLoaded"]["message"].is_string(), "{sent}");
            }
        }
    }
}
