"""The study: a tiny real run writes JSON and Markdown whose summaries match the per-seed data."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from hill_dash.cli import main
from hill_dash.study.config import StudyConfig
from hill_dash.study.report import paired_summary
from hill_dash.study.runner import run_study


def test_paired_summary_is_the_mean_with_a_t_interval():
    d = [0.01, 0.03, -0.01, 0.02, 0.05]
    s = paired_summary(d)
    half = stats.t.ppf(0.975, 4) * np.std(d, ddof=1) / math.sqrt(5)
    assert s["mean"] == pytest.approx(0.02)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx((0.02 - half, 0.02 + half))
    assert (s["positive"], s["negative"], s["ties"]) == (4, 1, 0)
    assert paired_summary([0.1])["ci_low"] is None  # one seed: no interval


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    cfg = StudyConfig(
        dataset="digits",
        model="mlp",
        strategies=["merge-classes:3,8", "random"],
        seeds=2,
        chunks=1,
        epochs=1,
    )
    return run_study(cfg, out, command="python -m hill_dash study (test)"), out


def test_tiny_study_writes_json_markdown_and_plots(tiny_study):
    study, out = tiny_study
    assert {p.name for p in out.iterdir()} >= {
        "study.json",
        "study.md",
        "curves.png",
        "per_class.png",
    }
    assert json.loads((out / "study.json").read_text())["summary"] == study["summary"]
    md = (out / "study.md").read_text()
    assert "| merge-classes:3,8 |" in md and "| random |" in md
    assert "python -m hill_dash study (test)" in md
    assert study["twins_identical_across_strategies"]


def test_paired_differences_match_the_per_seed_numbers(tiny_study):
    study, _ = tiny_study
    for spec, s in study["summary"].items():
        seeds = [run["strategies"][spec] for run in study["seeds"]]
        g = [r["chunks"][-1]["guided"]["val_acc"] for r in seeds]
        u = [r["chunks"][-1]["twin"]["val_acc"] for r in seeds]
        assert [p["guided_val"] for p in s["per_seed"]] == g
        diffs = np.subtract(g, u)
        assert s["diff"]["val"]["mean"] == pytest.approx(diffs.mean())
        half = stats.t.ppf(0.975, 1) * diffs.std(ddof=1) / math.sqrt(2)
        assert s["diff"]["val"]["ci_low"] == pytest.approx(diffs.mean() - half)
        assert s["diff"]["val"]["ci_high"] == pytest.approx(diffs.mean() + half)
        test = [r["test"]["guided"]["acc"] - r["test"]["twin"]["acc"] for r in seeds]
        assert s["diff"]["test"]["mean"] == pytest.approx(np.mean(test))
        assert all(r["test_reveals"] == 1 for r in seeds)  # one recorded final evaluation


def test_merge_classes_edits_relabel_class_8_within_budget(tiny_study):
    study, _ = tiny_study
    s = study["summary"]["merge-classes:3,8"]
    assert s["edits"]["kinds"] == ["pull"]
    assert s["edits"]["mean_points"] <= s["edits"]["budget"]
    assert s["edits"]["relabels"] == s["edits"]["mean_points"]
    assert s["bias"]["touched"][8] == 2 and sum(s["bias"]["touched"]) == 2
    m = s["merge"]
    assert (m["a"], m["b"]) == (3, 8)
    x = m["val_b_as_a"]
    assert x["diff"]["mean"] == pytest.approx(x["guided"] - x["twin"])
    assert 0.0 <= x["guided"] <= 1.0


def test_study_cli_refuses_an_unknown_strategy_with_one_line(tmp_path, capsys):
    code = main(["study", "--strategy", "fix-everything", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "fix-everything" in err
