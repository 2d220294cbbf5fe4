"""Fetch Firefox's localisation files (Fluent ``.ftl``, MPL-2.0) from Debian's packages into an asset folder.

``python -m graft.translation.firefox DEST`` downloads ``firefox-esr`` (the en-US originals, in its ``omni.ja``
archives) and the ``firefox-esr-l10n-{ur,ar,zh-cn}`` language packs with ``apt-get download`` (no root needed),
and keeps only their ``.ftl`` files: ``DEST/<locale>/<path>.ftl``. ``scripts/setup.sh`` runs it once.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGES = ("firefox-esr", "firefox-esr-l10n-ur", "firefox-esr-l10n-ar", "firefox-esr-l10n-zh-cn")
LOCALES = ("en-US", "ur", "ar", "zh-CN")


def install(dest: Path) -> int:
    """Fetch, unpack and keep the ``.ftl`` files; the number written."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SystemExit("graft: apt-get/dpkg-deb not found: Firefox's translations (for `graft datasets "
                         "ui-translations`) come from Debian packages; other sources still work")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(["apt-get", "download", "-qq", *PACKAGES], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for deb in work.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent if dest.parent.exists() else None))
        written = 0
        for archive in sorted((work / "root").rglob("*")):
            if archive.suffix in (".ja", ".xpi"):
                written += _keep_ftl(archive, staging)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return written


def _keep_ftl(archive: Path, out: Path) -> int:
    """Copy ``localization/<locale>/...ftl`` members of one zip archive into ``out/<locale>/...``."""
    written = 0
    with zipfile.ZipFile(archive) as z:
        for member in z.namelist():
            parts = member.split("/")
            if member.endswith(".ftl") and len(parts) > 2 and parts[0] == "localization" and parts[1] in LOCALES:
                target = out.joinpath(*parts[1:])
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(z.read(member))
                written += 1
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m graft.translation.firefox DEST")
    dest = Path(sys.argv[1])
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"graft: {install(dest)} Firefox translation files in {dest}", file=sys.stderr)
