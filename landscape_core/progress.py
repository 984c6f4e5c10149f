"""Progress reporting: long functions take ``progress(fraction, message)``; this makes a terminal bar."""
from __future__ import annotations

import sys
from typing import Callable

Progress = Callable[[float, str], None]


def progress_bar(desc: str, quiet: bool = False, width: int = 70) -> Progress:
    """A tqdm bar on stderr driven by ``progress(fraction, message)``; a no-op when ``quiet``."""
    if quiet:
        return lambda fraction, message="": None
    from tqdm import tqdm
    bar = tqdm(total=1000, desc=desc, file=sys.stderr, leave=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def update(fraction: float, message: str = ""):
        bar.n = int(round(1000 * min(max(fraction, 0.0), 1.0)))
        bar.set_postfix_str(message[:width], refresh=False)
        bar.refresh()
        if fraction >= 1.0:
            bar.close()
    return update
