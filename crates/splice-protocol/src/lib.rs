//! The wire protocol between `splice-lsp` and the agent inside a Python program, defined once
//! and used by both. Plain std, serde and libc: the agent's build pulls in nothing else.

pub mod client;
pub mod discovery;
pub mod framing;
pub mod messages;

pub use messages::*;
