"""Real programs under the agent, driven over the real socket.

`Program` starts `python -m splice app.py` in a temporary folder with its own runtime folder.
The program ends with `probe.serve(globals())`, which evaluates lines sent on stdin inside the
program (on its main thread) and answers on stdout, so tests observe behaviour from inside.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import pytest

import splice
from splice.source import definitions

TESTS = Path(__file__).parent
DEADLINE = 20.0


def wait_for(condition, timeout: float = DEADLINE, what: str = "condition"):
    """Polls `condition` until it returns something truthy, failing after `timeout` seconds."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def write_files(root: Path, files: Dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def environment(runtime_dir: Path, env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The environment test programs run in: their own runtime folder, `probe` importable."""
    full_env = dict(os.environ)
    full_env.update(
        SPLICE_RUNTIME_DIR=str(runtime_dir),
        PYTHONPATH=os.pathsep.join([str(TESTS), full_env.get("PYTHONPATH", "")]),
        PYTHONUNBUFFERED="1",
    )
    full_env.update(env or {})
    return full_env


class Program:
    def __init__(
        self,
        root: Path,
        runtime_dir: Path,
        files: Dict[str, str],
        argv: Optional[List[str]] = None,
        env: Optional[Dict[str, str]] = None,
        launcher: Sequence[str] = ("-m", "splice"),
    ):
        self.root = root
        self.runtime_dir = runtime_dir
        write_files(root, files)
        self.argv = argv or ["app.py"]
        self.process = subprocess.Popen(
            [sys.executable, *launcher, *self.argv],
            cwd=root,
            env=environment(runtime_dir, env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[Optional[str]] = queue.Queue()
        self.stderr: List[str] = []
        threading.Thread(target=self._pump, args=(self.process.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr.append), daemon=True).start()
        self._client: Optional[splice.Client] = None
        self._ready = False

    @staticmethod
    def _pump(stream, sink) -> None:
        try:
            for line in stream:
                sink(line)
        except ValueError:  # `close()` closed the pipe before its end was read
            pass
        sink(None)

    @property
    def pid(self) -> int:
        return self.process.pid

    def record(self) -> Dict[str, Any]:
        path = self.runtime_dir / f"{self.pid}.json"

        def read():
            if self.process.poll() is not None:
                raise AssertionError(f"program exited early:\n{''.join(s for s in self.stderr if s)}")
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                return None

        return wait_for(read, what=f"the agent record {path}")

    @property
    def client(self) -> splice.Client:
        if self._client is None:
            record = self.record()
            self._client = splice.Client(record["address"], record.get("token"), timeout=DEADLINE)
        return self._client

    def path(self, name: str = "app.py") -> str:
        return str(self.root / name)

    def ready(self) -> None:
        """Waits until the program reached `probe.serve`: its module code has run."""
        if not self._ready:
            self._next_line(lambda line: line == "ready\n")
            self._ready = True

    def _next_line(self, wanted) -> str:
        end = time.monotonic() + DEADLINE
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no expected output within {DEADLINE}s") from None
            if line is None:
                raise AssertionError(f"program exited:\n{''.join(s for s in self.stderr if s)}")
            if wanted(line):
                return line

    def send_line(self, line: str) -> None:
        """Writes one line to the program's stdin."""
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def read_line(self) -> str:
        """The program's next line of output, waiting at most `DEADLINE` seconds."""
        try:
            line = self.lines.get(timeout=DEADLINE)
        except queue.Empty:
            raise AssertionError(f"no output within {DEADLINE}s") from None
        if line is None:
            raise AssertionError(f"program exited:\n{''.join(s for s in self.stderr if s)}")
        return line.rstrip("\n")

    def finish(self) -> int:
        """Closes stdin (a `probe.serve` loop then returns) and waits for a normal exit."""
        self.process.stdin.close()
        return self.process.wait(timeout=DEADLINE)

    def ask(self, kind: str, code: str) -> Any:
        self.ready()
        self.process.stdin.write(f"{kind} {json.dumps(code)}\n")
        self.process.stdin.flush()
        answer = json.loads(self._next_line(lambda line: line.startswith("@@"))[2:])
        if "error" in answer:
            raise ProgramError(answer["error"], answer["traceback"])
        return answer["value"]

    def eval(self, expression: str) -> Any:
        """The value of `expression` evaluated inside the program's `__main__`."""
        return self.ask("eval", expression)

    def exec(self, statement: str) -> None:
        self.ask("exec", textwrap.dedent(statement))

    def patch(self, text: str, qualnames: Optional[List[str]] = None, name: str = "app.py", save: bool = True):
        """Sends the definitions of `text` (all, or those named) as an editor save would."""
        text = textwrap.dedent(text)
        self.ready()
        if save:
            (self.root / name).write_text(text)
        result = self.client.patch(self.path(name), definitions(text, qualnames), text)
        return {d["qualname"]: d for d in result["definitions"]}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=DEADLINE)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass


class ProgramError(Exception):
    def __init__(self, error: str, traceback: str):
        super().__init__(error)
        self.error = error
        self.traceback = traceback


@pytest.fixture
def workdir():
    # Short paths: a Unix socket path must fit in 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="splice-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def runtime_dir(workdir: Path) -> Path:
    return workdir / "run"


@pytest.fixture
def program(workdir: Path, runtime_dir: Path):
    """A factory: `program(app_source, **files)` starts the program and returns a `Program`."""
    started: List[Program] = []

    def start(
        app: str,
        argv: Optional[List[str]] = None,
        env: Optional[Dict[str, str]] = None,
        launcher: Sequence[str] = ("-m", "splice"),
        **files: str,
    ):
        files = {name.replace("__", "/") + ".py": text for name, text in files.items()}
        files["app.py"] = app
        prog = Program(workdir / "src", runtime_dir, files, argv, env, launcher)
        started.append(prog)
        return prog

    yield start
    for prog in started:
        prog.close()


@pytest.fixture
def connect():
    """A factory of raw connections, all closed after the test."""
    from rawclient import Raw

    opened: List[Raw] = []

    def open_raw(address: str, greet: bool = True) -> Raw:
        raw = Raw(address)
        opened.append(raw)
        if greet:
            assert "result" in raw.handshake()
        return raw

    yield open_raw
    for raw in opened:
        raw.close()
