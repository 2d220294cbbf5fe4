"""Image dataset reading, robust loading and scanning, on a bad-input corpus generated in tmp_path."""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graft.data.images import (
    BadFile,
    BadImage,
    ImageItem,
    list_images,
    load_image,
    read_image_dataset,
    scan_images,
)
from graft.errors import DataError, GraftError


def save(path: Path, image: Image.Image | None = None, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (image or Image.new("RGB", (8, 8), (10, 200, 30))).save(path, **kwargs)
    return path


def noise(size=(64, 64)) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def truncated(path: Path, fmt: str) -> Path:
    buffer = io.BytesIO()
    noise((128, 128)).save(buffer, fmt)
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return path


def class_tree(root: Path, classes=("cats", "dogs"), per_class=2) -> Path:
    for name in classes:
        for i in range(per_class):
            save(root / name / f"{i}.png")
    return root


# ------------------------------------------------------------------------------------------- folders


def test_folder_dataset_sorted_recursive_case_insensitive(tmp_path):
    root = class_tree(tmp_path / "data")
    save(root / "cats" / "nested" / "deep.JPG", format="JPEG")
    (root / "cats" / "notes.txt").write_text("not an image")
    save(root / "cats" / ".hidden.png")
    save(root / ".cache" / "x.png")
    items = read_image_dataset(root)
    assert [(i.path.relative_to(root).as_posix(), i.label) for i in items] == [
        ("cats/0.png", "cats"),
        ("cats/1.png", "cats"),
        ("cats/nested/deep.JPG", "cats"),
        ("dogs/0.png", "dogs"),
        ("dogs/1.png", "dogs"),
    ]
    assert read_image_dataset(str(root)) == items


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_image_dataset(tmp_path / "nope")


def test_empty_class_folder_and_single_class_reported_together(tmp_path):
    root = class_tree(tmp_path / "d", classes=("cats",))
    (root / "dogs").mkdir()
    (root / "dogs" / "readme.txt").write_text("x")
    with pytest.raises(DataError) as e:
        read_image_dataset(root)
    message = str(e.value)
    assert "class folder 'dogs'" in message and str(root / "dogs") in message
    assert "needs at least 2 classes, found 1: cats" in message


def test_single_class(tmp_path):
    with pytest.raises(DataError, match="needs at least 2 classes, found 1: cats"):
        read_image_dataset(class_tree(tmp_path / "d", classes=("cats",)))


def test_folder_without_class_folders(tmp_path):
    save(tmp_path / "a.png")
    with pytest.raises(DataError, match="no class sub-folders.*1 image"):
        read_image_dataset(tmp_path)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_loops_do_not_hang(tmp_path):
    root = class_tree(tmp_path / "d")
    os.symlink(root / "cats", root / "cats" / "loop")  # folder loop
    os.symlink(root, root / "dogs" / "up")  # loop through the root
    os.symlink("self.png", root / "cats" / "self.png")  # a file link pointing at itself
    items = read_image_dataset(root)  # folder links are not followed: no loop, no class absorbing another
    assert sorted(i.path.relative_to(root).as_posix() for i in items) == [
        "cats/0.png", "cats/1.png", "cats/self.png", "dogs/0.png", "dogs/1.png"
    ]
    good, bad = scan_images(items, on_bad="skip")
    assert [b.path.name for b in bad] == ["self.png"] and "cannot read image" in bad[0].reason
    assert "self.png" not in {i.path.name for i in good}


# ------------------------------------------------------------------------------------------- CSV / JSONL


def test_csv_dataset_relative_and_absolute_paths(tmp_path):
    a = save(tmp_path / "img" / "a.png")
    b = save(tmp_path / "elsewhere" / "b.png")
    csv_file = tmp_path / "train.csv"
    csv_file.write_text(f"Path,Label\nimg/a.png, cat \n{b},dog\n\n", encoding="utf-8")
    assert read_image_dataset(csv_file) == [ImageItem(a, "cat"), ImageItem(b, "dog")]


def test_csv_missing_columns_names_found_columns(tmp_path):
    csv_file = tmp_path / "train.csv"
    csv_file.write_text("file,label\na.png,cat\n")
    with pytest.raises(DataError, match=r"missing column\(s\) path \(found columns: file, label\)"):
        read_image_dataset(csv_file)


def test_csv_bad_rows_and_missing_files_listed_with_lines(tmp_path):
    save(tmp_path / "a.png")
    save(tmp_path / "b.png")
    missing = [f"gone{i}.png" for i in range(12)]
    lines = ["path,label", "a.png,cat", "b.png,dog,extra", "a.png", ",dog"] + [f"{m},dog" for m in missing]
    csv_file = tmp_path / "train.csv"
    csv_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as e:
        read_image_dataset(csv_file)
    message = str(e.value)
    assert "line 3 (3 instead of 2: extra fields)" in message
    assert "line 4 (1 instead of 2: missing fields)" in message
    assert "line 5 (no path)" in message
    assert "12 listed file(s) do not exist" in message and "(line 6)" in message and "and 2 more" in message


def test_non_utf8_csv_names_line(tmp_path):
    save(tmp_path / "a.png")
    csv_file = tmp_path / "train.csv"
    csv_file.write_bytes("path,label\na.png,cat\na.png,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"train\.csv, line 3: not valid UTF-8.*re-save"):
        read_image_dataset(csv_file)


def test_jsonl_dataset_and_invalid_line(tmp_path):
    a, b = save(tmp_path / "a.png"), save(tmp_path / "b.png")
    listing = tmp_path / "data.jsonl"
    listing.write_text(json.dumps({"path": "a.png", "label": 0}) + "\n\n" + json.dumps({"path": str(b), "label": 1}))
    assert read_image_dataset(listing) == [ImageItem(a, "0"), ImageItem(b, "1")]
    listing.write_text(json.dumps({"path": "a.png", "label": "x"}) + "\n{oops\n[1]\n")
    with pytest.raises(DataError, match=r"line 2 \(.*line 3 \(a JSON list"):
        read_image_dataset(listing)


def test_unsupported_dataset_file(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="unsupported"):
        read_image_dataset(tmp_path / "x.parquet")


# ------------------------------------------------------------------------------------------- list_images


def test_list_images(tmp_path):
    a = save(tmp_path / "one" / "a.png")
    b = save(tmp_path / "one" / "sub" / "b.webp", format="WEBP")
    c = save(tmp_path / "c.jpeg", format="JPEG")
    assert list_images(tmp_path / "one") == [a, b]
    assert list_images([c, tmp_path / "one", a]) == [c, a, b]
    with pytest.raises(DataError) as e:
        list_images([tmp_path / "missing.png", tmp_path / "empty"] + [(tmp_path / "t.txt")])
    assert "missing.png: not found" in str(e.value) and "t.txt: not found" in str(e.value)
    (tmp_path / "t.txt").write_text("x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not an image file"):
        list_images(tmp_path / "t.txt")
    with pytest.raises(DataError, match="no images"):
        list_images(tmp_path / "empty")


# ------------------------------------------------------------------------------------------- load_image


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda p: p.write_bytes(b""), "zero-byte file"),
        (lambda p: truncated(p, "PNG"), "truncated image"),
        (lambda p: truncated(p, "JPEG"), "truncated image"),
        (lambda p: p.write_text("hello, I am text"), "not an image"),
        (lambda p: None, "file not found"),
    ],
    ids=["zero-byte", "truncated-png", "truncated-jpeg", "text-named-jpg", "missing"],
)
def test_bad_images_raise_bad_image(tmp_path, make, reason):
    path = tmp_path / "bad.jpg"
    make(path)
    with pytest.raises(BadImage) as e:
        load_image(path)
    assert isinstance(e.value, DataError) and isinstance(e.value, GraftError)
    assert e.value.path == path and reason in e.value.reason
    assert str(path) in str(e.value)
    copy = pickle.loads(pickle.dumps(e.value))  # crosses DataLoader worker processes intact
    assert (copy.path, copy.reason) == (e.value.path, e.value.reason)


def pixel(image: Image.Image, xy=(0, 0)) -> tuple[int, int, int]:
    assert image.mode == "RGB"
    return image.getpixel(xy)


def test_cmyk_jpeg(tmp_path):
    path = save(tmp_path / "cmyk.jpg", Image.new("CMYK", (16, 16), (0, 255, 255, 0)), format="JPEG")
    assert Image.open(path).mode == "CMYK"
    r, g, b = pixel(load_image(path))
    assert r > 200 and g < 60 and b < 60


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    values = np.array([[65535, 32768, 0, 257]], dtype=np.uint16)
    path = save(tmp_path / "deep.png", Image.fromarray(values))
    assert Image.open(path).mode.startswith("I")
    image = load_image(path)
    assert [pixel(image, (x, 0)) for x in range(4)] == [(255,) * 3, (128,) * 3, (0,) * 3, (1,) * 3]


def test_float_image_scaled(tmp_path):
    path = save(tmp_path / "f.tif", Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32), "F"))
    image = load_image(path)
    assert [pixel(image, (x, 0))[0] for x in range(3)] == [0, 128, 255]


def test_rgba_and_la_composited_on_white(tmp_path):
    rgba = Image.new("RGBA", (2, 1), (255, 0, 0, 0))
    rgba.putpixel((1, 0), (0, 0, 0, 128))
    image = load_image(save(tmp_path / "rgba.png", rgba))
    assert pixel(image, (0, 0)) == (255, 255, 255)
    assert all(120 <= v <= 135 for v in pixel(image, (1, 0)))
    assert pixel(load_image(save(tmp_path / "la.png", Image.new("LA", (1, 1), (0, 0))))) == (255, 255, 255)


def test_palette_png_with_transparency(tmp_path):
    palette = Image.new("P", (2, 1))
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 0)
    palette.putpixel((1, 0), 1)
    path = save(tmp_path / "p.png", palette, transparency=0)
    assert Image.open(path).mode == "P"
    image = load_image(path)
    assert pixel(image, (0, 0)) == (255, 255, 255) and pixel(image, (1, 0)) == (0, 0, 255)
    plain = load_image(save(tmp_path / "p2.png", palette))
    assert pixel(plain, (0, 0)) == (255, 0, 0)


@pytest.mark.parametrize("mode, value", [("L", 77), ("1", 1), ("RGB", (1, 2, 3))])
def test_other_modes(tmp_path, mode, value):
    image = load_image(save(tmp_path / "m.png", Image.new(mode, (3, 3), value)))
    assert image.mode == "RGB" and image.size == (3, 3)


@pytest.mark.parametrize("size", [(1, 1), (10000, 10)])
def test_extreme_sizes_are_fine(tmp_path, size):
    image = load_image(save(tmp_path / "x.png", Image.new("RGB", size, (5, 6, 7))))
    assert image.size == size and pixel(image) == (5, 6, 7)


def test_exif_orientation_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = save(tmp_path / "rot.jpg", Image.new("RGB", (40, 20)), format="JPEG", exif=exif.tobytes())
    assert Image.open(path).size == (40, 20)
    assert load_image(path).size == (20, 40)


@pytest.mark.parametrize("limit_ratio", [3, 1.5], ids=["error-over-2x", "warning-over-1x"])
def test_decompression_bomb_is_bad_and_limit_untouched(tmp_path, monkeypatch, limit_ratio):
    path = save(tmp_path / "bomb.png", Image.new("RGB", (100, 100)))
    limit = int(100 * 100 / limit_ratio)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    warns = pytest.warns(Image.DecompressionBombWarning) if limit_ratio < 2 else contextlib.nullcontext()
    with warns, pytest.raises(BadImage, match="image too large \\(decompression bomb"):
        load_image(path)
    assert Image.MAX_IMAGE_PIXELS == limit


# ------------------------------------------------------------------------------------------- scan_images


def bad_corpus(root: Path) -> tuple[list[ImageItem], set[str]]:
    good = [ImageItem(save(root / "a" / f"{i}.png"), "a") for i in range(2)]
    good += [ImageItem(save(root / "b" / "0.jpg", noise(), format="JPEG"), "b")]
    (root / "a" / "zero.png").write_bytes(b"")
    truncated(root / "b" / "cut.jpg", "JPEG")
    (root / "b" / "text.jpg").write_text("plain text")
    bad = [ImageItem(root / "a" / "zero.png", "a"), ImageItem(root / "b" / "cut.jpg", "b"),
           ImageItem(root / "b" / "text.jpg", "b")]
    return good + bad, {"zero.png", "cut.jpg", "text.jpg"}


def test_scan_error_lists_every_bad_file(tmp_path):
    items, bad_names = bad_corpus(tmp_path)
    with pytest.raises(DataError) as e:
        scan_images(items)
    message = str(e.value)
    assert "3 of 6 image(s) cannot be used" in message
    for name, reason in [("zero.png", "zero-byte"), ("cut.jpg", "truncated"), ("text.jpg", "not an image")]:
        assert any(name in line and reason in line for line in message.splitlines()), (name, message)


def test_scan_skip_returns_good_in_order_and_bad(tmp_path):
    items, bad_names = bad_corpus(tmp_path)
    good, bad = scan_images(items, on_bad="skip")
    assert good == items[:3]
    assert {b.path.name for b in bad} == bad_names and all(isinstance(b, BadFile) and b.reason for b in bad)


def test_scan_class_emptied_by_skipping(tmp_path):
    items = [ImageItem(save(tmp_path / "a.png"), "a"), ImageItem(tmp_path / "gone.png", "b")]
    with pytest.raises(DataError, match=r"(?s)No images left in class\(es\) b.*gone\.png: file not found"):
        scan_images(items, on_bad="skip")


def test_scan_bomb_and_bad_argument(tmp_path, monkeypatch):
    big = save(tmp_path / "big.png", Image.new("RGB", (100, 100)))
    ok = save(tmp_path / "ok.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    good, bad = scan_images([ImageItem(big, "a"), ImageItem(ok, "a")], on_bad="skip")
    assert good == [ImageItem(ok, "a")] and bad == [BadFile(big, bad[0].reason)]
    assert "decompression bomb" in bad[0].reason
    with pytest.raises(ValueError):
        scan_images([], on_bad="ignore")
