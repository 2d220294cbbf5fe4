"""Parallel text: TSV / CSV, JSONL and gettext ``.po`` / ``.mo`` catalogs, read into source/target pairs.

- TSV / CSV: a header naming the two languages (``en,ur``) or ``source,target``; a TSV without such a header is
  read as two columns, source first.
- JSONL: ``{"en": ..., "ur": ...}``, ``{"translation": {"en": ..., "ur": ...}}`` or ``{"source", "target"}``.
- ``.po`` / ``.mo`` (a file or a folder of them): msgid is the source, msgstr the target; fuzzy and obsolete
  entries are left out, a plural entry gives its singular forms, a ``msgctxt`` is dropped.

Pairs that cannot teach a translation are skipped and counted by reason: an empty side, identical sides,
placeholders that differ between the sides (``%s``, ``%(name)s``, ``{name}``, ``{ $name }``, ``%1``), a side with no
letter of its declared language's script; exact duplicate pairs are kept once.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from graft.data.common import data_error, find_column, read_json_records, read_table
from graft.errors import DataError
from graft.translation import languages

CATALOG_SUFFIXES = (".po", ".mo")
# printf (%s, %2$d, %(name)s), Python / ICU braces ({name}, {0}), Fluent ({ $name }) and Qt / LibreOffice
# (%1, %TITLE, $(ARG1)); no space flag: "100% done" is a per cent sign, not "% d"
PLACEHOLDER = re.compile(r"%(?:\d+\$)?(?:\([^)]*\))?[-+#0]*\d*(?:\.\d+)?[sdifuxXeEgGcp]|\{\s*\$?[\w.]*\s*\}"
                         r"|%\d+|%[A-Z][A-Z_]+\b|\$\([A-Z]+\d*\)")


@dataclass
class Pairs:
    """Source/target sentence pairs, and what was skipped (counts by reason, a few examples)."""

    source: str
    src: str
    tgt: str
    sources: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    examples_skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sources)

    def add(self, source: str, target: str, where: str) -> None:
        reason = problem(source, target, self.src, self.tgt)
        if reason:
            self.skipped[reason] += 1
            if len(self.examples_skipped) < 20:
                self.examples_skipped.append(f"{where}: {reason}")
            return
        self.sources.append(source.strip())
        self.targets.append(target.strip())

    def deduplicated(self) -> Pairs:
        seen, out = set(), Pairs(self.source, self.src, self.tgt, skipped=Counter(self.skipped),
                                 examples_skipped=list(self.examples_skipped))
        for s, t in zip(self.sources, self.targets):
            if (s, t) in seen:
                out.skipped["duplicate pair"] += 1
                continue
            seen.add((s, t))
            out.sources.append(s)
            out.targets.append(t)
        return out

    def subset(self, indices) -> Pairs:
        return Pairs(self.source, self.src, self.tgt, [self.sources[i] for i in indices],
                     [self.targets[i] for i in indices])

    def report(self) -> dict:
        return {"source": self.source, "pairs": len(self), "skipped": sum(self.skipped.values()),
                "skipped_by_reason": dict(self.skipped), "skipped_examples": self.examples_skipped}

    def summary(self) -> str:
        text = f"{self.source}: {len(self)} {self.src}->{self.tgt} pairs"
        if self.skipped:
            text += " (skipped: " + ", ".join(f"{n} {why}" for why, n in self.skipped.most_common()) + ")"
        return text


def problem(source: str, target: str, src: str, tgt: str) -> str | None:
    """Why a pair cannot be learnt from, or None."""
    source, target = source.strip(), target.strip()
    if not source or not target:
        return "empty side"
    if source == target:
        return "identical sides"
    if Counter(_placeholders(source)) != Counter(_placeholders(target)):
        return "placeholders differ"
    if not languages.in_script(source, src):
        return f"source not in {languages.name(src)} script"
    if not languages.in_script(target, tgt):
        return f"target not in {languages.name(tgt)} script"
    return None


def _placeholders(text: str) -> list[str]:
    """Placeholders with positions dropped (``%2$s`` is ``%s``: translators reorder them) and spaces removed."""
    return [re.sub(r"^%\d+\$", "%", p).replace(" ", "") for p in PLACEHOLDER.findall(text)]


def read_pairs(path: str | Path, src: str, tgt: str) -> Pairs:
    """The pairs in ``path`` (a file, or a folder of catalogs), checked and de-duplicated."""
    path = Path(path)
    src, tgt = languages.code(src), languages.code(tgt)
    if not path.exists():
        raise DataError(f"{path}: no such file or folder")
    pairs = Pairs(str(path), src, tgt)
    if path.is_dir() or path.suffix.lower() in CATALOG_SUFFIXES:
        files = sorted(f for f in path.rglob("*") if f.suffix.lower() in CATALOG_SUFFIXES) if path.is_dir() \
            else [path]
        if not files:
            raise DataError(f"{path}: no .po or .mo catalogs in this folder")
        for f in files:
            _read_catalog(f, pairs)
    elif path.suffix.lower() in (".tsv", ".csv", ".txt"):
        _read_table(path, pairs)
    elif path.suffix.lower() in (".jsonl", ".json"):
        _read_jsonl(path, pairs)
    else:
        raise DataError(f"{path}: not parallel text; use TSV/CSV, JSONL, or .po/.mo catalogs")
    if not len(pairs) and not pairs.skipped:
        raise DataError(f"{path}: no translation pairs found")
    return pairs.deduplicated()


def _read_table(path: Path, pairs: Pairs) -> None:
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    header, rows, problems = read_table(path, delimiter)
    if problems:
        raise data_error(path, problems)
    lowered = [h.lower() for h in header]
    columns = (_column(lowered, pairs.src, "source"), _column(lowered, pairs.tgt, "target"))
    if None in columns:
        if delimiter == "," or len(header) != 2:
            raise DataError(f"{path}: name the columns {pairs.src!r} and {pairs.tgt!r} (or 'source' and 'target') "
                            f"in the first line; it has {header}")
        columns = (0, 1)  # a bare two-column TSV: its first line is a pair too
        pairs.add(header[0], header[1], f"{path}:1")
    for line, fields in rows:
        if fields:
            pairs.add(fields[columns[0]], fields[columns[1]], f"{path}:{line}")


def _column(header: list[str], language: str, role: str) -> int | None:
    name = find_column(header, (language, role, f"{role}_text"))
    return header.index(name) if name is not None else None


def _read_jsonl(path: Path, pairs: Pairs) -> None:
    records, problems = read_json_records(path)
    if problems:
        raise data_error(path, problems)
    for number, obj in records:
        fields = obj.get("translation") if isinstance(obj.get("translation"), dict) else obj
        source = fields.get(pairs.src, fields.get("source"))
        target = fields.get(pairs.tgt, fields.get("target"))
        if not isinstance(source, str) or not isinstance(target, str):
            pairs.skipped[f"no '{pairs.src}'/'{pairs.tgt}' texts"] += 1
            if len(pairs.examples_skipped) < 20:
                pairs.examples_skipped.append(f"{path}:{number}: needs '{pairs.src}' and '{pairs.tgt}' (or "
                                              "'source'/'target') strings")
            continue
        pairs.add(source, target, f"{path}:{number}")


def _read_catalog(path: Path, pairs: Pairs) -> None:
    import polib

    try:
        catalog = polib.mofile(str(path)) if path.suffix.lower() == ".mo" else polib.pofile(str(path))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable gettext catalog ({exc})") from None
    for entry in catalog:
        if entry.obsolete or "fuzzy" in entry.flags:
            continue
        target = entry.msgstr or (entry.msgstr_plural or {}).get(0, "")
        where = f"{path}:{entry.linenum}" if getattr(entry, "linenum", None) else f"{path}: {entry.msgid[:40]!r}"
        pairs.add(entry.msgid, target, where)
