//! The server's state and every operation on it, as plain functions of plain values: open
//! buffers, what runs in which agent, the notes each document shows. The LSP layer only
//! converts to and from these.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ropey::Rope;
use splice_protocol::discovery::AgentRecord;
use splice_protocol::{Call, LoadedParams, Reason, RevertParams, StatementPolicy, Status};

use crate::agents::{AgentLink, AgentPool};
use crate::answers;
use crate::changes::{self, SentDefinition};
use crate::diagnostics::{Note, Notes};
use crate::document::Document;
use crate::lenses::{self, Lens};
use crate::patching::{AgentOutcome, Baselines, PatchReport, Trigger};
use crate::python_index::{DefKind, PyDefinition};
use crate::settings::{AgentScope, ModuleStatements, Settings};

/// Which definitions of a document an attempt sends.
#[derive(Debug, Clone, Copy)]
pub enum Selection {
    /// Those changed since each agent last took them (on save).
    Changed,
    /// All of them; agents answer `unchanged` for what they already run.
    All,
    /// The function around this char index (the part holding the innermost one).
    At(usize),
    /// The module statement around this char index, run whatever `moduleStatements` says.
    Statement(usize),
}

pub struct Session {
    docs: Mutex<HashMap<String, Document>>,
    /// Each document's text as last saved (or opened): what a program that loaded the file
    /// without Splice runs, the baseline of an agent's first attempt. Ropes share their text
    /// with the open document's.
    saved: Mutex<HashMap<String, Rope>>,
    notes: Mutex<HashMap<String, Notes>>,
    baselines: Mutex<Baselines>,
    /// (pid, started at, path) of programs that answered that they have not loaded the file.
    not_loaded: Mutex<HashSet<(u32, u64, String)>>,
    /// When each part was last patched in by this server, by (path, qualified name): a local
    /// time for people.
    patched_at: Mutex<HashMap<(String, String), String>>,
    /// Documents whose next save the editor announced as its own (after a delay, on focus out).
    automatic_saves: Mutex<HashSet<String>>,
    settings: Mutex<Settings>,
    workspace: Mutex<Vec<PathBuf>>,
    pub pool: AgentPool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Session {
    pub fn new(settings: Settings, workspace: Vec<PathBuf>) -> Session {
        let pool = AgentPool::new(settings.runtime_dir(), settings.request_timeout());
        Session {
            docs: Mutex::new(HashMap::new()),
            saved: Mutex::new(HashMap::new()),
            notes: Mutex::new(HashMap::new()),
            baselines: Mutex::new(Baselines::default()),
            not_loaded: Mutex::new(HashSet::new()),
            patched_at: Mutex::new(HashMap::new()),
            automatic_saves: Mutex::new(HashSet::new()),
            settings: Mutex::new(settings),
            workspace: Mutex::new(workspace),
            pool,
        }
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        self.pool
            .configure(settings.runtime_dir(), settings.request_timeout());
        *lock(&self.settings) = settings;
    }

    /// Takes the text: once in the rope, the message's copy of a large one is dropped and the
    /// memory its decoding went through given back.
    pub fn open(&self, key: &str, text: String, version: i32) {
        let doc = Document::new(&text, version);
        lock(&self.saved).insert(key.to_owned(), doc.rope.clone());
        lock(&self.docs).insert(key.to_owned(), doc);
        if text.len() > LARGE_TEXT {
            drop(text);
            give_back_memory();
        }
    }

    /// The document was saved: its text is what programs loading it from now on run.
    pub fn saved(&self, key: &str) {
        if let Some(rope) = self.with_document(key, |d| d.rope.clone()) {
            lock(&self.saved).insert(key.to_owned(), rope);
        }
    }

    /// A save that patches nothing (an automatic one): programs running now keep what they
    /// took, so those without a baseline of the file get one from the text saved before, not
    /// from this save's. Call before `saved`.
    pub fn keep_baselines(&self, key: &str, path: &str) {
        let Some((rope, defs)) = self.snapshot(key) else {
            return;
        };
        let mut parts = None;
        for link in self.agents() {
            let (pid, started) = (link.pid(), link.record.info.started_at);
            if lock(&self.baselines).get(pid, started, path).is_none() {
                let parts = parts.get_or_insert_with(|| self.saved_parts(key, &rope, &defs));
                lock(&self.baselines).set(pid, started, path, parts.clone());
            }
        }
    }

    /// The parts of the text last saved, for an agent that has taken nothing of it yet:
    /// `current`'s own when the text is the same, else parsed once for this agent.
    fn saved_parts(
        &self,
        key: &str,
        rope: &Rope,
        defs: &Arc<Vec<PyDefinition>>,
    ) -> Vec<changes::TakenPart> {
        let saved = lock(&self.saved).get(key).cloned();
        match saved {
            Some(saved) if saved != *rope => {
                let mut doc = Document::new(&saved.to_string(), 0);
                changes::taken_from(&saved, &doc.definitions())
            }
            _ => changes::taken_from(rope, defs),
        }
    }

    pub fn close(&self, key: &str) {
        let closed = lock(&self.docs).remove(key);
        lock(&self.saved).remove(key);
        lock(&self.notes).remove(key);
        drop(closed);
        give_back_memory();
    }

    /// Runs `edit` on the document under its lock (edits apply strictly in order) and keeps the
    /// notes in step with the char ranges it reports as `(start, old_end, new_end)`. Returns
    /// whether the notes changed, or `None` for a document that is not open.
    pub fn edit(
        &self,
        key: &str,
        version: i32,
        edit: impl FnOnce(&mut Document) -> Vec<(usize, usize, usize)>,
    ) -> Option<bool> {
        let mut docs = lock(&self.docs);
        let doc = docs.get_mut(key)?;
        let ranges = edit(doc);
        doc.version = version;
        let mut notes = lock(&self.notes);
        let notes = notes.entry(key.to_owned()).or_default();
        let mut changed = false;
        for (start, old_end, new_end) in ranges {
            changed |= notes.edited(start, old_end, new_end);
        }
        Some(changed)
    }

    pub fn with_document<R>(&self, key: &str, f: impl FnOnce(&Document) -> R) -> Option<R> {
        lock(&self.docs).get(key).map(f)
    }

    /// The document's notes with its current text, to convert together.
    pub fn notes(&self, key: &str) -> (Rope, Vec<crate::diagnostics::Note>) {
        let rope = self
            .with_document(key, |d| d.rope.clone())
            .unwrap_or_default();
        let notes = lock(&self.notes)
            .get(key)
            .map(|n| n.shown())
            .unwrap_or_default();
        (rope, notes)
    }

    /// The document's text, rope and definitions, as of now; parses if an edit requires it.
    pub fn snapshot(&self, key: &str) -> Option<(Rope, Arc<Vec<PyDefinition>>)> {
        let mut docs = lock(&self.docs);
        let doc = docs.get_mut(key)?;
        Some((doc.rope.clone(), doc.definitions()))
    }

    /// The note at this char index given for this reason, if any.
    pub fn note_at(&self, key: &str, at: usize, reason: Reason) -> Option<Note> {
        lock(&self.notes)
            .get(key)?
            .all()
            .iter()
            .find(|n| n.reason == Some(reason) && n.start <= at && at <= n.end.max(n.start))
            .cloned()
    }

    pub fn innermost(&self, key: &str, at: usize) -> Option<PyDefinition> {
        let (_, defs) = self.snapshot(key)?;
        changes::innermost_at(&defs, at).map(|(_, d)| d.clone())
    }

    /// Live agents this session patches, by the `agents` setting.
    pub fn agents(&self) -> Vec<Arc<AgentLink>> {
        let settings = self.settings();
        let workspace = lock(&self.workspace).clone();
        let links = self.pool.refresh();
        let alive: Vec<(u32, f64)> = links
            .iter()
            .map(|l| (l.pid(), l.record.info.started_at))
            .collect();
        lock(&self.baselines).retain_agents(&alive);
        links
            .into_iter()
            .filter(|link| match settings.agents {
                AgentScope::All => true,
                AgentScope::Pids => settings.pids.contains(&link.pid()),
                AgentScope::Workspace => {
                    let cwd = Path::new(&link.record.info.cwd);
                    workspace.iter().any(|root| cwd.starts_with(root))
                }
            })
            .collect()
    }

    pub fn agent_records(&self) -> Vec<AgentRecord> {
        self.agents().iter().map(|l| l.record.clone()).collect()
    }

    /// Sends the parts of an open document that differ from what each agent runs (or the
    /// selected one), records what runs where and what the document shows, and reports. The
    /// document's text is taken before any wait, so later edits do not mix into this attempt.
    /// When some agents are slow, the notes of those that answered are recorded first, and
    /// `notes_changed` called.
    pub async fn patch(
        &self,
        key: &str,
        path: &str,
        selection: Selection,
        trigger: Trigger,
        notes_changed: impl Fn(),
    ) -> Result<(PatchReport, Rope), String> {
        let (rope, defs, has_error) = {
            let mut docs = lock(&self.docs);
            let doc = docs
                .get_mut(key)
                .ok_or_else(|| format!("{path} is not open"))?;
            (doc.rope.clone(), doc.definitions(), doc.has_error())
        };
        let text = rope.to_string();
        let picked = match selection {
            Selection::At(at) => Some(
                changes::part_at(&defs, at, DefKind::Function)
                    .ok_or("no function at the cursor")?,
            ),
            Selection::Statement(at) => Some(
                changes::part_at(&defs, at, DefKind::Statement)
                    .ok_or("no statement at the cursor")?,
            ),
            Selection::Changed | Selection::All => None,
        };
        let settings = self.settings();
        let policy = match (selection, settings.module_statements) {
            (Selection::Statement(_), _) | (_, ModuleStatements::Run) => StatementPolicy::Run,
            _ => StatementPolicy::Skip,
        };
        let links = self.agents();
        let found = links.len();
        let taken: Vec<Vec<changes::TakenPart>> = links
            .iter()
            .map(|link| {
                let known = lock(&self.baselines)
                    .get(link.pid(), link.record.info.started_at, path)
                    .cloned();
                known.unwrap_or_else(|| self.saved_parts(key, &rope, &defs))
            })
            .collect();
        let mut tasks = Vec::new();
        let mut after = Vec::new();
        let mut in_step = Vec::new();
        let mut known_diffs: Vec<(&[changes::TakenPart], Vec<changes::PartDiff<'_>>)> = Vec::new();
        for (k, (link, taken)) in links.iter().zip(&taken).enumerate() {
            let (pid, started) = (link.pid(), link.record.info.started_at);
            // Programs running the same file usually took the same parts: diff those once.
            let diffs = match known_diffs
                .iter()
                .find(|(other, _)| changes::TakenPart::same_parts(other, taken))
            {
                Some((_, diffs)) => diffs.clone(),
                None => {
                    let diffs = changes::diff(taken, &defs);
                    known_diffs.push((taken, diffs.clone()));
                    diffs
                }
            };
            let module_statements = settings.module_statements != ModuleStatements::Off;
            let chosen: Vec<usize> = (0..diffs.len())
                .filter(|&i| {
                    let diff = &diffs[i];
                    match picked {
                        Some(part) => diff.new.is_some_and(|d| std::ptr::eq(d, part)),
                        None => changes::sends(diff, has_error, module_statements),
                    }
                })
                .collect();
            if chosen.is_empty() {
                let whole_file_in_step =
                    picked.is_none() && diffs.iter().all(|d| d.change.is_none());
                if whole_file_in_step {
                    in_step.push(pid);
                }
                // A program known to have the file still hears of the save, with no part: a
                // framework reloader in it then knows that the text on disk is what it runs
                // (a comment edited does not restart it).
                let place = (pid, started.to_bits(), path.to_owned());
                let known_to_have_it = lock(&self.baselines).get(pid, started, path).is_some()
                    && !lock(&self.not_loaded).contains(&place);
                if !(whole_file_in_step && known_to_have_it && link.unavailable().is_none()) {
                    continue;
                }
            }
            // Functions nested in a changed one answer for their live closures.
            let nested = changes::nested_in(&defs, chosen.iter().map(|&i| &diffs[i]));
            let selected: Vec<&changes::PartDiff<'_>> =
                chosen.iter().map(|&i| &diffs[i]).chain(&nested).collect();
            let (mut params, sent) = changes::request(path, &text, &rope, &selected, policy);
            params.complete = picked.is_none() && changes::is_complete(&diffs, &chosen);
            let link2 = link.clone();
            let place = (pid, started.to_bits(), path.to_owned());
            let said_not_loaded = lock(&self.not_loaded).contains(&place);
            let task = match link.unavailable() {
                // A program known not to have the file loses nothing by not hearing of it.
                Some(_) if said_not_loaded => continue,
                // Its baseline stays: the next save it takes sends everything since.
                Some(why) => tokio::spawn(async move { Err(why) }),
                // One that said it has not loaded the file is asked again before the text goes.
                None if said_not_loaded => {
                    let qualnames: Vec<String> = sent.iter().map(|s| s.qualname.clone()).collect();
                    tokio::spawn(async move {
                        answers::patch_if_loaded(&link2, params, qualnames).await
                    })
                }
                None => tokio::spawn(async move { link2.call(Call::Patch(params)).await }),
            };
            tasks.push((link.clone(), sent, task));
            after.push((pid, started, k, diffs, chosen));
        }
        let complete = picked.is_none();
        let agents = answers::collect(tasks, |answered, missing| {
            let report = self.report(trigger, path, answered, found, complete);
            self.finish(key, report, &rope);
            lock(&self.notes)
                .entry(key.to_owned())
                .or_default()
                .waiting_for(&missing);
            notes_changed();
        })
        .await;
        let mut known_after: Vec<(usize, Vec<Option<Status>>, Vec<changes::TakenPart>)> =
            Vec::new();
        for ((pid, started, k, diffs, chosen), outcome) in after.into_iter().zip(&agents) {
            let Ok(result) = &outcome.result else {
                continue;
            };
            let place = (pid, started.to_bits(), path.to_owned());
            if result.modules.is_empty() {
                lock(&self.not_loaded).insert(place);
                continue;
            }
            lock(&self.not_loaded).remove(&place);
            for answer in &result.definitions {
                if matches!(answer.status, Status::Patched | Status::Added) {
                    let part = (path.to_owned(), answer.qualname.clone());
                    lock(&self.patched_at).insert(part, local_time_now());
                }
            }
            let answered: Vec<Status> = result.definitions.iter().map(|d| d.status).collect();
            let answers = changes::statuses(diffs.len(), &chosen, &answered);
            let same = known_after.iter().find(|(other, other_answers, _)| {
                *other_answers == answers
                    && changes::TakenPart::same_parts(&taken[*other], &taken[k])
            });
            let now = match same {
                Some((_, _, now)) => now.clone(),
                None => {
                    let now = changes::taken_after(&rope, &defs, &diffs, &answers);
                    known_after.push((k, answers, now.clone()));
                    now
                }
            };
            lock(&self.baselines).set(pid, started, path, now);
        }
        let mut report = self.report(trigger, path, agents, found, complete);
        report.in_step = in_step;
        Ok((self.finish(key, report, &rope), rope))
    }

    /// Whether each definition of an open document runs in the programs (see `lenses`). A
    /// program not yet known to have the file or not is asked first. With the text they are
    /// about.
    pub async fn lenses(&self, key: &str, path: &str) -> Option<(Rope, Vec<Lens>)> {
        if !self.settings().code_lens {
            return None;
        }
        let (rope, defs) = self.snapshot(key)?;
        let links = self.agents();
        let place = |link: &AgentLink| {
            (
                link.pid(),
                link.record.info.started_at.to_bits(),
                path.to_owned(),
            )
        };
        let unknown: Vec<Arc<AgentLink>> = links
            .iter()
            .filter(|link| {
                let started = link.record.info.started_at;
                lock(&self.baselines)
                    .get(link.pid(), started, path)
                    .is_none()
                    && !lock(&self.not_loaded).contains(&place(link))
                    && link.unavailable().is_none()
            })
            .cloned()
            .collect();
        let asked = unknown.iter().map(|link| {
            let (link, path) = (link.clone(), path.to_owned());
            tokio::spawn(async move { link.call(Call::Loaded(LoadedParams { path })).await })
        });
        let asked: Vec<_> = asked.collect();
        for (link, answer) in unknown.iter().zip(asked) {
            let Ok(Ok(answer)) = answer.await else {
                continue;
            };
            if answer["modules"].as_array().is_some_and(|m| !m.is_empty()) {
                let parts = self.saved_parts(key, &rope, &defs);
                let started = link.record.info.started_at;
                lock(&self.baselines).set(link.pid(), started, path, parts);
            } else {
                lock(&self.not_loaded).insert(place(link));
            }
        }
        let programs: Vec<Vec<changes::TakenPart>> = links
            .iter()
            .filter(|link| !lock(&self.not_loaded).contains(&place(link)))
            .filter_map(|link| {
                let started = link.record.info.started_at;
                lock(&self.baselines)
                    .get(link.pid(), started, path)
                    .cloned()
            })
            .collect();
        let notes = lock(&self.notes)
            .get(key)
            .map(|n| n.all().to_vec())
            .unwrap_or_default();
        let patched_at = lock(&self.patched_at).clone();
        let found = lenses::lenses(&defs, &programs, &notes, |qualname| {
            patched_at
                .get(&(path.to_owned(), qualname.to_owned()))
                .cloned()
        });
        Some((rope, found))
    }

    /// Undoes the last patch of the function at `at` in every agent.
    pub async fn revert(
        &self,
        key: &str,
        path: &str,
        at: usize,
    ) -> Result<(PatchReport, Rope), String> {
        let (rope, defs) = self
            .snapshot(key)
            .ok_or_else(|| format!("{path} is not open"))?;
        let selected: Vec<_> = changes::innermost_at(&defs, at).into_iter().collect();
        let Some((_, def)) = selected.first() else {
            return Err("no function at the cursor".into());
        };
        let qualname = def.qualname.to_string();
        let sent: Vec<SentDefinition> = selected
            .iter()
            .map(|(key, def)| SentDefinition {
                key: key.clone(),
                qualname: def.qualname.to_string(),
                start: def.start,
                end: def.end,
                name_start: def.name_start,
                name_end: def.name_end,
            })
            .collect();
        let links = self.agents();
        let found = links.len();
        let mut tasks = Vec::new();
        for link in links {
            let call = Call::Revert(RevertParams {
                path: path.to_owned(),
                qualnames: vec![qualname.clone()],
            });
            let task = match link.unavailable() {
                Some(why) => tokio::spawn(async move { Err(why) }),
                None => {
                    let link = link.clone();
                    tokio::spawn(async move { link.call(call).await })
                }
            };
            tasks.push((link.clone(), sent.clone(), task));
        }
        let agents = answers::collect(tasks, |_, _| {}).await;
        // A reverted function runs text the server no longer has: the next save sends it
        // whole, and the agent compares code.
        for outcome in &agents {
            lock(&self.baselines).forget(outcome.pid, outcome.started_at, path, &qualname);
        }
        let report = self.report(Trigger::RevertFunction, path, agents, found, false);
        Ok((self.finish(key, report, &rope), rope))
    }

    /// Shows runtime events in the open documents they happened in. `document_of` maps a file
    /// path to the key of its open document; for an uncaught exception the innermost frame in
    /// an open document counts. Returns the keys of the documents whose notes changed.
    pub fn record_events(
        &self,
        batch: &crate::agents::AgentEvents,
        document_of: impl Fn(&str) -> Option<String>,
    ) -> Vec<String> {
        let mut touched = Vec::new();
        for event in &batch.events {
            let placed = event
                .frames
                .iter()
                .find_map(|frame| document_of(&frame.path).map(|key| (key, frame.line)));
            let Some((key, line)) = placed else { continue };
            let Some(rope) = self.with_document(&key, |d| d.rope.clone()) else {
                continue;
            };
            lock(&self.notes)
                .entry(key.clone())
                .or_default()
                .record_event(&rope, batch.pid, &batch.label, event, line);
            if !touched.contains(&key) {
                touched.push(key);
            }
        }
        touched
    }

    /// Drops the notes of programs no longer running (as of the pool's last look at the
    /// records); the keys of the documents that changed.
    pub fn forget_exited(&self) -> Vec<String> {
        let running: HashSet<u32> = self.pool.pids().into_iter().collect();
        let mut notes = lock(&self.notes);
        let mut changed = Vec::new();
        for (key, doc_notes) in notes.iter_mut() {
            let gone: HashSet<u32> = doc_notes
                .pids()
                .into_iter()
                .filter(|pid| !running.contains(pid))
                .collect();
            let mut dropped = false;
            for pid in gone {
                dropped |= doc_notes.forget_program(pid);
            }
            if dropped {
                changed.push(key.clone());
            }
        }
        changed
    }

    /// Notes the reason of the save about to happen: made by the editor by itself or not.
    pub fn will_save(&self, key: &str, automatic: bool) {
        let mut pending = lock(&self.automatic_saves);
        if automatic {
            pending.insert(key.to_owned());
        } else {
            pending.remove(key);
        }
    }

    /// Whether the save that just happened was one the editor made by itself.
    pub fn take_automatic_save(&self, key: &str) -> bool {
        lock(&self.automatic_saves).remove(key)
    }

    /// Whether a document with this key is open.
    pub fn is_open(&self, key: &str) -> bool {
        lock(&self.docs).contains_key(key)
    }

    fn report(
        &self,
        trigger: Trigger,
        path: &str,
        agents: Vec<AgentOutcome>,
        agents_found: usize,
        complete: bool,
    ) -> PatchReport {
        PatchReport {
            trigger,
            path: path.to_owned(),
            agents,
            agents_found,
            runtime_dir: self.pool.dir().display().to_string(),
            refused: self.pool.refused(),
            in_step: Vec::new(),
            complete,
        }
    }

    /// Records what the document shows after an attempt.
    fn finish(&self, key: &str, report: PatchReport, rope: &Rope) -> PatchReport {
        let hints = self.settings().success_hints;
        lock(&self.notes)
            .entry(key.to_owned())
            .or_default()
            .record(rope, &report, hints);
        report
    }
}

/// The local time of day, `12:01:33`.
fn local_time_now() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as libc::time_t)
        .unwrap_or(0);
    // SAFETY: localtime_r writes only the struct it is given.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

/// A text whose transient copies (the message it came in, its decoded form) are worth returning
/// to the system once it is opened.
const LARGE_TEXT: usize = 4 << 20;

/// Returns the memory freed by a closed document to the system: glibc keeps freed blocks of a
/// large one (tens of MB of definitions) in its arenas otherwise, for as long as the server runs.
fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
