"""How much of an edit happened, relative to the rest of the space: the "realized share".

A person who drags a cluster a third of the map to the right asks for a change of where
that cluster sits *with respect to everything else*. So the share is measured after the
next checkpoint's positions are aligned onto the previous ones by a similarity transform
(rotation, uniform scale, translation) fitted on the reference points only (the unedited
training and validation points): what a global shift, rotation or scaling of the whole
space did is taken out, and what is left is relative movement.

The same functions measure latents (d-dimensional) and map coordinates (2-D), and the
guided run, the counterfactual chunk and the unguided lineage alike. Per edit kind, with
S the edited points, B their positions before and A after (aligned):

- translate: the mean displacement of S projected on the requested shift r, ÷ ‖r‖²;
- pull (class c, α): v = centre(S) − centre(c's reference points); asked v → (1 − α)·v;
  share = (v_B − v_A)·(α v_B) / ‖α v_B‖²;
- compact (β): spread σ = RMS distance of S to its centre; asked σ → β σ;
  share = (σ_B − σ_A) / ((1 − β) σ_B);
- separate (other T, γ): D = ‖centre(S) − centre(T)‖; asked D → (1 + γ) D;
  share = (D_A − D_B) / (γ D_B).

1 means all of the requested change happened, 0 none, a negative share the wrong way.
None when the request is empty (a zero shift, α = 0, β = 1, γ = 0, coinciding centres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hill_dash.engine.projection.align import align_to


@dataclass(frozen=True)
class Request:
    """One edit as the realized share needs it, in the positions' own space."""

    kind: str  # "translate" | "pull" | "compact" | "separate"
    points: np.ndarray  # (m,) indices of the edited points (training points only)
    shift: np.ndarray | None = None  # translate: the requested displacement, in this space
    members: np.ndarray | None = None  # pull: reference points of the target class
    other: np.ndarray | None = None  # separate: the points pushed away from
    amount: float = 1.0  # α (pull), β (compact) or γ (separate)


def similarity_align(
    moving: np.ndarray, fixed: np.ndarray, on: np.ndarray | None = None
) -> np.ndarray:
    """``moving`` by the similarity transform that best fits ``moving[on]`` onto ``fixed[on]``."""
    return align_to(moving, fixed, on)[0]


def realized_share(request: Request, before: np.ndarray, after_aligned: np.ndarray) -> float | None:
    """The share of the requested change that happened (see the module docstring)."""
    B, A = np.asarray(before, np.float64), np.asarray(after_aligned, np.float64)
    S = request.points
    if len(S) == 0:
        return None
    if request.kind == "translate":
        r = np.asarray(request.shift, np.float64)
        norm2 = float(r @ r)
        return _ratio(float((A[S].mean(0) - B[S].mean(0)) @ r), norm2)
    if request.kind == "pull":
        if request.members is None or len(request.members) == 0:
            return None
        ask = request.amount * (B[S].mean(0) - B[request.members].mean(0))
        v_a = A[S].mean(0) - A[request.members].mean(0)
        v_b = B[S].mean(0) - B[request.members].mean(0)
        return _ratio(float((v_b - v_a) @ ask), float(ask @ ask))
    if request.kind == "compact":
        spread_b, spread_a = _spread(B[S]), _spread(A[S])
        return _ratio(spread_b - spread_a, (1.0 - request.amount) * spread_b)
    if request.kind == "separate":
        if request.other is None or len(request.other) == 0:
            return None
        d_b = float(np.linalg.norm(B[S].mean(0) - B[request.other].mean(0)))
        d_a = float(np.linalg.norm(A[S].mean(0) - A[request.other].mean(0)))
        return _ratio(d_a - d_b, request.amount * d_b)
    raise ValueError(f"request.kind: {request.kind!r} is not an edit kind")


def class_distance_change(
    points: np.ndarray, members: np.ndarray, before: np.ndarray, after_aligned: np.ndarray
) -> float | None:
    """1 − d_after / d_before for the distance between the centres of two groups."""
    d_b = float(np.linalg.norm(before[points].mean(0) - before[members].mean(0)))
    d_a = float(np.linalg.norm(after_aligned[points].mean(0) - after_aligned[members].mean(0)))
    return _ratio(d_b - d_a, d_b)


def shares(
    requests: list[Request], before: np.ndarray, after: np.ndarray, reference: np.ndarray
) -> list[float | None]:
    """Realized share of each request, after aligning ``after`` on the ``reference`` rows."""
    if len(reference) < 3:
        return [None] * len(requests)
    aligned = similarity_align(after, before, reference)
    return [realized_share(r, before, aligned) for r in requests]


def _spread(P: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.sum((P - P.mean(0)) ** 2, axis=1)))) if len(P) else 0.0


def _ratio(num: float, den: float) -> float | None:
    return float(num / den) if abs(den) > 1e-12 else None
