"""Device choice: CUDA when present, CPU otherwise, a flag to force; the web process stays CPU."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hill_dash.engine.errors import HillError
from hill_dash.engine.training import pick_device

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("has_cuda, expected", [(True, "cuda"), (False, "cpu")])
def test_auto_picks_cuda_only_when_present(monkeypatch, has_cuda, expected):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    assert pick_device("auto").type == expected
    assert pick_device("cpu").type == "cpu"  # forced CPU, GPU or not


def test_forcing_cuda_works_with_a_gpu_and_is_a_clear_error_without(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("cuda").type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(HillError, match="device: 'cuda'"):
        pick_device("cuda")


def test_building_and_serving_the_app_never_initialises_cuda(tmp_path):
    code = f"""
import sys, torch
sys.path.insert(0, {str(ROOT)!r})
import app
from hill_dash.dashboard.config import AppConfig
from hill_dash.session import Session
Session.new("digits", model="mlp", projection="pca", epochs=1, data_dir={str(tmp_path)!r})
dash_app = app.create_app(AppConfig(data_dir=__import__("pathlib").Path({str(tmp_path)!r}),
                                    projection_warmup=False))
client = dash_app.server.test_client()
for path in ("/", "/compare", "/runs", "/data"):
    assert client.get(path).status_code == 200
print("cuda initialised:", torch.cuda.is_initialized())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "cuda initialised: False" in r.stdout
