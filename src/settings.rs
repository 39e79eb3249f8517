//! Settings from `initializationOptions` and `workspace/didChangeConfiguration` (section
//! `splice`). Unknown keys are ignored; a bad value falls back to its default with a warning.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AgentScope {
    /// Every agent of this user that has loaded the file.
    All,
    /// Only programs whose working directory is inside a workspace folder.
    Workspace,
    /// Only the processes listed in `pids`.
    Pids,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SuccessHints {
    /// A hint on each patched definition, per program.
    All,
    /// Nothing for success; errors and refusals only.
    Off,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    pub patch_on_save: bool,
    pub runtime_dir: Option<PathBuf>,
    pub agents: AgentScope,
    pub pids: Vec<u32>,
    pub success_hints: SuccessHints,
    pub request_timeout_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            patch_on_save: true,
            runtime_dir: None,
            agents: AgentScope::All,
            pids: Vec::new(),
            success_hints: SuccessHints::All,
            request_timeout_ms: 10_000,
        }
    }
}

impl Settings {
    /// Reads `{"splice": {...}}` or the section itself; `Err` names what was wrong.
    pub fn from_json(value: &Value) -> Result<Settings, String> {
        let section = value.get("splice").unwrap_or(value);
        if section.is_null() {
            return Ok(Settings::default());
        }
        serde_json::from_value(section.clone()).map_err(|err| format!("splice settings: {err}"))
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.runtime_dir
            .clone()
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
            assert_eq!(Settings::from_json(&value), expected, "{value}");
        }
        assert!(Settings::from_json(&json!({"patchOnSave": "yes"})).is_err());
    }
}
