"""Keras 3 / TensorFlow forward images/s; run by the tensorflow-cpu venv's python (see speed._keras)."""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.common import emit, median  # noqa: E402

args = json.loads(sys.argv[1])
tf.config.threading.set_intra_op_parallelism_threads(args["threads"])
build = {"mobilenet_v2": tf.keras.applications.MobileNetV2, "resnet50": tf.keras.applications.ResNet50}[args["model"]]
model = build(weights=None, input_shape=(224, 224, 3))
x = np.random.default_rng(0).standard_normal((args["batch"], 224, 224, 3), dtype=np.float32)
result = {"tensorflow": tf.__version__, "keras": tf.keras.__version__}
for name, call in {"predict_on_batch": model.predict_on_batch,
                   "tf_function": tf.function(lambda t: model(t, training=False))}.items():
    for _ in range(args["warmup"]):
        np.asarray(call(x))
    times = []
    for _ in range(args["repeats"]):
        start = time.perf_counter()
        np.asarray(call(x))
        times.append(time.perf_counter() - start)
    result[name] = args["batch"] / median(times)
result["images_per_s"] = max(result["predict_on_batch"], result["tf_function"])
emit(result)
