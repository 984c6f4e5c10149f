"""File-system checks made before work starts, so a bad output place fails in a second, not
after an hour of computing."""
from __future__ import annotations

import os
from pathlib import Path


def ensure_writable_folder(folder) -> Path:
    """Create ``folder`` if needed and prove that a file can be written there; ``OSError`` (with
    its ``strerror``) otherwise."""
    folder = Path(folder) if str(folder) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f".landscape-write-test-{os.getpid()}"
    probe.write_text("")
    probe.unlink()
    return folder
