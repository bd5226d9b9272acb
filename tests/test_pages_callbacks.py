"""Compare, Runs and Data pages: the functions behind their callbacks, on a real small run.

The app is built once (its pages import as `pages.*`); callback functions are
called directly (Dash's decorator returns them unchanged), and the initial load
goes through Dash's HTTP endpoint, so no browser is needed.
"""

from __future__ import annotations

import base64
import io
import json
import sys
import zipfile

import dash
import numpy as np
import pytest
import torch

from hill_dash.dashboard import uploads
from hill_dash.dashboard.views import current_run_id
from hill_dash.engine import loop
from hill_dash.engine.errors import DataError
from hill_dash.engine.export import lineage_text, run_row
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from hill_dash.engine.training import ChunkConfig


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("pages-store")


@pytest.fixture(scope="module")
def app(root):
    """The real app on an empty store (pages imported, callbacks registered)."""
    import app as app_module
    from hill_dash.dashboard.config import AppConfig

    mp = pytest.MonkeyPatch()
    mp.setenv("HILL_DASH_DATA_DIR", str(root))
    dash_app = app_module.create_app(AppConfig(data_dir=root, projection_warmup=False))
    yield dash_app
    mp.undo()


@pytest.fixture(scope="module")
def pages(app):
    return {name: sys.modules[f"pages.{name}"] for name in ("compare", "runs", "data")}


def initial_responses(app, pages) -> dict:
    """Answer each page's initial callbacks as a fresh browser tab would ask for them."""
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    out = {}
    for page in pages.values():
        initial = _initial_values(page.layout)
        for dep in deps:
            outputs = _output_ids(dep["output"])
            if dep.get("clientside_function") or dep.get("prevent_initial_call"):
                continue
            if not outputs or not all(o in initial for o in outputs):
                continue
            body = {
                "output": dep["output"],
                "outputs": [{"id": i, "property": p} for i, p in _output_pairs(dep["output"])],
                "inputs": [_value(x, initial) for x in dep["inputs"]],
                "state": [_value(x, initial) for x in dep["state"]],
                "changedPropIds": [],
            }
            out[dep["output"]] = client.post("/_dash-update-component", json=body)
    return out


@pytest.fixture(scope="module")
def empty_store_responses(app, pages, tmp_path_factory):
    """On a store of its own, so no other test's run or upload can be in it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HILL_DASH_DATA_DIR", str(tmp_path_factory.mktemp("empty-store")))
        return initial_responses(app, pages)


def _initial_values(layout) -> dict:
    found = {"run-id": None, "run-version": 0}
    for c in [layout, *layout._traverse()]:
        if isinstance(getattr(c, "id", None), str):
            found[c.id] = c
    return found


def _output_pairs(spec: str) -> list[tuple[str, str]]:
    parts = spec.strip(".").split("...") if spec.startswith("..") else [spec]
    return [tuple(p.rsplit(".", 1)) for p in parts]


def _output_ids(spec: str) -> list[str]:
    return [i for i, _ in _output_pairs(spec) if not i.startswith("{")]


def _value(dep: dict, initial: dict) -> dict:
    comp = initial.get(dep["id"])
    value = getattr(comp, dep["property"], None) if comp is not None else None
    if dep["id"] == "run-version":
        value = 0
    return {"id": dep["id"], "property": dep["property"], "value": value}


@pytest.fixture(scope="module")
def run(root, digits, empty_store_responses):
    """digits + MLP on a PCA map, chunk 0 then a pull edit and chunk 1 (one epoch each)."""
    store = RunStore(root)
    run_id = loop.create_run(
        store, digits, arch="mlp", projection="pca", chunk=ChunkConfig(epochs=1, lam=1.0), seed=0
    )
    loop.run_chunk(store, run_id)
    threes = np.flatnonzero(digits.y_train == 3)[:40].tolist()
    loop.add_edit(store, run_id, Edit("pull", threes, target_class=8))
    loop.run_chunk(store, run_id)
    return store, run_id


# -- every page loads on an empty store ------------------------------------------------


def test_initial_callbacks_answer_without_error_on_an_empty_store(empty_store_responses):
    names = " ".join(empty_store_responses)
    for needed in (
        "compare-guided-graph",
        "compare-chunk-slider",
        "runs-table-container",
        "data-summary",
    ):
        assert needed in names
    for output, resp in empty_store_responses.items():
        assert resp.status_code == 200, (output, resp.get_data(as_text=True)[:300])
    compare = next(r for k, r in empty_store_responses.items() if "compare-guided-graph" in k)
    fig = compare.get_json()["response"]["compare-guided-graph"]["figure"]
    assert "No run yet" in fig["layout"]["annotations"][0]["text"]


def test_initial_callbacks_answer_without_error_with_a_run(run, app, pages, tmp_path, monkeypatch):
    store, run_id = run
    # a store holding only this run: a fresh tab opens the newest run, and other tests of
    # this file may have added newer ones to the shared store
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / run_id).symlink_to(store.run_dir(run_id))
    monkeypatch.setenv("HILL_DASH_DATA_DIR", str(tmp_path))
    responses = initial_responses(app, pages)
    assert all(r.status_code == 200 for r in responses.values())
    compare = next(r for k, r in responses.items() if "compare-guided-graph" in k).get_json()
    guided = compare["response"]["compare-guided-graph"]["figure"]
    assert guided["data"][0]["type"] == "scatter" and "ids" in guided["data"][0]


# -- compare ------------------------------------------------------------------------------


def test_compare_callback_draws_the_chunk_against_the_chosen_baseline(run, pages):
    store, run_id = run
    run_json = store.load_run(run_id)
    recs = store.metrics(run_id)
    g, u = recs["g1"], recs["u1"]
    out = pages["compare"].show_chunk_comparison(1, "twin", run_id, 0, "light", {"indices": [0, 1]})
    fig_g, fig_u, rows, columns, cls, conf, _, note, title_g, title_u, shown = out
    assert shown == 1
    assert fig_g.layout.xaxis.range == fig_u.layout.xaxis.range
    n_shown = run_json["sizes"]["train"] + run_json["sizes"]["val"]
    assert sum(len(t.x) for t in fig_g.data) == n_shown == sum(len(t.x) for t in fig_u.data)
    assert sum(len(t.selectedpoints) for t in fig_g.data) == 2
    assert title_g.startswith("guided g1") and title_u == "unguided lineage u1"
    assert fig_g.layout.transition.duration > 0 and fig_g.data[0].text is None  # glides
    assert [c["headerName"] for c in columns[1:3]] == ["guided g1", "unguided lineage u1"]
    by_key = {r["key"]: r for r in rows}
    assert by_key["val_acc"]["delta"] == g["val"]["acc"] - u["val"]["acc"]
    assert list(cls.data[0].y) == pytest.approx([100 * b["delta"] for b in g["bias"]])
    diff = np.array(g["val"]["confusion"]) - np.array(u["val"]["confusion"])
    assert np.array_equal(np.array(conf.data[0].z), diff)
    assert note.startswith("unguided lineage: where would I be without any guidance?")
    # chunk 1: the counterfactual chunk is the unguided lineage's u1 (contract), and says so
    (options,) = pages["compare"].baseline_choices(1, run_id, 0)
    assert options[1] == {
        "label": "counterfactual chunk (u1)",
        "value": "counterfactual",
        "disabled": False,
    }
    out = pages["compare"].show_chunk_comparison(1, "counterfactual", run_id, 0, "light", None)
    assert out[9] == "counterfactual chunk u1" and "unguided lineage's chunk u1" in out[7]
    assert list(out[4].data[0].y) == pytest.approx(
        [100 * b["delta"] for b in g["counterfactual"]["bias"]]
    )


def test_compare_says_how_much_of_each_edit_happened(run, pages):
    import dataclasses

    from hill_dash.dashboard import compare_view as CV

    store, run_id = run
    run_json = store.load_run(run_id)
    view = CV.load_view(store, run_json, 1, CV.LINEAGE)
    (share,) = run_json["chunks"][1]["realized"]  # the engine's: one pull edit
    text = str(pages["compare"].realized_view(view))
    assert f"pulled {100 * share['latent']['guided']:.0f} % of the way" in text
    assert "Pull 40 points to class 8" in text
    assert "not recorded" in str(
        pages["compare"].realized_view(dataclasses.replace(view, realized=[]))
    )
    chunk = {
        "edits": [{"id": "e1", "kind": "compact", "indices": [1, 2], "beta": 0.5}],
        "realized": [
            {
                "edit": "e1",
                "latent": {"guided": 0.78, "counterfactual": 0.03, "twin": 0.01},
                "map": {"guided": 0.79, "counterfactual": 0.0, "twin": 0.0},
            }
        ],
    }
    view = dataclasses.replace(view, realized=CV.realized_rows(chunk, ["a", "b"]))
    text = str(pages["compare"].realized_view(view))
    assert "Compact 2 points (β 0.5)" in text and "shrunk 78 % of the way" in text
    assert "counterfactual 3 %" in text and "map 79 %" in text


def test_slider_covers_the_chunks_and_reveal_is_recorded(run, pages):
    store, run_id = run
    cmp = pages["compare"]
    s = cmp.slider_settings(store.load_run(run_id))
    assert (s["min"], s["max"], s["value"], s["disabled"]) == (0, 1, 1, False)
    assert cmp.slider_settings(None)["disabled"] is True
    assert "Test split untouched" in str(cmp.chunk_slider_for_run(run_id, 0)[-1].children)
    view, count, status = cmp.reveal_test_accuracy(1, run_id)
    assert "revealed 1 time" in status.children and "no longer untouched" in status.children
    tests = {r["checkpoint"]: r for r in store.read_jsonl(run_id, "test_metrics.jsonl")}
    text = json.dumps(view.to_plotly_json(), default=str)
    assert f"{100 * tests['g1']['acc']:.2f} %" in text
    assert f"{100 * tests['u1']['acc']:.2f} %" in text
    assert count == "This run has 1 recorded reveal."
    assert len(store.load_run(run_id)["test_reveals"]) == 1


# -- runs -----------------------------------------------------------------------------------


def test_run_rows_lineage_and_fallback_to_the_newest_run(run):
    store, run_id = run
    row = run_row(store.load_run(run_id))
    assert (row["chunks"], row["model"], row["dataset"]) == (2, "mlp", "digits")
    assert row["lineage"] == "c0 → g1,u1"
    long = {
        "chunks": [{"guided": "c0", "twin": "c0"}]
        + [{"guided": f"g{i}", "twin": f"u{i}"} for i in range(1, 10)]
    }
    assert lineage_text(long) == "c0 → g1,u1 → … → g7,u7 → g8,u8 → g9,u9"
    assert current_run_id(store, None) == store.list_runs()[0]["id"]
    assert current_run_id(store, "../../etc") == store.list_runs()[0]["id"]
    assert current_run_id(store, run_id) == run_id


def test_runs_page_draws_the_lineage_tree_and_writes_the_report(run, pages):
    store, run_id = run
    runs = pages["runs"]
    table, current, options, value, fig = runs.list_runs(run_id, 0, "dark")
    assert value == "g1"
    labels = {o["value"]: o["label"] for o in options}
    assert labels["u1"] == "u1 · unguided lineage · chunk 1"
    text = str(current)
    assert "c0 → g1 · unguided lineage u1" in text and "2 chunks" in text
    assert "chunk(s)" not in text
    names = {t.name for t in fig.data if t.name}
    assert {"guided", "unguided lineage"} <= names
    nodes = sorted(c for t in fig.data if t.customdata is not None for c in t.customdata)
    assert nodes == sorted(store.load_run(run_id)["checkpoints"])
    assert fig.layout.template.layout.paper_bgcolor == "#212529"
    assert runs.pick_checkpoint_on_the_tree({"points": [{"customdata": "u1"}]}, options) == "u1"
    assert runs.pick_checkpoint_on_the_tree({"points": [{"customdata": "x9"}]}, options) is (
        dash.no_update
    )
    sent, status = runs.download_report(1, run_id)
    assert sent["filename"] == f"hill-dash-{run_id}-report.html"
    assert run_id in sent["content"] and "unguided lineage" in sent["content"]
    assert "offline" in status.children


def test_fork_creates_a_run_whose_c0_weights_are_the_source_checkpoint(run, pages):
    store, run_id = run
    new_id, version, status = pages["runs"].fork_checkpoint(1, "g1", run_id)
    assert new_id != run_id and version > 0
    fork = store.load_run(new_id)
    assert fork["forked_from"] == {"run": run_id, "checkpoint": "g1"}
    source, c0 = store.load_state(run_id, "g1")["model"], store.load_state(new_id, "c0")["model"]
    assert source.keys() == c0.keys() and all(torch.equal(source[k], c0[k]) for k in source)
    assert store.metrics(new_id)["c0"]["val"]["acc"] == store.metrics(run_id)["g1"]["val"]["acc"]
    assert run_row(fork)["forked_from"] == f"{run_id} @ g1"
    _, _, refused = pages["runs"].fork_checkpoint(1, "x9", run_id)
    assert "no checkpoint 'x9'" in str(refused.children)


def test_export_download_is_the_session_zip(run, pages):
    store, run_id = run
    sent, _ = pages["runs"].download_export(1, run_id)
    assert sent["filename"] == f"hill-dash-{run_id}.zip"
    zf = zipfile.ZipFile(io.BytesIO(base64.b64decode(sent["content"])))
    assert "session.json" in zf.namelist() and "metrics.csv" in zf.namelist()
    assert json.loads(zf.read("session.json"))["run"]["id"] == run_id


def test_delete_refuses_a_training_run_then_deletes(root, digits, pages):
    store = RunStore(root)
    victim = loop.create_run(store, digits, arch="mlp", projection="pca", name="victim")
    delete = pages["runs"].delete_confirmed_run
    with store.training_lock(victim):
        _, _, status = delete(1, victim, victim)
        assert "training right now" in str(status.children) and store.exists(victim)
    new_current, _, status = delete(1, victim, victim)
    assert new_current is None and not store.exists(victim)


# -- data -------------------------------------------------------------------------------------


def _payload(raw: bytes) -> str:
    return "data:application/octet-stream;base64," + base64.b64encode(raw).decode()


def _csv(rows: int = 60) -> bytes:
    rng = np.random.default_rng(0)
    lines = ["f1,f2,f3,label"] + [
        f"{a:.3f},{b:.3f},{c:.3f},{['cat', 'dog', 'owl'][i % 3]}"
        for i, (a, b, c) in enumerate(rng.normal(size=(rows, 3)))
    ]
    return "\n".join(lines).encode()


def test_bad_upload_names_the_file_and_leaves_nothing_behind(tmp_path, pages, monkeypatch):
    root = tmp_path  # a store of its own: another test's good upload may sit in the shared one
    monkeypatch.setenv("HILL_DASH_DATA_DIR", str(root))
    data_page = pages["data"]
    raw = b"f1,f2,label\n1,2,a\n3,oops,b\n"
    msg, is_open, *_ = data_page.accept_upload(
        {"filename": "my_measurements.csv", "contents": _payload(raw), "size": len(raw)}, 0
    )
    assert is_open is True
    assert msg.startswith("my_measurements.csv: ") and "line 3" in msg and "number" in msg
    assert "upload-" not in msg  # the generated temp name never leaks
    assert list((root / "uploads").glob("upload-*.csv")) == []
    with pytest.raises(DataError, match=r"notes\.txt: file extension"):
        data_page.save_upload(_payload(b"x"), "notes.txt", root)


def test_oversized_upload_is_refused_before_decoding(root, pages, monkeypatch):
    data_page = pages["data"]
    monkeypatch.setattr(
        uploads.base64, "b64decode", lambda *a, **k: pytest.fail("decoded an oversized upload")
    )
    with pytest.raises(
        DataError,
        match=r"big\.npz: file: 65\.0 MB is over the upload limit "
        r"of 64 MB",
    ):
        data_page.save_upload(None, "big.npz", root, size=65 * 2**20)
    with pytest.raises(DataError, match="over the upload limit"):
        data_page.save_upload(_payload(b"0" * 4000), "big.csv", root, limit=1000)
    msg, is_open, *_ = data_page.accept_upload(
        {"filename": "big.npz", "contents": None, "size": 70 * 2**20}, 0
    )
    assert is_open and "big.npz" in msg and "64 MB" in msg


def test_good_upload_then_start_run(root, pages):
    data_page = pages["data"]
    token, ds = data_page.save_upload(_payload(_csv()), "pets.csv", root)
    assert uploads.UPLOAD_NAME.match(token) and (root / "uploads" / token).is_file()
    facts = data_page.summary_facts(ds)
    assert facts["classes"] == ["cat", "dog", "owl"] and facts["kind"] == "flat"
    assert facts["train"] + facts["val"] + facts["test"] == 60 and facts["name"] == "pets"
    upload = {"token": token, "filename": "pets.csv"}
    with pytest.raises(DataError, match="cnn2d"):
        data_page.start_run(root, "upload", upload, "cnn2d", 32, "pca", 2, 1.0)
    with pytest.raises(DataError, match="latent dim"):
        data_page.start_run(root, "upload", upload, "mlp", 0, "pca", 2, 1.0)
    run_id = data_page.start_run(root, "upload", upload, "mlp", 8, "pca", 2, 0.5, seed=3)
    run = RunStore(root).load_run(run_id)
    assert run["dataset"] == "pets" and run["chunks"] == []
    assert run["config"]["model"]["latent_dim"] == 8 and run["config"]["seed"] == 3
    assert run["config"]["chunk"]["epochs"] == 2 and run["config"]["chunk"]["lam"] == 0.5
    with pytest.raises(DataError, match="unknown upload"):
        data_page.load_choice("upload", {"token": "../../run.json", "filename": "x"}, root)


def test_choosing_a_builtin_sets_the_default_model_and_creating_selects_the_run(root, pages):
    data_page = pages["data"]
    summary, fig, options, value, _ = data_page.show_chosen_data("digits", None, 0)
    assert value == "cnn2d"
    assert {o["value"]: o["disabled"] for o in options} == {
        "mlp": False,
        "cnn1d": True,
        "cnn2d": False,
    }
    assert "1259" in json.dumps(summary.to_plotly_json(), default=str)
    assert len(fig.data) == 10
    run_id, version, status = data_page.create_new_run(
        1, "digits", None, "mlp", 16, "pca", 1, 1.0, 0, "from the data page"
    )
    assert RunStore(root).load_run(run_id)["name"] == "from the data page"
    assert "Loop page" in json.dumps(status.to_plotly_json(), default=str)
