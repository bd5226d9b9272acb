"""The scenario study on a tiny real run: the report's numbers are the per-seed numbers."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from hill_dash.cli import main
from hill_dash.study.config import ScenarioConfig
from hill_dash.study.scenario_runner import run_scenario_study


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("scenario")
    cfg = ScenarioConfig(
        dataset="digits-decoy", model="mlp", seeds=2, chunks=1, epochs=1, projection="pca"
    )
    return run_scenario_study(cfg, out, command="python -m hill_dash scenario-study (test)"), out


def test_tiny_scenario_study_writes_its_files(tiny):
    study, out = tiny
    assert {p.name for p in out.iterdir()} >= {
        "study.json",
        "study.md",
        "differences.png",
        "val_curves.png",
    }
    assert json.loads((out / "study.json").read_text())["summary"] == study["summary"]
    md = (out / "study.md").read_text()
    assert "| guided |" in md and "| upweight-selection |" in md and "| dfr |" in md
    assert "python -m hill_dash scenario-study (test)" in md


def test_every_arm_reads_the_test_split_once_and_the_twins_agree(tiny):
    study, _ = tiny
    s = study["summary"]
    assert s["test_reads"] == [1] and s["twins_identical"]
    assert study["config"]["controls"] == ["upweight-inspected", "upweight-selection", "dfr"]
    assert list(s["arms"]) == ["guided", "unguided", "random", *study["config"]["controls"]]


def test_paired_differences_are_the_per_seed_differences(tiny):
    study, _ = tiny
    s = study["summary"]
    for arm in ("unguided", "random", "dfr"):
        d = []
        for seed in study["seeds"]:
            g = seed["arms"]["inspect-and-pull"]["test"]["guided"]["worst"]
            if arm == "dfr":
                other = seed["controls"]["dfr"]["test"]["worst"]
            elif arm == "unguided":
                other = seed["arms"]["inspect-and-pull"]["test"]["twin"]["worst"]
            else:
                other = seed["arms"]["random"]["test"]["guided"]["worst"]
            d.append(g - other)
        got = s["guided_minus"][arm]["worst"]
        assert got["mean"] == pytest.approx(np.mean(d))
        half = stats.t.ppf(0.975, 1) * np.std(d, ddof=1) / math.sqrt(2)
        if half > 0:
            assert (got["ci_low"], got["ci_high"]) == pytest.approx(
                (np.mean(d) - half, np.mean(d) + half)
            )


def test_the_user_spent_the_same_budgets_as_its_controls(tiny):
    study, _ = tiny
    for seed in study["seeds"]:
        user = seed["arms"]["inspect-and-pull"]
        (chunk,) = user["chunks"]
        assert 0 < chunk["inspected"] <= 50 and chunk["points"] <= user["budget"]
        assert seed["arms"]["random"]["chunks"][0]["points"] == user["budget"]
        reads = {i for i, _ in user["log"][0]["inspected"]}
        assert len(reads) == chunk["inspected"]
        ctrl = seed["controls"]
        # up-weighted: the inspected training points (labels of a decoy are right)
        n_train = study["dataset"]["n_train"]
        assert ctrl["upweight-inspected"]["upweighted"] == sum(i < n_train for i in reads)
        assert ctrl["upweight-inspected"]["relabelled"] == 0
        assert ctrl["dfr"]["fitted_on"] == sum(i < n_train for i in reads)


def test_scenario_study_cli_refuses_a_plain_data_set_with_one_line(tmp_path, capsys):
    code = main(["scenario-study", "--dataset", "digits", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "digits-decoy" in err
