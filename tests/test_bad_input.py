"""Bad input through the command line: one clear line naming the file or line, non-zero exit, no traceback."""
from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from graft.cli import main


def _png(path, size=(32, 32), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, 128).save(path)
    return path


def _good_folder(root, classes=("a", "b"), n=3):
    for c in classes:
        for i in range(n):
            _png(root / c / f"{i}.png")
    return root


def _run(capsys, *args):
    code = main(["fit", *map(str, args)])
    err = capsys.readouterr().err
    return code, err


def _assert_clear(code, err, *needles):
    assert code == 2, err
    assert err.startswith("graft: error: ") and "Traceback" not in err
    for needle in needles:
        assert needle in err, err


def test_unreadable_images_are_all_listed(tmp_path, capsys):
    data = _good_folder(tmp_path / "d")
    (data / "a" / "zero.png").write_bytes(b"")
    buf = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buf, "JPEG")
    (data / "b" / "cut.jpg").write_bytes(buf.getvalue()[:200])
    (data / "b" / "text.jpg").write_text("not an image")
    code, err = _run(capsys, data, "--out", tmp_path / "m", "--backbone", "mobilenet_v2")
    _assert_clear(code, err, "zero.png", "zero-byte", "cut.jpg", "text.jpg", "3 of 9")


def test_single_class_and_empty_class(tmp_path, capsys):
    code, err = _run(capsys, _good_folder(tmp_path / "one", classes=("only",)), "--out", tmp_path / "m")
    _assert_clear(code, err, "at least 2 classes")
    data = _good_folder(tmp_path / "two")
    (data / "empty").mkdir()
    code, err = _run(capsys, data, "--out", tmp_path / "m")
    _assert_clear(code, err, "empty", "has no images")


def test_decompression_bomb_is_reported(tmp_path, capsys, monkeypatch):
    data = _good_folder(tmp_path / "d")
    _png(data / "a" / "huge.png", size=(400, 400))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100_000)
    code, err = _run(capsys, data, "--out", tmp_path / "m")
    _assert_clear(code, err, "huge.png", "decompression bomb")


def test_symlink_loop_does_not_hang(tmp_path, capsys):
    data = _good_folder(tmp_path / "d")
    os.symlink(data / "a", data / "a" / "loop")
    code, err = _run(capsys, data, "--out", tmp_path / "m", "--on-bad-file", "skip", "--backbone", "resnet101")
    # the listing finishes (loop cut); then resnet101 has no weights offline: a clean error, not a hang
    _assert_clear(code, err, "resnet101")


@pytest.mark.parametrize("content, needles", [
    (b"text,label\nfine,a\n\xff\xfe broken,b\n", ["line 3", "UTF-8"]),
    (b"review_body,stars\ngood,5\nbad,1\n", ["--text-col", "review_body"]),
    (b"text,label\ngood,a\nbad,b,extra\nok,a\n", ["line 3", "extra"]),
    (b"text,label\ngood,a\nbad\nok,b\n", ["line 3", "missing"]),
])
def test_bad_csv_names_the_line(tmp_path, capsys, content, needles):
    data = tmp_path / "data.csv"
    data.write_bytes(content)
    code, err = _run(capsys, data, "--out", tmp_path / "m", "--task", "text")
    _assert_clear(code, err, *needles)


def test_missing_listed_images(tmp_path, capsys):
    listing = tmp_path / "list.csv"
    _png(tmp_path / "x.png")
    listing.write_text("path,label\nx.png,a\nmissing.png,b\n")
    code, err = _run(capsys, listing, "--out", tmp_path / "m")
    _assert_clear(code, err, "missing.png", "line 3")


@pytest.mark.parametrize("option, value, needle", [
    ("--epochs", "0", "argument --epochs: expected a number >= 1, got 0"),
    ("--lr", "-1", "argument --lr: expected a number > 0, got -1"),
    ("--batch-size", "0", "argument --batch-size: expected a number >= 1, got 0"),
    ("--val-fraction", "2", "argument --val-fraction: expected a number > 0 and <= 1, got 2"),
    ("--head-lr", "nan", "argument --head-lr: expected a number > 0, got nan"),
    ("--epochs", "three", "argument --epochs: expected a whole number, got 'three'"),
])
def test_bad_option_values_are_one_line_naming_the_option(tmp_path, capsys, option, value, needle):
    _good_folder(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path), option, value])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and needle in err and "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize("options, needle", [
    ({"epochs": 0}, "epochs must be a whole number >= 1, not 0"),
    ({"lr": -1e-3}, "lr must be a number > 0, not -0.001"),
    ({"batch_size": 2.5}, "batch_size must be a whole number >= 1, not 2.5"),
    ({"val_fraction": 1.0}, "val_fraction must be a number between 0 and 1, not 1.0"),
])
def test_bad_option_values_in_python_name_the_option(options, needle):
    from graft import ImageClassifier, ObjectDetector, QuestionAnswerer, TextClassifier
    from graft.errors import GraftError

    for task in (ImageClassifier, TextClassifier, ObjectDetector, QuestionAnswerer):
        with pytest.raises(GraftError, match=needle.replace("(", "\\(")):
            task(**options)
