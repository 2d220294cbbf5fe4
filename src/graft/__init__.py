"""graft: transfer learning from pretrained vision and language models, offline-first."""
from __future__ import annotations

__version__ = "0.1.0"

import logging  # noqa: E402
from pathlib import Path  # noqa: E402


class _NotMistral(logging.Filter):
    """transformers 4.57.3-4.57.x warns that any local tokenizer of over 100k tokens saved by those versions
    (multilingual-e5's, gemma's) has Mistral's broken regex and "will lead to incorrect tokenization"; graft's
    folders are no Mistral tokenizers, so the alarm is dropped rather than shown to every user."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "fix_mistral_regex" not in record.getMessage()


logging.getLogger("transformers.tokenization_utils_base").addFilter(_NotMistral())

__all__ = ["ChatModel", "FaceRecognizer", "ImageClassifier", "ObjectDetector", "QuestionAnswerer", "TextClassifier",
           "TextGenerator",
           "Translator", "load", "list_models", "__version__"]
_TASK_CLASSES = {"ImageClassifier": "image-classification", "TextClassifier": "text-classification",
                 "ObjectDetector": "detection", "FaceRecognizer": "faces", "TextGenerator": "generation",
                 "ChatModel": "chat", "QuestionAnswerer": "qa", "Translator": "translation"}


def load(directory: str | Path):
    """Restore a saved model (safetensors + JSON; nothing in a bundle can run code), or an exported file."""
    from graft.bundle import read_config
    from graft.errors import BundleError, GraftError
    from graft.tasks import get_task

    from graft.deploy.runtime import is_export

    if is_export(directory):  # an ONNX / .pt2 file from `graft export`, with its JSON sidecar
        from graft.deploy.runtime import load_export

        return load_export(directory)
    config = read_config(directory)
    try:
        task = get_task(str(config.get("task")))
    except GraftError:
        raise BundleError(f"{directory}: unknown task {config.get('task')!r} in config.json") from None
    return task.from_bundle(Path(directory), config)


def list_models(family: str | None = None) -> list[str]:
    from graft.backbones import list_backbones

    return list_backbones(family)


def __getattr__(name: str):
    if name in _TASK_CLASSES:
        from graft.tasks import get_task

        return get_task(_TASK_CLASSES[name])
    if name == "datasets":
        import graft.datasets

        return graft.datasets
    raise AttributeError(name)
