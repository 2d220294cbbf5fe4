"""`graft export`: a bundle's network as ONNX (optionally int8) or ``torch.export`` ``.pt2``, checked first.

Every export is run on real inputs and compared with the bundle before it is written (``graft.deploy.parity``:
class scores or detected boxes, as the task's outputs are): the largest absolute difference and the share of
decisions unchanged go into the sidecar, and a failed check is an error (nothing is written). Quantization: static
(NNCF, calibrated on real inputs) for convolutional image models, dynamic (onnxruntime's) for transformers, as each
task asks.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from graft.deploy.parity import COMPARISONS
from graft.deploy.runtime import EXPORT_FORMAT, ExportedNetwork, sidecar_path, tokenizer_dir
from graft.errors import GraftError
from graft.progress import log, muted

LEGACY_OPSET = 17

def export(model_dir: str | Path, out: str | Path, fmt: str = "onnx", quantize: str | None = None,
           data=None, check_inputs: int = 64, calibration_inputs: int = 300, batch_size: int = 16) -> dict:
    """Export the bundle in ``model_dir`` to ``out``; returns the sidecar written beside it."""
    import graft

    out = Path(out)
    if fmt not in ("onnx", "pt2"):
        raise GraftError(f"--format must be onnx or pt2, not {fmt!r}")
    if quantize not in (None, "int8"):
        raise GraftError(f"--quantize must be int8, not {quantize!r}")
    if quantize and fmt != "onnx":
        raise GraftError("--quantize int8 needs --format onnx (onnxruntime quantizes the ONNX graph)")
    if out.suffix.lower() != f".{fmt}":
        raise GraftError(f"{out}: an {fmt} export's file name ends in .{fmt}")
    if not Path(model_dir).is_dir():
        raise GraftError(f"{model_dir}: give a saved model directory (the output of `graft fit`)")
    model = graft.load(model_dir)
    if not model.exportable:
        raise GraftError(f"{model_dir}: exporting a {model.name} model is not supported yet")
    if fmt not in model.export_formats:
        raise GraftError(f"{model_dir}: a {model.name} model exports as {' or '.join(model.export_formats)}, "
                         f"not {fmt}")
    batch_size = min(batch_size, model.export_batch_size)
    items = model.export_items(data, check_inputs + (calibration_inputs if quantize else 0))
    check_items, calibration_items = items[:check_inputs], items[check_inputs:] or items[:check_inputs]
    module = model.export_module().eval()
    batches = [model.export_inputs(check_items[i:i + batch_size]) for i in range(0, len(check_items), batch_size)]
    with torch.inference_mode():
        references = [as_outputs(module(**b)) for b in batches]
    names, outputs, axes = list(batches[0]), list(model.export_output_names), model.export_dynamic_axes()
    compare = COMPARISONS[model.export_outputs]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        tmp_file = Path(tmp) / f"model.{fmt}"
        start = time.perf_counter()
        how = (_onnx(module, batches[0], names, outputs, axes, tmp_file, model.export_not_dynamo) if fmt == "onnx"
               else _pt2(module, batches[0], axes, tmp_file))
        if quantize:
            calibration = [model.export_inputs(calibration_items[i:i + batch_size])
                           for i in range(0, len(calibration_items), batch_size)]
            how += "; " + _quantize(tmp_file, model.export_quantization(), calibration)
        # NNCF's static int8 runs fastest in OpenVINO (runtime.OpenVINOSession); the check runs what will serve
        engine = "openvino" if quantize and model.export_quantization() == "static" else "onnxruntime"
        network = ExportedNetwork(tmp_file, names, outputs, engine=engine)
        check = compare([network(**b) for b in batches], references, bool(quantize), **model.export_parity_options())
        log(f"export check: {check.describe()}")
        if not check.passed:
            raise GraftError(f"the export does not match {model_dir}: {check.describe()}; nothing was written")
        os.replace(tmp_file, out)
    info = {"format": EXPORT_FORMAT, "version": 1, "file": out.name, "kind": fmt, "exporter": how,
            "quantize": quantize, "engine": engine if fmt == "onnx" else "torch.export", "inputs": names,
            "outputs": outputs, "dynamic_axes": axes, "source_bundle": str(Path(model_dir)),
            "export_seconds": round(time.perf_counter() - start, 2), "parity": check.__dict__,
            "preprocessing": model.config().get("preprocessing"), "licence": licence_of(model),
            "config": {"task": model.name, **model.config()}}
    _copy_tokenizer(Path(model_dir), out)
    from graft.bundle import write_json

    write_json(sidecar_path(out), info)
    return info


def as_outputs(out):
    """A network's output as the comparison takes it: one float tensor, or a tuple (floats as fp32)."""
    if isinstance(out, (tuple, list)):
        return tuple(t.float() if t.is_floating_point() else t for t in out)
    return out.float()


def _onnx(module, batch: dict, names: list[str], outputs: list[str], axes: dict, path: Path,
          not_dynamo: str | None = None) -> str:
    """torch's dynamo-based ONNX exporter; the TorchScript-based one where dynamo cannot trace the model."""
    import importlib.util

    if importlib.util.find_spec("onnxscript") is None:  # the dynamo exporter needs it
        raise GraftError("ONNX export needs onnx, onnxscript and onnxruntime: pip install 'graft[deploy]'")
    if not_dynamo:
        _onnx_torchscript(module, batch, names, outputs, axes, path)
        return f"torch.onnx TorchScript exporter (opset {LEGACY_OPSET}; not the dynamo one: {not_dynamo})"
    shapes = {n: {axis: torch.export.Dim.DYNAMIC for axis in axes.get(n, {})} for n in names}
    try:
        program = torch.onnx.export(module, (), kwargs=batch, input_names=names, output_names=outputs,
                                    dynamic_shapes=shapes, dynamo=True, verbose=False)
        program.save(str(path))
        return f"torch.onnx dynamo exporter (opset {program.model.opset_imports.get('', '?')})"
    except Exception as exc:  # the dynamo exporter's failures are many and varied; the legacy one is the fallback
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        log(f"the dynamo ONNX exporter failed ({reason}); using the TorchScript-based exporter")
    _onnx_torchscript(module, batch, names, outputs, axes, path)
    return f"torch.onnx TorchScript exporter (opset {LEGACY_OPSET}; the dynamo exporter failed on this model)"


def _onnx_torchscript(module, batch: dict, names: list[str], outputs: list[str], axes: dict, path: Path) -> None:
    import warnings

    with warnings.catch_warnings():  # the tracer's notes on constants and shapes are for torch developers
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (), str(path), kwargs=batch, input_names=names, output_names=outputs,
                          dynamic_axes={n: axes[n] for n in names if n in axes}, dynamo=False,
                          opset_version=LEGACY_OPSET)


def _pt2(module, batch: dict, axes: dict, path: Path) -> str:
    shapes = {n: {axis: torch.export.Dim.AUTO for axis in axes.get(n, {})} for n in batch}
    program = torch.export.export(module, (), kwargs=batch, dynamic_shapes=shapes)
    torch.export.save(program, str(path))
    return f"torch.export (torch {torch.__version__})"


def _quantize(path: Path, method: str, calibration: list[dict]) -> str:
    """Quantize the ONNX file at ``path`` in place: "static" (convolutional networks) or "dynamic" (transformers)."""
    if method == "static":
        return _quantize_static(path, calibration)
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared, quantized = path.with_name("prepared.onnx"), path.with_name("quantized.onnx")
    quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)
    # per-channel weights: top-1 agreement with fp32 0.87 -> 0.94 on MiniLM film reviews
    quantize_dynamic(str(prepared), str(quantized), weight_type=QuantType.QInt8, per_channel=True)
    os.replace(quantized, path)
    prepared.unlink(missing_ok=True)
    return "int8 dynamic quantization (per-channel int8 weights, activations quantized at run time)"


def _quantize_static(path: Path, calibration: list[dict]) -> str:
    """NNCF's post-training quantization (QDQ int8, per-channel weights) with its full bias correction, the first
    convolution left in fp32.

    Chosen by the fidelity of MobileNetV2's features to fp32 (mean cosine over elpv's 656 test cells,
    ``benchmarks/int8.py``): 0.964 with onnxruntime's own static recipe (min-max ranges; entropy and percentile
    ranges no better), 0.977 with NNCF's fast bias correction, 0.985 with its full one, 0.995 when the first
    convolution also stays fp32: its input is the image itself, whose fine contrast 8 bits lose (elpv's grey cells
    most of all), and it is a small share of the work. Calibrated one input at a time, as bias correction assumes.
    """
    import logging

    import onnx

    import nncf

    nncf.set_log_level(logging.ERROR)  # its notes; its progress bars stay, the step takes a minute
    model = onnx.load(str(path))
    first_conv = next((node.name for node in model.graph.node if node.op_type == "Conv"), None)
    items = [{name: value[i:i + 1].cpu().numpy() for name, value in batch.items()}
             for batch in calibration for i in range(len(next(iter(batch.values()))))]
    with muted("torch.utils.cpp_extension"):  # nncf loads its torch extensions, whose CUDA probe warns on a CPU
        quantized = nncf.quantize(model, nncf.Dataset(items), subset_size=len(items), fast_bias_correction=False,
                                  ignored_scope=nncf.IgnoredScope(names=[first_conv] if first_conv else []))
    onnx.save(quantized, str(path))
    return (f"int8 static quantization (NNCF {nncf.__version__}: QDQ, per-channel weights, bias correction, first "
            f"convolution in fp32, calibrated on {len(items)} real inputs)")


def licence_of(model) -> str | None:
    """The licence of the pretrained weights a task model was built from, as the zoo records it."""
    from graft.backbones import get_cfg

    try:
        return get_cfg(model.backbone_name).licence or None
    except (GraftError, AttributeError):
        return None


def _copy_tokenizer(model_dir: Path, out: Path) -> None:
    source, target = model_dir / "tokenizer", tokenizer_dir(out)
    shutil.rmtree(target, ignore_errors=True)
    if source.is_dir():
        shutil.copytree(source, target)
