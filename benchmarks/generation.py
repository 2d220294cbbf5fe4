"""Generation and chat: held-out perplexity before/after LoRA at a few training sizes (with fit time and peak
memory), and greedy tokens/s of graft's generation against plain transformers ``generate`` on the same model,
prompt and settings, with the generated tokens compared.

``python -m benchmarks.generation speed [--threads T] [--rounds R]`` or ``... fit N`` print one result as JSON.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

MODEL = "smollm2-135m-instruct"
PROMPTS = ("Tell me about the ocean.", "How do I make a cup of tea?", "What is your favourite film and why?")
NEW_TOKENS = 64
SIZES = {"quick": (50,), "full": (200, 800)}  # training conversations
EVAL_CONVERSATIONS = 200


def speed(threads: int, rounds: int, new_tokens: int = NEW_TOKENS) -> dict:
    """Greedy tokens/s: plain transformers ``generate`` and graft's ``ChatModel.generate`` (its CPU decoding:
    packed fp32 weights, int8 draft checked by the model), same prompts, same stop tokens, outputs compared."""
    import torch
    from transformers import AutoModelForCausalLM

    from benchmarks.common import set_threads
    from graft.generation.models import stop_ids
    from graft.tasks.generation import ChatModel

    set_threads(threads)
    chat = ChatModel.from_zoo(MODEL)
    plain = AutoModelForCausalLM.from_pretrained(chat.resolved.location).eval()
    tok = chat.tokenizer
    encoded = [tok(chat.encode_prompt(p), return_tensors="pt", add_special_tokens=False) for p in PROMPTS]

    def run_plain():
        with torch.inference_mode():
            return [plain.generate(**e, max_new_tokens=new_tokens, do_sample=False, pad_token_id=tok.pad_token_id,
                                   eos_token_id=stop_ids(tok))[0, e["input_ids"].shape[1]:].tolist()
                    for e in encoded]

    def run_graft():
        return [chat.generate(p, new_tokens) for p in PROMPTS]

    configs = {"transformers_generate": run_plain, "graft_generate": run_graft}
    start = time.perf_counter()
    outputs = {name: run() for name, run in configs.items()}  # warm-up (graft builds its decoding copies here)
    warmup_s = time.perf_counter() - start
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, run in configs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    tokens = sum(len(o) for o in outputs["transformers_generate"])
    rate = {name: tokens / statistics.median(values) for name, values in times.items()}
    plain_text = [tok.decode(o, skip_special_tokens=True) for o in outputs["transformers_generate"]]
    return {"model": MODEL, "prompts": len(PROMPTS), "new_tokens": new_tokens, "tokens": tokens,
            "threads": threads, "rounds": rounds, "warmup_s": round(warmup_s, 1),
            "tokens_per_s": {k: round(v, 2) for k, v in rate.items()},
            "vs_transformers": {k: round(v / rate["transformers_generate"], 3) for k, v in rate.items()},
            "identical_greedy_text": outputs["graft_generate"] == plain_text}


def fit(train: str, test: str, size: int, epochs: int, seed: int) -> dict:
    """One LoRA fit on ``size`` training conversations; perplexity on the test conversations before and after."""
    import json
    import tempfile

    from graft.tasks.generation import ChatModel

    test_slice = Path(tempfile.mkdtemp()) / "test.jsonl"
    lines = Path(test).read_text(encoding="utf-8").splitlines()[:EVAL_CONVERSATIONS]
    test_slice.write_text("\n".join(lines) + "\n", encoding="utf-8")
    start = time.perf_counter()
    model = ChatModel(MODEL, limit=size, epochs=epochs, seed=seed).fit(train)
    fit_s = time.perf_counter() - start
    report = model.evaluate(test_slice)
    return {"train_conversations": size, "epochs": epochs, "fit_s": round(fit_s, 1),
            "test_conversations": len(lines), "base_perplexity": report["base_model"]["val_perplexity"],
            "perplexity": report["fine_tuned"]["val_perplexity"], "change": report["perplexity_change"],
            "target_tokens": report["fine_tuned"]["target_tokens"], "options": json.dumps(model.config()["training"])}


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft.datasets import chitchat

    root = chitchat(workdir / "data")
    mode = "quick" if quick else "full"
    rows = [run_worker("generation.fit", {"train": str(root / "train.jsonl"), "test": str(root / "test.jsonl"),
                                          "size": n, "epochs": 2, "seed": seed}, True, threads, timeout=5400)
            for n in SIZES[mode]]
    speed_row = run_worker("generation.speed", {"threads": threads, "rounds": 2 if quick else 5}, True, threads,
                           timeout=3600)
    return {"fits": rows, "speed": speed_row}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.generation", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(speed(args.threads, args.rounds), indent=1))


if __name__ == "__main__":
    main()
