"""Face recognition: enroll people from their photos, then identify or verify faces in new photos.

Every face is found with its five landmarks (MTCNN), aligned into a chip the way dlib does, and embedded by a
pretrained face embedder. A gallery keeps one descriptor per enrolled photo with its person's name (never the
photos). Two faces are the same person when their descriptors are closer than a threshold calibrated on the
enrolled photos for a target false-accept rate (``graft.faces.verification.calibrate`` states the rule).

Transfer learning proper is optional: ``feature-extraction`` trains a linear map on the frozen embedder's
descriptors, ``fine-tune`` unfreezes the embedder's last blocks; both with a margin loss on pair distances
that keeps the published threshold meaningful, and both re-calibrate the threshold afterwards.
"""
from __future__ import annotations

import csv
import hashlib
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from graft import bundle, strategies, training
from graft.data.faces import is_pairs_file, read_pairs, read_people
from graft.data.images import BadImage, list_images, load_image
from graft.errors import DataError, GraftError
from graft.faces.adaptation import Adapted, PairMargin, identity_head, layer_groups, mirrored
from graft.faces.verification import calibrate, gallery_pairs, pairwise, verification_report
from graft.progress import log, progress
from graft.tasks.base import Task

UNKNOWN = "unknown"
AUTO_ADAPT_MIN_PHOTOS = 10  # per person; with fewer, the pretrained embedder is used as it is
AUTO_ADAPT_MIN_PEOPLE = 5
MTCNN_LICENCE = "MTCNN weights of facenet-pytorch (MIT)"


def photo_id(path: Path) -> str:
    """A content hash: the same photo enrolled twice, or probed against itself, is recognised as such."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def taken_at(path: Path) -> str | None:
    """When the photo was taken, from its EXIF (DateTimeOriginal, else DateTime), or None."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            exif = im.getexif()
            value = exif.get_ifd(0x8769).get(36867) or exif.get(306)
    except (OSError, ValueError, SyntaxError):
        return None
    return str(value).strip() if value else None


class FaceRecognizer(Task):
    """Face recognition by transfer: ``FaceRecognizer().fit("people/")``, then ``predict(photos)``.

    ``backbone``: a face embedder of the zoo (``graft models --task faces``): ``face_api_resnet34`` (offline),
    ``dlib_resnet_v1`` (dlib), ``facenet_vggface2`` (online). ``far``: the false-accept rate the threshold is
    calibrated for. ``strategy``: ``enroll`` (the embedder as it is), ``feature-extraction``, ``fine-tune``,
    or ``auto`` (adapts only with >= 10 photos for each of >= 5 people). ``pairs``: a pairs file whose
    genuine and impostor distances join the calibration.
    """

    name = "faces"
    modality = "image"
    default_backbone = "face_api_resnet34"
    strategy_choices = ("enroll", "feature-extraction", "fine-tune", "auto")
    defaults = {"epochs": 15, "lr": 1e-4, "head_lr": 1e-3, "batch_size": 32, "unfreeze": 2}

    def __init__(self, backbone: str | None = None, strategy: str = "auto", *, weights="pretrained",
                 far: float = 1e-3, pairs: str | Path | None = None, min_face_score: float = 0.9,
                 margin: float = 0.1, mirror: bool = True, epochs: int | None = None, lr: float | None = None,
                 head_lr: float | None = None, batch_size: int | None = None, unfreeze: int | str | None = None,
                 val_fraction: float = 0.2, seed: int = 0, patience: int | None = 5,
                 add_to: str | Path | None = None, checkpoint_dir: str | Path | None = None):
        self.check_strategy(strategy)
        self.check_options(epochs=epochs, lr=lr, head_lr=head_lr, batch_size=batch_size, val_fraction=val_fraction,
                           patience=patience)
        if not 0 < far < 1:
            raise GraftError(f"--far must be between 0 and 1, got {far}")
        self.backbone_name, self.strategy, self.weights = backbone or self.default_backbone, strategy, weights
        self.far, self.pairs, self.min_face_score, self.margin = far, pairs, min_face_score, margin
        self.mirror = mirror
        self.epochs, self.lr, self.head_lr, self.batch_size, self.unfreeze = epochs, lr, head_lr, batch_size, unfreeze
        self.val_fraction, self.seed, self.patience, self.add_to = val_fraction, seed, patience, add_to
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir else None
        self.embedder = None
        self.head: nn.Linear | None = None
        self.model = None
        self.names: list[str] = []  # one per gallery descriptor
        self.sources: list[str] = []  # the photo each descriptor came from: its content hash
        self.embeddings = np.zeros((0, 0), np.float32)
        self.threshold: float | None = None
        self.calibration: dict = {}
        self.run_report: dict = {}
        self.history: list[dict] = []
        self._finder = None

    def option(self, name: str):
        value = getattr(self, name)
        return self.defaults[name] if value is None else value

    # ---- faces in photos ---------------------------------------------------------------------------
    @property
    def finder(self):
        if self._finder is None:
            from graft.faces.align import FaceFinder

            self._finder = FaceFinder(min_score=self.min_face_score)
        return self._finder

    def faces_in(self, path: Path):
        """(image, faces) of one photo; the image is None where it cannot be read."""
        try:
            image = load_image(path)
        except BadImage:
            return None, []
        return image, self.finder.find(image)

    def chip(self, image, face) -> np.ndarray:
        from graft.faces.align import align

        return align(image, face.landmarks, self.embedder.input_size)

    def enrolment_chips(self, photos: list[tuple[Path, str]]):
        """Chips of the photos holding exactly one face; the others reported by file."""
        chips, names, ids, report = [], [], [], {"no_face": [], "several_faces": [], "unreadable": []}
        with progress(total=len(photos), desc="faces", unit="photo") as bar:
            for path, person in photos:
                image, faces = self.faces_in(path)
                if image is None:
                    report["unreadable"].append(str(path))
                elif not faces:
                    report["no_face"].append(str(path))
                elif len(faces) > 1:
                    report["several_faces"].append(f"{path} ({len(faces)} faces)")
                else:
                    chips.append(self.chip(image, faces[0]))
                    names.append(person)
                    ids.append(photo_id(path))
                bar.update(1)
        for kind, files in report.items():
            if files:
                log(f"{len(files)} photo(s) not enrolled ({kind.replace('_', ' ')}): {', '.join(files[:5])}"
                    + (" ..." if len(files) > 5 else ""))
        size = self.embedder.input_size
        return np.stack(chips) if chips else np.zeros((0, size, size, 3), np.uint8), names, ids, report

    # ---- descriptors ---------------------------------------------------------------------------------
    def describe(self, chips: np.ndarray) -> np.ndarray:
        """Descriptors of chips; with ``mirror``, the mean of each chip's and its mirror image's (measured on the
        packaged photos: same-person distances of partial faces fell from 0.61-0.73 to 0.54-0.67)."""
        emb = self.embedder.embed(chips)
        if self.mirror and len(emb):
            emb = (emb + self.embedder.embed(mirrored(chips))) / 2
        if self.head is not None and len(emb):
            with torch.no_grad():
                emb = self.head(torch.from_numpy(emb)).numpy()
        return emb.astype(np.float32)

    # ---- fitting -------------------------------------------------------------------------------------
    def suggest_strategy(self, names: list[str]) -> tuple[str, str]:
        from collections import Counter

        counts = Counter(names)
        fewest = min(counts.values()) if counts else 0
        if not self.embedder.trainable:
            return "enroll", f"{self.backbone_name} runs outside PyTorch: it is used as it is"
        if len(counts) >= AUTO_ADAPT_MIN_PEOPLE and fewest >= AUTO_ADAPT_MIN_PHOTOS:
            return "feature-extraction", (f"{len(counts)} people with >= {fewest} photos each: enough to adapt "
                                          "the descriptors to these people with a linear map")
        return "enroll", (f"{len(counts)} people, the fewest with {fewest} photo(s) (adapting needs >= "
                          f"{AUTO_ADAPT_MIN_PHOTOS} photos for each of >= {AUTO_ADAPT_MIN_PEOPLE} people): the "
                          "pretrained embedder is used as it is")

    def fit(self, data, val=None) -> FaceRecognizer:
        """Enroll the people of ``data`` (``<folder>/<name>/*.jpg``), adapt if the strategy says so, calibrate."""
        from graft.faces.embedders import build_embedder

        if self.add_to:
            return self._enroll_into(self.add_to, data)
        start = time.perf_counter()
        torch.manual_seed(self.seed)
        photos = read_people(data)
        self.embedder = build_embedder(self.backbone_name, self.weights)
        self.model = self.embedder
        chips, names, ids, report = self.enrolment_chips(photos)
        if not names:
            raise DataError(f"{data}: no photo with exactly one face: nothing to enroll")
        self.choose_strategy(lambda: self.suggest_strategy(names))
        if self.strategy_used in ("feature-extraction", "fine-tune") and not self.embedder.trainable:
            raise GraftError(f"{self.backbone_name} cannot be adapted (it runs outside PyTorch): use --strategy "
                             "enroll, or a PyTorch embedder such as face_api_resnet34")
        adaptation = self._adapt(chips, names) if self.strategy_used in ("feature-extraction", "fine-tune") else None
        self.embeddings, self.names, self.sources = self.describe(chips), list(names), list(ids)
        self.recalibrate()
        self.run_report = {"photos": len(photos), "enrolled": len(names), "people": sorted(set(names)),
                           "data_check": report, "calibration": self.calibration, "adaptation": adaptation,
                           "fit_seconds": round(time.perf_counter() - start, 2)}
        log(f"enrolled {len(names)} photo(s) of {len(set(names))} people; threshold {self.threshold:.4f} "
            f"({self.calibration['method']})")
        return self

    def enroll(self, data) -> FaceRecognizer:
        """Add the people of ``data`` to this gallery: only their photos are embedded (photos already in the
        gallery are skipped); the threshold is re-calibrated over everyone."""
        self.require_model()
        chips, names, ids, report = self.enrolment_chips(read_people(data))
        new = [i for i, pid in enumerate(ids) if pid not in set(self.sources)]
        if new:
            self.embeddings = np.concatenate([self.embeddings, self.describe(chips[new])])
            self.names += [names[i] for i in new]
            self.sources += [ids[i] for i in new]
        self.recalibrate()
        self.run_report = {**self.run_report, "enrolled": len(self.names), "people": sorted(set(self.names)),
                           "added": len(new), "already_enrolled": len(ids) - len(new), "calibration": self.calibration,
                           "data_check": report}
        log(f"added {len(new)} photo(s); the gallery holds {len(self.names)} of {len(set(self.names))} people")
        return self

    def _enroll_into(self, gallery, data) -> FaceRecognizer:
        """``fit(data)`` with ``add_to``: this object becomes the saved gallery plus ``data``'s people."""
        import graft

        saved = graft.load(gallery)
        if not isinstance(saved, FaceRecognizer):
            raise GraftError(f"{gallery} is not a face gallery")
        self.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "add_to"})
        if self.pairs is None:
            self.pairs = saved.pairs
        return self.enroll(data)

    def recalibrate(self) -> None:
        genuine, impostor = gallery_pairs(self.embeddings, self.names)
        if self.pairs:
            distances, same, _ = self.pair_distances(read_pairs(self.pairs))
            genuine, impostor = np.concatenate([genuine, distances[same]]), np.concatenate([impostor, distances[~same]])
        self.calibration = calibrate(genuine, impostor, self.far, self.embedder.published_threshold)
        self.threshold = self.calibration["threshold"]

    # ---- adaptation ------------------------------------------------------------------------------------
    def _split(self, names: list[str]) -> np.ndarray:
        """Validation photos: a seeded share of each person with >= 3 photos."""
        rng = random.Random(self.seed)
        is_val = np.zeros(len(names), bool)
        for person in sorted(set(names)):
            mine = [i for i, n in enumerate(names) if n == person]
            if len(mine) >= 3:
                rng.shuffle(mine)
                is_val[mine[:max(1, round(self.val_fraction * len(mine)))]] = True
        return is_val

    def _adapt(self, chips: np.ndarray, names: list[str]) -> dict:
        people = sorted(set(names))
        labels = torch.tensor([people.index(n) for n in names])
        is_val = self._split(names)
        before = self._held_out_report(chips, names, is_val)
        published = self.embedder.published_threshold
        objective = PairMargin(published, self.margin)
        if self.strategy_used == "feature-extraction":
            model, groups, inputs = self._head_setup(chips)
        else:
            model, groups, inputs = self._fine_tune_setup(chips)
        train = torch.from_numpy(~is_val)
        batch = self.option("batch_size")
        # training photos twice: as they are and mirrored (a face's identity survives a horizontal flip)
        train_inputs = torch.cat([inputs[0][train], inputs[1][train]])
        train_labels = torch.cat([labels[train], labels[train]])
        train_loader = DataLoader(TensorDataset(train_inputs, train_labels), batch_size=batch, shuffle=True,
                                  drop_last=len(train_labels) > batch)
        inputs = inputs[0]
        val_loader = DataLoader(TensorDataset(inputs, labels, torch.from_numpy(is_val)), batch_size=256)
        settings = training.TrainSettings(epochs=self.option("epochs"), lr=groups[0]["lr"], weight_decay=0.0,
                                          schedule="cosine", patience=self.patience)
        self.history = training.fit(model, groups, train_loader, val_loader if is_val.any() else None, settings,
                                    phase=self.strategy_used, seed=self.seed, checkpoint_dir=self.checkpoint_dir,
                                    objective=objective, keep_incoming=bool(is_val.any()))
        strategies.freeze(model)
        after = self._held_out_report(chips, names, is_val)
        return {"strategy": self.strategy_used, "loss": f"pair margin (threshold {published}, margin {self.margin})",
                "validation_photos": int(is_val.sum()), "before": before, "after": after}

    def _head_setup(self, chips):
        self.head = identity_head(self.embedder.dim)
        frozen = [torch.from_numpy(self.embedder.embed(c)) for c in (chips, mirrored(chips))]
        return Adapted(head=self.head), [{"params": list(self.head.parameters()), "lr": self.option("head_lr")}], frozen

    def _fine_tune_setup(self, chips):
        from graft.backbones import LayerGroup

        module = self.embedder.module
        named = {id(p): n for n, p in module.named_parameters()}
        groups = [LayerGroup(name, tuple(named[id(p)] for m in mods for p in m.parameters()))
                  for name, mods in layer_groups(module)]
        unfrozen = strategies.unfreeze_last(module, self.option("unfreeze"), groups)
        log(f"fine-tune: training {', '.join(g.name for g in unfrozen)}")
        params = [p for p in module.parameters() if p.requires_grad]
        inputs = [self.embedder.tensor(c) for c in (chips, mirrored(chips))]
        return Adapted(embedder=self.embedder), [{"params": params, "lr": self.option("lr")}], inputs

    def _held_out_report(self, chips, names, is_val) -> dict | None:
        """Verification on pairs with a validation photo, at the published threshold (before/after figures)."""
        if not is_val.any():
            return None
        emb = self.describe(chips)
        d = pairwise(emb, emb)
        labels = np.asarray(names)
        upper = np.triu(np.ones_like(d, dtype=bool), 1) & (is_val[:, None] | is_val[None, :])
        same = (labels[:, None] == labels[None, :])[upper]
        return verification_report(d[upper], same, self.embedder.published_threshold, self.far)

    # ---- using a gallery ---------------------------------------------------------------------------------
    def identify(self, descriptor: np.ndarray, exclude: str | None = None) -> dict:
        """The nearest enrolled person (``exclude``: leave out descriptors of that photo)."""
        keep = np.array([s != exclude for s in self.sources]) if exclude else np.ones(len(self.names), bool)
        if not keep.any():
            return {"name": UNKNOWN, "nearest": None, "distance": None, "threshold": self.threshold}
        d = pairwise(descriptor[None], self.embeddings[keep])[0]
        i = int(d.argmin())
        nearest = np.asarray(self.names)[keep][i]
        distance = float(d[i])
        return {"name": nearest if distance < self.threshold else UNKNOWN, "nearest": str(nearest),
                "distance": round(distance, 4), "threshold": round(self.threshold, 4)}

    def recognise(self, paths: list[Path], exclude_self: bool = False) -> list[dict]:
        results = []
        with progress(total=len(paths), desc="photos", unit="photo") as bar:
            for path in paths:
                image, faces = self.faces_in(path)
                entry = {"input": str(path), "faces": []}
                if image is None:
                    entry["error"] = "cannot be read as an image"
                elif faces:
                    emb = self.describe(np.stack([self.chip(image, f) for f in faces]))
                    exclude = photo_id(path) if exclude_self else None
                    entry["faces"] = [{"box": f.box, "score": f.score, **self.identify(e, exclude)}
                                      for f, e in zip(faces, emb)]
                results.append(entry)
                bar.update(1)
        return results

    def predict(self, inputs, draw: str | Path | None = None, csv_path: str | Path | None = None,
                verify: list | None = None, **_ignored) -> list[dict]:
        """For each photo, each face: box, name (or ``unknown``), distance and threshold.

        ``verify=[a, b]``: whether the main faces of two photos are the same person, with their distance.
        ``draw``: photos with boxes and names into that folder; ``csv_path``: an attendance list.
        """
        self.require_model()
        if verify:
            return [self.verify(*verify)]
        paths = list_images(inputs)
        results = self.recognise(paths)
        if draw is not None:
            from graft.detection.drawing import draw_predictions

            boxes = [{"input": r["input"], "objects": [{"label": f["name"], "score": f["distance"], "box": f["box"]}
                                                       for f in r["faces"]]} for r in results]
            log(f"drew {len(draw_predictions(boxes, Path(draw)))} photo(s) with names into {draw}")
        if csv_path is not None:
            self.write_attendance(results, Path(csv_path))
        return results

    def verify(self, a, b) -> dict:
        """Same person or not: the largest face of each photo, compared at the calibrated threshold."""
        descriptors = []
        for path in (Path(a), Path(b)):
            if not path.is_file():
                raise DataError(f"{path}: not found")
            image, faces = self.faces_in(path)
            if image is None:
                raise DataError(f"{path}: cannot be read as an image")
            if not faces:
                raise DataError(f"{path}: no face found")
            descriptors.append(self.describe(self.chip(image, faces[0])[None])[0])
        distance = float(np.linalg.norm(descriptors[0] - descriptors[1]))
        return {"a": str(a), "b": str(b), "same_person": distance < self.threshold, "distance": round(distance, 4),
                "threshold": round(self.threshold, 4)}

    @staticmethod
    def write_attendance(results: list[dict], path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["file", "name", "distance", "taken"])
            for r in results:
                taken = taken_at(Path(r["input"])) or ""
                for face in r["faces"]:
                    writer.writerow([r["input"], face["name"], face["distance"], taken])
        log(f"attendance list: {path}")

    # ---- evaluation ------------------------------------------------------------------------------------
    def pair_distances(self, pairs) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """Distances of the pairs whose two photos each show a face; the others listed."""
        cache: dict[Path, np.ndarray | None] = {}
        for path in {p for a, b, _ in pairs for p in (a, b)}:
            image, faces = self.faces_in(path)
            cache[path] = self.describe(self.chip(image, faces[0])[None])[0] if faces else None
        kept = [(a, b, s) for a, b, s in pairs if cache[a] is not None and cache[b] is not None]
        skipped = sorted({str(p) for a, b, _ in pairs for p in (a, b) if cache[p] is None})
        distances = np.array([np.linalg.norm(cache[a] - cache[b]) for a, b, _ in kept])
        return distances, np.array([s for _, _, s in kept], bool), skipped

    def evaluate(self, data) -> dict:
        """A pairs file: verification (accuracy at the threshold, ROC-AUC, TAR at FAR, EER). A people folder:
        identification of each photo's face (rank-1 for enrolled people, false accepts for others; a photo that
        is itself in the gallery is compared with the rest only) plus verification over its pairs."""
        self.require_model()
        if is_pairs_file(data):
            distances, same, skipped = self.pair_distances(read_pairs(data))
            return {"kind": "verification", **verification_report(distances, same, self.threshold, self.far),
                    "no_face": skipped, "calibration": self.calibration}
        photos = read_people(data)
        results = self.recognise([p for p, _ in photos], exclude_self=True)
        known = unknown = correct = false_accepts = 0
        no_face = []
        for (path, person), r in zip(photos, results):
            if not r["faces"]:
                no_face.append(str(path))
                continue
            face = r["faces"][0]
            pid = photo_id(path)  # a person is known when the gallery holds another photo of theirs
            if any(n == person and s != pid for n, s in zip(self.names, self.sources)):
                known += 1
                correct += face["name"] == person
            else:
                unknown += 1
                false_accepts += face["name"] != UNKNOWN
        chips, names, _, _ = self.enrolment_chips(photos)
        genuine, impostor = gallery_pairs(self.describe(chips), names)
        distances = np.concatenate([genuine, impostor])
        same = np.r_[np.ones(len(genuine), bool), np.zeros(len(impostor), bool)]
        return {"kind": "identification", "photos": len(photos), "no_face": no_face,
                "rank1_accuracy": correct / known if known else None, "known_photos": known,
                "open_set_false_accept_rate": false_accepts / unknown if unknown else None, "unknown_photos": unknown,
                "verification": verification_report(distances, same, self.threshold, self.far),
                "calibration": self.calibration}

    # ---- saving and loading ------------------------------------------------------------------------------
    def config(self) -> dict:
        import graft

        return {"graft_version": graft.__version__, "people": sorted(set(self.names)), "names": self.names,
                "sources": self.sources,
                "embedder": {"name": self.backbone_name, "weights_source": self.embedder.weights_source,
                             "weights_sha256": self.embedder.weights_sha256},
                "threshold": self.threshold, "calibration": self.calibration, "far": self.far,
                "min_face_score": self.min_face_score, "mirror": self.mirror, "detector": MTCNN_LICENCE,
                "strategy": {"requested": self.strategy, "used": self.strategy_used, "reason": self.strategy_reason,
                             "unfreeze": self.option("unfreeze") if self.strategy_used == "fine-tune" else None},
                "head": self.head is not None}

    def save(self, directory: str | Path) -> Path:
        """The gallery (descriptors; names in config.json), plus whatever adaptation trained."""
        self.require_model()
        directory = Path(directory)
        state = {"gallery.embeddings": torch.from_numpy(self.embeddings)}
        if self.head is not None:
            state["head.weight"] = self.head.weight.detach()
        if self.strategy_used == "fine-tune":
            state |= {f"embedder.{k}": v for k, v in self.embedder.module.state_dict().items()}
        bundle.save_weights(directory, state, {"task": self.name, **self.config()})
        self.save_reports(directory)
        return directory

    @classmethod
    def from_bundle(cls, directory: Path, config: dict) -> FaceRecognizer:
        from graft.faces.embedders import build_embedder

        spec = config["embedder"]
        self = cls(spec["name"], config["strategy"]["requested"], far=config["far"],
                   min_face_score=config.get("min_face_score", 0.9), mirror=config.get("mirror", True))
        state = bundle.load_weights(directory, config)
        fine_tuned = config["strategy"]["used"] == "fine-tune"
        self.embedder = build_embedder(spec["name"], None if fine_tuned else "pretrained")
        if not fine_tuned and spec.get("weights_sha256") and self.embedder.weights_sha256 != spec["weights_sha256"]:
            log(f"note: {spec['name']}'s pretrained weights here differ from those the gallery was built with")
        if fine_tuned:
            self.embedder.module.load_state_dict({k[len("embedder."):]: v for k, v in state.items()
                                                 if k.startswith("embedder.")})
            self.embedder.module.eval()
        if config.get("head"):
            self.head = identity_head(self.embedder.dim)
            self.head.weight.data.copy_(state["head.weight"])
        self.model = self.embedder
        self.embeddings = state["gallery.embeddings"].numpy()
        self.names, self.sources = list(config["names"]), list(config["sources"])
        if len(self.names) != len(self.embeddings):
            raise bundle.BundleError(f"{directory}: {len(self.names)} names for {len(self.embeddings)} descriptors")
        self.threshold, self.calibration = config["threshold"], config["calibration"]
        self.strategy_used, self.strategy_reason = config["strategy"]["used"], config["strategy"]["reason"]
        return self

    # ---- the command line ----------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, group) -> None:
        group.add_argument("--far", type=float, default=1e-3, help="false-accept rate the threshold is "
                           "calibrated for (default 1e-3)")
        group.add_argument("--pairs", help="a pairs file (LFW pairs.txt, or CSV path_a,path_b,same) whose "
                           "pairs join the calibration")
        group.add_argument("--add-to", metavar="GALLERY", help="enroll DATA's people into this saved gallery "
                           "(its other descriptors are kept as they are); saved to --out")
        group.add_argument("--min-face-score", type=float, default=0.9, help="faces MTCNN scores below this are "
                           "ignored (default 0.9)")
        group.add_argument("--margin", type=float, default=0.1, help="adaptation: the pair loss's margin around "
                           "the threshold (default 0.1)")

    @classmethod
    def options_from_args(cls, args) -> dict:
        return dict(weights=args.weights or "pretrained", far=args.far, pairs=args.pairs,
                    min_face_score=args.min_face_score, margin=args.margin, epochs=args.epochs, lr=args.lr,
                    head_lr=args.head_lr, batch_size=args.batch_size, unfreeze=args.unfreeze,
                    val_fraction=args.val_fraction, seed=args.seed, patience=args.patience, add_to=args.add_to)

    @classmethod
    def prediction_options(cls, args) -> dict:
        return {"draw": args.draw, "csv_path": args.csv, "verify": args.verify}

    def prediction_inputs(self, args) -> list:
        if args.verify:
            return []
        return super().prediction_inputs(args)

    @staticmethod
    def summarise_config(config: dict) -> dict:
        return {"labels": config.get("people"), "backbone": config.get("embedder")}

    def summary(self) -> str:
        return (f"({self.strategy_used}, {len(set(self.names))} people, {len(self.names)} photos): threshold "
                f"{self.threshold:.4f} for FAR {self.far:g}")

    @staticmethod
    def format_report(report: dict) -> str:
        if report["kind"] == "verification":
            v, lines = report, []
        else:
            v = report["verification"]
            rank1 = report["rank1_accuracy"]
            fa = report["open_set_false_accept_rate"]
            lines = [f"identification: rank-1 {'n/a' if rank1 is None else f'{rank1:.2%}'} of "
                     f"{report['known_photos']} enrolled people's photos; false accepts "
                     f"{'n/a' if fa is None else f'{fa:.2%}'} of {report['unknown_photos']} others' photos"]
        lines.append(f"verification: {v['pairs']} pairs ({v['genuine_pairs']} same, {v['impostor_pairs']} different)"
                     f", accuracy {v['accuracy']:.2%} at threshold {v['threshold']:.4f}")
        if "roc_auc" in v:
            far_key = next(k for k in v if k.startswith("tar_at_far_"))
            lines.append(f"ROC-AUC {v['roc_auc']:.4f}  EER {v['eer']:.4f}  TAR@FAR{far_key[11:]} {v[far_key]:.4f}")
        lines.append(f"threshold: {report['calibration']['method']}")
        if report.get("no_face"):
            lines.append(f"no face found in {len(report['no_face'])} photo(s): {', '.join(report['no_face'][:5])}")
        return "\n".join(lines)

    @staticmethod
    def format_predictions(results: list[dict]) -> str:
        lines = []
        for r in results:
            if "same_person" in r:
                lines.append(f"{r['a']} vs {r['b']}: {'same person' if r['same_person'] else 'different people'} "
                             f"(distance {r['distance']:.4f}, threshold {r['threshold']:.4f})")
                continue
            found = r.get("error") or f"{len(r['faces'])} face(s)"
            lines.append(f"{r['input']}: {found}")
            lines += [f"  {f['name']}\tdistance {f['distance']:.4f}\t{f['box']}" for f in r.get("faces", [])]
        return "\n".join(lines)
