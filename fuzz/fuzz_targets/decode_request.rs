//! The agent's framing and request decoding on arbitrary bytes: no panic, no hang.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = std::io::BufReader::new(data);
    let mut buf = Vec::new();
    while let Ok(true) = splice_protocol::framing::read_frame(&mut reader, &mut buf, 1 << 20) {
        let _ = splice_protocol::decode_request_with_params(&buf);
    }
});
