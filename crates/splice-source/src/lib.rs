//! Python files as Splice sees them: cut into top-level chunks, each parsed on its own
//! (`chunks`, `document`), their definitions and the context each compiles in
//! (`python_index`), and what a save changed for a program that took an earlier text
//! (`changes`). splice-lsp and the agent's file watcher share it.

pub mod changes;
pub mod chunks;
pub mod document;
pub mod python_index;
