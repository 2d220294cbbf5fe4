"""The markdown table and PNG plots from a results dict; targets are judged here (PASS/MISS), never asserted."""
from __future__ import annotations

import statistics
from pathlib import Path
from statistics import median

TARGETS = {"fit": 8.0, "forward": 6.0, "keras": 2.0, "gap": 15.0, "roofline": 0.9, "int8": 1.8, "int8_loss": 0.5}
SECTION_KEYS = ("speed", "accuracy", "scaling", "detection", "faces", "generation", "deploy", "qa", "probe",
                "translation", "text", "int8", "roofline")


def _balanced_summary(runs: list[dict]) -> dict:
    table: dict = {}
    for r in runs:
        if r.get("balanced_accuracy") is not None:
            table.setdefault(str(r["per_class"]), {}).setdefault(r["method"], []).append(100 * r["balanced_accuracy"])
    return table


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _f(value, digits: int = 1, suffix: str = "") -> str:
    return "—" if value is None else f"{value:,.{digits}f}{suffix}"


def _err(cell: dict | None) -> str | None:
    if not cell:
        return "not measured"
    return cell.get("error")


def _verdict(ok: bool | None, detail: str) -> str:
    return f"n/a ({detail})" if ok is None else f"{'PASS' if ok else 'MISS'} ({detail})"


def targets(results: dict) -> list[tuple[str, str]]:
    """PASS / MISS per target, for the sections in ``results`` only."""
    rows = _speed_targets(results["speed"]) if "speed" in results else []
    rows += _gap_targets(results) if "accuracy" in results else []
    return rows + _roofline_targets(results.get("roofline") or {}) + _int8_targets(results.get("int8") or {})


def _speed_targets(speed: dict) -> list[tuple[str, str]]:
    rows = []
    fit = speed.get("fit", {})
    keras, cold = fit.get("torch_keras", {}), fit.get("graft_cold", {})
    if "fit_s" in keras and "fit_s" in cold:
        ratio = keras["fit_s"] / cold["fit_s"]
        gap = 100 * (cold["test_accuracy"] - keras["test_accuracy"])
        # "equal": within 2 points or one standard error of the Keras recipe's accuracy on this test set
        p, n = keras["test_accuracy"], max(keras.get("test_images", 1), 1)
        tolerance = max(2.0, 100 * (p * (1 - p) / n) ** 0.5)
        rows.append((f"feature-extraction fit >= {TARGETS['fit']:.0f}x faster than the seed's Keras-style recipe "
                     "(cold cache) at equal accuracy",
                     _verdict(ratio >= TARGETS["fit"] and gap >= -tolerance,
                              f"{ratio:.1f}x; test accuracy {100 * cold['test_accuracy']:.1f} % vs "
                              f"{100 * keras['test_accuracy']:.1f} %, equal within {tolerance:.1f} points "
                              f"on {n} test images")))
    else:
        rows.append(("feature-extraction fit >= 8x faster than the Keras-style recipe", "n/a (not measured)"))
    fwd = speed.get("forward", {}).get("mobilenet_v2", {})
    ratio = fwd.get("ratio")
    rows.append((f"MobileNetV2 forward >= {TARGETS['forward']:.0f}x plain PyTorch defaults",
                 _verdict(None if ratio is None else ratio >= TARGETS["forward"],
                          "not measured" if ratio is None else f"{ratio:.2f}x")))
    tf = speed.get("forward", {}).get("keras", {}).get("mobilenet_v2", {})
    graft_ips = fwd.get("graft", {}).get("images_per_s")
    if "images_per_s" in tf and graft_ips:
        r = graft_ips / tf["images_per_s"]
        rows.append((f"MobileNetV2 forward >= {TARGETS['keras']:.0f}x Keras/TensorFlow", _verdict(r >= TARGETS["keras"],
                                                                                                  f"{r:.2f}x")))
    else:
        reason = speed.get("forward", {}).get("keras", {}).get("error") or tf.get("error") or "not measured"
        rows.append(("MobileNetV2 forward >= 2x Keras/TensorFlow", f"n/a ({reason})"))
    return rows


def _gap_targets(results: dict) -> list[tuple[str, str]]:
    rows = []
    summary = results.get("accuracy", {}).get("elpv", {}).get("summary", {}).get("50", {})
    if "scratch" in summary and "fine-tune" in summary:
        gap = summary["fine-tune"]["mean"] - summary["scratch"]["mean"]
        fe = summary.get("feature-extraction", {}).get("mean")
        extra = "" if fe is None else f"; feature extraction {fe - summary['scratch']['mean']:+.1f}"
        balanced = {m: statistics.mean(v)
                    for m, v in _balanced_summary(results["accuracy"]["elpv"]["runs"]).get("50", {}).items()}
        if "scratch" in balanced and "fine-tune" in balanced:
            extra += f"; balanced accuracy: fine-tune {balanced['fine-tune'] - balanced['scratch']:+.1f}"
            if "feature-extraction" in balanced:
                extra += f", feature extraction {balanced['feature-extraction'] - balanced['scratch']:+.1f}"
        rows.append((f"pretrained >= {TARGETS['gap']:.0f} points above scratch at 50 per class (elpv, fine-tune vs "
                     "scratch)", _verdict(gap >= TARGETS["gap"], f"{gap:+.1f} points{extra}")))
    else:
        rows.append(("pretrained >= 15 points above scratch at 50 per class", "n/a (not measured)"))
    return rows


def _roofline_targets(section: dict) -> list[tuple[str, str]]:
    roof = section.get("roofline", {})
    rows = []
    for model, label in (("mobilenet_v2", "MobileNetV2"), ("resnet50", "ResNet50")):
        ips = section.get("forward", {}).get(model, {}).get("graft", {}).get("images_per_s")
        if ips and "matmul_gflops" in roof:
            share = ips * roof["gflop_per_image"][model] / roof["matmul_gflops"]
            target = f"{label} fp32 frozen forward >= {100 * TARGETS['roofline']:.0f} % of the matrix-multiply rate"
            rows.append((target, _verdict(share >= TARGETS["roofline"], f"{100 * share:.0f} %")))
    return rows


def _int8_targets(section: dict) -> list[tuple[str, str]]:
    """Per backbone, over every image set measured with graft export's recipe (NNCF): the slowest int8 speed-up and
    the largest accuracy loss (a gain counts as no loss)."""
    by_model: dict[str, list[dict]] = {}
    for r in section.get("rows", []):
        if "error" not in r and "NNCF" in r.get("quantization", ""):
            by_model.setdefault(r["model"], []).append(r)
    rows = []
    for model, runs in by_model.items():
        speedup = min(r["int8_speedup_vs_graft_fp32"] for r in runs)
        loss = max([0.0] + [-r["accuracy_change_points"] for r in runs])
        sets = ", ".join(Path(r["data"]).name for r in runs)
        rows.append((f"{model} int8 frozen trunk >= {TARGETS['int8']}x graft's fp32 with <= {TARGETS['int8_loss']} "
                     "point accuracy loss", _verdict(speedup >= TARGETS["int8"] and loss <= TARGETS["int8_loss"],
                                                     f"slowest {speedup}x, largest loss {loss:.2f} "
                                                     f"points over {sets}")))
    return rows


def _ran_bf16(runs: list[dict]) -> bool:
    """Whether graft ran these forwards in bf16 autocast (its default where the CPU has native bf16)."""
    return any(r.get("runtime", {}).get("bf16") for r in runs)


def _roofline_lines(speed: dict) -> list[str]:
    """Each fp32 forward as a fraction of the machine's measured matrix-multiply rate (its practical limit)."""
    roof = speed.get("roofline") or {}
    if "matmul_gflops" not in roof:
        return [f"- fraction of the matrix-multiply rate: {_err(roof)}"] if roof else []
    lines = []
    for model, label in (("mobilenet_v2", "MobileNetV2"), ("resnet50", "ResNet50")):
        gflop = roof["gflop_per_image"].get(model)
        for impl in ("plain", "graft"):
            cell = speed.get("forward", {}).get(model, {}).get(impl, {})
            ips = cell.get("images_per_s")
            if _ran_bf16(cell.get("runs", [])):
                impl += ", bf16 autocast"
            if gflop and ips:
                lines.append(f"- {label} ({impl}): {ips:.1f} img/s x {gflop:.2f} GFLOP = {ips * gflop:.0f} GFLOP/s, "
                             f"**{100 * ips * gflop / roof['matmul_gflops']:.0f} %** of the fp32 matrix-multiply rate "
                             f"({roof['matmul_gflops']:.0f} GFLOP/s, {roof['matmul_size']}² `torch.mm`, same threads)")
    return lines


def _pair_row(name: str, cell: dict, key: str, unit: str) -> str:
    plain, graft = cell.get("plain", {}), cell.get("graft", {})
    p = _err(plain) or f"{plain[key]:.2f} {unit}"
    g = _err(graft) or f"{graft[key]:.2f} {unit}"
    ratio = f"**{cell['ratio']:.2f}x**" if "ratio" in cell else "—"
    mem = f"{_f(plain.get('peak_rss_mb'), 0)} / {_f(graft.get('peak_rss_mb'), 0)}"
    return f"| {name} | {p} | {g} | {ratio} | {mem} |"


def markdown(results: dict) -> str:
    env = results["environment"]
    lines = [f"# graft benchmarks — {env['date']} on {env['hostname']}", "",
             f"CPU: {env['cpu_model']} ({env['logical_cpus']} logical CPUs, torch capability "
             f"{env['cpu_capability']}), intra-op threads: {env['threads']} (same for every contestant; `--threads auto` "
             f"uses only the CPUs the load average leaves idle); seed {env['seed']}.  ",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in env["versions"].items()) + ".  ",
             "Commands: " + "; ".join(f"{k}: `{results[k].get('command', env['command'])}` "
                                      f"({results[k].get('seconds', 0) / 60:.1f} min, "
                                      f"{results[k].get('threads', env['threads'])} thread(s))"
                                      for k in SECTION_KEYS if k in results) + ".  ",
             "Load average (1 min) when each section started/ended: " +
             "; ".join(f"{k} {v[0]:.1f}→{v[1]:.1f}" for k, v in env.get("load", {}).items()) +
             " — other processes share this CPU, so compare ratios measured in the same run, not absolute times."]
    if any(k in results for k in ("speed", "accuracy", "roofline")):  # the targets are theirs
        lines += ["", "## Targets", "", "| target | result |", "|---|---|"]
        lines += [f"| {t} | {r} |" for t, r in targets(results)]
    if any(results.get(k, {}).get("mode") == "quick" for k in ("speed", "accuracy")):
        lines += ["", "Quick mode: tiny slices, one seed, few repeats, 160-px images and 3 fine-tune epochs for the "
                      "accuracy runs; fixed start-up costs dominate small fits. Read the targets from a full run."]
    speed = results.get("speed")
    if speed:
        mode = speed.get("mode", "?")
        lines += ["", f"## Speed ({mode} mode)", "",
                  "Each number from its own process: plain PyTorch in a clean environment (`GRAFT_FAST=0`, no "
                  "`MALLOC_*`), graft with its fast path; same threads; medians of timed batches.", "",
                  "| measurement | plain PyTorch defaults | graft | graft / plain | peak RSS MiB (plain / graft) |",
                  "|---|---|---|---|---|"]
        for model, label in (("mobilenet_v2", "MobileNetV2"), ("resnet50", "ResNet50")):
            if model in speed.get("forward", {}):
                # graft runs bf16 autocast where the CPU has native bf16: say so rather than label it fp32
                bf16 = _ran_bf16(speed["forward"][model].get("graft", {}).get("runs", []))
                precision = "fp32 (graft: bf16 autocast)" if bf16 else "fp32"
                lines.append(_pair_row(f"{label} forward, batch 32, 224², {precision}", speed["forward"][model],
                                       "images_per_s", "img/s"))
        if "finetune_step" in speed:
            lines.append(_pair_row("MobileNetV2 fine-tune step, batch 32, all layers", speed["finetune_step"],
                                   "steps_per_s", "steps/s"))
        if "text" in speed:
            lines.append(_pair_row("MiniLM-L6 sentences, batch 64 (Rotten Tomatoes; graft in length order)",
                                   speed["text"], "sentences_per_s", "sent/s"))
        for model, label in (("mobilenet_v2", "MobileNetV2"), ("resnet50", "ResNet50")):
            graft_runs = speed.get("forward", {}).get(model, {}).get("graft", {}).get("runs", [])
            runs = [r for r in graft_runs if "traced" in r]
            if runs:
                how = ("a frozen TorchScript trace with oneDNN Graph fusion, built on the first call in "
                       f"{median([r['first_call_s'] for r in runs]):.1f} s, which the rate leaves out (the warm-up "
                       "calls compile the fused kernels)"
                       if runs[0]["traced"] else "eager PyTorch (channels_last, tuned allocator)")
                lines.append(f"- graft's {label} forward is what its feature extraction calls: {how}.")
        lines += _roofline_lines(speed)
        keras = speed.get("forward", {}).get("keras", {})
        lines += ["", "Keras 3 / TensorFlow (tensorflow-cpu, `predict_on_batch` or `tf.function`, the faster):", ""]
        if "error" in keras:
            lines.append(f"- {keras['error']}")
        for model in ("mobilenet_v2", "resnet50"):
            cell = keras.get(model)
            if cell:
                graft_ips = speed["forward"].get(model, {}).get("graft", {}).get("images_per_s")
                if "error" in cell:
                    lines.append(f"- {model}: not measured: {cell['error']}")
                else:
                    vs = f", graft / Keras **{graft_ips / cell['images_per_s']:.2f}x**" if graft_ips else ""
                    lines.append(f"- {model}: {cell['images_per_s']:.2f} img/s (TF {cell['tensorflow']}, peak RSS "
                                 f"{cell['peak_rss_mb']:.0f} MiB){vs}")
        fit = speed.get("fit", {})
        if fit:
            s = speed.get("settings", {}).get("fit", {})
            base = fit.get("torch_keras", {}).get("fit_s")
            lines += ["", f"### 10-epoch fit, MobileNetV2 frozen, elpv binary {s.get('per_class')} per class "
                          f"(train/val split 80/20 of train, test {fit.get('torch_keras', {}).get('test_images', '?')} "
                          "images)", "",
                      "| contestant | fit s | test-eval s | test accuracy | peak RSS MiB "
                      "| fit speed-up vs Keras recipe |",
                      "|---|---|---|---|---|---|"]
            names = {"torch_keras": "seed's Keras recipe in plain PyTorch (base re-run every epoch, Flatten+Dense(64))",
                     "torch_linear": "plain PyTorch loop, linear head (base re-run every epoch)",
                     "graft_cold": "graft feature-extraction, Dense(64) head, cold cache (first run)",
                     "graft_warm": "graft feature-extraction, warm cache (second run)"}
            for key, name in names.items():
                r = fit.get(key, {})
                if "error" in r or not r:
                    lines.append(f"| {name} | {_err(r)} | | | | |")
                    continue
                ratio = f"{base / r['fit_s']:.1f}x" if base else "—"
                lines.append(f"| {name} | {r['fit_s']:.1f} | {r['eval_s']:.1f} | {100 * r['test_accuracy']:.1f} % | "
                             f"{r['peak_rss_mb']:.0f} | {ratio} |")
            lines += ["", "Fit time runs from building the model to the end of the last epoch (validation every epoch "
                          "for all); graft's also scans and hashes the files, and its warm run is mostly that fixed "
                          "start-up."]
    acc = results.get("accuracy")
    if acc:
        for key, title in (("elpv", "elpv binary (functional / defective)"), ("rotten_tomatoes", "Rotten Tomatoes")):
            part = acc.get(key)
            if not part:
                continue
            st = part["settings"]
            lines += ["", f"## Accuracy vs labelled examples per class — {title} ({acc.get('mode', '?')} mode)", "",
                      f"Test accuracy %, mean ± std over seeds {st['seeds']}; " +
                      ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in st.items() if k != "seeds") + ".", "",
                      "| per class | from scratch | feature extraction | fine-tune | fine-tune − scratch |",
                      "|---|---|---|---|---|"]
            for n, methods in part["summary"].items():
                cells = [f"{methods[m]['mean']:.1f} ± {methods[m]['std']:.1f} (n={methods[m]['runs']})"
                         if m in methods else "not run" for m in ("scratch", "feature-extraction", "fine-tune")]
                gap = (f"{methods['fine-tune']['mean'] - methods['scratch']['mean']:+.1f}"
                       if "fine-tune" in methods and "scratch" in methods else "—")
                lines.append(f"| {n} | {' | '.join(cells)} | {gap} |")
            balanced = _balanced_summary(part["runs"]) if key == "elpv" else {}
            if balanced:
                lines += ["", "Balanced accuracy % (mean of per-class recall; elpv's test split is about 69 % "
                              "functional, so always answering 'functional' scores 69 % plain accuracy, 50 % here):",
                          "",
                          "| per class | from scratch | feature extraction | fine-tune | fine-tune − scratch |",
                          "|---|---|---|---|---|"]
                for n, methods in balanced.items():
                    cells = [f"{statistics.mean(methods[m]):.1f} ± {_std(methods[m]):.1f}" if m in methods
                             else "not run" for m in ("scratch", "feature-extraction", "fine-tune")]
                    gap = (f"{statistics.mean(methods['fine-tune']) - statistics.mean(methods['scratch']):+.1f}"
                           if "fine-tune" in methods and "scratch" in methods else "—")
                    lines.append(f"| {n} | {' | '.join(cells)} | {gap} |")
            if part.get("anchors"):
                lines += ["", "Published anchors (whole dataset and the authors' own split, so not like for like): " +
                          "; ".join(f"{name} {value:.2f} %" for name, value in part["anchors"].items()) + "."]
            failed = [r for r in part["runs"] if "error" in r]
            for r in failed[:5]:
                lines.append(f"\nFailed: {r['method']} n={r['per_class']} seed={r['seed']}: {r['error']}")
    scale = results.get("scaling")
    if scale:
        st = scale["settings"]
        lines += ["", f"## Scaling ({scale.get('mode', '?')} mode)", "",
                  f"{st['what']}, {st['backbone']} at {st['image_size']} px, each size its own process.", "",
                  "| images | fit s | images/s | s per 1k images | peak RSS MiB | feature matrix MiB | generate s |",
                  "|---|---|---|---|---|---|---|"]
        for r in scale["runs"]:
            if "error" in r:
                lines.append(f"| {r['n']:,} | {r['error']} | | | | | |")
                continue
            lines.append(f"| {r['n']:,} | {r['seconds']:.1f} | {r['images_per_s']:.1f} | "
                         f"{1000 * r['seconds'] / r['images']:.1f} | {r['peak_rss_mb']:.0f} | {r['features_mb']:.0f} | "
                         f"{r['generate_s']:.1f} |")
        good = [r for r in scale["runs"] if "error" not in r]
        for a, b in zip(good, good[1:]):
            marginal = 1000 * (b["seconds"] - a["seconds"]) / (b["images"] - a["images"])
            lines.append(f"\n{a['n']:,} → {b['n']:,} images ({b['n'] / a['n']:.0f}x): "
                         f"time {b['seconds'] / a['seconds']:.1f}x, "
                         f"{marginal:.1f} s per extra 1k images (a fixed start-up cost plus a constant rate is linear); "
                         f"peak RSS change {b['peak_rss_mb'] - a['peak_rss_mb']:+.0f} MiB (the feature matrix graft "
                         f"keeps in memory: {b['features_mb'] - a['features_mb']:+.0f} MiB).")
    lines += _detection_markdown(results.get("detection"))
    lines += _faces_markdown(results.get("faces"))
    lines += _generation_markdown(results.get("generation"))
    lines += _deploy_markdown(results.get("deploy"))
    lines += _qa_markdown(results.get("qa"))
    lines += _probe_markdown(results.get("probe"))
    lines += _translation_markdown(results.get("translation"))
    lines += _text_markdown(results.get("text"))
    lines += _int8_markdown(results.get("int8"))
    lines += _roofline_markdown(results.get("roofline"))
    return "\n".join(lines) + "\n"


def _roofline_markdown(section: dict | None) -> list[str]:
    """The fp32 forwards against the matrix-multiply rate, and graft's default precision beside them."""
    if not section:
        return []
    s = section.get("settings", {})
    lines = ["", "## fp32 frozen forward vs the machine's matrix-multiply rate", "",
             f"Batch {s.get('batch')} at {s.get('size')} px, each forward in its own process ({s.get('process_pairs')} "
             f"plain/graft pairs, medians); graft in {s.get('graft_precision')}. Matrix-multiply rate: the higher of "
             f"two measurements, before and after the forwards "
             f"({', '.join(_f(r, 0) for r in section.get('roofline', {}).get('matmul_gflops_runs', []))} GFLOP/s).", ""]
    lines += _roofline_lines(section)
    for model, label in (("mobilenet_v2", "MobileNetV2"), ("resnet50", "ResNet50")):
        cell = section.get("forward", {}).get(model, {}).get("graft_default_precision", {})
        if "images_per_s" in cell:
            precision = "bf16 autocast" if _ran_bf16([cell]) else "fp32"
            lines.append(f"- {label} (graft's default precision here: {precision}): {cell['images_per_s']:.1f} img/s")
    return lines


def _text_markdown(section: dict | None) -> list[str]:
    """Test accuracy per strategy and of the TF-IDF baseline; the best in bold; auto's pick marked."""
    if not section:
        return []
    s = section.get("settings", {})
    lines = ["", "## Text classification on the chapter's examples (MiniLM-L6 vs TF-IDF)", "",
             f"At most {s.get('per_class')} training texts per class (seeded draw from each train split, seed "
             f"{s.get('seed')}); the whole test split. Test accuracy (balanced accuracy). TF-IDF: word 1-2-grams + "
             "linear SVM, C by 3-fold CV, same training rows. `auto` marks the strategy `auto` picks for those "
             "labels. Targets: graft's best >= TF-IDF on every set; `auto` within 1 point of the best strategy.", "",
             "| dataset | train / test | feature extraction | fine-tune | LoRA | TF-IDF + SVM | best - TF-IDF | "
             "auto - best |", "|---|---|---|---|---|---|---|---|"]
    for row in section.get("datasets", []):
        if "error" in row:
            lines.append(f"| {row.get('dataset', '')} | not measured: {row['error']} | | | | | | |")
            continue
        fits = row["fits"]
        good = {k: v for k, v in fits.items() if "test_accuracy" in v}
        best = max(good, key=lambda k: good[k]["test_accuracy"], default=None)

        def cell(key: str) -> str:
            r = fits.get(key)
            if not r:
                return "—"
            if "error" in r:
                return f"error: {r['error'][:60]}"
            text = f"{100 * r['test_accuracy']:.1f} ({100 * r['test_balanced_accuracy']:.1f})"
            text = f"**{text}**" if key == best else text
            return text + (" auto" if key == row["auto"] else "")
        tf = row["tfidf"]
        gap = f"{100 * (good[best]['test_accuracy'] - tf['test_accuracy']):+.1f}" if best else "—"
        auto = (f"{100 * (good[row['auto']]['test_accuracy'] - good[best]['test_accuracy']):+.1f}"
                if best and row["auto"] in good else "—")
        lines.append(f"| {row['dataset']} | {row['train_rows']} / {row['test_rows']} | {cell('feature-extraction')} | "
                     f"{cell('fine-tune')} | {cell('lora')} | {100 * tf['test_accuracy']:.1f} "
                     f"({100 * tf['test_balanced_accuracy']:.1f}) | {gap} | {auto} |")
    fit_s = [f"{row['dataset']} " + ", ".join(f"{k} {v['fit_s'] / 60:.1f}" for k, v in row["fits"].items()
                                              if "fit_s" in v)
             for row in section.get("datasets", []) if "fits" in row]
    if fit_s:
        lines += ["", "Fit minutes: " + "; ".join(fit_s) + "."]
    return lines


def _translation_markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    lines = ["", "## Translation (UI translations, English -> zh / ar / ur)", "",
             "`Translator(B, src=\"en\", tgt=T, limit=N, epochs=E).fit(train.tsv)` (B: gemma-3-270m with LoRA, the "
             "default; multilingual-e5-small: an encoder-decoder warm-started from the encoder, all of it trained; "
             "defaults otherwise), "
             "then `evaluate(test.tsv)`: sacrebleu chrF / BLEU on the whole held-out split (sources of 4-40 words, "
             "never seen in training), for the fine-tuned model, the base model with the same prompt, and copying "
             "the source. Targets: chrF >= copy + 20 for every direction, en->zh chrF >= 35, under an hour each.", "",
             "| direction | model | training pairs | epochs | test pairs | chrF | BLEU | base model chrF | copy chrF | "
             "gain over copy | fit |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in section.get("fits", []):
        if "error" in row:
            lines.append(f"| not measured: {row['error']} | | | | | | | | | | |")
            continue
        tuned, base, copy = row["fine_tuned"], row.get("base_model") or {}, row["copy_source"]
        extra = f" (folded {tuned['chrf_normalised']:.1f})" if "chrf_normalised" in tuned else ""
        lines.append(f"| {row['direction']} | {row.get('backbone', 'gemma-3-270m')} {row['strategy']} | "
                     f"{row['train_pairs']} | {row['epochs']} | {row['test_pairs']} | **{tuned['chrf']:.1f}**{extra} | "
                     f"{tuned['bleu']:.1f} | {_f(base.get('chrf'))} | {copy['chrf']:.1f} | "
                     f"{row['chrf_gain_over_copy']:+.1f} | {row['fit_s'] / 60:.1f} min |")
    speed = section.get("speed") or {}
    if "error" in speed:
        lines += ["", f"Decoding speed not measured: {speed['error']}"]
    elif speed:
        lines += ["", f"Translating {speed['sentences']} test sentences with the fine-tuned en->zh model, "
                      f"{speed['threads']} thread(s), median of {speed['rounds']} interleaved rounds, the same merged "
                      "model, prompt, stop tokens and length budget for all. Target: >= 1.5x plain `generate`.", "",
                  "| decoding | sentences/s | graft's speed-up | identical outputs |", "|---|---|---|---|"]
        for name, rate in speed["sentences_per_s"].items():
            lines.append(f"| {name} | {rate:.2f} | {speed['speedup'].get(name, 1.0):.2f}x | "
                         f"{speed['identical_outputs'].get(name, speed['sentences'])} of {speed['sentences']} |")
    return lines


def _int8_markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    lines = ["", "## An int8 frozen trunk (graft export's static int8, run in onnxruntime and OpenVINO) vs graft's fp32 trunk", "",
             "Images/s at batch 32 (224 px, real images, interleaved rounds in one process) and test accuracy of a "
             "logistic-regression probe (C by 5-fold CV) on each trunk's features. Target: int8 >= 1.8x graft's "
             "fp32 trunk with <= 0.5 point change in accuracy.", "",
             "| backbone | data (train / test), int8 recipe | graft fp32 / default | onnxruntime fp32 / int8 | OpenVINO fp32 / int8 | "
             "best int8 / graft fp32 (/ default) | probe accuracy fp32 → int8 | feature cosine |",
             "|---|---|---|---|---|---|---|---|"]
    for r in section.get("rows", []):
        if "error" in r:
            lines.append(f"| not measured: {r['error'][:80]} | | | | | | | |")
            continue
        rate, acc = r["images_per_s"], r["probe_accuracy"]
        pair = lambda engine: f"{rate.get(engine + '_fp32', '—')} / {rate.get(engine + '_int8', '—')}"  # noqa: E731
        default = f" / {rate['graft_default']} ({r.get('graft_default_precision')})" if "graft_default" in rate else ""
        versus_default = (f" (/ {r['int8_speedup_vs_graft_default']}x)" if "int8_speedup_vs_graft_default" in r
                          else "")
        how = r.get("quantization", "")
        calibration = ("NNCF + bias correction" if "NNCF" in how else "onnxruntime " + next(
            (w for w in ("minmax", "entropy", "percentile") if w in how), ""))
        lines.append(f"| {r['model']} | {Path(r['data']).name} ({r['train']} / {r['test']}), {calibration} | "
                     f"{rate['graft_fp32']}"
                     f"{default} | {pair('onnxruntime')} | {pair('openvino')} | {r['int8_speedup_vs_graft_fp32']}x"
                     f"{versus_default} ({r.get('int8_engine', '')}) | {acc['graft_fp32']['accuracy']} → {acc['int8']['accuracy']} "
                     f"({r['accuracy_change_points']:+.2f}) | {r['mean_cosine_fp32_vs_int8_test_features']} |")
    return lines


def _probe_markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    lines = ["", "## Feature extraction's head vs a tuned logistic-regression probe", "",
             "Same frozen features, same training rows (graft's training split); test split of each set. Target: "
             "graft's default within 0.5 point of scikit-learn's `LogisticRegressionCV` (5-fold, same C grid).", "",
             "| dataset | backbone | graft default (SGD head) | graft `probe=True` | sklearn probe (CV) | gap |",
             "|---|---|---|---|---|---|"]
    for c in section.get("comparisons", []):
        if "error" in c:
            lines.append(f"| not measured: {c['error']} | | | | | |")
            continue
        r = c["rows"]
        cell = lambda k: f"{100 * r[k]['test_accuracy']:.2f} % (bal. {100 * r[k]['test_balanced_accuracy']:.2f})"  # noqa: E731
        lines.append(f"| {c['dataset']} ({c['train_rows']} train / {c['test_rows']} test) | {c['backbone']} | "
                     f"{cell('graft_default')} | {cell('graft_probe_head')} | {cell('sklearn_probe_cv')} | "
                     f"{c['graft_minus_probe_points']:+.2f} pts |")
    return lines


def _qa_markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    lines = ["", "## Question answering (MiniLM-L6 on BBC-QA)", "",
             "`QuestionAnswerer(\"minilm-l6\", strategy, limit=N).fit(train.json)` with its defaults; exact match and F1 "
             "(SQuAD normalisation, torchmetrics) on the 286 test questions over 37 articles never seen in training. "
             "Target: fine-tuned F1 >= 70 in under 30 minutes on the CPU.", "",
             "| strategy | training questions | windows | epochs | validation F1 | test EM | test F1 | fit |",
             "|---|---|---|---|---|---|---|---|"]
    for r in section.get("fits", []):
        if "error" in r:
            lines.append(f"| not measured: {r['error']} | | | | | | | |")
            continue
        lines.append(f"| {r['strategy']} | {r['train_questions']} | {r['train_windows']} | {r['epochs']} | "
                     f"{r['val_f1']:.1f} | {r['test_exact_match']:.1f} | **{r['test_f1']:.1f}** | "
                     f"{r['fit_s'] / 60:.1f} min |")
    speed = section.get("speed") or {}
    if "error" in speed:
        lines += ["", f"Prediction speed not measured: {speed['error']}"]
    elif speed:
        engine = f" (graft's engine: {speed['graft_engine']})" if speed.get("graft_engine") else ""
        command = f" Measured with `{speed['command']}`." if speed.get("command") else ""
        lines += ["", f"Answering the {speed['questions']} test questions with the fine-tuned model, {speed['threads']} "
                      f"thread(s), median of {speed['rounds']} interleaved rounds{engine}; identical answers: "
                      f"{speed['identical_answers']} of {speed['questions']}. Target: >= 2x the pipeline.{command}", "",
                  "| answering | questions/s | vs transformers pipeline | test F1 |", "|---|---|---|---|"]
        for name, rate in speed["questions_per_s"].items():
            ratio = rate / speed["questions_per_s"]["transformers_pipeline"]
            f1 = speed.get("f1", {}).get(name)
            lines.append(f"| {name} | {rate:.2f} | {ratio:.2f}x | {'—' if f1 is None else f'{f1:.2f}'} |")
    return lines


def _generation_markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    lines = ["", "## Generation and chat (SmolLM2-135M-Instruct, LoRA)", "",
             "Held-out perplexity on the assistant's tokens of the built-in `chitchat` test conversations, before "
             "and after a LoRA fit (`ChatModel(...).fit`, defaults, 2 epochs) on N training conversations; fit time "
             "and the fit process's peak RSS.", "",
             "| training conversations | base perplexity | fine-tuned | change | fit | peak RSS |", "|---|---|---|---|---|---|"]
    for row in section.get("fits", []):
        if "error" in row:
            lines.append(f"| ? | not measured: {row['error']} | | | | |")
            continue
        lines.append(f"| {row['train_conversations']} | {row['base_perplexity']:.2f} | {row['perplexity']:.2f} | "
                     f"{100 * row['change']:+.1f} % | {row['fit_s'] / 60:.1f} min | "
                     f"{row['peak_rss_mb'] / 1024:.2f} GiB |")
    speed = section.get("speed") or {}
    if "error" in speed:
        lines += ["", f"Generation speed not measured: {speed['error']}"]
    elif speed:
        lines += ["", f"Greedy decoding, {speed['prompts']} chat prompts x {speed['new_tokens']} new tokens, "
                      f"{speed['threads']} thread(s), median of {speed['rounds']} interleaved rounds; identical "
                      f"greedy tokens to plain `generate`: **{speed['identical_greedy_text']}**.", "",
                  "| decoding | tokens/s | vs transformers `generate` |", "|---|---|---|"]
        for name, rate in speed["tokens_per_s"].items():
            lines.append(f"| {name} | {rate:.1f} | {speed['vs_transformers'][name]:.2f}x |")
    return lines


def _deploy_markdown(section: dict | None) -> list[str]:
    if not section:
        return []
    built = section.get("build", {})
    if "error" in built:
        return ["", "## Deployment", "", f"Not measured: {built['error']}"]
    acc, changed = built["accuracy"], built["top1_changed_vs_eager_fp32"]
    lines = ["", "## Deployment: export, int8, serving (MobileNetV2 on elpv, feature extraction)", "",
             f"Trained on {built['train_images']} cells, tested on {built['test_images']}; exports checked against "
             "the bundle on 64 training cells before they were written.", "",
             "| model | test accuracy | top-1 changed vs eager fp32 | file |", "|---|---|---|---|"]
    files = {k: f"{v['file_mb']} MB" for k, v in built["exports"].items()}
    for key, label in (("eager_fp32", "eager PyTorch, fp32"), ("eager_graft_predict", "`graft predict` (bundle)"),
                       ("onnx_fp32", "ONNX fp32 (onnxruntime)"), ("onnx_int8", "ONNX int8, static (NNCF, run in OpenVINO)")):
        lines.append(f"| {label} | {100 * acc[key]:.2f} % | {changed[key]} | {files.get(key, '')} |")
    lines.append(f"\nint8 accuracy change: {built['int8_accuracy_change_points']:+.2f} points (target: within 1).")
    speed = section.get("speed") or {}
    if speed and "error" not in speed:
        lines += ["", f"Network alone, batch 1, {speed['images']} cells, {speed['threads']} thread(s), median of "
                      f"{speed['repeats']} interleaved rounds (target: int8 >= 2x eager).", "",
                  "| runtime | images/s | vs eager fp32 |", "|---|---|---|"]
        for name, rate in speed["images_per_s"].items():
            lines.append(f"| {name} | {rate:.1f} | {speed['vs_eager_fp32'][name]:.2f}x |")
    serving = [r for r in section.get("serve", []) if "error" not in r]
    if serving:
        lines += ["", "`graft serve` on loopback (one server process), concurrent clients posting the test split's cells in "
                  "turn (never the same image twice in a row; the server keeps no feature cache).", "",
                  "| model served | clients | seconds | requests/s | p50 ms | p95 ms | p99 ms | errors | mean batch |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in serving:
            lat = r["latency_ms"]
            lines.append(f"| {r['model']} | {r['clients']} | {r['seconds']} | {r['requests_per_s']} | {lat['p50']} | "
                         f"{lat['p95']} | {lat['p99']} | {r['errors']} | {r['mean_batch']} |")
    lines += [f"\nload test failed: {r['error']}" for r in section.get("serve", []) if "error" in r]
    return lines


FACES_SPEED = {"graft": "graft `FaceRecognizer.recognise` (MTCNN, alignment, face-api ResNet-34, mirror mean)",
               "graft_no_mirror": "same, one pass per face (`mirror=False`)",
               "face_recognition_cnn": "face_recognition 1.3.0, `model=\"cnn\"` finder (dlib)",
               "face_recognition_hog": "face_recognition 1.3.0, `model=\"hog\"` finder (dlib)"}


def _faces_markdown(section: dict | None) -> list[str]:
    speed = (section or {}).get("speed")
    if not speed:
        return []
    if "error" in speed:
        return ["", "## Faces", "", f"Not measured: {speed['error']}"]
    target = speed["speedup_vs_face_recognition_cnn"]["graft"]
    lines = ["", "## Faces: end-to-end faces/s", "",
             f"{speed['photos']} photos from files (the built-in `faces` set's face photos), decode + find + align + "
             f"embed, {speed['threads']} thread(s), median of {speed['rounds']} interleaved rounds. Target: graft >= 2x "
             f"face_recognition's CNN pipeline: **{'PASS' if target >= 2 else 'MISS'}** ({target:.2f}x). dlib's CNN "
             "finder is timed in the first round only (minutes per pass: face_recognition upsamples each photo once "
             "by default); dlib ran on one core in this run.", "",
             "| pipeline | faces/s | vs face_recognition CNN | faces found |", "|---|---|---|---|"]
    for key, label in FACES_SPEED.items():
        if key in speed["faces_per_s"]:
            lines.append(f"| {label} | {speed['faces_per_s'][key]:.3g} | "
                         f"{speed['speedup_vs_face_recognition_cnn'][key]:.2f}x | {speed['faces_found'][key]} |")
    return lines


DETECTION_STARTS = {"coco": "COCO-started (SSD-MobileNetV2 COCO)",
                    "imagenet": "ImageNet-started (Faster R-CNN, MobileNetV2)",
                    "scratch": "scratch (same Faster R-CNN, random init)"}
DETECTION_SPEED = {
    "graft_detect": "graft `ObjectDetector.pretrained(...).detect(paths)`",
    "graft_detect_fp32": "graft `detect(paths)` with bf16 autocast off (as `GRAFT_BF16=0`)",
    "torch_eager": "same SSD weights, plain eager PyTorch (`load_pretrained()`, `inference_mode`)",
    "opencv_dnn": "OpenCV DNN, original TensorFlow graph",
    "torchvision_ssdlite_random": "torchvision `ssdlite320_mobilenet_v3_large`, **random weights** (speed only)"}


def _detection_markdown(det: dict | None) -> list[str]:
    if not det:
        return []
    mode = det.get("mode", "?")
    lines = []
    acc = det.get("accuracy")
    if acc:
        st = acc["settings"]
        lines += ["", f"## Detection: test mAP vs training tiles — trees ({mode} mode)", "",
                  f"{st['dataset']}: nested seeded subsets (seed {st['subset_seed']}) of the {st['train_tiles']} "
                  f"training tiles, scored on the {st['test_tiles']} held-out test tiles (another region of the same "
                  f"source images); {st['recipe']}. fit() holds out a seeded 20 % of the tiles it is given for "
                  "validation (early stopping, best epoch kept); neighbouring training tiles overlap, so that "
                  "validation is optimistic, and the test tiles are never seen in training. One seed per cell, "
                  "so differences of a few points are within run-to-run noise. mAP from torchmetrics (COCO "
                  "protocol); recall is COCO's mAR@100."
                  + (" **Quick mode: one head and one fine-tune epoch on the smallest subset — a check that the "
                     "pipeline runs, not a measure of accuracy.**" if mode == "quick" else ""), "",
                  "| start | tiles (train / val) | train boxes | epochs (head + fine-tune) | fit s | test mAP@.5 "
                  "| mAP@[.5:.95] | recall | peak RSS MiB |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in acc["runs"]:
            name = DETECTION_STARTS.get(r["start"], r["start"])
            if "error" in r:
                lines.append(f"| {name} | {r['tiles']} | | | | {r['error']} | | | |")
                continue
            ep = r["epochs"]
            lines.append(f"| {name} | {r['tiles']} ({r['fit_train_images']} / {r['fit_val_images']}) | "
                         f"{r['boxes']:,} | "
                         f"{ep.get('head', 0)} + {ep.get('fine-tune', 0)} | {r['fit_s']:.0f} | "
                         f"**{r['test_map_50']:.3f}** | {r['test_map']:.3f} | {r['test_recall']:.3f} | "
                         f"{r['peak_rss_mb']:.0f} |")
        lines += ["", "Options, as passed and as resolved by graft:", ""]
        seen = {}
        for r in acc["runs"]:
            if "resolved" in r and r["start"] not in seen:
                seen[r["start"]] = r
        for start, r in seen.items():
            res = r["resolved"]
            opts = ", ".join(f"{k}={v!r}" for k, v in r["options"].items())
            lines.append(f"- {start}: `ObjectDetector({r['backbone']!r}, {opts})` → input {res['image_size']} px"
                         + (f", anchors {res['anchor_sizes']} px" if res.get("anchor_sizes") else "")
                         + ", " + ", ".join(f"{k} {v}" for k, v in res["training"].items())
                         + f", unfreeze {res['strategy']['unfreeze']}, train_bn {res['strategy']['train_bn']}, "
                           f"seed {res['seed']}; weights: {res['weights_source']}.")
    speed = det.get("speed")
    if speed:
        lines += ["", f"## Detection inference speed ({mode} mode)", ""]
        if "error" in speed:
            return lines + [f"Not measured: {speed['error']}"]
        rt = speed.get("runtime", {})
        lines += [f"Images/s, one process, {speed['threads']} thread(s), {speed['n_images']} images per call "
                  f"({', '.join(speed['images'])}); every call reads and decodes the image files; "
                  f"{speed['rounds']} interleaved rounds (each round times every contestant once), median round. "
                  f"PyTorch contestants take batches of {speed['batch']} (as graft's `detect`), OpenCV one image at "
                  f"a time. graft's runtime in that process: fast {rt.get('fast')}, bf16 autocast {rt.get('bf16')}, "
                  f"allocator tuned {rt.get('allocator_tuned')} (process-wide, so it applies to every contestant).",
                  "", "| contestant | images/s | vs OpenCV | detections ≥ 0.5 (all images) |", "|---|---|---|---|"]
        for key, ips in speed["images_per_s"].items():
            lines.append(f"| {DETECTION_SPEED.get(key, key)} | {ips:.1f} | **{speed['vs_opencv'][key]:.2f}x** | "
                         f"{speed['detections_at_0.5'].get(key, '—')} |")
        lines += ["", f"graft's `detect` folds BatchNorm into the convolutions and stores weights channels-last on "
                      f"every call ({1000 * speed['graft_fuse_per_call_s']:.0f} ms here, included in its rate)."]
    return lines


def plots(results: dict, stem: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    speed = results.get("speed", {})
    bars = [(label, cell.get("ratio")) for label, cell in (
        ("MobileNetV2 fwd", speed.get("forward", {}).get("mobilenet_v2", {})),
        ("ResNet50 fwd", speed.get("forward", {}).get("resnet50", {})),
        ("MobileNetV2 train step", speed.get("finetune_step", {})), ("MiniLM sentences", speed.get("text", {})))
        if cell.get("ratio")]
    fit = speed.get("fit", {})
    base = fit.get("torch_keras", {}).get("fit_s")
    for key, label in (("torch_linear", "fit: plain linear"), ("graft_cold", "fit: graft cold"),
                       ("graft_warm", "fit: graft warm")):
        if base and "fit_s" in fit.get(key, {}):
            bars.append((label, base / fit[key]["fit_s"]))
    if bars:
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.barh([b[0] for b in bars], [b[1] for b in bars], color="tab:blue")
        ax.axvline(1, color="grey", lw=1)
        ax.set_xscale("log")
        ax.set_xlabel("speed-up (x): vs plain PyTorch defaults; fits vs the Keras-style recipe")
        for i, (_, v) in enumerate(bars):
            ax.text(v, i, f" {v:.1f}x", va="center")
        written.append(_save(fig, stem, "speed"))
    summary = results.get("accuracy", {}).get("elpv", {}).get("summary", {})
    if summary:
        fig, ax = plt.subplots(figsize=(6, 4))
        sizes = list(summary)
        xs = {n: (int(n) if n != "all" else 1000) for n in sizes}
        for method in ("scratch", "feature-extraction", "fine-tune"):
            pts = [(xs[n], summary[n][method]) for n in sizes if method in summary[n]]
            if pts:
                ax.errorbar([p[0] for p in pts], [p[1]["mean"] for p in pts], yerr=[p[1]["std"] for p in pts],
                            marker="o", capsize=3, label=method)
        for name, value in results["accuracy"]["elpv"].get("anchors", {}).items():
            ax.axhline(value, ls="--", lw=1, color="grey")
            ax.text(xs[sizes[0]], value, " " + name.split(" (")[0], fontsize=7, va="bottom")
        ax.set_xscale("log")
        ax.set_xticks(list(xs.values()), sizes)
        ax.set_xlabel("labelled examples per class")
        ax.set_ylabel("elpv test accuracy %")
        ax.legend()
        written.append(_save(fig, stem, "accuracy"))
    runs = [r for r in results.get("scaling", {}).get("runs", []) if "error" not in r]
    if runs:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
        n = [r["n"] for r in runs]
        a1.loglog(n, [r["seconds"] for r in runs], "o-", label="measured")
        a1.loglog(n, [runs[0]["seconds"] * x / n[0] for x in n], "--", color="grey", label="linear")
        a1.set_xlabel("images")
        a1.set_ylabel("feature-extraction fit, s")
        a1.legend()
        a2.semilogx(n, [r["peak_rss_mb"] for r in runs], "o-", label="peak RSS")
        a2.semilogx(n, [r["features_mb"] for r in runs], "s--", label="feature matrix")
        a2.set_xlabel("images")
        a2.set_ylabel("MiB")
        a2.legend()
        written.append(_save(fig, stem, "scaling"))
    det = results.get("detection", {})
    det_runs = [r for r in det.get("accuracy", {}).get("runs", []) if "test_map_50" in r]
    det_speed = det.get("speed", {}).get("images_per_s")
    if det_runs or det_speed:
        fig, axes = plt.subplots(1, 2 if det_runs and det_speed else 1, figsize=(10 if det_runs and det_speed else 6,
                                                                                   3.8), squeeze=False)
        axes = list(axes[0])
        if det_runs:
            ax = axes.pop(0)
            for start, label in DETECTION_STARTS.items():
                pts = sorted((r["tiles"], r["test_map_50"]) for r in det_runs if r["start"] == start)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label)
            ax.set_xticks(sorted({r["tiles"] for r in det_runs}))
            ax.set_xlabel("training tiles (400x400), 20 % of them held out for validation")
            ax.set_ylabel("trees test mAP@.5")
            ax.set_ylim(bottom=0)
            ax.legend(fontsize=7)
        if det_speed:
            ax = axes.pop(0)
            names = list(det_speed)[::-1]  # the table's order, top down
            ax.barh(names, [det_speed[n] for n in names], color="tab:blue")
            for i, n in enumerate(names):
                ax.text(det_speed[n], i, f" {det_speed[n]:.1f}", va="center")
            ax.set_xlabel("images/s (SSD detection, same images and threads)")
        written.append(_save(fig, stem, "detection"))
    return written


def _save(fig, stem, section: str):
    """Write one section's figure beside the results files and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = stem.with_name(f"{stem.name}-{section}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
