"""What you move is where it lands: every edit kind is heard by the model, not only the map.

For digits and MNIST-1D (each with its default model), with a PCA and a UMAP map: chunk 0,
then one chunk per edit kind on class 3's training points (λ = 1, default epochs), each
from a copy of the same run: move ⅓ of the map's width, pull to the class farthest on the
map (α = 1), compact (β = 0.5), separate from the nearest class (γ = 1): the "far"
whole-class cells of `bench/bench_edits.py`. The chunk record's realized
share (the part of the requested change that happened relative to the unedited points,
`hill_dash.engine.realized`) must be large for the guided run and small for the twin,
which trained from the same checkpoint on the same batches without the edit.

The bounds are below the worst of seeds 0, 1 and 2, each run with 1 and with 2 torch
threads, measured by `bench/bench_edits.py` (docs/benchmarks.md §0; results
`edits_class_far.json` and `edits_class_far_1thread.json`): they do not rest on one
lucky seed or thread count. The test runs seed 0 with one torch thread.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from hill_dash.engine import loop
from hill_dash.engine.data import load_builtin
from hill_dash.engine.edits import Edit
from hill_dash.engine.realized import class_distance_change, similarity_align
from hill_dash.engine.store import RunStore

CASES = [("digits", "pca"), ("digits", "umap"), ("mnist1d", "pca"), ("mnist1d", "umap")]


@pytest.fixture(scope="module", params=CASES, ids=[f"{d}-{m}" for d, m in CASES])
def heard(request, tmp_path_factory):
    """{kind: (chunk record, guided map, twin map)} plus what the edits were made on."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield _heard(request.param, tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def _heard(param, tmp_path_factory) -> dict:
    dataset, projection = param
    data = load_builtin(dataset, seed=0)
    base = RunStore(tmp_path_factory.mktemp(f"{dataset}-{projection}"))
    run_id = loop.create_run(base, data, projection=projection, seed=0)
    loop.run_chunk(base, run_id)
    shown = len(data.y_train) + len(data.y_val)
    y, split = data.all_y()[:shown], data.split_array()[:shown]
    before = base.load_arrays(run_id, "c0")["coords"][:shown].astype(float)
    centres = np.array([before[y == c].mean(0) for c in range(data.n_classes)])
    d = np.linalg.norm(centres - centres[3], axis=1)
    d[3] = np.inf
    near = int(np.argmin(d))
    d[3] = -np.inf
    far = int(np.argmax(d))
    sel = np.flatnonzero((y == 3) & (split == "train"))
    edits = {
        "move": Edit("translate", sel.tolist(), dx=float(np.ptp(before[:, 0])) / 3, dy=0.0),
        "pull": Edit("pull", sel.tolist(), target_class=far, alpha=1.0),
        "compact": Edit("compact", sel.tolist(), beta=0.5),
        "separate": Edit("separate", sel.tolist(), other=np.flatnonzero(y == near).tolist()),
    }
    out = {"before": before, "sel": sel, "far": far, "y": y, "split": split}
    for kind, edit in edits.items():
        root = tmp_path_factory.mktemp(kind)
        shutil.rmtree(root)
        shutil.copytree(base.root, root)
        store = RunStore(root)
        loop.add_edit(store, run_id, edit)
        chunk = loop.run_chunk(store, run_id)
        maps = {
            k: store.load_arrays(run_id, chunk[k])["coords"][:shown] for k in ("guided", "twin")
        }
        out[kind] = (chunk, maps)
    return out


def shares(heard, kind: str, space: str = "map") -> tuple[float, float]:
    (r,) = heard[kind][0]["realized"]
    assert r["kind"] == {"move": "translate"}.get(kind, kind)
    # chunk 1: the counterfactual is the twin's chunk (both start at c0)
    assert r[space]["counterfactual"] == r[space]["twin"]
    return r[space]["guided"], r[space]["twin"]


# Worst over seeds 0–2 with 1 thread (seed 0 with 2 threads agrees but for which class is
# nearest on a UMAP map; hence one thread in the fixture), per bound: move map 0.54,
# latent 0.60, fresh PCA map 0.53, validation points 0.43, twin at most 0.07; pull far
# latent 0.73, distance shrink 0.60, twin latent at most 0.13; compact latent 0.52, twin
# at most 0.11; separate (the other side held, rows at 3x) latent 0.76 on digits and 0.56
# on MNIST-1D, twin at most 0.22.


def test_a_moved_class_moves_in_every_space(heard):
    for space in ("map", "latent"):
        guided, twin = shares(heard, "move", space)
        assert guided >= 0.45 and twin <= 0.2, (space, guided, twin)
    # the validation points of the class, which no edit touched, follow
    guided, twin = shares(heard, "move", "val_latent")
    assert guided >= 0.35 and twin <= 0.2, (guided, twin)


def test_a_fresh_pca_map_shows_the_move(heard, request):
    # a fresh UMAP layout aligns onto the old one too loosely for a bound (MNIST-1D seed 1:
    # 0.03 while the carried map shows 0.54 and latent space 0.76); a fresh PCA does not
    if "pca" not in request.node.callspec.id:
        pytest.skip("fresh UMAP layouts: no bound holds for every seed (docs/benchmarks.md §0)")
    (r,) = heard["move"][0]["realized"]
    assert r["fresh_map"]["guided"] >= 0.45, r["fresh_map"]
    assert r["fresh_map"]["twin"] <= 0.2, r["fresh_map"]


def test_a_pulled_class_lands_on_its_target_class(heard):
    sel, y, split, before = heard["sel"], heard["y"], heard["split"], heard["before"]
    members = np.setdiff1d(np.flatnonzero((y == heard["far"]) & (split == "train")), sel)
    rest = np.setdiff1d(np.arange(len(y)), sel)
    shrink = {
        k: class_distance_change(sel, members, before, similarity_align(c, before, rest))
        for k, c in heard["pull"][1].items()
    }
    assert shrink["guided"] >= 0.45 and shrink["guided"] >= shrink["twin"] + 0.3, shrink
    guided, twin = shares(heard, "pull", "latent")
    assert guided >= 0.6 and guided >= twin + 0.3, (guided, twin)


def test_a_compacted_class_shrinks_more_than_without_the_edit(heard):
    guided, twin = shares(heard, "compact", "latent")
    assert guided >= 0.4 and guided >= twin + 0.25, (guided, twin)
    guided, twin = shares(heard, "compact")
    assert guided > twin, (guided, twin)


def test_a_separated_class_moves_away_from_the_other(heard):
    # the other side is held (round 23): on MNIST-1D, separating class 3 from class 0 (the
    # nearest in seeds 1 and 2) read -0.13 (UMAP) and 0.33 (PCA) in the worst seed while it
    # was not, 0.56-0.85 since (docs/benchmarks.md §0)
    guided, twin = shares(heard, "separate", "latent")
    assert guided >= 0.5 and guided >= twin + 0.3, (guided, twin)
