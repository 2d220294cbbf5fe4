"""Tasks: one application each (image classification, text classification), sharing one base."""
from __future__ import annotations

from graft.tasks.image_classification import ImageClassifier
from graft.tasks.text_classification import TextClassifier

TASKS = {"image-classification": ImageClassifier, "text-classification": TextClassifier}
