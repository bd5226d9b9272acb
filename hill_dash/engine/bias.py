"""Paired bias statistics: did guidance cost a class, or start calling B "A"?

The guided model and its reference (the unguided lineage's checkpoint, or the
counterfactual chunk's) are scored on the SAME validation points, so every
comparison here is paired point by point; no test treats the two accuracies as
independent samples.

Per class c, over its n validation points:

    gained = points of c the guided model gets right and the reference gets wrong
    lost   = points of c the reference gets right and the guided model gets wrong
    delta  = acc_guided − acc_ref = (gained − lost) / n
    p      = exact one-sided McNemar test of "guidance hurt c":
             P(X ≥ lost) with X ~ Binomial(gained + lost, 1/2)

Only the discordant points carry information; under "no effect on c" each of
them is equally likely to fall either way. The test is one-sided because the
question is whether guidance hurt a class; a class that gained is never flagged.

Per confusion cell (true a, predicted b ≠ a), over the n_a points of class a:

    up    = points of a the guided model predicts as b and the reference does not
    down  = points of a the reference predicts as b and the guided model does not
    delta = share of a predicted as b, guided − reference = (up − down) / n_a
    p     = P(X ≥ up) with X ~ Binomial(up + down, 1/2)

This is the signature of a merge ("true B predicted as A went up"), which a
per-class accuracy drop spreads over every wrong class.

Multiple testing. Every chunk tests every class (and every off-diagonal cell),
and a lineage has as many chunks as the person trains. The rule keeps the
chance of ANY false flag over the whole lineage (every class, every chunk,
however many chunks follow) at most α (default 0.05), separately for each
signal (class drops; confusion shifts) and each reference (unguided lineage;
counterfactual chunk):

- chunk k (k = 1, 2, …) may spend α_k = α / (k (k + 1)); these shares sum to α
  over all chunks (1/2 + 1/6 + 1/12 + … = 1);
- within a chunk, its n tests are adjusted by Holm's step-down.

Both steps are one number, the family size m = n · k · (k + 1)
(`family_size(n, k)`, or `class_family` / `shift_family`). The adjusted
p-value of the chunk's i-th smallest p-value (i = 0, 1, …) is

    p_adj(i) = max_{j ≤ i} min(1, (m − j) · p(j))

and a test is flagged when p_adj ≤ α. That is Holm's step-down in a family of
m tests in which the tests outside this chunk count as not rejected. Since
m − j ≥ k (k + 1) (n − j), each threshold α / (m − j) is at most Holm's
α_k / (n − j), so chunk k's family-wise error is at most α_k, whatever the
dependence between classes, and the lineage's at most Σ α_k = α.

Why not "Holm over n_classes × chunks so far" with the chunk's tests alone:
at chunk k that spends α / k, and Σ 1/k grows without bound, so a person who
trains many chunks would see false flags at a rate that grows with every chunk.

Annotations (relabel, exclude; `hill_dash.engine.annotations`) change the labels the
guided lineage learns from. A relabel of (nearly) a whole class, or an exclude of most of
it, is a planted merge or deletion stated outright: its effect on the validation points
can take chunks to show, but the cause is known at once. So a class whose training points
the annotations in force relabel away or exclude, WHOLE_CLASS or more of them, is
flagged too (`annotation_signals`; the row's "annotated" says what and how much): against
the unguided lineage for every annotation in force, against the counterfactual chunk for
this chunk's own.

Pure numpy / scipy functions of predicted labels: the loop calls them per chunk,
the study and the dashboard read the dicts they return.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

ALPHA = 0.05
WHOLE_CLASS = 0.8  # share of a class's training points relabelled away or excluded: flagged


def family_size(n_tests: int, chunk: int) -> int:
    """m for `n_tests` tests at guided chunk `chunk` (≥ 1): n_tests · chunk · (chunk + 1)."""
    if chunk < 1 or n_tests < 1:
        raise ValueError(
            f"family_size: expected n_tests >= 1 and chunk >= 1, got {n_tests}, {chunk}"
        )
    return n_tests * chunk * (chunk + 1)


def class_family(n_classes: int, chunk: int) -> int:
    """The `family` argument of `class_bias` at guided chunk `chunk` (≥ 1)."""
    return family_size(n_classes, chunk)


def shift_family(n_classes: int, chunk: int) -> int:
    """The `family` argument of `confusion_shifts` at guided chunk `chunk` (≥ 1)."""
    return family_size(n_classes * (n_classes - 1), chunk)


def one_sided_p(k: np.ndarray, d: np.ndarray) -> np.ndarray:
    """P(X ≥ k), X ~ Binomial(d, 1/2): the exact McNemar p-value of k of d discordant
    points falling the bad way (equals scipy.stats.binomtest(k, d, 0.5, "greater"); 1 if d=0)."""
    k, d = np.asarray(k), np.asarray(d)
    return np.where(d > 0, stats.binom.sf(k - 1, d, 0.5), 1.0)


def holm_in_family(p: np.ndarray, family: int) -> np.ndarray:
    """Holm's step-down adjusted p-values of `p`, in a family of `family` ≥ len(p) tests
    whose other members count as not rejected (module docstring)."""
    p = np.asarray(p, dtype=np.float64)
    if family < len(p):
        raise ValueError(f"family: expected at least the {len(p)} tests made, got {family}")
    if len(p) == 0:
        return p
    order = np.argsort(p, kind="stable")
    scaled = p[order] * (family - np.arange(len(p)))
    adjusted = np.minimum(1.0, np.maximum.accumulate(scaled))
    out = np.empty_like(adjusted)
    out[order] = adjusted
    return out


def _labelled(y, pred_guided, pred_ref, n_classes: int):
    y, g, r = (np.asarray(a, dtype=np.int64) for a in (y, pred_guided, pred_ref))
    if not (y.shape == g.shape == r.shape) or y.ndim != 1:
        raise ValueError(
            f"y, pred_guided, pred_ref: expected three 1-D arrays of one length, "
            f"got shapes {y.shape}, {g.shape}, {r.shape}"
        )
    keep = y >= 0  # unlabelled points (label -1) say nothing about a class
    y, g, r = y[keep], g[keep], r[keep]
    for name, a in (("y", y), ("pred_guided", g), ("pred_ref", r)):
        if a.size and (a.min() < 0 or a.max() >= n_classes):
            raise ValueError(f"{name}: expected class indices 0..{n_classes - 1}")
    return y, g, r


def class_bias(
    y,
    pred_guided,
    pred_ref,
    n_classes: int,
    touched,
    family: int,
    alpha: float = ALPHA,
) -> list[dict]:
    """Per class: paired accuracy change guided − reference and its corrected exact test.

    `touched`: classes whose training points were edited (cumulative over the lineage);
    `family`: `class_family(n_classes, chunk)` (module docstring). One dict per class:
    class, n, gained, lost, delta (acc guided − ref, None without points), se (paired
    standard error of delta, for error bars only), p, p_adj, flag, touched.
    """
    y, g, r = _labelled(y, pred_guided, pred_ref, n_classes)
    touched = {int(c) for c in touched}
    rows, tested = [], []
    for c in range(n_classes):
        members = y == c
        n = int(members.sum())
        right_g, right_r = g[members] == c, r[members] == c
        gained = int(np.sum(right_g & ~right_r))
        lost = int(np.sum(right_r & ~right_g))
        row = {"class": c, "n": n, "gained": gained, "lost": lost, "touched": c in touched}
        if n == 0:
            row |= {"delta": None, "se": None, "p": None, "p_adj": None, "flag": False}
        else:
            delta = (gained - lost) / n
            var = max((gained + lost) / n - delta**2, 0.0)  # of the per-point change in {-1,0,1}
            row |= {"delta": delta, "se": float(np.sqrt(var / n))}
            tested.append(c)
        rows.append(row)
    lost = np.array([rows[c]["lost"] for c in tested])
    disc = np.array([rows[c]["gained"] + rows[c]["lost"] for c in tested])
    p = one_sided_p(lost, disc)
    p_adj = holm_in_family(p, family)
    for c, pc, pa in zip(tested, p, p_adj, strict=True):
        rows[c] |= {"p": float(pc), "p_adj": float(pa), "flag": bool(pa <= alpha)}
    return rows


def confusion_shifts(
    y,
    pred_guided,
    pred_ref,
    n_classes: int,
    family: int,
    top: int = 10,
    alpha: float = ALPHA,
) -> list[dict]:
    """The confusion cells (true a, predicted b ≠ a) whose share went up, guided − reference.

    Every off-diagonal cell with points is tested and corrected (`family`:
    `shift_family(n_classes, chunk)`); the `top` cells with the smallest p (then the
    largest rise) among those that went up are returned, so every flagged cell comes
    first. One dict per cell: true, pred, n (points of the true class), up, down,
    guided and ref (share of the true class predicted as pred), delta, p, p_adj, flag.
    """
    y, g, r = _labelled(y, pred_guided, pred_ref, n_classes)
    n_true = np.bincount(y, minlength=n_classes)[:n_classes]
    cells = n_classes * n_classes

    def count(true: np.ndarray, pred: np.ndarray) -> np.ndarray:  # points per (true, pred)
        return np.bincount(true * n_classes + pred, minlength=cells)

    changed = g != r
    up, down = count(y[changed], g[changed]), count(y[changed], r[changed])
    rate_g, rate_r = count(y, g), count(y, r)
    true_of, pred_of = np.divmod(np.arange(cells), n_classes)
    tested = np.flatnonzero((true_of != pred_of) & (n_true[true_of] > 0))
    p = one_sided_p(up[tested], up[tested] + down[tested])
    p_adj = holm_in_family(p, family)
    rows = []
    for cell, pc, pa in zip(tested, p, p_adj, strict=True):
        if up[cell] <= down[cell]:
            continue
        n = int(n_true[true_of[cell]])
        rows.append(
            {
                "true": int(true_of[cell]),
                "pred": int(pred_of[cell]),
                "n": n,
                "up": int(up[cell]),
                "down": int(down[cell]),
                "guided": float(rate_g[cell] / n),
                "ref": float(rate_r[cell] / n),
                "delta": float((up[cell] - down[cell]) / n),
                "p": float(pc),
                "p_adj": float(pa),
                "flag": bool(pa <= alpha),
            }
        )
    rows.sort(key=lambda row: (row["p"], -row["delta"], row["true"], row["pred"]))
    return rows[:top]


def lineage_bias(
    y_val: np.ndarray,
    pred: dict[str, np.ndarray],
    pred_counterfactual: np.ndarray,
    n_classes: int,
    chunks: list[dict],
    touched_now: list[int],
    annotated: dict | None = None,
) -> dict:
    """The guided record's bias signals against the unguided lineage and the counterfactual.

    `pred` holds the validation predictions of "guided" and "twin" (the unguided
    lineage); `chunks` the run's chunk log so far, so this chunk's index is its length.
    "touched" is cumulative over the lineage against the unguided lineage (every class an
    edit ever touched), and this chunk's own against the counterfactual chunk.
    `annotated`: `annotation_signals` of the chunk (None: no annotation in force).
    """
    k = len(chunks)  # this chunk's index (≥ 1)
    ever = set(touched_now)
    for ch in chunks:
        ever |= set((ch.get("teacher") or {}).get("touched_classes", []))
        ever |= set((ch.get("annotations") or {}).get("touched", []))
    annotated = annotated or {}

    def against(other: np.ndarray, touched, signals) -> dict:
        g, n = pred["guided"], n_classes
        rows = class_bias(y_val, g, other, n, sorted(touched), class_family(n, k))
        for row, signal in zip(rows, signals or [None] * n, strict=True):
            if signal is not None and (signal["relabelled"] or signal["excluded"]):
                row["annotated"] = signal
                row["flag"] = row["flag"] or signal["flag"]
        return {"bias": rows, "shifts": confusion_shifts(y_val, g, other, n, shift_family(n, k))}

    vs_twin = against(pred["twin"], ever, annotated.get("twin"))
    cf = against(pred_counterfactual, touched_now, annotated.get("counterfactual"))
    return vs_twin | {"counterfactual": cf}


def annotation_signals(labels, n_classes: int) -> dict | None:
    """Per class, what the annotations did to its training points (module docstring).

    `labels`: `annotations.ChunkLabels`. "twin": the annotations in force after the chunk
    against the original labels (what the unguided lineage trains with); "counterfactual":
    this chunk's own (against the labels in force before it). None without annotations.
    """
    if not labels.after.changed:
        return None
    ones = np.ones(len(labels.original), np.float32)
    after = (labels.after.y, labels.after.w)
    return {
        "twin": class_annotations(labels.original, ones, *after, n_classes),
        "counterfactual": class_annotations(labels.before.y, labels.before.w, *after, n_classes),
    }


def class_annotations(y0, w0, y1, w1, n_classes: int) -> list[dict | None]:
    """Per class c (labels y0, weights w0 before): the share of its counted training
    points relabelled away (y1 != c) and excluded (w1 == 0), the class most of them now
    carry ("to"), and flag = either share >= WHOLE_CLASS. None for a class without points."""
    y0, y1, w0, w1 = (np.asarray(a) for a in (y0, y1, w0, w1))
    out: list[dict | None] = []
    for c in range(n_classes):
        members = (y0 == c) & (w0 > 0)
        n = int(members.sum())
        if n == 0:
            out.append(None)
            continue
        moved = members & (y1 != c)
        relabelled = float(moved.sum() / n)
        excluded = float(np.sum(members & (w1 == 0)) / n)
        to = np.bincount(y1[moved][y1[moved] >= 0], minlength=1)
        out.append(
            {
                "n_train": n,
                "relabelled": round(relabelled, 4),
                "excluded": round(excluded, 4),
                "to": int(to.argmax()) if moved.any() and to.max() > 0 else None,
                "flag": relabelled >= WHOLE_CLASS or excluded >= WHOLE_CLASS,
            }
        )
    return out
