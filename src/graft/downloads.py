"""The chapter's medical-imaging and agriculture examples, for machines with a network.

No labelled medical or plant images ship in any package, so these recipes download public releases on first
use: MedMNIST's chest X-ray (pneumonia), retina and skin-lesion sets (Zenodo, 28x28 ``.npz``) and the
PlantVillage leaf-disease images (Mendeley Data, a zip of class folders). Each file is checked against its
published checksum, kept in graft's cache (``$GRAFT_HOME/downloads``) and turned into ``train/``, ``val/``
(where the release has one) and ``test/`` class folders that ``graft fit`` reads. Offline, a missing file is
one line saying where to get it and where to put it.
"""
from __future__ import annotations

import hashlib
import os
import random
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from graft.errors import DataError


@dataclass(frozen=True)
class Release:
    name: str  # the file's name in the cache
    urls: tuple[str, ...]  # the publisher's address first, then mirrors
    digest: str  # "md5:..." or "sha256:..." as published
    size_mb: float
    licence: str
    citation: str


ZENODO = "https://zenodo.org/records/10519652/files/{}.npz?download=1"
MEDMNIST_CITATION = ("Yang, J. et al. MedMNIST v2 - A large-scale lightweight benchmark for 2D and 3D biomedical "
                     "image classification. Scientific Data 10, 41 (2023)")
MEDMNIST = {  # dataset -> (release, class names by label id); MD5s as the medmnist package lists them
    "pneumonia-mnist": (Release("pneumoniamnist.npz", (ZENODO.format("pneumoniamnist"),),
                                "md5:28209eda62fecd6e6a2d98b1501bb15f", 4.2, "CC BY 4.0",
                                MEDMNIST_CITATION + "; images from Kermany et al., Cell 172 (2018)"),
                        ["normal", "pneumonia"]),
    "retina-mnist": (Release("retinamnist.npz", (ZENODO.format("retinamnist"),),
                             "md5:bd4c0672f1bba3e3a89f0e4e876791e4", 3.3, "CC BY 4.0",
                             MEDMNIST_CITATION + "; images from the DeepDRiD challenge"),
                     ["grade-0", "grade-1", "grade-2", "grade-3", "grade-4"]),
    "derma-mnist": (Release("dermamnist.npz", (ZENODO.format("dermamnist"),),
                            "md5:0744692d530f8e62ec473284d019b0c7", 19.7,
                            "CC BY-NC 4.0 (HAM10000: non-commercial use only)",
                            MEDMNIST_CITATION + "; images from HAM10000, Tschandl et al., Sci. Data 5 (2018)"),
                    ["actinic-keratosis", "basal-cell-carcinoma", "benign-keratosis", "dermatofibroma",
                     "melanoma", "melanocytic-nevus", "vascular-lesion"]),
}
PLANT_VILLAGE = Release(
    "plant_village_without_augmentation.zip",
    ("https://data.mendeley.com/datasets/tywbtsjrjv/1/files/d5652a28-c1d8-4b76-97f3-72fb80f94efc/"
     "Plant_leaf_diseases_dataset_without_augmentation.zip",
     "https://data.mendeley.com/public-files/datasets/tywbtsjrjv/files/d5652a28-c1d8-4b76-97f3-72fb80f94efc/"
     "file_downloaded"),
    "sha256:ac3432453984d02a86197987e775a5429d0d59e7cc7c35bcf5a8f50349b90ff0", 868.0, "CC0 1.0",
    "Arun Pandian J. and Geetharamani Gopal. Data for: Identification of Plant Leaf Diseases Using a 9-layer "
    "Deep Convolutional Neural Network. Mendeley Data, v1 (2019), doi:10.17632/tywbtsjrjv.1")


def cache_dir() -> Path:
    from graft.backbones.weights import graft_home

    return graft_home() / "downloads"


def fetch(release: Release, timeout: float = 20.0) -> Path:
    """The release's file in graft's cache, downloaded and checked on first use."""
    target = cache_dir() / release.name
    if target.is_file() and _digest_ok(target, release.digest):
        return target
    where = (f"{release.name} ({release.size_mb:g} MB) is downloaded on first use from {release.urls[0]}; "
             f"{{}}: fetch it elsewhere and put it at {target}")
    if any(os.environ.get(v, "0") not in ("", "0") for v in ("GRAFT_OFFLINE", "HF_HUB_OFFLINE")):
        raise DataError(where.format("network use is off (GRAFT_OFFLINE)"))
    target.parent.mkdir(parents=True, exist_ok=True)
    problems, unreachable = [], 0
    for url in release.urls:
        handle, tmp = tempfile.mkstemp(prefix=f".{release.name}.", dir=target.parent)
        os.close(handle)
        try:
            _download(url, Path(tmp), timeout)
            if not _digest_ok(Path(tmp), release.digest):
                problems.append(f"{url}: the file's checksum is not the published {release.digest}")
                continue
            os.replace(tmp, target)
            return target
        except OSError as exc:  # urllib's URLError and socket timeouts are OSErrors: no network, or no answer
            problems.append(f"{url}: {getattr(exc, 'reason', exc)}")
            unreachable += 1
        finally:
            Path(tmp).unlink(missing_ok=True)
    if unreachable == len(release.urls):
        raise DataError(where.format(f"no source answered ({problems[0]})"))
    raise DataError(f"cannot download {release.name}: " + "; ".join(problems))


def _download(url: str, path: Path, timeout: float) -> None:
    import urllib.request

    from graft.progress import progress

    request = urllib.request.Request(url, headers={"User-Agent": "graft (python-urllib)"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(path, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with progress(total=total, desc=path.name.lstrip(".").split(".")[0], unit="B") as bar:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                bar.update(len(chunk))


def _digest_ok(path: Path, digest: str) -> bool:
    kind, expected = digest.split(":", 1)
    h = hashlib.new(kind)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest() == expected


# ------------------------------------------------------------------------------------------- readers
def medmnist_folders(npz: Path, out: Path, classes: list[str]) -> dict[str, int]:
    """MedMNIST's ``{train,val,test}_images/_labels`` arrays as PNG class folders under ``out``; image counts."""
    import numpy as np
    from PIL import Image

    counts = {}
    with np.load(npz) as data:
        for part in ("train", "val", "test"):
            images, labels = data[f"{part}_images"], data[f"{part}_labels"].reshape(len(data[f"{part}_images"]), -1)
            if labels.shape[1] != 1:
                raise DataError(f"{npz}: {part}_labels has {labels.shape[1]} labels per image; graft's recipes "
                                "read single-label sets")
            for i, (image, label) in enumerate(zip(images, labels[:, 0])):
                if not 0 <= int(label) < len(classes):
                    raise DataError(f"{npz}: {part} image {i} has label {int(label)}, outside 0-{len(classes) - 1}")
                folder = out / part / classes[int(label)]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{part}-{i:06d}.png")
            counts[part] = len(images)
    return counts


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def plant_village_folders(archive: Path, out: Path, seed: int = 0, test_size: float = 0.2) -> dict[str, int]:
    """The archive's class folders, split per class (seeded) into ``out/train`` and ``out/test``."""
    by_class: dict[str, list[str]] = {}
    with zipfile.ZipFile(archive) as zf:
        for name in zf.namelist():
            parts = Path(name).parts
            if len(parts) >= 2 and Path(name).suffix.lower() in IMAGE_SUFFIXES and ".." not in parts:
                by_class.setdefault(parts[-2], []).append(name)
        if not by_class:
            raise DataError(f"{archive}: no class folders of images inside")
        counts = {"train": 0, "test": 0}
        for label, names in sorted(by_class.items()):
            names = sorted(names)
            random.Random(f"{seed}-{label}").shuffle(names)
            n_test = round(test_size * len(names))
            for i, name in enumerate(names):
                part = "test" if i < n_test else "train"
                folder = out / part / label
                folder.mkdir(parents=True, exist_ok=True)
                with zf.open(name) as src, open(folder / Path(name).name, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                counts[part] += 1
    return counts


def readme(title: str, release: Release, counts: dict[str, int], how: str) -> str:
    lines = [title, "", f"Downloaded from {release.urls[0]}", f"checked against {release.digest}.", how,
             f"Images: {', '.join(f'{k} {v}' for k, v in counts.items())}.",
             f"Licence: {release.licence}.", f"Citation: {release.citation}.", "", "Written by graft.datasets."]
    return "\n".join(lines) + "\n"
