//! `splice-lsp`: patches edited Python functions into running programs. LSP on stdio; logs on
//! stderr (`SPLICE_LOG=debug` for more).

use std::io::Write;

const HELP: &str = "splice-lsp: patches edited Python functions into running programs

USAGE: splice-lsp [--stdio]    serve the Language Server Protocol on stdin/stdout
       splice-lsp --version
       splice-lsp --help

Programs are found through the agents' records in the runtime folder ($SPLICE_RUNTIME_DIR,
else $XDG_RUNTIME_DIR/splice, else /tmp/splice-<uid>). Start a program with its agent:
python -m splice app.py";

fn main() -> std::process::ExitCode {
    let mut stdout = std::io::stdout();
    match std::env::args().nth(1).as_deref() {
        None | Some("--stdio") => {}
        Some("--version" | "-V") => {
            let _ = writeln!(
                stdout,
                "splice-lsp {} (protocol {})",
                env!("CARGO_PKG_VERSION"),
                splice_protocol::PROTOCOL_VERSION
            );
            return std::process::ExitCode::SUCCESS;
        }
        Some("--help" | "-h") => {
            let _ = writeln!(stdout, "{HELP}");
            return std::process::ExitCode::SUCCESS;
        }
        Some(other) => {
            eprintln!("splice-lsp: unknown argument {other}\n\n{HELP}");
            return std::process::ExitCode::from(2);
        }
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SPLICE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("splice-lsp: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let clean = runtime.block_on(splice_lsp::lsp::serve_stdio());
    // The LSP specification: `exit` without `shutdown` first ends with status 1.
    let status = if clean {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    };
    // Threads still blocked on stdin or on agents must not hold the exit up.
    runtime.shutdown_background();
    status
}
