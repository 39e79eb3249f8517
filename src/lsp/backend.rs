//! The LSP handlers: each converts its parameters, calls the session and converts back.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use splice_protocol::Reason;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

use crate::document::Change;
use crate::lsp::convert;
use crate::lsp::ext::{self, AgentListing, PositionArgs, UriArgs};
use crate::patching::Trigger;
use crate::positions::Encoding;
use crate::session::{Selection, Session};
use crate::settings::Settings;

pub struct Backend {
    client: Client,
    session: OnceLock<Arc<Session>>,
    encoding: OnceLock<Encoding>,
    watcher: Mutex<Option<notify::RecommendedWatcher>>,
    /// Refusals of the runtime folder or its records already shown to the user.
    refusals_shown: Mutex<HashSet<String>>,
    /// Whether the editor asks for lenses again when told (`workspace/codeLens/refresh`).
    lens_refresh: OnceLock<bool>,
}

fn key(uri: &Uri) -> String {
    uri.as_str().to_owned()
}

fn path_of(uri: &Uri) -> Result<String> {
    uri.to_file_path()
        .map(|p| p.display().to_string())
        .ok_or_else(|| Error::invalid_params(format!("{} is not a file", uri.as_str())))
}

async fn publish(client: &Client, session: &Session, encoding: Encoding, uri: &Uri) {
    let version = session.with_document(&key(uri), |d| d.version);
    let (rope, notes) = session.notes(&key(uri));
    let diagnostics = notes
        .iter()
        .map(|n| convert::diagnostic(&rope, n, encoding))
        .collect();
    client
        .publish_diagnostics(uri.clone(), diagnostics, version)
        .await;
}

fn args<T: serde::de::DeserializeOwned>(arguments: Vec<Value>) -> Result<T> {
    let first = arguments.into_iter().next().unwrap_or(Value::Null);
    serde_json::from_value(first).map_err(|e| Error::invalid_params(e.to_string()))
}

impl Backend {
    pub fn new(client: Client) -> Backend {
        Backend {
            client,
            session: OnceLock::new(),
            encoding: OnceLock::new(),
            watcher: Mutex::new(None),
            refusals_shown: Mutex::new(HashSet::new()),
            lens_refresh: OnceLock::new(),
        }
    }

    fn session(&self) -> Result<&Arc<Session>> {
        self.session.get().ok_or_else(Error::invalid_request)
    }

    fn encoding(&self) -> Encoding {
        *self.encoding.get().unwrap_or(&Encoding::Utf16)
    }

    async fn publish(&self, uri: &Uri) {
        if let Ok(session) = self.session() {
            publish(&self.client, session, self.encoding(), uri).await;
        }
    }

    /// Turns agents' runtime events into diagnostics of the open documents they concern.
    fn follow_events(&self, session: &Arc<Session>) {
        let (sink, mut batches) = tokio::sync::mpsc::unbounded_channel();
        session.pool.follow_events(sink);
        let (client, session, encoding) = (self.client.clone(), session.clone(), self.encoding());
        tokio::spawn(async move {
            while let Some(batch) = batches.recv().await {
                let touched = session.record_events(&batch, |path| {
                    let uri = Uri::from_file_path(path)?;
                    session.is_open(&key(&uri)).then(|| key(&uri))
                });
                for touched in touched {
                    if let Ok(uri) = touched.parse::<Uri>() {
                        publish(&client, &session, encoding, &uri).await;
                    }
                }
            }
        });
    }

    /// One attempt: patch, publish diagnostics, notify `splice/patchResult`, return its params.
    async fn patch(&self, uri: &Uri, selection: Selection, trigger: Trigger) -> Result<Value> {
        let session = self.session()?.clone();
        let path = path_of(uri)?;
        // Publishes what the session holds when it runs: never older than what was recorded.
        let show = || {
            let (client, session, uri) = (self.client.clone(), session.clone(), uri.clone());
            let encoding = self.encoding();
            tokio::spawn(async move { publish(&client, &session, encoding, &uri).await });
        };
        let (report, rope) = session
            .patch(&key(uri), &path, selection, trigger, show)
            .await
            .map_err(Error::invalid_params)?;
        self.report(uri, report, rope).await
    }

    async fn report(
        &self,
        uri: &Uri,
        report: crate::patching::PatchReport,
        rope: ropey::Rope,
    ) -> Result<Value> {
        let params = convert::patch_result(uri.clone(), &rope, &report, self.encoding());
        if let Ok(session) = self.session() {
            for key in session.forget_exited() {
                if let Ok(other) = key.parse::<Uri>() {
                    if other != *uri {
                        self.publish(&other).await;
                    }
                }
            }
        }
        self.publish(uri).await;
        self.client
            .send_notification::<ext::PatchResult>(params.clone())
            .await;
        if self.lens_refresh.get() == Some(&true) {
            // A request to the editor: its answer is not waited for here.
            let client = self.client.clone();
            tokio::spawn(async move { client.code_lens_refresh().await });
        }
        for why in &report.refused {
            let new = self
                .refusals_shown
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(why.clone());
            if new {
                self.client
                    .show_message(MessageType::WARNING, format!("Splice: {why}"))
                    .await;
            }
        }
        serde_json::to_value(params).map_err(|e| Error::invalid_params(e.to_string()))
    }

    fn char_at(&self, uri: &Uri, position: Position) -> Result<usize> {
        let encoding = self.encoding();
        self.session()?
            .with_document(&key(uri), |d| convert::char_of(&d.rope, position, encoding))
            .ok_or_else(|| Error::invalid_params(format!("{} is not open", uri.as_str())))
    }

    fn watch(&self, session: &Arc<Session>) {
        let dir = session.pool.dir();
        let weak = Arc::downgrade(session);
        let (client, encoding) = (self.client.clone(), self.encoding());
        let runtime = tokio::runtime::Handle::current();
        match crate::agents::watch(&dir, move || {
            let Some(session) = weak.upgrade() else {
                return;
            };
            // A program that exited takes its diagnostics with it.
            session.pool.refresh();
            let changed = session.forget_exited();
            let client = client.clone();
            runtime.spawn(async move {
                for key in changed {
                    if let Ok(uri) = key.parse::<Uri>() {
                        publish(&client, &session, encoding, &uri).await;
                    }
                }
            });
        }) {
            Ok(watcher) => *self.watcher.lock().unwrap_or_else(|e| e.into_inner()) = Some(watcher),
            Err(err) => tracing::warn!("cannot watch {}: {err}", dir.display()),
        }
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let offered = params
            .capabilities
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.clone())
            .unwrap_or_default();
        let encoding = if offered.contains(&PositionEncodingKind::UTF8) {
            Encoding::Utf8
        } else {
            Encoding::Utf16
        };
        let _ = self.encoding.set(encoding);
        let lens_refresh = params
            .capabilities
            .workspace
            .as_ref()
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        let _ = self.lens_refresh.set(lens_refresh);
        let settings = match params.initialization_options.as_ref() {
            Some(options) => Settings::default().updated(options).unwrap_or_else(|err| {
                tracing::warn!("{err}; using defaults");
                Settings::default()
            }),
            None => Settings::default(),
        };
        let mut workspace: Vec<PathBuf> = params
            .workspace_folders
            .unwrap_or_default()
            .iter()
            .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
        #[allow(deprecated)]
        if let Some(root) = params.root_uri.as_ref().and_then(|u| u.to_file_path()) {
            workspace.push(root.into_owned());
        }
        let session = Arc::new(Session::new(settings, workspace));
        let _ = self.session.set(session);
        Ok(InitializeResult {
            capabilities: ServerCapabilities {
                position_encoding: Some(convert::encoding_kind(encoding)),
                text_document_sync: Some(TextDocumentSyncCapability::Options(
                    TextDocumentSyncOptions {
                        open_close: Some(true),
                        change: Some(TextDocumentSyncKind::INCREMENTAL),
                        save: Some(TextDocumentSyncSaveOptions::SaveOptions(SaveOptions {
                            include_text: Some(false),
                        })),
                        // The reason of each save: auto-saves do not patch by default.
                        will_save: Some(true),
                        ..TextDocumentSyncOptions::default()
                    },
                )),
                code_action_provider: Some(CodeActionProviderCapability::Options(
                    CodeActionOptions {
                        code_action_kinds: Some(vec![
                            CodeActionKind::QUICKFIX,
                            CodeActionKind::REFACTOR_REWRITE,
                        ]),
                        ..CodeActionOptions::default()
                    },
                )),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: ext::COMMANDS.iter().map(|c| c.to_string()).collect(),
                    ..ExecuteCommandOptions::default()
                }),
                ..ServerCapabilities::default()
            },
            server_info: Some(ServerInfo {
                name: "splice-lsp".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            offset_encoding: None,
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if let Ok(session) = self.session() {
            let session = session.clone();
            self.follow_events(&session);
            self.watch(&session);
            session.pool.refresh();
        }
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let doc = params.text_document;
        if let Ok(session) = self.session() {
            session.open(&key(&doc.uri), doc.text, doc.version);
        }
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let Ok(session) = self.session() else { return };
        let encoding = self.encoding();
        let uri = params.text_document.uri;
        // Applied under the document's lock before any await: edits never reorder.
        let notes_changed = session.edit(&key(&uri), params.text_document.version, |doc| {
            let mut ranges = Vec::new();
            for change in &params.content_changes {
                match change.range {
                    None => {
                        let old_len = doc.rope.len_chars();
                        doc.replace_all(&change.text);
                        ranges.push((0, old_len, doc.rope.len_chars()));
                    }
                    Some(range) => {
                        let start = convert::char_of(&doc.rope, range.start, encoding);
                        let end = convert::char_of(&doc.rope, range.end, encoding).max(start);
                        let inserted = change.text.chars().count();
                        doc.apply(Change {
                            start,
                            end,
                            text: &change.text,
                        });
                        ranges.push((start, end, start + inserted));
                    }
                }
            }
            ranges
        });
        if notes_changed == Some(true) {
            self.publish(&uri).await;
        }
    }

    async fn will_save(&self, params: WillSaveTextDocumentParams) {
        let Ok(session) = self.session() else { return };
        let automatic = matches!(
            params.reason,
            TextDocumentSaveReason::AFTER_DELAY | TextDocumentSaveReason::FOCUS_OUT
        );
        session.will_save(&key(&params.text_document.uri), automatic);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        let Ok(session) = self.session() else { return };
        let uri = params.text_document.uri;
        let settings = session.settings();
        let automatic = session.take_automatic_save(&key(&uri));
        if settings.patch_on_save && (!automatic || settings.patch_on_auto_save) {
            if let Err(err) = self.patch(&uri, Selection::Changed, Trigger::Save).await {
                tracing::warn!("patch on save of {}: {}", uri.as_str(), err.message);
            }
        } else if let Ok(path) = path_of(&uri) {
            session.keep_baselines(&key(&uri), &path);
        }
        session.saved(&key(&uri));
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        if let Ok(session) = self.session() {
            session.close(&key(&uri));
        }
        self.client.publish_diagnostics(uri, Vec::new(), None).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let Ok(session) = self.session() else { return };
        match session.settings().updated(&params.settings) {
            Ok(settings) => {
                let old_dir = session.pool.dir();
                session.set_settings(settings);
                if session.pool.dir() != old_dir {
                    let session = session.clone();
                    self.watch(&session);
                }
            }
            Err(err) => {
                self.client
                    .show_message(MessageType::WARNING, format!("{err}; settings unchanged"))
                    .await
            }
        }
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let session = self.session()?;
        let at = self.char_at(&uri, params.range.start)?;
        let arguments = vec![serde_json::to_value(PositionArgs {
            uri: uri.clone(),
            position: params.range.start,
        })
        .map_err(|e| Error::invalid_params(e.to_string()))?];
        let mut actions = Vec::new();
        if let Some(note) = session.note_at(&key(&uri), at, Reason::StatementNotRun) {
            let title = "Run this statement in the program".to_owned();
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: title.clone(),
                kind: Some(CodeActionKind::QUICKFIX),
                diagnostics: Some(vec![convert::diagnostic(
                    &session.notes(&key(&uri)).0,
                    &note,
                    self.encoding(),
                )]),
                command: Some(Command {
                    title,
                    command: ext::RUN_STATEMENT.into(),
                    arguments: Some(arguments.clone()),
                }),
                ..CodeAction::default()
            }));
        }
        if let Some(def) = session.innermost(&key(&uri), at) {
            let title = format!("Patch function '{}'", def.qualname);
            actions.push(CodeActionOrCommand::CodeAction(CodeAction {
                title: title.clone(),
                // Where every editor's default code-action menu looks (VS Code's Ctrl+.).
                kind: Some(CodeActionKind::REFACTOR_REWRITE),
                command: Some(Command {
                    title,
                    command: ext::PATCH_FUNCTION.into(),
                    arguments: Some(arguments),
                }),
                ..CodeAction::default()
            }));
        }
        Ok((!actions.is_empty()).then_some(actions))
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri;
        let session = self.session()?.clone();
        let Some((rope, lenses)) = session.lenses(&key(&uri), &path_of(&uri)?).await else {
            return Ok(None);
        };
        let encoding = self.encoding();
        Ok(Some(
            lenses
                .iter()
                .map(|lens| convert::code_lens(&rope, lens, &uri, encoding))
                .collect(),
        ))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        let value = match params.command.as_str() {
            ext::PATCH_FUNCTION => {
                let PositionArgs { uri, position } = args(params.arguments)?;
                let at = self.char_at(&uri, position)?;
                self.patch(&uri, Selection::At(at), Trigger::PatchFunction)
                    .await?
            }
            ext::RUN_STATEMENT => {
                let PositionArgs { uri, position } = args(params.arguments)?;
                let at = self.char_at(&uri, position)?;
                self.patch(&uri, Selection::Statement(at), Trigger::RunStatement)
                    .await?
            }
            ext::PATCH_FILE => {
                let UriArgs { uri } = args(params.arguments)?;
                self.patch(&uri, Selection::All, Trigger::PatchFile).await?
            }
            ext::REVERT_FUNCTION => {
                let PositionArgs { uri, position } = args(params.arguments)?;
                let at = self.char_at(&uri, position)?;
                let session = self.session()?.clone();
                let (report, rope) = session
                    .revert(&key(&uri), &path_of(&uri)?, at)
                    .await
                    .map_err(Error::invalid_params)?;
                self.report(&uri, report, rope).await?
            }
            ext::LIST_AGENTS => {
                let records = self.session()?.agent_records();
                let roots = crate::processes::roots(&records);
                let trees = crate::processes::describe_trees(&records);
                let listing: Vec<AgentListing> = records
                    .into_iter()
                    .map(|r| {
                        let root_pid = roots.get(&r.info.pid).copied().unwrap_or(r.info.pid);
                        AgentListing {
                            pid: r.info.pid,
                            program: crate::processes::program_name(&r.info.argv),
                            parent_pid: r.info.parent_pid,
                            root_pid,
                            tree: trees.get(&root_pid).cloned().unwrap_or_default(),
                            argv: r.info.argv,
                            cwd: r.info.cwd,
                            python_version: r.info.python_version,
                            address: r.info.address,
                            started_at: r.info.started_at,
                        }
                    })
                    .collect();
                serde_json::to_value(listing).map_err(|e| Error::invalid_params(e.to_string()))?
            }
            other => {
                return Err(Error::invalid_params(format!(
                    "unknown command {other}; splice-lsp offers {}",
                    ext::COMMANDS.join(", ")
                )))
            }
        };
        Ok(Some(value))
    }
}
