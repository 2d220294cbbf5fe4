"""Pictures of detections: images with their boxes drawn (`graft predict --draw`) and a sheet of
validation images with true and predicted boxes (saved with a model). No pyplot: the user's matplotlib
backend is never touched."""
from __future__ import annotations

import math
from pathlib import Path

import torch
from torchvision.transforms.v2 import functional as F
from torchvision.utils import draw_bounding_boxes

from graft.data.images import load_image

PREDICTED, TRUE = "#ff3b30", "#34c759"


def _boxes(objects: list[dict]) -> torch.Tensor:
    return torch.tensor([o["box"] for o in objects], dtype=torch.float32).reshape(-1, 4)


def _width(image: torch.Tensor) -> int:
    return max(1, round(max(image.shape[-2:]) / 300))


def draw(path: Path, objects: list[dict], truth: list[list[float]] | None = None) -> torch.Tensor:
    """The image at ``path`` (uint8 CHW) with ``objects`` labelled in red and ``truth`` boxes in green."""
    image = F.to_image(load_image(path))
    if truth:
        image = draw_bounding_boxes(image, torch.tensor(truth, dtype=torch.float32).reshape(-1, 4), colors=TRUE,
                                    width=_width(image))
    if objects:
        labels = [f"{o['label']} {o['score']:.2f}" for o in objects]
        image = draw_bounding_boxes(image, _boxes(objects), labels=labels, colors=PREDICTED, width=_width(image))
    return image


def draw_predictions(results: list[dict], out: Path) -> list[Path]:
    """One PNG per input in ``out``, named after the input (a number is added where names repeat)."""
    out.mkdir(parents=True, exist_ok=True)
    written, used = [], set()
    for r in results:
        stem = Path(r["input"]).stem
        name, n = f"{stem}.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}.png"
        used.add(name)
        F.to_pil_image(draw(Path(r["input"]), r["objects"])).save(out / name)
        written.append(out / name)
    return written


def plot_sheet(examples: list, path: Path, columns: int = 4) -> None:
    """A grid of (BoxedImage, predicted objects): true boxes green, predicted red with label and score."""
    from matplotlib.figure import Figure

    from graft.metrics import save_figure

    columns = max(1, min(columns, len(examples)))
    rows = math.ceil(len(examples) / columns)
    fig = Figure(figsize=(4 * columns, 4 * rows))
    axes = fig.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (item, objects) in zip(axes.flat, examples):
        ax.imshow(draw(item.path, objects, [list(b) for b in item.boxes]).permute(1, 2, 0).numpy())
        name = item.path.name if len(item.path.name) <= 28 else "..." + item.path.name[-25:]
        ax.set_title(f"{name}: {len(item.boxes)} true, {len(objects)} found", fontsize=8)
    fig.suptitle("validation images: true boxes green, predictions red")
    save_figure(fig, path, dpi=80)
