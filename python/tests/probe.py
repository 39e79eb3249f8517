"""Imported by test programs: answers `eval`/`exec` requests from stdin on the main thread."""

import json
import sys
import traceback


def serve(namespace):
    print("ready", flush=True)
    for line in sys.stdin:
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
