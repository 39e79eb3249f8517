"""Programs made of several processes, for `make bench-lsp` (rows 3g and 3f):

- 3g. one save into gunicorn with 8 workers (`--preload`: the master and every worker have the
  module): save -> `splice/patchResult`, which arrives once every process has applied the
  edit (an agent answers after the commit);
- 3f. what a fork costs the child when the program runs the agent: `os.fork()` called ->
  the child runs its first line, with and without the agent (the child starts its own agent
  in between).
"""

from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import agent_bench as ab

WORKERS = 8
GUNICORN_SAVES = 40
FORKS = 200

WSGI_APP = """\
import os

def version():
    return 'v0'

def app(environ, start_response):
    body = f'{os.getpid()} {version()}'.encode()
    start_response('200 OK', [('Content-Length', str(len(body)))])
    return [body]
"""


def _records(runtime: Path) -> list[dict]:
    found = []
    for path in runtime.glob("*.json"):
        try:
            found.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            pass
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def save_into_gunicorn(root: Path) -> dict:
    """GUNICORN_SAVES saves after a first one, each changing `version()`."""
    from lsp_bench import DEADLINE, RUNNING, Lsp

    folder = root / "gunicorn"
    folder.mkdir()
    (folder / "app.py").write_text(WSGI_APP)
    runtime = root / "run-gunicorn"
    port = _free_port()
    command = [sys.executable, "-m", "splice", "-m", "gunicorn", "--preload", "--no-control-socket"]
    command += ["--log-level", "warning", "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "app:app"]
    server = subprocess.Popen(
        command,
        cwd=folder,
        env=dict(os.environ, SPLICE_RUNTIME_DIR=str(runtime)),
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    RUNNING.append(server)
    lsp = None
    try:
        ab.wait_for(lambda: len(_records(runtime)) == WORKERS + 1, what="gunicorn's agents", interval=0.02)
        pids = sorted(r["pid"] for r in _records(runtime))
        lsp = Lsp(root, "gunicorn", runtime, folder)
        lsp.wait_agents(pids)
        uri = (folder / "app.py").as_uri()
        lsp.open(uri, WSGI_APP)
        first, samples = 0, []
        for i in range(GUNICORN_SAVES + 1):
            text = WSGI_APP.replace("'v0'", f"'v{i + 1}'")
            lsp.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [{"text": text}]},
            )
            t0 = time.monotonic_ns()
            (folder / "app.py").write_text(text)
            lsp.save(uri)
            t1, result = lsp.patch_result(uri)
            took = {a["pid"] for a in result["agents"] if [d["status"] for d in a["definitions"]] == ["patched"]}
            if took != set(pids):
                raise RuntimeError(f"save {i}: patched in {sorted(took)} of {pids}: {result}")
            if i == 0:
                first = t1 - t0
            else:
                samples.append(t1 - t0)
        # Every worker serves the last version (connections spread over the workers).
        import urllib.request

        wanted = f"v{GUNICORN_SAVES + 1}"
        end = time.monotonic() + DEADLINE
        served = set()
        while len(served) < 2 and time.monotonic() < end:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/") as response:
                pid, version = response.read().decode().split()
            if version != wanted:
                raise RuntimeError(f"pid {pid} serves {version}, not {wanted}")
            served.add(pid)
        return {"first": first, "samples": samples, "processes": len(pids)}
    finally:
        if lsp is not None:
            lsp.close()
        try:
            os.killpg(server.pid, 9)
        except ProcessLookupError:
            pass
        server.wait(timeout=DEADLINE)


FORKER = """\
import os, sys, time
if sys.argv[1] == "agent":
    import splice
    splice.start()
samples = []
for _ in range(int(sys.argv[2])):
    r, w = os.pipe()
    t0 = time.monotonic_ns()
    pid = os.fork()
    if pid == 0:
        os.write(w, str(time.monotonic_ns() - t0).encode())
        if sys.argv[1] == "agent":
            splice.stop()
        os._exit(0)
    os.close(w)
    samples.append(int(os.read(r, 64)))
    os.close(r)
    os.waitpid(pid, 0)
print(samples)
"""


def fork_cost(root: Path) -> dict:
    """fork() called -> the child runs, FORKS times, without and with the agent."""
    script = root / "forker.py"
    script.write_text(FORKER)
    env = dict(os.environ, SPLICE_RUNTIME_DIR=str(root / "run-forks"))
    out = {}
    for mode in ("none", "agent"):
        done = subprocess.run(
            [sys.executable, str(script), mode, str(FORKS)], env=env, capture_output=True, text=True, check=True
        )
        out[mode] = json.loads(done.stdout)
    out["added"] = statistics.median(out["agent"]) - statistics.median(out["none"])
    return out
