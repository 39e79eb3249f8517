"""`pytest --splice-loop`: failing tests are fixed while the session waits.

When tests fail, the session does not end: it says it is waiting, and each save of a Python file
under the root folder (from any editor, as `python -m splice --watch` takes it, or through
splice-lsp) is patched into it. Once a save has been taken, the tests that failed run again, in
the same session: session, module and class fixtures set up once stay (a database, a model
loaded once). When they pass, pytest ends as usual, with its usual status. Ctrl-C ends the wait.

Registered as a pytest plugin by the package (`pytest11` entry point); without `--splice-loop`
it does nothing and imports nothing of the agent.
"""

from __future__ import annotations

import sys
import threading
from typing import Any, List, Optional, Set

import pytest

WAITING = "splice: {failed} failed; waiting for a save to run them again (Ctrl-C ends)"


def pytest_addoption(parser: Any) -> None:
    group = parser.getgroup("splice", "live patching with Splice")
    group.addoption(
        "--splice-loop",
        action="store_true",
        default=False,
        help=(
            "when tests fail, keep the session: each save of a Python file under the root "
            "folder is patched into it and the failed tests run again, fixtures kept, until "
            "they pass (Ctrl-C ends)"
        ),
    )


def pytest_configure(config: Any) -> None:
    if config.getoption("splice_loop", False) and not config.getoption("collectonly", False):
        config.pluginmanager.register(Loop(config), "splice-loop")


def _carry_on(session: Any) -> None:
    """Lets a session that -x or --maxfail stopped run again: the tests it did not reach follow
    the fixed ones. pytest 8.4+ refuses to unset the flags through their setters."""
    for flag in ("shouldfail", "shouldstop"):
        if getattr(session, flag):
            private = f"_{flag}"
            if hasattr(session, private):
                setattr(session, private, False)
            else:
                setattr(session, flag, False)


class _Parents:
    """Stands for "the item after this one" where only its parents matter: tearing down towards
    it keeps every fixture above the test (session, module, class) and ends the test's own."""

    def __init__(self, item: Any) -> None:
        self._chain = item.listchain()[:-1]

    def listchain(self) -> List[Any]:
        return list(self._chain)


class Loop:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.failed: Set[str] = set()
        self.saved = threading.Event()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: Any) -> None:
        # Before collection imports the tests: the watcher reads every file as it is now,
        # which is what the session then imports.
        import splice
        from splice import _agent, engine

        splice.start()
        engine.patch_listeners.append(self._patched)
        _agent.watch([str(self.config.rootpath)], "")

    def _patched(self, result: dict) -> None:
        taken = ("patched", "added")
        if any(d["status"] in taken for d in result["definitions"]):
            self.saved.set()

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.failed and not hasattr(report, "wasxfail"):
            self.failed.add(report.nodeid)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: Any) -> Optional[bool]:
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            return None  # pytest's own loop reports the collection errors and ends
        pending = list(session.items)
        try:
            while pending:
                self.failed.clear()
                ran = self._run(session, pending)
                pending = [item for item in pending if item.nodeid in self.failed] + pending[ran:]
                if not pending:
                    break
                self._wait(session, pending)
        finally:
            self._teardown(session)
        return True

    def _run(self, session: Any, items: List[Any]) -> int:
        """Runs `items` as pytest's loop does, keeping the fixtures above the last one; how
        many ran (fewer when -x or --maxfail stopped the session)."""
        _carry_on(session)
        for i, item in enumerate(items):
            nextitem = items[i + 1] if i + 1 < len(items) else _Parents(item)
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if session.shouldfail or session.shouldstop:
                return i + 1
        return len(items)

    def _wait(self, session: Any, pending: List[Any]) -> None:
        self.saved.clear()
        failed = len([item for item in pending if item.nodeid in self.failed])
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and hasattr(reporter, "summary_failures"):
            reporter.summary_failures()  # why they failed, now: the user is about to fix them
        sys.stderr.write("\n" + WAITING.format(failed=failed) + "\n")
        sys.stderr.flush()
        # Woken by the thread that applied a save; the timeout only lets Ctrl-C through.
        while not self.saved.wait(1.0):
            pass
        from splice import _agent

        _agent.watch_settle(5.0)  # its line about the save comes before the tests' output
        # The next round's reports replace this one's: the summary and the exit status are
        # those of the last run of each test.
        rerun = {item.nodeid for item in pending}
        if reporter is not None:
            for category, reports in reporter.stats.items():
                reporter.stats[category] = [r for r in reports if getattr(r, "nodeid", None) not in rerun]
        session.testsfailed = 0
        setup_state = getattr(session, "_setupstate", None)
        if setup_state is not None:
            setup_state.teardown_exact(pending[0])

    def _teardown(self, session: Any) -> None:
        setup_state = getattr(session, "_setupstate", None)
        if setup_state is not None:
            setup_state.teardown_exact(None)
