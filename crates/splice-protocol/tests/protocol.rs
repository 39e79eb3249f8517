use std::io::Cursor;

use serde_json::json;
use splice_protocol::framing::{read_frame, write_frame, FrameError};
use splice_protocol::*;

type Decoded = Result<Request, (Option<u64>, ErrorCode)>;
type FrameCase<'a> = (&'a [u8], usize, Vec<Result<String, String>>);

fn decode(text: &str) -> Decoded {
    decode_request(text.as_bytes()).map_err(|(id, err)| (id, err.code))
}

#[test]
fn requests_decode_by_method() {
    let cases: &[(&str, Decoded)] = &[
        (
            r#"{"id":1,"method":"ping"}"#,
            Ok(Request {
                id: 1,
                call: Call::Ping,
            }),
        ),
        (
            r#"{"id":2,"method":"ping","params":null}"#,
            Ok(Request {
                id: 2,
                call: Call::Ping,
            }),
        ),
        (
            r#"{"id":3,"method":"loaded","params":{"path":"/a.py"}}"#,
            Ok(Request {
                id: 3,
                call: Call::Loaded(LoadedParams {
                    path: "/a.py".into(),
                }),
            }),
        ),
        (
            r#"{"id":4,"method":"handshake","params":{"protocol_version":1}}"#,
            Ok(Request {
                id: 4,
                call: Call::Handshake(Handshake {
                    protocol_version: 1,
                    client: String::new(),
                    token: None,
                }),
            }),
        ),
        ("not json", Err((None, ErrorCode::ParseError))),
        ("[1,2]", Err((None, ErrorCode::InvalidRequest))),
        (
            r#"{"method":"ping"}"#,
            Err((None, ErrorCode::InvalidRequest)),
        ),
        (
            r#"{"id":-1,"method":"ping"}"#,
            Err((None, ErrorCode::InvalidRequest)),
        ),
        (r#"{"id":5}"#, Err((Some(5), ErrorCode::InvalidRequest))),
        (
            r#"{"id":6,"method":"explode"}"#,
            Err((Some(6), ErrorCode::UnknownMethod)),
        ),
        (
            r#"{"id":7,"method":"patch","params":{"path":3}}"#,
            Err((Some(7), ErrorCode::InvalidRequest)),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(&decode(text), expected, "decoding {text}");
    }
}

#[test]
fn requests_round_trip() {
    let request = Request {
        id: 9,
        call: Call::Patch(PatchParams {
            path: "/x/app.py".into(),
            source: Some("def f():\n    return 1\n".into()),
            definitions: vec![Definition {
                qualname: "f".into(),
                source: Some("def f():\n    return 1\n".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    };
    let bytes = serde_json::to_vec(&request).unwrap();
    assert_eq!(decode_request(&bytes).unwrap(), request);
}

#[test]
fn responses_carry_result_or_error() {
    let ok = Response::ok(3, &Pong { pid: 42 });
    assert_eq!(
        serde_json::to_value(&ok).unwrap(),
        json!({"id": 3, "result": {"pid": 42}})
    );
    let err = Response::error(None, ErrorCode::TooLarge, "big");
    assert_eq!(
        serde_json::to_value(&err).unwrap(),
        json!({"id": null, "error": {"code": "too-large", "message": "big"}})
    );
    let status = serde_json::to_value(Status::NotLoaded).unwrap();
    assert_eq!(status, json!("not-loaded"));
}

fn frames(input: &[u8], limit: usize) -> Vec<Result<String, String>> {
    let mut reader = Cursor::new(input.to_vec());
    let mut buf = Vec::new();
    let mut out = Vec::new();
    loop {
        match read_frame(&mut reader, &mut buf, limit) {
            Ok(true) => out.push(Ok(String::from_utf8_lossy(&buf).into_owned())),
            Ok(false) => return out,
            Err(FrameError::TooLarge { .. }) => out.push(Err("too-large".into())),
            Err(FrameError::Truncated { received }) => {
                out.push(Err(format!("truncated {received}")));
                return out;
            }
            Err(FrameError::Io(err)) => panic!("{err}"),
        }
    }
}

#[test]
fn frames_split_on_newlines_and_survive_oversize() {
    let ok = |s: &str| Ok(s.to_owned());
    let err = |s: &str| Err(s.to_owned());
    let cases: &[FrameCase] = &[
        (b"{}\n{\"a\":1}\n", 100, vec![ok("{}"), ok("{\"a\":1}")]),
        (b"\n\n{}\n", 100, vec![ok("{}")]),
        (b"0123456789\n{}\n", 5, vec![err("too-large"), ok("{}")]),
        (b"{}\n{\"a\"", 100, vec![ok("{}"), err("truncated 4")]),
        (b"0123456789", 5, vec![err("too-large")]),
        (b"", 5, vec![]),
    ];
    for (input, limit, expected) in cases {
        assert_eq!(
            &frames(input, *limit),
            expected,
            "framing {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn written_frames_are_single_lines() {
    let mut out = Vec::new();
    write_frame(&mut out, &json!({"text": "a\nb"})).unwrap();
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    assert!(out.ends_with(b"\n"));
}

#[test]
fn records_read_back_exactly_as_written() {
    use splice_protocol::discovery::{
        ensure_private_dir, list_agents, socket_path, write_record, AgentRecord,
    };
    let dir = std::env::temp_dir().join(format!("splice-records-{}", std::process::id()));
    ensure_private_dir(&dir).unwrap();
    for started_at in [1795240053.6383903, 1700000000.123456, 0.1, 1e-300] {
        let record = AgentRecord {
            info: AgentInfo {
                pid: std::process::id(),
                argv: vec!["app.py".into()],
                cwd: "/".into(),
                python_version: "3.11.7".into(),
                python_executable: "/usr/bin/python3".into(),
                protocol_version: PROTOCOL_VERSION,
                agent_version: "0.1.0".into(),
                address: format!("unix:{}", socket_path(&dir, std::process::id()).display()),
                started_at,
                parent_pid: None,
            },
            token: None,
        };
        write_record(&dir, &record).unwrap();
        assert_eq!(
            list_agents(&dir).unwrap().agents,
            vec![record],
            "started_at {started_at}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn agent_reason_words_are_the_protocol_reasons() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../python/splice/reasons.py"
    );
    let text = std::fs::read_to_string(path).expect("python/splice/reasons.py");
    let reasons = &text[text.find("# Reasons").expect("a `# Reasons` section")..];
    let python: Vec<String> = reasons
        .lines()
        .filter_map(|line| line.split_once(" = \""))
        .map(|(_, word)| word.trim_end_matches('"').to_owned())
        .collect();
    let rust: Vec<String> = splice_protocol::Reason::ALL
        .iter()
        .map(|r| r.slug())
        .collect();
    assert_eq!(python, rust);
}
