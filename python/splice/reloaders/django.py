"""Django's runserver autoreloader: it asks the receivers of `file_changed` before it restarts,
and any receiver answering True holds the restart back (Django's own template reloading does
the same)."""

from __future__ import annotations

from typing import Any

from . import kept_running, notice, patched_in_place


def install(autoreload: Any) -> None:
    signal = getattr(autoreload, "file_changed", None)
    if signal is None or not hasattr(signal, "connect"):
        notice(
            "this Django's autoreloader is not known to splice: it restarts the program on every save; "
            "run `manage.py runserver --noreload` to keep the program's state"
        )
        return
    signal.connect(_file_changed, weak=False, dispatch_uid="splice")


def _file_changed(sender: Any, file_path: Any, **kwargs: Any) -> bool:
    if patched_in_place(str(file_path)):
        kept_running(str(file_path), "Django's autoreloader")
        return True
    return False
