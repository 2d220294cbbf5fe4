"""Deployment: export a trained bundle (ONNX or ``torch.export``), quantize it, run it, serve it over HTTP.

A task takes part through three methods of its own: ``export_inputs`` (a batch of model inputs from real
items), ``export_module`` (the network as a function of those tensors) and ``from_export`` (the task rebuilt
around an exported network). This package knows that interface, not the tasks.
"""
