"""Detection data: COCO/VOC/YOLO readers, layout detection and the data check, on generated files and real data."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from graft import datasets
from graft.data.boxes import BoxedImage, detect_format, is_detection_dataset, read_detection_dataset
from graft.errors import DataError

HINT = "use --on-bad-file skip"


def png(path: Path, size=(40, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 140, 60)).save(path)
    return path


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))
    return path


def coco(root: Path, annotations: list[dict], images=None, categories=None, name="annotations.json") -> Path:
    """A COCO folder: `name` + images/a.png (40x30), images/b.png (40x30, negative unless annotated)."""
    images = images or [{"id": 1, "file_name": "a.png", "width": 40, "height": 30},
                        {"id": 2, "file_name": "b.png", "width": 40, "height": 30}]
    for entry in images:
        png(root / "images" / entry["file_name"])
    categories = categories or [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}]
    anns = [{"id": i, "iscrowd": 0, **a} for i, a in enumerate(annotations, 1)]
    write_json(root / name, {"images": images, "annotations": anns, "categories": categories})
    return root


def voc_xml(path: Path, filename: str, objects: list[tuple], size=(40, 30)) -> Path:
    """A Pascal VOC .xml: objects are (name, xmin, ymin, xmax, ymax[, difficult])."""
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>" if size else ""
    body = "".join(
        f"<object>\n<name>{o[0]}</name>\n<difficult>{o[5] if len(o) > 5 else 0}</difficult>\n"
        f"<bndbox>\n<xmin>{o[1]}</xmin><ymin>{o[2]}</ymin><xmax>{o[3]}</xmax><ymax>{o[4]}</ymax>\n</bndbox>\n"
        "</object>\n" for o in objects)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"<annotation>\n<filename>{filename}</filename>\n{size_xml}\n{body}</annotation>\n")
    return path


def yolo(root: Path, labels: dict[str, str | None], names=("dog", "cat"), size=(40, 30)) -> Path:
    """A YOLO folder: images/<name>.png and labels/<name>.txt (none when the text is None), classes.txt."""
    for name, text in labels.items():
        png(root / "images" / f"{name}.png", size)
        (root / "labels").mkdir(parents=True, exist_ok=True)
        if text is not None:
            (root / "labels" / f"{name}.txt").write_text(text)
    if names is not None:
        (root / "classes.txt").write_text("\n".join(names) + "\n")
    return root


def error(source, **kwargs) -> str:
    with pytest.raises(DataError) as caught:
        read_detection_dataset(source, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def flat(boxes) -> list[float]:
    return [v for box in boxes for v in box]


# ------------------------------------------------------------------------------------------- readers


def test_coco_reader_boxes_negatives_crowd_and_class_order(tmp_path):
    root = coco(tmp_path / "c", [
        {"image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 5]},
        {"image_id": 1, "category_id": 2, "bbox": [0.5, 0, 4, 4.5]},
        {"image_id": 1, "category_id": 2, "bbox": [0, 0, 40, 30], "iscrowd": 1},
    ])
    data = read_detection_dataset(root)
    assert (data.format, data.classes, data.source) == ("coco", ["cat", "dog"], str(root))
    a, b = data.images
    assert a == BoxedImage(root / "images" / "a.png", 40, 30, ((2, 3, 12, 8), (0.5, 0, 4.5, 4.5)), ("dog", "cat"))
    assert (b.boxes, b.labels) == ((), ())
    report = data.report
    assert {k: report[k] for k in ("images", "boxes", "empty_images", "boxes_per_class", "crowd_ignored")} == {
        "images": 2, "boxes": 2, "empty_images": 1, "boxes_per_class": {"cat": 1, "dog": 1}, "crowd_ignored": 1}
    assert report["skipped"] == [] and report["clipped_boxes"] == [] and report["format"] == "coco"
    json.dumps(report)
    assert read_detection_dataset(root / "annotations.json").images == data.images
    small = data.subset([1])
    assert (small.images, small.classes, small.report["images"], small.report["boxes"]) == ([b], data.classes, 1, 0)


def test_coco_instances_layout_and_header_sizes(tmp_path):
    root = tmp_path / "c"
    png(root / "train" / "x.png", (25, 20))
    write_json(root / "annotations" / "instances_train.json", {
        "images": [{"id": "x", "file_name": "x.png"}],
        "annotations": [{"id": 1, "image_id": "x", "category_id": 7, "bbox": [1, 1, 5, 5]}],
        "categories": [{"id": 7, "name": "tree"}, {"id": 8, "name": "bush"}]})
    assert detect_format(root) == "coco"
    data = read_detection_dataset(root)
    assert [(im.path, im.width, im.height) for im in data.images] == [(root / "train" / "x.png", 25, 20)]
    assert data.classes == ["bush", "tree"] and data.report["boxes_per_class"] == {"bush": 0, "tree": 1}


def test_voc_reader_both_layouts_size_from_header_and_difficult(tmp_path):
    root = tmp_path / "voc"
    png(root / "JPEGImages" / "a.png", (50, 40))
    png(root / "JPEGImages" / "b.png")
    voc_xml(root / "Annotations" / "a.xml", "a.png", [("tree", 1, 2, 11, 12), ("rock", 5, 5, 9, 9, 1)], size=None)
    voc_xml(root / "Annotations" / "b.xml", "b.png", [])
    data = read_detection_dataset(root)
    assert (data.format, data.classes) == ("voc", ["rock", "tree"])
    a, b = data.images
    assert (a.width, a.height, a.boxes, a.labels) == (50, 40, ((1, 2, 11, 12), (5, 5, 9, 9)), ("tree", "rock"))
    assert b.boxes == () and data.report["empty_images"] == 1 and data.report["difficult"] == 1

    flat = tmp_path / "flat"
    png(flat / "p.png")
    voc_xml(flat / "p.xml", "p.png", [("tree", 1, 1, 5, 5)])
    png(flat / "unannotated.png")
    assert [im.path.name for im in read_detection_dataset(flat).images] == ["p.png"]


def test_voc_size_follows_exif_orientation(tmp_path):
    image = Image.new("RGB", (40, 30))
    exif = image.getexif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    image.save(tmp_path / "r.jpg", exif=exif)
    voc_xml(tmp_path / "r.xml", "r.jpg", [("tree", 1, 1, 25, 35)], size=None)
    (im,) = read_detection_dataset(tmp_path).images
    assert (im.width, im.height, im.boxes) == (30, 40, ((1, 1, 25, 35),))


def test_yolo_reader_pixels_negatives_and_names_files(tmp_path):
    root = yolo(tmp_path / "y", {"a": "1 0.5 0.5 0.5 0.2\n\n0 0.25 0.5 0.1 0.1\n", "b": "", "c": None})
    data = read_detection_dataset(root)
    assert (data.format, data.classes) == ("yolo", ["cat", "dog"])
    a, b, c = data.images
    assert a.labels == ("cat", "dog")
    assert flat(a.boxes) == pytest.approx([10, 12, 30, 18, 8, 13.5, 12, 16.5])
    assert b.boxes == c.boxes == () and data.report["empty_images"] == 2

    (root / "classes.txt").unlink()
    (root / "data.yaml").write_text("path: .\nnames:\n  0: dog\n  1: cat\n  2: bird\n")
    assert read_detection_dataset(root).classes == ["bird", "cat", "dog"]
    (root / "data.yaml").write_text("names: [fox, owl]\n")
    assert read_detection_dataset(root).images[0].labels == ("owl", "fox")


def test_yolo_split_folders(tmp_path):
    root = tmp_path / "y"
    png(root / "images" / "train" / "a.png")
    png(root / "images" / "val" / "v.png")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "val").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "labels" / "val" / "v.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("names: [tree]\n")
    assert detect_format(root) == "yolo" and is_detection_dataset(root / "images" / "val")
    assert "pass one of them" in error(root)
    train = read_detection_dataset(root / "images" / "train")
    assert [im.path.name for im in train.images] == ["a.png"] and train.classes == ["tree"]


def test_yolo_without_class_names(tmp_path):
    root = yolo(tmp_path / "y", {"a": "1 0.5 0.5 0.5 0.5\n"}, names=None)
    assert "classes.txt" in error(root)
    data = read_detection_dataset(root, classes=["x", "y"])  # ids index a trained model's classes
    assert (data.classes, data.images[0].labels) == (["x", "y"], ("y",))


# ------------------------------------------------------------------------------------------- layouts


def test_detect_format_and_is_detection_dataset(tmp_path):
    roots = {"coco": coco(tmp_path / "c", []), "voc": tmp_path / "v", "yolo": yolo(tmp_path / "y", {"a": ""})}
    png(roots["voc"] / "JPEGImages" / "a.png")
    voc_xml(roots["voc"] / "Annotations" / "a.xml", "a.png", [])
    for fmt, root in roots.items():
        assert detect_format(root) == fmt and detect_format(str(root)) == fmt and is_detection_dataset(root)
    assert detect_format(roots["coco"] / "annotations.json") == "coco"

    classes = tmp_path / "classes"
    png(classes / "cats" / "1.png")
    png(classes / "dogs" / "1.png")
    listing = tmp_path / "list.json"
    listing.write_text('[{"path": "a.png", "label": "cat"}]')
    for source in (classes, listing, tmp_path / "missing", roots["voc"] / "JPEGImages" / "a.png"):
        assert not is_detection_dataset(source)
    with pytest.raises(DataError, match=r"classes: not a detection dataset \(expected a COCO .json"):
        detect_format(classes)
    with pytest.raises(DataError, match="missing: not found"):
        read_detection_dataset(tmp_path / "missing")
    with pytest.raises(DataError, match="sub-folder\\(s\\) c, v, y are: pass one of them"):
        detect_format(tmp_path)

    write_json(roots["coco"] / "other.json", {"images": [], "annotations": [], "categories": []})
    assert not is_detection_dataset(roots["coco"])
    with pytest.raises(DataError, match="several COCO annotation files"):
        detect_format(roots["coco"])
    (roots["coco"] / "other.json").unlink()
    (roots["coco"] / "labels").mkdir()
    assert not is_detection_dataset(roots["coco"])  # coco json beside images/ + labels/: ambiguous
    with pytest.raises(DataError, match="ambiguous detection layout.*coco and yolo"):
        detect_format(roots["coco"])


# ------------------------------------------------------------------------------------------- data check


def test_clipped_boxes_are_reported_not_bad(tmp_path):
    root = yolo(tmp_path / "y", {"a": "0 0.95 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n"})
    data = read_detection_dataset(root)
    assert flat(data.images[0].boxes) == pytest.approx([34, 12, 40, 18, 16, 12, 24, 18])
    assert data.report["clipped_count"] == 1 and data.report["skipped"] == []
    (clip,) = data.report["clipped_boxes"]
    assert clip["file"].endswith("a.txt") and clip["line"] == 1
    assert clip["box"] == pytest.approx([34, 12, 42, 18]) and clip["clipped_to"] == pytest.approx([34, 12, 40, 18])


def test_clipped_list_is_capped_with_a_count(tmp_path):
    root = yolo(tmp_path / "y", {"a": "0 0.0 0.5 0.2 0.2\n" * 60})
    report = read_detection_dataset(root).report
    assert len(report["clipped_boxes"]) == 50 and report["clipped_count"] == 60


def test_voc_bad_boxes_error_names_file_and_line_and_skip_keeps_good_boxes(tmp_path):
    root = tmp_path / "v"
    png(root / "a.png")
    xml = voc_xml(root / "a.xml", "a.png", [("tree", 1, 1, 9, 9), ("tree", 10, 10, 10, 20), ("tree", 20, 5, 15, 9),
                                             ("tree", 50, 40, 60, 45)])
    message = error(root)
    assert message.startswith(
        f"3 problems: {xml}:14: zero-area box [10, 10, 10, 20]; {xml}:21: inverted box [20, 5, 15, 9] (x2 < x1)")
    assert "lies outside the 40x30 image" in message and HINT in message

    data = read_detection_dataset(root, on_bad_file="skip")
    assert data.images[0].boxes == ((1, 1, 9, 9),)
    assert [(s["file"], s["line"]) for s in data.report["skipped"]] == [(str(xml), 14), (str(xml), 21), (str(xml), 28)]


def test_coco_bad_entries(tmp_path):
    root = coco(tmp_path / "c", [
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, -5, 5]},
        {"image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]},
        {"image_id": 1, "category_id": 1, "bbox": [1, 1, 0, 5]},
        {"image_id": 2, "category_id": 2, "bbox": "1 1 5 5"},
        {"image_id": 5, "category_id": 1, "bbox": [1, 1, 5, 5]},
    ])
    message = error(root)
    assert message.startswith(f"5 problems: {root / 'annotations.json'}: annotation id 2: negative width/height")
    assert "annotation id 3: unknown category id 9" in message and "; 2 more problems (" in message

    data = read_detection_dataset(root, on_bad_file="skip")
    assert [len(im.boxes) for im in data.images] == [1, 0]
    reasons = [s["reason"] for s in data.report["skipped"]]
    assert [r.split(":")[0] for r in reasons] == [f"annotation id {i}" for i in (2, 3, 4, 5, 6)]
    assert reasons[2] == "annotation id 4: zero-area box [1, 1, 1, 6]" and "unknown image id 5" in reasons[4]


def test_unknown_class_given_a_model_class_list(tmp_path):
    root = tmp_path / "v"
    png(root / "a.png")
    voc_xml(root / "a.xml", "a.png", [("tree", 1, 1, 9, 9), ("car", 2, 2, 8, 8)])
    message = error(root, classes=["tree", "bush"])
    assert message.startswith(f"{root / 'a.xml'}:14: unknown class 'car' (classes: bush, tree)")
    assert message.endswith("(use --on-bad-file skip to train without it)")
    data = read_detection_dataset(root, classes=["tree", "bush"], on_bad_file="skip")
    assert data.classes == ["tree", "bush"] and data.images[0].labels == ("tree",)
    assert data.report["boxes_per_class"] == {"tree": 1, "bush": 0}

    yroot = yolo(tmp_path / "y", {"a": "0 0.5 0.5 0.1 0.1\n5 0.5 0.5 0.1 0.1\n"})
    label = yroot / "labels" / "a.txt"
    assert error(yroot).startswith(f"{label}:2: unknown class id 5 (the class names define ids 0-1)")
    assert "unknown class 'cat'" in error(yolo(tmp_path / "y2", {"a": "1 0.5 0.5 0.1 0.1\n"}), classes=["dog"])


def test_missing_images_are_dropped_in_skip_mode(tmp_path):
    root = coco(tmp_path / "c", [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]},
                                 {"image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}])
    (root / "images" / "b.png").unlink()
    assert "image 'b.png' (id 2) not found in" in error(root)
    data = read_detection_dataset(root, on_bad_file="skip")
    assert [im.path.name for im in data.images] == ["a.png"] and len(data.report["skipped"]) == 1

    vroot = tmp_path / "v"
    png(vroot / "a.png")
    voc_xml(vroot / "a.xml", "a.png", [("tree", 1, 1, 5, 5)])
    voc_xml(vroot / "gone.xml", "gone.png", [("tree", 1, 1, 5, 5)])
    assert error(vroot).startswith(f"{vroot / 'gone.xml'}:2: image 'gone.png' not found in {vroot}/")
    assert [im.path.name for im in read_detection_dataset(vroot, on_bad_file="skip").images] == ["a.png"]

    yroot = yolo(tmp_path / "y", {"a": "0 0.5 0.5 0.1 0.1\n"})
    (yroot / "labels" / "lost.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    assert f"{yroot / 'labels' / 'lost.txt'}: label file without an image" in error(yroot)
    (yroot / "images" / "broken.png").write_bytes(b"not a png")
    data = read_detection_dataset(yroot, on_bad_file="skip")
    assert [im.path.name for im in data.images] == ["a.png"]
    assert ["cannot read the size of image" in s["reason"] for s in data.report["skipped"]] == [True, False]


def test_unreadable_yolo_lines(tmp_path):
    root = yolo(tmp_path / "y", {"a": "0 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2\n0 a b c d\n0.5 0.1 0.1 0.1 0.1\n"
                                      "0 0.5 0.5 0 0.2\n0 5 5 0.2 0.2\n"})
    label = root / "labels" / "a.txt"
    message = error(root)
    assert message.startswith(f"5 problems: {label}:2: unreadable label line '0 0.5 0.5 0.2': 4 fields instead of 5")
    assert f"{label}:3: unreadable label line '0 a b c d': the fields are not all numbers" in message
    assert f"{label}:4: unreadable label line" in message and "'0.5' is not an integer" in message
    assert message.endswith("; 2 more problems (use --on-bad-file skip to train without them)")
    data = read_detection_dataset(root, on_bad_file="skip")
    assert len(data.images[0].boxes) == 1
    reasons = {s["line"]: s["reason"] for s in data.report["skipped"]}
    assert reasons[5].startswith("zero-area box") and "normalised to 0..1" in reasons[6]


def test_malformed_xml_json_yaml(tmp_path):
    vroot = tmp_path / "v"
    png(vroot / "a.png")
    png(vroot / "b.png")
    voc_xml(vroot / "a.xml", "a.png", [("tree", 1, 1, 5, 5)])
    (vroot / "b.xml").write_text("<annotation>\n<filename>b.png</filename>\n<object>\n</annotation>\n")
    assert error(vroot) == (f"{vroot / 'b.xml'}:4: malformed XML (mismatched tag) "
                            "(use --on-bad-file skip to train without it)")
    data = read_detection_dataset(vroot, on_bad_file="skip")
    assert [im.path.name for im in data.images] == ["a.png"]
    assert data.report["skipped"] == [
        {"file": str(vroot / "b.xml"), "line": 4, "reason": "malformed XML (mismatched tag)"}]

    croot = coco(tmp_path / "c", [])
    (croot / "annotations.json").write_text('{"images": [],\n "annotations": [,\n "categories": []}')
    for mode in ("error", "skip"):
        assert error(croot, on_bad_file=mode).startswith(f"{croot / 'annotations.json'}:2: invalid JSON")
    (croot / "annotations.json").write_text('{"images": [], "annotations": []}')
    assert "not a COCO detection file (no 'categories' list)" in error(croot)

    yroot = yolo(tmp_path / "y", {"a": ""}, names=None)
    (yroot / "data.yaml").write_text("names:\n  - a\n  b: [\n")
    assert error(yroot).startswith(f"{yroot / 'data.yaml'}:3: invalid YAML")
    (yroot / "data.yaml").write_text("nc: 2\n")
    assert "needs a 'names:' list" in error(yroot)


def test_nothing_usable_and_bad_arguments(tmp_path):
    root = coco(tmp_path / "c", [], images=[{"id": 1, "file_name": "a.png"}])
    (root / "images" / "a.png").unlink()
    assert "no usable images left" in error(root, on_bad_file="skip")
    with pytest.raises(ValueError, match="on_bad_file"):
        read_detection_dataset(root, on_bad_file="ignore")


# ------------------------------------------------------------------------------------------- real data


def test_real_voc_annotations_of_deepforest():
    source = Path(importlib.util.find_spec("deepforest").submodule_search_locations[0]) / "data"
    data = read_detection_dataset(source)
    assert data.format == "voc" and data.classes == ["Alive", "Dead", "Tree"]
    assert {im.path.stem: (im.width, im.height, len(im.boxes)) for im in data.images} == {
        "2019_YELL_2_528000_4978000_image_crop2": (2299, 2472, 574),
        "2019_YELL_2_541000_4977000_image_crop": (1249, 1035, 279),
        "OSBS_029": (400, 400, 61), "SOAP_061": (400, 400, 37)}
    assert data.report["boxes_per_class"] == {"Alive": 9, "Dead": 28, "Tree": 914}


def test_real_trees_tiles_read_back(tmp_path):
    out = datasets.trees(tmp_path, limit=6)
    for split in ("train", "test"):
        assert is_detection_dataset(out / split)
        data = read_detection_dataset(out / split, classes=["Tree"])
        assert (data.format, len(data.images), data.report["skipped"]) == ("coco", 6, [])
        assert data.report["boxes"] > 30 and data.report["clipped_count"] == 0
        assert all((im.width, im.height) == (400, 400) for im in data.images)
        with Image.open(data.images[0].path) as im:
            assert (im.size, im.mode) == ((400, 400), "RGB")
