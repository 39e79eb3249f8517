"""End-to-end harness: a real Python program running the agent (observed through
python/tests/probe.py) and a real headless Neovim with the plugin, driven over msgpack-RPC.

Environment: SPLICE_TEST_PYTHON (Python with `splice` installed; default .venv/bin/python),
SPLICE_TEST_SERVER (default target/release/splice-lsp), SPLICE_TEST_NVIM (default nvim).
"""

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from nvim_rpc import Nvim

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent
REPO = PLUGIN.parent.parent
DEADLINE = 20.0
PROBE_TAIL = "\nimport probe\nprobe.serve(globals())\n"

PYTHON = Path(os.environ.get("SPLICE_TEST_PYTHON", REPO / ".venv/bin/python"))
SERVER = Path(os.environ.get("SPLICE_TEST_SERVER", REPO / "target/release/splice-lsp"))
NVIM = os.environ.get("SPLICE_TEST_NVIM", "nvim")

_counter = itertools.count()


def wait_until(what, condition, timeout=DEADLINE):
    """Polls `condition` until it returns something truthy, which is returned."""
    end = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)


def pytest_report_header(config):
    try:
        out = subprocess.run([NVIM, "--version"], capture_output=True, text=True).stdout
        return f"neovim: {out.splitlines()[0]}; server: {SERVER}"
    except OSError:
        return f"neovim: {NVIM} not found"


def _require(path, hint):
    if not (Path(path).exists() or shutil.which(str(path))):
        pytest.fail(f"{path} not found: {hint}", pytrace=False)


class Workspace:
    def __init__(self):
        # Short: a Unix socket path must fit in 108 bytes.
        self.root = Path(f"/tmp/splice-nvim-{os.getpid()}-{next(_counter)}")
        shutil.rmtree(self.root, ignore_errors=True)
        (self.root / "src").mkdir(parents=True)
        (self.root / "home").mkdir()

    @property
    def src(self):
        return self.root / "src"

    @property
    def runtime_dir(self):
        return self.root / "run"

    def write(self, name, text):
        path = self.src / name
        path.write_text(text, encoding="utf-8")
        return path


class Program:
    """`python -m splice <script>` with probe.py answering `eval` on stdin."""

    def __init__(self, ws, script):
        env = dict(os.environ)
        env.update(
            SPLICE_RUNTIME_DIR=str(ws.runtime_dir),
            PYTHONPATH=str(REPO / "python/tests"),
            PYTHONUNBUFFERED="1",
        )
        self.process = subprocess.Popen(
            [str(PYTHON), "-m", "splice", script],
            cwd=ws.src,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.pid = self.process.pid
        self._lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self._expect(lambda line: line == "ready")

    def _read(self):
        for line in self.process.stdout:
            self._lines.put(line.rstrip("\n"))

    def _expect(self, wanted):
        end = time.monotonic() + DEADLINE
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"program {self.pid} gave no expected output") from None
            if wanted(line):
                return line

    def eval(self, expression):
        """The JSON value of `expression` evaluated in the program's __main__."""
        self.process.stdin.write(f"eval {json.dumps(expression)}\n")
        self.process.stdin.flush()
        answer = json.loads(self._expect(lambda line: line.startswith("@@"))[2:])
        assert "error" not in answer, f"{expression}: {answer}"
        return answer["value"]

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


class Editor(Nvim):
    """Neovim with the plugin on 'runtimepath' and splice-lsp from target/release."""

    def __init__(self, ws, server_global=True, plugin=PLUGIN):
        home = ws.root / "home"
        env = dict(os.environ)
        env.update(
            SPLICE_RUNTIME_DIR=str(ws.runtime_dir),
            SPLICE_NVIM_PLUGIN=str(plugin),
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            XDG_STATE_HOME=str(home / "state"),
            XDG_CACHE_HOME=str(home / "cache"),
            NVIM_LOG_FILE=str(home / "nvim.log"),
        )
        if server_global:
            env["SPLICE_NVIM_SERVER"] = str(SERVER)
        else:
            env.pop("SPLICE_NVIM_SERVER", None)
        argv = [NVIM, "--embed", "--headless", "-i", "NONE", "-n", "-u", str(HERE / "init.lua")]
        super().__init__(argv, env=env, cwd=ws.src)
        self.ws = ws

    def open(self, path):
        """Edits `path` and waits until splice-lsp is attached and initialized."""
        self.command(f"edit {path}")
        wait_until(
            "splice-lsp to attach",
            lambda: self.lua("local c = require('splice').client(0) return c ~= nil and c.initialized == true"),
        )

    def results(self):
        """How many splice/patchResult notifications arrived so far."""
        return self.lua("return require('splice')._state.count")

    def wait_result(self, after):
        """The last splice/patchResult once more than `after` have arrived."""
        wait_until("a splice/patchResult", lambda: self.results() > after)
        return self.lua("return require('splice').last_result()")

    def diagnostics(self):
        return self.lua("return vim.diagnostic.get(0)")

    def messages(self):
        """What went through vim.notify (tests/init.lua records it)."""
        return self.lua("return _G.splice_messages")

    def log(self):
        path = self.ws.root / "home/state/nvim/lsp.log"
        if not path.exists():
            path = self.ws.root / "home/cache/nvim/lsp.log"
        return path.read_text() if path.exists() else ""


@pytest.fixture(scope="session", autouse=True)
def prerequisites():
    _require(PYTHON, "run `make wheel` or set SPLICE_TEST_PYTHON")
    _require(SERVER, "run `make server` or set SPLICE_TEST_SERVER")
    _require(NVIM, "install Neovim >= 0.7 (apt-get install neovim) or set SPLICE_TEST_NVIM")


@pytest.fixture
def ws():
    workspace = Workspace()
    yield workspace
    shutil.rmtree(workspace.root, ignore_errors=True)


@pytest.fixture
def start_program(ws):
    programs = []

    def start(script="app.py"):
        program = Program(ws, script)
        programs.append(program)
        return program

    yield start
    for program in programs:
        program.kill()


@pytest.fixture
def start_nvim(ws, request):
    editors = []

    def start(**kwargs):
        editor = Editor(ws, **kwargs)
        editors.append(editor)
        return editor

    yield start
    failed = getattr(request.node, "rep_call", None)
    try:
        for editor in editors:
            if failed is not None and failed.failed:
                print("--- lsp.log ---\n" + editor.log()[-4000:])
                print("--- nvim stderr ---\n" + "".join(editor.stderr)[-4000:])
            elif editor.process.poll() is None:
                # Each test took the client path of its Neovim: vim.lsp.enable with lsp/splice.lua
                # on 0.11+, the plugin's own start on FileType before.
                native = editor.lua("return vim.fn.has('nvim-0.11') == 1")
                assert client_path(editor) == ("enable" if native else "legacy")
    finally:
        for editor in editors:
            editor.close()


def client_path(editor):
    """How splice-lsp was set up in this Neovim: `enable`, `legacy` or `none`."""
    return editor.lua(
        "local ok, legacy = pcall(vim.api.nvim_get_autocmds, {group = 'splice', event = 'FileType'}) "
        "if ok and #legacy > 0 then return 'legacy' end "
        "if require('splice').native and vim.lsp.config.splice ~= nil then return 'enable' end "
        "return 'none'"
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, "rep_" + report.when, report)
