"""Detection: test mAP on the trees split vs training tiles, per starting point; and inference speed.

Accuracy: ``ObjectDetector(..., "fine-tune")`` with graft's default recipe, trained on nested seeded subsets of
the 66 training tiles of ``graft.datasets.trees`` (the 25 % subset lies inside the 50 % one) and scored on the
20 held-out test tiles (a different region of the same source images). Three starts:

- ``coco``: ``ssd_mobilenet_v2_coco``, the whole SSD trained on COCO (only the class convs are new);
- ``imagenet``: ``mobilenet_v2`` (ImageNet weights) under a Faster R-CNN with a feature pyramid (new FPN, RPN and
  RoI heads);
- ``scratch``: the same Faster R-CNN with ``weights=None`` (random init, same recipe).

Each row runs in its own process (``run_worker``) with a time limit. fit() holds out a seeded 20 % of the tiles
it is given for validation (early stopping, best epoch kept): the test split is never seen during training.

Speed: images/s of the COCO SSD in one process, interleaved rounds, median round: graft's
``ObjectDetector.pretrained(...).detect(paths)``, the same weights as a plain eager PyTorch model
(``load_pretrained()`` under ``torch.inference_mode``), OpenCV DNN on the original TensorFlow graph, and
torchvision's ``ssdlite320_mobilenet_v3_large`` with random weights (a speed reference only). Every contestant
starts from the same image files and decodes them itself. Where graft's runtime chose bf16 autocast (a CPU with
native bf16), graft's ``detect`` is also timed with it off, so the table separates that from the rest.

``python -m benchmarks --only detection [--quick] [--row-timeout S]`` runs the section;
``python -m benchmarks.detection coco 1.0`` runs one accuracy row and prints it as JSON.
"""
from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

from benchmarks.common import run_worker

STARTS = {
    "coco": {"backbone": "ssd_mobilenet_v2_coco", "options": {},
             "what": "SSD-MobileNetV2 trained on COCO (new class convs)"},
    "imagenet": {"backbone": "mobilenet_v2", "options": {},
                 "what": "Faster R-CNN + FPN on ImageNet MobileNetV2 (new FPN, RPN, RoI heads)"},
    "scratch": {"backbone": "mobilenet_v2", "options": {"weights": None},
                "what": "the same Faster R-CNN, random init"},
}
FRACTIONS = (0.5, 1.0)
FULL_OPTIONS = {"epochs": 12, "head_epochs": 4}  # one epoch budget for every start: 6 rows fit in about an hour
QUICK_FRACTIONS = (0.25,)
QUICK_OPTIONS = {"epochs": 1, "head_epochs": 1}  # quick mode only: one head epoch, one fine-tune epoch
ROW_TIMEOUT = {"quick": 1800.0, "full": 3 * 3600.0}


# --------------------------------------------------------------------------------------- accuracy

def nested_subsets(n: int, fractions, seed: int) -> dict[float, list[int]]:
    """{fraction: sorted tile indices}: the first round(fraction * n) of one seeded permutation, so smaller
    subsets lie inside larger ones."""
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return {f: sorted(order[:max(2, min(n, round(f * n)))]) for f in fractions}


def fit_eval(start: str, backbone: str, options: dict, train: str, test: str, tiles: list[int],
             threads: int) -> dict:
    """Worker: fit ``ObjectDetector(backbone, "fine-tune", **options)`` on ``tiles`` of ``train``; score on ``test``."""
    from graft import ObjectDetector
    from graft.runtime import configure

    configure(threads=threads)  # fast path as graft defaults (GRAFT_FAST from the worker's environment)
    det = ObjectDetector(backbone, "fine-tune", **options)
    data = det.read_labelled(train).subset(tiles)
    t0 = time.perf_counter()
    det.fit(data)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = det.evaluate(test)
    eval_s = time.perf_counter() - t0
    epochs = {}
    for row in det.history:
        epochs[row["phase"]] = epochs.get(row["phase"], 0) + 1
    config = det.config()
    return {"start": start, "backbone": backbone, "tiles": len(tiles), "boxes": data.report["boxes"],
            "fit_train_images": det.run_report["train_images"], "fit_val_images": det.run_report["val_images"],
            "epochs": epochs, "epochs_total": sum(epochs.values()),
            "epoch_seconds": [round(r.get("seconds", 0.0), 1) for r in det.history], "fit_s": round(fit_s, 1),
            "eval_s": round(eval_s, 1),
            "test_map_50": report["map_50"], "test_map": report["map"], "test_map_75": report["map_75"],
            "test_recall": report["recall"], "test_images": report["n_images"], "test_boxes": report["n_boxes"],
            "val_map_50": det.run_report["val_metrics"]["map_50"],
            "options": {"strategy": "fine-tune", **options},
            "resolved": {"training": config["training"], "strategy": config["strategy"],
                         "image_size": config["detector"]["image_size"],
                         "anchor_sizes": config["detector"]["anchor_sizes"],
                         "weights_source": config["detector"]["weights_source"], "seed": config["seed"],
                         "split": config["split"]},
            "threads": threads, "tile_files": [Path(im.path).name for im in data.images]}


def _accuracy(quick: bool, threads: int, seed: int, workdir: Path, row_timeout: float) -> dict:
    from graft.datasets import trees

    root = trees(workdir / "data")
    train, test = root / "train", root / "test"
    n_train = _count_images(train)
    fractions = QUICK_FRACTIONS if quick else FRACTIONS
    subsets = nested_subsets(n_train, fractions, seed)
    extra = dict(QUICK_OPTIONS) if quick else dict(FULL_OPTIONS)
    runs = []
    for start, spec in STARTS.items():
        for fraction in fractions:
            options = {**spec["options"], **extra, **({"seed": seed} if seed else {})}
            kwargs = {"start": start, "backbone": spec["backbone"], "options": options, "train": str(train),
                      "test": str(test), "tiles": subsets[fraction], "threads": threads}
            print(f"[benchmarks] detection: {start} at {fraction:.0%} ({len(subsets[fraction])} tiles) ...", flush=True)
            t0 = time.perf_counter()
            result = run_worker("detection.fit_eval", kwargs, True, threads, timeout=row_timeout)
            row = {"start": start, "fraction": fraction, "tiles": len(subsets[fraction]), "options": options,
                   "wall_s": round(time.perf_counter() - t0, 1), **result}
            runs.append(row)
            done = (f"test mAP@.5 {row['test_map_50']:.3f}" if "test_map_50" in row else row.get("error", "?"))
            print(f"[benchmarks] detection: {start} at {fraction:.0%}: {done} ({row['wall_s']:.0f}s)", flush=True)
    return {"runs": runs,
            "settings": {"dataset": "graft.datasets.trees (tile 400, overlap 100)", "train_tiles": n_train,
                         "test_tiles": _count_images(test), "fractions": list(fractions),
                         "subset_seed": seed, "nested": True, "row_timeout_s": row_timeout,
                         "starts": {k: {"backbone": v["backbone"], "what": v["what"]} for k, v in STARTS.items()},
                         "recipe": "graft defaults for ObjectDetector(backbone, 'fine-tune') except " +
                                   (f"{QUICK_OPTIONS} (quick mode)" if quick else f"{FULL_OPTIONS} (same epochs for "
                                                                                  "every start)")}}


def _count_images(coco_folder: Path) -> int:
    return len(json.loads((coco_folder / "annotations.json").read_text())["images"])


# ------------------------------------------------------------------------------------------- speed

def _write_images(workdir: Path, trees_test: Path, n_trees: int) -> list[str]:
    """The four scikit-image photos as PNG files plus ``n_trees`` trees test tiles spread over the test region."""
    from PIL import Image

    from benchmarks.detection_speed import _images

    folder = workdir / "det-speed-images"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, image in zip(("chelsea", "astronaut", "coffee", "rocket"), _images(4)):
        path = folder / f"{name}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    tiles = sorted((trees_test / "images").glob("*.png"))
    tiles = tiles[::max(1, len(tiles) // n_trees)][:n_trees]
    return paths + [str(p) for p in tiles]


def speed(paths: list[str], threads: int, rounds: int, batch: int = 8) -> dict:
    """Worker: images/s of each contestant on ``paths`` (every call decodes the files), interleaved rounds."""
    import cv2
    import numpy as np
    import torch
    import torchvision
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    from graft import ObjectDetector
    from graft.detection.ssd_coco import fused_for_inference, load_pretrained, model_files, opencv_detect
    from graft.runtime import configure

    rt = configure(threads=threads)
    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    pb, pbtxt = model_files()
    torch.manual_seed(0)

    graft_det = ObjectDetector.pretrained("ssd_mobilenet_v2_coco")
    eager = load_pretrained()  # eval mode, BatchNorm unfused, contiguous weights
    ssdlite = torchvision.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()

    def read_rgb(path: str):
        return pil_to_tensor(Image.open(path).convert("RGB")).float().div_(255)

    def torch_run(model):
        def run():
            found = 0
            with torch.inference_mode():
                for s in range(0, len(paths), batch):
                    for p in model([read_rgb(p) for p in paths[s:s + batch]]):
                        found += int((p["scores"] >= 0.5).sum())
            return found
        return run

    def run_graft():
        return sum(len(objects) for objects in graft_det.detect([Path(p) for p in paths], min_score=0.5))

    def run_opencv():
        found = 0
        for p in paths:
            image = cv2.cvtColor(cv2.imread(p, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            found += len(opencv_detect(image, pb, pbtxt, threshold=0.5)["scores"])
        return found

    def run_graft_fp32():  # as with GRAFT_BF16=0: no bf16 autocast, the fused channels-last model in fp32
        rt.bf16 = False
        try:
            return run_graft()
        finally:
            rt.bf16 = True

    configs = {"graft_detect": run_graft}
    if rt.bf16:
        configs["graft_detect_fp32"] = run_graft_fp32
    configs.update(torch_eager=torch_run(eager), opencv_dnn=run_opencv, torchvision_ssdlite_random=torch_run(ssdlite))
    found = {k: fn() for k, fn in configs.items()}  # warm-up; detections scoring >= 0.5 as a sanity check
    seconds: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(rounds):
        for key, fn in configs.items():
            t0 = time.perf_counter()
            fn()
            seconds[key].append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    fused_for_inference(graft_det.model, channels_last=True)
    fuse_s = time.perf_counter() - t0
    ips = {k: round(len(paths) / statistics.median(v), 2) for k, v in seconds.items()}
    return {"images_per_s": ips, "vs_opencv": {k: round(v / ips["opencv_dnn"], 3) for k, v in ips.items()},
            "detections_at_0.5": found, "n_images": len(paths), "rounds": rounds, "batch": batch,
            "threads": torch.get_num_threads(), "runtime": vars(rt), "graft_fuse_per_call_s": round(fuse_s, 4),
            "round_seconds": {k: [round(s, 4) for s in v] for k, v in seconds.items()},
            "images": [Path(p).name for p in paths],
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__, "opencv": cv2.__version__,
                         "numpy": np.__version__}}


def _speed(quick: bool, threads: int, workdir: Path) -> dict:
    from graft.datasets import trees

    paths = _write_images(workdir, trees(workdir / "data") / "test", 4)
    rounds = 3 if quick else 9
    return run_worker("detection.speed", {"paths": paths, "threads": threads, "rounds": rounds}, True, threads,
                      timeout=1800)


# --------------------------------------------------------------------------------------------- run

def run(quick: bool, threads: int, seed: int, workdir: Path, row_timeout: float | None = None,
        parts: tuple[str, ...] = ("accuracy", "speed")) -> dict:
    row_timeout = row_timeout or ROW_TIMEOUT["quick" if quick else "full"]
    out = {}
    if "speed" in parts:
        out["speed"] = _speed(quick, threads, workdir)
    if "accuracy" in parts:
        out["accuracy"] = _accuracy(quick, threads, seed, workdir, row_timeout)
    return out


def main(argv: list[str] | None = None) -> None:
    """One accuracy row of the full section (same options) in its own process, printed as JSON: to time a
    row before a full run, or to re-measure one."""
    import argparse
    import tempfile

    from graft.datasets import trees

    parser = argparse.ArgumentParser(prog="python -m benchmarks.detection", description=main.__doc__)
    parser.add_argument("start", choices=list(STARTS))
    parser.add_argument("fraction", type=float, help="share of the training tiles, e.g. 1.0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    root = trees(Path(tempfile.mkdtemp(prefix="graft-bench-det-")) / "data")
    tiles = nested_subsets(_count_images(root / "train"), (args.fraction,), args.seed)[args.fraction]
    options = {**STARTS[args.start]["options"], **FULL_OPTIONS, **({"seed": args.seed} if args.seed else {})}
    t0 = time.perf_counter()
    result = run_worker("detection.fit_eval", {"start": args.start, "backbone": STARTS[args.start]["backbone"],
                                               "options": options, "train": str(root / "train"),
                                               "test": str(root / "test"), "tiles": tiles, "threads": args.threads},
                        True, args.threads, timeout=ROW_TIMEOUT["full"])
    print(json.dumps({"start": args.start, "fraction": args.fraction, "tiles": len(tiles), "options": options,
                      "wall_s": round(time.perf_counter() - t0, 1), **result}, indent=1))


if __name__ == "__main__":
    main()
