//! Framing: one JSON document per line. Serialized JSON never holds a raw newline, so a
//! newline is an unambiguous frame end, and a peer that sends too much can be skipped to the
//! next line without losing the connection.

use std::io::{self, BufRead, Write};

use serde::Serialize;

/// Large enough for a 5 MB file sent twice (whole text and a definition's context) with JSON
/// escaping; small enough that a runaway peer cannot exhaust memory.
pub const MAX_FRAME_BYTES: usize = 32 << 20;

#[derive(Debug)]
pub enum FrameError {
    /// The line was longer than the limit; it has been skipped, the stream is usable.
    TooLarge {
        limit: usize,
    },
    /// The stream ended inside a frame; `received` bytes came before the end.
    Truncated {
        received: usize,
    },
    Io(io::Error),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::TooLarge { limit } => {
                write!(f, "message larger than the {limit}-byte limit; skipped")
            }
            FrameError::Truncated { received } => {
                write!(
                    f,
                    "stream ended inside a message after {received} bytes (no newline)"
                )
            }
            FrameError::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for FrameError {}

impl From<io::Error> for FrameError {
    fn from(err: io::Error) -> Self {
        FrameError::Io(err)
    }
}

/// Reads the next frame into `buf` (cleared first). `Ok(false)` is a clean end of stream.
pub fn read_frame(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, FrameError> {
    buf.clear();
    let mut oversized = false;
    let mut received = 0usize;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(chunk) => chunk,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err.into()),
        };
        if chunk.is_empty() {
            return match (received, oversized) {
                (0, _) => Ok(false),
                (_, true) => Err(FrameError::TooLarge { limit }),
                (received, false) => Err(FrameError::Truncated { received }),
            };
        }
        let (body, found_end) = match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => (&chunk[..at], true),
            None => (chunk, false),
        };
        received += body.len();
        if !oversized {
            if buf.len() + body.len() > limit {
                oversized = true;
                buf.clear();
            } else {
                buf.extend_from_slice(body);
            }
        }
        let consumed = body.len() + usize::from(found_end);
        reader.consume(consumed);
        if found_end {
            if oversized {
                return Err(FrameError::TooLarge { limit });
            }
            // Blank lines between frames are tolerated, as from a person typing into socat.
            if buf.iter().all(u8::is_ascii_whitespace) {
                buf.clear();
                received = 0;
                continue;
            }
            return Ok(true);
        }
    }
}

pub fn write_frame(writer: &mut impl Write, message: &impl Serialize) -> io::Result<()> {
    let mut bytes = serde_json::to_vec(message)?;
    bytes.push(b'\n');
    writer.write_all(&bytes)?;
    writer.flush()
}
