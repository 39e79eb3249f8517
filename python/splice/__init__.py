"""Splice: live patching for Python. Edited functions go straight into the running program.

Start the agent with `python -m splice app.py` (or `-m pkg.mod`), or call `splice.start()`
inside the program. Editors reach it through `splice-lsp`; scripts through `splice.connect()`.
"""

from __future__ import annotations

import atexit
import os
import sys
from typing import Optional

from . import _agent
from ._agent import PROTOCOL_VERSION, AgentError
from .client import Client, connect, list_agents

__version__: str = _agent.__version__
__all__ = [
    "PROTOCOL_VERSION",
    "AgentError",
    "Client",
    "address",
    "connect",
    "list_agents",
    "start",
    "stop",
]


def _handle(method: str, params_json: str, source: Optional[str] = None) -> str:
    # Imported on the first request, so that starting the agent costs next to nothing. Never
    # inside an import on the main thread (see runner.rs): what the engine imports is then
    # whole.
    from .engine import handle

    return handle(method, params_json, source)


def start() -> str:
    """Starts the agent in this process, if not yet running, and returns its address.

    The agent listens on a Unix socket in the per-user runtime folder (`$SPLICE_RUNTIME_DIR`,
    else `$XDG_RUNTIME_DIR/splice`, else `/tmp/splice-<uid>`), or on 127.0.0.1 with a token
    when `SPLICE_LISTEN=tcp:PORT`.
    """
    running = _agent.address()
    if running is not None:
        return running

    address = _agent.start(
        _handle,
        list(sys.argv),
        os.getcwd(),
        sys.version.split()[0],
        sys.executable or "",
        __version__,
        os.environ.get("SPLICE_RUNTIME_DIR") or None,
        os.environ.get("SPLICE_LISTEN") or None,
    )
    atexit.register(_agent.stop)
    from . import feedback

    feedback.install_hooks()
    return address


def stop() -> None:
    """Stops listening and removes this process's socket and record."""
    _agent.stop()


def address() -> str | None:
    """The address the agent listens on, or None when not started."""
    return _agent.address()
