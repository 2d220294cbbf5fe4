"""Detection speed: graft's PyTorch SSD-MobileNetV2 (COCO) vs OpenCV DNN running the original TF graph.

Both run in this one process on the same RGB uint8 images with the same thread count. Each measurement is
end to end from the uint8 image: OpenCV ``blobFromImage`` + ``forward`` + reading its detections, and for the port
uint8 -> float tensor + ``model(images)`` (resize, network, sigmoid, NMS) under ``torch.inference_mode``.
Configurations are timed in interleaved rounds (each round times every configuration once) and the median round
is reported, so a neighbour's load on a shared machine hits all of them alike.

``python -m benchmarks.detection_speed [--images N] [--threads T] [--rounds R]`` prints the result as JSON.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time


def _images(n_images: int) -> list:
    """Real RGB photos from scikit-image, cycled to ``n_images`` (300x451 to 427x640)."""
    import numpy as np
    from skimage import data

    pool = [data.chelsea(), data.astronaut(), data.coffee()[..., :3], data.rocket()]
    return [np.ascontiguousarray(pool[i % len(pool)]) for i in range(n_images)]


def opencv_vs_graft(n_images: int = 24, threads: int = 1, rounds: int = 5, batch_sizes: tuple[int, ...] = (1, 8),
                    variants: tuple[str, ...] = ("eager", "fused", "fused_channels_last", "traced",
                                                 "traced_channels_last")) -> dict:
    """Images/s of OpenCV DNN and of the PyTorch port (per variant and batch size) on ``n_images`` images.

    Variants: ``eager`` (the trainable model as loaded), ``fused`` (BatchNorm folded into convs),
    ``*_channels_last`` (NHWC weights), ``traced`` (fused + frozen TorchScript backbone and heads).
    """
    import cv2
    import torch

    from graft.detection.ssd_coco import fused_for_inference, load_pretrained, model_files, opencv_detect

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    pb, pbtxt = model_files()
    images = _images(n_images)

    base = load_pretrained()
    models = {}
    for name in variants:
        if name == "eager":
            models[name] = base
        else:
            models[name] = fused_for_inference(base, channels_last=name.endswith("channels_last"),
                                               trace=name.startswith("traced"))

    def run_opencv():
        for img in images:
            opencv_detect(img, pb, pbtxt, threshold=0.3)

    def make_torch_run(model, batch):
        def run():
            with torch.inference_mode():
                for start in range(0, len(images), batch):
                    chunk = [torch.from_numpy(img).permute(2, 0, 1).float().div_(255)
                             for img in images[start:start + batch]]
                    model(chunk)
        return run

    configs = {"opencv": run_opencv}
    for name, model in models.items():
        for batch in batch_sizes:
            configs[f"graft_{name}_b{batch}"] = make_torch_run(model, batch)

    for fn in configs.values():  # warm-up: first-call allocations, oneDNN primitive creation, trace optimisation
        fn()
    seconds: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(rounds):
        for key, fn in configs.items():
            start = time.perf_counter()
            fn()
            seconds[key].append(time.perf_counter() - start)

    ips = {k: round(n_images / statistics.median(v), 2) for k, v in seconds.items()}
    graft = {k: v for k, v in ips.items() if k != "opencv"}
    best = max(graft, key=graft.get)
    graft_b1 = {k: v for k, v in graft.items() if k.endswith("_b1")}
    best_b1 = max(graft_b1, key=graft_b1.get) if graft_b1 else best
    return {
        "threads": threads, "n_images": n_images, "rounds": rounds,
        "versions": {"torch": torch.__version__, "opencv": cv2.__version__},
        "images_per_s": ips,
        "best_graft": best, "best_graft_vs_opencv": round(ips[best] / ips["opencv"], 3),
        "best_graft_batch1": best_b1, "best_graft_batch1_vs_opencv": round(ips[best_b1] / ips["opencv"], 3),
        "round_seconds": {k: [round(s, 4) for s in v] for k, v in seconds.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(opencv_vs_graft(n_images=args.images, threads=args.threads, rounds=args.rounds), indent=2))


if __name__ == "__main__":
    main()
