//! Watch mode (`python -m splice --watch`): a native thread blocked on inotify applies each save
//! of a Python file under the watched folders to this process. What a save changed is decided
//! by `splice_source`, as splice-lsp decides it, and the request goes to the engine as one from
//! an editor would; one line on stderr says what became of it.

use std::collections::HashMap;
use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use splice_protocol::{FileResult, Reason, StatementPolicy, Status};
use splice_source::changes::{self, PartDiff, SentDefinition, TakenPart};
use splice_source::document::Document;

use crate::server::{call_engine, spawn_quiet, Agent};

/// This process's inotify descriptor, -1 when it does not watch: a forked child closes the copy
/// it inherited, whose events are its parent's.
static WATCH_FD: AtomicI32 = AtomicI32::new(-1);

/// Whether the watcher is handling saves: set from reading the files to the last line said.
static BUSY: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// Waits until the watcher has said what became of the saves it is handling (at most
/// `timeout`): whoever learned of a patch from the engine then also has its line on stderr.
pub fn settle(timeout: Duration) {
    let end = Instant::now() + timeout;
    let mut busy = BUSY.0.lock().unwrap_or_else(|e| e.into_inner());
    while *busy {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        busy = BUSY
            .1
            .wait_timeout(busy, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

fn set_busy(now: bool) {
    *BUSY.0.lock().unwrap_or_else(|e| e.into_inner()) = now;
    BUSY.1.notify_all();
}

/// Files over this are not read: no module of a program's own is that large.
const MAX_FILE: u64 = 16 << 20;

const DIR_EVENTS: u32 = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_CREATE;

/// What this process runs of a file, as far as the watcher knows.
enum Baseline {
    /// The text read when watching began (or when the file was saved while no module of the
    /// program had loaded it): what an import of it runs.
    Text(String),
    /// The parts the program took at the last save, and that save's text, parsed: the next
    /// save parses only the chunks it changed.
    Taken(Vec<TakenPart>, Document),
}

struct Watcher {
    fd: i32,
    agent: Arc<Agent>,
    /// Watched folders by watch descriptor.
    dirs: HashMap<i32, PathBuf>,
    files: HashMap<PathBuf, Baseline>,
    /// Paths are shown relative to it.
    cwd: PathBuf,
    /// Starts each line: which process speaks, when it is not the one the user started.
    label: String,
}

/// Starts watching `roots` (and the folders under them) for this process's agent.
pub fn start(agent: Arc<Agent>, roots: Vec<PathBuf>, label: String) -> io::Result<()> {
    if WATCH_FD.load(Ordering::Acquire) >= 0 {
        return Ok(());
    }
    // SAFETY: inotify_init1 takes flags only.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    WATCH_FD.store(fd, Ordering::Release);
    let mut watcher = Watcher {
        fd,
        agent,
        dirs: HashMap::new(),
        files: HashMap::new(),
        cwd: std::env::current_dir().unwrap_or_default(),
        label,
    };
    for root in roots {
        watcher.add_tree(&root);
    }
    spawn_quiet("splice-watch", move || watcher.run());
    Ok(())
}

/// In a forked child: closes the inherited descriptor (its watcher thread did not survive).
pub fn forget_after_fork() {
    let fd = WATCH_FD.swap(-1, Ordering::AcqRel);
    if fd >= 0 {
        // SAFETY: the descriptor is this process's copy of the parent's; nothing else uses it.
        unsafe { libc::close(fd) };
    }
}

/// Folders that hold no source of the program's own: hidden ones, caches, environments.
fn skipped(dir: &Path) -> bool {
    let name = dir.file_name().map(OsStr::as_bytes).unwrap_or_default();
    name.starts_with(b".")
        || matches!(name, b"__pycache__" | b"node_modules" | b"site-packages")
        || dir.join("pyvenv.cfg").exists()
}

fn is_python(path: &Path) -> bool {
    path.extension() == Some(OsStr::new("py"))
}

impl Watcher {
    /// Watches `dir` and the folders under it, and reads the Python files there as they are.
    fn add_tree(&mut self, dir: &Path) {
        let mut pending = vec![dir.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let Ok(path) = CString::new(dir.as_os_str().as_bytes()) else {
                continue;
            };
            // SAFETY: a valid descriptor and a NUL-terminated path.
            let wd = unsafe { libc::inotify_add_watch(self.fd, path.as_ptr(), DIR_EVENTS) };
            if wd < 0 {
                continue;
            }
            self.dirs.insert(wd, dir.clone());
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(kind) = entry.file_type() else {
                    continue;
                };
                if kind.is_dir() && !skipped(&path) {
                    pending.push(path);
                } else if kind.is_file() && is_python(&path) {
                    if let Some(text) = read_text(&path) {
                        self.files.insert(path, Baseline::Text(text));
                    }
                }
            }
        }
    }

    fn run(mut self) {
        let mut buffer = vec![0u8; 64 << 10];
        loop {
            // SAFETY: the buffer is valid for its length.
            let read = unsafe { libc::read(self.fd, buffer.as_mut_ptr().cast(), buffer.len()) };
            if read < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            }
            if self.agent.stopping.load(Ordering::Acquire)
                || WATCH_FD.load(Ordering::Acquire) != self.fd
            {
                return;
            }
            let mut saved: Vec<PathBuf> = Vec::new();
            for (wd, mask, name) in events(&buffer[..read as usize]) {
                let Some(dir) = self.dirs.get(&wd) else {
                    continue;
                };
                let path = dir.join(OsStr::from_bytes(name));
                if mask & libc::IN_IGNORED != 0 {
                    self.dirs.remove(&wd);
                } else if mask & libc::IN_ISDIR != 0 {
                    if mask & libc::IN_CREATE != 0 && !skipped(&path) {
                        self.add_tree(&path);
                    }
                } else if mask & (libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO) != 0
                    && is_python(&path)
                    && !saved.contains(&path)
                {
                    saved.push(path);
                }
            }
            set_busy(!saved.is_empty());
            for path in saved {
                self.apply(&path);
            }
            set_busy(false);
        }
    }

    /// Brings the program up to date with the file's text, as a save through splice-lsp would.
    fn apply(&mut self, path: &Path) {
        let shown = path
            .strip_prefix(&self.cwd)
            .unwrap_or(path)
            .display()
            .to_string();
        let Some(text) = read_text(path) else {
            return;
        };
        let (taken, mut doc) = match self.files.remove(path) {
            Some(Baseline::Text(old)) if old == text => {
                self.files.insert(path.to_path_buf(), Baseline::Text(old));
                return;
            }
            Some(Baseline::Text(old)) => {
                let mut doc = Document::new(&old, 0);
                (
                    changes::taken_from(&doc.rope.clone(), &doc.definitions()),
                    doc,
                )
            }
            Some(Baseline::Taken(taken, doc)) => (taken, doc),
            None => (Vec::new(), Document::new("", 0)),
        };
        doc.set_text(&text);
        let (defs, has_error) = (doc.definitions(), doc.has_error());
        let rope = doc.rope.clone();
        let diffs = changes::diff(&taken, &defs);
        let chosen: Vec<usize> = (0..diffs.len())
            .filter(|&i| changes::sends(&diffs[i], has_error, true))
            .collect();
        let nested = changes::nested_in(&defs, chosen.iter().map(|&i| &diffs[i]));
        let selected: Vec<&PartDiff<'_>> =
            chosen.iter().map(|&i| &diffs[i]).chain(&nested).collect();
        let file = path.to_string_lossy();
        let (mut params, sent) =
            changes::request(&file, &text, &rope, &selected, StatementPolicy::Run);
        params.complete =
            (0..diffs.len()).all(|i| diffs[i].change.is_none() || chosen.contains(&i));
        let source = params.source.take();
        let result = serde_json::to_string(&params)
            .map_err(|err| err.to_string())
            .and_then(|params| call_engine::<FileResult>(&self.agent, "patch", params, source));
        let result = match result {
            Ok(result) => result,
            Err(err) => {
                self.say(&format!("{shown}: not patched: {err}"));
                self.files
                    .insert(path.to_path_buf(), Baseline::Taken(taken, doc));
                return;
            }
        };
        if result.modules.is_empty() {
            // Not the program's (yet): an import of it runs this text.
            self.files.insert(path.to_path_buf(), Baseline::Text(text));
            return;
        }
        let answered: Vec<Status> = result.definitions.iter().map(|d| d.status).collect();
        let answers = changes::statuses(diffs.len(), &chosen, &answered);
        let now = changes::taken_after(&rope, &defs, &diffs, &answers);
        self.files
            .insert(path.to_path_buf(), Baseline::Taken(now, doc));
        self.say(&summary(&shown, &rope, &sent, &result));
    }

    fn say(&self, line: &str) {
        say(&format!("{}{line}", self.label));
    }
}

fn read_text(path: &Path) -> Option<String> {
    let size = std::fs::metadata(path).ok()?.len();
    if size > MAX_FILE {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(_) => {
            say(&format!("{}: not UTF-8; not watched", path.display()));
            None
        }
    }
}

/// The events in a buffer read from an inotify descriptor: watch, mask, name.
fn events(mut buffer: &[u8]) -> Vec<(i32, u32, &[u8])> {
    const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
    let mut found = Vec::new();
    while buffer.len() >= HEADER {
        // SAFETY: the kernel writes whole events; read_unaligned copes with any alignment.
        let event: libc::inotify_event =
            unsafe { std::ptr::read_unaligned(buffer.as_ptr().cast()) };
        let end = (HEADER + event.len as usize).min(buffer.len());
        let name = &buffer[HEADER..end];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        found.push((event.wd, event.mask, name));
        buffer = &buffer[end..];
    }
    found
}

/// One line for a save: each part sent, at its line, with what became of it.
fn summary(
    shown: &str,
    rope: &ropey::Rope,
    sent: &[SentDefinition],
    result: &FileResult,
) -> String {
    let mut parts = Vec::new();
    for (sent, answer) in sent.iter().zip(&result.definitions) {
        if answer.status == Status::Unchanged {
            continue;
        }
        let line = answer.span.map_or_else(
            || rope.char_to_line(sent.start.min(rope.len_chars())) + 1,
            |span| span.line as usize,
        );
        let name = if sent.key.starts_with("statement:") || sent.qualname.is_empty() {
            let first = rope.line(line.saturating_sub(1).min(rope.len_lines() - 1));
            let first = first.to_string();
            let first = first.trim();
            let first: String = first.chars().take(40).collect();
            format!("`{first}`")
        } else {
            sent.qualname.clone()
        };
        let what = match (answer.status, answer.reason) {
            (_, Reason::StatementRan | Reason::ImportRan | Reason::AttributeSet) => "ran",
            (_, Reason::Deleted) => "removed",
            (Status::Added, _) => "added",
            (Status::Patched, _) => "patched",
            (Status::Refused, _) => "refused",
            (Status::Error, _) => "failed",
            (Status::NotLoaded, _) => "not loaded",
            (Status::Reverted, _) => "reverted",
            (Status::Unchanged, _) => "unchanged",
        };
        let why = if answer.status.taken() || answer.message.is_empty() {
            String::new()
        } else {
            format!(": {}", answer.message)
        };
        parts.push(format!("{shown}:{line} {name} {what}{why}"));
    }
    if parts.is_empty() && !result.definitions.is_empty() {
        return format!("{shown}: the program already runs this text");
    }
    if parts.is_empty() {
        return format!("{shown}: no code changed");
    }
    parts.join("; ")
}

/// One write of the whole line: other output of the program cannot cut into it.
fn say(line: &str) {
    use std::io::Write;
    let _ = io::stderr()
        .lock()
        .write_all(format!("splice: {line}\n").as_bytes());
}
