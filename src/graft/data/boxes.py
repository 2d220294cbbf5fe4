"""Object-detection datasets: COCO JSON, Pascal VOC XML or YOLO txt, read into one form, with a data check.

Layouts (`detect_format` tells them apart from the file names alone):

- COCO: a ``.json`` file holding ``images``, ``annotations`` and ``categories``, or a folder holding exactly
  one such file (directly, e.g. ``annotations.json``, or as ``annotations/instances_*.json``). An image's
  ``file_name`` is relative to the JSON's folder or to an ``images/`` folder beside it (for
  ``annotations/instances_<split>.json`` also to the folder above, its ``images/`` and ``<split>/``).
  ``bbox`` is ``[x, y, w, h]`` in pixels; ``iscrowd=1`` annotations are ignored (counted in the report).
- Pascal VOC: a folder with ``Annotations/*.xml`` (images in ``JPEGImages/``), or a folder of ``.xml`` files
  beside their images. ``<filename>`` is looked up in ``JPEGImages/``, then beside the .xml (then ``<path>``
  and the .xml's own stem with an image extension). ``<size>`` is used when given, else the image header is
  read. Coordinates are taken as written (no 1-based shift); ``<difficult>`` boxes are kept as ordinary boxes
  (counted). Images come from the .xml files: an image without an .xml is not part of the dataset.
- YOLO: a folder with ``images/`` and ``labels/`` (``labels/a/b.txt`` for ``images/a/b.png``), or a split
  folder ``<root>/images/<split>`` beside ``<root>/labels/<split>``; only the given folder is read. Class
  names come from ``classes.txt`` / ``obj.names`` (one per line) or ``data.yaml`` (``names:`` list or
  {id: name}), found in the folder, its ``labels/`` or the dataset root. Each label line is
  ``class_id cx cy w h`` normalised to 0..1; an image without a label file, or with an empty one, is a negative.

Invariants of the result:

- every box is ``(x1, y1, x2, y2)`` in pixels of the upright image (EXIF orientation applied, as
  ``load_image`` returns it) with ``0 <= x1 < x2 <= width`` and ``0 <= y1 < y2 <= height``;
- every label is a name in ``classes``; ``classes`` is the ``classes`` argument in its order when given,
  else the sorted names the data declares (COCO categories, YOLO names) or uses (VOC);
- images without boxes are kept, as negatives, in every format; image order is the COCO ``images`` order,
  the sorted .xml files (VOC) or the sorted image files (YOLO);
- the data check never raises for bad user data with anything but one one-line ``DataError``.

The data check: a box partly outside its image is clipped and reported (``report["clipped_boxes"]``, a
warning). Bad: a zero-area or inverted box (also when nothing is left after clipping), a class outside the
class list, a missing or unreadable image, an unreadable label line, .xml or COCO entry. With
``on_bad_file="error"`` every problem is collected and one DataError names the count and the first few
(``file:line: reason``); with "skip" a bad box is dropped (its image kept), a bad image is dropped, and each
is listed in ``report["skipped"]``. A malformed COCO .json or data.yaml cannot be skipped: DataError at once.
"""
from __future__ import annotations

import json
import math
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.parsers import expat

from PIL import Image

from graft.data.common import iter_lines, read_text_file, walk_files
from graft.data.images import IMAGE_EXTENSIONS
from graft.errors import DataError

FORMATS = ("coco", "voc", "yolo")
MAX_CLIPPED_LISTED = 50
_SHOWN = 3  # problems quoted in the one-line error
_TOLERANCE = 0.01  # px a box may stick out of its image before its clipping is reported
_SNIFF = 1 << 20  # bytes of a .json/.xml read to recognise it
_SPLITS = frozenset({"train", "val", "valid", "validation", "test"})
_NAME_FILES = ("classes.txt", "obj.names", "data.yaml", "dataset.yaml")
_LAYOUTS = ("a COCO .json with images/annotations/categories (or a folder holding one), a Pascal VOC folder "
            "(Annotations/*.xml, or .xml files beside their images), or a YOLO folder with images/ and labels/")

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class BoxedImage:
    """One image with its boxes (x1, y1, x2, y2 in pixels, clipped to the image) and a class name per box."""

    path: Path
    width: int
    height: int
    boxes: tuple[Box, ...] = ()
    labels: tuple[str, ...] = ()


@dataclass
class DetectionData:
    """Images with boxes, the class list (see the module docstring for its order) and the data check report.

    report: {"format", "images", "boxes", "empty_images", "boxes_per_class": {name: n},
    "clipped_boxes": [{"file", "box", "clipped_to"}] (first 50), "clipped_count", "skipped": [{"file",
    "line" (when known), "reason"}], "crowd_ignored" (COCO), "difficult" (VOC)}.
    """

    images: list[BoxedImage]
    classes: list[str]
    report: dict
    source: str
    format: str

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int]) -> DetectionData:
        """The images at `indices`, same classes; the report's counts describe the subset, its lists the read."""
        images = [self.images[i] for i in indices]
        return replace(self, images=images, report={**self.report, **_counts(images, self.classes)})


# ---------------------------------------------------------------------------------------------- detection


def detect_format(source: str | Path) -> str:
    """'coco', 'voc' or 'yolo' from the layout at `source`; DataError naming the path when it is none of them."""
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{path}: not found (expected {_LAYOUTS})")
    found = _layouts(path)
    if len(found) > 1:
        raise DataError(f"{path}: ambiguous detection layout, it looks like {' and '.join(found)}; "
                        "pass the annotation file or a folder holding one layout only")
    if not found:
        raise DataError(f"{path}: not a detection dataset (expected {_LAYOUTS}){_sub_layout_hint(path)}")
    return found[0]


def is_detection_dataset(source: str | Path) -> bool:
    """True when `source` is unambiguously one of the three layouts (file names and a few sniffed bytes only)."""
    try:
        return len(_layouts(Path(source).expanduser())) == 1
    except (DataError, OSError, ValueError):
        return False


def _layouts(path: Path) -> list[str]:
    if path.is_file():
        return ["coco"] if path.suffix.lower() == ".json" and _sniff(path, '"images"', '"annotations"') else []
    if not path.is_dir():
        return []
    found = ["coco"] if _coco_file(path) else []
    found += ["voc"] if _voc_xmls(path) else []
    return found + (["yolo"] if _yolo_dirs(path) else [])


def _sniff(path: Path, *needles: str) -> bool:
    """Whether the first bytes of `path` hold one of `needles` (after an opening brace for JSON)."""
    try:
        with open(path, "rb") as f:
            head = f.read(_SNIFF).decode("utf-8", "replace")
    except OSError:
        return False
    if path.suffix.lower() == ".json" and not head.lstrip("\ufeff \t\r\n").startswith("{"):
        return False
    return any(n in head for n in needles)


def _coco_file(folder: Path) -> Path | None:
    """The one COCO .json in `folder` or `folder/annotations`; DataError when there are several."""
    candidates = _visible(folder, ".json") + _visible(folder / "annotations", ".json")
    found = [p for p in candidates if _sniff(p, '"images"', '"annotations"')]
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(folder)) for p in found)
        raise DataError(f"{folder}: several COCO annotation files ({names}); pass the one to read")
    return found[0] if found else None


def _voc_xmls(folder: Path) -> list[Path]:
    """VOC annotation files of `folder` (Annotations/*.xml, else *.xml beside images), [] when not VOC."""
    xmls = _visible(folder / "Annotations", ".xml") or _visible(folder, ".xml")
    return xmls if xmls and _sniff(xmls[0], "<annotation") else []


def _yolo_dirs(folder: Path) -> tuple[Path, Path, list[Path]] | None:
    """(images dir, labels dir, folders searched for class names) of a YOLO layout, or None."""
    if (folder / "images").is_dir() and (folder / "labels").is_dir():
        return folder / "images", folder / "labels", [folder, folder / "labels", folder.parent]
    labels = folder.parent.parent / "labels" / folder.name
    if folder.parent.name == "images" and labels.is_dir():
        root = folder.parent.parent
        return folder, labels, [root, root / "labels", labels, root.parent]
    return None


def _visible(folder: Path, suffix: str) -> list[Path]:
    try:
        return sorted(p for p in folder.iterdir()
                      if p.suffix.lower() == suffix and not p.name.startswith(".") and p.is_file())
    except OSError:
        return []


def _sub_layout_hint(path: Path) -> str:
    try:
        subs = [p.name for p in sorted(path.iterdir()) if p.is_dir() and is_detection_dataset(p)]
    except OSError:
        return ""
    return f"; its sub-folder(s) {', '.join(subs)} are: pass one of them" if subs else ""


# ---------------------------------------------------------------------------------------------- the check


class _Check:
    """Problems and warnings met while reading; turns raw boxes into clipped pixel boxes."""

    def __init__(self, classes: Sequence[str] | None):
        self.known = None if classes is None else set(classes)
        self.problems: list[dict] = []
        self.clipped: list[dict] = []
        self.clipped_count = self.crowd = self.difficult = 0

    def bad(self, file: Path | str, reason: str, line: int | None = None) -> None:
        entry = {"file": str(file), **({"line": line} if line else {}), "reason": " ".join(reason.split())}
        self.problems.append(entry)

    def box(self, file: Path, line: int | None, label: str, raw: Box, size: tuple[int, int],
            where: str = "", hint: str = "") -> Box | None:
        """The box clipped to the image, or None after recording why it is bad (reason prefixed by `where`)."""
        reason = _box_problem(label, raw, size, self.known, hint)
        if reason is not None:
            self.bad(file, where + reason, line)
            return None
        width, height = size
        x1, y1, x2, y2 = raw
        clipped = (min(max(x1, 0), width), min(max(y1, 0), height), min(max(x2, 0), width), min(max(y2, 0), height))
        if max(abs(a - b) for a, b in zip(raw, clipped)) > _TOLERANCE:
            self.clipped_count += 1
            if len(self.clipped) < MAX_CLIPPED_LISTED:
                self.clipped.append({"file": str(file), **({"line": line} if line else {}),
                                     "box": _rounded(raw), "clipped_to": _rounded(clipped)})
        return clipped

    def finish(self, images: list[BoxedImage], classes: list[str], fmt: str, on_bad_file: str) -> dict:
        if self.problems and on_bad_file == "error":
            raise _problems_error(self.problems)
        if not images:
            first = _where(self.problems[0]) + self.problems[0]["reason"]
            raise DataError(f"no usable images left after leaving out what is bad ({len(self.problems)} "
                            f"problem(s), the first: {first})")
        return {"format": fmt, **_counts(images, classes), "clipped_boxes": self.clipped,
                "clipped_count": self.clipped_count, "skipped": self.problems,
                "crowd_ignored": self.crowd, "difficult": self.difficult}


def _box_problem(label: str, raw: Box, size: tuple[int, int], known: set | None, hint: str) -> str | None:
    """Why a box is bad (unknown class, non-finite, inverted, zero-area, outside the image + hint), or None."""
    x1, y1, x2, y2 = raw
    width, height = size
    if known is not None and label not in known:
        return f"unknown class {label!r} (classes: {', '.join(sorted(known))})"
    if not all(math.isfinite(v) for v in raw):
        return f"box {_show(raw)} has non-finite coordinates"
    if x2 < x1 or y2 < y1:
        return f"inverted box {_show(raw)} ({'x2 < x1' if x2 < x1 else 'y2 < y1'})"
    if x2 == x1 or y2 == y1:
        return f"zero-area box {_show(raw)}"
    if x2 <= 0 or y2 <= 0 or x1 >= width or y1 >= height:
        return f"box {_show(raw)} lies outside the {width}x{height} image{hint}"
    return None


def _problems_error(problems: list[dict]) -> DataError:
    shown = "; ".join(_where(p) + p["reason"] for p in problems[:_SHOWN])
    if len(problems) == 1:
        return DataError(f"{shown} (use --on-bad-file skip to train without it)")
    more = f"; {len(problems) - _SHOWN} more problems" if len(problems) > _SHOWN else ""
    return DataError(f"{len(problems)} problems: {shown}{more} (use --on-bad-file skip to train without them)")


def _where(problem: dict) -> str:
    return f"{problem['file']}:{problem['line']}: " if "line" in problem else f"{problem['file']}: "


def _counts(images: list[BoxedImage], classes: list[str]) -> dict:
    per_class = Counter(label for im in images for label in im.labels)
    return {"images": len(images), "boxes": sum(len(im.boxes) for im in images),
            "empty_images": sum(not im.boxes for im in images),
            "boxes_per_class": {name: per_class[name] for name in classes}}


def _rounded(box: Sequence[float]) -> list[float]:
    return [int(v) if float(v).is_integer() else round(float(v), 2) for v in box]


def _show(box: Sequence[float]) -> str:
    return "[" + ", ".join(str(v) for v in _rounded(box)) + "]"


def _image_size(path: Path) -> tuple[int, int]:
    """(width, height) of the upright image from its header (no decoding); OSError/ValueError if unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                width, height = im.size
                turned = im.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientation: a quarter turn
    except OSError:
        raise
    except Exception as e:  # corrupt headers make PIL plugins raise almost anything
        raise ValueError(f"{type(e).__name__}: {e}") from None
    return (height, width) if turned else (width, height)


def _sized(path: Path, file: Path, check: _Check, line: int | None = None) -> tuple[int, int] | None:
    """The image's size, or None after recording that it is missing or unreadable."""
    if not path.is_file():
        check.bad(file, f"image file {path} not found", line)
        return None
    try:
        return _image_size(path)
    except (OSError, ValueError) as e:
        check.bad(file, f"cannot read the size of image {path} ({getattr(e, 'strerror', None) or e})", line)
        return None


def _number(value: object) -> float:
    """A float from a JSON number or numeric text; ValueError otherwise (booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(value)
    return float(value)


# ---------------------------------------------------------------------------------------------- reading


def read_detection_dataset(source: str | Path, on_bad_file: str = "error",
                           classes: Sequence[str] | None = None) -> DetectionData:
    """Read a COCO, VOC or YOLO dataset (format from `detect_format`) and run the data check on it.

    on_bad_file: "error" raises one DataError naming every problem's count and the first few; "skip" drops
    bad boxes and images and lists them in report["skipped"]. classes: the allowed class names (e.g. a
    trained model's, in its order); any other name is an "unknown class" problem.
    """
    if on_bad_file not in ("error", "skip"):
        raise ValueError(f"on_bad_file must be 'error' or 'skip', not {on_bad_file!r}")
    path = Path(source).expanduser()
    fmt = detect_format(path)
    check = _Check(classes)
    reader = {"coco": _read_coco, "voc": _read_voc, "yolo": _read_yolo}[fmt]
    images, declared = reader(path, check, classes)
    if classes is not None:
        names = list(classes)
    else:
        names = sorted(set(declared) | {label for im in images for label in im.labels})
    if not images and not check.problems:
        raise DataError(f"{path}: the {fmt.upper()} dataset holds no images")
    report = check.finish(images, names, fmt, on_bad_file)
    return DetectionData(images=images, classes=names, report=report, source=str(source), format=fmt)


# ------------------------------------------------------------------------ COCO


def _read_coco(path: Path, check: _Check, _classes) -> tuple[list[BoxedImage], list[str]]:
    file = path if path.is_file() else _coco_file(path)
    data = _load_coco(file)
    categories = _coco_categories(file, data["categories"])
    dirs = _coco_image_dirs(file)
    entries: dict[object, tuple[Path, tuple[int, int]]] = {}
    for i, entry in enumerate(data["images"]):
        found = _coco_image(file, i, entry, dirs, check)
        if found is not None and entry["id"] in entries:
            check.bad(file, f"images[{i}]: image id {entry['id']!r} is listed twice")
        elif found is not None:
            entries[entry["id"]] = found
    listed = {_key(e.get("id")) for e in data["images"] if isinstance(e, dict)}
    boxes: dict[object, list[tuple[Box, str]]] = {key: [] for key in entries}
    for i, ann in enumerate(data["annotations"]):
        _coco_annotation(file, i, ann, entries, listed, categories, boxes, check)
    images = [BoxedImage(p, w, h, tuple(b for b, _ in boxes[k]), tuple(n for _, n in boxes[k]))
              for k, (p, (w, h)) in entries.items()]
    return images, list(categories.values())


def _load_coco(file: Path) -> dict:
    try:
        data = json.loads(read_text_file(file))
    except json.JSONDecodeError as e:
        raise DataError(f"{file}:{e.lineno}: invalid JSON ({e.msg})") from None
    except (ValueError, RecursionError) as e:
        raise DataError(f"{file}: invalid JSON ({getattr(e, 'msg', e) or 'too deeply nested'})") from None
    if not isinstance(data, dict):
        raise DataError(f"{file}: not a COCO detection file (a JSON {type(data).__name__}, not an object)")
    missing = [k for k in ("images", "annotations", "categories") if not isinstance(data.get(k), list)]
    if missing:
        raise DataError(f"{file}: not a COCO detection file (no {', '.join(repr(k) for k in missing)} list)")
    return data


def _coco_categories(file: Path, categories: list) -> dict[object, str]:
    """{category id: name}; malformed categories make the whole file unusable."""
    names = {}
    for i, cat in enumerate(categories):
        name = cat.get("name") if isinstance(cat, dict) else None
        if not isinstance(name, str) or not name.strip() or _key(cat.get("id")) is None:
            raise DataError(f"{file}: categories[{i}] needs an 'id' and a non-empty 'name' (found {cat!r:.80})")
        names[cat["id"]] = name.strip()
    return names


def _key(value: object) -> int | str | None:
    """A usable COCO id (an int or a string), else None."""
    return value if isinstance(value, (int, str)) and not isinstance(value, bool) else None


def _coco_image_dirs(file: Path) -> list[Path]:
    folder = file.parent
    dirs = [folder, folder / "images"]
    if folder.name == "annotations":
        dirs += [folder.parent, folder.parent / "images"]
        split = re.fullmatch(r"instances_(.+)", file.stem)
        dirs += [folder.parent / split.group(1), folder.parent / "images" / split.group(1)] if split else []
    return dirs


def _coco_image(file: Path, i: int, entry: object, dirs: list[Path], check: _Check):
    """(path, size) of images[i], or None after recording why it cannot be used."""
    name = entry.get("file_name") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not name.strip() or _key(entry.get("id")) is None:
        check.bad(file, f"images[{i}] needs an 'id' and a 'file_name' (found {entry!r:.80})")
        return None
    path = next((d / name for d in dirs if (d / name).is_file()), None)
    if path is None:
        looked = ", ".join(f"{d}/" for d in dirs[:2])
        check.bad(file, f"image {name!r} (id {entry['id']!r}) not found in {looked}")
        return None
    width, height = entry.get("width"), entry.get("height")
    if type(width) is int and type(height) is int and width > 0 and height > 0:
        return path, (width, height)
    size = _sized(path, file, check)
    return None if size is None else (path, size)


def _coco_annotation(file: Path, i: int, ann: object, entries: dict, listed: set, categories: dict,
                     boxes: dict, check: _Check) -> None:
    if not isinstance(ann, dict):
        check.bad(file, f"annotations[{i}] is not a JSON object")
        return
    where = f"annotation id {ann['id']!r}" if "id" in ann else f"annotations[{i}]"
    if ann.get("iscrowd"):
        check.crowd += 1
        return
    image = _key(ann.get("image_id"))
    if image not in entries:
        if image not in listed:  # annotations of an image already reported as bad are dropped with it
            check.bad(file, f"{where}: unknown image id {image!r}")
        return
    if _key(ann.get("category_id")) not in categories:
        check.bad(file, f"{where}: unknown category id {ann.get('category_id')!r}")
        return
    try:
        if not isinstance(ann.get("bbox"), list) or len(ann["bbox"]) != 4:
            raise ValueError(ann.get("bbox"))
        x, y, w, h = (_number(v) for v in ann["bbox"])
    except ValueError:
        check.bad(file, f"{where}: 'bbox' must be [x, y, width, height] numbers (found {ann.get('bbox')!r:.60})")
        return
    if w < 0 or h < 0:
        check.bad(file, f"{where}: negative width/height in bbox {_show((x, y, w, h))}")
        return
    path, size = entries[image]
    label = categories[ann["category_id"]]
    box = check.box(file, None, label, (x, y, x + w, y + h), size, where=f"{where}: ")
    if box is not None:
        boxes[image].append((box, label))


# ------------------------------------------------------------------------ Pascal VOC


@dataclass
class _Node:
    """An XML element: tag, the line it starts on, its text and child elements."""

    tag: str
    line: int
    text: str = ""
    children: list[_Node] = field(default_factory=list)

    def find(self, tag: str) -> _Node | None:
        return next((c for c in self.children if c.tag == tag), None)

    def value(self, tag: str) -> str | None:
        node = self.find(tag)
        return None if node is None else node.text.strip()


class _Unreadable(Exception):
    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason, self.line = reason, line


def _parse_xml(path: Path) -> _Node:
    """The root element of an XML file, with line numbers; _Unreadable when it is not well-formed."""
    parser = expat.ParserCreate()
    stack = [_Node("", 0)]

    def start(tag: str, _attrs) -> None:
        node = _Node(tag.rpartition(":")[2], parser.CurrentLineNumber)
        stack[-1].children.append(node)
        stack.append(node)

    def text(data: str) -> None:
        stack[-1].text += data

    parser.StartElementHandler, parser.CharacterDataHandler = start, text
    parser.EndElementHandler = lambda _tag: stack.pop()
    try:
        with open(path, "rb") as f:
            parser.ParseFile(f)
    except expat.ExpatError as e:
        raise _Unreadable(f"malformed XML ({expat.errors.messages[e.code]})", e.lineno) from None
    except OSError as e:
        raise _Unreadable(f"cannot read ({e.strerror or e})") from None
    return stack[0].children[0]


def _read_voc(folder: Path, check: _Check, _classes) -> tuple[list[BoxedImage], list[str]]:
    xmls = _voc_xmls(folder)
    image_dirs = [folder / "JPEGImages"] if (folder / "Annotations").is_dir() else []
    images = [_voc_image(xml, image_dirs + [xml.parent], check) for xml in xmls]
    return [im for im in images if im is not None], []


def _voc_image(xml: Path, dirs: list[Path], check: _Check) -> BoxedImage | None:
    try:
        root = _parse_xml(xml)
    except _Unreadable as e:
        check.bad(xml, e.reason, e.line)
        return None
    if root.tag != "annotation":
        check.bad(xml, f"not a Pascal VOC annotation (root element <{root.tag}>)", root.line)
        return None
    path = _voc_image_path(xml, root, dirs)
    if path is None:
        line = (root.find("filename") or root).line
        looked = " or ".join(f"{d}/" for d in dirs)
        check.bad(xml, f"image {root.value('filename') or xml.stem!r} not found in {looked}", line)
        return None
    size = _voc_size(root) or _sized(path, xml, check)
    if size is None:
        return None
    kept = [b for b in (_voc_box(xml, obj, size, check) for obj in root.children if obj.tag == "object") if b]
    return BoxedImage(path, *size, tuple(b for b, _ in kept), tuple(n for _, n in kept))


def _voc_image_path(xml: Path, root: _Node, dirs: list[Path]) -> Path | None:
    name = root.value("filename")
    candidates = [d / name for d in dirs] if name else []
    candidates += [Path(root.value("path"))] if root.value("path") else []
    candidates += [d / (xml.stem + ext) for d in dirs for ext in sorted(IMAGE_EXTENSIONS)]
    return next((p for p in candidates if p.is_file()), None)


def _voc_size(root: _Node) -> tuple[int, int] | None:
    size = root.find("size")
    try:
        width, height = int(size.value("width")), int(size.value("height"))
    except (AttributeError, TypeError, ValueError):
        return None
    return (width, height) if width > 0 and height > 0 else None


def _voc_box(xml: Path, obj: _Node, size: tuple[int, int], check: _Check) -> tuple[Box, str] | None:
    name, bndbox = obj.value("name"), obj.find("bndbox")
    if not name:
        check.bad(xml, "<object> without a <name>", obj.line)
        return None
    try:
        raw = tuple(_number(bndbox.value(k)) for k in ("xmin", "ymin", "xmax", "ymax"))
    except (AttributeError, TypeError, ValueError):
        check.bad(xml, f"<object> {name!r} needs a <bndbox> with numeric xmin, ymin, xmax, ymax", obj.line)
        return None
    if obj.value("difficult") in ("1", "true"):
        check.difficult += 1
    box = check.box(xml, bndbox.line, name, raw, size)
    return None if box is None else (box, name)


# ------------------------------------------------------------------------ YOLO


def _read_yolo(folder: Path, check: _Check, classes) -> tuple[list[BoxedImage], list[str]]:
    images_dir, labels_dir, search = _yolo_dirs(folder)
    _refuse_split_folders(images_dir)
    names = _yolo_names(search, classes)
    problems: list[str] = []
    files = walk_files(images_dir, IMAGE_EXTENSIONS, problems)
    for problem in problems:
        check.bad(problem.partition(": ")[0], problem.partition(": ")[2])
    used, images = set(), []
    for image in files:
        label = labels_dir / image.relative_to(images_dir).with_suffix(".txt")
        used.add(label)
        size = _sized(image, image, check)
        if size is not None:
            images.append(_yolo_image(image, label, size, names, check))
    for orphan in walk_files(labels_dir, {".txt"}, []):
        if orphan not in used and orphan.name != "classes.txt":
            stem = orphan.relative_to(labels_dir).with_suffix("")
            check.bad(orphan, f"label file without an image (no {images_dir / stem}.*)")
    return images, list(names.values())


def _refuse_split_folders(images_dir: Path) -> None:
    try:
        entries = sorted(images_dir.iterdir())
    except OSError as e:
        raise DataError(f"{images_dir}: cannot list folder ({e.strerror or e})") from None
    splits = [p.name for p in entries if p.is_dir() and p.name.lower() in _SPLITS]
    if splits and not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in entries if p.is_file()):
        raise DataError(f"{images_dir} holds split folders ({', '.join(splits)}): pass one of them, "
                        f"e.g. {images_dir / splits[0]}")


def _yolo_image(image: Path, label: Path, size: tuple[int, int], names: dict[int, str],
                check: _Check) -> BoxedImage:
    kept = []
    if label.is_file():
        try:
            lines = list(iter_lines(label))
        except DataError as e:  # "<file>, line <n>: <reason>" from iter_lines
            where = re.match(r".*, line (\d+): (.*)", str(e))
            check.bad(label, where.group(2) if where else str(e), int(where.group(1)) if where else None)
            lines = []
        for number, line in enumerate(lines, 1):
            if line.strip():
                box = _yolo_box(label, number, line, size, names, check)
                kept += [box] if box else []
    return BoxedImage(image, *size, tuple(b for b, _ in kept), tuple(n for _, n in kept))


def _yolo_box(label: Path, number: int, line: str, size: tuple[int, int], names: dict[int, str],
              check: _Check) -> tuple[Box, str] | None:
    try:
        class_id, (cx, cy, w, h) = _yolo_fields(line.split())
    except _Unreadable as e:
        check.bad(label, f"unreadable label line {line.strip()[:60]!r}: {e.reason}", number)
        return None
    if class_id not in names:
        check.bad(label, f"unknown class id {class_id} (the class names define ids "
                         f"{min(names, default=0)}-{max(names, default=-1)})", number)
        return None
    if w < 0 or h < 0:
        check.bad(label, f"negative width/height in {line.strip()[:60]!r}", number)
        return None
    width, height = size
    raw = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width, (cy + h / 2) * height)
    hint = " (YOLO coordinates are normalised to 0..1)" if max(cx, cy, w, h) > 1 else ""
    name = names[class_id]
    box = check.box(label, number, name, raw, size, hint=hint)
    return None if box is None else (box, name)


def _yolo_fields(fields: list[str]) -> tuple[int, tuple[float, ...]]:
    if len(fields) != 5:
        raise _Unreadable(f"{len(fields)} fields instead of 5 (class_id cx cy w h)")
    try:
        class_id, values = float(fields[0]), tuple(float(v) for v in fields[1:])
    except ValueError:
        raise _Unreadable("the fields are not all numbers") from None
    if not class_id.is_integer():
        raise _Unreadable(f"class id {fields[0]!r} is not an integer")
    return int(class_id), values


def _yolo_names(search: list[Path], classes: Sequence[str] | None) -> dict[int, str]:
    """{class id: name} from the first names file found; the `classes` argument when there is none."""
    for folder in search:
        for name in _NAME_FILES:
            path = folder / name
            if path.is_file():
                return _read_yaml_names(path) if path.suffix == ".yaml" else _read_names(path)
    if classes is not None:
        return dict(enumerate(classes))
    raise DataError(f"{search[0]}: no class names for the YOLO ids; write them one per line to "
                    f"{search[0] / 'classes.txt'} (or a data.yaml with a names: list)")


def _read_names(path: Path) -> dict[int, str]:
    lines = [line.strip() for line in iter_lines(path)]
    while lines and not lines[-1]:
        lines.pop()
    for number, name in enumerate(lines, 1):
        if not name:
            raise DataError(f"{path}:{number}: empty class name (one name per line; ids count lines from 0)")
    return _unique(path, dict(enumerate(lines)))


def _read_yaml_names(path: Path) -> dict[int, str]:
    try:
        import yaml
    except ImportError:
        raise DataError(f"{path}: reading it needs PyYAML (pip install pyyaml), or write classes.txt") from None
    text = read_text_file(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise DataError(f"{path}{where}: invalid YAML ({getattr(e, 'problem', None) or e})") from None
    names = data.get("names") if isinstance(data, dict) else None
    if isinstance(names, list):
        names = dict(enumerate(names))
    if not isinstance(names, dict) or not names:
        raise DataError(f"{path}: needs a 'names:' list (or {{id: name}} mapping) of class names")
    try:
        names = {int(k): "" if v is None else str(v).strip() for k, v in names.items()}
    except (TypeError, ValueError):
        raise DataError(f"{path}: the 'names:' mapping needs integer class ids as keys") from None
    if not all(names.values()):
        raise DataError(f"{path}: 'names:' holds an empty class name")
    return _unique(path, names)


def _unique(path: Path, names: dict[int, str]) -> dict[int, str]:
    repeated = sorted(n for n, c in Counter(names.values()).items() if c > 1)
    if repeated:
        raise DataError(f"{path}: class name(s) listed twice: {', '.join(repeated)}")
    return names
