"""`pytest --splice-loop`: a real pytest session on a real project, its failing tests fixed by
writing files while it waits, as an editor's save would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import List

import pytest

from conftest import DEADLINE, wait_for

CALC = "def add(a, b):\n    return a - b\n"

TESTS = """\
import pytest
from calc import add


@pytest.fixture(scope="session")
def database():
    with open("setups.txt", "a") as log:
        log.write("session\\n")
    yield {"rows": 3}


@pytest.fixture(scope="module")
def model():
    with open("setups.txt", "a") as log:
        log.write("module\\n")
    return "model"


def test_add(database, model):
    assert add(2, 3) == 5


def test_rows(database):
    assert database["rows"] == 3
"""


class Session:
    """`pytest --splice-loop` running in `root`, its output collected line by line."""

    def __init__(self, root: Path, *args: str):
        self.root = root
        env = dict(os.environ, SPLICE_RUNTIME_DIR=str(root / "run"), PYTHONUNBUFFERED="1")
        env.pop("PYTEST_ADDOPTS", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "--splice-loop", "-p", "no:cacheprovider", *args],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: List[str] = []
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def waits(self, times: int = 1) -> None:
        """Until the session said `times` times that it waits for a save."""
        wait_for(
            lambda: self.output.count("waiting for a save") >= times,
            what=f"the session waiting ({times}); output:\n{self.output}",
        )

    def status(self) -> int:
        """The exit status, once the session ended and all its output is read."""
        code = self.process.wait(timeout=DEADLINE)
        self._pump_thread.join(timeout=DEADLINE)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=DEADLINE)


@pytest.fixture
def project(workdir: Path):
    (workdir / "calc.py").write_text(CALC)
    (workdir / "test_calc.py").write_text(TESTS)
    sessions: List[Session] = []

    def start(*args: str) -> Session:
        session = Session(workdir, *args)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


def setups(workdir: Path) -> List[str]:
    return (workdir / "setups.txt").read_text().split()


def test_a_fix_of_the_code_under_test_reruns_the_failure_and_ends_the_session(project, workdir):
    session = project()
    session.waits()
    assert "1 failed" in session.output

    (workdir / "calc.py").write_text(CALC.replace("a - b", "a + b"))

    assert session.status() == 0, session.output
    assert "splice: calc.py:1 add patched\n" in session.output
    assert "2 passed" in session.output and "failed" not in session.output.split("waiting")[-1]
    # Fixtures above the test were kept for the rerun: set up once each.
    assert setups(workdir) == ["session", "module"]


def test_a_patched_test_keeps_pytest_assertion_messages(project, workdir):
    session = project()
    session.waits()
    tests = workdir / "test_calc.py"

    tests.write_text(TESTS.replace("assert add(2, 3) == 5", "assert add(2, 3) == -2"))
    session.waits(2)
    # Still failing, explained by pytest's rewritten assert.
    rerun = session.output.split("waiting for a save")[1]
    assert "assert -1 == -2" in rerun and "where -1 = add(2, 3)" in rerun, rerun

    tests.write_text(TESTS.replace("assert add(2, 3) == 5", "assert add(2, 3) == -1"))
    assert session.status() == 0, session.output


def test_a_passing_session_ends_at_once(project, workdir):
    (workdir / "calc.py").write_text(CALC.replace("a - b", "a + b"))
    session = project()
    assert session.status() == 0, session.output
    assert "waiting" not in session.output


def test_ctrl_c_ends_the_wait_with_pytest_interrupted_status(project):
    session = project()
    session.waits()

    session.process.send_signal(signal.SIGINT)

    assert session.status() == pytest.ExitCode.INTERRUPTED, session.output


def test_with_exitfirst_the_tests_not_yet_run_follow_the_fixed_one(project, workdir):
    session = project("-x")
    session.waits()
    assert "1 failed" in session.output and "passed" not in session.output

    (workdir / "calc.py").write_text(CALC.replace("a - b", "a + b"))

    assert session.status() == 0, session.output
    assert "2 passed" in session.output


def test_a_save_through_an_editor_server_reruns_too(project, workdir):
    import splice
    from splice.source import definitions

    session = project()
    session.waits()
    [agent] = wait_for(lambda: splice.list_agents(str(workdir / "run")), what="the session's agent")
    fixed = CALC.replace("a - b", "a + b")
    # What splice-lsp sends on a save, without writing the file: the watcher sees nothing.
    client = splice.Client(agent["address"], agent.get("token"), timeout=DEADLINE)
    result = client.patch(str(workdir / "calc.py"), definitions(fixed), fixed)

    assert [d["status"] for d in result["definitions"]] == ["patched"]
    assert session.status() == 0, session.output
