//! The stdio transport, tolerant of bad input. tower-lsp-server ends its loop on a message it
//! cannot frame or decode, so every message from the editor passes through here first: what
//! is well formed goes on to it unchanged, what is not gets its JSON-RPC error (parse error,
//! invalid request) and the server carries on. Its replies and ours reach stdout as whole
//! frames, never interleaved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt,
};
use tokio::sync::mpsc;

/// The largest message taken; a 50 MB document sent whole, with JSON escaping, fits.
pub const MAX_MESSAGE_BYTES: usize = 256 << 20;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// What the editor said about ending the session.
#[derive(Debug, Default)]
pub struct Ending {
    shutdown: AtomicBool,
}

impl Ending {
    /// `exit` after `shutdown` is a clean end; without it, the LSP specification says status 1.
    pub fn clean(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }
}

/// One frame read from a stream.
#[derive(Debug, PartialEq)]
pub enum Frame {
    Message(Vec<u8>),
    /// Headers without a usable `Content-Length`, or one over the limit (its body skipped).
    Broken(String),
}

/// Reads the next frame; `None` at the end of the stream. After a broken header block it
/// skips to the next `Content-Length:`, so that one bad message costs only itself.
pub async fn read_frame(
    reader: &mut (impl AsyncBufRead + Unpin),
) -> std::io::Result<Option<Frame>> {
    let mut length: Option<Result<usize, String>> = None;
    let mut seen_any = false;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if !seen_any {
                continue;
            }
            break;
        }
        seen_any = true;
        // Garbage before the headers (the tail of a message whose length was wrong).
        let header = match text.find("Content-Length:") {
            Some(at) => &text[at..],
            None => text,
        };
        if let Some((name, value)) = header.split_once(':') {
            if name.trim().eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| format!("bad Content-Length `{}`", value.trim())),
                );
            }
        }
    }
    match length {
        None => Ok(Some(Frame::Broken(
            "a message without Content-Length".into(),
        ))),
        Some(Err(why)) => Ok(Some(Frame::Broken(why))),
        Some(Ok(n)) if n > MAX_MESSAGE_BYTES => {
            tokio::io::copy(&mut reader.take(n as u64), &mut tokio::io::sink()).await?;
            Ok(Some(Frame::Broken(format!(
                "a message of {n} bytes, over the {MAX_MESSAGE_BYTES}-byte limit; skipped"
            ))))
        }
        Some(Ok(n)) => {
            let mut body = vec![0; n];
            reader.read_exact(&mut body).await?;
            Ok(Some(Frame::Message(body)))
        }
    }
}

pub async fn write_frame(
    writer: &mut (impl AsyncWrite + Unpin),
    body: &[u8],
) -> std::io::Result<()> {
    // One write per frame: stdout's writes each cost a trip through tokio's blocking threads.
    let mut frame = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    frame.extend_from_slice(body);
    writer.write_all(&frame).await?;
    writer.flush().await
}

/// What to do with one message from the editor.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    /// Well formed: on to the server (and whether it is the `shutdown` request).
    Pass { shutdown: bool },
    /// Answered here with this error (the response's body).
    Answer(Vec<u8>),
    /// Broken, but nothing can be answered (a notification has no id to answer).
    Drop(String),
}

/// The members of a message that say what it is; the rest is checked as JSON, not built.
#[derive(serde::Deserialize)]
struct Envelope {
    jsonrpc: Option<Value>,
    id: Option<Value>,
    method: Option<Value>,
    /// Whether the member is there: `"result": null` is the answer to many requests (the
    /// editor's to `workspace/codeLens/refresh`).
    #[serde(default, deserialize_with = "present")]
    result: bool,
    #[serde(default, deserialize_with = "present")]
    error: bool,
}

fn present<'de, D: serde::Deserializer<'de>>(value: D) -> Result<bool, D::Error> {
    <serde::de::IgnoredAny as serde::Deserialize>::deserialize(value).map(|_| true)
}

/// Checks one message body as JSON-RPC 2.0 over LSP: valid UTF-8 JSON, one object (no
/// batches), `"jsonrpc": "2.0"`, a string `method` when present.
pub fn judge(body: &[u8]) -> Verdict {
    let text = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(err) => return error(Value::Null, PARSE_ERROR, format!("not UTF-8: {err}")),
    };
    let first = text.trim_start().chars().next();
    if first != Some('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(err) => error(Value::Null, PARSE_ERROR, format!("not JSON: {err}")),
            Ok(_) => {
                let what = if first == Some('[') {
                    "a batch (LSP has none)"
                } else {
                    "not an object"
                };
                let why = format!("a message is one JSON object, not {what}");
                error(Value::Null, INVALID_REQUEST, why)
            }
        };
    }
    let message: Envelope = match serde_json::from_str(text) {
        Ok(message) => message,
        Err(err) => return error(Value::Null, PARSE_ERROR, format!("not JSON: {err}")),
    };
    let valid_id = matches!(
        &message.id,
        None | Some(Value::Number(_) | Value::String(_))
    );
    let is_response = message.result || message.error;
    let problem = if message.jsonrpc != Some(json!("2.0")) {
        Some("`jsonrpc` must be \"2.0\"".to_owned())
    } else if !valid_id {
        Some("`id` must be a number or a string".to_owned())
    } else {
        match &message.method {
            Some(Value::String(_)) => None,
            Some(_) => Some("`method` must be a string".to_owned()),
            None if is_response => None,
            None => Some("a message needs a `method` (or is a response)".to_owned()),
        }
    };
    let Some(why) = problem else {
        let shutdown = message.id.is_some() && message.method == Some(json!("shutdown"));
        return Verdict::Pass { shutdown };
    };
    match (message.id, message.method.is_some()) {
        (Some(id), true) if valid_id => error(id, INVALID_REQUEST, why),
        (Some(_), _) | (None, false) => error(Value::Null, INVALID_REQUEST, why),
        (None, true) => Verdict::Drop(why),
    }
}

fn error(id: Value, code: i64, message: String) -> Verdict {
    let response = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}});
    Verdict::Answer(serde_json::to_vec(&response).unwrap_or_default())
}

/// Copies the editor's messages to the server, answering bad ones itself; notes `shutdown`.
pub async fn filter_input(
    mut from_editor: impl AsyncBufRead + Unpin,
    mut to_server: impl AsyncWrite + Unpin,
    answers: mpsc::UnboundedSender<Vec<u8>>,
    ending: Arc<Ending>,
) {
    loop {
        let frame = match read_frame(&mut from_editor).await {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => return,
        };
        let body = match frame {
            Frame::Message(body) => body,
            Frame::Broken(why) => {
                tracing::warn!("dropped a message from the editor: {why}");
                if let Verdict::Answer(reply) = error(Value::Null, PARSE_ERROR, why) {
                    let _ = answers.send(reply);
                }
                continue;
            }
        };
        match judge(&body) {
            Verdict::Pass { shutdown } => {
                if shutdown {
                    ending.shutdown.store(true, Ordering::Release);
                }
                if write_frame(&mut to_server, &body).await.is_err() {
                    return;
                }
            }
            Verdict::Answer(reply) => {
                tracing::warn!("answered a malformed message from the editor with an error");
                let _ = answers.send(reply);
            }
            Verdict::Drop(why) => tracing::warn!("dropped a message from the editor: {why}"),
        }
    }
}

/// Writes the server's frames and the filter's answers to the editor, each whole.
pub async fn merge_output(
    mut from_server: impl AsyncRead + Unpin,
    mut answers: mpsc::UnboundedReceiver<Vec<u8>>,
    mut to_editor: impl AsyncWrite + Unpin,
) {
    let mut from_server = tokio::io::BufReader::new(&mut from_server);
    let mut answers_open = true;
    loop {
        let body = tokio::select! {
            frame = read_frame(&mut from_server) => match frame {
                Ok(Some(Frame::Message(body))) => body,
                Ok(Some(Frame::Broken(_))) => continue,
                // The server ended (after `exit`): what it wrote is out; answers still queued go too.
                Ok(None) | Err(_) => break,
            },
            answer = answers.recv(), if answers_open => match answer {
                Some(body) => body,
                None => {
                    answers_open = false;
                    continue;
                }
            },
        };
        if write_frame(&mut to_editor, &body).await.is_err() {
            return;
        }
    }
    while let Ok(body) = answers.try_recv() {
        if write_frame(&mut to_editor, &body).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_pass_whatever_their_result() {
        for body in [
            br#"{"jsonrpc": "2.0", "id": 1, "result": null}"#.as_slice(),
            br#"{"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}"#,
            br#"{"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "no"}}"#,
        ] {
            assert_eq!(
                judge(body),
                Verdict::Pass { shutdown: false },
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        assert!(matches!(
            judge(br#"{"jsonrpc": "2.0", "id": 1}"#),
            Verdict::Answer(_)
        ));
    }
}
