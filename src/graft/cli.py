"""The `graft` command: models, fit, evaluate, predict, datasets, demo.

Every error graft can foresee is printed as one line (`graft: error: ...`) with a non-zero exit.
"""
from __future__ import annotations

import argparse
import os
import sys

from graft.errors import GraftError

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


def _positive_int_or_all(text: str):
    return text if text == "all" else int(text)


def _positive_int_or_auto(text: str):
    return text if text == "auto" else int(text)


def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="train a classifier on a folder of class sub-folders or a CSV/JSONL")
    p.add_argument("data", nargs="?", help="training data: image class folders, path,label CSV/JSONL, or a text CSV/TSV/JSONL")
    p.add_argument("--out", help="directory for the saved model (checkpoints go to OUT/checkpoint while training)")
    p.add_argument("--resume", metavar="OUT", help="continue an interrupted `graft fit --out OUT` from its last epoch")
    p.add_argument("--backbone", help="zoo name (see `graft models`), timm name or Hugging Face id")
    p.add_argument("--strategy", default="auto", choices=["feature-extraction", "fine-tune", "lora", "auto"])
    p.add_argument("--task", choices=["image", "text"], help="default: inferred from the data")
    p.add_argument("--val", help="validation data (default: a seeded stratified split of DATA)")
    p.add_argument("--val-fraction", type=float, default=0.2)
    p.add_argument("--weights", help="pretrained weights file or folder (default: resolved offline-first)")
    p.add_argument("--epochs", type=int, help="epochs of the main phase")
    p.add_argument("--head-epochs", type=int, help="epochs of head training before fine-tuning")
    p.add_argument("--lr", type=float, help="learning rate of the fine-tuning phase")
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--head", type=int, nargs="*", default=[], metavar="UNITS",
                   help="hidden layer sizes of an MLP head (default: linear); --head 64 is Dense(64, relu)")
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--pooling", help="image: avg|avgmax|flatten; text: mean|cls|last")
    p.add_argument("--unfreeze", type=_positive_int_or_all, help="layer groups to unfreeze: N or all")
    p.add_argument("--lr-decay", type=float, help="learning-rate factor per layer group going down")
    p.add_argument("--train-bn", action="store_true", help="update BatchNorm statistics while fine-tuning")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--min-scale", type=float, default=0.5, help="image: smallest random crop, as a fraction")
    p.add_argument("--vflip", action="store_true", help="image: add vertical flips to the augmentation")
    p.add_argument("--crop-pct", type=float, help="image: centre crop at evaluation (1.0: whole image)")
    p.add_argument("--label-smoothing", type=float, help="cross-entropy label smoothing (default: 0.1 when "
                   "fine-tuning images, else 0)")
    p.add_argument("--num-workers", type=int, help="data-loading processes (default: 0 on a CPU, up to 8 with a GPU)")
    p.add_argument("--class-weights", choices=["balanced"])
    p.add_argument("--patience", type=int, default=5)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    p.add_argument("--on-bad-file", default="error", choices=["error", "skip"])
    p.add_argument("--text-col")
    p.add_argument("--label-col")
    p.add_argument("--max-length", type=int)
    p.add_argument("--pool-layers", type=_positive_int_or_auto, help="text: pool the average of the last N "
                   "hidden layers, or auto: try 1, 2, 4 and keep the best on validation (default: auto for "
                   "feature extraction, else 1)")
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--lora-alpha", type=int, default=16)
    p.add_argument("--lora-targets", nargs="*", help="module names for LoRA (default: the attention projections)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the feature cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graft", description="Transfer learning from pretrained models.")
    parser.add_argument("--no-fast", action="store_true", help="turn off the CPU fast path")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("models", help="list the backbone zoo")
    m.add_argument("--available", action="store_true", help="only backbones whose weights are on this machine")
    m.add_argument("--json", action="store_true")
    m.add_argument("--family", choices=["image", "text"])
    _add_fit(sub)
    e = sub.add_parser("evaluate", help="metrics of a saved model on labelled data")
    e.add_argument("model")
    e.add_argument("data")
    e.add_argument("--json", action="store_true")
    pr = sub.add_parser("predict", help="predict classes of images or texts")
    pr.add_argument("model")
    pr.add_argument("inputs", nargs="*", help="image files/folders, or a text file/CSV")
    pr.add_argument("--text", action="append", help="a text to classify (repeatable)")
    pr.add_argument("--top-k", type=int, default=1)
    pr.add_argument("--json", action="store_true")
    d = sub.add_parser("datasets", help="write a built-in real dataset to disk")
    d.add_argument("name", choices=["elpv", "elpv-4level", "rotten-tomatoes", "bbc-news"])
    d.add_argument("--root", default="data")
    demo = sub.add_parser("demo", help="elpv solar-cell defects: feature extraction, then fine-tuning")
    demo.add_argument("--root", default="data")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--quick", action="store_true", help="a small slice, for a smoke test")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from graft.runtime import configure

    configure(fast=not args.no_fast)
    from graft import commands

    try:
        return getattr(commands, args.command)(args) or 0
    except GraftError as exc:
        print(f"graft: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (MemoryError, OSError) as exc:
        print(f"graft: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        resume = getattr(args, "out", None) and args.command == "fit"
        hint = f"; continue with: graft fit --resume {args.out}" if resume else ""
        print(f"graft: interrupted{hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug in graft: one line, and the traceback on request
        if os.environ.get("GRAFT_DEBUG"):
            raise
        print(f"graft: internal error: {type(exc).__name__}: {exc} (set GRAFT_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
