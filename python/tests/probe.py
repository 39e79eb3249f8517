"""Imported by test programs: answers `eval`/`exec` requests from stdin on the main thread."""

import json
import sys
import traceback


def serve(namespace):
    print("ready", flush=True)
    for line in sys.stdin:
        _answer(line, namespace)


def _answer(line: str, namespace) -> None:
    kind, _, payload = line.rstrip("\n").partition(" ")
    code = json.loads(payload)
    try:
        if kind == "eval":
            answer = {"value": eval(code, namespace)}
        else:
            exec(code, namespace)
            answer = {"value": None}
    except BaseException as err:
        answer = {"error": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()}
    print("@@" + json.dumps(answer, default=repr), flush=True)


_greeted = False


def answer(namespace) -> bool:
    """Answers one request, for programs whose own loop serves the probe; False at end of input."""
    global _greeted
    if not _greeted:
        print("ready", flush=True)
        _greeted = True
    line = sys.stdin.readline()
    if not line:
        return False
    _answer(line, namespace)
    return True
