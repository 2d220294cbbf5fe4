"""Scaling: a feature-extraction fit over 1k, 10k (100k) images made from real elpv cells.

Images are random crops / rotations / flips of the 2,624 cells, written as small PNGs to a temporary folder;
each size runs in its own process with a fresh feature cache, so its time is a first run and its peak RSS
its own. The image size is small (96 px, a MobileNetV2 resolution) so 100k images fit in a CPU run: the
point is how time and memory grow with the number of images, not the per-image cost.
"""
from __future__ import annotations

import random
import shutil
import tempfile
import time
from pathlib import Path

from benchmarks.common import elpv_full, image_files, run_worker

IMAGE_SIZE = 96


def make_images(src_root: Path, dst: Path, n: int, size: int, seed: int) -> Path:
    """``n`` augmented cells as ``dst/<class>/imgNNNNNN.png`` (the class of the cell each one comes from)."""
    from PIL import Image

    rng = random.Random(seed)
    sources = [(label, Image.open(p).convert("L")) for part in ("train", "test")
               for label, files in image_files(src_root / part).items() for p in files]
    rng.shuffle(sources)
    for label in {label for label, _ in sources}:
        (dst / label).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        label, im = sources[i % len(sources)]
        side = int(im.width * rng.uniform(0.6, 1.0))
        x, y = rng.randint(0, im.width - side), rng.randint(0, im.height - side)
        out = im.crop((x, y, x + side, y + side)).resize((size, size), Image.BILINEAR)
        out = out.rotate(90 * rng.randint(0, 3))
        if rng.random() < 0.5:
            out = out.transpose(Image.FLIP_LEFT_RIGHT)
        out.save(dst / label / f"img{i:06d}.png", compress_level=1)
    return dst


def fe_fit(data: str, threads: int, image_size: int) -> dict:
    """Worker: graft's feature-extraction fit (1 head epoch, so the time is the features)."""
    from graft import ImageClassifier
    from graft.runtime import configure

    configure(fast=True, threads=threads)
    start = time.perf_counter()
    clf = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=1, image_size=image_size, seed=0).fit(data)
    seconds = time.perf_counter() - start
    n = clf.run_report["train_size"] + clf.run_report["val_size"]
    return {"seconds": seconds, "images": n, "images_per_s": n / seconds,
            "features_mb": n * clf.model.backbone.feature_dim * 4 / 2**20}


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    sizes = [200, 1000] if quick else [1000, 10_000, 100_000]
    full = elpv_full(workdir / "data")
    out = {"settings": {"image_size": IMAGE_SIZE, "sizes": sizes, "backbone": "mobilenet_v2",
                        "what": "ImageClassifier(strategy='feature-extraction', epochs=1).fit(folder), cold cache"},
           "runs": []}
    for n in sizes:
        folder = Path(tempfile.mkdtemp(prefix=f"scale-{n}-", dir=workdir))
        start = time.perf_counter()
        make_images(full, folder, n, IMAGE_SIZE, seed)
        made = time.perf_counter() - start
        cache = tempfile.mkdtemp(prefix="graft-bench-scale-cache-", dir=workdir)
        result = run_worker("scaling.fe_fit", {"data": str(folder), "threads": threads, "image_size": IMAGE_SIZE},
                            True, threads, timeout=4 * 3600, env_extra={"GRAFT_FEATURE_CACHE": cache})
        out["runs"].append({"n": n, "generate_s": made, **result})
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
    return out
