"""Progress bars (tqdm) that stay quiet when output is not a terminal or GRAFT_QUIET=1."""
from __future__ import annotations

import os
import sys

from tqdm.auto import tqdm


def progress(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False):
    quiet = os.environ.get("GRAFT_QUIET", "0") not in ("", "0") or not sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=quiet, dynamic_ncols=True)


def log(message: str) -> None:
    """One line of run output on stderr (quiet with GRAFT_QUIET=1)."""
    if os.environ.get("GRAFT_QUIET", "0") in ("", "0"):
        tqdm.write(message, file=sys.stderr)
