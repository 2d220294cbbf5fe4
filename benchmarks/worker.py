"""``python -m benchmarks.worker module.func '<json kwargs>'``: one measurement in a fresh process."""
import importlib
import json
import sys

from benchmarks.common import emit

if __name__ == "__main__":
    module, func = sys.argv[1].rsplit(".", 1)
    emit(getattr(importlib.import_module(f"benchmarks.{module}"), func)(**json.loads(sys.argv[2])))
