"""An int8 frozen trunk (graft export's static int8) against graft's fp32 trunk: speed and feature-extraction accuracy.

For each CNN with real weights here (MobileNetV2, EfficientNet-Lite0) and each real image set (elpv cells; the
four-level elpv labels as a second task; scikit-image's lfw_subset, 100 faces and 100 non-face patches, as a second
set of other images): the backbone's pooled features computed (a) by graft's fp32 frozen
encoder (the oneDNN trace on this CPU) and (b) by onnxruntime and by OpenVINO on the same network exported to
ONNX and quantized statically (graft's own ``graft export --quantize int8`` recipe: NNCF, QDQ, per-channel int8
weights, bias correction, calibrated on 300 real training images). Speed: images/s of each at batch 32 on the same 224-px real images,
interleaved in one process; graft's default trunk (bf16 autocast where the CPU has it) is timed beside its fp32
one. Accuracy: a logistic-regression probe (standardised features, C by 5-fold CV over
graft's grid) fitted on each set of training features, scored on the test split.

``python -m benchmarks.int8 --root ELPV_DIR [--model mobilenet_v2] [--threads T]`` prints one row as JSON.
"""
from __future__ import annotations

import copy
import shutil
import statistics
import tempfile
import time
from pathlib import Path

MODELS = ("mobilenet_v2", "efficientnet_lite0")


def _probe(x_train, y_train, x_test, y_test) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from graft.heads import PROBE_C

    probe = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=list(PROBE_C), cv=5, max_iter=3000))
    predicted = probe.fit(x_train, y_train).predict(x_test)
    return {"accuracy": round(100 * float(np.mean(predicted == y_test)), 2),
            "balanced_accuracy": round(100 * float(balanced_accuracy_score(y_test, predicted)), 2)}


def trunk(model: str, root: str, threads: int, seed: int = 0, calibration: int = 300, rounds: int = 5) -> dict:
    import numpy as np
    import onnxruntime as ort
    import torch

    from graft import ImageClassifier
    from graft.deploy.export import _quantize
    from graft.runtime import autocast_dtype, configure, inference_context

    configure(fast=True, threads=threads)
    root = Path(root)
    clf = ImageClassifier(model, "feature-extraction", seed=seed)
    train, test = clf.read_labelled(root / "train"), clf.read_labelled(root / "test")
    classes = sorted(set(train.labels))
    backbone = clf.build_backbone("pretrained").eval()
    transform = clf.transform(False)

    def pixels(paths):
        from graft.data.images import load_image

        return torch.stack([transform(load_image(p)) for p in paths])

    rng = np.random.default_rng(seed)
    calib_paths = [train.inputs[i] for i in rng.permutation(len(train.inputs))[:calibration]]
    calib = [{"pixel_values": pixels(calib_paths[i:i + 32])} for i in range(0, len(calib_paths), 32)]

    class Trunk(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, pixel_values):
            return self.net(pixel_values=pixel_values)

    work = Path(tempfile.mkdtemp(prefix="graft-int8-"))
    fp32_file, int8_file = work / "fp32.onnx", work / "int8.onnx"
    sample = calib[0]["pixel_values"][:2]
    for path in (fp32_file, int8_file):
        # a copy: the TorchScript-based exporter changes timm's EfficientNet-Lite0 in place (its outputs after an
        # export differ from before by as much as their own scale), and the torch trunks below must stay intact
        torch.onnx.export(Trunk(copy.deepcopy(backbone)).float(), (sample,), str(path), input_names=["pixel_values"],
                          output_names=["features"], dynamic_axes={"pixel_values": {0: "b"}, "features": {0: "b"}},
                          dynamo=False, opset_version=17)
    start = time.perf_counter()
    how = _quantize(int8_file, "static", calib)  # graft export's recipe
    quantize_s = time.perf_counter() - start

    def session(path):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    sessions = {"onnxruntime_fp32": session(fp32_file), "onnxruntime_int8": session(int8_file)}
    engines = dict(sessions)
    try:  # OpenVINO reads the same two ONNX files and runs the QDQ one with int8 kernels
        import openvino as ov

        core = ov.Core()
        for name, path in (("openvino_fp32", fp32_file), ("openvino_int8", int8_file)):
            compiled = core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                             "INFERENCE_NUM_THREADS": threads,
                                                             "PERFORMANCE_HINT": "LATENCY"})
            engines[name] = compiled
    except ImportError:
        pass
    # graft's feature extraction calls the frozen encoder (the oneDNN trace) inside ``inference_context``, which
    # is bf16 autocast on a CPU with native bf16: that is "graft_default"; "graft_fp32" is the same trace in fp32
    default_encoder, fp32_encoder = backbone.frozen_encoder(), copy.deepcopy(backbone).frozen_encoder()

    def graft_default(x):
        with inference_context():
            return default_encoder(pixel_values=torch.from_numpy(x)).float().numpy()

    def graft_fp32(x):
        with torch.inference_mode():
            return fp32_encoder(pixel_values=torch.from_numpy(x)).numpy()

    def call(engine):
        if isinstance(engine, ort.InferenceSession):
            return lambda x: engine.run(None, {"pixel_values": x})[0]
        request = engine.create_infer_request()
        return lambda x: request.infer([x])[0].copy()

    run = {"graft_fp32": graft_fp32, "graft_default": graft_default,
           **{name: call(engine) for name, engine in engines.items()}}
    batch = calib[0]["pixel_values"].numpy()
    for fn in run.values():  # warm-up: the trace is built on the first call and fused kernels compile on the next two
        for _ in range(3):
            fn(batch)
    times: dict[str, list[float]] = {name: [] for name in run}
    for _ in range(rounds):
        for name, fn in run.items():
            start = time.perf_counter()
            fn(batch)
            times[name].append(time.perf_counter() - start)
    rate = {name: len(batch) / statistics.median(t) for name, t in times.items()}

    def features(fn, paths):
        return np.concatenate([fn(pixels(paths[i:i + 32]).numpy()) for i in range(0, len(paths), 32)])

    y_train = np.array([classes.index(label) for label in train.labels])
    y_test = np.array([classes.index(label) for label in test.labels])
    accuracy, agreement = {}, {}
    feats = {}
    int8 = max((n for n in run if n.endswith("_int8")), key=lambda n: rate[n])  # the faster int8 engine
    for name in ("graft_fp32", int8):
        feats[name] = (features(run[name], train.inputs), features(run[name], test.inputs))
        accuracy[name] = _probe(feats[name][0], y_train, feats[name][1], y_test)
    a, b = feats["graft_fp32"][1], feats[int8][1]
    cosine = float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)))
    agreement["mean_cosine_fp32_vs_int8_test_features"] = round(cosine, 4)
    shutil.rmtree(work, ignore_errors=True)
    return {"model": model, "data": str(root), "train": len(y_train), "test": len(y_test), "classes": classes,
            "threads": threads, "batch": len(batch), "images_per_s": {k: round(v, 1) for k, v in rate.items()},
            "int8_engine": int8, "int8_speedup_vs_graft_fp32": round(rate[int8] / rate["graft_fp32"], 2),
            "int8_speedup_vs_graft_default": round(rate[int8] / rate["graft_default"], 2),
            "graft_default_precision": "bf16 autocast" if autocast_dtype("cpu") == torch.bfloat16 else "fp32",
            "quantization": how, "quantize_s": round(quantize_s, 1),
            "probe_accuracy": {"graft_fp32": accuracy["graft_fp32"], "int8": accuracy[int8]},
            "accuracy_change_points": round(accuracy[int8]["accuracy"] - accuracy["graft_fp32"]["accuracy"], 2),
            **agreement}


def lfw_faces(root: Path, seed: int = 0) -> Path:
    """scikit-image's lfw_subset (BSD-3-Clause; 25x25 grey: 100 LFW faces, then 100 non-face patches) as
    ``root/lfw-faces/{train,test}/{face,non_face}/NNN.png``, half of each class to train (seeded draw)."""
    import numpy as np
    from PIL import Image
    from skimage import data as skdata

    out = root / "lfw-faces"
    if (out / "test" / "non_face").is_dir():
        return out
    patches = skdata.lfw_subset()
    order = np.random.default_rng(seed).permutation(100)
    for label, offset in (("face", 0), ("non_face", 100)):
        for rank, i in enumerate(order):
            folder = out / ("train" if rank < 50 else "test") / label
            folder.mkdir(parents=True, exist_ok=True)
            image = (patches[offset + i] * 255).round().astype(np.uint8)
            Image.fromarray(image).save(folder / f"{offset + i:03d}.png")
    return out


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft import datasets

    limit = 60 if quick else None
    sets = {"elpv": datasets.elpv(workdir / "data", "binary", limit_per_class=limit),
            "elpv-4level": datasets.elpv(workdir / "data", "4level", limit_per_class=limit),
            "lfw-faces": lfw_faces(workdir / "data", seed)}
    models = MODELS[:1] if quick else MODELS
    rows = [run_worker("int8.trunk", {"model": model, "root": str(root), "threads": threads, "seed": seed},
                       True, threads, timeout=3600) for model in models for root in sets.values()]
    return {"rows": rows}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.int8", description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="an image-class folder with train/ and test/")
    parser.add_argument("--model", default="mobilenet_v2", choices=MODELS)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(json.dumps(trunk(args.model, args.root, args.threads), indent=1))


if __name__ == "__main__":
    main()
