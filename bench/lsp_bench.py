"""Measures splice-lsp end to end and prints a markdown table: `make bench-lsp`.

Everything runs for real: `cargo bench --bench edit_reparse` and `--bench documents` for the
in-process numbers (benches/*.rs, on files generated here), then target/release/splice-lsp
driven over stdio with Content-Length framing (as an editor does), and target programs started
with `python -m splice` in a temporary folder with their own `SPLICE_RUNTIME_DIR`. Timestamps
that cross processes use CLOCK_MONOTONIC (`time.monotonic_ns()`, one system-wide clock on
Linux); LSP messages are timestamped by the thread that reads them, as soon as each is parsed.

Measurements:
1. a one-character edit plus the incremental reparse on a 20,000-line file: in process
   (`benches/edit_reparse.rs`), and through the server (didChange + textDocument/codeAction);
2. save -> `splice/patchResult` for one changed function of a 3,000-line module while the
   program spins in a Python loop, against the same edit sent straight to its agent; the same
   with the program sleeping; the first save separately; jurigged on the same module; a save
   that changes an import, a constant and a function at once;
3. one save patched into 16 programs running the same file;
4. splice-lsp VmRSS with 100 open 3,000-line files, before and after a save of each (one
   program has imported all 100, so every save is a real patch request); in process, what one
   document keeps (`benches/documents.rs`).
"""

from __future__ import annotations

import json
import os
import queue
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import agent_bench as ab
import process_bench

import splice
from splice.source import definitions

REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "target" / "release" / "splice-lsp"
PY = sys.executable
DEADLINE = 20.0  # seconds, for anything we wait on
BIG_LINES = 20_000
SERVER_EDITS = 100  # didChange + codeAction round trips on the big file (half undo the other)
SERVER_WARMUP = 3  # edit pairs before those measured (the first reparse costs more)
CODE_ACTIONS = 30  # codeAction alone, for comparison
SAVES = 100  # steady-state saves, one program
MANY = 16
MANY_SAVES = 40
OPEN_FILES = 100
SCRIPT = ".venv/bin/python bench/lsp_bench.py"


def log(message: str) -> None:
    print(f"[bench-lsp] {message}", file=sys.stderr, flush=True)


# -- an editor: JSON-RPC over the server's stdio -------------------------------------------------


class Lsp:
    """splice-lsp as a child process, spoken to with real Content-Length framing."""

    def __init__(self, root: Path, name: str, runtime_dir: Path, workspace: Path):
        self.stderr_path = root / f"{name}.lsp-stderr.txt"
        env = dict(os.environ, SPLICE_RUNTIME_DIR=str(runtime_dir))
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [str(SERVER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
        self.messages: queue.Queue = queue.Queue()
        self.backlog: list[tuple[int, dict]] = []
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()
        RUNNING.append(self.process)
        self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": workspace.as_uri(),
                "capabilities": {},
            },
        )
        self.notify("initialized", {})

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    self.messages.put((time.monotonic_ns(), None))
                    return
                if line == b"\r\n":
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            message = json.loads(stream.read(length))
            self.messages.put((time.monotonic_ns(), message))

    def fail(self, message: str) -> RuntimeError:
        return RuntimeError(f"{message}; splice-lsp stderr:\n{self.stderr_path.read_text()[-2000:]}")

    def send(self, message: dict) -> int:
        """Writes one message; returns the time just before writing it."""
        body = json.dumps(message).encode()
        t0 = time.monotonic_ns()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()
        return t0

    def notify(self, method: str, params) -> int:
        return self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params) -> tuple[object, int, int]:
        """(result, time sent, time the response was read)."""
        request_id = self.next_id
        self.next_id += 1
        sent = self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        received, answer = self.wait(lambda m: m.get("id") == request_id and "method" not in m, method)
        if "error" in answer:
            raise self.fail(f"{method} failed: {answer['error']}")
        return answer.get("result"), sent, received

    def wait(self, wanted: Callable[[dict], bool], what: str, timeout: float = DEADLINE) -> tuple[int, dict]:
        """The first message, received or kept from before, that `wanted` accepts, with the
        time it was read. Diagnostics nobody waits for are dropped."""
        for item in self.backlog:
            if wanted(item[1]):
                self.backlog.remove(item)
                return item
        end = time.monotonic() + timeout
        while True:
            try:
                item = self.messages.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise self.fail(f"no {what} within {timeout}s") from None
            if item[1] is None:
                raise self.fail(f"splice-lsp exited while waiting for {what}")
            if wanted(item[1]):
                return item
            if item[1].get("method") != "textDocument/publishDiagnostics":
                self.backlog.append(item)

    def patch_result(self, uri: str) -> tuple[int, dict]:
        received, message = self.wait(
            lambda m: m.get("method") == "splice/patchResult" and m["params"]["uri"] == uri,
            "splice/patchResult",
        )
        return received, message["params"]

    def open(self, uri: str, text: str) -> None:
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": 1,
                    "text": text,
                }
            },
        )

    def change(self, uri: str, version: int, line: int, start: int, end: int, text: str) -> int:
        span = {
            "start": {"line": line, "character": start},
            "end": {"line": line, "character": end},
        }
        return self.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": span, "text": text}],
            },
        )

    def save(self, uri: str) -> int:
        return self.notify("textDocument/didSave", {"textDocument": {"uri": uri}})

    def code_action(self, uri: str, line: int, character: int) -> tuple[object, int, int]:
        at = {"line": line, "character": character}
        return self.request(
            "textDocument/codeAction",
            {
                "textDocument": {"uri": uri},
                "range": {"start": at, "end": at},
                "context": {"diagnostics": []},
            },
        )

    def wait_agents(self, pids: list[int]) -> None:
        """Until splice.listAgents shows every one of `pids` (polled, with a deadline)."""

        def listed():
            agents, _, _ = self.request(
                "workspace/executeCommand",
                {"command": "splice.listAgents", "arguments": []},
            )
            return set(pids) <= {a["pid"] for a in agents}

        ab.wait_for(listed, what=f"splice-lsp to find {len(pids)} agents", interval=0.02)

    def close(self) -> None:
        try:
            self.request("shutdown", None)
            self.notify("exit", None)
            self.process.wait(timeout=DEADLINE)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait(timeout=DEADLINE)


# -- target programs ---------------------------------------------------------------------------

RUNNING: list[subprocess.Popen] = []  # every process started; main() ends any still running


class Program(ab.Output):
    """`python -m splice SCRIPT MODE` in `folder`; its stdout lines are queued, read with
    agent_bench's `line`, so agent_bench.wait_changed works on it."""

    def __init__(self, folder: Path, script: str, mode: str, runtime_dir: Path):
        self.folder = folder
        self.path = folder / script
        self.stderr_path = folder / f"stderr-{len(RUNNING)}.txt"
        env = dict(os.environ, SPLICE_RUNTIME_DIR=str(runtime_dir), PYTHONUNBUFFERED="1")
        with open(self.stderr_path, "w") as stderr:
            self.process = subprocess.Popen(
                [PY, "-m", "splice", script, mode],
                cwd=folder,
                env=env,
                text=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
            )
        RUNNING.append(self.process)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE)
        self.process.stdout.close()


# -- statistics ----------------------------------------------------------------------------------


def ms(ns: float) -> str:
    """Milliseconds, with a third decimal below one."""
    return f"{ns / 1e6:.3f} ms" if abs(ns) < 1e6 else f"{ns / 1e6:.2f} ms"


def spread(values: list[float]) -> str:
    """median / p90 / max of nanosecond values."""
    return (
        f"median {ms(statistics.median(values))}, p90 {ms(ab.percentile(values, 0.9))}, "
        f"max {ms(max(values))} (n={len(values)})"
    )


def quantiles(summary: dict) -> str:
    """The percentiles of a summary from benches/edit_reparse.rs (nanoseconds)."""
    return (
        f"p50 {ms(summary['p50'])}, p99 {ms(summary['p99'])} "
        f"(p90 {ms(summary['p90'])}, max {ms(summary['max'])}, n={summary['n']:,})"
    )


def tag_position(text: str) -> tuple[int, int]:
    """(line, character) of the tag in hot_path's return statement."""
    old = f'return ("{ab.TAGS[0]}", total)'
    line = text[: text.index(old)].count("\n")
    column = text.splitlines()[line].index(f'"{ab.TAGS[0]}"') + 1
    return line, column


def patched(result: dict, pids: list[int], qualnames: list[str] | None = None) -> None:
    """Checks a patchResult: every program answered, `hot_path` patched, nothing refused."""
    by_pid = {a["pid"]: a for a in result["agents"]}
    if set(by_pid) != set(pids):
        raise RuntimeError(f"patchResult from {sorted(by_pid)}, expected {sorted(pids)}: {result}")
    for agent in by_pid.values():
        statuses = {d["qualname"]: d["status"] for d in agent["definitions"]}
        if agent.get("error") or statuses.get(ab.HOT) != "patched":
            raise RuntimeError(f"pid {agent['pid']} answered {agent}")
        if qualnames is not None and sorted(statuses) != sorted(qualnames):
            raise RuntimeError(f"pid {agent['pid']} was sent {sorted(statuses)}, expected {qualnames}")
        bad = {q: s for q, s in statuses.items() if s not in ("patched", "unchanged")}
        if bad:
            raise RuntimeError(f"pid {agent['pid']}: {bad}")


# -- 1. one-character edit + reparse ---------------------------------------------------------------


def cargo_bench(name: str, source: Path) -> dict:
    """`cargo bench --bench NAME` on `source` (SPLICE_BENCH_SOURCE); the JSON of its
    `NAME_JSON {...}` line."""
    command = ["cargo", "bench", "--bench", name]
    env = dict(os.environ, SPLICE_BENCH_SOURCE=str(source))
    done = subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    marker = f"{name.upper()}_JSON "
    for line in done.stdout.splitlines():
        if line.startswith(marker):
            return json.loads(line[len(marker) :])
    raise RuntimeError(f"no {marker.strip()} line from {' '.join(command)}:\n{done.stdout}")


def edit_through_server(root: Path, big: Path, text: str) -> dict[str, list[float]]:
    """didChange (one char, typed then deleted again) immediately followed by a codeAction at
    the same place: didChange written -> codeAction response read. The codeAction alone on
    the unchanged file for comparison."""
    lsp = Lsp(root, "edit", root / "run-edit", big.parent)
    try:
        uri = big.as_uri()
        lsp.open(uri, text)
        lsp.code_action(uri, 0, 0)  # the didOpen is processed
        lines = text.split("\n")
        candidates = [n for n, line in enumerate(lines) if line.strip()]
        rng = random.Random(7)
        version, typed_rt, deleted_rt, alone = 1, [], [], []
        for i in range(SERVER_EDITS // 2 + SERVER_WARMUP):
            # in code, as in 1: from the line's indentation to its end
            line = rng.choice(candidates)
            indent = len(lines[line]) - len(lines[line].lstrip())
            column = rng.randint(indent, len(lines[line]))
            version += 1
            t0 = lsp.change(uri, version, line, column, column, rng.choice("az_1 (:.é"))
            _, _, t1 = lsp.code_action(uri, line, column)
            version += 1
            t2 = lsp.change(uri, version, line, column, column + 1, "")
            _, _, t3 = lsp.code_action(uri, line, column)
            if i >= SERVER_WARMUP:
                typed_rt.append(t1 - t0)
                deleted_rt.append(t3 - t2)
        for _ in range(CODE_ACTIONS):
            line = rng.choice(candidates)
            _, t0, t1 = lsp.code_action(uri, line, 0)
            alone.append(t1 - t0)
        return {"edit": typed_rt + deleted_rt, "alone": alone}
    finally:
        lsp.close()


# -- 2. save -> patchResult, one busy program ------------------------------------------------------


def save_latency(root: Path, text: str, pair, mode: str) -> dict:
    """One program (`busy`: its main thread spins calling hot_path; `sleep`: it sleeps); each
    save changes hot_path's tag (didChange of two characters, file written, didSave); t0 = just
    before the file is written. Each steady-state save is followed by the same kind of edit
    (tag v3) sent straight to the agent with `splice.Client.patch`, without splice-lsp, so the
    two are compared on the same program under the same conditions."""
    folder = root / f"one-{mode}"
    folder.mkdir()
    (folder / "target.py").write_text(text)
    runtime = root / f"run-one-{mode}"
    program = Program(folder, "target.py", mode, runtime)
    busy = mode == "busy"
    third = ab.with_tag(text, "v3")
    direct_edit = ab.Edit("v3", third, definitions(third, [ab.HOT]))
    lsp = None
    try:
        program.line("ready")
        lsp = Lsp(root, f"one-{mode}", runtime, folder)
        lsp.wait_agents([program.pid])
        agent = next(a for a in splice.list_agents(str(runtime)) if a["pid"] == program.pid)
        client = splice.Client(agent["address"], agent.get("token"), timeout=DEADLINE)
        uri = program.path.as_uri()
        lsp.open(uri, text)
        line, column = tag_position(text)
        first: dict[str, float] = {}
        to_result, to_program, sent_to_result, direct = [], [], [], []
        for i in range(SAVES + 1):
            edit = pair[(i + 1) % 2]
            lsp.change(uri, i + 2, line, column, column + 2, edit.tag)
            t0 = time.monotonic_ns()
            program.path.write_text(edit.text)
            t_save = lsp.save(uri)
            t1, result = lsp.patch_result(uri)
            seen = ab.wait_changed(program, edit.tag, t0) if busy else t1
            patched(result, [program.pid], None if i == 0 else [ab.HOT])
            if i == 0:
                sent = sum(len(a["definitions"]) for a in result["agents"])
                first = {"result": t1 - t0, "program": seen - t0, "definitions": sent}
                continue
            to_result.append(t1 - t0)
            to_program.append(seen - t0)
            sent_to_result.append(t1 - t_save)
            t0 = time.monotonic_ns()
            answer = client.patch(str(program.path), direct_edit.definitions, direct_edit.text)
            direct.append(time.monotonic_ns() - t0)
            if [d["status"] for d in answer["definitions"]] != ["patched"]:
                raise program.fail(f"direct patch answered {answer}")
            if busy:
                ab.wait_changed(program, direct_edit.tag, t0)
        return {
            "first": first,
            "result": to_result,
            "program": to_program,
            "sent_to_result": sent_to_result,
            "direct": direct,
        }
    finally:
        if lsp is not None:
            lsp.close()
        program.close()


def mixed_versions(text: str) -> tuple[ab.Edit, ab.Edit]:
    """Two versions of the module that differ in one import, one constant and hot_path, whose
    tag is made from the other two: the busy loop sees a version's tag only once all three of
    its parts run."""
    anchor = "\nimport time\n"
    assert text.count(anchor) == 1
    versions = []
    for tag, case, scale, expression in (
        ("a1", "lower", 1, "ALPHABET[0] + str(SCALE)"),
        ("2A", "upper", 2, "str(SCALE) + ALPHABET[0]"),
    ):
        head = f"{anchor}from string import ascii_{case}case as ALPHABET\n\nSCALE = {scale}\n"
        versions.append(
            ab.Edit(
                tag, ab.with_tag(text, "v1").replace(anchor, head).replace('("v1", total)', f"({expression}, total)")
            )
        )
    return versions[0], versions[1]


def save_mixed(root: Path, text: str) -> dict:
    """A busy program runs version a1 of `mixed_versions`; each save sends the whole text of
    the other version (didChange of the full document, file written, didSave); t0 = just before
    the file is written, t1 = the loop's own clock when it sees the new tag."""
    folder = root / "mixed"
    folder.mkdir()
    pair = mixed_versions(text)
    (folder / "target.py").write_text(pair[0].text)
    runtime = root / "run-mixed"
    program = Program(folder, "target.py", "busy", runtime)
    lsp = None
    try:
        program.line("ready")
        lsp = Lsp(root, "mixed", runtime, folder)
        lsp.wait_agents([program.pid])
        uri = program.path.as_uri()
        lsp.open(uri, pair[0].text)
        to_program, to_result, between = [], [], 0
        for i in range(SAVES + 1):
            edit = pair[(i + 1) % 2]
            lsp.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": i + 2}, "contentChanges": [{"text": edit.text}]},
            )
            t0 = time.monotonic_ns()
            program.path.write_text(edit.text)
            lsp.save(uri)
            t1, result = lsp.patch_result(uri)
            # The call of hot_path in progress when the patch runs finishes its old body, and
            # reads the module's globals as they are now: one result mixes old code and new
            # constants before the loop's next call runs the new code.
            while True:
                _, seen, value = program.line("@@changed", DEADLINE).split()
                if value == edit.tag:
                    break
                between += 1
            seen = int(seen)
            # A changed statement is a new one plus a removed one, which the new one replaces.
            answers = [d for a in result["agents"] for d in a["definitions"]]
            reasons = sorted(d["reason"] for d in answers if d["status"] != "unchanged")
            if reasons != ["code-replaced", "import-ran", "statement-ran"]:
                raise program.fail(f"save {i} answered {result}")
            if i > 0:
                to_program.append(seen - t0)
                to_result.append(t1 - t0)
        return {"program": to_program, "result": to_result, "between": between}
    finally:
        if lsp is not None:
            lsp.close()
        program.close()


# -- 3. one save into 16 programs ----------------------------------------------------------------


def save_many(root: Path, text: str, pair, mode: str) -> dict:
    """MANY programs run the same file (main thread in `mode`); each save patches all."""
    folder = root / f"many-{mode}"
    folder.mkdir()
    (folder / "target.py").write_text(text)
    runtime = root / f"run-many-{mode}"
    programs = [Program(folder, "target.py", mode, runtime) for _ in range(MANY)]
    lsp = None
    try:
        for program in programs:
            program.line("ready")
        pids = [p.pid for p in programs]
        lsp = Lsp(root, f"many-{mode}", runtime, folder)
        lsp.wait_agents(pids)
        uri = (folder / "target.py").as_uri()
        lsp.open(uri, text)
        line, column = tag_position(text)
        first, samples = 0, []
        for i in range(MANY_SAVES + 1):
            edit = pair[(i + 1) % 2]
            lsp.change(uri, i + 2, line, column, column + 2, edit.tag)
            t0 = time.monotonic_ns()
            (folder / "target.py").write_text(edit.text)
            lsp.save(uri)
            t1, result = lsp.patch_result(uri)
            patched(result, pids, None if i == 0 else [ab.HOT])
            if mode == "busy":
                for program in programs:
                    ab.wait_changed(program, edit.tag, t0)
            if i == 0:
                first = t1 - t0
            else:
                samples.append(t1 - t0)
        return {"first": first, "samples": samples}
    finally:
        if lsp is not None:
            lsp.close()
        for program in programs:
            program.close()


# -- 4. memory with 100 open files ---------------------------------------------------------------

IMPORTER = """\
import importlib
import time

modules = [importlib.import_module(f"m{i:03d}") for i in range(@N@)]
print("ready", flush=True)
while True:
    time.sleep(3600)
"""


BIG_DOCUMENT_MB = 50


def big_document(root: Path) -> dict:
    """VmRSS of splice-lsp with one BIG_DOCUMENT_MB document open (as a codeAction on it has
    seen it whole), and after it is closed again."""
    chunk = 'def f{n}(x):\n    """' + "pad " * 20 + '"""\n    return x + {n}\n\n'
    parts, size, n = [], 0, 0
    while size < BIG_DOCUMENT_MB * 1_000_000:
        parts.append(chunk.format(n=n))
        size += len(parts[-1])
        n += 1
    text = "".join(parts)
    folder = root / "big-document"
    folder.mkdir()
    lsp = Lsp(root, "big-document", root / "run-big-document", folder)
    try:
        uri = (folder / "big.py").as_uri()
        status = {"initialized": ab.proc_status_kb(lsp.process.pid)}
        lsp.open(uri, text)
        lsp.code_action(uri, 1, 0)
        status["open"] = ab.proc_status_kb(lsp.process.pid)
        status["hwm"] = ab.proc_status_kb(lsp.process.pid, "VmHWM")
        lsp.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        lsp.request("workspace/executeCommand", {"command": "splice.listAgents"})
        status["closed"] = ab.proc_status_kb(lsp.process.pid)
        return {"mb": len(text) / 1e6, "definitions": n, "kb": status}
    finally:
        lsp.close()


def memory(root: Path, text: str) -> dict:
    """VmRSS of splice-lsp: initialized; with OPEN_FILES distinct 3,000-line files open; after
    a save of each that changes hot_path (one program imported all of them: the server keeps,
    per file, the parts that program took)."""
    folder = root / "rss"
    folder.mkdir()
    texts = []
    for i in range(OPEN_FILES):
        texts.append(f"# module {i} of the splice-lsp memory benchmark\n{text}")
        (folder / f"m{i:03d}.py").write_text(texts[-1])
    (folder / "main.py").write_text(IMPORTER.replace("@N@", str(OPEN_FILES)))
    runtime = root / "run-rss"
    started = time.monotonic()
    program = Program(folder, "main.py", "sleep", runtime)
    lsp = None
    try:
        program.line("ready", timeout=120)
        imported = time.monotonic() - started
        lsp = Lsp(root, "rss", runtime, folder)
        lsp.wait_agents([program.pid])
        status = {"initialized": ab.proc_status_kb(lsp.process.pid)}
        uris = [(folder / f"m{i:03d}.py").as_uri() for i in range(OPEN_FILES)]
        t0 = time.monotonic()
        for uri, file_text in zip(uris, texts):
            lsp.open(uri, file_text)
        lsp.code_action(uris[-1], 0, 0)  # every didOpen before it is processed
        opened = time.monotonic() - t0
        status["opened"] = ab.proc_status_kb(lsp.process.pid)
        t0 = time.monotonic()
        answered = 0
        line, column = tag_position(texts[0])
        for uri in uris:
            lsp.change(uri, 2, line, column, column + 2, ab.TAGS[1])
            lsp.save(uri)
            _, result = lsp.patch_result(uri)
            if len(result["agents"]) != 1 or result["agents"][0].get("error"):
                raise lsp.fail(f"save of {uri} answered {result}")
            statuses = [d["status"] for d in result["agents"][0]["definitions"]]
            if not statuses or set(statuses) != {"patched"}:
                raise lsp.fail(f"save of {uri}: {sorted(set(statuses))}")
            answered += len(statuses)
        saved = time.monotonic() - t0
        status["saved"] = ab.proc_status_kb(lsp.process.pid)
        status["hwm"] = ab.proc_status_kb(lsp.process.pid, "VmHWM")
        return {
            "kb": status,
            "imported_s": imported,
            "open_s": opened,
            "save_s": saved,
            "definitions": answered,
            "bytes": sum(len(t.encode()) for t in texts),
        }
    finally:
        if lsp is not None:
            lsp.close()
        program.close()


# -- report ---------------------------------------------------------------------------------------


def verdict(ok: bool, by: str = "") -> str:
    return "met" if ok else f"**missed**{by}"


def measure(root: Path) -> dict:
    r: dict[str, object] = {}
    big_text = ab.generate_target(BIG_LINES)
    big = root / "big.py"
    big.write_text(big_text)
    text = ab.generate_target()
    module = root / "module.py"
    module.write_text(text)
    pair = ab.edits(text)
    r["lines"] = text.count("\n")
    log(f"1. cargo bench --bench edit_reparse ({big_text.count(chr(10))} lines)")
    r["edit"] = cargo_bench("edit_reparse", big)
    log(f"2, 4. cargo bench --bench documents ({r['lines']} lines)")
    r["documents"] = cargo_bench("documents", module)
    log(f"1'. didChange + codeAction through splice-lsp ({SERVER_EDITS} edits)")
    r["edit_server"] = edit_through_server(root, big, big_text)
    log(f"2. save -> patchResult, busy program ({SAVES} saves after the first)")
    r["save"] = save_latency(root, text, pair, "busy")
    log(f"2. save -> patchResult, sleeping program ({SAVES} saves after the first)")
    r["save_idle"] = save_latency(root, text, pair, "sleep")
    log(f"2g. save changing an import, a constant and a function, busy program ({SAVES} saves after the first)")
    r["mixed"] = save_mixed(root, text)
    log(f"2. jurigged, busy program ({ab.JURIGGED_EDITS} edits after the first)")
    r["jurigged"] = ab.latency_jurigged(root, "jur-busy", text, pair, "busy")
    log(f"3. one save into {MANY} sleeping programs ({MANY_SAVES} saves after the first)")
    r["many"] = save_many(root, text, pair, "sleep")
    log(f"3g. one save into gunicorn with {process_bench.WORKERS} workers ({process_bench.GUNICORN_SAVES} saves)")
    r["gunicorn"] = process_bench.save_into_gunicorn(root)
    log(f"3f. fork() -> the child runs, without and with the agent ({process_bench.FORKS} forks each)")
    r["forks"] = process_bench.fork_cost(root)
    log(f"4. VmRSS with {OPEN_FILES} open files")
    r["rss"] = memory(root, text)
    log(f"4c. VmRSS with one {BIG_DOCUMENT_MB} MB document")
    r["big_document"] = big_document(root)
    return r


def table(r: dict) -> tuple[list[tuple[str, ...]], list[str]]:
    edit, server, save, jur, many, rss = (r[k] for k in ("edit", "edit_server", "save", "jurigged", "many", "rss"))
    e, indent, deferred = edit["edit_reparse"], edit["indentation"], edit["deferred"]
    save_median = statistics.median(save["result"])
    program_median = statistics.median(save["program"])
    jur_median = statistics.median(jur.rest)
    many_median = statistics.median(many["samples"])
    mixed = r["mixed"]
    mixed_median = statistics.median(mixed["program"])
    gunicorn_median = statistics.median(r["gunicorn"]["samples"])
    kb = rss["kb"]
    peak_mb = max(kb["opened"], kb["saved"]) / 1024
    cargo = f"`SPLICE_BENCH_SOURCE=<{edit['lines']}-line file> cargo bench --bench edit_reparse`"
    documents = f"`SPLICE_BENCH_SOURCE=<{r['lines']}-line file> cargo bench --bench documents`"
    docs, idle = r["documents"], r["save_idle"]
    per_copy = docs["kb_per_copy"]
    rows = [
        (
            (
                f"1. one-char edit + incremental reparse, {edit['lines']:,}-line file, in process "
                f"(`Document::apply` + `reparse`): {e['n']:,} edits at random places in code "
                f"(a line's text from its indentation on), typing one of `{edit['typed']}`, then "
                "deleting it"
            ),
            f"{quantiles(e)}; {e['over_1ms'] / e['n']:.0%} of edits over 1 ms",
            "p99 < 1 ms",
            verdict(e["p99"] < 1e6, f" by {ms(e['p99'] - 1e6)} ({e['p99'] / 1e6:.0f}x)"),
            cargo,
        ),
        (
            f"1b. the same, {indent['n']} edits inside a line's indentation (a space typed, then deleted)",
            f"{quantiles(indent)}; {indent['over_1ms'] / indent['n']:.0%} over 1 ms",
            "(p99 < 1 ms)",
            verdict(indent["p99"] < 1e6, f" by {ms(indent['p99'] - 1e6)}"),
            cargo,
        ),
        (
            (
                f"1c. {deferred['n']} pairs of 1's edits (type, delete) applied before a single "
                "reparse, as a reparse deferred until the definitions are needed would see them"
            ),
            f"{quantiles(deferred)} per pair",
            "—",
            "—",
            cargo,
        ),
        (
            "1d. `reparse()` after an edit that changes nothing: the floor of any reparse of this file",
            quantiles(edit["noop"]),
            "—",
            "—",
            cargo,
        ),
        (
            (
                f"1e. `apply()` alone (the rope edited, no reparse), {edit['apply_only']['n']:,} edits "
                "as in 1, which is all a didChange does"
            ),
            (
                f"{quantiles(edit['apply_only'])}; the one reparse after all of them "
                f"{ms(edit['reparse_after_apply_only'])}"
            ),
            "—",
            "—",
            cargo,
        ),
        (
            "1'. the same through splice-lsp: didChange written -> response to a codeAction at the edit read",
            (
                f"p50 {ms(statistics.median(server['edit']))}, p99 {ms(ab.percentile(server['edit'], 0.99))} "
                f"(n={len(server['edit'])}); codeAction alone: p50 {ms(statistics.median(server['alone']))}"
            ),
            "—",
            "—",
            f"`{SCRIPT}` (edit_through_server)",
        ),
        (
            (
                f"2. save -> `splice/patchResult`, one changed function of a {r['lines']:,}-line module, "
                "program busy in a Python loop (steady state; t0 = file written)"
            ),
            spread(save["result"]),
            "median < 5 ms",
            verdict(save_median < 5e6, f" by {ms(save_median - 5e6)}"),
            f"`{SCRIPT}` (save_latency busy)",
        ),
        (
            (
                "2b. the same edit sent straight to the agent of the same program, without splice-lsp "
                "(`splice.Client.patch`, the whole file as source), interleaved with 2's saves"
            ),
            f"request -> response {spread(save['direct'])}",
            "—",
            "—",
            f"`{SCRIPT}` (save_latency busy)",
        ),
        (
            "2c. as 2 and 2b, the program's main thread sleeping instead of busy",
            f"save -> patchResult {spread(idle['result'])}; straight to the agent {spread(idle['direct'])}",
            "—",
            "—",
            f"`{SCRIPT}` (save_latency sleep)",
        ),
        (
            (
                "2d. what splice-lsp computes per save before sending, in process: `text()`, "
                "`definitions()` of the whole file, the changed one selected, the request serialized"
            ),
            (
                f"{quantiles(docs['save'])}, of which `definitions()` p50 {ms(docs['definitions']['p50'])} "
                f"({docs['definition_count']} definitions); request {docs['request_bytes'] / 1024:.0f} KB"
            ),
            "—",
            "—",
            documents,
        ),
        (
            "2e. first save to a new agent (compared with the text last saved: only hot_path sent), busy program",
            (
                f"{ms(save['first']['result'])} to patchResult ({save['first']['definitions']} definitions "
                f"answered); the loop runs the new body at {ms(save['first']['program'])}"
            ),
            "—",
            "—",
            f"`{SCRIPT}` (save_latency busy)",
        ),
        (
            (
                "2f. jurigged 0.6.1 (default settings), same module and edit, busy program: file "
                "written -> the loop sees the new result"
            ),
            f"{spread(jur.rest)}; first {ms(jur.first)}",
            "—",
            (
                f"jurigged / splice = {jur_median / save_median:.0f}x (vs 2); "
                f"{jur_median / program_median:.0f}x (vs splice's file written -> the loop runs the new body, "
                f"median {ms(program_median)})"
            ),
            f"`{SCRIPT}` (agent_bench.latency_jurigged)",
        ),
        (
            (
                f"2g. a save changing one import, one constant and one function of the {r['lines']:,}-line module "
                "(the function's result made from the other two), program busy: file written -> the loop "
                "runs the new code"
            ),
            (
                f"{spread(mixed['program'])}; to patchResult {spread(mixed['result'])}; call in progress "
                f"(old body, new globals) returned a mixed result first in {mixed['between']} of "
                f"{len(mixed['program']) + 1} saves"
            ),
            "median < 5 ms",
            verdict(mixed_median < 5e6, f" by {ms(mixed_median - 5e6)}"),
            f"`{SCRIPT}` (save_mixed)",
        ),
        (
            (
                f"3. one save patched into {MANY} programs running the same file (main threads "
                "sleeping): save -> `splice/patchResult` (steady state)"
            ),
            f"{spread(many['samples'])}; first save {ms(many['first'])}",
            "median < 20 ms",
            verdict(many_median < 20e6, f" by {ms(many_median - 20e6)}"),
            f"`{SCRIPT}` (save_many)",
        ),
        (
            (
                f"3g. one save into gunicorn with {process_bench.WORKERS} workers (`--preload`: "
                f"{r['gunicorn']['processes']} processes have the module): save -> `splice/patchResult`, "
                "which comes once every process applied the edit (steady state)"
            ),
            f"{spread(r['gunicorn']['samples'])}; first save {ms(r['gunicorn']['first'])}",
            "median < 20 ms",
            verdict(gunicorn_median < 20e6, f" by {ms(gunicorn_median - 20e6)}"),
            f"`{SCRIPT}` (process_bench.save_into_gunicorn)",
        ),
        (
            f"3f. `os.fork()` called -> the child runs its next line ({process_bench.FORKS} forks)",
            (
                f"with the agent (the child starts its own): median {ms(statistics.median(r['forks']['agent']))}; "
                f"without: median {ms(statistics.median(r['forks']['none']))}; added {ms(r['forks']['added'])}"
            ),
            "< 2 ms added",
            verdict(r["forks"]["added"] < 2e6, f" by {ms(r['forks']['added'] - 2e6)}"),
            f"`{SCRIPT}` (process_bench.fork_cost)",
        ),
        (
            f"4. splice-lsp VmRSS with {OPEN_FILES} distinct open {r['lines']:,}-line files",
            (
                f"{kb['opened'] / 1024:.1f} MB open; {kb['saved'] / 1024:.1f} MB after a save of each "
                f"(initialized, nothing open: {kb['initialized'] / 1024:.1f} MB; VmHWM {kb['hwm'] / 1024:.1f} MB)"
            ),
            "< 100 MB",
            verdict(peak_mb < 100, f" by {peak_mb - 100:.1f} MB"),
            f"`{SCRIPT}` (memory)",
        ),
        (
            f"4c. splice-lsp VmRSS with one {r['big_document']['mb']:.0f} MB document "
            f"({r['big_document']['definitions']:,} functions) open, then closed",
            (
                f"{r['big_document']['kb']['open'] / 1024:.0f} MB open (VmHWM "
                f"{r['big_document']['kb']['hwm'] / 1024:.0f} MB); "
                f"{r['big_document']['kb']['closed'] / 1024:.0f} MB after it is closed "
                f"(initialized: {r['big_document']['kb']['initialized'] / 1024:.0f} MB)"
            ),
            "< 300 MB open",
            verdict(
                r["big_document"]["kb"]["hwm"] < 300 * 1024,
                f" by {r['big_document']['kb']['hwm'] / 1024 - 300:.0f} MB",
            ),
            f"`{SCRIPT}` (big_document)",
        ),
        (
            (
                f"4b. in process, VmRSS growth per {r['lines']:,}-line document (over {docs['copies']} kept, "
                "each kind in a fresh process)"
            ),
            (
                f"`Document` {per_copy['document'] / 1024:.2f} MB = tree-sitter tree {per_copy['tree'] / 1024:.2f} MB "
                f"+ rope {per_copy['rope'] / 1024:.2f} MB + its own parser {per_copy['parser'] / 1024:.2f} MB "
                f"(source {docs['bytes'] / 1024:.0f} KB)"
            ),
            "—",
            "—",
            documents,
        ),
    ]
    notes = [
        (
            f"2, the same saves: file written -> the busy loop runs the new body {spread(save['program'])}; "
            f"didSave written -> patchResult read {spread(save['sent_to_result'])}."
        ),
        (
            f"1, in process, more: inserts p50 {ms(edit['insert']['p50'])} / p99 {ms(edit['insert']['p99'])}, "
            f"deletes p50 {ms(edit['delete']['p50'])} / p99 {ms(edit['delete']['p99'])}; the first edit after "
            f"the initial parse {ms(edit['first_edit'])} (not in 1); full parse of the "
            f"{edit['lines']:,}-line file ({edit['bytes'] // 1024} KB) {ms(edit['full_parse'])}; "
            f"`Document::definitions()` on it {ms(edit['definitions']['p50'])} ({edit['definition_count']} "
            f"definitions; every codeAction runs it on the whole file); `Document::text()` "
            f"{ms(edit['text_copy']['p50'])}."
        ),
        (
            f"4: {rss['bytes'] / 1e6:.1f} MB of source open; opening the {OPEN_FILES} files took "
            f"{rss['open_s']:.2f} s, saving them {rss['save_s']:.2f} s (each save changes hot_path: "
            f"{rss['definitions']:,} definitions `patched` in the one program that imported all {OPEN_FILES}); "
            f"the program took {rss['imported_s']:.1f} s to import them."
        ),
        (
            f"Steady-state saves alternate `{ab.HOT}` between two bodies, so every save changes code; each "
            "result is checked (every program's patchResult says `patched`; in 2 the loop reports the new "
            "value). Times cross processes on CLOCK_MONOTONIC."
        ),
    ]
    return rows, notes


def environment() -> str:
    version = subprocess.run([str(SERVER), "--version"], capture_output=True, text=True, check=True).stdout.strip()
    return f"{version}; {ab.environment()}"


def main() -> None:
    if not SERVER.exists():
        raise SystemExit(f"{SERVER} not found: run `make server`")
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="splice-lb-"))  # short: socket paths are limited
    load_before = os.getloadavg()[0]
    try:
        results = measure(root)
    finally:
        for process in RUNNING + [t.process for t in ab.RUNNING]:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=DEADLINE)
        shutil.rmtree(root, ignore_errors=True)
    rows, notes = table(results)
    out = [
        "## splice-lsp benchmark",
        "",
        f"Command: `make bench-lsp` (`{SCRIPT}`), {time.monotonic() - started:.0f} s.  ",
        (
            f"Environment: {environment()}; load average (1 min) {load_before:.2f} before, "
            f"{os.getloadavg()[0]:.2f} after."
        ),
        "",
        "| metric | measured | target | verdict | measured by |",
        "|---|---|---|---|---|",
    ]
    out += [f"| {' | '.join(row)} |" for row in rows]
    out += [""] + [f"- {note}" for note in notes]
    print("\n".join(out))


if __name__ == "__main__":
    main()
