//! `splice._agent`: the native half of the agent. It owns the socket and the protocol (Rust
//! threads, never Python ones), commits prepared patches atomically, and offers a client.

mod admission;
mod events;
mod process;
mod report;
mod runner;
mod server;
mod versions;
mod watcher;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use splice_protocol::client::{Address, Client as ProtocolClient, ClientError};
use splice_protocol::discovery::{self, AgentRecord};
use splice_protocol::{AgentInfo, PROTOCOL_VERSION};

use server::{Agent, Listener};

create_exception!(
    _agent,
    AgentError,
    PyException,
    "An agent answered with an error."
);

struct Running {
    pid: u32,
    agent: Arc<Agent>,
    dir: PathBuf,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

fn random_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Starts listening and writes the discovery record; returns the address. Idempotent within a
/// process (a forked child starts its own).
#[pyfunction]
#[pyo3(signature = (handler, argv, cwd, python_version, python_executable, agent_version, runtime_dir=None, listen=None, clean_up=true))]
#[allow(clippy::too_many_arguments)]
fn start(
    handler: Py<PyAny>,
    argv: Vec<String>,
    cwd: String,
    python_version: String,
    python_executable: String,
    agent_version: String,
    runtime_dir: Option<PathBuf>,
    listen: Option<String>,
    clean_up: bool,
) -> PyResult<String> {
    let pid = std::process::id();
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(current) = running.as_ref().filter(|r| r.pid == pid) {
        return Ok(current.agent.info.address.clone());
    }
    let dir = runtime_dir.unwrap_or_else(discovery::runtime_dir);
    runner::set_python_version(&python_version);
    discovery::ensure_private_dir(&dir).map_err(|e| PyOSError::new_err(e.to_string()))?;
    // Whoever finds records of dead agents cleans them (a forked worker leaves it to its
    // parent: it starts on the program's time).
    if clean_up {
        let _ = discovery::list_agents(&dir);
    }
    let (listener, token) = match listen.as_deref().unwrap_or("unix") {
        "unix" | "" => (Listener::bind_unix(discovery::socket_path(&dir, pid)), None),
        spec => {
            let port = spec
                .strip_prefix("tcp:")
                .and_then(|p| p.parse::<u16>().ok())
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "SPLICE_LISTEN={spec}: expected `unix` or `tcp:PORT` (0 picks a free port)"
                    ))
                })?;
            let token = random_token().map_err(|e| PyOSError::new_err(e.to_string()))?;
            (Listener::bind_tcp(port), Some(token))
        }
    };
    let listener = listener.map_err(|e| PyOSError::new_err(e.to_string()))?;
    let address = listener
        .address()
        .map_err(|e| PyOSError::new_err(e.to_string()))?;
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let info = AgentInfo {
        pid,
        argv,
        cwd,
        python_version,
        python_executable,
        protocol_version: PROTOCOL_VERSION,
        agent_version,
        address: address.clone(),
        started_at,
        // SAFETY: getppid cannot fail.
        parent_pid: Some(unsafe { libc::getppid() } as u32),
    };
    let record = AgentRecord {
        info: info.clone(),
        token: token.clone(),
    };
    discovery::write_record(&dir, &record).map_err(|e| PyOSError::new_err(e.to_string()))?;
    let agent = Arc::new(Agent::new(info, token, handler));
    server::serve(listener, agent.clone());
    *running = Some(Running { pid, agent, dir });
    Ok(address)
}

/// Stops accepting and removes the socket and record. Safe to call twice.
#[pyfunction]
fn stop() {
    let Some(running) = RUNNING.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    if running.pid != std::process::id() {
        return;
    }
    running.agent.stopping.store(true, Ordering::Release);
    // Wake the listener's blocking accept so that its thread sees `stopping` and ends.
    match Address::parse(&running.agent.info.address) {
        Ok(Address::Tcp(host_port)) => drop(std::net::TcpStream::connect(host_port)),
        Ok(Address::Unix(path)) => drop(std::os::unix::net::UnixStream::connect(path)),
        Err(_) => {}
    }
    discovery::remove_agent_files(&running.dir, running.pid);
}

/// Called in a forked child before it starts its own agent: forgets the parent's (its threads
/// did not survive the fork; dropping it could only wait on their locks) and closes the
/// sockets inherited from it. Whether the parent had an agent running.
#[pyfunction]
fn forked() -> bool {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(parent) = running.take_if(|r| r.pid != std::process::id()) else {
        return false;
    };
    process::close_inherited(&parent.agent.info.address);
    watcher::forget_after_fork();
    std::mem::forget(parent);
    true
}

/// Waits (at most `timeout` seconds) until the watcher has said on stderr what became of the
/// saves it is handling.
#[pyfunction]
fn watch_settle(py: Python<'_>, timeout: f64) {
    let timeout = Duration::from_secs_f64(timeout.max(0.0));
    py.detach(|| watcher::settle(timeout));
}

/// Watch mode: applies each save of a Python file under `dirs` (and the folders under them)
/// to this process, through its agent; its lines on stderr start with `label`. Once per
/// process; started by `splice` when `SPLICE_WATCH` names the folders.
#[pyfunction]
#[pyo3(signature = (dirs, label=String::new()))]
fn watch(dirs: Vec<PathBuf>, label: String) -> PyResult<()> {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let Some(current) = running.as_ref().filter(|r| r.pid == std::process::id()) else {
        return Err(PyOSError::new_err("start the agent before watching"));
    };
    watcher::start(current.agent.clone(), dirs, label)
        .map_err(|e| PyOSError::new_err(e.to_string()))
}

/// The running agent's address, if started in this process.
#[pyfunction]
fn address() -> Option<String> {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running
        .as_ref()
        .filter(|r| r.pid == std::process::id())
        .map(|r| r.agent.info.address.clone())
}

/// Whether a client is connected to this process's agent: a save may be on its way.
#[pyfunction]
fn has_clients() -> bool {
    let running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    running
        .as_ref()
        .filter(|r| r.pid == std::process::id())
        .is_some_and(|r| r.agent.has_clients())
}

/// An attribute set or deleted by `commit`, with its previous value (None: it had none).
type Undo<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyString>,
    Option<Bound<'py, PyAny>>,
);

const SET: u8 = 0;
const DELETE: u8 = 1;
const CALL: u8 = 2;

/// Applies `(kind, target, name, value)` operations in one step, without running Python code
/// between them, so that no other thread observes half of a patch. On failure every operation
/// already done is undone and the error is raised.
#[pyfunction]
fn commit(py: Python<'_>, ops: &Bound<'_, PyList>) -> PyResult<()> {
    let mut undo: Vec<Undo<'_>> = Vec::new();
    // Functions whose code, defaults or annotations were set: their version to restore.
    let mut versioned = Vec::new();
    let mut failure = None;
    for op in ops.iter() {
        let op = op.cast_into::<PyTuple>()?;
        let kind: u8 = op.get_item(0)?.extract()?;
        let target = op.get_item(1)?;
        let result = match kind {
            SET | DELETE => {
                let name = op.get_item(2)?.cast_into::<PyString>()?;
                let previous = target.getattr(&name).ok();
                let done = if kind == SET {
                    target.setattr(&name, op.get_item(3)?)
                } else {
                    target.delattr(&name)
                };
                if done.is_ok() {
                    if kind == SET && name.to_cow().is_ok_and(|n| versions::clears_version(&n)) {
                        versioned.push(target.clone());
                    }
                    undo.push((target, name, previous));
                }
                done
            }
            CALL => target.call0().map(drop),
            other => Err(PyValueError::new_err(format!(
                "unknown commit operation {other}"
            ))),
        };
        if let Err(err) = result {
            failure = Some(err);
            break;
        }
    }
    let Some(err) = failure else {
        for function in &versioned {
            versions::restore(py, function);
        }
        return Ok(());
    };
    for (target, name, previous) in undo.into_iter().rev() {
        let _ = match previous {
            Some(value) => target.setattr(&name, value),
            None => target.delattr(&name),
        };
    }
    for function in &versioned {
        versions::restore(py, function);
    }
    Err(err)
}

/// A blocking client for one agent, used by tests, benchmarks and scripts.
#[pyclass(module = "splice._agent")]
struct Client {
    inner: Mutex<ProtocolClient>,
    agent_json: String,
}

fn client_error(err: ClientError) -> PyErr {
    match err {
        ClientError::Agent(reply) => {
            let code = serde_json::to_value(reply.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            AgentError::new_err((code, reply.message))
        }
        ClientError::Io(err) => PyOSError::new_err(err.to_string()),
        ClientError::Closed => AgentError::new_err(("closed".to_owned(), err.to_string())),
        ClientError::Protocol(msg) => AgentError::new_err(("protocol".to_owned(), msg)),
    }
}

#[pymethods]
impl Client {
    #[new]
    #[pyo3(signature = (address, token=None, timeout=None))]
    fn new(
        py: Python<'_>,
        address: &str,
        token: Option<String>,
        timeout: Option<f64>,
    ) -> PyResult<Client> {
        let address = Address::parse(address).map_err(PyValueError::new_err)?;
        let timeout = timeout.map(Duration::from_secs_f64);
        let client = py
            .detach(|| ProtocolClient::connect(&address, token, timeout))
            .map_err(client_error)?;
        let agent_json = serde_json::to_string(&client.agent).unwrap_or_default();
        Ok(Client {
            inner: Mutex::new(client),
            agent_json,
        })
    }

    /// The agent's handshake answer, as JSON.
    #[getter]
    fn agent_json(&self) -> &str {
        &self.agent_json
    }

    /// Sends `method` with `params_json` and returns the result as JSON; raises `AgentError`.
    #[pyo3(signature = (method, params_json=None))]
    fn call(&self, py: Python<'_>, method: &str, params_json: Option<&str>) -> PyResult<String> {
        let line = |id: u64| {
            format!(
                r#"{{"id":{id},"method":{},"params":{}}}"#,
                serde_json::Value::String(method.to_owned()),
                params_json.unwrap_or("null")
            )
        };
        // The agent checks the params against the protocol's types; only the method is checked
        // here, so that a large request is not read twice.
        if !splice_protocol::METHODS.contains(&method) {
            return Err(PyValueError::new_err(format!(
                "unknown method `{method}`; agents answer {}",
                splice_protocol::METHODS.join(", ")
            )));
        }
        let response = py
            .detach(|| {
                let mut client = self.inner.lock().unwrap_or_else(|e| e.into_inner());
                client.call_line(|id| Ok(line(id)))
            })
            .map_err(client_error)?;
        match response.outcome {
            splice_protocol::Outcome::Result(value) => Ok(value.to_string()),
            splice_protocol::Outcome::Error(reply) => Err(client_error(ClientError::Agent(reply))),
        }
    }
}

/// Queues a runtime event (JSON of `RuntimeEvent`) for clients waiting in `events`.
#[pyfunction]
fn push_event(event_json: &str) -> PyResult<()> {
    let event =
        serde_json::from_str(event_json).map_err(|e| PyValueError::new_err(e.to_string()))?;
    events::push(event);
    Ok(())
}

/// Live agents' records in the runtime folder, as JSON; stale ones are removed.
#[pyfunction]
#[pyo3(signature = (runtime_dir=None))]
fn list_agents(runtime_dir: Option<PathBuf>) -> PyResult<String> {
    let dir = runtime_dir.unwrap_or_else(discovery::runtime_dir);
    let listing = match discovery::list_agents(&dir) {
        Ok(listing) => listing,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => discovery::Listing::default(),
        Err(err) => return Err(PyOSError::new_err(err.to_string())),
    };
    Ok(serde_json::to_string(&listing.agents).unwrap_or_else(|_| "[]".into()))
}

#[pyfunction]
fn runtime_dir() -> PathBuf {
    discovery::runtime_dir()
}

#[pymodule]
fn _agent(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(start, m)?)?;
    m.add_function(wrap_pyfunction!(stop, m)?)?;
    m.add_function(wrap_pyfunction!(address, m)?)?;
    m.add_function(wrap_pyfunction!(watch, m)?)?;
    m.add_function(wrap_pyfunction!(watch_settle, m)?)?;
    m.add_function(wrap_pyfunction!(forked, m)?)?;
    m.add_function(wrap_pyfunction!(has_clients, m)?)?;
    m.add_function(wrap_pyfunction!(commit, m)?)?;
    m.add_function(wrap_pyfunction!(list_agents, m)?)?;
    m.add_function(wrap_pyfunction!(push_event, m)?)?;
    m.add_function(wrap_pyfunction!(report::report, m)?)?;
    m.add_function(wrap_pyfunction!(report::forget_counts, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_dir, m)?)?;
    m.add_class::<Client>()?;
    m.add("AgentError", m.py().get_type::<AgentError>())?;
    m.add("PROTOCOL_VERSION", PROTOCOL_VERSION)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
