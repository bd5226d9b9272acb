"""The study report's statistics come from scipy.stats and give the stored numbers.

Every `docs/study/*/study.json` holds the per-seed numbers and the summary the
hand-written t intervals made of them; the scipy versions must reproduce those
summaries to float tolerance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from hill_dash.study.config import StudyConfig
from hill_dash.study.report import _mean_band, paired_summary, summarize

ROOT = Path(__file__).resolve().parents[1]
STUDIES = sorted((ROOT / "docs" / "study").glob("*/study.json"))
STATISTICS = ("diff", "curves", "per_class_delta", "vs_random", "merge")


def assert_close(a, b, path: str = "") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


@pytest.mark.parametrize("path", STUDIES, ids=[p.parent.name for p in STUDIES])
def test_stored_studies_summarise_to_their_stored_numbers(path):
    study = json.loads(path.read_text())
    summary = summarize(StudyConfig(**study["config"]), study["seeds"])
    for spec, s in summary.items():
        for key in STATISTICS:
            if key in s:
                assert_close(s[key], study["summary"][spec][key], f"{spec}/{key}")


def test_there_are_stored_studies_to_compare_with():
    assert len(STUDIES) >= 8


def test_paired_summary_is_the_textbook_t_interval():
    d = [0.02, -0.01, 0.05, 0.03, 0.00]
    s = paired_summary(d)
    half = stats.t.ppf(0.975, 4) * np.std(d, ddof=1) / math.sqrt(5)
    assert s["ci_low"] == pytest.approx(np.mean(d) - half, rel=1e-12)
    assert s["ci_high"] == pytest.approx(np.mean(d) + half, rel=1e-12)
    assert (s["positive"], s["negative"], s["ties"]) == (3, 1, 1)
    assert paired_summary([0.25, 0.25, 0.25]) == {
        "n": 3,
        "mean": 0.25,
        "sd": 0.0,
        "ci_low": 0.25,
        "ci_high": 0.25,
        "positive": 3,
        "negative": 0,
        "ties": 0,
    }
    assert paired_summary([0.1, None, float("nan")])["ci_low"] is None  # one usable seed


def test_mean_band_per_column_with_a_flat_column():
    values = np.array([[0.5, 1.0], [0.7, 1.0], [0.9, 1.0]])
    mean, low, high = _mean_band(values)
    half = stats.t.ppf(0.975, 2) * 0.2 / math.sqrt(3)
    assert mean == pytest.approx([0.7, 1.0])
    assert low == pytest.approx([0.7 - half, 1.0]) and high == pytest.approx([0.7 + half, 1.0])
    assert _mean_band(values[:1]) == ([0.5, 1.0], [0.5, 1.0], [0.5, 1.0])
