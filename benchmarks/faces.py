"""Face recognition speed: graft's pipeline (MTCNN + alignment + face-api's ResNet-34 in PyTorch) against
face_recognition's own (dlib: CNN or HOG face finder, 5-point landmarks, dlib's ResNet), on the same photos.

Both run end to end from the photo files in one process with the same thread setting: decode, find every face,
align, embed (graft also matches each face against a gallery). Each configuration first runs once on the smallest
photo (loading its models), then is timed in interleaved rounds over all photos; the median round is reported.
dlib's CNN finder takes minutes per pass on these photos (1-2 Mpixel, upsampled once as face_recognition does by
default), so it is timed in the first round only. Photos: the built-in `faces` set's seven face photos.

``python -m benchmarks.faces [--threads T] [--rounds R]`` prints the result as JSON.
"""
from __future__ import annotations

import importlib.util
import statistics
import sys
import time
import types
from pathlib import Path


def face_recognition_module():
    """face_recognition 1.3.0, whose model package still imports ``pkg_resources`` (gone from setuptools >= 81):
    a stand-in with the one function it calls."""
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = lambda package, name: str(
            Path(importlib.util.find_spec(package).origin).parent / name)
        sys.modules["pkg_resources"] = shim
    import face_recognition

    return face_recognition


def speed(root: str, threads: int, rounds: int) -> dict:
    from benchmarks.common import set_threads
    from graft.tasks.faces import FaceRecognizer

    set_threads(threads)
    fr = face_recognition_module()
    root = Path(root)
    photos = sorted(p for sub in ("people", "probe") for p in (root / sub).rglob("*")
                    if p.suffix in (".jpg", ".png") and p.stem not in ("chelsea", "coffee"))
    smallest = [min(photos, key=lambda p: p.stat().st_size)]
    configs = {}
    for mirror in (True, False):
        model = FaceRecognizer(mirror=mirror).fit(root / "people")
        configs["graft" if mirror else "graft_no_mirror"] = (
            lambda files, m=model: sum(len(r["faces"]) for r in m.recognise(files)))

    def dlib_pipeline(finder: str):
        def run(files):
            found = 0
            for path in files:
                image = fr.load_image_file(str(path))
                locations = fr.face_locations(image, model=finder)
                found += len(fr.face_encodings(image, locations))
            return found
        return run

    configs["face_recognition_cnn"] = dlib_pipeline("cnn")
    configs["face_recognition_hog"] = dlib_pipeline("hog")
    for run in configs.values():
        run(smallest)  # models loaded, first-call costs paid
    times: dict[str, list[float]] = {name: [] for name in configs}
    faces: dict[str, int] = {}
    for round_ in range(rounds):
        for name, run in configs.items():
            if round_ and name == "face_recognition_cnn":
                continue
            start = time.perf_counter()
            faces[name] = run(photos)
            times[name].append(time.perf_counter() - start)
    out = {"photos": len(photos), "threads": threads, "rounds": rounds, "faces_found": faces, "faces_per_s": {},
           "seconds_per_pass": {}}
    rates = {name: faces[name] / statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        out["seconds_per_pass"][name] = round(statistics.median(values), 3)
        out["faces_per_s"][name] = float(f"{rates[name]:.4g}")
    out["speedup_vs_face_recognition_cnn"] = {k: round(v / rates["face_recognition_cnn"], 2)
                                              for k, v in rates.items()}
    return out


def run(quick: bool, threads: int, seed: int, workdir: Path) -> dict:
    from benchmarks.common import run_worker
    from graft.datasets import faces

    root = faces(workdir / "data")
    return {"speed": run_worker("faces.speed", {"root": str(root), "threads": threads, "rounds": 3 if quick else 7},
                                True, threads, timeout=3600)}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m benchmarks.faces", description=main.__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from graft.datasets import faces

    root = faces(Path(tempfile.mkdtemp(prefix="graft-bench-faces-")) / "data")
    print(json.dumps(speed(str(root), args.threads, args.rounds), indent=1))


if __name__ == "__main__":
    main()
