//! `splice-lsp` keeps serving after any malformed message from the editor: each gets its
//! JSON-RPC error where one can be sent, and the next request is answered as usual. `exit`
//! without `shutdown` ends with status 1, as the LSP specification says.

mod common;

use common::{Lsp, Workspace};
use serde_json::{json, Value};

fn framed(body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    /// The error answered: (id, code), or None where nothing can be answered.
    answer: Option<(Value, i64)>,
}

#[test]
fn every_kind_of_malformed_message_gets_its_error_and_the_server_carries_on() {
    let cases = vec![
        Case {
            name: "invalid JSON",
            bytes: framed(b"{\"jsonrpc\": \"2.0\", \"id\": 1,"),
            answer: Some((Value::Null, -32700)),
        },
        Case {
            name: "invalid UTF-8",
            bytes: framed(b"{\"jsonrpc\": \"2.0\", \"method\": \"\xff\xfe\"}"),
            answer: Some((Value::Null, -32700)),
        },
        Case {
            name: "a batch array",
            bytes: framed(br#"[{"jsonrpc": "2.0", "id": 5, "method": "shutdown"}]"#),
            answer: Some((Value::Null, -32600)),
        },
        Case {
            name: "a JSON number",
            bytes: framed(b"42"),
            answer: Some((Value::Null, -32600)),
        },
        Case {
            name: "no jsonrpc member",
            bytes: framed(br#"{"id": 7, "method": "workspace/executeCommand"}"#),
            answer: Some((json!(7), -32600)),
        },
        Case {
            name: "jsonrpc 1.0",
            bytes: framed(br#"{"jsonrpc": "1.0", "id": 8, "method": "shutdown"}"#),
            answer: Some((json!(8), -32600)),
        },
        Case {
            name: "a method that is not a string",
            bytes: framed(br#"{"jsonrpc": "2.0", "id": 9, "method": 3}"#),
            answer: Some((json!(9), -32600)),
        },
        Case {
            name: "an id that is an object",
            bytes: framed(br#"{"jsonrpc": "2.0", "id": {}, "method": "shutdown"}"#),
            answer: Some((Value::Null, -32600)),
        },
        Case {
            name: "neither method nor result",
            bytes: framed(br#"{"jsonrpc": "2.0", "id": 10}"#),
            answer: Some((Value::Null, -32600)),
        },
        Case {
            name: "a non-numeric Content-Length",
            bytes: b"Content-Length: twelve\r\n\r\n{\"a\": 1}".to_vec(),
            answer: Some((Value::Null, -32700)),
        },
        Case {
            name: "no Content-Length",
            bytes: b"Content-Type: application/json\r\n\r\n{\"a\": 1}".to_vec(),
            answer: Some((Value::Null, -32700)),
        },
        Case {
            name: "an empty body",
            bytes: framed(b""),
            answer: Some((Value::Null, -32700)),
        },
        Case {
            name: "a notification without jsonrpc",
            bytes: framed(br#"{"method": "initialized"}"#),
            answer: None,
        },
    ];
    let ws = Workspace::new();
    let (mut lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    let mut failures = Vec::new();
    for case in &cases {
        lsp.send_bytes(&case.bytes);
        if let Some((id, code)) = &case.answer {
            let error = lsp.error_response(id.clone());
            if error["error"]["code"] != json!(code) {
                failures.push(format!("{}: {error}", case.name));
            }
        }
        // Still serving: a request right after is answered.
        let agents = lsp.request(
            "workspace/executeCommand",
            json!({"command": "splice.listAgents"}),
        );
        if !agents.is_array() {
            failures.push(format!("{}: listAgents answered {agents}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(lsp.exit(true).success());
}

#[test]
fn exit_without_shutdown_ends_with_status_1() {
    let ws = Workspace::new();
    let (lsp, _) = Lsp::initialized(&ws, &["utf-16"], json!({}));
    assert_eq!(lsp.exit(false).code(), Some(1));
}
