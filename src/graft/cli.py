"""The `graft` command: models, fit, evaluate, predict, chat, export, serve, datasets, demo.

`graft fit` has the options every task shares, plus the chosen task's own group (``Task.add_arguments``).

Every error graft can foresee is printed as one line (`graft: error: ...`) with a non-zero exit.
"""
from __future__ import annotations

import argparse
import os
import sys

from graft.errors import GraftError

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130


def _int_or(word: str, minimum: int):
    """An argparse type: an integer >= ``minimum``, or ``word``."""
    def parse(text: str):
        if text == word:
            return text
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected a number >= {minimum} or '{word}', got {text}")
        return value

    parse.__name__ = f"int_or_{word}"  # what argparse names in "invalid ... value"
    return parse


def _number(kind, low: float, high: float | None = None, low_open: bool = False, name: str = ""):
    """An argparse type for a number in [low, high] (``low_open``: above ``low``), e.g. "--lr 0" refused with
    a line naming the option and the range, never an error from deep inside a run."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'a whole number' if kind is int else 'a number'}, "
                                             f"got {text!r}") from None
        too_low = value <= low if low_open else value < low
        if too_low or (high is not None and value > high) or value != value:  # value != value: NaN
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            raise argparse.ArgumentTypeError(f"expected a number {bound}{f' and <= {high:g}' if high else ''}, "
                                             f"got {text}")
        return value

    parse.__name__ = name or kind.__name__
    return parse


at_least_one = _number(int, 1, name="int")
non_negative_int = _number(int, 0, name="int")
positive_float = _number(float, 0, low_open=True, name="float")
fraction = _number(float, 0, 1, low_open=True, name="float")
positive_int_or_all = _int_or("all", 0)
positive_int_or_auto = _int_or("auto", 1)


def _add_fit(sub, task: str | None, add_help: bool = True) -> None:
    from graft.tasks import ALIASES, TASKS, get_task

    # the first of two parses must not expand abbreviations: `--head` is a task option, not `--head-lr`
    p = sub.add_parser("fit", add_help=add_help, allow_abbrev=add_help,
                       help="train a model for a task: classification, detection, ...",
                       epilog="Options of one task: graft fit --task NAME --help (tasks: "
                              f"{', '.join(TASKS)}). Without --task the task is inferred from DATA and --backbone.")
    p.add_argument("data", nargs="?", help="training data (image class folders, CSV/JSONL, COCO/VOC/YOLO boxes...)")
    p.add_argument("--out", help="directory for the saved model (checkpoints go to OUT/checkpoint while training)")
    p.add_argument("--resume", metavar="OUT", help="continue an interrupted `graft fit --out OUT` from its last epoch")
    p.add_argument("--task", choices=[*TASKS, *ALIASES], help="default: inferred from the data and --backbone")
    p.add_argument("--backbone", help="zoo name (see `graft models`), timm name or Hugging Face id")
    choices = get_task(task).strategy_choices if task else None  # known once the task is
    p.add_argument("--strategy", default="auto", choices=choices,
                   help="feature-extraction (frozen backbone, new modules train), fine-tune, lora, or auto "
                        "(chosen from the data, with the reason printed); each task offers its own")
    p.add_argument("--val", help="validation data (default: a seeded split of DATA)")
    p.add_argument("--val-fraction", type=fraction, default=0.2, help="share of DATA kept for validation (default 0.2)")
    p.add_argument("--weights", help="pretrained weights file or folder (default: resolved offline-first)")
    p.add_argument("--epochs", type=at_least_one, help="epochs of the main phase")
    p.add_argument("--head-epochs", type=non_negative_int, help="epochs of training the new modules before fine-tuning")
    p.add_argument("--lr", type=positive_float, help="learning rate of the fine-tuning phase")
    p.add_argument("--head-lr", type=positive_float, help="learning rate of the new modules' phase")
    p.add_argument("--batch-size", type=at_least_one, help="examples per step")
    p.add_argument("--image-size", type=_number(int, 32, name="int"), help="images: input size in pixels (default: the weights' own)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and data order")
    p.add_argument("--unfreeze", type=positive_int_or_all, help="layer groups to unfreeze when fine-tuning: N or all")
    p.add_argument("--lr-decay", type=fraction, help="learning-rate factor per layer group going down")
    p.add_argument("--train-bn", action="store_true", help="update BatchNorm statistics while fine-tuning")
    p.add_argument("--no-augment", action="store_true", help="no random augmentation while fine-tuning")
    p.add_argument("--patience", type=non_negative_int, default=5, help="epochs without a better validation score before "
                   "stopping; 0 turns early stopping off (default 5)")
    p.add_argument("--grad-accum", type=at_least_one, default=1, help="batches per optimizer step")
    p.add_argument("--mixed-precision", default="no", choices=["no", "bf16", "fp16"])
    p.add_argument("--on-bad-file", default="error", choices=["error", "skip"],
                   help="error: list every unusable file or box and stop; skip: train without them (recorded "
                        "in metrics.json)")
    p.add_argument("--num-workers", type=non_negative_int, help="data-loading processes (default: 0 on a CPU, up to 8 with a GPU)")
    if task:
        get_task(task).add_arguments(p.add_argument_group(f"{task} options"))


def _add_pretrained_options(parser) -> None:
    """evaluate / predict a pretrained model as it is, not fine-tuned (the baseline that fitting must beat)."""
    from graft.tasks import task_names

    parser.add_argument("--task", choices=task_names(), help="use a zoo or hub model as it is for this task (e.g. "
                        "`--task translation --tgt zh`), not a saved one")
    parser.add_argument("--src", default="en", help="--task translation: source language (default en)")
    parser.add_argument("--tgt", help="--task translation: target language")


def build_parser(task: str | None = None, fit_help: bool = True) -> argparse.ArgumentParser:
    """The whole command line; `fit` carries ``task``'s own options when a task is known."""
    from graft.datasets import DATASETS

    parser = argparse.ArgumentParser(prog="graft", description="Transfer learning from pretrained models.")
    parser.add_argument("--no-fast", action="store_true", help="turn off the CPU fast path")
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("models", help="list the backbones and pretrained detectors, the tasks they suit, licences")
    m.add_argument("--available", action="store_true", help="only models whose weights are on this machine")
    m.add_argument("--json", action="store_true")
    m.add_argument("--family", choices=["image", "text", "detector", "face", "lm"])
    m.add_argument("--task", help="only models that suit this task")
    _add_fit(sub, task, add_help=fit_help)
    e = sub.add_parser("evaluate", help="metrics of a saved model on labelled data")
    e.add_argument("model", help="a saved model directory, an exported .onnx/.pt2 file, or with --task a zoo or hub "
                   "model as it is")
    e.add_argument("data", help="labelled data in the layout the model was trained on")
    e.add_argument("--json", action="store_true", help="the full report as JSON")
    _add_pretrained_options(e)
    pr = sub.add_parser("predict", help="predict with a saved model: classes, or boxes")
    pr.add_argument("model", help="a saved model directory (or a zoo model usable as it is)")
    pr.add_argument("inputs", nargs="*", help="image files/folders, or text files (CSV/TSV/JSONL/.txt)")
    pr.add_argument("--text", action="append", help="a text to classify (repeatable)")
    pr.add_argument("--file", action="append", help="translation: a text file, one sentence per line (repeatable; "
                    "a plain file given as an input is read the same way)")
    pr.add_argument("--top-k", type=int, default=1, help="classification: the k best classes per input")
    pr.add_argument("--min-score", type=float, help="detection: drop objects scored below this (default: saved)")
    pr.add_argument("--draw", metavar="OUT", help="detection, faces: write the images with boxes and labels drawn "
                    "to OUT")
    pr.add_argument("--csv", metavar="FILE", help="faces: an attendance list (file, name, distance, time taken)")
    pr.add_argument("--verify", nargs=2, metavar=("A", "B"), help="faces: are the faces of photos A and B the "
                    "same person?")
    pr.add_argument("--prompt", action="append", help="generation, chat: a prompt (repeatable)")
    pr.add_argument("--question", action="append", help="qa: a question (repeatable)")
    pr.add_argument("--context", help="qa: the text to answer from, a .txt file, or a folder of .txt documents")
    pr.add_argument("--max-new-tokens", type=int, default=128, help="generation, chat: tokens to generate")
    pr.add_argument("--beams", type=at_least_one, help="translation: beam-search width (default: the saved one, 1)")
    pr.add_argument("--temperature", type=float, default=0.0, help="generation, chat: 0 = greedy (default)")
    pr.add_argument("--top-p", type=float, default=1.0, help="generation, chat: nucleus sampling mass")
    pr.add_argument("--seed", type=int, help="generation, chat: seed for sampling")
    pr.add_argument("--json", action="store_true")
    _add_pretrained_options(pr)
    c = sub.add_parser("chat", help="talk with a chat model in the terminal (streams tokens; Ctrl-D leaves)")
    c.add_argument("model", help="a saved chat model directory, or a zoo chat model such as smollm2-135m-instruct")
    c.add_argument("--max-new-tokens", type=int, default=256)
    c.add_argument("--temperature", type=float, default=0.0)
    c.add_argument("--top-p", type=float, default=1.0)
    c.add_argument("--system", help="a system message to start the conversation with")
    x = sub.add_parser("export", help="export a saved model to ONNX (optionally int8) or .pt2, checked against it")
    x.add_argument("model", help="a saved model directory")
    x.add_argument("--format", default="onnx", choices=["onnx", "pt2"])
    x.add_argument("--quantize", choices=["int8"], help="onnxruntime int8 quantization (static for image models, "
                   "calibrated on --data; dynamic for text models)")
    x.add_argument("--out", required=True, help="the exported file (.onnx or .pt2); FILE.json describes it")
    x.add_argument("--data", help="real inputs to check (and calibrate) the export on (default: the training data "
                   "recorded in the model)")
    x.add_argument("--check-inputs", type=_int_or("all", 1), default=64, help="inputs the check runs (default 64)")
    s = sub.add_parser("serve", help="an HTTP service (and a web page) for a saved model or an export")
    s.add_argument("model", help="a saved model directory, an exported .onnx/.pt2 file, or a zoo model usable as "
                   "it is (a COCO detector)")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=1, help="server processes (each loads the model)")
    s.add_argument("--token", help="require 'Authorization: Bearer TOKEN' (default: $GRAFT_TOKEN; needed for a "
                   "non-loopback --host)")
    s.add_argument("--max-upload-mb", type=float, default=10.0, help="largest request body (default 10 MB)")
    s.add_argument("--max-pixels", type=int, default=40_000_000, help="largest image, in pixels (default 40M)")
    s.add_argument("--max-text-chars", type=int, default=20_000, help="longest text (default 20,000 characters)")
    s.add_argument("--max-batch", type=int, default=32, help="most inputs in one request (default 32)")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds a prediction may take (default 30)")
    d = sub.add_parser("datasets", help="write a built-in real dataset to disk")
    d.add_argument("name", choices=list(DATASETS), help="which dataset")
    d.add_argument("--root", default="data", help="parent directory (default: data)")
    d.add_argument("--tgt", help="ui-translations: the target language, zh, ar or ur (default zh)")
    d.add_argument("--min-words", type=at_least_one, help="ui-translations: shortest English source kept "
                   "(default 4)")
    d.add_argument("--max-words", type=at_least_one, help="ui-translations: longest English source kept (default 40)")
    demo = sub.add_parser("demo", help="elpv solar-cell defects: feature extraction, then fine-tuning")
    demo.add_argument("--root", default="data")
    demo.add_argument("--out", default="runs/demo")
    demo.add_argument("--quick", action="store_true", help="a small slice, for a smoke test")
    return parser


def parse(argv: list[str] | None) -> argparse.Namespace:
    """Parse in two steps for `fit`: find the task (given, resumed or inferred), then add its options."""
    argv = list(sys.argv[1:] if argv is None else argv)
    first, _ = build_parser(fit_help=False).parse_known_args(argv)
    if first.command != "fit":
        return build_parser().parse_args(argv)
    from graft.commands import fit_task

    try:
        task = fit_task(first)
    except GraftError as exc:
        if "-h" in argv or "--help" in argv:
            return build_parser().parse_args(argv)
        print(f"graft: error: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_ERROR) from None
    args = build_parser(task).parse_args(argv)
    args.task = task
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    from graft import commands

    if args.command not in commands.CONFIGURE_LATER:
        from graft.runtime import configure

        configure(fast=False if args.no_fast else None)  # None: GRAFT_FAST decides

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
