"""The dashboard's one error boundary, and escaping of text that comes from users.

Known failures of the core become one-line messages on the page; anything else is logged and
shown as a short generic message (``client.showErrorDetails`` is off, so no traceback or file
path reaches the browser). Text from users (URL values, file names, uploaded JSON) is never
interpreted as Markdown: ``plain`` escapes it.
"""
from __future__ import annotations

import logging
import re
from typing import Callable

import streamlit as st

import landscape_core as lc

log = logging.getLogger("landscape_explorer.ui")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text) -> str:
    """``text`` with every Markdown/HTML control character escaped (safe inside st.markdown)."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:600]


def message_for(what: str, exc: BaseException) -> tuple[str, str] | None:
    """(level, one-line message) for a known failure, None for an unexpected one."""
    text = plain(_first_line(exc))
    if isinstance(exc, lc.TrainingStopped):
        return "warning", f"{what} stopped: {text}. Everything finished before the stop is kept."
    if isinstance(exc, lc.DataNotFoundError):
        return "error", f"**{what}: dataset not found.** {text}"
    if isinstance(exc, lc.CheckpointError):
        return "error", f"**Checkpoint refused.** {text}"
    if isinstance(exc, lc.TrainingDivergedError):
        return "error", f"**{what}: training diverged.** {text}"
    if isinstance(exc, (ValueError, TypeError)):
        return "error", f"**{what}: invalid input.** {text}"
    if isinstance(exc, MemoryError):
        return "error", f"**{what}: out of memory.** Use a smaller model, fewer points or a coarser grid."
    if isinstance(exc, OSError):
        return "error", f"**{what}: a file or folder could not be used.** {text}"
    if isinstance(exc, RuntimeError) and ("out of memory" in str(exc) or "diverged" in str(exc)):
        return "error", f"**{what} failed.** {text}"
    return None


def guarded(what: str, fn: Callable, *args, stop: bool = True, **kwargs):
    """Call ``fn``; on failure show one message instead of a traceback.

    With ``stop=True`` the page stops after the message; otherwise None is returned and the page
    goes on. Results finished before a failure are already in the disk cache.
    """
    try:
        return fn(*args, **kwargs)
    except Exception as exc:                            # noqa: BLE001 - this IS the boundary
        if type(exc).__name__ in ("RerunException", "StopException"):   # st.rerun / st.stop
            raise
        known = message_for(what, exc)
        if known is None:
            log.exception("%s failed unexpectedly", what)
            known = ("error", f"**{what} failed** with an unexpected {type(exc).__name__}. "
                              "The details are in the server log; finished results are kept.")
        getattr(st, known[0])(known[1])
    if stop:
        st.stop()
    return None
