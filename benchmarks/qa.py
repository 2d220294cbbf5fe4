"""Question answering on the built-in BBC-QA set: EM/F1 by training size and strategy, and prediction speed.

Fits: MiniLM-L6 (``QuestionAnswerer`` defaults) on N training questions (a seeded choice; all = 1,149) with
fine-tuning, and LoRA and a frozen encoder at the full size; exact match and F1 on the 286 test questions (37
articles never seen in training). Speed: questions/s of ``QuestionAnswerer.predict``-path answering against
transformers' ``question-answering`` pipeline on the same fine-tuned model and the same window settings,
interleaved rounds in one process, and how many answers are identical.

``python -m benchmarks.qa speed --bundle DIR --test FILE [--threads T]`` prints the speed row as JSON.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

SIZES = {"quick": [(200, "fine-tune")],
         "full": [(250, "fine-tune"), (500, "fine-tune"), (None, "fine-tune"), (None, "lora"),
                  (None, "feature-extraction")]}


def fit(train: str, test: str, size: int | None, strategy: str, seed: int, out: str) -> dict:
    from graft import QuestionAnswerer

    start = time.perf_counter()
    qa = QuestionAnswerer("minilm-l6", strategy, limit=size, seed=seed).fit(train)
    fit_s = time.perf_counter() - start
    report = qa.evaluate(test)
    qa.save(out)
    return {"strategy": strategy, "train_questions": qa.run_report["train_questions"],
            "train_windows": qa.run_report["train_windows"], "epochs": len(qa.history),
            "val_f1": qa.run_report["val_metrics"]["f1"], "test_exact_match": report["exact_match"],
            "test_f1": report["f1"], "test_questions": report["n"], "fit_s": round(fit_s, 1), "bundle": out}


def speed(bundle: str, test: str, threads: int, rounds: int = 3) -> dict:
    import torch
    from transformers import pipeline

    import graft
    from graft.qa.data import read_qa
    from graft.qa.metrics import squad_scores

    torch.set_num_threads(threads)
    qa = graft.load(bundle)
    examples = read_qa(test).examples
    pipe = pipeline("question-answering", model=qa.model, tokenizer=qa.tokenizer, device=-1)
    inputs = [{"question": e.question, "context": e.context} for e in examples]

    def run_pipeline():
        return [r["answer"] for r in pipe(inputs, max_seq_len=qa.max_length, doc_stride=qa.stride,
                                          max_answer_len=qa.max_answer_tokens, top_k=1)]

    def run_graft():
        return [a[0]["answer"] if a else "" for a in qa.answers(examples)]

    configs = {"transformers_pipeline": run_pipeline, "graft": run_graft}
    answers = {name: run() for name, run in configs.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in configs}
    for _ in range(rounds):
        for name, run in configs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    rate = {name: len(examples) / statistics.median(t) for name, t in times.items()}
    same = sum(a.strip() == b.strip() for a, b in zip(answers["graft"], answers["transformers_pipeline"]))
    f1 = {name: squad_scores({e.id: a for e, a in zip(examples, found)}, examples)["f1"]
          for name, found in answers.items()}
    engine = qa.answering_model()
    return {"questions": len(examples), "threads": threads, "rounds": rounds,
            "questions_per_s": {k: round(v, 2) for k, v in rate.items()},
            "speedup_vs_pipeline": round(rate["graft"] / rate["transformers_pipeline"], 2),
            "identical_answers": same, "f1": f1,
            "graft_engine": f"{type(engine).__name__} {getattr(engine, 'precision', str(getattr(engine, 'dtype', '')))}",
            "model": bundle}


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft.datasets import bbc_qa

    root = bbc_qa(workdir / "data")
    rows = []
    for size, strategy in SIZES["quick" if quick else "full"]:
        out = str(workdir / f"qa-{strategy}-{size or 'all'}")
        rows.append(run_worker("qa.fit", {"train": str(root / "train.json"), "test": str(root / "test.json"),
                                          "size": size, "strategy": strategy, "seed": seed, "out": out},
                               True, threads, timeout=5400))
    best = next((r for r in reversed(rows) if "error" not in r and r["strategy"] == "fine-tune"), None)
    speed_row = (run_worker("qa.speed", {"bundle": best["bundle"], "test": str(root / "test.json"),
                                         "threads": threads, "rounds": 2 if quick else 3}, True, threads, timeout=3600)
                 if best else {"error": "no fine-tuned model to time"})
    return {"fits": rows, "speed": speed_row}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.qa", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["speed"])
    parser.add_argument("--bundle", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(json.dumps(speed(args.bundle, args.test, args.threads, args.rounds), indent=1))


if __name__ == "__main__":
    main()
