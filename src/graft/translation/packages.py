"""Fetch software localisation files from Debian's packages into asset folders (human translations; MPL-2.0).

``python -m graft.translation.packages firefox-l10n DEST``: ``firefox-esr`` (the en-US originals, in its
``omni.ja`` archives) and the ``firefox-esr-l10n-{ur,ar,zh-cn}`` language packs; only their Fluent ``.ftl``
files are kept, as ``DEST/<locale>/<path>.ftl``.

``python -m graft.translation.packages libreoffice-l10n DEST``: ``libreoffice-l10n-{ar,zh-cn}`` (there is no
Urdu one); only their gettext ``.mo`` catalogs are kept, as ``DEST/<locale>/<module>.mo`` (English msgids).

Both download with ``apt-get download`` (no root needed) and unpack with ``dpkg-deb``; ``scripts/setup.sh`` runs
them once.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

FIREFOX_PACKAGES = ("firefox-esr", "firefox-esr-l10n-ur", "firefox-esr-l10n-ar", "firefox-esr-l10n-zh-cn")
FIREFOX_LOCALES = ("en-US", "ur", "ar", "zh-CN")
LIBREOFFICE_PACKAGES = ("libreoffice-l10n-ar", "libreoffice-l10n-zh-cn")


def install(asset: str, dest: Path) -> int:
    """Fetch and unpack ``asset``'s packages, keep its translation files in ``dest``; the number written."""
    if asset not in INSTALLERS:
        raise SystemExit(f"graft: unknown localisation asset {asset!r}; one of {', '.join(INSTALLERS)}")
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SystemExit(f"graft: apt-get/dpkg-deb not found: {asset} (for `graft datasets ui-translations`) comes "
                         "from Debian packages; the other sources still work")
    packages, keep = INSTALLERS[asset]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run(["apt-get", "download", "-qq", *packages], cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for deb in work.glob("*.deb"):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "root")], check=True)
        # written beside dest, then renamed: an interrupted fetch never leaves a half-filled asset
        staging = Path(tempfile.mkdtemp(dir=dest.parent if dest.parent.exists() else None))
        written = keep(work / "root", staging)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    return written


def _keep_firefox(root: Path, out: Path) -> int:
    """``localization/<locale>/...ftl`` members of the packages' zip archives -> ``out/<locale>/...``."""
    written = 0
    for archive in sorted(root.rglob("*")):
        if archive.suffix not in (".ja", ".xpi"):
            continue
        with zipfile.ZipFile(archive) as z:
            for member in z.namelist():
                parts = member.split("/")
                if (member.endswith(".ftl") and len(parts) > 2 and parts[0] == "localization"
                        and parts[1] in FIREFOX_LOCALES):
                    target = out.joinpath(*parts[1:])
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(z.read(member))
                    written += 1
    return written


def _keep_libreoffice(root: Path, out: Path) -> int:
    """``.../resource/<locale>/LC_MESSAGES/<module>.mo`` -> ``out/<locale>/<module>.mo``."""
    written = 0
    for catalog in sorted(root.rglob("resource/*/LC_MESSAGES/*.mo")):
        target = out / catalog.parent.parent.name / catalog.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(catalog, target)
        written += 1
    return written


INSTALLERS = {"firefox-l10n": (FIREFOX_PACKAGES, _keep_firefox),
              "libreoffice-l10n": (LIBREOFFICE_PACKAGES, _keep_libreoffice)}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(f"usage: python -m graft.translation.packages {{{','.join(INSTALLERS)}}} DEST")
    asset, dest = sys.argv[1], Path(sys.argv[2])
    dest.parent.mkdir(parents=True, exist_ok=True)
    print(f"graft: {install(asset, dest)} translation files in {dest}", file=sys.stderr)
