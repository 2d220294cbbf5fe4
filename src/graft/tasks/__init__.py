"""The task registry: one application of transfer learning per module, imported only when used.

Adding a task is one module with a ``Task`` subclass plus one line here.
"""
from __future__ import annotations

import importlib

from graft.errors import GraftError

TASKS = {
    "image-classification": "graft.tasks.image_classification:ImageClassifier",
    "text-classification": "graft.tasks.text_classification:TextClassifier",
    "detection": "graft.tasks.detection:ObjectDetector",
}
ALIASES = {"image": "image-classification", "text": "text-classification", "object-detection": "detection"}


def task_names() -> list[str]:
    return list(TASKS)


def get_task(name: str):
    """The task class registered as ``name`` (or one of its aliases), imported on first use."""
    key = ALIASES.get(name, name)
    if key not in TASKS:
        raise GraftError(f"unknown task '{name}'; choose one of {', '.join(TASKS)}")
    module, cls = TASKS[key].split(":")
    return getattr(importlib.import_module(module), cls)
