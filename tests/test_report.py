"""The one-page HTML report: the run's numbers, both baselines named, plotly.js inline once,
no test-split number before a reveal; and the `python -m hill_dash report` command."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hill_dash.dashboard.report import report_filename, session_report
from hill_dash.engine import loop
from hill_dash.engine.store import RunStore
from tests.conftest import pull_then_compact_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory, digits):
    store = RunStore(tmp_path_factory.mktemp("report"))
    run_id = pull_then_compact_run(store, digits)
    f2 = store.load_run(run_id)["chunks"][2]["counterfactual"]
    assert f2 == "f2"
    return store, run_id, f2


def pct(v: float) -> str:
    return f"{100 * v:.2f} %"


def test_test_numbers(store: RunStore, run_id: str) -> dict[str, str]:
    """Each checkpoint's test accuracy as the report would print it, where it cannot be
    confused with a training or validation number of any checkpoint."""
    shown = {pct(r[s]["acc"]) for r in store.metrics(run_id).values() for s in ("train", "val")}
    tests = store.read_jsonl(run_id, "test_metrics.jsonl")
    return {r["checkpoint"]: pct(r["acc"]) for r in tests if pct(r["acc"]) not in shown}


test_test_numbers.__test__ = False  # a helper, not a test


def test_report_holds_the_runs_numbers_and_names_both_baselines(run):
    store, run_id, f2 = run
    page = session_report(store, run_id)
    recs = store.metrics(run_id)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert run_id in page
    for ck in ("c0", "g1", "u1", "g2", "u2", f2):
        assert pct(recs[ck]["val"]["acc"]) in page, ck
    delta = recs["g2"]["val"]["acc"] - recs[f2]["val"]["acc"]
    assert f"{100 * delta:+.2f} pp" in page
    assert "Pull 40 points to class 8 (α 1)" in page and "Compact 30 points (β 0.5)" in page
    assert "unguided lineage" in page and "counterfactual chunk" in page
    text = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # what a reader sees
    assert "trained from the same checkpoint" not in text and "twin" not in text.lower()
    # offline: plotly.js inline once, nothing fetched
    assert not re.search(r"<script[^>]+src=", page)
    assert page.count("* plotly.js v") == 1
    assert page.count("Plotly.newPlot(") >= 6  # lineage, curves, 2 maps, 2 panels ...
    assert report_filename(run_id) == f"hill-dash-{run_id}-report.html"


def test_no_test_number_before_a_reveal_and_the_revealed_ones_after(run, tmp_path):
    store, run_id, _ = run
    hidden = test_test_numbers(store, run_id)
    assert hidden, "the run's test accuracies coincide with shown numbers: pick another seed"
    page = session_report(store, run_id)
    assert "Test split untouched" in page
    assert not [v for v in hidden.values() if v in page]
    assert "test acc" not in page
    heads = store.load_run(run_id)["heads"]
    loop.reveal_test(store, run_id)
    page = session_report(store, run_id)
    assert "no longer untouched" in page and "revealed 1 time " in page
    for lineage in ("guided", "twin"):
        ck = heads[lineage]
        if ck in hidden:
            assert f"{ck}: {hidden[ck]}" in page
    others = {ck: v for ck, v in hidden.items() if ck not in heads.values()}
    assert not [v for v in others.values() if v in page]  # only what was revealed


def test_cli_writes_the_report_and_refuses_an_unknown_run(run, tmp_path):
    store, run_id, _ = run
    out = tmp_path / "r.html"
    cmd = [sys.executable, "-m", "hill_dash", "report", run_id, "--out", str(out)]
    done = subprocess.run(
        [*cmd, "--data-dir", str(store.root)], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stderr
    assert run_id in out.read_text(encoding="utf-8")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "hill_dash",
            "report",
            "nope",
            "--out",
            str(out),
            "--data-dir",
            str(store.root),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "run 'nope': not found" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_realized_shares_appear_in_the_report_when_recorded(run, tmp_path):
    import shutil

    store, run_id, _ = run
    copy = RunStore(tmp_path / "copy")
    shutil.copytree(store.root, copy.root, dirs_exist_ok=True)

    def add(r: dict) -> None:
        edit = r["chunks"][1]["edits"][0]
        r["chunks"][1]["realized"] = [
            {
                "edit": edit["id"],
                "kind": "pull",
                "latent": {"guided": 0.78, "counterfactual": 0.03, "twin": 0.01},
                "map": {"guided": 0.79, "counterfactual": None, "twin": 0.0},
            }
        ]

    copy.update_run(run_id, add)
    page = session_report(copy, run_id)
    assert (
        "Pull 40 points to class 8 (α 1) — in latent space: pulled 78 % of the way · "
        "counterfactual 3 % · unguided lineage 1 % (guided: map 79 %)"
    ) in page
