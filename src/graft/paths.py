"""Where graft keeps what it downloads, converts and caches (``$GRAFT_HOME``, default ``~/.cache/graft``).

Kept free of heavy imports: the torch-free prediction path (``graft.deploy.quick``) needs it too.
"""
from __future__ import annotations

import os
from pathlib import Path


def graft_home() -> Path:
    return Path(os.environ.get("GRAFT_HOME", Path.home() / ".cache" / "graft"))
