"""Object detection: images with boxes (COCO JSON, Pascal VOC XML or YOLO txt) -> a trained detector.

Class names are all a user sees: the background index and each format's id conventions stay inside.
Label ids inside the model are 1..K in the order of ``classes``; 0 is background.
"""
from __future__ import annotations

import math
import random
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from graft import bundle, metrics, strategies, training
from graft.data.boxes import BoxedImage, DetectionData, read_detection_dataset
from graft.data.images import list_images, load_image
from graft.detection.models import (ARCHS, Detector, anchor_sizes, build_fasterrcnn, build_ssd_coco,
                                    build_torchvision_detector)
from graft.errors import DataError, GraftError
from graft.progress import log
from graft.runtime import configure, inference_context
from graft.tasks.base import Task

AUTO_FINE_TUNE_MIN_BOXES = 100  # per class; below it the pretrained detector stays frozen and heads train
METRIC_NAME = "torchmetrics.detection.MeanAveragePrecision (COCO protocol, pycocotools backend)"
SHEET_IMAGES = 8


def pretrained_detectors() -> list[str]:
    """The zoo's whole detectors (trained on COCO): they start fine-tuning, or detect as they are."""
    from graft.backbones import get_cfg, list_backbones

    return [n for n in list_backbones("detector") if get_cfg(n).arch in ARCHS]


SSD_OBJECT_PIXELS = 60  # between its two smallest anchors (30 and 60 px at any input size)
SSD_SIZES = (300, 640)  # 300: as trained on COCO; 640: about 4.5x the compute, the most a CPU budget carries


def ssd_input_size(data: DetectionData) -> int:
    """The COCO SSD's input size for these objects: the median object reaches ``SSD_OBJECT_PIXELS``.

    The SSD resizes every image to a square; its smallest anchors are 30 px. Small objects (median under a
    fifth of the image, e.g. tree crowns in aerial tiles) get a larger input, anchors kept in pixels.
    """
    relative = sorted(math.sqrt(max((b[2] - b[0]) * (b[3] - b[1]), 1.0)) / min(im.width, im.height)
                      for im in data.images for b in im.boxes)
    if not relative:
        return SSD_SIZES[0]
    size = SSD_OBJECT_PIXELS / relative[len(relative) // 2]
    return int(min(max(round(size / 32) * 32, SSD_SIZES[0]), SSD_SIZES[1]))


def _arch(backbone: str) -> str:
    from graft.backbones import get_cfg

    cfg = get_cfg(backbone)
    if cfg.family == "text":
        raise GraftError(f"'{backbone}' is a text model: detection needs an image backbone or a detector "
                         "(see `graft models --task detection`)")
    return cfg.arch if cfg.family == "detector" else "fasterrcnn"


class _Boxes(Dataset):
    """(image tensor in [0, 1], target) pairs; training images get flips and colour jitter that keep boxes right."""

    def __init__(self, images: list[BoxedImage], index: dict[str, int], train: bool, vflip: bool = False):
        self.images, self.index, self.train = images, index, train
        self.augment = _augmentation(vflip) if train else None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from torchvision import tv_tensors
        from torchvision.transforms.v2 import functional as F

        item = self.images[i]
        image = F.to_image(load_image(item.path))
        boxes = tv_tensors.BoundingBoxes(torch.tensor(item.boxes, dtype=torch.float32).reshape(-1, 4),
                                         format="XYXY", canvas_size=image.shape[-2:])
        target = {"boxes": boxes, "labels": torch.tensor([self.index[c] for c in item.labels], dtype=torch.int64)}
        if self.augment is not None:
            image, target = self.augment(image, target)
        return F.to_dtype(image, torch.float32, scale=True), {k: v.as_subclass(torch.Tensor) if k == "boxes" else v
                                                              for k, v in target.items()}


def _augmentation(vflip: bool):
    from torchvision.transforms import v2

    # half the time a random crop that keeps whole objects (SSD's own recipe): objects seen larger and shifted
    steps = [v2.RandomApply([v2.RandomIoUCrop()], p=0.5), v2.RandomHorizontalFlip(0.5)]
    if vflip:  # aerial and microscope images look the same upside down; street scenes do not
        steps.append(v2.RandomVerticalFlip(0.5))
    steps += [v2.ColorJitter(0.2, 0.2, 0.2), v2.SanitizeBoundingBoxes(min_size=1)]
    return v2.Compose(steps)


def _collate(batch):
    images, targets = zip(*batch)
    return list(images), list(targets)


class DetectionObjective(training.Objective):
    """The detector's own summed losses; mAP@.5 on validation is monitored."""

    monitor, mode = "val_map_50", "max"

    def loss(self, model, batch):
        images, targets = batch
        losses = model(images, targets)
        return sum(losses.values()), len(images)

    def validate(self, model, loader, acc) -> dict[str, float]:
        report = mean_average_precision(model, loader, classes=None)
        return {"val_map": report["map"], "val_map_50": report["map_50"]}

    def describe(self, row: dict) -> str:
        return f"val mAP@.5 {row['val_map_50']:.4f}, mAP@[.5:.95] {row['val_map']:.4f}"


@torch.no_grad()
def mean_average_precision(model, loader, classes: list[str] | None) -> dict:
    """COCO mAP over ``loader`` with torchmetrics; per-class AP and recall when ``classes`` are given."""
    try:
        from torchmetrics.detection import MeanAveragePrecision
    except ImportError:
        raise GraftError("detection metrics need torchmetrics and pycocotools: "
                         "pip install 'graft[detection]'") from None

    metric = MeanAveragePrecision(iou_type="bbox", class_metrics=classes is not None)  # COCO: top 100 per image
    metric.warn_on_many_detections = False
    model.eval()
    device = training.device()
    for images, targets in loader:
        preds = model([im.to(device) for im in images])
        metric.update([{k: v.cpu() for k, v in p.items()} for p in preds],
                      [{k: v.cpu() for k, v in t.items()} for t in targets])
    result = metric.compute()
    report = {"map": _num(result["map"]), "map_50": _num(result["map_50"]), "map_75": _num(result["map_75"]),
              "recall": _num(result["mar_100"])}
    if classes is not None:
        ids = result["classes"].reshape(-1).tolist()
        ap, recall = result["map_per_class"].reshape(-1).tolist(), result["mar_100_per_class"].reshape(-1).tolist()
        report["per_class"] = {classes[int(i) - 1]: {"ap": _clean(a), "recall": _clean(r)}
                               for i, a, r in zip(ids, ap, recall) if 0 < int(i) <= len(classes)}
    return report


def _num(value) -> float:
    return _clean(float(value))


def _clean(value: float) -> float:
    return 0.0 if value < 0 else round(value, 6)  # torchmetrics reports -1 where a class has no boxes


class OneImageDetector(torch.nn.Module):
    """The exportable form of a detector: one image ``[1, 3, H, W]`` in [0, 1] -> boxes ``[N, 4]`` (xyxy in the
    image's pixels), scores ``[N]`` and label ids ``[N]``, resizing, normalisation and NMS included."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        found = self.model([image[0]])[0]
        return found["boxes"], found["scores"], found["labels"]


class ExportedDetector:
    """An exported detector behind the torchvision detection API that evaluation and prediction use:
    ``finder(images)`` with a list of CHW images -> ``[{"boxes", "scores", "labels"}]``."""

    def __init__(self, network):
        self.network = network

    def eval(self) -> ExportedDetector:
        return self

    def __call__(self, images: list[torch.Tensor]) -> list[dict]:
        found = [self.network(image=im.cpu()[None]) for im in images]
        return [{"boxes": b, "scores": s, "labels": lab} for b, s, lab in found]


def image_tensor(path: Path) -> torch.Tensor:
    """An image file as the detectors take it: CHW float in [0, 1]."""
    from torchvision.transforms.v2 import functional as F

    return F.to_dtype(F.to_image(load_image(path)), torch.float32, scale=True)


class ObjectDetector(Task):
    """Transfer learning for object detection.

    ``ObjectDetector("ssd_mobilenet_v2_coco", strategy="fine-tune").fit("data/trees/train")``

    ``backbone``: a pretrained detector (``ssd_mobilenet_v2_coco``, trained on COCO; its box regression and
    features are reused, new class convs are trained), or any image backbone of the zoo (``mobilenet_v2``,
    ``efficientnet_lite0``, timm names online) under a Faster R-CNN with a feature pyramid, whose pyramid,
    region proposals and box heads are new.

    Strategies: ``feature-extraction`` trains only the new modules; ``fine-tune`` trains them first
    (``head_epochs``), then unfreezes the last ``unfreeze`` layer groups with learning rates decaying by
    ``lr_decay`` per group going down; ``auto`` fine-tunes with at least 100 boxes per class, else extracts.
    ``image_size``: the model's input size (default: from the objects' sizes, see ``ssd_input_size``; the
    COCO SSD keeps its anchors' pixel sizes at any input size); ``min_score``: predictions
    below it are dropped (saved with the model); ``vflip``: vertical flips too (aerial imagery).
    """

    name = "detection"
    modality = "image"
    exportable = True
    export_outputs = "detections"
    export_output_names = ("boxes", "scores", "labels")
    export_batch_size = 1  # images keep their own sizes: the network resizes them itself
    export_formats = ("onnx",)  # torch.export cannot trace NMS's data-dependent number of boxes
    export_not_dynamo = "NMS keeps a data-dependent number of boxes, which torch.export cannot trace"
    default_backbone = "ssd_mobilenet_v2_coco"
    strategy_choices = ("feature-extraction", "fine-tune", "auto")
    defaults = {"epochs": 30, "head_epochs": 10, "lr": 1e-3, "head_lr": 5e-3, "lr_decay": 0.7, "unfreeze": "all",
                "batch_size": 8}
    # a Faster R-CNN's proposals and box heads start from nothing: at the SSD's rates its fine-tuning diverged
    # on the trees set (validation mAP@.5 0.02 -> 0.006); at these it climbed (0.04 -> 0.19 in 5 epochs)
    arch_defaults = {"fasterrcnn": {"lr": 2e-4, "head_lr": 1e-3}, "fasterrcnn-mobilenet-v3": {"lr": 2e-4,
                                                                                               "head_lr": 1e-3}}

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *,
                 weights: str | Path | None = "pretrained",
                 epochs: int | None = None, head_epochs: int | None = None, lr: float | None = None,
                 head_lr: float | None = None, batch_size: int | None = None, unfreeze: int | str | None = None,
                 lr_decay: float | None = None, train_bn: bool = False, image_size: int | None = None,
                 min_score: float = 0.3, augment: bool = True, vflip: bool = False, val_fraction: float = 0.2,
                 seed: int = 0, patience: int | None = 5, grad_accum: int = 1, mixed_precision: str = "no",
                 max_grad_norm: float | None = 10.0, on_bad_file: str = "error",
                 checkpoint_dir: str | Path | None = None, num_workers: int | None = None):
        self.check_strategy(strategy)
        self.check_options(epochs=epochs, head_epochs=head_epochs, lr=lr, head_lr=head_lr, batch_size=batch_size,
                           lr_decay=lr_decay, val_fraction=val_fraction, patience=patience, grad_accum=grad_accum,
                           image_size=image_size)
        self.backbone_name, self.strategy, self.weights = backbone or self.default_backbone, strategy, weights
        self.arch = _arch(self.backbone_name)
        self.epochs, self.head_epochs, self.lr, self.head_lr = epochs, head_epochs, lr, head_lr
        self.batch_size, self.unfreeze, self.lr_decay, self.train_bn = batch_size, unfreeze, lr_decay, train_bn
        self.image_size, self.min_score, self.augment, self.vflip = image_size, min_score, augment, vflip
        self.val_fraction, self.seed, self.patience, self.grad_accum = val_fraction, seed, patience, grad_accum
        self.mixed_precision, self.max_grad_norm, self.on_bad_file = mixed_precision, max_grad_norm, on_bad_file
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.num_workers = num_workers
        self.classes: list[str] = []
        self.anchors: tuple[int, ...] | None = None
        self.detector: Detector | None = None
        self.model = None
        self.history: list[dict] = []
        self.run_report: dict = {}
        self.val_sheet: list[tuple[BoxedImage, dict]] = []
        self.data_source: str | None = None  # the training data, recorded for checking exports on real inputs

    def option(self, name: str):
        value = getattr(self, name)
        if value is not None:
            return value
        return self.arch_defaults.get(self.arch, {}).get(name, self.defaults[name])

    # ---- data --------------------------------------------------------------------------------------
    def read_labelled(self, source, classes: list[str] | None = None) -> DetectionData:
        if isinstance(source, DetectionData):
            return source
        data = read_detection_dataset(source, on_bad_file=self.on_bad_file, classes=classes)
        r = data.report
        per_class = ", ".join(f"{c} {n}" for c, n in r["boxes_per_class"].items())
        log(f"{source}: {r['images']} images, {r['boxes']} boxes ({per_class}), {r['empty_images']} without boxes"
            + (f", {len(r['skipped'])} skipped" if r.get("skipped") else "")
            + (f", {r.get('clipped_count', len(r.get('clipped_boxes', [])))} boxes clipped to their image"
               if r.get("clipped_boxes") else ""))
        return data

    def split(self, data: DetectionData) -> tuple[DetectionData, DetectionData, dict]:
        """A seeded random split by image (an image's boxes never straddle the two sides)."""
        order = list(range(len(data.images)))
        random.Random(self.seed).shuffle(order)
        n_val = max(1, round(self.val_fraction * len(order)))
        if len(order) - n_val < 1:
            raise DataError(f"{data.source}: {len(order)} image(s) is too few to split off validation: pass --val")
        split = {"kind": "random by image", "val_fraction": self.val_fraction, "seed": self.seed}
        return data.subset(sorted(order[n_val:])), data.subset(sorted(order[:n_val])), split

    # ---- model -------------------------------------------------------------------------------------
    def _input_size(self, data: DetectionData) -> int:
        if self.image_size:
            return self.image_size
        if self.arch == "ssd-coco":
            return ssd_input_size(data)
        sides = sorted(min(im.width, im.height) for im in data.images)
        return int(min(max(sides[len(sides) // 2], 320), 640))  # the images' own scale, within CPU reach

    def build(self, weights) -> Detector:
        num_classes = len(self.classes) + 1
        if self.arch == "ssd-coco":
            return build_ssd_coco(num_classes, weights, self.backbone_name, self.image_size)
        if self.arch == "fasterrcnn-mobilenet-v3":
            return build_torchvision_detector(num_classes, weights, self.backbone_name, self.image_size)
        from graft.backbones import get_cfg

        prep = get_cfg(self.backbone_name).preprocessing
        return build_fasterrcnn(self.backbone_name, num_classes, weights=weights, image_size=self.image_size,
                                anchors=self.anchors, mean=prep.mean, std=prep.std)

    def _anchors(self, data: DetectionData) -> tuple[int, ...]:
        sides = []
        for im in data.images:
            scale = self.image_size / min(im.width, im.height)
            sides += [math.sqrt(max((b[2] - b[0]) * (b[3] - b[1]), 1.0)) * scale for b in im.boxes]
        return anchor_sizes(sides)

    # ---- fitting -----------------------------------------------------------------------------------
    def suggest_strategy(self, data: DetectionData) -> tuple[str, str]:
        counts = data.report["boxes_per_class"]
        fewest = min(counts.values()) if counts else 0
        if fewest < AUTO_FINE_TUNE_MIN_BOXES:
            return "feature-extraction", (
                f"the rarest class has {fewest} boxes (< {AUTO_FINE_TUNE_MIN_BOXES}): the pretrained layers stay "
                "frozen and only the new detection modules train")
        return "fine-tune", (f"every class has >= {AUTO_FINE_TUNE_MIN_BOXES} boxes: enough to adapt the "
                             "pretrained layers too, after the new modules have trained")

    def fit(self, data, val=None) -> ObjectDetector:
        """Train on ``data`` (validated on ``val``, or a seeded random 20 % of the images)."""
        configure()
        torch.manual_seed(self.seed)
        start = time.perf_counter()
        data = self.read_labelled(data)
        if val is not None:
            train, val_data, split = data, self.read_labelled(val, classes=data.classes), {"kind": "given"}
        else:
            train, val_data, split = self.split(data)
        self.classes = list(data.classes)
        self.data_source = str(data.source) if data.source else None
        if not self.classes:
            raise DataError(f"{data.source}: no boxes at all: a detector needs labelled boxes to learn from")
        self.choose_strategy(lambda: self.suggest_strategy(train))
        self.image_size = self._input_size(train)
        self.anchors = self._anchors(train) if self.arch == "fasterrcnn" else None
        self.detector = self.build(self.weights)
        self.model = self.detector.model
        log(f"detector: {self.backbone_name} ({self.arch}), input {self.image_size}px, {len(self.classes)} "
            f"class(es), {len(train.images)} training / {len(val_data.images)} validation images"
            + (f", anchors {list(self.anchors)} px" if self.anchors else ""))
        train_loader = self._loader(train.images, train=True)
        val_loader = self._loader(val_data.images, train=False)
        self.history = self._train_new_modules(train_loader, val_loader)
        if self.strategy_used == "fine-tune":
            self.history += self._fine_tune(train_loader, val_loader)
        strategies.freeze(self.model)
        val_report = mean_average_precision(self.model, val_loader, self.classes)
        self.val_sheet = self._sheet_examples(val_data.images)
        self.run_report = {"data_check": data.report, "split": split, "train_images": len(train.images),
                           "val_images": len(val_data.images), "val_metrics": val_report,
                           "metric_implementation": METRIC_NAME,
                           "fit_seconds": round(time.perf_counter() - start, 2)}
        log(f"validation: mAP@.5 {val_report['map_50']:.4f}, mAP@[.5:.95] {val_report['map']:.4f} "
            f"({self.run_report['fit_seconds']:.0f}s)")
        return self

    def _loader(self, images: list[BoxedImage], train: bool) -> DataLoader:
        index = {c: i + 1 for i, c in enumerate(self.classes)}
        dataset = _Boxes(images, index, train=train and self.augment, vflip=self.vflip)
        batch = self.option("batch_size")
        return DataLoader(dataset, batch_size=batch, shuffle=train, collate_fn=_collate,
                          num_workers=training.loader_workers(self.num_workers),
                          pin_memory=training.device().type == "cuda", drop_last=train and len(images) > batch)

    def _settings(self, head_phase: bool) -> training.TrainSettings:
        epochs = self.option("epochs")
        if head_phase and self.strategy_used == "fine-tune":
            epochs = self.option("head_epochs")
        return training.TrainSettings(
            epochs=epochs, lr=self.option("head_lr") if head_phase else self.option("lr"), weight_decay=1e-4,
            schedule="cosine", warmup_ratio=0.05, patience=self.patience, grad_accum=self.grad_accum,
            mixed_precision="no" if head_phase else self.mixed_precision, max_grad_norm=self.max_grad_norm)

    def _train_new_modules(self, train_loader, val_loader) -> list[dict]:
        """The new modules alone, on the frozen pretrained part (all of feature extraction)."""
        strategies.freeze(self.model)
        params = self.detector.new_parameters()
        for p in params:
            p.requires_grad_(True)
        log(f"head: training the new modules ({sum(p.numel() for p in params):,} parameters)")
        return training.fit(self.model, [{"params": params}], train_loader, val_loader, self._settings(True),
                            phase="head", set_train_mode=self._train_mode, seed=self.seed,
                            checkpoint_dir=self.checkpoint_dir, objective=DetectionObjective())

    def _fine_tune(self, train_loader, val_loader) -> list[dict]:
        unfrozen = strategies.unfreeze_last(self.model, self.option("unfreeze"), self.detector.groups)
        new = self.detector.new_parameters()
        for p in new:
            p.requires_grad_(True)
        groups = strategies.discriminative_param_groups(self.model, new, self.option("lr"), unfrozen,
                                                        self.option("lr_decay"), weight_decay=1e-4)
        log(f"fine-tune: training {len(unfrozen)} layer group(s) "
            f"({', '.join(g.name for g in unfrozen[-3:])}{' ...' if len(unfrozen) > 3 else ''}) and the new modules")
        return training.fit(self.model, groups, train_loader, val_loader, self._settings(False), phase="fine-tune",
                            set_train_mode=self._train_mode, seed=self.seed, checkpoint_dir=self.checkpoint_dir,
                            keep_incoming=True, objective=DetectionObjective())

    def _train_mode(self, model) -> None:
        # frozen BatchNorm statistics: detection batches are small, as torchvision's FrozenBatchNorm2d assumes
        strategies.set_batchnorm_mode(model, self.train_bn)

    # ---- using a trained model ---------------------------------------------------------------------
    def evaluate(self, data) -> dict:
        """COCO mAP@[.5:.95], mAP@.5, mAP@.75, recall, and per-class AP and recall (torchmetrics)."""
        self.require_model()
        data = self.read_labelled(data, classes=self.classes)
        finder = self.model if self.runtime is None else ExportedDetector(self.runtime)
        report = mean_average_precision(finder, self._loader(data.images, train=False), self.classes)
        return {"n_images": len(data.images), "n_boxes": data.report["boxes"], **report,
                "implementation": METRIC_NAME}

    @torch.no_grad()
    def detect(self, paths: list[Path], min_score: float | None = None) -> list[list[dict]]:
        """Per image: [{"label", "score", "box": [x1, y1, x2, y2]}] in the image's pixels, best first."""
        self.require_model()
        threshold = self.min_score if min_score is None else min_score
        device = training.device() if self.runtime is None else torch.device("cpu")
        model = self._inference_model(device)
        out = []
        with inference_context(device):
            for start in range(0, len(paths), 8):
                images = [image_tensor(p).to(device) for p in paths[start:start + 8]]
                for pred in model(images):
                    keep = pred["scores"] >= threshold
                    objects = [{"label": self.classes[int(label) - 1], "score": round(float(score), 4),
                                "box": [round(float(v), 1) for v in box]}
                               for box, score, label in zip(pred["boxes"][keep], pred["scores"][keep],
                                                            pred["labels"][keep])
                               if 0 < int(label) <= len(self.classes)]
                    # a box clipped to nothing at the image's edge is no object
                    out.append([o for o in objects if o["box"][2] > o["box"][0] and o["box"][3] > o["box"][1]])
        return out

    def _inference_model(self, device: torch.device):
        """The model to predict with: on a CPU with the fast path, the SSD with BatchNorm folded into its convs
        and channels-last weights (same outputs to ~1e-6; measured 1.2x faster than as trained); an exported
        network where the detector was loaded from an export."""
        if self.runtime is not None:
            return ExportedDetector(self.runtime)
        self.model.to(device).eval()
        if self.arch != "ssd-coco" or device.type != "cpu" or not configure().fast:
            return self.model
        from graft.detection.ssd_coco import fused_for_inference

        return fused_for_inference(self.model, channels_last=True)

    def predict(self, inputs, min_score: float | None = None, draw: str | Path | None = None) -> list[dict]:
        """For each image: its objects (label, score, box); ``draw``: also write the images with boxes drawn."""
        self.require_model()
        paths = list_images(inputs)
        results = [{"input": str(p), "objects": objects} for p, objects in zip(paths, self.detect(paths, min_score))]
        if draw is not None:
            from graft.detection.drawing import draw_predictions

            written = draw_predictions(results, Path(draw))
            log(f"drew {len(written)} image(s) with their boxes into {draw}")
        return results

    # ---- saving and loading ------------------------------------------------------------------------
    def config(self) -> dict:
        import graft

        model = self.model
        return {
            "graft_version": graft.__version__, "classes": self.classes,
            "detector": {"backbone": self.backbone_name, "arch": self.arch, "image_size": self.image_size,
                         "anchor_sizes": list(self.anchors) if self.anchors else None,
                         "weights_source": getattr(model, "weights_source", None),
                         "weights_sha256": getattr(model, "weights_sha256", None)},
            "min_score": self.min_score,
            "strategy": {"requested": self.strategy, "used": self.strategy_used, "reason": self.strategy_reason,
                         "unfreeze": self.option("unfreeze") if self.strategy_used == "fine-tune" else None,
                         "train_bn": self.train_bn},
            "training": {name: self.option(name) for name in ("epochs", "head_epochs", "lr", "head_lr", "lr_decay",
                                                               "batch_size")}
            | {"patience": self.patience, "augment": self.augment, "vflip": self.vflip,
               "max_grad_norm": self.max_grad_norm, "mixed_precision": self.mixed_precision},
            "seed": self.seed, "split": self.run_report.get("split"), "data_source": self.data_source,
        }

    def save_reports(self, directory: Path) -> None:
        """metrics.json, history.csv, curves.png, and sheet.png: validation images with true and found boxes."""
        bundle.write_json(directory / "metrics.json", self.run_report)
        if self.history:
            bundle.write_history(directory / "history.csv", self.history)
            metrics.plot_curves(self.history, directory / "curves.png", monitor="val_map_50",
                                val_n=self.run_report.get("val_images"))
        if self.val_sheet:
            from graft.detection.drawing import plot_sheet

            plot_sheet(self.val_sheet, directory / "sheet.png")

    def _sheet_examples(self, images: list[BoxedImage]) -> list[tuple[BoxedImage, list[dict]]]:
        chosen = images[:SHEET_IMAGES]
        return list(zip(chosen, self.detect([im.path for im in chosen])))

    @classmethod
    def from_bundle(cls, directory: Path, config: dict) -> ObjectDetector:
        spec = config["detector"]
        if spec["arch"] not in ARCHS:
            raise bundle.BundleError(f"{directory}: unknown detector architecture {spec['arch']!r}")
        self = cls(spec["backbone"], config["strategy"]["requested"], weights=None, image_size=spec["image_size"],
                   min_score=config.get("min_score", 0.3), seed=config.get("seed", 0))
        self.classes = config["classes"]
        self.anchors = tuple(spec["anchor_sizes"]) if spec.get("anchor_sizes") else None
        self.strategy_used, self.strategy_reason = config["strategy"]["used"], config["strategy"]["reason"]
        self.detector = self.build(None)
        self.model = self.detector.model
        bundle.load_into(self.model, directory, config)
        strategies.freeze(self.model)
        self.data_source = config.get("data_source")
        return self

    @classmethod
    def from_export(cls, path: Path, config: dict, network) -> ObjectDetector:
        spec = config["detector"]
        self = cls(spec["backbone"], config["strategy"]["requested"], weights=None, image_size=spec["image_size"],
                   min_score=config.get("min_score", 0.3), seed=config.get("seed", 0))
        self.classes = config["classes"]
        self.strategy_used, self.strategy_reason = config["strategy"]["used"], config["strategy"]["reason"]
        self.runtime = network
        return self

    # ---- export (graft.deploy) ---------------------------------------------------------------------
    def export_items(self, data, n: int) -> list[Path]:
        source = data or self.data_source
        if not source or not Path(source).exists():
            raise GraftError("give --data: real images to check the export on (the training data recorded in "
                             f"the model, {self.data_source or 'none'}, is not here)")
        paths = list_images(source)
        return random.Random(self.seed).sample(paths, min(n, len(paths)))

    def export_inputs(self, items: list[Path]) -> dict[str, torch.Tensor]:
        if len(items) != 1:
            raise GraftError("a detector is exported for one image per call")
        return {"image": image_tensor(items[0])[None]}

    def export_module(self) -> torch.nn.Module:
        return OneImageDetector(self.model.float().cpu().eval())

    def export_dynamic_axes(self) -> dict[str, dict[int, str]]:
        return {"image": {2: "height", 3: "width"}}

    def export_quantization(self) -> str:
        return "static"  # convolutions: onnxruntime's dynamic quantization leaves them fp32

    def export_parity_options(self) -> dict:
        return {"min_score": self.min_score}

    @classmethod
    def pretrained(cls, name: str = "ssd_mobilenet_v2_coco", min_score: float = 0.5,
                   weights: str | Path = "pretrained") -> ObjectDetector:
        """A detector trained by others, as it is (COCO's 80 classes): detects out of the box, no fitting."""
        from graft.detection.ssd_coco import COCO_NAMES

        if name not in pretrained_detectors():
            raise GraftError(f"'{name}' is not a pretrained detector; known: {', '.join(pretrained_detectors())}")
        self = cls(name, "feature-extraction", min_score=min_score, weights=weights)
        # COCO's ids run 1..90 with gaps: every id is named, the unused ones by placeholders
        self.classes = [COCO_NAMES.get(i, f"coco-{i}") for i in range(1, 91)]
        self.image_size = 300 if self.arch == "ssd-coco" else 800
        build = build_ssd_coco if self.arch == "ssd-coco" else build_torchvision_detector
        detector = build(None, weights, name) if self.arch == "ssd-coco" else build(None, weights, name, 800)
        self.detector, self.model = detector, detector.model
        self.strategy_used, self.strategy_reason = "pretrained", "COCO detector, not fine-tuned"
        strategies.freeze(self.model)
        return self

    # ---- the command line --------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--min-score", type=float, default=0.3, help="predictions below this score are "
                           "dropped (saved with the model; default 0.3)")
        group.add_argument("--vflip", action="store_true", help="vertical flips too (aerial, microscope images)")
        group.add_argument("--max-grad-norm", type=float, default=10.0, help="clip gradients to this norm")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return dict(weights=args.weights or "pretrained", epochs=args.epochs, head_epochs=args.head_epochs,
                    lr=args.lr, head_lr=args.head_lr, batch_size=args.batch_size, unfreeze=args.unfreeze,
                    lr_decay=args.lr_decay, train_bn=args.train_bn, image_size=args.image_size,
                    min_score=args.min_score, augment=not args.no_augment, vflip=args.vflip,
                    val_fraction=args.val_fraction, seed=args.seed, patience=args.patience,
                    grad_accum=args.grad_accum, mixed_precision=args.mixed_precision,
                    max_grad_norm=args.max_grad_norm, on_bad_file=args.on_bad_file, num_workers=args.num_workers)

    @classmethod
    def prediction_options(cls, args) -> dict:
        return {"min_score": args.min_score, "draw": args.draw}

    @classmethod
    def from_zoo(cls, name: str, **options) -> ObjectDetector | None:
        return cls.pretrained(name) if name in pretrained_detectors() else None

    @staticmethod
    def summarise_config(config: dict) -> dict:
        return {"labels": config.get("classes"), "backbone": config.get("detector")}

    def summary(self) -> str:
        val = self.run_report["val_metrics"]
        return (f"({self.strategy_used}, {len(self.classes)} classes): validation mAP@.5 {val['map_50']:.4f}, "
                f"mAP@[.5:.95] {val['map']:.4f}")

    @staticmethod
    def format_report(report: dict) -> str:
        lines = [f"mAP@[.5:.95] {report['map']:.4f}  mAP@.5 {report['map_50']:.4f}  mAP@.75 {report['map_75']:.4f}  "
                 f"recall {report['recall']:.4f}  ({report['n_images']} images, {report['n_boxes']} boxes)"]
        per_class = report.get("per_class", {})
        if per_class:
            width = max(len(c) for c in per_class)
            lines.append(f"{'class':<{width}}  AP@[.5:.95]  recall")
            lines += [f"{c:<{width}}  {m['ap']:11.4f}  {m['recall']:6.4f}" for c, m in per_class.items()]
        lines.append(f"computed by {report['implementation']}")
        return "\n".join(lines)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        lines = []
        for r in results:
            lines.append(f"{r['input']}: {len(r['objects'])} object(s)")
            lines += [f"  {o['label']}\t{o['score']:.3f}\t{o['box']}" for o in r["objects"]]
        return "\n".join(lines)
