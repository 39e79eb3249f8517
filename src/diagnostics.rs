//! What each document shows: errors at their exact range, refusals on the definition's name,
//! success hints, and one note when no program has the file loaded. Positions are char indices
//! into the document, kept in step with its edits. No LSP types here.

use ropey::Rope;
use splice_protocol::{EventKind, Reason, RuntimeEvent, Status};

use crate::patching::{AgentOutcome, PatchReport};
use crate::positions::agent_to_char;
use crate::settings::SuccessHints;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Information,
    Hint,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Owner {
    Definition {
        key: String,
        pid: u32,
    },
    Agent(u32),
    Document,
    /// An exception seen at run time: in a patched function (cleared when it is patched
    /// again) or uncaught.
    Exception {
        qualname: String,
        pid: u32,
        line: u32,
        exception: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub start: usize,
    pub end: usize,
    pub severity: Severity,
    /// The status (`refused`, `error`, `patched`, `not-loaded`...).
    pub code: String,
    /// The agent's reason, for notes about a part's result.
    pub reason: Option<Reason>,
    pub message: String,
    owner: Owner,
    /// The definition the note is about: editing it drops a success hint.
    scope: (usize, usize),
}

#[derive(Debug, Default)]
pub struct Notes {
    notes: Vec<Note>,
}

/// The code of the note saying which programs have not answered yet.
pub const WAITING: &str = "waiting";

impl Notes {
    pub fn all(&self) -> &[Note] {
        &self.notes
    }

    /// Replaces the notes of everything the attempt concerned with its results.
    pub fn record(&mut self, rope: &Rope, report: &PatchReport, hints: SuccessHints) {
        self.notes.retain(|n| n.owner != Owner::Document);
        // Programs that already run every part of the file: no note about a part still holds.
        for pid in &report.in_step {
            self.notes.retain(|n| {
                !matches!(&n.owner, Owner::Definition { pid: p, .. } | Owner::Agent(p) if p == pid)
            });
        }
        for outcome in &report.agents {
            self.notes.retain(|n| n.owner != Owner::Agent(outcome.pid));
            match &outcome.result {
                Err(err) => self.notes.push(Note {
                    start: 0,
                    end: 0,
                    severity: Severity::Warning,
                    code: "error".into(),
                    reason: None,
                    message: err.clone(),
                    owner: Owner::Agent(outcome.pid),
                    scope: (0, 0),
                }),
                Ok(result) => {
                    // Said once by the program: shown until its next result.
                    for notice in &result.notices {
                        self.notes.push(Note {
                            start: 0,
                            end: 0,
                            severity: Severity::Information,
                            code: "notice".into(),
                            reason: None,
                            message: format!("{}: {notice}", outcome.label),
                            owner: Owner::Agent(outcome.pid),
                            scope: (0, 0),
                        });
                    }
                    if report.complete {
                        // Every part that differs was sent: notes of parts not sent are stale.
                        self.notes.retain(|n| {
                            !matches!(&n.owner, Owner::Definition { pid, .. } if *pid == outcome.pid)
                        });
                    }
                    self.record_definitions(rope, report, outcome, hints)
                }
            }
        }
        if let Some(message) = not_loaded_message(report) {
            self.notes.push(Note {
                start: 0,
                end: 0,
                severity: Severity::Information,
                code: Status::NotLoaded.as_str().into(),
                reason: None,
                message,
                owner: Owner::Document,
                scope: (0, 0),
            });
        }
    }

    /// Says which programs have not answered the attempt whose first answers were just recorded;
    /// the attempt's full record replaces it.
    pub fn waiting_for(&mut self, labels: &[String]) {
        if labels.is_empty() {
            return;
        }
        self.notes.push(Note {
            start: 0,
            end: 0,
            severity: Severity::Information,
            code: WAITING.into(),
            reason: None,
            message: format!("still waiting for {}", labels.join(", ")),
            owner: Owner::Document,
            scope: (0, 0),
        });
    }

    fn record_definitions(
        &mut self,
        rope: &Rope,
        report: &PatchReport,
        outcome: &AgentOutcome,
        hints: SuccessHints,
    ) {
        let several = processes_with_file(report).len() > 1;
        let Ok(result) = &outcome.result else { return };
        for (sent, answer) in outcome.sent.iter().zip(&result.definitions) {
            let owner = Owner::Definition {
                key: sent.key.clone(),
                pid: outcome.pid,
            };
            self.notes.retain(|n| n.owner != owner);
            let span = answer.span.map(|s| {
                let start = agent_to_char(rope, s.line, s.column);
                let end = agent_to_char(rope, s.end_line, s.end_column).max(start);
                (start, end)
            });
            let on_name = (sent.name_start, sent.name_end);
            if matches!(answer.status, Status::Patched | Status::Added) {
                self.notes.retain(|n| {
                    !matches!(&n.owner, Owner::Exception { qualname, pid, .. }
                        if *pid == outcome.pid && *qualname == sent.qualname)
                });
                for running in &answer.still_running {
                    self.notes.push(Note {
                        start: on_name.0,
                        end: on_name.1,
                        severity: Severity::Information,
                        code: "still-running".into(),
                        reason: None,
                        // Which worker, when the file is in several processes.
                        message: if several {
                            format!("{}: {running}", outcome.label)
                        } else {
                            running.clone()
                        },
                        owner: owner.clone(),
                        scope: (sent.start, sent.end),
                    });
                }
            }
            let (severity, (start, end), message) = match answer.status {
                Status::Error => (
                    Severity::Error,
                    span.unwrap_or(on_name),
                    answer.message.clone(),
                ),
                Status::Refused => (Severity::Error, on_name, answer.message.clone()),
                Status::Patched | Status::Added | Status::Reverted => {
                    if hints == SuccessHints::Off {
                        continue;
                    }
                    let message = if several {
                        tree_success_message(report, &sent.key, answer)
                    } else {
                        success_message(outcome, answer)
                    };
                    (Severity::Hint, on_name, message)
                }
                Status::Unchanged | Status::NotLoaded => continue,
            };
            self.notes.push(Note {
                start,
                end,
                severity,
                code: answer.status.as_str().into(),
                reason: Some(answer.reason),
                message,
                owner,
                scope: (sent.start, sent.end),
            });
        }
    }

    /// The notes to show: one of several that say the same at the same place (the same
    /// refusal, or one hint about every process, from each worker of a program).
    pub fn shown(&self) -> Vec<Note> {
        let mut shown: Vec<Note> = Vec::with_capacity(self.notes.len());
        for note in &self.notes {
            let same = |n: &Note| {
                (n.start, n.end, n.severity, &n.code, &n.message)
                    == (
                        note.start,
                        note.end,
                        note.severity,
                        &note.code,
                        &note.message,
                    )
            };
            if !shown.iter().any(same) {
                shown.push(note.clone());
            }
        }
        shown
    }

    /// The programs the notes are about.
    pub fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .notes
            .iter()
            .filter_map(|n| match &n.owner {
                Owner::Definition { pid, .. }
                | Owner::Agent(pid)
                | Owner::Exception { pid, .. } => Some(*pid),
                Owner::Document => None,
            })
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Drops every note about a program that is gone; whether any was dropped.
    pub fn forget_program(&mut self, gone: u32) -> bool {
        let before = self.notes.len();
        self.notes.retain(|n| {
            !matches!(&n.owner,
                Owner::Definition { pid, .. } | Owner::Agent(pid) | Owner::Exception { pid, .. }
                    if *pid == gone)
        });
        self.notes.len() != before
    }

    /// Shows a runtime event at its line in this document: one note per place and exception,
    /// its count updated by later events.
    pub fn record_event(
        &mut self,
        rope: &Rope,
        pid: u32,
        label: &str,
        event: &RuntimeEvent,
        line: u32,
    ) {
        let qualname = event
            .patched
            .as_ref()
            .map(|p| p.qualname.clone())
            .unwrap_or_default();
        let owner = Owner::Exception {
            qualname,
            pid,
            line,
            exception: event.exception.clone(),
        };
        self.notes.retain(|n| n.owner != owner);
        let start = agent_to_char(rope, line, 0);
        let text_start = start
            + rope
                .line(rope.char_to_line(start))
                .chars()
                .take_while(|c| c.is_whitespace() && *c != '\n')
                .count();
        let end = agent_to_char(rope, line, u32::MAX).max(text_start);
        let (severity, message) = runtime_message(label, event);
        self.notes.push(Note {
            start: text_start.min(end),
            end,
            severity,
            code: match event.kind {
                EventKind::Exception => "exception".into(),
                EventKind::Uncaught => "uncaught".into(),
            },
            reason: None,
            message,
            owner,
            scope: (start, end),
        });
    }

    /// Keeps notes in place across an edit of `start..old_end` (now `start..new_end`) and drops
    /// success hints of definitions it touched. Returns whether anything changed.
    pub fn edited(&mut self, start: usize, old_end: usize, new_end: usize) -> bool {
        let before = self.notes.clone();
        let shift = |at: usize| -> usize {
            if at >= old_end {
                at - old_end + new_end
            } else if at > start {
                at.min(new_end).max(start)
            } else {
                at
            }
        };
        self.notes.retain(|n| {
            let touched = n.scope.0 <= old_end && start <= n.scope.1;
            !(touched && n.severity == Severity::Hint)
        });
        for note in &mut self.notes {
            note.start = shift(note.start);
            note.end = shift(note.end).max(note.start);
            note.scope = (shift(note.scope.0), shift(note.scope.1));
        }
        self.notes != before
    }
}

fn runtime_message(label: &str, event: &RuntimeEvent) -> (Severity, String) {
    let what = if event.message.is_empty() {
        event.exception.clone()
    } else {
        format!("{}: {}", event.exception, event.message)
    };
    match (&event.kind, &event.patched) {
        (EventKind::Exception, Some(patched)) => {
            let times = match (event.count, event.counting_stopped) {
                (n, true) => format!("{n}+ times (no longer counted, to keep the program fast)"),
                (1, false) => "once".to_owned(),
                (n, false) => format!("{n} times"),
            };
            let short = patched
                .qualname
                .rsplit('.')
                .next()
                .unwrap_or(&patched.qualname);
            (
                Severity::Warning,
                format!(
                    "{what} — raised {times} in {label} ({}) since the patch of {short}() at {} UTC",
                    event.thread,
                    clock(patched.patched_at)
                ),
            )
        }
        _ => (
            Severity::Error,
            format!("uncaught {what} in {} of {label}", event.thread),
        ),
    }
}

/// `HH:MM:SS` of a Unix time, in UTC.
fn clock(seconds: f64) -> String {
    let day = (seconds.max(0.0) as u64) % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
}

fn success_message(outcome: &AgentOutcome, answer: &splice_protocol::DefinitionResult) -> String {
    let extra = if answer.message.is_empty() {
        String::new()
    } else {
        format!(" · {}", answer.message)
    };
    format!(
        "{} in {}{}{extra}",
        success_verb(answer.status),
        outcome.label,
        live_functions(answer.live_functions)
    )
}

fn success_verb(status: Status) -> &'static str {
    match status {
        Status::Added => "added",
        Status::Reverted => "reverted",
        _ => "patched",
    }
}

/// ` · 2 live functions`, or nothing for none.
fn live_functions(count: u32) -> String {
    match count {
        0 => String::new(),
        1 => " · 1 live function".into(),
        n => format!(" · {n} live functions"),
    }
}

/// The processes a save concerned: those with the file loaded, and those that failed to answer.
fn processes_with_file(report: &PatchReport) -> Vec<&AgentOutcome> {
    report
        .agents
        .iter()
        .filter(|a| a.result.as_ref().map_or(true, |r| !r.modules.is_empty()))
        .collect()
}

/// `patched in 3 of 3 processes · 3 live functions`, or `patched in 2 of 3 processes; not in
/// pid 12 (gunicorn): refused — <why>`: the same sentence from every process of the
/// save, shown once.
fn tree_success_message(
    report: &PatchReport,
    key: &str,
    answer: &splice_protocol::DefinitionResult,
) -> String {
    let processes = processes_with_file(report);
    let (mut took, mut live, mut missing) = (0, 0, Vec::new());
    for process in &processes {
        let result = match &process.result {
            Ok(result) => result,
            Err(err) => {
                missing.push(format!("{}: {err}", process.label));
                continue;
            }
        };
        let found = process
            .sent
            .iter()
            .zip(&result.definitions)
            .find(|(sent, _)| sent.key == key);
        match found {
            // Not sent: that process already ran this part as saved.
            None => took += 1,
            Some((_, theirs)) if theirs.status.taken() || theirs.status == Status::Reverted => {
                took += 1;
                live += theirs.live_functions;
            }
            Some((_, theirs)) => missing.push(format!(
                "{}: {} — {}",
                process.label,
                theirs.status.as_str(),
                theirs.message.lines().next().unwrap_or("")
            )),
        }
    }
    let mut message = format!(
        "{} in {took} of {} processes{}",
        success_verb(answer.status),
        processes.len(),
        live_functions(live)
    );
    if !missing.is_empty() {
        message.push_str("; not in ");
        message.push_str(&missing.join("; "));
    }
    message
}

/// One sentence when no running program has the file loaded (or none is running at all).
pub fn not_loaded_message(report: &PatchReport) -> Option<String> {
    let file = std::path::Path::new(&report.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| report.path.clone());
    if report.agents_found == 0 && !report.refused.is_empty() {
        return Some(format!(
            "{file} was not patched: {}",
            report.refused.join("; ")
        ));
    }
    if report.agents_found == 0 {
        return Some(format!(
            "{file} was not patched: no program is running with the splice agent (looked in {}); start one with `python -m splice app.py`",
            report.runtime_dir
        ));
    }
    let answered: Vec<&AgentOutcome> = report.agents.iter().filter(|a| a.result.is_ok()).collect();
    let all_not_loaded = !answered.is_empty()
        && answered.iter().all(
            |a| matches!(&a.result, Ok(r) if r.modules.is_empty() && !r.definitions.is_empty()),
        );
    if !all_not_loaded {
        return None;
    }
    let searched: Vec<&str> = report.agents.iter().map(|a| a.label.as_str()).collect();
    Some(format!(
        "{file} is not loaded by any running program; searched {}",
        searched.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::SentDefinition;
    use crate::patching::Trigger;
    use splice_protocol::{DefinitionResult, FileResult, Span};

    fn sent(key: &str, name: (usize, usize), scope: (usize, usize)) -> SentDefinition {
        SentDefinition {
            key: key.into(),
            qualname: key.split('#').next().unwrap().into(),
            start: scope.0,
            end: scope.1,
            name_start: name.0,
            name_end: name.1,
        }
    }

    fn answer(status: Status, span: Option<Span>) -> DefinitionResult {
        DefinitionResult {
            qualname: String::new(),
            status,
            reason: splice_protocol::Reason::default(),
            message: format!("{} message", status.as_str()),
            span,
            live_functions: 2,
            still_running: Vec::new(),
        }
    }

    impl AgentOutcome {
        fn with_answer(mut self, answer: DefinitionResult) -> AgentOutcome {
            if let Ok(result) = &mut self.result {
                result.definitions = vec![answer];
            }
            self
        }
    }

    fn report(
        modules: &[&str],
        answers: Vec<DefinitionResult>,
        sent: Vec<SentDefinition>,
    ) -> PatchReport {
        PatchReport {
            trigger: Trigger::Save,
            path: "/x/app.py".into(),
            runtime_dir: "/run".into(),
            refused: Vec::new(),
            in_step: Vec::new(),
            agents_found: 1,
            complete: true,
            agents: vec![AgentOutcome {
                pid: 7,
                label: "pid 7 (app.py)".into(),
                started_at: 1.0,
                result: Ok(FileResult {
                    path: "/x/app.py".into(),
                    modules: modules.iter().map(|m| m.to_string()).collect(),
                    definitions: answers,
                    notices: Vec::new(),
                }),
                sent,
            }],
        }
    }

    #[test]
    fn notes_per_status() {
        let rope = Rope::from_str("def f():\n    return (\n");
        let span = Some(Span {
            line: 2,
            column: 11,
            end_line: 2,
            end_column: 12,
        });
        // status, span, expected (severity, start, end) or None
        let cases = [
            (Status::Error, span, Some((Severity::Error, 20, 21))),
            (Status::Error, None, Some((Severity::Error, 4, 5))),
            (Status::Refused, span, Some((Severity::Error, 4, 5))),
            (Status::Patched, None, Some((Severity::Hint, 4, 5))),
            (Status::Unchanged, None, None),
        ];
        for (status, span, expected) in cases {
            let mut notes = Notes::default();
            let r = report(
                &["__main__"],
                vec![answer(status, span)],
                vec![sent("f#0", (4, 5), (0, 22))],
            );
            notes.record(&rope, &r, SuccessHints::All);
            let got = notes.all().first().map(|n| (n.severity, n.start, n.end));
            assert_eq!(got, expected, "{status:?}");
        }
    }

    #[test]
    fn success_hint_names_the_program_and_live_functions() {
        let rope = Rope::from_str("def f():\n    pass\n");
        let mut notes = Notes::default();
        let r = report(
            &["__main__"],
            vec![DefinitionResult {
                message: String::new(),
                ..answer(Status::Patched, None)
            }],
            vec![sent("f#0", (4, 5), (0, 17))],
        );
        notes.record(&rope, &r, SuccessHints::All);
        assert_eq!(
            notes.all()[0].message,
            "patched in pid 7 (app.py) · 2 live functions"
        );
    }

    #[test]
    fn several_processes_get_one_hint_saying_how_many_took_the_edit() {
        let rope = Rope::from_str("def f():\n    pass\n");
        let mut r = report(
            &["app"],
            vec![answer(Status::Patched, None)],
            vec![sent("f#0", (4, 5), (0, 17))],
        );
        let first = r.agents[0].clone();
        let worker = |pid: u32, status: Status| {
            AgentOutcome {
                pid,
                label: format!("pid {pid} (gunicorn)"),
                ..first.clone()
            }
            .with_answer(answer(status, None))
        };
        r.agents.push(worker(8, Status::Patched));
        r.agents.push(worker(9, Status::Refused));
        let mut notes = Notes::default();
        notes.record(&rope, &r, SuccessHints::All);
        let shown = notes.shown();
        let messages: Vec<&str> = shown.iter().map(|n| n.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "patched in 2 of 3 processes · 4 live functions; not in pid 9 (gunicorn): refused — refused message",
                "refused message",
            ],
            "one hint for the three processes, the refusal once"
        );
    }

    #[test]
    fn later_success_clears_earlier_error_and_edits_drop_hints() {
        let rope = Rope::from_str("def f():\n    pass\n");
        let mut notes = Notes::default();
        let f = || vec![sent("f#0", (4, 5), (0, 17))];
        notes.record(
            &rope,
            &report(&["__main__"], vec![answer(Status::Error, None)], f()),
            SuccessHints::All,
        );
        assert_eq!(notes.all()[0].severity, Severity::Error);
        notes.record(
            &rope,
            &report(&["__main__"], vec![answer(Status::Patched, None)], f()),
            SuccessHints::All,
        );
        assert_eq!(notes.all().len(), 1);
        assert_eq!(notes.all()[0].severity, Severity::Hint);
        assert!(notes.edited(12, 12, 13));
        assert!(notes.all().is_empty());
    }

    #[test]
    fn not_loaded_gets_one_document_note() {
        let rope = Rope::from_str("def f():\n    pass\n");
        let mut notes = Notes::default();
        let r = report(
            &[],
            vec![answer(Status::NotLoaded, None)],
            vec![sent("f#0", (4, 5), (0, 17))],
        );
        notes.record(&rope, &r, SuccessHints::All);
        assert_eq!(notes.all().len(), 1);
        assert_eq!(notes.all()[0].code, "not-loaded");
        assert!(notes.all()[0].message.contains("searched pid 7 (app.py)"));
    }

    #[test]
    fn notes_shift_with_edits_before_them() {
        let rope = Rope::from_str("x = 1\ndef f():\n    return (\n");
        let mut notes = Notes::default();
        notes.record(
            &rope,
            &report(
                &["__main__"],
                vec![answer(Status::Refused, None)],
                vec![sent("f#0", (10, 11), (6, 28))],
            ),
            SuccessHints::All,
        );
        notes.edited(0, 0, 3);
        assert_eq!((notes.all()[0].start, notes.all()[0].end), (13, 14));
        notes.edited(0, 3, 0);
        assert_eq!((notes.all()[0].start, notes.all()[0].end), (10, 11));
    }
}
