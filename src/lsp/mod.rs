//! The only module that knows LSP types.

pub mod backend;
pub mod convert;
pub mod ext;

use tower_lsp_server::{LspService, Server};

/// Serves LSP on stdin/stdout until the client exits.
pub async fn serve_stdio() {
    let (service, socket) = LspService::new(backend::Backend::new);
    Server::new(tokio::io::stdin(), tokio::io::stdout(), socket)
        .serve(service)
        .await;
}
