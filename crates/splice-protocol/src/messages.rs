//! Every message that crosses the socket between a client (`splice-lsp`, tests) and an agent.
//!
//! A request is one JSON object `{"id": N, "method": "...", "params": {...}}`; its response
//! is `{"id": N, "result": {...}}` or `{"id": N, "error": {"code": "...", "message": "..."}}`.
//! The `id` is `null` only when the request was too broken to read one.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// Bumped on every change a peer of the previous version would misread.
pub const PROTOCOL_VERSION: u32 = 3;

/// Every method an agent answers.
pub const METHODS: [&str; 6] = ["handshake", "ping", "patch", "revert", "loaded", "events"];

/// One call, typed by its method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", rename_all = "snake_case")]
pub enum Call {
    Handshake(Handshake),
    Ping,
    Patch(PatchParams),
    Revert(RevertParams),
    Loaded(LoadedParams),
    Events(EventsParams),
}

impl Call {
    pub fn method(&self) -> &'static str {
        match self {
            Call::Handshake(_) => "handshake",
            Call::Ping => "ping",
            Call::Patch(_) => "patch",
            Call::Revert(_) => "revert",
            Call::Loaded(_) => "loaded",
            Call::Events(_) => "events",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    #[serde(flatten)]
    pub call: Call,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handshake {
    pub protocol_version: u32,
    /// Free text naming the client, for the agent's log.
    #[serde(default)]
    pub client: String,
    /// Required on TCP listeners: the token from the agent's record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Who the agent is. Sent as the handshake's result and stored in the discovery record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    pub pid: u32,
    pub argv: Vec<String>,
    pub cwd: String,
    pub python_version: String,
    pub python_executable: String,
    pub protocol_version: u32,
    pub agent_version: String,
    /// `unix:/path/to/pid.sock` or `tcp:127.0.0.1:PORT`.
    pub address: String,
    /// Seconds since the Unix epoch.
    pub started_at: f64,
    /// The process that started this one: a program's workers and children name it, so that
    /// the server sees process trees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u32>,
}

/// Bring the program in step with one saved file: the parts of it (definitions and
/// statements) that differ from what the program last took. Each part carries its own source,
/// so that a syntax error in one part of the file never blocks another.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PatchParams {
    /// Absolute path of the file as the editor knows it; the agent resolves links.
    pub path: String,
    /// The whole text the parts come from, for tracebacks (`linecache`). When absent the
    /// agent reads the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub definitions: Vec<Definition>,
    /// Whether changed module-level statements run.
    #[serde(default)]
    pub statements: StatementPolicy,
    /// Whether these parts, once taken, bring the program in step with all of `source`: every
    /// part of it that differs is sent (a save, not one part picked). A framework's reloader
    /// in the program may then leave it running.
    #[serde(default)]
    pub complete: bool,
}

/// One part of a file: a definition (`def`, `class`, with its decorators) or a statement of a
/// module or class body. Contexts are compilable text holding the part at its real lines: the
/// headers of its enclosing classes, or the whole enclosing function, every other line blank.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Definition {
    /// A definition: the name CPython gives it (`f`, `A.m`, `outer.<locals>.inner`). A
    /// statement: the qualified name of the class whose body holds it, `""` at module level.
    pub qualname: String,
    #[serde(default)]
    pub kind: PartKind,
    #[serde(default)]
    pub change: Change,
    /// Its context in the saved text, from `source_line` on; absent when it was removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The line `source` starts at (1-based; 0 or absent: line 1). The lines before it are not
    /// sent: a request grows with what changed, not with where it is in the file.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub source_line: u32,
    /// Its context in the text the program last took, from `previous_source_line` on; absent
    /// when new, or when the sender does not know it (the agent then compares code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub previous_source_line: u32,
    /// A moved definition: its first line (decorators included) in the text the program last
    /// took and in the saved text. Only line numbers change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartKind {
    #[default]
    Definition,
    Statement,
}

/// How a part differs from what the program last took.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// Not in the text the program took.
    New,
    /// Its text changed (`previous` holds the old one).
    #[default]
    Changed,
    /// Same text at other lines (`previous_line`, `line`).
    Moved,
    /// No longer in the file (`previous` holds it).
    Removed,
}

/// What happens to changed module-level statements (`moduleStatements`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatementPolicy {
    /// Run once, in file order, in the module's namespace.
    #[default]
    Run,
    /// Never run: each is answered `refused` with reason `statement-not-run`.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RevertParams {
    pub path: String,
    pub qualnames: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedParams {
    pub path: String,
}

/// What happened to each definition of a patch or revert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileResult {
    pub path: String,
    /// Modules loaded from the file, `__main__` included; empty when the file is not loaded.
    pub modules: Vec<String>,
    pub definitions: Vec<DefinitionResult>,
    /// About the program rather than a part, each said once: a framework reloader in it that
    /// will restart it on saves anyway, and how to turn that off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefinitionResult {
    pub qualname: String,
    pub status: Status,
    /// Why, for programs: editors and the server decide on this, never on `message`.
    #[serde(default)]
    pub reason: Reason,
    /// Why, for people.
    #[serde(default)]
    pub message: String,
    /// Where the problem is (or where the part is, on success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
    /// Live function objects whose code was replaced.
    #[serde(default)]
    pub live_functions: u32,
    /// Where the old body still runs: frames on a thread's stack, suspended generators.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_running: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The program now runs the part as saved.
    Patched,
    /// The program already ran it as saved; nothing was touched.
    Unchanged,
    /// Created in the program.
    Added,
    /// Not taken, by a rule: the reason says which; the program keeps what it ran.
    Refused,
    /// Not taken: the part is broken (syntax error) or raised; the program keeps what it ran.
    Error,
    NotLoaded,
    Reverted,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Patched => "patched",
            Status::Unchanged => "unchanged",
            Status::Added => "added",
            Status::Refused => "refused",
            Status::Error => "error",
            Status::NotLoaded => "not-loaded",
            Status::Reverted => "reverted",
        }
    }

    /// Whether the program now runs what was sent.
    pub fn taken(self) -> bool {
        matches!(self, Status::Patched | Status::Unchanged | Status::Added)
    }
}

/// Why a part got its status: a stable slug for programs (`syntax-error`, `entry-point`).
/// `python/splice/reasons.py` holds the same words for the agent; a test keeps them equal.
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident,)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Reason {
            #[default]
            $($(#[$doc])* $variant,)*
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];
        }
    };
}

reasons! {
// Taken.
/// A function's code replaced in place.
CodeReplaced,
/// Same text at other lines: line numbers updated, code otherwise untouched.
LinesMoved,
/// Decorators changed: the function got the new code and was decorated and bound anew.
Redecorated,
/// A method's kind changed (plain, classmethod, staticmethod): the class attribute rebound.
Rebound,
/// A definition that did not exist was created.
Created,
/// A statement ran in the module's namespace.
StatementRan,
/// An import ran in the module's namespace.
ImportRan,
/// Class attributes were set on the live class.
AttributeSet,
/// A part removed from the file was removed from the program (a method, a class attribute,
/// a function).
Deleted,
/// A module-level lambda's body replaced in place.
LambdaReplaced,
/// Nothing differs from what runs.
SameCode,
// Not taken, by a rule.
/// A function became a generator or coroutine, or the reverse.
KindChanged,
/// A closure's free variables changed where live closures cannot provide them.
ClosureChanged,
/// A class's bases, metaclass, keywords or decorators changed.
ClassHeaderChanged,
/// Attributes of a class built by a metaclass or framework (Django, SQLAlchemy, pydantic).
MetaclassOwnsAttributes,
/// A dataclass field that cannot be changed in place.
DataclassField,
/// Enum members cannot change in place.
EnumMember,
/// The `if __name__ == "__main__":` block is never run again.
EntryPoint,
/// The program is executing this statement now (a top-level loop).
StatementRunning,
/// The module's body has not reached this statement yet.
NotReached,
/// A block that defines functions or classes is not run again.
BlockWithDefinitions,
/// Module statements are not run (`moduleStatements` is `ask` or `off`).
StatementNotRun,
/// A removed module-level statement: what it did stays in the program.
StatementNotUndone,
/// A definition in a branch the program did not take, or never executed.
NotDefined,
/// The program holds several functions by this name and none is at this definition's line.
Ambiguous,
/// An accessor added to a live property.
PropertyChanged,
/// The enclosing class or function is not in the program.
ContainerMissing,
/// A name the module's machinery owns (`__file__`, `__name__`, `__spec__`...).
ReservedName,
/// A part larger than a patch takes.
PartTooLarge,
// Not taken: broken or raised.
SyntaxError,
CompileError,
/// A statement or import raised.
StatementRaised,
/// A decorator raised (registering decorators refuse late registration).
DecoratorRaised,
/// Evaluating defaults or annotations raised.
DefaultsRaised,
/// Creating a definition raised.
DefinitionRaised,
/// The atomic commit failed and was undone.
CommitFailed,
/// No module of the program is loaded from the file.
FileNotLoaded,
/// Revert: nothing to undo.
NothingToRevert,
Reverted,
/// An engine bug; the program is unaffected.
Internal,}

impl Reason {
    /// The slug as sent.
    pub fn slug(self) -> String {
        match serde_json::to_value(self) {
            Ok(Value::String(slug)) => slug,
            _ => String::new(),
        }
    }
}

/// Lines count from 1, columns from 0 in Unicode code points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub line: u32,
    pub column: u32,
    pub end_line: u32,
    pub end_column: u32,
}

/// Wait for runtime events with a sequence number above `after`, for at most `timeout_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsParams {
    #[serde(default)]
    pub after: u64,
    #[serde(default)]
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventsResult {
    pub events: Vec<RuntimeEvent>,
    /// The highest sequence number handed out so far: the next call's `after`.
    pub last: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// Raised in code Splice patched (caught by the program or not).
    Exception,
    /// Reached `sys.excepthook` or `threading.excepthook`.
    Uncaught,
}

/// Something the program did at run time that the editor should show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuntimeEvent {
    /// Assigned by the agent; increasing.
    #[serde(default)]
    pub seq: u64,
    pub kind: EventKind,
    /// Where it was raised, innermost first.
    pub frames: Vec<Frame>,
    /// The exception's type, qualified (`ValueError`, `app.errors.Bad`).
    pub exception: String,
    pub message: String,
    /// How many times it was raised there so far.
    pub count: u64,
    pub thread: String,
    /// The patched function it was raised in, and when that patch was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patched: Option<PatchedFunction>,
    /// The raises were so many that the function now runs without counting them.
    #[serde(default)]
    pub counting_stopped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub path: String,
    pub line: u32,
    pub function: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchedFunction {
    pub qualname: String,
    /// Seconds since the Unix epoch.
    pub patched_at: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedResult {
    pub path: String,
    pub modules: Vec<String>,
    /// Qualified names of the functions and classes the running program holds from the file.
    pub definitions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    pub pid: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// Not JSON, or not UTF-8.
    ParseError,
    /// JSON, but not a request: a field missing or of the wrong type.
    InvalidRequest,
    UnknownMethod,
    /// Any method other than `handshake` before a handshake succeeded.
    HandshakeRequired,
    ProtocolMismatch,
    Unauthorized,
    TooLarge,
    Truncated,
    /// The agent failed on a well-formed request; the program is unaffected.
    Internal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: ErrorCode,
    pub message: String,
}

impl ErrorReply {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorReply {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ErrorReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = serde_json::to_value(self.code).unwrap_or(Value::Null);
        write!(f, "{}: {}", code.as_str().unwrap_or("error"), self.message)
    }
}

impl std::error::Error for ErrorReply {}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub id: Option<u64>,
    #[serde(flatten)]
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Result(Value),
    Error(ErrorReply),
}

impl Response {
    pub fn ok(id: u64, result: &impl Serialize) -> Response {
        match serde_json::to_value(result) {
            Ok(value) => Response {
                id: Some(id),
                outcome: Outcome::Result(value),
            },
            Err(err) => Response::error(Some(id), ErrorCode::Internal, err.to_string()),
        }
    }

    pub fn error(id: Option<u64>, code: ErrorCode, message: impl Into<String>) -> Response {
        Response {
            id,
            outcome: Outcome::Error(ErrorReply::new(code, message)),
        }
    }

    /// The typed result, or the agent's error.
    pub fn into_result<T: serde::de::DeserializeOwned>(self) -> Result<T, ErrorReply> {
        match self.outcome {
            Outcome::Result(value) => serde_json::from_value(value).map_err(|err| {
                ErrorReply::new(
                    ErrorCode::InvalidRequest,
                    format!("unexpected result: {err}"),
                )
            }),
            Outcome::Error(err) => Err(err),
        }
    }
}

/// Reads a request, telling a broken one apart from an unknown method or bad params, and
/// keeping its `id` whenever there is one so that the error reply can carry it.
/// A request that could not be read: its `id` if it had one, and the error to answer.
pub type Rejected = (Option<u64>, ErrorReply);

pub fn decode_request(bytes: &[u8]) -> Result<Request, Rejected> {
    decode_request_with_params(bytes).map(|(request, _)| request)
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
}

/// Like `decode_request`, also handing back the params as they were sent: a receiver that
/// passes them on (the agent to its engine) then needs no second serialization.
/// What serde cannot say about a request's params.
trait Checked {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

fn check_path(path: &str) -> Result<(), String> {
    if path.contains('\0') {
        return Err("`path` holds a NUL byte".into());
    }
    Ok(())
}

impl Checked for Handshake {}
impl Checked for EventsParams {}

impl Checked for PatchParams {
    fn check(&self) -> Result<(), String> {
        check_path(&self.path)
    }
}

impl Checked for RevertParams {
    fn check(&self) -> Result<(), String> {
        check_path(&self.path)
    }
}

impl Checked for LoadedParams {
    fn check(&self) -> Result<(), String> {
        check_path(&self.path)
    }
}

pub fn decode_request_with_params(bytes: &[u8]) -> Result<(Request, Option<&RawValue>), Rejected> {
    // Derived struct decoding would also take an array: a request is an object.
    let is_object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let parse_error = |err: String| (None, ErrorReply::new(ErrorCode::ParseError, err));
    if let Err(err) = std::str::from_utf8(bytes) {
        return Err(parse_error(format!("not UTF-8: {err}")));
    }
    if !is_object {
        let reply = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            Ok(_) => ErrorReply::new(ErrorCode::InvalidRequest, "a request is a JSON object"),
            Err(err) => ErrorReply::new(ErrorCode::ParseError, err.to_string()),
        };
        return Err((None, reply));
    }
    // Every field of the envelope takes any JSON: failing here means broken JSON.
    let envelope: Envelope<'_> =
        serde_json::from_slice(bytes).map_err(|err| parse_error(err.to_string()))?;
    let id = match &envelope.id {
        Some(Value::Number(n)) if n.is_u64() => n.as_u64(),
        _ => {
            return Err((
                None,
                ErrorReply::new(
                    ErrorCode::InvalidRequest,
                    "a request needs an unsigned integer `id`",
                ),
            ))
        }
    };
    let Some(Value::String(method)) = &envelope.method else {
        return Err((
            id,
            ErrorReply::new(
                ErrorCode::InvalidRequest,
                "a request needs a string `method`",
            ),
        ));
    };
    let params = envelope.params.filter(|raw| raw.get() != "null");
    fn typed<T: serde::de::DeserializeOwned + Checked>(
        method: &str,
        params: Option<&RawValue>,
    ) -> Result<T, ErrorReply> {
        let text = params.map_or("null", RawValue::get);
        let bad = |why: String| {
            ErrorReply::new(
                ErrorCode::InvalidRequest,
                format!("bad params for `{method}`: {why}"),
            )
        };
        // Derived struct decoding would also take an array: params are an object.
        if params.is_some_and(|raw| !raw.get().trim_start().starts_with('{')) {
            return Err(bad("params are a JSON object".into()));
        }
        let value: T = serde_json::from_str(text).map_err(|err| bad(err.to_string()))?;
        value.check().map_err(bad)?;
        Ok(value)
    }
    let call = match method.as_str() {
        "handshake" => typed(method, params).map(Call::Handshake),
        "ping" => Ok(Call::Ping),
        "patch" => typed(method, params).map(Call::Patch),
        "revert" => typed(method, params).map(Call::Revert),
        "loaded" => typed(method, params).map(Call::Loaded),
        "events" => typed(method, params).map(Call::Events),
        other => Err(ErrorReply::new(
            ErrorCode::UnknownMethod,
            format!(
                "unknown method `{other}`; this agent knows {}",
                METHODS.join(", ")
            ),
        )),
    };
    match call {
        Ok(call) => Ok((
            Request {
                id: id.unwrap_or_default(),
                call,
            },
            params,
        )),
        Err(err) => Err((id, err)),
    }
}
