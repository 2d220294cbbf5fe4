"""graft: transfer learning from pretrained vision and language models, offline-first."""
from __future__ import annotations

__version__ = "0.1.0"

from pathlib import Path  # noqa: E402

__all__ = ["ImageClassifier", "TextClassifier", "load", "list_models", "__version__"]


def load(directory: str | Path):
    """Restore a saved model (safetensors + JSON; nothing in a bundle can run code)."""
    from graft.bundle import read_config
    from graft.errors import BundleError
    from graft.tasks import TASKS

    config = read_config(directory)
    task = TASKS.get(config.get("task"))
    if task is None:
        raise BundleError(f"{directory}: unknown task {config.get('task')!r} in config.json")
    return task.from_bundle(directory, config)


def list_models(family: str | None = None) -> list[str]:
    from graft.backbones import list_backbones

    return list_backbones(family)


def __getattr__(name: str):
    if name == "ImageClassifier":
        from graft.tasks.image_classification import ImageClassifier

        return ImageClassifier
    if name == "TextClassifier":
        from graft.tasks.text_classification import TextClassifier

        return TextClassifier
    if name == "datasets":
        import graft.datasets

        return graft.datasets
    raise AttributeError(name)
