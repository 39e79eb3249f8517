//! What the benches share: the Python file they work on, a deterministic random source and
//! percentiles.

#![allow(dead_code)]

/// The file to work on: `$SPLICE_BENCH_SOURCE` when set (`bench/lsp_bench.py` passes the
/// modules it generates), else about `lines` lines made by the same generator
/// (`bench/agent_bench.py`, through the project's `.venv` Python). Returns (text, origin).
pub fn source(lines: usize) -> (String, String) {
    if let Ok(path) = std::env::var("SPLICE_BENCH_SOURCE") {
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        return (text, path);
    }
    let bench = concat!(env!("CARGO_MANIFEST_DIR"), "/bench");
    let script = format!(
        "import sys; sys.path.insert(0, {bench:?}); import agent_bench; \
         sys.stdout.write(agent_bench.generate_target({lines}))"
    );
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python");
    let python = if std::path::Path::new(venv).exists() {
        venv
    } else {
        "python3"
    };
    let out = std::process::Command::new(python)
        .args(["-c", &script])
        .output()
        .expect("Python runs bench/agent_bench.py's generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("generated text is UTF-8");
    (text, "bench/agent_bench.py generate_target".into())
}

/// xorshift64*: deterministic positions without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    let rank = (fraction * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summary(mut samples: Vec<u64>) -> serde_json::Value {
    samples.sort_unstable();
    let mean = samples.iter().sum::<u64>() / samples.len() as u64;
    serde_json::json!({
        "n": samples.len(),
        "p50": percentile(&samples, 0.50),
        "p90": percentile(&samples, 0.90),
        "p99": percentile(&samples, 0.99),
        "max": samples[samples.len() - 1],
        "mean": mean,
        "over_1ms": samples.iter().filter(|&&t| t > 1_000_000).count(),
    })
}

pub fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}
