"""Framework reloaders restart the program when one of its source files changes, throwing away
the state Splice exists to keep. Hot patch when possible, restart only for what cannot be
patched: each framework's hook asks `patched_in_place(path)` before restarting, and a file whose
saved text this process took in full through Splice is not reloaded. Any other change (a part
refused or failed, a file changed outside the editor, one the program did not load) restarts
the program exactly as it would without Splice.

One module per framework, each imported only when the framework's reloader module is: `watch()`
puts a finder in `sys.meta_path` that waits for those names and runs the hook once the module is
loaded. A framework version whose reloader does not look as expected is left alone, and the
editor is told once (`notice`).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

from .. import _agent

# How long a reloader that saw a file change waits for the save the editor is still sending:
# the file is written before the editor tells its language server.
SETTLE_WAIT = 2.0

# Resolved path -> (digest of the text last patched, whether the program took all of it).
_settled: Dict[str, Tuple[bytes, bool]] = {}
_settled_changed = threading.Condition()
_notices: List[str] = []
_said: set = set()


def _digest(data: bytes) -> bytes:
    import hashlib  # only once a reloader is hooked: OpenSSL costs the program megabytes

    return hashlib.sha256(data).digest()


def settle(key: str, source: str, in_full: bool) -> None:
    """The engine patched the file `key` from `source`; `in_full`: every part that differs was
    sent and taken. Kept only once a framework's reloader is hooked: otherwise nobody asks."""
    if not _installed:
        return
    digest = _digest(source.encode("utf-8", "surrogateescape"))
    with _settled_changed:
        _settled[key] = (digest, in_full)
        _settled_changed.notify_all()


def patched_in_place(path: str) -> bool:
    """Whether the file's text on disk is one this process took in full through Splice. Waits up
    to `SETTLE_WAIT` for a save on its way, while an editor's server is connected."""
    from ..locate import modules_for

    key = os.path.realpath(path)
    if not modules_for(key):
        return False  # not code this process runs: templates, new files
    deadline = time.monotonic() + SETTLE_WAIT
    with _settled_changed:
        while True:
            # Read again after each patch: a watcher can report a file still being written.
            on_disk = _digest_of(key)
            known = _settled.get(key)
            if on_disk is not None and known is not None and known[0] == on_disk:
                return known[1]
            left = deadline - time.monotonic()
            if left <= 0 or not _agent.has_clients():
                return False
            _settled_changed.wait(min(left, 0.1))


def _digest_of(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as file:
            return _digest(file.read())
    except OSError:
        return None


def kept_running(path: str, reloader: str) -> None:
    print(
        f"splice: {os.path.basename(path)} changed and was patched in place; {reloader} does not restart the program",
        file=sys.stderr,
        flush=True,
    )


def notice(text: str) -> None:
    """Tells the editor once, with the next result this process sends."""
    if text not in _said:
        _said.add(text)
        _notices.append(text)


def take_notices() -> List[str]:
    taken = list(_notices)
    del _notices[:]
    return taken


# Module whose import activates a hook -> the hook's module here.
_HOOKS = {
    "django.utils.autoreload": "django",
    "werkzeug._reloader": "werkzeug",
    "uvicorn.supervisors.basereload": "uvicorn",
}
_installed: set = set()


def _run_hook(name: str, module: Any) -> None:
    hook = _HOOKS[name]
    if hook in _installed:
        return
    _installed.add(hook)
    try:
        importlib.import_module(f"{__name__}.{hook}").install(module)
    except Exception as err:  # noqa: BLE001 - the framework must work whatever happens here
        notice(f"splice could not hook into {name} ({err!r}); its reloader restarts the program on saves")


# The finder and the loader are what the import system calls by duck typing; importlib.abc and
# importlib.util would cost every program with an agent their imports at start.


class _ThenHook:
    """The framework module's own loader, followed by its hook."""

    def __init__(self, loader: Any, name: str) -> None:
        self.loader = loader
        self.name = name

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        # The module sees its own loader, as if this one were not there.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _run_hook(self.name, module)


class _Watcher:
    """Waits for the import of a framework's reloader module: one dict lookup per import."""

    def __init__(self) -> None:
        self.finding = threading.local()

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Optional[Any]:
        if name not in _HOOKS or getattr(self.finding, "name", None) == name:
            return None
        self.finding.name = name
        import importlib.util

        try:
            spec = importlib.util.find_spec(name)
        finally:
            self.finding.name = None
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _ThenHook(spec.loader, name)
        return spec


_watcher: Optional[_Watcher] = None


def watch() -> None:
    """Hooks the reloaders already imported, and those imported from now on."""
    global _watcher
    if _watcher is None:
        _watcher = _Watcher()
        sys.meta_path.insert(0, _watcher)
    for name in _HOOKS:
        module = sys.modules.get(name)
        if module is not None:
            _run_hook(name, module)
