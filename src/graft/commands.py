"""What each `graft` sub-command does (argument parsing lives in cli.py)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from graft.errors import GraftError
from graft.tasks import infer_task

# commands that set up torch themselves, only when they need it (`predict` may answer without torch)
CONFIGURE_LATER = {"predict"}


def fit_task(args) -> str:
    """The task of a `graft fit`: --task, the resumed run's, or inferred from DATA and --backbone."""
    from graft.tasks import ALIASES

    if args.task:
        return ALIASES.get(args.task, args.task)
    if args.resume:
        saved = Path(args.resume) / "checkpoint" / "args.json"
        if not saved.is_file():
            raise GraftError(f"nothing to resume in {args.resume}: {saved} is missing")
        stored = json.loads(saved.read_text())
        return stored.get("task") or infer_task(stored["data"])
    if not args.data:
        raise GraftError("graft fit needs DATA and --out DIR (or --resume DIR)")
    if not Path(args.data).exists():
        raise GraftError(f"{args.data}: no such file or folder")
    return infer_task(args.data, args.backbone)


def models(args) -> int:
    from graft.backbones.catalog import catalog
    from graft.tasks import ALIASES

    task = ALIASES.get(args.task, args.task) if args.task else None
    rows = catalog(args.family, available_only=args.available, task=task)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<34} {'family':<8} {'params':>7} {'input':>6}  {'tasks':<20} {'licence':<26} weights here")
    for r in rows:
        tasks = ", ".join(t.replace("-classification", "-cls") for t in r["tasks"])
        print(f"{r['name']:<34} {r['family']:<8} {r['params_m']:>6.1f}M {r['input']:>6}  {tasks:<20} "
              f"{r['licence'] or '?':<26} {r['available'] or 'no (needs network or --weights)'}")
    return 0


def _fit_arguments(args):
    """The arguments of the run to resume (saved at its start), or these, saved for a later resume."""
    import argparse

    if args.resume:
        saved = Path(args.resume) / "checkpoint" / "args.json"
        if not saved.is_file():
            raise GraftError(f"nothing to resume in {args.resume}: {saved} is missing")
        from graft.cli import build_parser

        stored = json.loads(saved.read_text())
        task = stored.get("task") or getattr(args, "task", None) or infer_task(stored["data"])
        defaults = vars(build_parser(task).parse_args(["fit"]))  # options newer than the saved run
        return argparse.Namespace(**{**defaults, **stored, "task": task, "resume": None})
    if not args.data or not args.out:
        raise GraftError("graft fit needs DATA and --out DIR (or --resume DIR)")
    for name in ("data", "val", "out", "weights"):  # a resume may start from another directory
        if getattr(args, name):
            setattr(args, name, str(Path(getattr(args, name)).expanduser().absolute()))
    saved = Path(args.out) / "checkpoint" / "args.json"
    from graft.training import is_main_process

    if is_main_process():  # one process writes; the others read the same arguments
        shutil.rmtree(saved.parent, ignore_errors=True)  # a fresh run never continues an old one
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({k: v for k, v in vars(args).items() if k != "resume"}))
    return args


def fit(args) -> int:
    from graft.tasks import get_task
    from graft.training import is_main_process

    args = _fit_arguments(args)
    task_cls = get_task(args.task)
    options = task_cls.options_from_args(args)
    options["checkpoint_dir"] = Path(args.out) / "checkpoint"
    model = task_cls(args.backbone, args.strategy, **options)
    model.fit(args.data, val=args.val)
    if not is_main_process():
        return 0
    out = model.save(args.out)
    shutil.rmtree(out / "checkpoint", ignore_errors=True)
    print(f"saved {out} {model.summary()}")
    return 0


def evaluate(args) -> int:
    model = _load(args.model, getattr(args, "task", None), args)
    report = model.evaluate(args.data)
    print(json.dumps(report, indent=2) if args.json else model.format_report(report))
    return 0


def _load(name: str, task: str | None = None, args=None):
    """A saved model, or with ``task`` a pretrained model that task reads as it is (options from ``args``)."""
    from graft.tasks import get_task, load_model

    return load_model(name, task, get_task(task).zoo_options(args) if task else None)


def predict(args) -> int:
    from graft.deploy import quick

    answered = quick.predict(args)  # without torch, where the model's network runs as ONNX
    if answered is not None:
        results, formatted = answered
        print(json.dumps(results, indent=2) if args.json else formatted(results))
        return 0
    from graft.runtime import configure

    configure(fast=False if args.no_fast else None)  # None: GRAFT_FAST decides
    model = _load(args.model, getattr(args, "task", None), args)
    results = model.predict(model.prediction_inputs(args), **model.prediction_options(args))
    print(json.dumps(results, indent=2) if args.json else model.format_predictions(results), flush=True)
    quick.remember(args.model, model, args)  # convert once, so the next run takes the quick path
    return 0


def chat(args) -> int:
    """An interactive conversation: each reply streams as it is generated; the conversation is kept."""
    from transformers import TextStreamer

    model = _load(args.model)
    if not getattr(model, "chat", False):
        raise GraftError(f"{args.model} is not a chat model (train one with `graft fit DATA --task chat`)")
    messages = [{"role": "system", "content": args.system}] if args.system else []
    print("graft chat: type a message; Ctrl-D to leave", flush=True)
    while True:
        try:
            text = input("you> ")
        except EOFError:
            print()
            return 0
        if not text.strip():
            continue
        messages.append({"role": "user", "content": text})
        print("bot> ", end="", flush=True)
        streamer = TextStreamer(model.tokenizer, skip_prompt=True, skip_special_tokens=True)
        reply = model.generate(messages, args.max_new_tokens, args.temperature, args.top_p, streamer=streamer)
        messages.append({"role": "assistant", "content": reply.strip()})


def export(args) -> int:
    from graft.deploy.export import export as export_model

    check = 10 ** 9 if args.check_inputs == "all" else args.check_inputs
    info = export_model(args.model, args.out, args.format, args.quantize, data=args.data, check_inputs=check)
    size = Path(args.out).stat().st_size / 1e6
    check = info["parity"]
    print(f"exported {args.out} ({size:.1f} MB, {info['exporter']}); check: max |difference| "
          f"{check['max_abs_diff']:.2e}, {check['measure']} {check['agreement']:.2%} on {check['inputs']} inputs; "
          f"described in {args.out}.json")
    return 0


def serve(args) -> int:
    from graft.deploy.server import Limits, serve as run_server

    limits = Limits(max_body=int(args.max_upload_mb * 1e6), max_pixels=args.max_pixels,
                    max_text_chars=args.max_text_chars, max_batch=args.max_batch, timeout=args.timeout)
    run_server(args.model, host=args.host, port=args.port, workers=args.workers, token=args.token, limits=limits)
    return 0


def datasets(args) -> int:
    from graft.datasets import prepare

    print(prepare(args.name, args.root, tgt=args.tgt, min_words=args.min_words, max_words=args.max_words))
    return 0


def demo(args) -> int:
    from graft.demo import run_demo

    run_demo(Path(args.root), Path(args.out), quick=args.quick)
    return 0
