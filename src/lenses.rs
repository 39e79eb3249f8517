//! What each definition of a document is in the running programs, at a glance (code lenses):
//! live there, edited since, refused, or in no program. Plain values: the LSP layer only turns
//! them into lenses.

use splice_protocol::{Change, Status};
use splice_source::changes::{self, TakenPart};
use splice_source::python_index::{DefKind, PyDefinition};

use crate::diagnostics::Note;

/// Where a definition stands in the programs that have its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveState {
    /// Every program with the file runs it as the buffer has it; `patched_at` (a local time)
    /// when this server last patched it in.
    Live {
        processes: usize,
        patched_at: Option<String>,
    },
    /// The buffer's text differs from what the programs run (unsaved, or saved and not sent).
    Edited {
        live_in: usize,
        processes: usize,
    },
    /// The last attempt to patch it was refused, or failed: the diagnostic says why.
    Refused,
    Failed,
    /// No running program has its file loaded.
    NotLoaded,
}

impl LiveState {
    pub fn title(&self) -> String {
        match self {
            LiveState::Live {
                processes,
                patched_at,
            } => {
                let plural = if *processes == 1 { "" } else { "es" };
                let when = patched_at
                    .as_ref()
                    .map(|t| format!(" · patched {t}"))
                    .unwrap_or_default();
                format!("live in {processes} process{plural}{when}")
            }
            LiveState::Edited { live_in: 0, .. } => "edited · not in the program yet".into(),
            LiveState::Edited { live_in, processes } => {
                format!("edited · live in {live_in} of {processes} processes")
            }
            LiveState::Refused => "refused: restart to take this edit".into(),
            LiveState::Failed => "failed: fix the error and save".into(),
            LiveState::NotLoaded => "not loaded".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lens {
    /// Char index of the definition's first line (decorators included).
    pub start: usize,
    pub qualname: String,
    pub kind: DefKind,
    pub state: LiveState,
}

/// The lens of each function and class that is a part of the file (not nested in a function).
/// `programs`: what each program with the file took of it; `notes`: the document's notes, whose
/// refusals and errors belong to the innermost part holding them; `patched_at`: when a part
/// was last patched in, by qualified name.
pub fn lenses(
    defs: &[PyDefinition],
    programs: &[Vec<TakenPart>],
    notes: &[Note],
    patched_at: impl Fn(&str) -> Option<String>,
) -> Vec<Lens> {
    let shown: Vec<usize> = (0..defs.len())
        .filter(|&i| defs[i].part && defs[i].kind != DefKind::Statement)
        .collect();
    // How many programs run each part as it is now.
    let mut live = vec![0usize; defs.len()];
    for taken in programs {
        for diff in changes::diff(taken, defs) {
            if let (Some(i), None | Some(Change::Moved)) = (diff.index, diff.change) {
                live[i] += 1;
            }
        }
    }
    shown
        .iter()
        .map(|&i| {
            let def = &defs[i];
            let state = if programs.is_empty() {
                LiveState::NotLoaded
            } else if live[i] == programs.len() {
                LiveState::Live {
                    processes: programs.len(),
                    patched_at: patched_at(&def.qualname),
                }
            } else {
                match problem_of(defs, &shown, i, notes) {
                    Some(state) => state,
                    None => LiveState::Edited {
                        live_in: live[i],
                        processes: programs.len(),
                    },
                }
            };
            Lens {
                start: def.start,
                qualname: def.qualname.to_string(),
                kind: def.kind,
                state,
            }
        })
        .collect()
}

/// A refusal or an error noted inside part `i` and in no part nested in it.
fn problem_of(
    defs: &[PyDefinition],
    shown: &[usize],
    i: usize,
    notes: &[Note],
) -> Option<LiveState> {
    let def = &defs[i];
    let innermost = |at: usize| {
        shown
            .iter()
            .filter(|&&j| defs[j].start <= at && at <= defs[j].end)
            .min_by_key(|&&j| defs[j].end - defs[j].start)
            .copied()
    };
    notes
        .iter()
        .filter(|n| def.start <= n.start && n.start <= def.end && innermost(n.start) == Some(i))
        .find_map(|n| {
            if n.code == Status::Refused.as_str() {
                Some(LiveState::Refused)
            } else if n.code == Status::Error.as_str() {
                Some(LiveState::Failed)
            } else {
                None
            }
        })
}
