//! Agents: found through the runtime folder's records (watched, never polled), one connection
//! thread each. Every call ends within the request timeout with a result or a clear error,
//! also when the agent exits mid-request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use splice_protocol::client::{Address, Client, ClientError};
use splice_protocol::discovery::{self, AgentRecord};
use splice_protocol::{Call, EventsParams, EventsResult, Response, RuntimeEvent};
use tokio::sync::{mpsc as async_mpsc, oneshot};

/// How long one `events` call waits in the agent for something to happen.
const EVENTS_WAIT: Duration = Duration::from_secs(60);

/// An agent that has not answered a request for this long gets no more until it does.
const STUCK_AFTER: Duration = Duration::from_secs(2);

/// Runtime events from one agent, for the session to turn into diagnostics.
#[derive(Debug, Clone)]
pub struct AgentEvents {
    pub pid: u32,
    pub label: String,
    pub events: Vec<RuntimeEvent>,
}

pub type EventSink = async_mpsc::UnboundedSender<AgentEvents>;

struct Job {
    call: Call,
    reply: oneshot::Sender<Result<Value, String>>,
}

/// One agent and the thread that talks to it.
pub struct AgentLink {
    pub record: AgentRecord,
    jobs: mpsc::Sender<Job>,
    timeout: Duration,
    closed: Arc<AtomicBool>,
    /// When the request in flight was sent, if one is.
    busy_since: Arc<Mutex<Option<Instant>>>,
}

impl Drop for AgentLink {
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
    }
}

impl AgentLink {
    fn spawn(
        record: AgentRecord,
        dir: PathBuf,
        timeout: Duration,
        sink: Option<EventSink>,
    ) -> Arc<AgentLink> {
        let (tx, rx) = mpsc::channel::<Job>();
        let closed = Arc::new(AtomicBool::new(false));
        let busy_since = Arc::new(Mutex::new(None));
        let (thread_record, thread_dir) = (record.clone(), dir.clone());
        let thread_busy = busy_since.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("agent-{}", record.info.pid))
            .spawn(move || serve_link(thread_record, &thread_dir, rx, timeout, thread_busy));
        if let Err(err) = spawned {
            tracing::error!("cannot start a thread for agent {}: {err}", record.info.pid);
        }
        let link = Arc::new(AgentLink {
            record,
            jobs: tx,
            timeout,
            closed: closed.clone(),
            busy_since,
        });
        if let Some(sink) = sink {
            let (record, label) = (link.record.clone(), link.label());
            let spawned = std::thread::Builder::new()
                .name(format!("agent-{}-events", record.info.pid))
                .spawn(move || {
                    follow_events(&record, &dir, label, closed, sink);
                    forget_if_exited(&record, &dir);
                });
            if let Err(err) = spawned {
                tracing::error!("cannot follow events of {}: {err}", link.label());
            }
        }
        link
    }

    pub fn pid(&self) -> u32 {
        self.record.info.pid
    }

    /// Why nothing should be sent to this agent now, if so: its process is stopped, or it has
    /// not answered the last request for a while. A request would only wait for the timeout.
    pub fn unavailable(&self) -> Option<String> {
        if discovery::process_stopped(self.pid()) {
            return Some(format!(
                "{} is stopped (Ctrl-Z or a debugger holds it): nothing was sent; the first save after it runs again brings it up to date",
                self.label()
            ));
        }
        let since = *self.busy_since.lock().unwrap_or_else(|e| e.into_inner());
        let waited = since.map(|t| t.elapsed()).filter(|w| *w >= STUCK_AFTER)?;
        Some(format!(
            "{} has not answered a request sent {:.0?} ago: nothing was sent; the first save after it answers brings it up to date",
            self.label(),
            waited
        ))
    }

    /// `pid 4242 (app.py)`.
    pub fn label(&self) -> String {
        crate::processes::label(&self.record)
    }

    /// Sends one call; `Err` carries a sentence saying what went wrong.
    pub async fn call(&self, call: Call) -> Result<Value, String> {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job { call, reply }).is_err() {
            return Err(format!("{}: connection thread ended", self.label()));
        }
        // The thread's socket timeouts end every call; this bound only guards against a bug.
        match tokio::time::timeout(self.timeout * 3, answer).await {
            Ok(Ok(result)) => result.map_err(|err| format!("{}: {err}", self.label())),
            Ok(Err(_)) => Err(format!("{}: connection thread ended", self.label())),
            Err(_) => Err(format!(
                "{}: no answer within {:?}",
                self.label(),
                self.timeout * 3
            )),
        }
    }
}

fn serve_link(
    record: AgentRecord,
    dir: &Path,
    jobs: mpsc::Receiver<Job>,
    timeout: Duration,
    busy_since: Arc<Mutex<Option<Instant>>>,
) {
    let busy =
        |since: Option<Instant>| *busy_since.lock().unwrap_or_else(|e| e.into_inner()) = since;
    let mut client: Option<Client> = None;
    for job in jobs {
        if client.is_none() {
            client = match connect(&record, dir, timeout) {
                Ok(c) => Some(c),
                Err(err) => {
                    let _ = job.reply.send(Err(err));
                    continue;
                }
            };
        }
        let Some(connection) = client.as_mut() else {
            continue;
        };
        busy(Some(Instant::now()));
        let sent = connection.call_raw(&job.call);
        busy(None);
        let answer = match sent {
            Ok(Response { outcome, .. }) => match outcome {
                splice_protocol::Outcome::Result(value) => Ok(value),
                splice_protocol::Outcome::Error(err) => Err(err.to_string()),
            },
            Err(err) => {
                client = None;
                Err(describe(err, timeout))
            }
        };
        let _ = job.reply.send(answer);
    }
}

/// Long-polls the agent's runtime events on a connection of its own, until the agent exits or
/// the link is dropped.
fn follow_events(
    record: &AgentRecord,
    dir: &Path,
    label: String,
    closed: Arc<AtomicBool>,
    sink: EventSink,
) {
    let Ok(mut client) = connect(record, dir, EVENTS_WAIT + Duration::from_secs(10)) else {
        return;
    };
    let mut after = 0;
    while !closed.load(Ordering::Acquire) && !sink.is_closed() {
        let call = Call::Events(EventsParams {
            after,
            timeout_ms: EVENTS_WAIT.as_millis() as u64,
        });
        let result: EventsResult = match client.call(&call) {
            Ok(result) => result,
            Err(_) => return,
        };
        after = result.last;
        if !result.events.is_empty() {
            let batch = AgentEvents {
                pid: record.info.pid,
                label: label.clone(),
                events: result.events,
            };
            if sink.send(batch).is_err() {
                return;
            }
        }
    }
}

/// A program that exited without removing its record (a worker ended with `os._exit`, a
/// crash): its record goes now, so that the folder's watchers (this server's included, which
/// then drops the program's notes) learn that it is gone.
fn forget_if_exited(record: &AgentRecord, dir: &Path) {
    let pid = record.info.pid;
    // The connection ends while the process exits: give it a moment to be gone.
    let end = Instant::now() + Duration::from_secs(2);
    while discovery::process_alive(pid) && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !discovery::process_alive(pid) && discovery::record_path(dir, pid).exists() {
        discovery::remove_agent_files(dir, pid);
    }
}

fn connect(record: &AgentRecord, dir: &Path, timeout: Duration) -> Result<Client, String> {
    let address = Address::parse(&record.info.address)?;
    let client = match Client::connect(&address, record.token.clone(), Some(timeout)) {
        Ok(client) => client,
        Err(err) => {
            forget_if_deaf(&address, &err);
            return Err(describe(err, timeout));
        }
    };
    // A record can name another program's listener: nothing is sent to an agent that is not
    // the process its record is about, and the record goes, so that it is not tried again.
    if client.agent.pid != record.info.pid {
        let pid = record.info.pid;
        tracing::warn!(
            "the record of pid {pid} names the listener of pid {}: it is removed",
            client.agent.pid
        );
        discovery::remove_agent_files(dir, pid);
        return Err(format!(
            "the agent at {address} answers as pid {}, not as the pid its record names; refused and its record removed",
            client.agent.pid
        ));
    }
    Ok(client)
}

/// A record whose socket is gone or has no listener, while its pid lives on (reused by another
/// process, or an agent that was stopped): nobody will ever answer there. Its record and socket
/// are removed, so that it is not tried on every save.
fn forget_if_deaf(address: &Address, err: &ClientError) {
    let ClientError::Io(io) = err else { return };
    let deaf = matches!(
        io.kind(),
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
    );
    if let (true, Address::Unix(socket)) = (deaf, address) {
        tracing::warn!(
            "nobody listens at {}: its record is removed",
            socket.display()
        );
        let _ = std::fs::remove_file(socket.with_extension("json"));
        let _ = std::fs::remove_file(socket);
    }
}

fn describe(err: ClientError, timeout: Duration) -> String {
    match err {
        ClientError::Io(io)
            if matches!(
                io.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            format!("no answer within {timeout:?}; the program may be stopped or stuck")
        }
        ClientError::Io(io) => format!("connection failed: {io} (did the program exit?)"),
        ClientError::Closed => "the program exited during the request".into(),
        other => other.to_string(),
    }
}

/// The agents of the runtime folder, kept in step with its records.
pub struct AgentPool {
    dir: Mutex<PathBuf>,
    links: Mutex<BTreeMap<u32, Arc<AgentLink>>>,
    timeout: Mutex<Duration>,
    events: Mutex<Option<EventSink>>,
    /// Why the folder or some records in it were refused, as of the last refresh.
    refused: Mutex<Vec<String>>,
}

impl AgentPool {
    pub fn new(dir: PathBuf, timeout: Duration) -> AgentPool {
        AgentPool {
            dir: Mutex::new(dir),
            links: Mutex::new(BTreeMap::new()),
            timeout: Mutex::new(timeout),
            events: Mutex::new(None),
            refused: Mutex::new(Vec::new()),
        }
    }

    /// Why the runtime folder or records in it were not trusted, as of the last refresh.
    pub fn refused(&self) -> Vec<String> {
        self.refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where agents found from now on send their runtime events.
    pub fn follow_events(&self, sink: EventSink) {
        *self.events.lock().unwrap_or_else(|e| e.into_inner()) = Some(sink);
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Points the pool at another folder; links to agents not found there are dropped.
    pub fn configure(&self, dir: PathBuf, timeout: Duration) {
        *self.dir.lock().unwrap_or_else(|e| e.into_inner()) = dir;
        *self.timeout.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
        self.refresh();
    }

    /// The programs linked, as of the last `refresh`.
    pub fn pids(&self) -> Vec<u32> {
        self.links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .copied()
            .collect()
    }

    /// Reads the records again: new agents get a link, gone or restarted ones lose theirs.
    pub fn refresh(&self) -> Vec<Arc<AgentLink>> {
        let dir = self.dir();
        let (records, refused) = match discovery::list_agents(&dir) {
            Ok(listing) => (listing.agents, listing.refused),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => (Vec::new(), Vec::new()),
            Err(err) => (Vec::new(), vec![err.to_string()]),
        };
        {
            let mut known = self.refused.lock().unwrap_or_else(|e| e.into_inner());
            for why in refused.iter().filter(|why| !known.contains(why)) {
                tracing::warn!("{why}");
            }
            *known = refused;
        }
        let timeout = *self.timeout.lock().unwrap_or_else(|e| e.into_inner());
        let sink = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut links = self.links.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = BTreeMap::new();
        for record in records {
            let pid = record.info.pid;
            let link = match links.remove(&pid) {
                Some(link) if link.record == record => link,
                _ => AgentLink::spawn(record, dir.clone(), timeout, sink.clone()),
            };
            next.insert(pid, link);
        }
        *links = next;
        links.values().cloned().collect()
    }
}

/// Calls `on_change` whenever an agent record appears or disappears in `dir` (inotify and
/// friends, no polling). The folder is created (private) if missing, so that it can be watched.
pub fn watch(
    dir: &Path,
    on_change: impl Fn() + Send + 'static,
) -> notify::Result<notify::RecommendedWatcher> {
    use notify::{RecursiveMode, Watcher};
    discovery::ensure_private_dir(dir).map_err(notify::Error::io)?;
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let is_record = event
            .paths
            .iter()
            .any(|p| p.extension().is_some_and(|e| e == "json"));
        if is_record && !matches!(event.kind, notify::EventKind::Access(_)) {
            on_change();
        }
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    Ok(watcher)
}
