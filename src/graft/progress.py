"""Progress bars (tqdm) in terminals and notebooks; quiet in logs and pipes (epoch lines say what happened)
and with GRAFT_QUIET=1."""
from __future__ import annotations

import contextlib
import logging
import os
import sys

from tqdm.auto import tqdm


def _quiet() -> bool:
    """Quiet on request, and in every process but the first of a multi-process run."""
    return os.environ.get("GRAFT_QUIET", "0") not in ("", "0") or os.environ.get("RANK", "0") != "0"


def _notebook() -> bool:
    """Inside Jupyter/IPython's kernel, whose streams are no terminals but show tqdm's widget bars."""
    return "ipykernel" in sys.modules


def progress(total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False):
    quiet = _quiet() or not (sys.stderr.isatty() or _notebook())
    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=quiet, dynamic_ncols=True)


def log(message: str) -> None:
    """One line of run output on stderr (quiet with GRAFT_QUIET=1)."""
    if not _quiet():
        tqdm.write(message, file=sys.stderr)


@contextlib.contextmanager
def muted(*logger_names: str):
    """Libraries' log records below ERROR dropped while the block runs (their notes are for their developers)."""
    loggers = [logging.getLogger(name) for name in logger_names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
