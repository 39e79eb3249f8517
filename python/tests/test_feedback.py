"""Runtime feedback: exceptions in patched code and uncaught ones reach clients as events, and
the program sees exactly the exceptions it would have seen without Splice."""

from __future__ import annotations

import sys
import textwrap

import pytest

from conftest import wait_for

# Exceptions caught inside patched code are reported where a `try` is free: CPython 3.11+.
reporting = pytest.mark.skipif(sys.version_info < (3, 11), reason="patched code is wrapped on CPython 3.11+ only")

SERVE = "\nimport probe\nprobe.serve(globals())\n"


def app(text: str) -> str:
    return textwrap.dedent(text) + SERVE


def events(prog, after=0, timeout_ms=0):
    return prog.client.call("events", {"after": after, "timeout_ms": timeout_ms})


def wait_events(prog, wanted, after=0):
    """Events after `after` once `wanted(events)` holds, waiting on the agent's long poll."""
    found = []

    def check():
        result = events(prog, after, timeout_ms=500)
        found[:] = result["events"]
        return wanted(found)

    wait_for(check, what="runtime events")
    return found


HANDLER_LOOP = """
    errors = []
    def divide(a, b):
        return a / b
    def handle(request):
        try:
            return divide(*request)
        except Exception as err:  # a framework's error handler
            errors.append(err)
            return None
"""


@reporting
def test_exception_caught_by_the_program_is_reported_at_the_raising_line(program):
    prog = program(app(HANDLER_LOOP))
    result = prog.patch(app(HANDLER_LOOP.replace("return a / b", "value = a / b\n        return value")), ["divide"])
    assert result["divide"]["status"] == "patched"
    assert prog.eval("handle((1, 0))") is None
    (event,) = wait_events(prog, lambda e: len(e) == 1)
    assert event["kind"] == "exception"
    assert event["exception"] == "ZeroDivisionError"
    assert event["message"] == "division by zero"
    assert event["frames"][0]["line"] == 4
    assert event["frames"][0]["path"] == prog.path()
    assert event["patched"]["qualname"] == "divide"
    assert event["thread"] == "main thread"
    assert event["count"] == 1
    # The program got the same exception it would have: caught by its handler.
    assert prog.eval("type(errors[0]).__name__") == "ZeroDivisionError"


def test_report_leaves_exception_traceback_context_and_cause_intact(program):
    source = """
        import traceback
        def fail():
            try:
                {{}}["missing"]
            except KeyError as err:
                raise ValueError("{tag}") from err
        def capture():
            try:
                fail()
            except ValueError as err:
                return err
        def shape(err):
            lines = [(f.name, f.lineno) for f in traceback.extract_tb(err.__traceback__)]
            return lines, type(err.__cause__).__name__, type(err.__context__).__name__, err.__suppress_context__
    """
    prog = program(app(source.format(tag="old")))
    before = prog.eval("shape(capture())")
    prog.patch(app(source.format(tag="new")), ["fail"])
    prog.exec("caught = capture()")
    assert prog.eval("str(caught)") == "new"
    assert prog.eval("shape(caught)") == before
    assert before[0] == [["capture", 10], ["fail", 7]]


def test_uncaught_exception_in_a_thread_is_reported_and_the_programs_hook_still_runs(program):
    prog = program(
        app(
            """
            import threading
            seen = []
            threading.excepthook = lambda args: seen.append(args.exc_type.__name__)
            def work():
                raise RuntimeError("worker failed")
            """
        )
    )
    # The program's own hook was installed after the agent's: Splice chains in front of it
    # only when it comes first, so install it the other way round here.
    prog.exec("import splice.feedback\nsplice.feedback.install_hooks()")
    prog.exec("t = threading.Thread(target=work, name='worker-1')\nt.start()\nt.join()")
    (event,) = wait_events(prog, lambda e: any(x["kind"] == "uncaught" for x in e))
    assert event["exception"] == "RuntimeError"
    assert event["thread"] == "thread worker-1"
    assert event["frames"][0] == {"path": prog.path(), "line": 6, "function": "work"}
    assert prog.eval("seen") == ["RuntimeError"]


FLOOD = """
    def check(i):
        raise ValueError(i)
    def run(n):
        failures = 0
        for i in range(n):
            try:
                check(i)
            except ValueError:
                failures += 1
        return failures
"""


@reporting
def test_a_million_raises_give_bounded_events_with_a_count(program):
    prog = program(app(FLOOD.replace("raise ValueError(i)", "return i")))
    prog.patch(app(FLOOD), ["check"])
    assert prog.eval("run(1_000_000)") == 1_000_000
    found = events(prog)["events"]
    assert 1 <= len(found) <= 5, len(found)
    assert found[0]["count"] == 1
    assert not found[0]["counting_stopped"]
    assert all(e["exception"] == "ValueError" for e in found)
    # Past the flood limit the function runs unwrapped: the last report says counting stopped.
    assert found[-1]["counting_stopped"] is True
    assert 10_000 <= found[-1]["count"] < 10_064
    assert prog.eval("'__splice_report__' in check.__code__.co_names") is False
    # It still raises the same: only the counting is gone.
    assert prog.eval("run(3)") == 3
    # Patched again, it counts again.
    prog.patch(app(FLOOD.replace("raise ValueError(i)", "raise ValueError(-i)")), ["check"])
    prog.eval("run(2)")
    (fresh,) = wait_events(prog, lambda e: bool(e), after=found[-1]["seq"])
    assert (fresh["count"], fresh["counting_stopped"]) == (1, False)


def test_exceptions_that_are_control_flow_are_not_reported(program):
    source = """
        def gen():
            yield 1
        def stop_iteration():
            raise StopIteration
        def leave():
            raise SystemExit(3)
        def interrupted():
            raise KeyboardInterrupt
    """
    prog = program(app(source))
    prog.patch(app(source.replace("yield 1", "yield 2")), ["gen", "stop_iteration", "leave", "interrupted"])
    prog.exec(
        """
        g = gen(); next(g); g.close()
        for f in (stop_iteration, leave, interrupted):
            try:
                f()
            except BaseException:
                pass
        """
    )
    assert events(prog)["events"] == []


@reporting
def test_failure_inside_reporting_is_swallowed(program):
    source = """
        class Unprintable(Exception):
            def __str__(self):
                raise RuntimeError("no")
        def fail():
            raise Unprintable()
        def catch():
            try:
                fail()
            except Unprintable as err:
                return type(err).__name__
    """
    prog = program(app(source))
    prog.patch(app(source.replace("raise Unprintable()", "raise Unprintable(1)")), ["fail"])
    assert prog.eval("catch()") == "Unprintable"
    (event,) = wait_events(prog, lambda e: len(e) == 1)
    assert event["message"] == "<unprintable>"


def test_old_frames_still_running_are_named(program):
    source = """
        import threading
        stop = threading.Event()
        started = threading.Event()
        def serve_forever():
            started.set()
            while not stop.wait(0.01):
                pass
            return "{tag}"
        worker = threading.Thread(target=serve_forever, name="server")
        worker.start()
        started.wait()
        def count():
            yield 1
            yield 2
        suspended = count()
        next(suspended)
    """
    prog = program(app(source.format(tag="old")))
    result = prog.patch(app(source.format(tag="new").replace("yield 2", "yield 3")), ["serve_forever", "count"])
    assert result["serve_forever"]["still_running"] == [
        "thread server is inside serve_forever(); it picks up the new body on its next call"
    ]
    assert result["count"]["still_running"] == [
        "1 suspended generator or coroutine made before this patch keeps running the old body; new ones get the new one"
    ]
    prog.exec("stop.set()\nworker.join()")
    assert prog.eval("serve_forever()") == "new"


@reporting
def test_exception_in_a_closure_of_a_patched_function_is_reported(program):
    source = """
        def make(n):
            def divide(x):
                return x / n{tag}
            return divide
        made = make(0)
    """
    prog = program(app(source.format(tag="")))
    result = prog.patch(app(source.format(tag=" * 1")), ["make"])
    assert result["make"]["status"] == "patched"
    prog.exec("try:\n    made(1)\nexcept ZeroDivisionError:\n    pass")
    (event,) = wait_events(prog, lambda e: len(e) == 1)
    assert event["frames"][0]["line"] == 4
    assert event["frames"][0]["function"] == "divide"
    assert event["patched"]["qualname"] == "make.<locals>.divide"
