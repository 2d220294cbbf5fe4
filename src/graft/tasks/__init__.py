"""The task registry: one application of transfer learning per module, imported only when used.

Adding a task is one module with a ``Task`` subclass plus one line here.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from graft.errors import GraftError

TASKS = {
    "image-classification": "graft.tasks.image_classification:ImageClassifier",
    "text-classification": "graft.tasks.text_classification:TextClassifier",
    "detection": "graft.tasks.detection:ObjectDetector",
    "faces": "graft.tasks.faces:FaceRecognizer",
    "generation": "graft.tasks.generation:TextGenerator",
    "chat": "graft.tasks.generation:ChatModel",
    "qa": "graft.tasks.question_answering:QuestionAnswerer",
    "translation": "graft.tasks.translation:Translator",
}
ALIASES = {"image": "image-classification", "text": "text-classification", "object-detection": "detection",
           "face-recognition": "faces", "text-generation": "generation",
           "question-answering": "qa", "translate": "translation"}


def task_names() -> list[str]:
    return list(TASKS)


def get_task(name: str):
    """The task class registered as ``name`` (or one of its aliases), imported on first use."""
    key = ALIASES.get(name, name)
    if key not in TASKS:
        raise GraftError(f"unknown task '{name}'; choose one of {', '.join(TASKS)}")
    module, cls = TASKS[key].split(":")
    return getattr(importlib.import_module(module), cls)


def load_model(name: str, task: str | None = None, options: dict | None = None):
    """A saved model directory, an exported file, or a pretrained model a task can use as it is (a COCO detector;
    with ``task``, that task's reading of a zoo/hub model, given ``options`` such as a language pair)."""
    import graft

    if not Path(name).exists() or _foreign_model_folder(Path(name)):
        tasks: tuple[str, ...] = (task,) if task else _zoo_tasks(name)
        for candidate in tasks:
            model = get_task(candidate).from_zoo(name, **(options or {}))
            if model is not None:
                return model
        if task and not Path(name).exists() and "/" not in name:
            from graft.backbones import get_cfg

            get_cfg(name)  # an unknown name: its own one-line error
        if task:
            raise GraftError(f"{name}: not a model --task {task} can use as it is (train one with `graft fit`)")
    return graft.load(name)


def _zoo_tasks(name: str) -> tuple[str, ...]:
    from graft.backbones import get_cfg

    try:
        return tuple(get_cfg(name).tasks)
    except GraftError:
        return ()


def _foreign_model_folder(path: Path) -> bool:
    """A Hugging Face model folder that is no graft bundle (a QA checkpoint to score as it is, say)."""
    import json

    config = path / "config.json" if path.is_dir() else None
    if config is None or not config.is_file():
        return False
    try:
        return "format_version" not in json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False


def infer_task(data: str, backbone: str | None = None) -> str:
    """The task for DATA: from --backbone where it suits one task only, else from the data's layout."""
    from graft.data.boxes import is_detection_dataset

    if backbone:
        from graft.backbones import get_cfg

        suited = get_cfg(backbone).tasks
        if len(suited) == 1:  # a text encoder, a whole detector: the model decides
            return suited[0]
        if "chat" in suited:  # a language model: conversations (JSONL) or plain text
            return "chat" if Path(data).suffix.lower() in (".jsonl", ".json") else "generation"
    if is_detection_dataset(data):
        return "detection"
    if _looks_like_questions(Path(data)):
        return "qa"
    return "image-classification" if _looks_like_images(Path(data)) else "text-classification"


def _looks_like_questions(path: Path) -> bool:
    """SQuAD JSON, or a CSV/JSONL whose first record has question and context fields."""
    if not path.is_file() or path.suffix.lower() not in (".json", ".jsonl", ".csv"):
        return False
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", "replace").lower()
    if path.suffix.lower() == ".json":
        return '"paragraphs"' in head or '"qas"' in head
    first = head.splitlines()[0] if head else ""
    return "question" in first and "context" in first


def _looks_like_images(path: Path) -> bool:
    """Class folders holding images, or a listing whose columns name image paths."""
    from graft.data.images import IMAGE_EXTENSIONS

    if path.is_dir():
        files = [f for sub in path.iterdir() if sub.is_dir() for f in sub.iterdir() if f.is_file()]
        images = sum(f.suffix.lower() in IMAGE_EXTENSIONS for f in files)
        texts = sum(f.suffix.lower() == ".txt" for f in files)
        return images >= texts  # a stray .txt (a licence, notes) does not make image folders text
    if path.suffix.lower() in (".tsv", ".txt"):
        return False
    if path.suffix.lower() in (".csv", ".jsonl", ".json") and path.is_file():
        with open(path, "rb") as f:
            head = f.read(4096).decode("utf-8", "replace").lower()
        first = head.splitlines()[0] if head else ""
        columns = [c.strip().strip('"') for c in first.split(",")]
        return '"path"' in head or '"image"' in head or "path" in columns or "image" in columns
    return True
