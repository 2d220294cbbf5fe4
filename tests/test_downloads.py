"""Online dataset recipes: checksum-checked downloads into graft's cache, one-line errors offline, and the
readers on small files written here in the releases' own formats (MedMNIST .npz, PlantVillage zip)."""
from __future__ import annotations

import hashlib
import http.server
import threading
import zipfile

import numpy as np
import pytest

from graft import downloads
from graft.errors import DataError


@pytest.fixture
def server(tmp_path):
    """A local HTTP server over tmp_path/served."""
    root = tmp_path / "served"
    root.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


def _release(url: str, data: bytes, name: str = "x.bin") -> downloads.Release:
    return downloads.Release(name, (url,), "sha256:" + hashlib.sha256(data).hexdigest(), 0.1, "CC0", "test")


def test_download_is_checked_and_cached(server, monkeypatch, graft_home):
    root, base = server
    monkeypatch.delenv("GRAFT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (root / "x.bin").write_bytes(b"real data")
    release = _release(f"{base}/x.bin", b"real data")
    path = downloads.fetch(release)
    assert path == graft_home / "downloads" / "x.bin" and path.read_bytes() == b"real data"
    (root / "x.bin").unlink()  # the source is gone: the cached copy serves
    assert downloads.fetch(release) == path


def test_a_wrong_checksum_is_refused_and_nothing_kept(server, monkeypatch, graft_home):
    root, base = server
    monkeypatch.delenv("GRAFT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    (root / "x.bin").write_bytes(b"an error page")
    with pytest.raises(DataError, match="checksum is not the published sha256:"):
        downloads.fetch(_release(f"{base}/x.bin", b"real data"))
    assert not list((graft_home / "downloads").iterdir())


def test_offline_is_one_line_saying_where_to_put_the_file(monkeypatch, graft_home):
    monkeypatch.setenv("GRAFT_OFFLINE", "1")
    release, _ = downloads.MEDMNIST["pneumonia-mnist"]
    with pytest.raises(DataError) as info:
        downloads.fetch(release)
    message = str(info.value)
    assert "\n" not in message and "zenodo.org" in message and str(graft_home / "downloads") in message


def test_medmnist_reader_writes_class_folders(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 6), ("val", 2), ("test", 3)):
        arrays[f"{part}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{part}_labels"] = (np.arange(n) % 2).reshape(n, 1)
    np.savez(tmp_path / "pneumoniamnist.npz", **arrays)
    counts = downloads.medmnist_folders(tmp_path / "pneumoniamnist.npz", tmp_path / "out", ["normal", "pneumonia"])
    assert counts == {"train": 6, "val": 2, "test": 3}
    assert len(list((tmp_path / "out" / "train" / "pneumonia").glob("*.png"))) == 3
    from graft.data.images import read_image_dataset

    assert sorted({item.label for item in read_image_dataset(tmp_path / "out" / "test")}) == ["normal", "pneumonia"]
    arrays["test_labels"][0] = 7
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match="test image 0 has label 7"):
        downloads.medmnist_folders(tmp_path / "bad.npz", tmp_path / "bad", ["normal", "pneumonia"])


def test_plant_village_reader_splits_each_class(tmp_path):
    from PIL import Image

    archive = tmp_path / "plants.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for label in ("Apple___healthy", "Apple___Black_rot"):
            for i in range(10):
                image = tmp_path / "leaf.jpg"
                Image.new("RGB", (16, 16), (i * 20, 100, 50)).save(image)
                zf.write(image, f"Plant_leave_diseases_dataset_without_augmentation/{label}/image ({i}).JPG")
    counts = downloads.plant_village_folders(archive, tmp_path / "out", seed=0, test_size=0.2)
    assert counts == {"train": 16, "test": 4}
    assert len(list((tmp_path / "out" / "test" / "Apple___healthy").iterdir())) == 2
    again = downloads.plant_village_folders(archive, tmp_path / "again", seed=0, test_size=0.2)
    assert again == counts and sorted(p.name for p in (tmp_path / "again" / "test").rglob("*")) == \
        sorted(p.name for p in (tmp_path / "out" / "test").rglob("*"))  # seeded: the same split


def test_the_recipes_are_built_in_datasets():
    from graft.datasets import DATASETS

    assert {"pneumonia-mnist", "retina-mnist", "derma-mnist", "plant-village"} <= set(DATASETS)
