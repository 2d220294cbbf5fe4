"""Running an exported model: an ONNX file through onnxruntime (a static int8 one through OpenVINO, where it runs
fastest), or a ``.pt2`` through ``torch.export``.

An export is a file plus a JSON sidecar (``FILE.json``: the bundle's configuration, the inputs' names, how it
was exported and checked) and, for text models, the tokenizer in ``FILE.tokenizer/``. Loading reads only those:
no pickle, no code from the files.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from graft.bundle import read_json
from graft.errors import BundleError, GraftError

EXPORT_FORMAT = "graft-export"
SUFFIXES = {".onnx": "onnx", ".pt2": "pt2"}


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def tokenizer_dir(path: Path) -> Path:
    return path.with_name(path.name + ".tokenizer")


def is_export(path: str | Path) -> bool:
    path = Path(path)
    return path.is_file() and path.suffix.lower() in SUFFIXES


def read_sidecar(path: Path) -> dict:
    side = sidecar_path(path)
    if not side.is_file():
        raise BundleError(f"{path}: its description {side.name} is missing (re-run `graft export`)")
    info = read_json(side)
    if not isinstance(info, dict) or info.get("format") != EXPORT_FORMAT:
        raise BundleError(f"{side}: not a graft export description")
    return info


class ExportedNetwork:
    """Call with the task's batch of named tensors; returns its output as a CPU tensor, or a tuple of them
    when the network has several (a detector's boxes, scores and labels). Floating outputs come back fp32."""

    def __init__(self, path: str | Path, input_names: list[str], output_names: list[str] | None = None,
                 threads: int | None = None, engine: str | None = None):
        self.path, self.input_names = Path(path), list(input_names)
        self.output_names = list(output_names or ["output"])
        self.kind = SUFFIXES[self.path.suffix.lower()]
        if self.kind == "onnx":
            self._session = onnx_session(self.path, threads, engine)
        else:
            import torch

            self._program = torch.export.load(str(self.path)).module()

    def __call__(self, **batch):
        import torch

        missing = [n for n in self.input_names if n not in batch]
        if missing:
            raise GraftError(f"{self.path}: inputs {', '.join(missing)} are missing")
        if self.kind == "pt2":
            with torch.inference_mode():
                out = self._program(**{n: batch[n] for n in self.input_names})
            outputs = list(out) if isinstance(out, (tuple, list)) else [out]
        else:
            feed = {n: batch[n].cpu().numpy() for n in self.input_names}
            outputs = [torch.from_numpy(np.asarray(o)) for o in self._session.run(self.output_names, feed)]
        outputs = [o.float() if o.is_floating_point() else o for o in outputs]
        return outputs[0] if len(self.output_names) == 1 else tuple(outputs)


def onnx_session(path: Path, threads: int | None, engine: str | None = None):
    """An object with onnxruntime's ``run(output_names, feed)``: OpenVINO where ``engine`` asks for it (an export's
    sidecar does for static int8 files) and it is installed, else onnxruntime."""
    if engine == "openvino" and importlib.util.find_spec("openvino") is not None:
        return OpenVINOSession(path, threads)
    try:
        import onnxruntime as ort
    except ImportError:
        raise GraftError("running ONNX exports needs onnxruntime: pip install 'graft[deploy]'") from None
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for an unreadable model
        raise BundleError(f"{path}: onnxruntime cannot load it ({str(exc).splitlines()[0]})") from None


class OpenVINOSession:
    """onnxruntime's ``run`` over OpenVINO. NNCF's QDQ int8 files run there 2-3x faster than graft's fp32 trunk,
    but in onnxruntime slower than fp32 (MobileNetV2, 2 threads: 86 vs 240 images/s): onnxruntime fuses a
    quantized convolution only where no activation sits between it and its QuantizeLinear, NNCF's placement for
    OpenVINO. fp32 precision: the layers NNCF leaves unquantized stay exact (no bf16 on bf16 CPUs)."""

    def __init__(self, path: Path, threads: int | None):
        import openvino as ov

        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        try:
            self._compiled = ov.Core().compile_model(str(path), "CPU", config)
        except Exception as exc:  # OpenVINO raises its own exception types for an unreadable model
            raise BundleError(f"{path}: OpenVINO cannot load it ({str(exc).splitlines()[0]})") from None
        self._local = threading.local()  # an infer request serves one thread at a time (graft serve has several)

    def run(self, output_names: list[str] | None, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        if not hasattr(self._local, "request"):
            self._local.request = self._compiled.create_infer_request()
        results = self._local.request.infer(feed)
        outputs = self._compiled.outputs if output_names is None else [self._compiled.output(n) for n in output_names]
        return [results[o].copy() for o in outputs]


def load_export(path: str | Path, threads: int | None = None):
    """The task an exported file was made from, running on the export (``graft.load`` calls this)."""
    from graft.tasks import get_task

    path = Path(path)
    info = read_sidecar(path)
    try:
        task_cls = get_task(str(info["config"].get("task")))
    except GraftError:
        raise BundleError(f"{sidecar_path(path)}: unknown task {info['config'].get('task')!r}") from None
    network = ExportedNetwork(path, info["inputs"], info.get("outputs"), threads, info.get("engine"))
    model = task_cls.from_export(path, info["config"], network)
    model.export_info = info
    return model
