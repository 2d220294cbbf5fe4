"""A frozen network on a faster CPU engine than PyTorch eager: OpenVINO, where it is installed (``graft[openvino]``).

Measured on BBC-QA (MiniLM-L6 fine-tuned; 286 test questions, 495 windows of <= 384 tokens; 2 threads of a CPU
with AVX512-BF16; the same windows and span search for every engine): PyTorch fp32 29.4 s, PyTorch bf16 18.4 s
(282 of 286 answers as fp32's), OpenVINO bf16 12.6 s (284 of 286; F1 73.47 vs 73.52), OpenVINO fp32 22.0 s (all
286). onnxruntime was slower or changed answers on the same run: fp32 with its transformer fusions 25.2 s,
dynamic int8 13.7 s but F1 69.9.

The network is converted from PyTorch (a trace: about 2 s for MiniLM-L6) once; with a ``key`` (the weights'
hash) the converted model is kept in ``$GRAFT_HOME/openvino`` and a later process reads it instead.
"""
from __future__ import annotations

import importlib.util
import types
import warnings
from pathlib import Path

import torch

from graft.paths import graft_home
from graft.progress import muted

CACHE_VERSION = 1


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


class _NamedOutputs(torch.nn.Module):
    """The module called with positional tensors (what a trace takes), returning its named outputs as a tuple."""

    def __init__(self, module: torch.nn.Module, inputs: list[str], outputs: list[str]):
        super().__init__()
        self.module, self.inputs, self.outputs = module, inputs, outputs

    def forward(self, *args):
        out = self.module(**dict(zip(self.inputs, args)))
        return tuple(getattr(out, name) for name in self.outputs)


class OpenVINONetwork:
    """Called like the module with a batch of named tensors; returns an object with the named outputs (fp32
    CPU tensors). ``precision``: "bf16" (the CPU must compute it natively) or "f32"."""

    device = torch.device("cpu")

    def __init__(self, module: torch.nn.Module, example: dict[str, torch.Tensor], outputs: list[str],
                 precision: str = "f32", threads: int | None = None, key: str | None = None):
        import openvino as ov

        self.inputs, self.outputs = list(example), list(outputs)
        core = ov.Core()
        cached = self.cache_path(key, self.inputs) if key else None
        if cached is not None and cached.is_file():
            model = core.read_model(str(cached))
        else:
            wrapped = _NamedOutputs(module.eval(), self.inputs, self.outputs)
            with torch.no_grad(), warnings.catch_warnings(), muted("transformers"):
                warnings.simplefilter("ignore")  # the tracer's notes on Python values it records as constants
                model = ov.convert_model(wrapped, example_input=tuple(example[n] for n in self.inputs))
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                tmp = cached.with_name(f".{cached.stem}.tmp.xml")
                ov.save_model(model, str(tmp), compress_to_fp16=False)  # fp16 weights would change the answers
                tmp.with_suffix(".bin").replace(cached.with_suffix(".bin"))
                tmp.replace(cached)
        config = {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.precision = precision
        self._request = core.compile_model(model, "CPU", config).create_infer_request()

    @staticmethod
    def cache_path(key: str, inputs: list[str]) -> Path:
        return graft_home() / "openvino" / f"{key}-{'-'.join(inputs)}-v{CACHE_VERSION}.xml"

    def eval(self) -> OpenVINONetwork:  # called like a torch module's
        return self

    def __call__(self, **batch: torch.Tensor):
        results = self._request.infer([batch[n].cpu().numpy() for n in self.inputs])
        values = [torch.from_numpy(results[i].copy()).float() for i in range(len(self.outputs))]
        return types.SimpleNamespace(**dict(zip(self.outputs, values)))
