//! End-to-end harness: `splice-lsp` over real stdio framing with a JSON-RPC client, and real
//! Python programs running the agent (`python -m splice`), observed through `probe.py`.

#![allow(dead_code)]

pub mod saves;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python with the `splice` package installed (`make wheel` puts it in `.venv`).
pub fn python() -> PathBuf {
    let path = std::env::var_os("SPLICE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        path.exists(),
        "{} not found: run `make wheel` or set SPLICE_TEST_PYTHON",
        path.display()
    );
    path
}

/// A private folder for one test: its programs' sources and its runtime folder.
pub struct Workspace {
    pub root: PathBuf,
}

impl Workspace {
    pub fn new() -> Workspace {
        // Short paths: a Unix socket path must fit in 108 bytes.
        let unique = format!(
            "/tmp/splice-e2e-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let root = PathBuf::from(unique);
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("src")).unwrap();
        Workspace { root }
    }

    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.root.join("src").join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.file(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn uri(&self, name: &str) -> String {
        format!("file://{}", self.file(name).display())
    }
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub const PROBE_TAIL: &str = "\nimport probe\nprobe.serve(globals())\n";

/// A Python program under the agent; `eval` runs an expression inside it.
pub struct Program {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Program {
    pub fn start(ws: &Workspace, script: &str) -> Program {
        Program::start_with(ws, script, &[])
    }

    /// `start` with more environment variables (`SPLICE_LISTEN`...).
    pub fn start_with(ws: &Workspace, script: &str, env: &[(&str, &str)]) -> Program {
        let probe_dir = repo().join("python/tests");
        let mut child = Command::new(python())
            .args(["-m", "splice", script])
            .current_dir(ws.root.join("src"))
            .env("SPLICE_RUNTIME_DIR", ws.runtime_dir())
            .env("PYTHONPATH", probe_dir)
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // A group of its own: its workers and children end with it.
            .process_group(0)
            .spawn()
            .expect("start python");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let program = Program {
            child,
            stdin,
            lines,
        };
        program.expect_line(|l| l == "ready");
        program
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn expect_line(&self, wanted: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => continue,
                Err(_) => panic!("program {} gave no expected output in time", self.pid()),
            }
        }
    }

    /// The JSON value of `expression` evaluated in the program's `__main__`.
    pub fn eval(&mut self, expression: &str) -> Value {
        writeln!(self.stdin, "eval {}", json!(expression)).unwrap();
        self.stdin.flush().unwrap();
        let line = self.expect_line(|l| l.starts_with("@@"));
        let answer: Value = serde_json::from_str(&line[2..]).unwrap();
        assert!(answer.get("error").is_none(), "{expression}: {answer}");
        answer["value"].clone()
    }

    /// SIGSTOP: the program and its agent stop answering without closing anything.
    pub fn stop(&mut self) {
        // SAFETY: sending a signal to our own child.
        unsafe {
            libc::kill(self.pid() as i32, libc::SIGSTOP);
        }
    }

    /// SIGCONT: a stopped program runs again.
    pub fn resume(&mut self) {
        // SAFETY: sending a signal to our own child.
        unsafe {
            libc::kill(self.pid() as i32, libc::SIGCONT);
        }
    }

    /// Kills the program and every process it started.
    pub fn kill(&mut self) {
        // SAFETY: the program leads a process group of its own (`process_group(0)`).
        unsafe {
            libc::kill(-(self.pid() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JSON-RPC client speaking to `splice-lsp` over its stdio with Content-Length framing.
pub struct Lsp {
    child: Child,
    stdin: ChildStdin,
    incoming: mpsc::Receiver<Value>,
    /// Messages received while waiting for something else, in order.
    pending: VecDeque<Value>,
    next_id: u64,
    /// How long a response or notification is waited for.
    pub deadline: Duration,
}

impl Lsp {
    pub fn start(ws: &Workspace) -> Lsp {
        let mut child = Command::new(env!("CARGO_BIN_EXE_splice-lsp"))
            .env("SPLICE_RUNTIME_DIR", ws.runtime_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start splice-lsp");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, incoming) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            while let Some(message) = read_message(&mut reader) {
                if tx.send(message).is_err() {
                    break;
                }
            }
        });
        Lsp {
            child,
            stdin,
            incoming,
            pending: VecDeque::new(),
            next_id: 1,
            deadline: DEADLINE,
        }
    }

    /// Starts and initializes a server; `encodings` are the position encodings offered.
    pub fn initialized(ws: &Workspace, encodings: &[&str], options: Value) -> (Lsp, Value) {
        let mut lsp = Lsp::start(ws);
        let result = lsp.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": format!("file://{}", ws.root.join("src").display()),
                "capabilities": {"general": {"positionEncodings": encodings}},
                "initializationOptions": options,
            }),
        );
        lsp.notify("initialized", json!({}));
        (lsp, result)
    }

    fn send(&mut self, message: &Value) {
        let body = serde_json::to_vec(message).unwrap();
        write!(self.stdin, "Content-Length: {}\r\n\r\n", body.len()).unwrap();
        self.stdin.write_all(&body).unwrap();
        self.stdin.flush().unwrap();
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Sends a request and returns its response (`result` or `error` object).
    pub fn request_raw(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        self.take(
            |m| m.get("id") == Some(&json!(id)) && m.get("method").is_none(),
            method,
        )
    }

    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let response = self.request_raw(method, params);
        assert!(
            response.get("error").is_none(),
            "{method} failed: {response}"
        );
        response["result"].clone()
    }

    /// The first message (received or pending) matching `wanted`, removed from the queue.
    fn take(&mut self, wanted: impl Fn(&Value) -> bool, what: &str) -> Value {
        if let Some(at) = self.pending.iter().position(&wanted) {
            return self.pending.remove(at).unwrap();
        }
        let end = Instant::now() + self.deadline;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.incoming.recv_timeout(left) {
                Ok(message) if wanted(&message) => return message,
                Ok(message) => self.pending.push_back(message),
                Err(_) => panic!(
                    "no {what} within {:?}; pending: {:?}",
                    self.deadline, self.pending
                ),
            }
        }
    }

    /// Waits for a notification `method` whose params satisfy `wanted`.
    pub fn await_notification(&mut self, method: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.take(
            |m| m.get("method") == Some(&json!(method)) && wanted(&m["params"]),
            method,
        )["params"]
            .clone()
    }

    /// The next `splice/patchResult` for `uri`.
    pub fn patch_result(&mut self, uri: &str) -> Value {
        self.await_notification("splice/patchResult", |p| p["uri"] == json!(uri))
    }

    /// The latest diagnostics published for `uri` satisfying `wanted`.
    pub fn diagnostics(&mut self, uri: &str, wanted: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        self.await_notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == json!(uri) && wanted(p["diagnostics"].as_array().unwrap())
        })["diagnostics"]
            .as_array()
            .unwrap()
            .clone()
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}}),
        );
    }

    pub fn change(&mut self, uri: &str, version: i32, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
        );
    }

    pub fn save(&mut self, uri: &str) {
        self.notify(
            "textDocument/didSave",
            json!({"textDocument": {"uri": uri}}),
        );
    }

    /// What an editor does to save `name` of `ws` with `text` (the file written, the buffer's
    /// whole text changed, the save), and the `splice/patchResult` that follows.
    pub fn save_text(&mut self, ws: &Workspace, name: &str, version: i32, text: &str) -> Value {
        let uri = ws.uri(name);
        ws.write(name, text);
        self.change(&uri, version, json!([{"text": text}]));
        self.save(&uri);
        self.patch_result(&uri)
    }

    /// Drops messages that only report progress on the way (diagnostics, patch results) and
    /// asserts that nothing else is left unread.
    pub fn assert_nothing_unconsumed(&mut self) {
        while let Ok(message) = self.incoming.try_recv() {
            self.pending.push_back(message);
        }
        let unread: Vec<&Value> = self
            .pending
            .iter()
            .filter(|m| {
                let method = m.get("method").and_then(Value::as_str).unwrap_or("");
                !matches!(
                    method,
                    "textDocument/publishDiagnostics" | "splice/patchResult"
                )
            })
            .collect();
        assert!(unread.is_empty(), "unconsumed messages: {unread:?}");
    }

    /// Writes bytes to the server's stdin as they are: for messages a client should not send.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stdin.write_all(bytes).unwrap();
        self.stdin.flush().unwrap();
    }

    /// The next error response with this id (`null` for messages that could not be read).
    pub fn error_response(&mut self, id: Value) -> Value {
        self.take(
            |m| m.get("id") == Some(&id) && m.get("error").is_some(),
            "an error response",
        )
    }

    /// Sends `exit` (after `shutdown` when asked) and returns the exit status.
    pub fn exit(mut self, shutdown_first: bool) -> std::process::ExitStatus {
        if shutdown_first {
            self.request("shutdown", Value::Null);
        }
        self.notify("exit", Value::Null);
        let end = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            assert!(Instant::now() < end, "splice-lsp did not exit after `exit`");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn shutdown(mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
        let end = Instant::now() + DEADLINE;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                assert!(status.success(), "splice-lsp exited with {status}");
                return;
            }
            assert!(Instant::now() < end, "splice-lsp did not exit after `exit`");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn read_message(reader: &mut impl BufRead) -> Option<Value> {
    let mut length = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some(value) = header.strip_prefix("Content-Length: ") {
            length = value.parse::<usize>().ok();
        }
    }
    let mut body = vec![0; length?];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

/// Waits until `condition` holds, polling, or panics after the deadline.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether the runtime folder has a record for `pid`.
pub fn has_record(dir: &Path, pid: u32) -> bool {
    dir.join(format!("{pid}.json")).exists()
}

/// The agents' records in a runtime folder, as JSON.
pub fn records(dir: &Path) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect()
}

/// `python -m splice ARGS` in a process group of its own, killed with all its processes; its
/// stderr lines can be waited for.
pub struct Server {
    child: Child,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    pub fn start(ws: &Workspace, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(python())
            .args(["-m", "splice"])
            .args(args)
            .current_dir(ws.root.join("src"))
            .env("SPLICE_RUNTIME_DIR", ws.runtime_dir())
            .env("PYTHONUNBUFFERED", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .expect("start python");
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server {
            child,
            stderr: lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a line of stderr containing `wanted`.
    pub fn expect_stderr(&self, wanted: &str) {
        let end = Instant::now() + DEADLINE;
        let mut last = VecDeque::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) if line.contains(wanted) => return,
                Ok(line) => {
                    last.push_back(line);
                    if last.len() > 40 {
                        last.pop_front();
                    }
                }
                Err(_) => panic!(
                    "no stderr line with {wanted:?} from pid {}; its last lines:\n{}",
                    self.pid(),
                    Vec::from(last).join("\n")
                ),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: the server leads a process group of its own.
        unsafe {
            libc::kill(-(self.pid() as i32), libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of `GET /` on `port`, or None while nothing answers.
pub fn get(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(DEADLINE)).ok()?;
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}
