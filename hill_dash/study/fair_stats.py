"""Paired statistics of the fair study (issue 16): t interval, exact sign-flip test, Holm.

Per seed, an arm and its baseline are trained from the same chunk 0 on the same batches,
so their difference is paired by seed. For n paired differences d:

- the 95 % t interval of the mean, mean ± t_{0.975, n−1} · sd / √n, and its p-value;
- the exact sign-flip (permutation) test: under H0 (no effect) each d_i is as likely
  −d_i; the p-value is the share of all 2^n sign patterns whose |mean| is at least the
  observed one (two-sided; enumerated exactly for n ≤ 16, else `scipy.stats.permutation_test`
  with 100 000 resamples);
- Holm's step-down adjustment over a family of p-values (missing comparisons enter as
  p = 1, so a family's size never depends on what finished).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats


def paired(d) -> dict:
    """Mean, 95 % t interval, t p-value and exact sign-flip p-value of differences `d`."""
    d = np.asarray([x for x in d if x is not None], dtype=np.float64)
    n = len(d)
    out = {"n": n, "mean": float(d.mean()) if n else None}
    if n < 2:
        return out | {"low": None, "high": None, "p_t": None, "p_signflip": None}
    sd = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    if sd > 0:
        p_t = float(2 * stats.t.sf(abs(d.mean()) / (sd / math.sqrt(n)), n - 1))
    else:
        p_t = 1.0 if d.mean() == 0 else 0.0
    return out | {
        "low": float(d.mean() - half),
        "high": float(d.mean() + half),
        "sd": sd,
        "p_t": p_t,
        "p_signflip": sign_flip_p(d),
    }


def sign_flip_p(d) -> float:
    """Two-sided exact sign-flip p-value of the mean of `d` (all 2^n sign patterns)."""
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    observed = abs(d.mean())
    tol = 1e-12 * max(1.0, observed)
    if n <= 16:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        means = np.abs(signs @ d) / n
        return float(np.mean(means >= observed - tol))
    res = stats.permutation_test(
        (d,),
        np.mean,
        permutation_type="samples",
        n_resamples=100_000,
        alternative="two-sided",
        random_state=0,
    )
    return float(res.pvalue)


def holm(pvalues: dict[str, float | None], family: list[str] | None = None) -> dict[str, float]:
    """Holm-adjusted p-values; `family` names every member (missing or None: p = 1)."""
    names = list(family) if family is not None else list(pvalues)
    ps = [1.0 if pvalues.get(k) is None else float(pvalues[k]) for k in names]
    m = len(ps)
    order = np.argsort(ps, kind="stable")
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * ps[i]))
        adjusted[i] = running
    return dict(zip(names, adjusted, strict=True))


def holm_interval(d, m_rank: int) -> tuple[float | None, float | None]:
    """A t interval at the Holm level of its rank (α / (m − rank)): the interval that
    matches the step at which Holm tests this comparison (0 = the smallest p-value)."""
    d = np.asarray([x for x in d if x is not None], dtype=np.float64)
    n = len(d)
    if n < 2:
        return None, None
    alpha = 0.05 / max(m_rank, 1)
    half = float(stats.t.ppf(1 - alpha / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    return float(d.mean() - half), float(d.mean() + half)
