"""Data readers: labelled image and text datasets, robust image loading, stratified splits."""
from graft.data.common import Sample
from graft.data.images import (
    IMAGE_EXTENSIONS,
    BadFile,
    BadImage,
    ImageItem,
    list_images,
    load_image,
    read_image_dataset,
    scan_images,
)
from graft.data.split import class_names, stratified_split
from graft.data.text import LABEL_COLUMNS, TEXT_COLUMNS, TextDataset, read_text_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "LABEL_COLUMNS",
    "TEXT_COLUMNS",
    "BadFile",
    "BadImage",
    "ImageItem",
    "Sample",
    "TextDataset",
    "class_names",
    "list_images",
    "load_image",
    "read_image_dataset",
    "read_text_dataset",
    "scan_images",
    "stratified_split",
]
