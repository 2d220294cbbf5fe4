"""Translation on the built-in UI translations: chrF / BLEU per direction against the base model and a
copy-the-source baseline, and sentences/s of graft's decoding against plain transformers ``generate``.

Fits: ``Translator`` (gemma-3-270m, LoRA, defaults) on English -> zh / ar / ur pairs of 4+ words, a seeded
``limit`` of the training split where it is large (CPU time; en->zh at two sizes); scored on the whole held-out
split. Speed: the
fine-tuned en->zh model translating test sentences with graft (batches sorted by length, packed weights) against
``generate`` on the same merged model with the same prompt, stop tokens and length budget, one sentence at a time
and in batches of 16 in input order; interleaved rounds in one process, and how many outputs are identical.

``python -m benchmarks.translation speed --bundle DIR --test FILE [--threads T]`` prints the speed row as JSON.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

# (target, training pairs (None: all), epochs, backbone (None: the default))
RUNS = {"quick": [("zh", 300, 1, None)],
        "full": [("zh", 500, 1, None), ("zh", 2000, 1, None), ("ar", 2000, 1, None), ("ur", None, 1, None),
                 # the other offline route: an encoder-decoder warm-started from the multilingual encoder
                 ("zh", 2000, 2, "multilingual-e5-small")]}


def fit(train: str, test: str, tgt: str, limit: int | None, epochs: int, seed: int, out: str,
        backbone: str | None = None, strategy: str = "auto") -> dict:
    from graft import Translator

    start = time.perf_counter()
    model = Translator(backbone, strategy, src="en", tgt=tgt, limit=limit, epochs=epochs, seed=seed).fit(train)
    fit_s = time.perf_counter() - start
    model.save(out)
    start = time.perf_counter()
    report = model.evaluate(test)
    row = {"direction": f"en->{tgt}", "backbone": model.backbone_name, "strategy": model.strategy_used, "train_pairs": model.run_report["train_examples"],
           "epochs": len(model.history), "fit_s": round(fit_s, 1), "test_pairs": report["pairs"],
           "evaluate_s": round(time.perf_counter() - start, 1), "bundle": out}
    for key in ("fine_tuned", "base_model", "copy_source"):
        row[key] = {k: v for k, v in (report[key] or {}).items()
                    if k in ("chrf", "bleu", "chrf_normalised", "bleu_normalised")} or None
    row["chrf_gain_over_copy"] = round(report["fine_tuned"]["chrf"] - report["copy_source"]["chrf"], 2)
    row["signatures"] = {"chrf": report["fine_tuned"]["chrf_signature"], "bleu": report["fine_tuned"]["bleu_signature"]}
    row["samples"] = report["samples"]
    return row


def speed(bundle: str, test: str, threads: int, sentences: int = 64, rounds: int = 2) -> dict:
    import copy

    import torch

    import graft
    from graft.tasks.translation import DECODE_BATCH, new_token_budget, prompt_text
    from graft.translation.data import read_pairs

    torch.set_num_threads(threads)
    model = graft.load(bundle)
    sources = read_pairs(test, model.src, model.tgt).sources[:sentences]
    merged = copy.deepcopy(model.model)
    merged = (merged.merge_and_unload() if hasattr(merged, "merge_and_unload") else merged).eval()
    tok, stops = model.tokenizer, model.stop_tokens()

    def plain(batch: int) -> list[str]:
        out = []
        for first in range(0, len(sources), batch):
            encoded = tok([prompt_text(s, model.src, model.tgt) for s in sources[first:first + batch]],
                          return_tensors="pt", padding=True)
            width = encoded["input_ids"].shape[1]
            generated = merged.generate(**encoded, max_new_tokens=new_token_budget(width), do_sample=False,
                                        eos_token_id=stops, pad_token_id=tok.pad_token_id)
            out += [t.strip().split("\n")[0].strip()
                    for t in tok.batch_decode(generated[:, width:], skip_special_tokens=True)]
        return out

    configs = {"generate_one_at_a_time": lambda: plain(1), f"generate_batch_{DECODE_BATCH}": lambda: plain(DECODE_BATCH),
               "graft": lambda: model.translate(sources)}
    with torch.inference_mode():
        outputs = {name: run() for name, run in configs.items()}  # warm-up, and the outputs compared
        times: dict[str, list[float]] = {name: [] for name in configs}
        for _ in range(rounds):
            for name, run in configs.items():
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    rate = {name: len(sources) / statistics.median(t) for name, t in times.items()}
    return {"sentences": len(sources), "threads": threads, "rounds": rounds, "model": bundle,
            "sentences_per_s": {k: round(v, 2) for k, v in rate.items()},
            "speedup": {k: round(rate["graft"] / v, 2) for k, v in rate.items() if k != "graft"},
            "identical_outputs": {k: sum(a == b for a, b in zip(outputs["graft"], v))
                                  for k, v in outputs.items() if k != "graft"}}


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft.datasets import ui_translations

    rows = []
    for tgt, limit, epochs, backbone in RUNS["quick" if quick else "full"]:
        root = ui_translations(workdir / "data", tgt=tgt)
        rows.append(run_worker("translation.fit", {"train": str(root / "train.tsv"), "test": str(root / "test.tsv"),
                                                   "tgt": tgt, "limit": limit, "epochs": epochs, "seed": seed,
                                                   "backbone": backbone, "out": str(workdir / (
                                                       f"translation-{tgt}-{limit or 'all'}-{backbone or 'default'}"))},
                               True, threads, timeout=5400))
    zh = max((r for r in rows if "error" not in r and r["direction"] == "en->zh" and r["strategy"] == "lora"),
             default=None, key=lambda r: r["train_pairs"])  # the default model, best trained, is the one timed
    speed_row = (run_worker("translation.speed", {"bundle": zh["bundle"], "test": str(
        ui_translations(workdir / "data", tgt="zh") / "test.tsv"), "threads": threads,
        "sentences": 32 if quick else 64}, True, threads, timeout=3600) if zh else {"error": "no en->zh model to time"})
    return {"fits": rows, "speed": speed_row}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.translation", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed"])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--sentences", type=int, default=64)
    args = parser.parse_args(argv)
    print(json.dumps(speed(args.bundle, args.test, args.threads, args.sentences), indent=1))


if __name__ == "__main__":
    main()
