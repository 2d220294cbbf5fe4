"""Speed: graft's fast path vs plain PyTorch defaults (and Keras/TensorFlow where it installs).

Each measurement is a worker function run in its own process by ``run``: the plain-PyTorch ones in a clean
environment with ``GRAFT_FAST=0`` (graft's allocator setting is process-wide and irreversible), graft's with
``GRAFT_FAST=1``; both with the same thread count.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (ROOT, elpv_full, image_files, median, minilm_dir, mobilenet_v2_weights, run_worker,
                               set_threads, subset_folder, timed)

TF_VENV = ROOT / "benchmarks" / ".tf-venv"


# --------------------------------------------------------------------------------------- workers

def _plain_image_model(model: str, weights: str | None):
    import torch
    import torchvision

    net = getattr(torchvision.models, model)()
    if weights:
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return net


def forward(impl: str, model: str, batch: int, size: int, warmup: int, repeats: int, threads: int,
            weights: str | None = None) -> dict:
    """Images/s of one forward pass at ``batch`` x 3 x ``size`` x ``size``."""
    import torch

    torch.manual_seed(0)
    x = torch.randn(batch, 3, size, size)
    if impl == "graft":
        from graft.backbones import create_backbone
        from graft.runtime import configure, inference_context

        rt = configure(fast=True, threads=threads)
        net = create_backbone(model, weights="pretrained" if weights else None).eval()
        encode = net.frozen_encoder()  # what graft's feature extraction calls (a trace where it pays off)
        with inference_context():
            start = time.perf_counter()
            encode(pixel_values=x)  # the first call builds the trace, if any: timed apart
            first_call_s = time.perf_counter() - start
            times = timed(lambda: encode(pixel_values=x), warmup, repeats)
        extra = {"runtime": vars(rt), "traced": type(encode).__name__ == "FrozenTrace", "first_call_s": first_call_s}
    else:
        set_threads(threads)
        net = _plain_image_model(model, weights).eval()
        with torch.no_grad():
            times = timed(lambda: net(x), warmup, repeats)
        extra = {}
    return {"images_per_s": batch / median(times), "batch_seconds": times, "threads": torch.get_num_threads(),
            **extra}


def roofline(models: list[str], threads: int, size: int = 2048, repeats: int = 10) -> dict:
    """The machine's fp32 matrix-multiply rate at ``threads`` (GFLOP/s, median of ``repeats`` ``size``-square
    products) and each model's GFLOP per 224-px image (torch's FlopCounterMode: multiply-adds x 2): what a
    forward's images/s is measured against."""
    import torch
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    set_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    times = timed(lambda: torch.mm(a, b), 3, repeats)
    out = {"matmul_gflops": 2 * size ** 3 / median(times) / 1e9, "matmul_size": size, "gflop_per_image": {}}
    for model in models:
        net = getattr(torchvision.models, model)().eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.randn(1, 3, 224, 224))
        out["gflop_per_image"][model] = counter.get_total_flops() / 1e9
    return out


def finetune_step(impl: str, batch: int, warmup: int, repeats: int, threads: int, weights: str) -> dict:
    """Training steps/s of MobileNetV2 with every layer trainable, batch ``batch`` at 224x224."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    x, y = torch.randn(batch, 3, 224, 224), torch.randint(0, 2, (batch,))
    if impl == "graft":
        from graft import strategies
        from graft.backbones import create_backbone
        from graft.heads import BackboneWithHead, classification_head
        from graft.runtime import configure

        configure(fast=True, threads=threads)
        backbone = create_backbone("mobilenet_v2")
        model = BackboneWithHead(backbone, classification_head(backbone.feature_dim, 2))
        strategies.unfreeze_last(backbone, "all")
        model.train()
        strategies.set_batchnorm_mode(backbone, False)  # graft's default: BatchNorm statistics stay frozen
        optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-4)
        run = lambda: model(pixel_values=x)  # noqa: E731
    else:
        set_threads(threads)
        model = _plain_image_model("mobilenet_v2", weights)
        model.classifier[-1] = nn.Linear(1280, 2)
        model.train()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        run = lambda: model(x)  # noqa: E731

    def step():
        loss = nn.functional.cross_entropy(run(), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    times = timed(step, warmup, repeats)
    return {"steps_per_s": 1 / median(times), "step_seconds": times}


def text_forward(impl: str, csv: str, batch: int, warmup: int, repeats: int, threads: int, model_dir: str) -> dict:
    """Sentences/s of MiniLM-L6 (tokenization + forward + mean pooling) over real review snippets; graft
    encodes the timed texts in length order, as its feature extraction does, plain transformers as given."""
    import csv as csvlib

    import torch

    with open(csv, newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csvlib.DictReader(f)][: batch * (warmup + repeats)]
    timed_texts = texts[batch * warmup:]
    if impl == "graft":  # as graft's feature extraction does: similar lengths share a batch, little padding
        timed_texts = sorted(timed_texts, key=len)
    ordered = texts[:batch * warmup] + timed_texts
    batches = [ordered[i:i + batch] for i in range(0, len(ordered), batch)]
    if impl == "graft":
        from graft.backbones import create_backbone
        from graft.runtime import configure, inference_context

        configure(fast=True, threads=threads)
        net = create_backbone("minilm-l6").eval()

        def encode(chunk):
            with inference_context():
                return net(**net.tokenize(chunk))
    else:
        from transformers import AutoModel, AutoTokenizer

        set_threads(threads)
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        model = AutoModel.from_pretrained(model_dir).eval()

        def encode(chunk):
            with torch.no_grad():
                enc = tokenizer(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    for chunk in batches[:warmup]:
        encode(chunk)
    start = time.perf_counter()
    n = sum(len(encode(chunk)) for chunk in batches[warmup:])
    return {"sentences_per_s": n / (time.perf_counter() - start), "sentences": n}


def _image_loader(items, labels, batch, shuffle, seed):
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader
    from torchvision import transforms as T

    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
    data = [(p, y) for p, y in zip(items, labels)]
    collate = lambda b: (torch.stack([tf(Image.open(p).convert("RGB")) for p, _ in b]),  # noqa: E731
                         torch.tensor([y for _, y in b]))
    return DataLoader(data, batch_size=batch, shuffle=shuffle, collate_fn=collate,
                      generator=torch.Generator().manual_seed(seed))


def torch_fit(recipe: str, data: str, weights: str, epochs: int, seed: int, threads: int) -> dict:
    """A frozen MobileNetV2 re-run over every image every epoch, in plain PyTorch.

    ``recipe="keras"``: the seed's Keras recipe (conv base, Flatten, Dense(64, relu), Dense(n), Adam 1e-3);
    ``recipe="linear"``: global average pooling and one linear layer. Validation every epoch, as Keras'
    ``validation_data``; the train/validation split is graft's own, so every contestant sees the same images.
    """
    import torch
    from torch import nn

    from graft.data.images import read_image_dataset
    from graft.data.split import stratified_split

    set_threads(threads)
    torch.manual_seed(seed)
    start = time.perf_counter()
    items = read_image_dataset(Path(data) / "train")
    classes = sorted({i.label for i in items})
    labels = [classes.index(i.label) for i in items]
    tr, va = stratified_split([i.label for i in items], 0.2, seed)
    train = _image_loader([items[i].path for i in tr], [labels[i] for i in tr], 32, True, seed)
    val = _image_loader([items[i].path for i in va], [labels[i] for i in va], 32, False, seed)
    net = _plain_image_model("mobilenet_v2", weights)
    base = net.features.eval().requires_grad_(False)
    if recipe == "keras":
        head = nn.Sequential(nn.Flatten(), nn.Linear(1280 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, len(classes)))
    else:
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1280, len(classes)))
    optimizer = torch.optim.Adam(head.parameters(), lr=1e-3)

    def accuracy(loader):
        head.eval()
        right = total = 0
        with torch.no_grad():
            for x, y in loader:
                right += (head(base(x)).argmax(1) == y).sum().item()
                total += len(y)
        return right / max(total, 1)

    for _ in range(epochs):
        head.train()
        for x, y in train:
            with torch.no_grad():
                maps = base(x)
            loss = nn.functional.cross_entropy(head(maps), y)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        val_accuracy = accuracy(val)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    test = read_image_dataset(Path(data) / "test")
    test_accuracy = accuracy(_image_loader([i.path for i in test], [classes.index(i.label) for i in test], 64,
                                           False, seed))
    return {"fit_s": fit_s, "eval_s": time.perf_counter() - start, "test_accuracy": test_accuracy,
            "val_accuracy": val_accuracy, "train_images": len(tr), "val_images": len(va), "test_images": len(test)}


def graft_fit(data: str, epochs: int, seed: int, threads: int) -> dict:
    """graft's feature extraction (cached features, Dense(64) head) on the same folders."""
    from graft import ImageClassifier
    from graft.runtime import configure

    configure(fast=True, threads=threads)
    start = time.perf_counter()
    clf = ImageClassifier("mobilenet_v2", "feature-extraction", epochs=epochs, head=(64,), batch_size=32, seed=seed,
                          patience=None).fit(Path(data) / "train")
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    report = clf.evaluate(Path(data) / "test")
    return {"fit_s": fit_s, "eval_s": time.perf_counter() - start, "test_accuracy": report["accuracy"],
            "val_accuracy": clf.run_report["val_metrics"]["accuracy"]}


# ------------------------------------------------------------------------------------- orchestration

def _pair(func: str, kwargs: dict, threads: int, pairs: int, key: str, **extra) -> dict:
    """Plain then graft, ``pairs`` times, each in its own process; medians and the graft/plain ratio."""
    runs = {"plain": [], "graft": []}
    for _ in range(pairs):
        for impl in ("plain", "graft"):
            runs[impl].append(run_worker(func, {"impl": impl, **kwargs, "threads": threads}, impl == "graft",
                                         threads, **extra))
    out = {}
    for impl, results in runs.items():
        good = [r for r in results if "error" not in r]
        out[impl] = {key: median([r[key] for r in good]), "peak_rss_mb": max(r["peak_rss_mb"] for r in good),
                     "runs": results} if good else {"error": results[0]["error"], "runs": results}
    if key in out["plain"] and key in out["graft"]:
        out["ratio"] = out["graft"][key] / out["plain"][key]
    return out


def _keras(models: list[str], batch: int, warmup: int, repeats: int, threads: int) -> dict:
    """Keras 3 / TensorFlow forward speed, from a separate venv with tensorflow-cpu (installed on first use)."""
    python = TF_VENV / "bin" / "python"
    ready = python.exists() and subprocess.run([python, "-c", "import tensorflow"], capture_output=True).returncode == 0
    if not ready:
        try:
            subprocess.run([sys.executable, "-m", "venv", "--clear", TF_VENV], check=True, timeout=120)
            subprocess.run([python, "-m", "pip", "install", "-q", "tensorflow-cpu"], check=True, timeout=600,
                           capture_output=True)
        except subprocess.TimeoutExpired:
            return {"error": "not measured: pip install tensorflow-cpu took over 10 minutes"}
        except subprocess.CalledProcessError as exc:
            tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
            return {"error": f"not measured: pip install tensorflow-cpu failed ({tail[0][:200]})"}
    out = {}
    for model in models:
        out[model] = run_worker(f"keras_forward[{model}]", {"model": model, "batch": batch, "warmup": warmup,
                                                            "repeats": repeats, "threads": threads},
                                False, threads, python=str(python),
                                script=str(ROOT / "benchmarks" / "keras_forward.py"))
    return out


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    w = mobilenet_v2_weights()
    results: dict = {"settings": {}}
    # a. forward images/s
    reps = {"mobilenet_v2": (1, 2) if quick else (2, 10), "resnet50": (1, 1) if quick else (1, 6)}
    pairs = 1 if quick else 3
    results["forward"] = {}
    for model, (warmup, repeats) in reps.items():
        results["forward"][model] = _pair("speed.forward", {"model": model, "batch": 32, "size": 224, "warmup": warmup,
                                                            "repeats": repeats,
                                                            "weights": w if model == "mobilenet_v2" else None},
                                          threads, pairs, "images_per_s")
    if quick:
        results["forward"]["keras"] = {"error": "not measured: Keras/TensorFlow runs in full mode only"}
    else:
        results["forward"]["keras"] = _keras(list(reps), 32, 2, 6, threads)
    results["settings"]["forward"] = {"batch": 32, "size": 224, "warmup_repeats": reps, "process_pairs": pairs}
    # how close each forward comes to the machine's own fp32 limit: images/s x GFLOP/image / matmul GFLOP/s
    results["roofline"] = run_worker("speed.roofline", {"models": list(reps), "threads": threads}, True, threads)
    # b. a 10-epoch feature-extraction fit on an elpv slice
    per_class = 25 if quick else 200
    full = elpv_full(workdir / "data")
    data = workdir / f"elpv-{per_class}"
    for part in ("train", "test"):
        subset_folder(image_files(full / part), data / part, per_class, seed)
    fit = {}
    fit["torch_linear"] = {"error": "full mode only"}
    for recipe in ("keras",) if quick else ("keras", "linear"):
        fit[f"torch_{recipe}"] = run_worker("speed.torch_fit", {"recipe": recipe, "data": str(data), "weights": w,
                                                                "epochs": 10, "seed": seed, "threads": threads},
                                            False, threads)
    cache = tempfile.mkdtemp(prefix="graft-bench-cache-", dir=workdir)
    for label in ("graft_cold", "graft_warm"):
        fit[label] = run_worker("speed.graft_fit", {"data": str(data), "epochs": 10, "seed": seed, "threads": threads},
                                True, threads, env_extra={"GRAFT_FEATURE_CACHE": cache})
    results["fit"] = fit
    results["settings"]["fit"] = {"dataset": "elpv binary", "per_class": per_class, "epochs": 10, "seed": seed,
                                  "val_fraction": 0.2}
    # c. one fine-tune training step
    warmup, repeats = (1, 1) if quick else (2, 6)
    results["finetune_step"] = _pair("speed.finetune_step", {"batch": 32, "warmup": warmup, "repeats": repeats,
                                                             "weights": w}, threads, 1, "steps_per_s")
    # d. MiniLM sentences/s
    from graft.datasets import rotten_tomatoes

    csv = rotten_tomatoes(workdir / "data") / "train.csv"
    warmup, repeats = (1, 3) if quick else (2, 16)
    results["text"] = _pair("speed.text_forward", {"csv": str(csv), "batch": 64, "warmup": warmup, "repeats": repeats,
                                                   "model_dir": minilm_dir()}, threads, pairs, "sentences_per_s")
    return results
