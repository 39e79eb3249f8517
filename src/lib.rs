//! The language server's domain: documents, the Python index, agents, patching and the notes
//! documents show, as plain Rust testable without an editor; `lsp` is the only module that
//! knows LSP types.

pub use splice_source::{changes, chunks, document, python_index};

pub mod agents;
pub mod answers;
pub mod diagnostics;
pub mod lenses;
pub mod lsp;
pub mod patching;
pub mod positions;
pub mod processes;
pub mod session;
pub mod settings;
