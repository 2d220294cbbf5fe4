"""Tasks: one application each (image classification, text classification), sharing one base."""
from __future__ import annotations

from graft.tasks.image_classification import ImageClassifier

TASKS = {"image-classification": ImageClassifier}
