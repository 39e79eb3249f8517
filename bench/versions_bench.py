"""Apply latency and call cost on every CPython of this machine: `make bench-versions`.

For each `.venvs/3.X` (made by `make test-agent`, one per CPython found), the current wheel is
installed and this script runs again under that Python with `--one`, which measures:
- 1b. a busy program (its main thread spinning in a pure-Python loop): patch request sent ->
  the loop sees the new result (agent_bench.latency_splice, 200 patches over 4 programs);
- 5. call cost: a patched function / an identical never-patched one (agent_bench.call_cost,
  min of 75 x 200,000 calls).
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCRIPT = "bench/versions_bench.py"


def one() -> None:
    import agent_bench as ab

    root = Path(tempfile.mkdtemp(prefix="splice-vb-"))
    try:
        text = ab.generate_target()
        pair = ab.edits(text)
        busy = ab.latency_splice(root, text, pair, "busy")
        calls = ab.call_cost(root, text)
    finally:
        for target in ab.RUNNING:
            if target.process.poll() is None:
                target.process.kill()
        shutil.rmtree(root, ignore_errors=True)
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "busy": busy.rest,
                "ratio": calls["ratio"],
                "orig_ns": calls["orig_ns"],
                "patched_ns": calls["patched_ns"],
            }
        )
    )


def main() -> None:
    wheels = sorted((REPO / "dist").glob("splice-*.whl"))
    venvs = sorted((REPO / ".venvs").glob("3.*/bin/python"), key=lambda p: int(p.parent.parent.name.split(".")[1]))
    if not wheels or not venvs:
        raise SystemExit("no wheel in dist/ or no .venvs/3.X: run `make test-agent` first")
    rows = []
    for python in venvs:
        print(f"[bench-versions] {python.parent.parent.name}", file=sys.stderr, flush=True)
        # Its own pip, or this Python's for those without one (Debian's 3.14 and 3.15).
        has_pip = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True).returncode == 0
        pip = [str(python), "-m", "pip"] if has_pip else [sys.executable, "-m", "pip", "--python", str(python)]
        install = [*pip, "install", "-q"]
        subprocess.run([*install, "--force-reinstall", "--no-deps", str(wheels[-1])], check=True)
        done = subprocess.run(
            [str(python), str(REPO / SCRIPT), "--one"], cwd=REPO / "bench", capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"{python}: {done.stderr[-2000:]}")
        r = json.loads(done.stdout.strip().splitlines()[-1])
        busy = sorted(r["busy"])
        median = statistics.median(busy)
        p90 = busy[int(len(busy) * 0.9)]
        rows.append(
            (
                r["python"],
                f"median {median / 1e6:.2f} ms, p90 {p90 / 1e6:.2f} ms (n={len(busy)})",
                "met" if median < 0.5e6 else "**missed**",
                f"{r['ratio']:.3f} ({r['patched_ns']:.1f} ns vs {r['orig_ns']:.1f} ns)",
                "met" if r["ratio"] <= 1.02 else "**missed**",
            )
        )
    print(f"Command: `make bench-versions` (`.venv/bin/python {SCRIPT}`).\n")
    columns = [
        "CPython",
        "1b. busy program: request sent -> the loop sees the new result",
        "< 0.5 ms",
        "5. call cost, patched / never patched",
        "<= 1.02",
    ]
    print("| " + " | ".join(columns) + " |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    one() if "--one" in sys.argv else main()
