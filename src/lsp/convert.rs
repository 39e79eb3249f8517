//! Domain values to LSP values and back: positions in the negotiated encoding, notes to
//! diagnostics, reports to `splice/patchResult`.

use ropey::Rope;
use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticSeverity, NumberOrString, Position, PositionEncodingKind, Range, Uri,
};

use crate::diagnostics::{Note, Severity};
use crate::lsp::ext::{AgentReport, DefinitionReport, PatchResultParams};
use crate::patching::{PatchReport, Trigger};
use crate::positions::{agent_to_char, from_char, to_char, Encoding, LineCol};

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
        ..Diagnostic::default()
    }
}

pub fn trigger_name(trigger: Trigger) -> String {
    serde_json::to_value(trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

pub fn patch_result(
    uri: Uri,
    rope: &Rope,
    report: &PatchReport,
    not_loaded: Option<String>,
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
                                status: answer.status.as_str().into(),
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
        not_loaded,
    }
}
