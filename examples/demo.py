"""`make demo`: a scripted editor session through splice-lsp against a running program.

Starts examples/shop.py under the agent, then plays an editor over LSP: edit a function and
save (the program's output changes while it runs), then a bad edit and the diagnostic it gets.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEADLINE = 20.0


def say(who: str, text: str) -> None:
    print(f"{who:>10} │ {text}", flush=True)


class LspClient:
    """Just enough JSON-RPC over stdio, with real Content-Length framing."""

    def __init__(self, command, env):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        self.messages: queue.Queue = queue.Queue()
        self.backlog: list = []
        self.next_id = 1
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            self.messages.put(json.loads(stream.read(length)))

    def send(self, message):
        body = json.dumps(message).encode()
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method, params):
        request_id = self.next_id
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == request_id and "method" not in m)["result"]

    def wait(self, wanted):
        """The first message, received or kept from before, that `wanted` accepts."""
        for message in self.backlog:
            if wanted(message):
                self.backlog.remove(message)
                return message
        end = time.monotonic() + DEADLINE
        while True:
            message = self.messages.get(timeout=max(0.01, end - time.monotonic()))
            if wanted(message):
                return message
            self.backlog.append(message)


def main() -> None:
    server = REPO / "target" / "release" / "splice-lsp"
    work = Path(tempfile.mkdtemp(prefix="splice-demo-"))
    env = dict(os.environ, SPLICE_RUNTIME_DIR=str(work / "run"), PYTHONUNBUFFERED="1")
    shop = work / "shop.py"
    shutil.copy(REPO / "examples" / "shop.py", shop)
    text = shop.read_text()
    program = subprocess.Popen(
        [sys.executable, "-m", "splice", "shop.py"], cwd=work, env=env, stdout=subprocess.PIPE, text=True
    )
    output: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [output.put(line.rstrip()) for line in program.stdout], daemon=True).start()
    lsp = LspClient([str(server)], env)
    try:
        say("shell", "python -m splice shop.py")
        for _ in range(2):
            say("shop.py", output.get(timeout=DEADLINE))
        lsp.request(
            "initialize",
            {"processId": os.getpid(), "rootUri": work.as_uri(), "capabilities": {}},
        )
        lsp.notify("initialized", {})
        agents = lsp.request("workspace/executeCommand", {"command": "splice.listAgents", "arguments": []})
        for agent in agents:
            say("editor", f"found agent: pid {agent['pid']} ({agent['program']}, Python {agent['pythonVersion']})")
        uri = shop.as_uri()
        lsp.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )

        def save(new_text, version, what):
            say("editor", what)
            shop.write_text(new_text)
            lsp.notify(
                "textDocument/didChange",
                {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": new_text}]},
            )
            lsp.notify("textDocument/didSave", {"textDocument": {"uri": uri}})
            result = lsp.wait(lambda m: m.get("method") == "splice/patchResult")["params"]
            for agent in result["agents"]:
                for d in agent["definitions"]:
                    line = d["range"]["start"]["line"] + 1
                    say("splice-lsp", f"{d['status']:>8} {d['qualname']} (line {line}) {d['message']}".rstrip())
            return result

        discounted = text.replace("return quantity * unit\n", "return quantity * unit * 0.9  # 10% off\n")
        save(discounted, 2, "edit price(): 10% off, and save")
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            line = output.get(timeout=DEADLINE)
            say("shop.py", line)
            if line.endswith("32.40"):
                say("demo", "the running program took the new price() without a restart")
                break
        else:
            raise SystemExit("the program's output did not change")

        broken = discounted.replace("round(subtotal * (1 + TAX), 2)", "round(subtotal * (1 + TAX), 2")
        save(broken, 3, "a bad edit in total(): a missing parenthesis, and save")
        diagnostics = lsp.wait(
            lambda m: (
                m.get("method") == "textDocument/publishDiagnostics"
                and any(d.get("severity") == 1 for d in m["params"]["diagnostics"])
            )
        )["params"]["diagnostics"]
        for d in diagnostics:
            if d.get("severity") == 1:
                start = d["range"]["start"]
                say("diagnostic", f"shop.py:{start['line'] + 1}:{start['character'] + 1} {d['code']}: {d['message']}")
        for _ in range(2):
            say("shop.py", output.get(timeout=DEADLINE))
        say("demo", "the program kept running its last good code")
        lsp.request("shutdown", None)
        lsp.notify("exit", None)
    finally:
        program.kill()
        lsp.process.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
