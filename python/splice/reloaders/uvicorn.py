"""`uvicorn --reload`: the reloader is a parent process that does not run the program's code and
restarts the serving child on any change; splice cannot hold it back. The editor is told at the
first save how to turn it off."""

from __future__ import annotations

from typing import Any

from . import notice


def install(basereload: Any) -> None:
    reload = getattr(basereload, "BaseReload", None)
    run = getattr(reload, "run", None)
    if run is None:
        return

    def run_and_say(self: Any, *args: Any, **kwargs: Any) -> Any:
        notice(
            "uvicorn --reload restarts the server on every save, which splice cannot hold back; "
            "run uvicorn without --reload: splice patches the running server in place"
        )
        return run(self, *args, **kwargs)

    reload.run = run_and_say
