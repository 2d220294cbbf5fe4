"""Examples for causal-LM training: chat turns through the tokenizer's chat template with the loss on assistant
tokens only, and plain texts packed into blocks. Label -100 marks tokens the loss ignores."""
from __future__ import annotations

IGNORE = -100


def chat_example(tokenizer, messages: list[dict], max_length: int) -> tuple[list[int], list[int]] | None:
    """(input ids, labels) of one conversation; labels are -100 except on each assistant reply and its end token.

    The assistant spans are found in characters: the template rendered up to each assistant turn (with the
    generation prompt) and through it; every token lying inside such a span is a target. None when truncation to
    ``max_length`` leaves no target.
    """
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(tokenizer.apply_chat_template(messages[:i], tokenize=False, add_generation_prompt=True))
        end = len(tokenizer.apply_chat_template(messages[:i + 1], tokenize=False))
        if not text.startswith(tokenizer.apply_chat_template(messages[:i + 1], tokenize=False)):
            raise ValueError("this chat template does not render conversations prefix by prefix")
        spans.append((start, end))
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, truncation=True,
                        max_length=max_length)
    labels = [tid if any(s <= a and b <= e for s, e in spans) and b > a else IGNORE
              for tid, (a, b) in zip(encoded["input_ids"], encoded["offset_mapping"])]
    if all(label == IGNORE for label in labels):
        return None
    return list(encoded["input_ids"]), labels


def packed_blocks(tokenizer, texts: list[str], block: int) -> list[tuple[list[int], list[int]]]:
    """Every text with the end token after it, concatenated and cut into ``block``-token pieces (the last piece
    may be shorter); every token is a target."""
    stream: list[int] = []
    for text in texts:
        stream += tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return [(stream[i:i + block], stream[i:i + block]) for i in range(0, len(stream), block)
            if len(stream[i:i + block]) > 1]


def pack_examples(examples: list[tuple[list[int], list[int]]], block: int) -> list[tuple[list[int], list[int]]]:
    """Whole examples concatenated, in order, into rows of at most ``block`` tokens (an example is never split,
    so its targets stay where they were; a row only ever starts at an example's start). Attention is not
    masked between the examples of a row, as in the usual simple packing: fewer padded tokens to compute."""
    rows: list[tuple[list[int], list[int]]] = []
    ids: list[int] = []
    labels: list[int] = []
    for x, y in examples:
        if ids and len(ids) + len(x) > block:
            rows.append((ids, labels))
            ids, labels = [], []
        ids, labels = ids + list(x), labels + list(y)
    if ids:
        rows.append((ids, labels))
    return rows


def strided_windows(tokenizer, texts: list[str], window: int, stride: int) -> list[tuple[list[int], list[int]]]:
    """Perplexity of long texts: ``window``-token windows every ``stride`` tokens, each scoring only the tokens the
    previous window did not (so every token is scored once, with up to ``window - stride`` tokens of context)."""
    out = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        scored = 0
        for start in range(0, max(len(ids) - 1, 1), stride):
            piece = ids[start:start + window]
            fresh = len(piece) - max(scored - start, 0)
            out.append((piece, [IGNORE] * (len(piece) - fresh) + piece[len(piece) - fresh:]))
            scored = start + len(piece)
            if scored >= len(ids):
                break
    return [(x, y) for x, y in out if any(label != IGNORE for label in y[1:])]


def collate(examples: list[tuple[list[int], list[int]]], pad_id: int) -> dict:
    """Right-padded batch: input_ids, attention_mask, labels (-100 on padding)."""
    import torch

    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (x, y) in enumerate(examples):
        ids[row, :len(x)] = torch.tensor(x)
        labels[row, :len(y)] = torch.tensor(y)
        mask[row, :len(x)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
