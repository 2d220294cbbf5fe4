"""fp32 frozen forward against the machine's own limit: images/s x GFLOP per image / matrix-multiply GFLOP/s.

graft's forward is measured with bf16 autocast off (``GRAFT_BF16=0``), since the limit is an fp32 one; its
default precision (bf16 autocast on CPUs with native bf16) is measured beside it. Each forward runs in its own
process (plain PyTorch, then graft, ``pairs`` times), the matrix multiply before and after them.
"""
from __future__ import annotations

from pathlib import Path

from benchmarks.common import mobilenet_v2_weights, run_worker
from benchmarks.speed import _pair

MODELS = {"mobilenet_v2": (2, 10), "resnet50": (1, 6)}  # (warm-up, timed) batches of 32 at 224 px


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    weights = mobilenet_v2_weights()
    pairs = 1 if quick else 3
    matmul = [run_worker("speed.roofline", {"models": list(MODELS), "threads": threads}, True, threads)]
    forward = {}
    for model, (warmup, repeats) in MODELS.items():
        kwargs = {"model": model, "batch": 32, "size": 224, "warmup": warmup, "repeats": repeats,
                  "weights": weights if model == "mobilenet_v2" else None}
        forward[model] = _pair("speed.forward", kwargs, threads, pairs, "images_per_s", env_extra={"GRAFT_BF16": "0"})
        forward[model]["graft_default_precision"] = run_worker("speed.forward", {"impl": "graft", **kwargs,
                                                                                 "threads": threads}, True, threads)
    matmul.append(run_worker("speed.roofline", {"models": list(MODELS), "threads": threads}, True, threads))
    good = [m for m in matmul if "matmul_gflops" in m]
    # the higher of the two matrix-multiply rates: the limit is the best the machine showed, not a slow moment
    roof = max(good, key=lambda m: m["matmul_gflops"]) if good else matmul[0]
    return {"forward": forward, "roofline": {**roof, "matmul_gflops_runs": [m.get("matmul_gflops") for m in matmul]},
            "settings": {"batch": 32, "size": 224, "warmup_repeats": MODELS, "process_pairs": pairs,
                         "graft_precision": "fp32 (GRAFT_BF16=0)"}}
