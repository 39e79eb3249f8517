//! The listener: Rust threads that accept connections, check who is calling, read framed
//! requests and answer each with exactly one response. They never hold the GIL except to run
//! the Python engine, and block in `accept`/`read` while idle.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use pyo3::prelude::*;
use splice_protocol::discovery::current_uid;
use splice_protocol::framing::{read_frame, write_frame, FrameError, MAX_FRAME_BYTES};
use splice_protocol::{
    decode_request_with_params, AgentInfo, Call, ErrorCode, FileResult, LoadedResult, Pong,
    Request, Response, PROTOCOL_VERSION,
};

use crate::admission::{Admission, HANDSHAKE_DEADLINE, MAX_CONNECTIONS, MAX_PENDING_FRAME};
use crate::runner::run_on_interpreter;

/// A buffer grown past this by one large request is given back after it.
const KEPT_BUFFER: usize = 1 << 20;

pub struct Agent {
    pub info: AgentInfo,
    /// Required in the handshake when listening on TCP.
    pub token: Option<String>,
    /// The Python engine: `handler(method, params_json, source) -> result_json`.
    pub handler: Py<PyAny>,
    pub stopping: AtomicBool,
    admission: Admission,
    /// One job in the engine at a time, whichever connection it came from: the engine may let
    /// the interpreter switch threads in the middle of one.
    engine: std::sync::Mutex<()>,
}

impl Agent {
    /// Whether a client (an editor's server) has greeted and is connected now.
    pub fn has_clients(&self) -> bool {
        self.admission.served() > 0
    }

    pub fn new(info: AgentInfo, token: Option<String>, handler: Py<PyAny>) -> Agent {
        Agent {
            info,
            token,
            handler,
            stopping: AtomicBool::new(false),
            admission: Admission::default(),
            engine: std::sync::Mutex::new(()),
        }
    }
}

pub enum Listener {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

impl Listener {
    pub fn bind_unix(path: PathBuf) -> io::Result<Listener> {
        // A socket left by an earlier process with our pid is dead: we are that pid now.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        Ok(Listener::Unix(listener, path))
    }

    pub fn bind_tcp(port: u16) -> io::Result<Listener> {
        Ok(Listener::Tcp(TcpListener::bind(("127.0.0.1", port))?))
    }

    pub fn address(&self) -> io::Result<String> {
        Ok(match self {
            Listener::Unix(_, path) => format!("unix:{}", path.display()),
            Listener::Tcp(listener) => format!("tcp:{}", listener.local_addr()?),
        })
    }
}

/// Spawns a thread with every signal blocked, so that signals sent to the process reach the
/// program's main thread exactly as they would without the agent (an interrupted `sleep`).
pub fn spawn_quiet<F: FnOnce() + Send + 'static>(name: &str, f: F) {
    // SAFETY: plain sigset manipulation; the old mask is restored right after the spawn.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let spawned = std::thread::Builder::new().name(name.into()).spawn(f);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        if let Err(err) = spawned {
            eprintln!("splice: could not start thread {name}: {err}");
        }
    }
}

pub fn serve(listener: Listener, agent: Arc<Agent>) {
    spawn_quiet("splice-listener", move || {
        // Whether the last accept failed: a run of failures is reported once.
        let mut failing = false;
        loop {
            let accepted: io::Result<Box<dyn Connection>> = match &listener {
                Listener::Unix(l, _) => l.accept().map(|(s, _)| Box::new(s) as Box<dyn Connection>),
                Listener::Tcp(l) => l.accept().map(|(s, _)| {
                    let _ = s.set_nodelay(true);
                    Box::new(s) as Box<dyn Connection>
                }),
            };
            if agent.stopping.load(Ordering::Acquire) {
                return;
            }
            let stream = match accepted {
                Ok(stream) => stream,
                Err(err) => match accept_failure(&err) {
                    AcceptFailure::Retry => continue,
                    AcceptFailure::Fatal => {
                        eprintln!("splice: accept failed: {err}; the agent stops listening");
                        return;
                    }
                    AcceptFailure::Transient => {
                        if !failing {
                            eprintln!("splice: accept failed: {err}; retrying");
                            failing = true;
                        }
                        // Out of descriptors or memory: wait for the program to free some
                        // rather than spin; giving up would leave a record of a deaf agent.
                        std::thread::sleep(ACCEPT_BACKOFF);
                        continue;
                    }
                },
            };
            failing = false;
            if !stream.peer_is_owner() {
                // Nothing is read from, or written to, a stranger.
                continue;
            }
            let Ok(closer) = stream.split() else { continue };
            let id = agent.admission.arrive(Box::new(move || closer.shut_down()));
            let agent = agent.clone();
            spawn_quiet("splice-connection", move || {
                let _ = handle_connection(stream, &agent, id);
                agent.admission.leave(id);
            });
        }
    });
}

/// How long the listener waits after an `accept` that failed for want of resources.
const ACCEPT_BACKOFF: std::time::Duration = std::time::Duration::from_millis(50);

enum AcceptFailure {
    /// Interrupted, or one connection died before it was taken: the next one is fine.
    Retry,
    /// The process is out of descriptors or memory, for now.
    Transient,
    /// The listening socket itself is unusable (closed under us by the program).
    Fatal,
}

fn accept_failure(err: &io::Error) -> AcceptFailure {
    match err.raw_os_error() {
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT) => AcceptFailure::Fatal,
        // accept(2): errors pending on the new connection are reported by accept itself.
        Some(
            libc::EINTR
            | libc::ECONNABORTED
            | libc::ECONNRESET
            | libc::EPROTO
            | libc::EPERM
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP,
        ) => AcceptFailure::Retry,
        _ => AcceptFailure::Transient,
    }
}

trait Connection: Read + Write + Send {
    fn split(&self) -> io::Result<Box<dyn Connection>>;
    fn peer_is_owner(&self) -> bool;
    fn requires_token(&self) -> bool;
    fn set_read_deadline(&self, after: Option<std::time::Duration>) -> io::Result<()>;
    /// Ends the connection for every handle of it: a thread blocked reading it returns.
    fn shut_down(&self);
}

impl Connection for UnixStream {
    fn split(&self) -> io::Result<Box<dyn Connection>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn set_read_deadline(&self, after: Option<std::time::Duration>) -> io::Result<()> {
        self.set_read_timeout(after)
    }

    fn shut_down(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }

    fn peer_is_owner(&self) -> bool {
        peer_uid(self.as_raw_fd()) == Some(current_uid())
    }

    fn requires_token(&self) -> bool {
        false
    }
}

impl Connection for TcpStream {
    fn split(&self) -> io::Result<Box<dyn Connection>> {
        Ok(Box::new(self.try_clone()?))
    }

    fn set_read_deadline(&self, after: Option<std::time::Duration>) -> io::Result<()> {
        self.set_read_timeout(after)
    }

    fn shut_down(&self) {
        let _ = self.shutdown(std::net::Shutdown::Both);
    }

    /// Anyone on this machine may connect to loopback; the token decides.
    fn peer_is_owner(&self) -> bool {
        true
    }

    fn requires_token(&self) -> bool {
        true
    }
}

#[cfg(target_os = "linux")]
fn peer_uid(fd: i32) -> Option<u32> {
    let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len describe a buffer of the size SO_PEERCRED writes.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

#[cfg(not(target_os = "linux"))]
fn peer_uid(fd: i32) -> Option<u32> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: getpeereid writes two integers.
    let rc = unsafe { libc::getpeereid(fd, &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

/// Per-connection state: nothing but a handshake is answered before one succeeded.
struct Session {
    greeted: bool,
    requires_token: bool,
}

/// Serves one connection until it ends. Before its handshake it has `HANDSHAKE_DEADLINE` and
/// messages of `MAX_PENDING_FRAME` bytes at most; a greeted one takes a seat among those served.
fn handle_connection(stream: Box<dyn Connection>, agent: &Arc<Agent>, id: u64) -> io::Result<()> {
    let mut session = Session {
        greeted: false,
        requires_token: stream.requires_token(),
    };
    stream.set_read_deadline(Some(HANDSHAKE_DEADLINE))?;
    let deadline = stream.split()?;
    let mut writer = BufWriter::new(stream.split()?);
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    let mut seat = None;
    loop {
        let limit = if session.greeted {
            MAX_FRAME_BYTES
        } else {
            MAX_PENDING_FRAME
        };
        let (mut response, mut close) = match read_frame(&mut reader, &mut buf, limit) {
            Ok(false) => return Ok(()),
            Ok(true) => answer(&buf, &mut session, agent),
            Err(err @ FrameError::TooLarge { .. }) => (
                Response::error(None, ErrorCode::TooLarge, err.to_string()),
                !session.greeted,
            ),
            Err(err @ FrameError::Truncated { .. }) => (
                Response::error(None, ErrorCode::Truncated, err.to_string()),
                true,
            ),
            Err(FrameError::Io(err)) if is_timeout(&err) && !session.greeted => (
                Response::error(
                    None,
                    ErrorCode::HandshakeRequired,
                    format!("no handshake within {HANDSHAKE_DEADLINE:?}; closed"),
                ),
                true,
            ),
            Err(FrameError::Io(err)) => return Err(err),
        };
        if session.greeted && seat.is_none() {
            agent.admission.leave(id);
            seat = agent.admission.seat();
            if seat.is_none() {
                let message = format!("the agent already serves {MAX_CONNECTIONS} connections");
                response = Response::error(response.id, ErrorCode::Internal, message);
                close = true;
            }
            deadline.set_read_deadline(None)?;
        }
        if buf.capacity() > KEPT_BUFFER {
            buf = Vec::new();
        }
        write_frame(&mut writer, &response)?;
        if close || agent.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
    }
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// The response to one frame, and whether to close the connection after it.
fn answer(bytes: &[u8], session: &mut Session, agent: &Arc<Agent>) -> (Response, bool) {
    let (request, raw_params) = match decode_request_with_params(bytes) {
        Ok(decoded) => decoded,
        Err((id, err)) => {
            return (
                Response {
                    id,
                    outcome: splice_protocol::Outcome::Error(err),
                },
                false,
            )
        }
    };
    let Request { id, call } = request;
    // The engine gets the params as sent: checked above, never serialized twice.
    let params = || raw_params.map_or("null", |raw| raw.get()).to_owned();
    if let Call::Handshake(hello) = &call {
        if hello.protocol_version != PROTOCOL_VERSION {
            let message = format!(
                "the client speaks protocol {}, this agent (splice {}) speaks {}; use a splice-lsp and agent of matching versions",
                hello.protocol_version, agent.info.agent_version, PROTOCOL_VERSION
            );
            return (
                Response::error(Some(id), ErrorCode::ProtocolMismatch, message),
                false,
            );
        }
        if session.requires_token && hello.token != agent.token {
            let message = "wrong or missing token: read it from the agent's record";
            return (
                Response::error(Some(id), ErrorCode::Unauthorized, message),
                true,
            );
        }
        session.greeted = true;
        return (Response::ok(id, &agent.info), false);
    }
    if !session.greeted {
        let message = format!(
            "`{}` before the handshake; send `handshake` first",
            call.method()
        );
        return (
            Response::error(Some(id), ErrorCode::HandshakeRequired, message),
            false,
        );
    }
    let response = match call {
        Call::Handshake(_) => unreachable!("answered above"),
        Call::Ping => Response::ok(
            id,
            &Pong {
                pid: agent.info.pid,
            },
        ),
        Call::Patch(mut patch) => {
            // The file's whole text goes over as a string of its own, not through the engine's
            // JSON decoder: it is most of the request.
            let source = patch.source.take();
            match serde_json::to_string(&patch) {
                Ok(params) => run_engine::<FileResult>(id, agent, "patch", params, source),
                Err(err) => Response::error(Some(id), ErrorCode::Internal, err.to_string()),
            }
        }
        Call::Revert(_) => run_engine::<FileResult>(id, agent, "revert", params(), None),
        Call::Loaded(_) => run_engine::<LoadedResult>(id, agent, "loaded", params(), None),
        Call::Events(params) => Response::ok(
            id,
            &crate::events::wait(
                params.after,
                std::time::Duration::from_millis(params.timeout_ms),
            ),
        ),
    };
    (response, false)
}

/// Hands the request to the Python engine and checks that its answer has the promised type.
fn run_engine<R>(
    id: u64,
    agent: &Arc<Agent>,
    method: &'static str,
    params: String,
    source: Option<String>,
) -> Response
where
    R: serde::de::DeserializeOwned + serde::Serialize,
{
    match call_engine::<R>(agent, method, params, source) {
        Ok(result) => Response::ok(id, &result),
        Err(message) => Response::error(Some(id), ErrorCode::Internal, message),
    }
}

/// Runs one engine job, `handler(method, params, source)`, after any other job in progress,
/// and reads its answer as `R`; `Err` says what went wrong.
pub fn call_engine<R>(
    agent: &Arc<Agent>,
    method: &'static str,
    params: String,
    source: Option<String>,
) -> Result<R, String>
where
    R: serde::de::DeserializeOwned,
{
    let _one_at_a_time = agent.engine.lock().unwrap_or_else(|e| e.into_inner());
    let agent = agent.clone();
    let outcome = run_on_interpreter(move |py| -> Result<String, String> {
        agent
            .handler
            .call1(py, (method, params, source))
            .and_then(|r| r.extract::<String>(py))
            .map_err(|err| err.to_string())
    });
    match outcome {
        None => Err("the interpreter is shutting down".into()),
        Some(Err(err)) => Err(format!("engine failed: {err}")),
        Some(Ok(json)) => serde_json::from_str::<R>(&json)
            .map_err(|err| format!("engine answered an unexpected shape: {err}")),
    }
}
