//! What each agent made of an attempt, and what runs where. What to send is decided in
//! `splice_source::changes`. No LSP types here.

use std::collections::HashMap;

use splice_protocol::FileResult;
use splice_source::changes::{SentDefinition, TakenPart};
use splice_source::python_index::DefKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    Save,
    PatchFunction,
    PatchFile,
    RunStatement,
    RevertFunction,
}

/// What one agent made of one attempt.
#[derive(Debug, Clone)]
pub struct AgentOutcome {
    pub pid: u32,
    pub label: String,
    pub started_at: f64,
    pub result: Result<FileResult, String>,
    pub sent: Vec<SentDefinition>,
}

#[derive(Debug, Clone)]
pub struct PatchReport {
    pub trigger: Trigger,
    pub path: String,
    pub agents: Vec<AgentOutcome>,
    /// Where agents were looked for, to say so when none was found.
    pub runtime_dir: String,
    /// How many agents were considered, including those that had nothing to take.
    pub agents_found: usize,
    /// Why the runtime folder or records in it were not trusted.
    pub refused: Vec<String>,
    /// Programs a complete save found already running every part of the file: no part was
    /// sent to them, and no earlier note about a part of theirs still holds.
    pub in_step: Vec<u32>,
    /// Whether every part that differs was sent (a save), not one picked part: the notes of
    /// parts not sent are then out of date.
    pub complete: bool,
}

/// Which parts of a file each agent runs.
#[derive(Debug, Default)]
pub struct Baselines {
    known: HashMap<(u32, u64, String), Vec<TakenPart>>,
}

fn agent_key(pid: u32, started_at: f64, path: &str) -> (u32, u64, String) {
    (pid, started_at.to_bits(), path.to_owned())
}

impl Baselines {
    pub fn get(&self, pid: u32, started_at: f64, path: &str) -> Option<&Vec<TakenPart>> {
        self.known.get(&agent_key(pid, started_at, path))
    }

    pub fn set(&mut self, pid: u32, started_at: f64, path: &str, taken: Vec<TakenPart>) {
        self.known.insert(agent_key(pid, started_at, path), taken);
    }

    /// Forgets what an agent runs of the functions named `qualname` (after a revert).
    pub fn forget(&mut self, pid: u32, started_at: f64, path: &str, qualname: &str) {
        if let Some(taken) = self.known.get_mut(&agent_key(pid, started_at, path)) {
            let root = qualname.split(".<locals>.").next().unwrap_or(qualname);
            taken.retain(|t| t.def().kind != DefKind::Function || &*t.def().qualname != root);
        }
    }

    /// Forgets agents that are gone.
    pub fn retain_agents(&mut self, alive: &[(u32, f64)]) {
        self.known.retain(|(pid, started, _), _| {
            alive
                .iter()
                .any(|(p, s)| p == pid && s.to_bits() == *started)
        });
    }
}
