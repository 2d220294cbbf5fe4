"""Causal language models for text generation and chat: loading (GGUF converted once), chat formatting."""
