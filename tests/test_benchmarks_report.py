"""The benchmark report's newer tables: text classification against TF-IDF, the matrix-multiply fraction, the
step budget of the less-data runs."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from benchmarks import report  # noqa: E402
from benchmarks.accuracy import epochs_for  # noqa: E402


def _row(name: str, fe: float, ft: float, tfidf: float, auto: str = "fine-tune") -> dict:
    fit = lambda acc: {"test_accuracy": acc, "test_balanced_accuracy": acc - 0.01, "fit_s": 60.0}  # noqa: E731
    return {"dataset": name, "train_rows": 1000, "test_rows": 500, "auto": auto,
            "fits": {"feature-extraction": fit(fe), "fine-tune": fit(ft), "lora": {"error": "boom"}},
            "tfidf": {"test_accuracy": tfidf, "test_balanced_accuracy": tfidf}}


def test_text_table_marks_the_best_and_compares_with_tfidf_and_auto():
    lines = report._text_markdown({"datasets": [_row("sms-spam", 0.95, 0.98, 0.97, auto="feature-extraction")],
                                   "settings": {"per_class": 500, "seed": 0}})
    row = next(line for line in lines if line.startswith("| sms-spam"))
    assert "**98.0 (97.0)**" in row  # fine-tune is the best
    assert "95.0 (94.0) auto" in row  # auto's pick, not the best
    assert row.rstrip(" |").endswith("+1.0 | -3.0")  # best - TF-IDF, auto - best
    assert "error: boom" in row
    assert report._text_markdown(None) == []


def test_roofline_lines_give_the_fraction_of_the_matmul_rate():
    speed = {"roofline": {"matmul_gflops": 100.0, "matmul_size": 2048, "gflop_per_image": {"resnet50": 8.0}},
             "forward": {"resnet50": {"graft": {"images_per_s": 11.0}}}}
    (line,) = report._roofline_lines(speed)
    assert "88 GFLOP/s" in line and "**88 %**" in line
    assert report._roofline_lines({"roofline": {"error": "boom"}}) == ["- fraction of the matrix-multiply rate: boom"]


def test_roofline_section_judges_the_fp32_target_and_shows_the_default_precision():
    section = {"roofline": {"matmul_gflops": 100.0, "matmul_size": 2048, "matmul_gflops_runs": [95.0, 100.0],
                            "gflop_per_image": {"mobilenet_v2": 0.6, "resnet50": 8.0}},
               "forward": {"mobilenet_v2": {"graft": {"images_per_s": 140.0},
                                            "graft_default_precision": {"images_per_s": 250.0,
                                                                        "runtime": {"bf16": True}}},
                           "resnet50": {"graft": {"images_per_s": 11.0}}},
               "settings": {"batch": 32, "size": 224, "process_pairs": 3, "graft_precision": "fp32"}}
    rows = dict(report._roofline_targets(section))
    assert rows["MobileNetV2 fp32 frozen forward >= 90 % of the matrix-multiply rate"] == "MISS (84 %)"
    assert rows["ResNet50 fp32 frozen forward >= 90 % of the matrix-multiply rate"] == "MISS (88 %)"
    text = "\n".join(report._roofline_markdown(section))
    assert "95, 100 GFLOP/s" in text and "bf16 autocast): 250.0 img/s" in text
    assert report._roofline_markdown(None) == [] and report._roofline_targets({}) == []


def test_small_sizes_get_at_least_100_steps():
    assert epochs_for(50, 2, floor=5) == 34  # 80 training images, 3 batches of 32 an epoch
    assert epochs_for(200, 2, floor=5) == 10
    assert epochs_for(5000, 2, floor=5) == 5 and epochs_for(None, 2, floor=5) == 5


def test_int8_table_shows_the_speedup_and_the_accuracy_change():
    row = {"model": "mobilenet_v2", "data": "/x/elpv-binary", "train": 100, "test": 50,
           "quantization": "int8 static (QDQ, per-channel weights, minmax calibration on 128 real inputs)",
           "images_per_s": {"graft_fp32": 150.0, "onnxruntime_fp32": 110.0, "onnxruntime_int8": 200.0},
           "int8_engine": "onnxruntime_int8", "int8_speedup_vs_graft_fp32": 1.33,
           "probe_accuracy": {"graft_fp32": {"accuracy": 80.0}, "int8": {"accuracy": 79.0}},
           "accuracy_change_points": -1.0, "mean_cosine_fp32_vs_int8_test_features": 0.95}
    lines = report._int8_markdown({"rows": [row, {"error": "no onnxruntime"}]})
    assert any(line.startswith("| mobilenet_v2 | elpv-binary (100 / 50), onnxruntime minmax | 150.0 | 110.0 / 200.0 | — / — | 1.33x "
                               "(onnxruntime_int8) | 80.0 → 79.0 (-1.00) | 0.95 |") for line in lines)
    assert any("not measured: no onnxruntime" in line for line in lines)
    nncf = {**row, "quantization": "int8 static quantization (NNCF 3.4.0: QDQ, per-channel weights, bias correction)"}
    assert "| elpv-binary (100 / 50), NNCF + bias correction |" in "\n".join(report._int8_markdown({"rows": [nncf]}))
    assert report._int8_markdown(None) == []


def test_int8_target_takes_the_worst_set_of_graft_exports_recipe_per_backbone():
    def row(data, speedup, change, how="int8 static quantization (NNCF 3.4.0: QDQ)"):
        return {"model": "mobilenet_v2", "data": f"/x/{data}", "quantization": how,
                "int8_speedup_vs_graft_fp32": speedup, "accuracy_change_points": change}

    section = {"rows": [row("elpv-binary", 2.4, -0.46), row("lfw-faces", 1.9, +1.0),
                        row("elpv-binary", 1.0, -5.0, how="int8 static (minmax)"), {"error": "boom"}]}
    ((label, verdict),) = report._int8_targets(section)
    assert label == "mobilenet_v2 int8 frozen trunk >= 1.8x graft's fp32 with <= 0.5 point accuracy loss"
    assert verdict == "PASS (slowest 1.9x, largest loss 0.46 points over elpv-binary, lfw-faces)"
    section["rows"].append(row("elpv-4level", 1.46, -0.2))
    assert report._int8_targets(section)[0][1].startswith("MISS (slowest 1.46x")
    gains = {"rows": [row("elpv-binary", 2.0, +0.3), row("lfw-faces", 2.0, -0.0)]}
    assert "largest loss 0.00 points" in report._int8_targets(gains)[0][1]
    assert report._int8_targets({}) == []
