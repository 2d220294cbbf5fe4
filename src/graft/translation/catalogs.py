"""The built-in UI-translation memories: real human translations of software interfaces.

Three sources, all translated by people for real products:
- the gettext ``.mo`` catalogs installed under the system locale folders (GTK, GLib, apt, xkeyboard-config, the
  ISO code lists...);
- Firefox's Fluent ``.ftl`` files: the en-US originals inside ``firefox-esr``'s ``omni.ja`` and each language
  pack (``firefox-esr-l10n-<lang>``), paired by file and message id (the ``firefox-l10n`` asset; MPL-2.0);
- LibreOffice's ``.mo`` catalogs from ``libreoffice-l10n-<lang>`` (Arabic and Chinese; English msgids; the
  ``libreoffice-l10n`` asset; MPL-2.0).
``scripts/setup.sh`` fetches both assets (``graft/translation/packages.py``).

Interface strings carry keyboard accelerators (``_Open``, ``&Save``, ``打开(_O)``, LibreOffice's ``~Open``) and
invisible direction marks; they are removed so a model learns the language, not the toolkit.
"""
from __future__ import annotations

import re
from pathlib import Path

from graft import assets
from graft.translation import languages
from graft.translation.data import Pairs

LOCALE_DIRS = (Path("/usr/share/locale"), Path("/usr/local/share/locale"))
GETTEXT_LOCALES = {"zh": ("zh_CN",), "ar": ("ar",), "ur": ("ur", "ur_PK")}
FIREFOX_LOCALES = {"zh": "zh-CN", "ar": "ar", "ur": "ur"}
LIBREOFFICE_LOCALES = {"zh": "zh_CN", "ar": "ar"}
TERMS = {"brand-short-name": "Firefox", "brand-full-name": "Mozilla Firefox", "brand-product-name": "Firefox",
         "brand-shorter-name": "Firefox", "vendor-short-name": "Mozilla", "firefox-suggest-brand-name": "Firefox Suggest"}
LIBREOFFICE_TERMS = {"%PRODUCTNAME": "LibreOffice", "%PRODUCTVERSION": "7.4"}
_ACCELERATOR_SUFFIX = re.compile(r"\s*[(（][_&~][A-Za-z0-9][)）]")
_ACCELERATOR = re.compile(r"(?<![\w&_])[_&](?=\w)")
_DIRECTION_MARKS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean(text: str, tilde_accelerators: bool = False) -> str:
    """One line, accelerators and direction marks out: ``打开(_O)...`` -> ``打开...``, ``_Open`` -> ``Open``
    (and ``~Open`` -> ``Open`` for LibreOffice, whose mnemonic sign it is)."""
    text = _ACCELERATOR_SUFFIX.sub("", text)
    text = _ACCELERATOR.sub("", text)
    if tilde_accelerators:
        text = re.sub(r"~(?=\w)", "", text)
    text = _DIRECTION_MARKS.sub("", text)
    return " ".join(text.split())


def gettext_pairs(tgt: str, pairs: Pairs) -> list[str]:
    """Add the installed system catalogs' English -> ``tgt`` pairs; return the catalogs read."""
    used = []
    for root in LOCALE_DIRS:
        for locale in GETTEXT_LOCALES.get(tgt, (tgt,)):
            for path in sorted((root / locale / "LC_MESSAGES").glob("*.mo")):
                if _add_catalog(path, pairs, clean):
                    used.append(f"{locale}/{path.name}")
    return used


def _add_catalog(path: Path, pairs: Pairs, tidy) -> bool:
    """Add one ``.mo`` catalog's msgid -> msgstr (a plural's singular) pairs, each side through ``tidy``;
    False where the file cannot be read as a catalog."""
    import polib

    try:
        catalog = polib.mofile(str(path))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    for entry in catalog:
        target = entry.msgstr or (entry.msgstr_plural or {}).get(0, "")
        pairs.add(tidy(entry.msgid), tidy(target), f"{path}: {entry.msgid[:40]!r}")
    return True


def firefox_pairs(tgt: str, pairs: Pairs) -> list[str]:
    """Add Firefox's en-US -> ``tgt`` message pairs (where the asset is installed); return the files paired."""
    root = assets.find("firefox-l10n")
    locale = FIREFOX_LOCALES.get(tgt)
    if root is None or locale is None or not (root / locale).is_dir():
        return []
    used = []
    for path in sorted((root / locale).rglob("*.ftl")):
        original = root / "en-US" / path.relative_to(root / locale)
        if not original.is_file():
            continue
        english = fluent_messages(original.read_text(encoding="utf-8"))
        translated = fluent_messages(path.read_text(encoding="utf-8"))
        used.append(str(path.relative_to(root / locale)))
        for key in (k for k in english if k in translated):  # file order: a set's order changes per process
            pairs.add(clean(english[key]), clean(translated[key]), f"{path}: {key}")
    return used


def libreoffice_pairs(tgt: str, pairs: Pairs) -> list[str]:
    """Add LibreOffice's English -> ``tgt`` catalog pairs (where the asset is installed); return the catalogs."""
    root = assets.find("libreoffice-l10n")
    locale = LIBREOFFICE_LOCALES.get(tgt)
    if root is None or locale is None or not (root / locale).is_dir():
        return []

    def tidy(text: str) -> str:
        for term, name in LIBREOFFICE_TERMS.items():  # product names stay names: same on both sides
            text = text.replace(term, name)
        return clean(text, tilde_accelerators=True)

    return [path.name for path in sorted((root / locale).glob("*.mo")) if _add_catalog(path, pairs, tidy)]


def fluent_messages(text: str) -> dict[str, str]:
    """``id`` and ``id.attribute`` -> plain text of a Fluent file; messages with selectors or references to
    other messages are left out (their text is not a sentence of its own)."""
    messages: dict[str, str] = {}
    key = None
    parts: list[str] = []

    def close():
        if key is not None:
            value = " ".join(p.strip() for p in parts if p.strip())
            for term, name in TERMS.items():  # product names stay names: same on both sides
                value = re.sub(r"\{\s*-" + term + r"\s*\}", name, value)
            if value and "->" not in value and not re.search(r"\{\s*-?[a-z][\w-]*(\.[\w-]+)?\s*\}", value):
                messages[key] = value

    message = None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        head = re.match(r"^(-?[A-Za-z][\w-]*)\s*=\s*(.*)$", line)
        attribute = re.match(r"^\s+\.([\w-]+)\s*=\s*(.*)$", line)
        if head:
            close()
            message = head.group(1)
            key, parts = (None if message.startswith("-") else message), [head.group(2)]
        elif attribute and message and not message.startswith("-"):
            close()
            key, parts = f"{message}.{attribute.group(1)}", [attribute.group(2)]
        elif line[:1].isspace() and key is not None:
            parts.append(line)
    close()
    return messages


def ui_pairs(tgt: str) -> tuple[Pairs, dict]:
    """Every English -> ``tgt`` pair of the three sources, checked and de-duplicated, and where they came from."""
    tgt = languages.code(tgt)
    pairs = Pairs("ui-translations", "en", tgt)
    sources = {"gettext": gettext_pairs(tgt, pairs)}
    before = len(pairs)
    counts = {"gettext": before}
    for name, read in (("firefox", firefox_pairs), ("libreoffice", libreoffice_pairs)):
        sources[name] = read(tgt, pairs)
        counts[name], before = len(pairs) - before, len(pairs)
    return pairs.deduplicated(), {"files": sources, "pairs_before_dedup": counts}
