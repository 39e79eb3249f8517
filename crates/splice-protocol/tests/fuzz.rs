//! The agent's framing and request decoding under mutated input, in the suite: a fixed seed
//! and a fixed number of cases, so a failure reproduces. Every frame read must end in exactly
//! one decoded request or one rejection, never a panic, and the stream stays in step (the
//! frames after a bad one are read as sent). `fuzz/` holds the same as a cargo-fuzz target.

use std::io::BufReader;

use splice_protocol::framing::{read_frame, FrameError};
use splice_protocol::{decode_request_with_params, Request};

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: [&str; 8] = [
    r#"{"id": 1, "method": "handshake", "params": {"protocol_version": 3, "client": "x"}}"#,
    r#"{"id": 2, "method": "ping"}"#,
    r#"{"id": 3, "method": "patch", "params": {"path": "/a.py", "source": "def f():\n    return 1\n", "definitions": [{"qualname": "f", "kind": "definition", "change": "changed", "source": "def f():\n    return 1\n", "source_line": 3}]}}"#,
    r#"{"id": 4, "method": "revert", "params": {"path": "/a.py", "qualnames": ["f"]}}"#,
    r#"{"id": 5, "method": "loaded", "params": {"path": "/a.py"}}"#,
    r#"{"id": 6, "method": "events", "params": {"after": 0, "timeout_ms": 1}}"#,
    r#"{"id": 7, "method": "patch", "params": {"path": "/a.py", "definitions": [], "statements": "skip"}}"#,
    r#"[{"id": 8, "method": "ping"}]"#,
];

const TOKENS: [&[u8]; 12] = [
    b"{", b"}", b"[", b"]", b"\"", b":", b",", b"null", b"\\u0000", b"\xff", b"1e999", b"-1",
];

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if !bytes.is_empty() => {
                let end = (at + rng.below(8)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            1 => bytes
                .splice(at..at, TOKENS[rng.below(TOKENS.len())].iter().copied())
                .for_each(drop),
            2 if at < bytes.len() => bytes[at] = (rng.next() & 0xff) as u8,
            _ => bytes.insert(at, (rng.next() & 0x7f) as u8),
        }
    }
    // A newline inside would split the frame: the test counts frames as sent.
    bytes.retain(|&b| b != b'\n');
    bytes
}

#[test]
fn mutated_requests_each_get_one_answer_and_the_stream_stays_in_step() {
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for round in 0..2_000 {
        let mut stream = Vec::new();
        let mut sent = Vec::new();
        for _ in 0..10 {
            let seed = SEEDS[rng.below(SEEDS.len())].as_bytes();
            let frame = if rng.below(3) == 0 {
                seed.to_vec()
            } else {
                mutate(&mut rng, seed)
            };
            if frame.iter().all(u8::is_ascii_whitespace) {
                continue; // blank lines are not frames
            }
            stream.extend_from_slice(&frame);
            stream.push(b'\n');
            sent.push(frame);
        }
        let mut reader = BufReader::new(stream.as_slice());
        let mut buf = Vec::new();
        for (n, frame) in sent.iter().enumerate() {
            match read_frame(&mut reader, &mut buf, 1 << 20) {
                Ok(true) => assert_eq!(&buf, frame, "round {round}, frame {n}"),
                other => panic!("round {round}, frame {n}: {other:?}"),
            }
            // Exactly one outcome, whatever the bytes.
            let _: Result<(Request, _), _> = decode_request_with_params(&buf);
        }
        assert!(matches!(
            read_frame(&mut reader, &mut buf, 1 << 20),
            Ok(false)
        ));
    }
}

#[test]
fn a_stream_cut_anywhere_ends_in_a_clean_end_or_a_truncated_frame() {
    let mut rng = Rng(42);
    let whole = SEEDS.join("\n") + "\n";
    for _ in 0..500 {
        let cut = rng.below(whole.len());
        let mut reader = BufReader::new(&whole.as_bytes()[..cut]);
        let mut buf = Vec::new();
        loop {
            match read_frame(&mut reader, &mut buf, 1 << 20) {
                Ok(true) => continue,
                Ok(false) | Err(FrameError::Truncated { .. }) => break,
                Err(other) => panic!("cut at {cut}: {other}"),
            }
        }
    }
}
