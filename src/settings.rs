//! Settings from `initializationOptions` and `workspace/didChangeConfiguration` (section
//! `splice`). Unknown keys are ignored; a bad value falls back to its default with a warning.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AgentScope {
    /// Every agent of this user that has loaded the file.
    All,
    /// Only programs whose working directory is inside a workspace folder.
    Workspace,
    /// Only the processes listed in `pids`.
    Pids,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SuccessHints {
    /// A hint on each patched definition, per program.
    All,
    /// Nothing for success; errors and refusals only.
    Off,
}

/// What a save does with changed module-level statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ModuleStatements {
    /// Run each once, in file order, in the module's namespace.
    Run,
    /// Run none; each gets a diagnostic with a code action that runs it.
    Ask,
    /// Neither run nor shown.
    Off,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub patch_on_save: bool,
    /// Whether saves the editor makes by itself (after a delay, on focus change) patch too:
    /// off, so that a program is not patched in the middle of typing.
    pub patch_on_auto_save: bool,
    pub runtime_dir: Option<PathBuf>,
    pub agents: AgentScope,
    pub pids: Vec<u32>,
    pub success_hints: SuccessHints,
    pub request_timeout_ms: u64,
    pub module_statements: ModuleStatements,
    /// Whether each definition shows, above it, whether the programs run it (code lenses).
    pub code_lens: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            patch_on_save: true,
            patch_on_auto_save: false,
            runtime_dir: None,
            agents: AgentScope::All,
            pids: Vec::new(),
            success_hints: SuccessHints::All,
            request_timeout_ms: 10_000,
            module_statements: ModuleStatements::Run,
            code_lens: true,
        }
    }
}

impl Settings {
    /// These settings with the keys of `{"splice": {...}}` (or of the section itself) applied;
    /// keys not given keep their value, so an empty change changes nothing. `Err` names what
    /// was wrong.
    pub fn updated(&self, value: &Value) -> Result<Settings, String> {
        let section = value.get("splice").unwrap_or(value);
        let Value::Object(changes) = section else {
            return Ok(self.clone());
        };
        let mut merged = serde_json::to_value(self).map_err(|err| err.to_string())?;
        if let Value::Object(current) = &mut merged {
            for (key, value) in changes {
                current.insert(key.clone(), value.clone());
            }
        }
        serde_json::from_value(merged).map_err(|err| format!("splice settings: {err}"))
    }

    /// The folder set, or the default one when none (or an empty one) is set.
    pub fn runtime_dir(&self) -> PathBuf {
        self.runtime_dir
            .clone()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or_else(splice_protocol::discovery::runtime_dir)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms.max(100))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_from_json() {
        let cases = [
            (json!(null), Ok(Settings::default())),
            (json!({}), Ok(Settings::default())),
            (
                json!({"splice": {"patchOnSave": false, "agents": "pids", "pids": [4]}}),
                Ok(Settings {
                    patch_on_save: false,
                    agents: AgentScope::Pids,
                    pids: vec![4],
                    ..Settings::default()
                }),
            ),
            (
                json!({"successHints": "off", "runtimeDir": "/tmp/x"}),
                Ok(Settings {
                    success_hints: SuccessHints::Off,
                    runtime_dir: Some("/tmp/x".into()),
                    ..Settings::default()
                }),
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(Settings::default().updated(&value), expected, "{value}");
        }
        assert!(Settings::default()
            .updated(&json!({"patchOnSave": "yes"}))
            .is_err());
    }

    #[test]
    fn an_empty_change_keeps_what_was_set() {
        let set = Settings::default()
            .updated(&json!({"successHints": "off"}))
            .unwrap();
        for empty in [
            json!({}),
            json!({"splice": {}}),
            json!(null),
            json!({"other": 1}),
        ] {
            let kept = set.updated(&empty).unwrap();
            assert_eq!(kept.success_hints, SuccessHints::Off, "{empty}");
        }
        let changed = set
            .updated(&json!({"splice": {"patchOnSave": false}}))
            .unwrap();
        assert_eq!(changed.success_hints, SuccessHints::Off);
        assert!(!changed.patch_on_save);
    }
}
