"""Deployment: a MobileNetV2 elpv classifier as eager PyTorch, ONNX fp32 and ONNX int8 (static, calibrated).

Accuracy on elpv's test split for each (and how many top-1 classes the fp32 export changes), images/s of the
network at batch 1 on the same preprocessed cells, and a load test of `graft serve` for each: N concurrent
clients on loopback for a bounded time, latency percentiles, throughput and errors.

``python -m benchmarks.deploy [--threads T] [--seconds S]`` prints the result as JSON.
"""
from __future__ import annotations

import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CLIENTS = 4


def build(root: str, workdir: str, threads: int, seed: int) -> dict:
    """Train (feature extraction), export fp32 and int8; accuracy of each on the test split."""
    import torch

    import graft
    from benchmarks.common import set_threads
    from graft.deploy.export import export

    set_threads(threads)
    root, work = Path(root), Path(workdir)
    start = time.perf_counter()
    model = graft.ImageClassifier("mobilenet_v2", "feature-extraction", seed=seed).fit(root / "train")
    bundle = model.save(work / "bundle")
    fit_s = time.perf_counter() - start
    exports = {}
    for name, quantize in (("onnx_fp32", None), ("onnx_int8", "int8")):
        info = export(bundle, work / f"{name}.onnx", quantize=quantize, check_inputs=64)
        exports[name] = {"file_mb": round((work / f"{name}.onnx").stat().st_size / 1e6, 2),
                         "exporter": info["exporter"], "check": info["parity"]}
    test = root / "test"
    images = sorted(test.rglob("*.png"))
    truth = [p.parent.name for p in images]
    eager = graft.load(bundle)
    labels = {"eager_fp32": []}
    module = eager.export_module()
    with torch.inference_mode():
        for i in range(0, len(images), 64):
            logits = module(**eager.export_inputs(images[i:i + 64]))
            labels["eager_fp32"] += [eager.classes[j] for j in logits.argmax(1).tolist()]
    labels["eager_graft_predict"] = [p["label"] for p in eager.predict(images)]  # as `graft predict` runs it
    for name in exports:
        labels[name] = [p["label"] for p in graft.load(work / f"{name}.onnx").predict(images)]
    accuracy = {k: round(sum(a == b for a, b in zip(v, truth)) / len(truth), 4) for k, v in labels.items()}
    changed = {k: sum(a != b for a, b in zip(v, labels["eager_fp32"])) for k, v in labels.items()}
    return {"train_images": len(list((root / "train").rglob("*.png"))), "test_images": len(images),
            "fit_s": round(fit_s, 1), "exports": exports, "accuracy": accuracy,
            "top1_changed_vs_eager_fp32": changed,
            "int8_accuracy_change_points": round(100 * (accuracy["onnx_int8"] - accuracy["eager_fp32"]), 2)}


def speed(workdir: str, root: str, threads: int, repeats: int) -> dict:
    """Images/s of the network alone at batch 1 (same preprocessed cells): eager PyTorch fp32, graft's eager
    inference (its CPU fast path), ONNX fp32 (onnxruntime) and ONNX int8 (OpenVINO, and onnxruntime), rounds
    interleaved."""
    import torch

    import graft
    from benchmarks.common import set_threads
    from graft.deploy.runtime import ExportedNetwork, read_sidecar
    from graft.runtime import inference_context

    set_threads(threads)
    work = Path(workdir)
    eager = graft.load(work / "bundle")
    cells = sorted((Path(root) / "test").rglob("*.png"))[:32]
    batches = [eager.export_inputs([c]) for c in cells]
    module = eager.export_module().eval()
    fast = eager.model

    def eager_fp32():
        with torch.inference_mode():
            for b in batches:
                module(**b)

    def eager_graft():
        with inference_context(torch.device("cpu")):
            for b in batches:
                fast(**b)

    configs = {"eager_fp32": eager_fp32, "eager_graft": eager_graft}
    # each export on the engine graft runs it with (its sidecar's), and the int8 file in onnxruntime as well
    runs = {"onnx_fp32": None, "onnx_int8": None, "onnx_int8_in_onnxruntime": "onnxruntime"}
    for name, engine in runs.items():
        path = work / f"{name.removesuffix('_in_onnxruntime')}.onnx"
        network = ExportedNetwork(path, ["pixel_values"], threads=threads,
                                  engine=engine or read_sidecar(path).get("engine"))
        configs[name] = (lambda net: lambda: [net(**b) for b in batches])(network)
    times: dict[str, list[float]] = {name: [] for name in configs}
    for run in configs.values():
        run()
    for _ in range(repeats):
        for name, run in configs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rate = {k: len(batches) / statistics.median(v) for k, v in times.items()}
    return {"images": len(batches), "batch": 1, "threads": threads, "repeats": repeats,
            "images_per_s": {k: round(v, 1) for k, v in rate.items()},
            "vs_eager_fp32": {k: round(v / rate["eager_fp32"], 2) for k, v in rate.items()}}


def load_test(model: str, images: list[str], threads: int, seconds: float, clients: int = CLIENTS) -> dict:
    """`graft serve MODEL` in a subprocess; ``clients`` threads post real images in turn for ``seconds``."""
    import httpx

    from benchmarks.common import ROOT, clean_env

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "graft.cli", "serve", model, "--port", str(port)], cwd=ROOT,
                              env=clean_env(True, threads), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                return {"error": "the server did not start: " + server.stderr.read().decode()[-300:]}
            time.sleep(0.2)
        payloads = [Path(image).read_bytes() for image in images]
        sent = iter(range(10 ** 9))
        latencies: list[float] = []
        errors = [0]
        lock = threading.Lock()
        stop = time.perf_counter() + seconds

        def client():
            with httpx.Client(timeout=30) as http:
                while time.perf_counter() < stop:
                    start = time.perf_counter()
                    data = payloads[next(sent) % len(payloads)]  # distinct images: no cache can answer
                    try:
                        ok = http.post(url + "/predict", files={"file": ("cell.png", data, "image/png")}).status_code
                        ok = ok == 200
                    except httpx.HTTPError:
                        ok = False
                    with lock:
                        if ok:
                            latencies.append(time.perf_counter() - start)
                        else:
                            errors[0] += 1

        began = time.perf_counter()
        workers = [threading.Thread(target=client) for _ in range(clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - began
        health = httpx.get(url + "/health", timeout=5).json()
    finally:
        server.terminate()
        server.wait(30)
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [float("nan")] * 99
    return {"model": Path(model).name, "clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies),
            "errors": errors[0], "requests_per_s": round(len(latencies) / elapsed, 1),
            "latency_ms": {"p50": round(1000 * cuts[49], 1), "p95": round(1000 * cuts[94], 1),
                           "p99": round(1000 * cuts[98], 1)},
            "server_batches": health.get("batches"), "mean_batch": round(health["inputs"] / health["batches"], 2)
            if health.get("batches") else None}


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import elpv_full, run_worker

    root = elpv_full(workdir / "data")
    work = workdir / "deploy"
    work.mkdir(parents=True, exist_ok=True)
    built = run_worker("deploy.build", {"root": str(root), "workdir": str(work), "threads": threads, "seed": seed},
                       True, threads, timeout=3600)
    if "error" in built:
        return {"build": built}
    speed_row = run_worker("deploy.speed", {"workdir": str(work), "root": str(root), "threads": threads,
                                            "repeats": 3 if quick else 10}, True, threads, timeout=1800)
    images = [str(p) for p in sorted((root / "test").rglob("*.png"))]
    seconds = 15 if quick else 60
    serving = [load_test(str(work / name), images, threads, seconds)
               for name in ("bundle", "onnx_fp32.onnx", "onnx_int8.onnx")]
    return {"build": built, "speed": speed_row, "serve": serving}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("GRAFT_QUIET", "1")
    print(json.dumps(run(args.quick, args.threads, 0, Path(tempfile.mkdtemp(prefix="graft-bench-deploy-"))),
                     indent=1))


if __name__ == "__main__":
    main()
