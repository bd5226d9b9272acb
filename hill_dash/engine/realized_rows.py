"""Every latent edit's realized share in a chunk, per lineage and per space.

`loop.run_chunk` records these rows in chunk["realized"]: for the guided lineage, the
counterfactual and the unguided lineage, the share of each edit's request that happened
in each of REALIZED_SPACES (latent space, the carried map, a fresh map, and the unedited
validation points in latent space and on the carried map). The shares themselves are
`hill_dash.engine.realized`; the fresh map and the validation requests are
`hill_dash.engine.realized_spaces`; their wording is `hill_dash.engine.realized_text`.
"""

from __future__ import annotations

import numpy as np

from hill_dash.engine.data import Dataset
from hill_dash.engine.edits import Edit, steady_rows
from hill_dash.engine.realized import Request, shares
from hill_dash.engine.realized_spaces import (
    fresh_coords,
    fresh_sample,
    validation_owners,
    validation_requests,
)
from hill_dash.engine.realized_text import REALIZED_SPACES
from hill_dash.engine.teacher import Teacher, build_teacher


def realized_rows(
    edits: list[Edit],
    pending: list[dict],
    teacher: Teacher,
    trained: dict,
    data: Dataset,
    seed: int = 0,
) -> list[dict]:
    """Per edit, the realized share for every lineage in each of REALIZED_SPACES: latent
    space, the carried map, a fresh map (`realized_spaces.fresh_coords`), and the unedited
    validation points nearest the selection in latent space and on the carried map."""
    if not edits:
        return []
    visible = len(data.y_train) + len(data.y_val)
    reference = steady_rows(edits, visible)
    out = {space: {} for space in REALIZED_SPACES}
    owners: dict = {}  # per edit-time checkpoint: the validation rows' nearest training rows
    for lineage, key in (
        ("guided", "guided"),
        ("counterfactual", "counterfactual"),
        ("twin", "twin"),
    ):
        t = trained.get(lineage) or (trained.get("twin") if lineage == "counterfactual" else None)
        if t is None or t.Zp is None:
            continue
        requests = teacher.requests
        if t.task.parent != trained["guided"].task.parent:  # the unguided lineage's own map
            requests = build_teacher(
                edits, t.Zp, t.map_p, data.all_y(), data.split_array(), False, data.n_classes
            ).requests
        out["latent"][key] = _shares(requests, t.Zp[:visible], t.Z[:visible], reference)
        on_map = [_on_map(r, e) for r, e in zip(requests, edits, strict=True)]
        out["map"][key] = _shares(
            on_map, t.map_p.coords[:visible], t.map_state.coords[:visible], reference
        )
        # a fresh layout of the new latents: every lineage's for PCA; UMAP's costs seconds,
        # so only the guided run's, and above FRESH_MAX_POINTS on a sample (realized_spaces)
        if key == "guided" or t.map_state.method == "pca":
            rows = fresh_sample(visible, on_map, seed) if t.map_state.method == "umap" else None
            fresh = fresh_coords(t.Z, t.map_state.method, seed, visible, rows)
            ref = reference if rows is None else np.intersect1d(reference, rows)
            out["fresh_map"][key] = _shares(on_map, t.map_p.coords[:visible], fresh, ref)
        if t.task.parent not in owners:  # the guided run and its counterfactual share one
            owners[t.task.parent] = validation_owners(t.Zp, len(data.y_train), visible, reference)
        val = validation_requests(requests, *owners[t.task.parent])
        out["val_latent"][key] = _shares(val, t.Zp[:visible], t.Z[:visible], reference)
        val_map = [_on_map(r, e) for r, e in zip(val, edits, strict=True)]
        out["val_map"][key] = _shares(
            val_map, t.map_p.coords[:visible], t.map_state.coords[:visible], reference
        )
    rows = []
    for i, (edit, rec) in enumerate(zip(edits, pending, strict=True)):
        rows.append(
            {
                "edit": rec.get("id"),
                "kind": edit.kind,
            }
            | {space: {k: v[i] for k, v in out[space].items()} for space in REALIZED_SPACES}
        )
    return rows


def _shares(requests, before, after, reference) -> list[float | None]:
    present = [r for r in requests if r is not None]
    values = iter(shares(present, before, after, reference))
    return [None if r is None else _rounded(next(values)) for r in requests]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _on_map(request: Request | None, edit: Edit) -> Request | None:
    """The same request in map coordinates: a move asks for the arrow itself."""
    if request is None or request.kind != "translate":
        return request
    return Request("translate", request.points, shift=np.array([edit.dx, edit.dy]))
