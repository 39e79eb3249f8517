"""Werkzeug's reloader (Flask's debug mode): every reloader loop restarts through its
`trigger_reload(filename)`; a file patched in place is skipped, and the stat loop is told the
file's new time so that it does not ask again."""

from __future__ import annotations

import os
from typing import Any

from . import kept_running, notice, patched_in_place


def install(reloader: Any) -> None:
    loops = [
        cls
        for cls in vars(reloader).values()
        if isinstance(cls, type)
        and "trigger_reload" in vars(cls)
        and issubclass(cls, getattr(reloader, "ReloaderLoop", ()))
    ]
    if not loops:
        notice(
            "this Werkzeug's reloader is not known to splice: it restarts the program on every save; "
            "run with use_reloader=False (flask run --no-reload) to keep the program's state"
        )
        return
    for cls in loops:
        _hold_back(cls)


def _hold_back(cls: type) -> None:
    restart = vars(cls)["trigger_reload"]

    def trigger_reload(self: Any, filename: Any) -> None:
        name = os.fsdecode(filename)
        if not patched_in_place(name):
            restart(self, filename)
            return
        mtimes = getattr(self, "mtimes", None)
        if isinstance(mtimes, dict):
            try:
                mtimes[name] = os.stat(name).st_mtime
            except OSError:
                pass
        kept_running(name, "Werkzeug's reloader")

    trigger_reload.__wrapped__ = restart  # type: ignore[attr-defined]
    cls.trigger_reload = trigger_reload  # type: ignore[attr-defined]
