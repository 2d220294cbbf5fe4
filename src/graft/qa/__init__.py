"""Extractive question answering: data, token windows and span decoding, SQuAD metrics."""
