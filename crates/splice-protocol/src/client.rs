//! A blocking client: connect to an agent's address, handshake, send typed calls.

use std::io::{self, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::framing::{read_frame, MAX_FRAME_BYTES};
use crate::messages::{
    AgentInfo, Call, ErrorCode, ErrorReply, Handshake, Request, Response, PROTOCOL_VERSION,
};

/// An agent's address as written in its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(std::path::PathBuf),
    Tcp(String),
}

impl Address {
    pub fn parse(text: &str) -> Result<Address, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            Ok(Address::Unix(path.into()))
        } else if let Some(host_port) = text.strip_prefix("tcp:") {
            Ok(Address::Tcp(host_port.to_owned()))
        } else {
            Err(format!(
                "`{text}` is not an agent address (unix:PATH or tcp:HOST:PORT)"
            ))
        }
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Address::Unix(path) => write!(f, "unix:{}", path.display()),
            Address::Tcp(host_port) => write!(f, "tcp:{host_port}"),
        }
    }
}

trait Stream: io::Read + io::Write + Send {}
impl<T: io::Read + io::Write + Send> Stream for T {}

#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The agent answered with an error.
    Agent(ErrorReply),
    /// The agent closed the connection before answering (most often: the program exited).
    Closed,
    /// The agent's answer made no sense (wrong id, bad JSON).
    Protocol(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(err) => write!(f, "{err}"),
            ClientError::Agent(err) => write!(f, "{err}"),
            ClientError::Closed => write!(f, "the agent closed the connection"),
            ClientError::Protocol(msg) => write!(f, "protocol error: {msg}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(err: io::Error) -> Self {
        ClientError::Io(err)
    }
}

pub struct Client {
    reader: BufReader<Box<dyn Stream>>,
    writer: Box<dyn Stream>,
    next_id: u64,
    buf: Vec<u8>,
    pub agent: AgentInfo,
}

impl Client {
    /// Connects and performs the handshake; `timeout` bounds every later read and write.
    pub fn connect(
        address: &Address,
        token: Option<String>,
        timeout: Option<Duration>,
    ) -> Result<Client, ClientError> {
        let (reader, writer): (Box<dyn Stream>, Box<dyn Stream>) = match address {
            Address::Unix(path) => {
                let stream = UnixStream::connect(path)?;
                stream.set_read_timeout(timeout)?;
                stream.set_write_timeout(timeout)?;
                (Box::new(stream.try_clone()?), Box::new(stream))
            }
            Address::Tcp(host_port) => {
                let stream = TcpStream::connect(host_port)?;
                stream.set_nodelay(true)?;
                stream.set_read_timeout(timeout)?;
                stream.set_write_timeout(timeout)?;
                (Box::new(stream.try_clone()?), Box::new(stream))
            }
        };
        let mut client = Client {
            reader: BufReader::new(reader),
            writer,
            next_id: 1,
            buf: Vec::new(),
            agent: placeholder_info(),
        };
        let handshake = Call::Handshake(Handshake {
            protocol_version: PROTOCOL_VERSION,
            client: format!("splice-protocol {}", env!("CARGO_PKG_VERSION")),
            token,
        });
        client.agent = client.call(&handshake)?;
        Ok(client)
    }

    /// Sends one call and reads its response.
    pub fn call<T: serde::de::DeserializeOwned>(&mut self, call: &Call) -> Result<T, ClientError> {
        let response = self.call_raw(call)?;
        response.into_result().map_err(ClientError::Agent)
    }

    pub fn call_raw(&mut self, call: &Call) -> Result<Response, ClientError> {
        self.call_line(|id| {
            let request = Request {
                id,
                call: call.clone(),
            };
            serde_json::to_string(&request).map_err(|e| ClientError::Protocol(e.to_string()))
        })
    }

    /// Sends a request the caller serialized for the `id` it is given: one line of JSON.
    pub fn call_line(
        &mut self,
        line_for: impl FnOnce(u64) -> Result<String, ClientError>,
    ) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = line_for(id)?;
        if line.contains('\n') {
            return Err(ClientError::Protocol("a request must be one line".into()));
        }
        line.push('\n');
        self.writer.write_all(line.as_bytes())?;
        self.writer.flush()?;
        match read_frame(&mut self.reader, &mut self.buf, MAX_FRAME_BYTES) {
            Ok(true) => {}
            Ok(false) => return Err(ClientError::Closed),
            Err(crate::framing::FrameError::Io(err)) => return Err(ClientError::Io(err)),
            Err(err) => return Err(ClientError::Protocol(err.to_string())),
        }
        let response: Response = serde_json::from_slice(&self.buf)
            .map_err(|err| ClientError::Protocol(format!("unreadable response: {err}")))?;
        if response.id != Some(id) {
            if let crate::messages::Outcome::Error(err) = response.outcome {
                return Err(ClientError::Agent(err));
            }
            return Err(ClientError::Protocol(format!(
                "response to request {:?}, expected {id}",
                response.id
            )));
        }
        Ok(response)
    }
}

fn placeholder_info() -> AgentInfo {
    AgentInfo {
        pid: 0,
        argv: Vec::new(),
        cwd: String::new(),
        python_version: String::new(),
        python_executable: String::new(),
        protocol_version: 0,
        agent_version: String::new(),
        address: String::new(),
        started_at: 0.0,
        parent_pid: None,
    }
}

impl ClientError {
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Agent(err) => Some(err.code),
            _ => None,
        }
    }
}
