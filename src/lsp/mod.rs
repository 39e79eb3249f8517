//! The only module that knows LSP types.

pub mod backend;
pub mod convert;
pub mod ext;
pub mod transport;

use std::sync::Arc;

use tower_lsp_server::{LspService, Server};

/// Serves LSP on stdin/stdout until the client exits, through the tolerant transport; whether
/// the session ended cleanly (`shutdown` before `exit`).
pub async fn serve_stdio() -> bool {
    let (service, socket) = LspService::new(backend::Backend::new);
    let (to_server, server_in) = tokio::io::duplex(1 << 16);
    let (server_out, from_server) = tokio::io::duplex(1 << 16);
    let (answers, answered) = tokio::sync::mpsc::unbounded_channel();
    let ending = Arc::new(transport::Ending::default());
    let stdin = tokio::io::BufReader::new(tokio::io::stdin());
    tokio::spawn(transport::filter_input(
        stdin,
        to_server,
        answers,
        ending.clone(),
    ));
    let output = tokio::spawn(transport::merge_output(
        from_server,
        answered,
        tokio::io::stdout(),
    ));
    Server::new(server_in, server_out, socket)
        .serve(service)
        .await;
    let _ = output.await;
    ending.clean()
}
