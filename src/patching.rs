//! Deciding what to send to each agent and remembering what runs there. No LSP types here.

use std::collections::HashMap;

use splice_protocol::{Definition, FileResult, PatchParams};

use crate::python_index::{DefKind, PyDefinition};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Trigger {
    Save,
    PatchFunction,
    PatchFile,
    RevertFunction,
}

/// A definition as it was sent, to place the agent's answer in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentDefinition {
    pub key: String,
    pub qualname: String,
    pub fingerprint: u64,
    pub start: usize,
    pub end: usize,
    pub name_start: usize,
    pub name_end: usize,
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
}

/// Every definition with a key that tells apart those sharing a qualified name.
pub fn keyed(defs: &[PyDefinition]) -> Vec<(String, &PyDefinition)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    defs.iter()
        .map(|def| {
            let n = seen.entry(def.qualname.as_str()).or_default();
            let key = def.key(*n);
            *n += 1;
            (key, def)
        })
        .collect()
}

/// The innermost function containing `char_idx`.
pub fn innermost_at(defs: &[PyDefinition], char_idx: usize) -> Option<(String, &PyDefinition)> {
    keyed(defs)
        .into_iter()
        .filter(|(_, d)| d.kind == DefKind::Function && d.start <= char_idx && char_idx <= d.end)
        .min_by_key(|(_, d)| d.end - d.start)
}

/// Fingerprints of the definitions known to run in an agent, per file.
#[derive(Debug, Default)]
pub struct Baselines {
    known: HashMap<(u32, u64, String), HashMap<String, u64>>,
}

fn agent_key(pid: u32, started_at: f64, path: &str) -> (u32, u64, String) {
    (pid, started_at.to_bits(), path.to_owned())
}

impl Baselines {
    pub fn get(&self, pid: u32, started_at: f64, path: &str) -> Option<&HashMap<String, u64>> {
        self.known.get(&agent_key(pid, started_at, path))
    }

    /// Remembers what the agent now runs: patched, added and unchanged definitions.
    pub fn record(&mut self, outcome: &AgentOutcome, path: &str) {
        let Ok(result) = &outcome.result else {
            return;
        };
        if result.modules.is_empty() {
            return;
        }
        let known = self
            .known
            .entry(agent_key(outcome.pid, outcome.started_at, path))
            .or_default();
        for (sent, answer) in outcome.sent.iter().zip(&result.definitions) {
            use splice_protocol::Status::*;
            match answer.status {
                Patched | Added | Unchanged => {
                    known.insert(sent.key.clone(), sent.fingerprint);
                }
                Reverted => {
                    known.remove(&sent.key);
                }
                Refused | Error | NotLoaded => {}
            }
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

/// The definitions whose text changed since the baseline; all of them without one.
pub fn changed<'a>(
    defs: &'a [PyDefinition],
    baseline: Option<&HashMap<String, u64>>,
) -> Vec<(String, &'a PyDefinition)> {
    keyed(defs)
        .into_iter()
        .filter(|(key, def)| baseline.and_then(|b| b.get(key)) != Some(&def.fingerprint))
        .collect()
}

/// The request for `selected` definitions of `rope` (whose whole text is `text`).
pub fn request(
    path: &str,
    text: &str,
    rope: &ropey::Rope,
    selected: &[(String, &PyDefinition)],
) -> (PatchParams, Vec<SentDefinition>) {
    let params = PatchParams {
        path: path.to_owned(),
        source: Some(text.to_owned()),
        definitions: selected
            .iter()
            .map(|(_, def)| Definition {
                qualname: def.qualname.clone(),
                source: def.context(rope),
            })
            .collect(),
    };
    (params, sent(selected))
}

/// The selected definitions as sent, to place the agents' answers.
pub fn sent(selected: &[(String, &PyDefinition)]) -> Vec<SentDefinition> {
    selected
        .iter()
        .map(|(key, def)| SentDefinition {
            key: key.clone(),
            qualname: def.qualname.clone(),
            fingerprint: def.fingerprint,
            start: def.start,
            end: def.end,
            name_start: def.name_start,
            name_end: def.name_end,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Document;

    #[test]
    fn only_changed_definitions_are_sent_after_a_baseline() {
        let mut before = Document::new("def a():\n    return 1\n\ndef b():\n    return 2\n", 0);
        let mut after = Document::new("def a():\n    return 1\n\ndef b():\n    return 3\n", 0);
        let defs_before = before.definitions();
        let baseline: HashMap<String, u64> = keyed(&defs_before)
            .into_iter()
            .map(|(k, d)| (k, d.fingerprint))
            .collect();
        let defs_after = after.definitions();
        let names = |sel: Vec<(String, &PyDefinition)>| -> Vec<String> {
            sel.into_iter().map(|(k, _)| k).collect()
        };
        assert_eq!(names(changed(&defs_after, Some(&baseline))), vec!["b#0"]);
        assert_eq!(names(changed(&defs_after, None)), vec!["a#0", "b#0"]);
    }

    #[test]
    fn innermost_definition_at_cursor() {
        let text =
            "class A:\n    def m(self):\n        def inner():\n            pass\n    x = 1\n";
        let mut doc = Document::new(text, 0);
        let defs = doc.definitions();
        // (char index, expected qualname)
        let cases = [
            (text.find("pass").unwrap(), Some("A.m.<locals>.inner")),
            (text.find("def m").unwrap(), Some("A.m")),
            (text.find("x = 1").unwrap(), None),
            (text.len() + 5, None),
        ];
        for (at, expected) in cases {
            let found = innermost_at(&defs, at).map(|(_, d)| d.qualname.clone());
            assert_eq!(found.as_deref(), expected, "at {at}");
        }
    }

    #[test]
    fn getter_and_setter_get_distinct_keys() {
        let text = "class A:\n    @property\n    def x(self):\n        return 1\n    @x.setter\n    def x(self, v):\n        pass\n";
        let mut doc = Document::new(text, 0);
        let defs = doc.definitions();
        let keys: Vec<String> = keyed(&defs).into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["A#0", "A.x#0", "A.x#1"]);
    }
}
