"""Image datasets (class folders, CSV or JSONL listings), robust RGB loading, and a pre-training scan for bad files."""
from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from graft.data.common import (
    class_folders,
    data_error,
    find_column,
    listing,
    read_json_records,
    read_table,
    walk_files,
)
from graft.errors import DataError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_SCAN_SIZE = 64  # JPEGs are checked with reduced-size decoding (still reads every byte of the file)


@dataclass(frozen=True)
class ImageItem:
    """One image file and its class name (None when unlabeled)."""

    path: Path
    label: str | None


@dataclass(frozen=True)
class BadFile:
    """An image that cannot be used, with a short human reason."""

    path: Path
    reason: str


class BadImage(DataError):
    """One image file cannot be decoded; `.path` and `.reason` say which and why."""

    def __init__(self, path: str | Path, reason: str = "cannot be read as an image"):
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = Path(path), reason

    def __reduce__(self):
        return type(self), (str(self.path), self.reason)


def _extensions() -> str:
    return ", ".join(sorted(IMAGE_EXTENSIONS))


# ---------------------------------------------------------------------------------------------- listing


def read_image_dataset(source: str | Path) -> list[ImageItem]:
    """Labelled images from a folder of class sub-folders, a `path,label` CSV, or a JSONL of {"path","label"}.

    Raises DataError listing every problem found (missing files, bad rows, empty classes, < 2 classes).
    """
    path = Path(source).expanduser()
    if path.is_dir():
        items, problems = _read_class_folders(path)
    elif not path.exists():
        raise DataError(f"{path}: not found (expected a folder of class sub-folders, a .csv or a .jsonl)")
    elif path.suffix.lower() in (".csv", ".jsonl", ".json"):
        items, problems = _read_listing(path)
    else:
        raise DataError(f"{path}: unsupported dataset file (expected a folder of class sub-folders, .csv or .jsonl)")
    labels = sorted({i.label for i in items if i.label is not None})
    if not problems and not items:
        problems.append("contains no images")
    if items and len(labels) < 2:
        problems.append(f"needs at least 2 classes, found {len(labels)}: {', '.join(labels)}")
    if problems:
        raise data_error(path, problems)
    return items


def _read_class_folders(root: Path) -> tuple[list[ImageItem], list[str]]:
    problems: list[str] = []
    folders = class_folders(root)
    if not folders:
        loose = [p for p in walk_files(root, IMAGE_EXTENSIONS, problems) if p.parent == root]
        found = f" (it holds {len(loose)} image(s) directly)" if loose else ""
        problems.append(
            f"has no class sub-folders{found}; put each class's images in its own sub-folder, "
            f"e.g. {root / 'cats' / '001.jpg'} (for unlabeled images use list_images)"
        )
        return [], problems
    items = []
    for folder in folders:
        files = walk_files(folder, IMAGE_EXTENSIONS, problems)
        if not files:
            problems.append(f"class folder '{folder.name}' ({folder}) has no images ({_extensions()})")
        items += [ImageItem(f, folder.name) for f in files]
    return items, problems


def _read_listing(path: Path) -> tuple[list[ImageItem], list[str]]:
    """Items of a CSV (`path,label` header) or JSONL listing; relative paths are relative to its folder."""
    if path.suffix.lower() == ".csv":
        header, rows, problems = read_table(path)
        columns = [find_column(header, (name,)) for name in ("path", "label")]
        if None in columns:
            missing = [n for n, c in zip(("path", "label"), columns) if c is None]
            found = ", ".join(header) or "(none)"
            return [], problems + [f"missing column(s) {', '.join(missing)} (found columns: {found}); "
                        "the first line must be a header: path,label"]
        at = [header.index(c) for c in columns]
        records = [(n, row[at[0]], row[at[1]]) for n, row in rows if row]
    else:
        objects, problems = read_json_records(path)
        records = [(n, _lookup(obj, "path"), _lookup(obj, "label")) for n, obj in objects]
    items, missing_fields, absent = [], [], []
    for number, file, label in records:
        file, label = _clean(file), _clean(label)
        if file is None or label is None:
            missing_fields.append(f"line {number} (no {'path' if file is None else 'label'})")
            continue
        image = Path(file).expanduser()
        image = image if image.is_absolute() else path.parent / image
        if not image.is_file():
            absent.append(f"{image} (line {number})")
        items.append(ImageItem(image, label))
    if missing_fields:
        problems.append(f"rows without a path or label: {listing(missing_fields)}")
    if absent:
        problems.append(f"{len(absent)} listed file(s) do not exist: {listing(absent)}")
    return items, problems


def _lookup(obj: dict, key: str) -> object:
    column = find_column(list(obj), (key,))
    return None if column is None else obj[column]


def _clean(value: object) -> str | None:
    """A stripped string, or None for a missing/blank value."""
    text = "" if value is None else str(value).strip()
    return text or None


def list_images(source: str | Path | Iterable[str | Path]) -> list[Path]:
    """Unlabeled image paths from a file, a folder (searched recursively) or several of them, without repeats."""
    sources = [source] if isinstance(source, (str, os.PathLike)) else list(source)
    found: list[Path] = []
    problems: list[str] = []
    for item in sources:
        path = Path(item).expanduser()
        if path.is_dir():
            files = walk_files(path, IMAGE_EXTENSIONS, problems)
            found += files
            if not files:
                problems.append(f"{path}: no images ({_extensions()}) in this folder")
        elif not path.exists():
            problems.append(f"{path}: not found")
        elif path.suffix.lower() in IMAGE_EXTENSIONS:
            found.append(path)
        else:
            problems.append(f"{path}: not an image file (expected {_extensions()})")
    if not sources:
        problems.append("no images given")
    if problems:
        raise data_error("Cannot read the images", problems)
    return list(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------- loading


def load_image(path: str | Path) -> Image.Image:
    """The image as RGB (EXIF orientation applied, transparency on white); raises BadImage if it cannot be used."""
    return _decode(Path(path), draft=False)


def _decode(path: Path, draft: bool) -> Image.Image:
    """Open, fully decode and convert one image; every failure becomes BadImage with a short reason."""
    try:
        if path.stat().st_size == 0:
            raise BadImage(path, "zero-byte file")
        with Image.open(path) as im:
            limit = Image.MAX_IMAGE_PIXELS
            if limit and im.width * im.height > limit:
                raise Image.DecompressionBombError(f"{im.width}x{im.height} pixels")
            if draft:
                im.draft("RGB", (_SCAN_SIZE, _SCAN_SIZE))
            im.load()
            return _to_rgb(_upright(im))
    except BadImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        reason = f"image too large (decompression bomb: over {Image.MAX_IMAGE_PIXELS} pixels)"
    except UnidentifiedImageError:
        reason = "not an image (cannot identify image file)"
    except FileNotFoundError:
        reason = "file not found"
    except OSError as e:
        reason = "truncated image" if "truncat" in str(e).lower() else f"cannot read image ({e.strerror or e})"
    except Exception as e:  # corrupt files make PIL plugins raise almost anything
        reason = f"corrupt or unsupported image ({type(e).__name__}: {e})"
    raise BadImage(path, reason)


def _upright(im: Image.Image) -> Image.Image:
    """A copy turned as its EXIF orientation says; malformed EXIF leaves it as stored."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block should not make a decodable image unusable
        return im.copy()


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB from any PIL mode: high bit depth scaled to 8 bits, alpha/transparency composited on white."""
    if im.mode.startswith("I") or im.mode == "F":
        im = _to_8bit(im)
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        white = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, im.convert("RGBA")).convert("RGB")
    return im if im.mode == "RGB" else im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """Grey 'L' from 16/32-bit integer or float images, scaled (not clipped) to 0..255."""
    a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if im.mode == "F" and lo >= 0 and hi <= 1:
        a = a * 255
    elif im.mode == "F" and lo >= 0 and hi <= 255:
        pass
    elif lo >= 0 and hi <= 65535 and im.mode != "F":
        a = a / 257  # 16-bit range: 65535 -> 255, 32768 -> 128
    elif hi > lo:
        a = (a - lo) * (255 / (hi - lo))
    else:
        a = np.zeros_like(a)
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "L")


# ---------------------------------------------------------------------------------------------- scanning


def scan_images(items: list[ImageItem], on_bad: str = "error") -> tuple[list[ImageItem], list[BadFile]]:
    """Decode every image once; returns (good items in order, bad files).

    on_bad="error" raises DataError listing every bad file; "skip" leaves them out. Either way a class that
    is left without images raises DataError.
    """
    if on_bad not in ("error", "skip"):
        raise ValueError(f"on_bad must be 'error' or 'skip', not {on_bad!r}")
    items = list(items)
    workers = max(1, min(8, os.cpu_count() or 1, len(items)))
    with warnings.catch_warnings():  # PIL's own bomb warning: we report those files as bad instead
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            reasons = list(pool.map(_problem, [i.path for i in items]))
    good = [i for i, r in zip(items, reasons) if r is None]
    bad = [BadFile(i.path, r) for i, r in zip(items, reasons) if r is not None]
    described = [f"{b.path}: {b.reason}" for b in bad]
    if bad and on_bad == "error":
        subject = f"{len(bad)} of {len(items)} image(s) cannot be used (skip them with on_bad='skip')"
        raise data_error(subject, described, as_list=True)
    emptied = sorted({i.label for i in items if i.label is not None} - {i.label for i in good})
    if emptied:
        subject = f"No images left in class(es) {', '.join(emptied)} after leaving out bad files"
        raise data_error(subject, described, as_list=True)
    return good, bad


def _problem(path: Path) -> str | None:
    try:
        _decode(Path(path), draft=True)
    except BadImage as e:
        return e.reason
    return None
