//! Splice's own part of the LSP surface: the `splice/patchResult` notification and the
//! arguments and results of the `splice.*` commands, typed once.

use serde::{Deserialize, Serialize};
use splice_protocol::{Reason, Status};
use tower_lsp_server::ls_types::notification::Notification;
use tower_lsp_server::ls_types::{Position, Range, Uri};

pub const PATCH_FUNCTION: &str = "splice.patchFunction";
pub const PATCH_FILE: &str = "splice.patchFile";
pub const REVERT_FUNCTION: &str = "splice.revertFunction";
pub const RUN_STATEMENT: &str = "splice.runStatement";
pub const LIST_AGENTS: &str = "splice.listAgents";
pub const COMMANDS: [&str; 5] = [
    PATCH_FUNCTION,
    PATCH_FILE,
    REVERT_FUNCTION,
    RUN_STATEMENT,
    LIST_AGENTS,
];

/// Sent after every patch attempt; editors build their status display on it.
pub enum PatchResult {}

impl Notification for PatchResult {
    type Params = PatchResultParams;
    const METHOD: &'static str = "splice/patchResult";
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchResultParams {
    pub uri: Uri,
    pub trigger: String,
    pub agents: Vec<AgentReport>,
    /// Set when no running program has the file loaded, or none runs at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_loaded: Option<NotLoaded>,
}

/// Why nothing was patched, as the server found it: a code for editors, a sentence for people.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotLoaded {
    pub reason: NotLoadedReason,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NotLoadedReason {
    /// No program is running with the agent (in the runtime folder looked at).
    NoProgram,
    /// Programs are running, but none has a module loaded from the file.
    FileNotLoaded,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentReport {
    pub pid: u32,
    pub program: String,
    pub modules: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub definitions: Vec<DefinitionReport>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DefinitionReport {
    pub qualname: String,
    pub status: Status,
    /// The agent's code for the status (`closure-changed`, `syntax-error`...): editors decide
    /// on `status` and `reason`, never on `message`, which is for people.
    pub reason: Reason,
    pub message: String,
    pub range: Option<Range>,
    pub live_functions: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionArgs {
    pub uri: Uri,
    pub position: Position,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UriArgs {
    pub uri: Uri,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentListing {
    pub pid: u32,
    pub program: String,
    /// The process that started this one, when known.
    pub parent_pid: Option<u32>,
    /// The root of its process tree (itself when it is one), and that tree in one line:
    /// `gunicorn (pid 10): 2 workers`.
    pub root_pid: u32,
    pub tree: String,
    pub argv: Vec<String>,
    pub cwd: String,
    pub python_version: String,
    pub address: String,
    pub started_at: f64,
}
