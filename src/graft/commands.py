"""What each `graft` sub-command does (argument parsing lives in cli.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from graft.errors import GraftError


def infer_task(data: str) -> str:
    """'image' or 'text' from the data's shape: class folders of images/.txt files, or the listing's columns."""
    path = Path(data)
    if path.is_dir():
        for sub in path.iterdir():
            if sub.is_dir() and any(f.suffix.lower() == ".txt" for f in sub.iterdir()):
                return "text"
        return "image"
    if path.suffix.lower() in (".tsv", ".txt"):
        return "text"
    if path.suffix.lower() in (".csv", ".jsonl", ".json") and path.is_file():
        with open(path, "rb") as f:
            head = f.readline().decode("utf-8", "replace").lower()
        return "image" if '"path"' in head or head.split(",")[0].strip().strip('"') == "path" else "text"
    return "image"


def _classifier_class(task: str):
    if task == "text":
        from graft.tasks.text_classification import TextClassifier

        return TextClassifier
    from graft.tasks.image_classification import ImageClassifier

    return ImageClassifier


def models(args) -> int:
    from graft.backbones.catalog import catalog

    rows = catalog(args.family, available_only=args.available)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<26} {'family':<6} {'params':>8} {'input':>7} {'features':>8}  weights here")
    for r in rows:
        print(f"{r['name']:<26} {r['family']:<6} {r['params_m']:>7.1f}M {r['input']:>7} {r['feature_dim']:>8}  "
              f"{r['available'] or 'no (needs network or --weights)'}")
    return 0


def _fit_arguments(args):
    """The arguments of the run to resume (saved at its start), or these, saved for a later resume."""
    import argparse

    if args.resume:
        saved = Path(args.resume) / "checkpoint" / "args.json"
        if not saved.is_file():
            raise GraftError(f"nothing to resume in {args.resume}: {saved} is missing")
        from graft.cli import build_parser

        defaults = vars(build_parser().parse_args(["fit"]))  # options newer than the saved run
        return argparse.Namespace(**{**defaults, **json.loads(saved.read_text()), "resume": None})
    if not args.data or not args.out:
        raise GraftError("graft fit needs DATA and --out DIR (or --resume DIR)")
    for name in ("data", "val", "out", "weights"):  # a resume may start from another directory
        if getattr(args, name):
            setattr(args, name, str(Path(getattr(args, name)).expanduser().absolute()))
    saved = Path(args.out) / "checkpoint" / "args.json"
    shutil.rmtree(saved.parent, ignore_errors=True)  # a fresh run never continues an old one
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps({k: v for k, v in vars(args).items() if k != "resume"}))
    return args


def fit(args) -> int:
    from accelerate import PartialState

    args = _fit_arguments(args)
    task = args.task or infer_task(args.data)
    options = dict(
        weights=args.weights or "pretrained", head=args.head, dropout=args.dropout, pooling=args.pooling,
        epochs=args.epochs, head_epochs=args.head_epochs, lr=args.lr, head_lr=args.head_lr,
        batch_size=args.batch_size, unfreeze=args.unfreeze, lr_decay=args.lr_decay, train_bn=args.train_bn,
        class_weights=args.class_weights, val_fraction=args.val_fraction, seed=args.seed, patience=args.patience,
        grad_accum=args.grad_accum, mixed_precision=args.mixed_precision, cache=not args.no_cache,
        label_smoothing=args.label_smoothing, num_workers=args.num_workers,
        checkpoint_dir=Path(args.out) / "checkpoint")
    if task == "image":
        options.update(image_size=args.image_size, augment=not args.no_augment, on_bad_file=args.on_bad_file,
                       min_scale=args.min_scale, vflip=args.vflip, crop_pct=args.crop_pct)
    else:
        options.update(text_col=args.text_col, label_col=args.label_col, max_length=args.max_length,
                       pool_layers=args.pool_layers,
                       lora_r=args.lora_r, lora_alpha=args.lora_alpha, lora_targets=args.lora_targets)
    clf = _classifier_class(task)(args.backbone, args.strategy, **options)
    clf.fit(args.data, val=args.val)
    if not PartialState().is_main_process:
        return 0
    out = clf.save(args.out)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    val = clf.run_report["val_metrics"]
    print(f"saved {out} ({clf.strategy_used}, {len(clf.classes)} classes): validation accuracy {val['accuracy']:.2%}, "
          f"macro-F1 {val['macro_f1']:.4f}")
    return 0


def evaluate(args) -> int:
    import graft
    from graft.metrics import format_report

    report = graft.load(args.model).evaluate(args.data)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0


def predict(args) -> int:
    import graft

    clf = graft.load(args.model)
    if args.text:
        inputs = args.text
    elif args.inputs:
        inputs = args.inputs if clf.family == "image" else args.inputs[0]
    else:
        raise GraftError("nothing to predict: give image files/folders, a text file, or --text")
    results = clf.predict(inputs, top_k=args.top_k)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for r in results:
            alternatives = "  ".join(f"{t['label']} {t['score']:.3f}" for t in r["top_k"][1:])
            print(f"{r['input'][:80]}\t{r['label']}\t{r['score']:.3f}{('  ' + alternatives) if alternatives else ''}")
    return 0


def datasets(args) -> int:
    from graft.datasets import prepare

    print(prepare(args.name, args.root))
    return 0


def demo(args) -> int:
    from graft.demo import run_demo

    run_demo(Path(args.root), Path(args.out), quick=args.quick)
    return 0
