"""A small session object a notebook user can drive, and the dashboard's read side.

s = Session.new("digits", model="mlp")      # stores the run, trains chunk 0
sel = s.select_box(x0, x1, y0, y1)          # map point indices
s.pull_to_class(sel, 3)
s.relabel(sel, 3)                           # annotations: relabel / weight / exclude
s.train_chunk()                             # guided chunk + the unguided lineage's
s.compare()                                 # guided vs unguided, per metric

One vocabulary on the public surface (this API, the CSV exports, the dashboard): the
lineage that never sees an edit is "unguided" ("the unguided lineage" in prose). run.json
keeps its historical key "twin" so old runs load; `engine.naming.public` renames it on
the way out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hill_dash.engine import loop
from hill_dash.engine.annotations import shown_labels
from hill_dash.engine.data import Dataset, load_dataset
from hill_dash.engine.errors import StoreError
from hill_dash.engine.models import ModelConfig
from hill_dash.engine.naming import public
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from hill_dash.engine.training import ChunkConfig


@dataclass
class MapView:
    """What the map of one checkpoint shows, read from the store."""

    checkpoint: str
    coords: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,) as shown: the guided head's relabels (trained and pending) applied
    pred: np.ndarray  # (n,)
    split: np.ndarray  # (n,) "train" | "val" (the locked test split is never on a map view)
    original: np.ndarray | None = None  # (n,) the data set's own labels
    weights: np.ndarray | None = None  # (n,) cross-entropy weights in force (0: excluded)


class Session:
    """One run in a store, driven from Python."""

    def __init__(self, store: RunStore, run_id: str):
        self.store = store
        self.run_id = run_id
        self._data: Dataset | None = None

    @classmethod
    def new(
        cls,
        dataset: str | Dataset = "digits",
        model: str | ModelConfig | None = None,
        latent_dim: int = 32,
        projection: str = "umap",
        epochs: int = 5,
        lam: float = 1.0,
        seed: int = 0,
        data_dir: str | Path | None = None,
        train_first: bool = True,
        progress=None,
    ) -> Session:
        """A new run on ``dataset``: a built-in name (``digits``, ``mnist1d`` or a scenario
        such as ``digits-decoy``, see ``hill_dash.engine.scenarios``), a file path, or a
        Dataset. ``model``: a built-in name, None (by data kind), or a ``ModelConfig``
        such as ``hill_dash.engine.models.custom_config("mypkg.models:make", "encoder")``."""
        store = RunStore(data_dir)
        data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset, store.root, seed)
        run_id = loop.create_run(
            store,
            data,
            arch=model,
            latent_dim=latent_dim,
            projection=projection,
            chunk=ChunkConfig(epochs=epochs, lam=lam),
            seed=seed,
        )
        session = cls(store, run_id)
        if train_first:
            session.train_chunk(progress=progress)
        return session

    @property
    def run(self) -> dict:
        return self.store.load_run(self.run_id)

    @property
    def data(self) -> Dataset:
        if self._data is None:
            self._data = self.store.load_dataset(self.run_id)
        return self._data

    def train_chunk(self, progress=None, **overrides) -> dict:
        """Train the next chunk (guided + unguided lineage, and the counterfactual chunk
        when it has edits); returns the chunk's record. `overrides`: this chunk's
        settings (epochs, lr, lam, ...); an unknown name raises with the valid ones."""
        chunk = loop.run_chunk(self.store, self.run_id, progress=progress, overrides=overrides)
        return public(chunk)

    def map(self, lineage: str = "guided") -> MapView:
        """The head's map: "guided" or "unguided". The locked test split is not on it: only
        training and validation points (in that order). The guided map's labels include its
        relabels (trained and pending; `original` keeps the data set's)."""
        run = self.run
        if lineage not in ("guided", "unguided", "twin"):  # "twin": the stored name
            raise ValueError(f"lineage: expected 'guided' or 'unguided', got {lineage!r}")
        ck = run["heads"]["guided" if lineage == "guided" else "twin"]
        arrays = self.store.load_arrays(self.run_id, ck)
        shown = len(self.data.y_train) + len(self.data.y_val)
        original = self.data.all_y()[:shown]
        labels, weights = original.copy(), np.ones(shown, np.float32)
        if lineage == "guided":
            state = shown_labels(run, self.data.y_train)
            labels[: len(state.y)], weights[: len(state.w)] = state.y, state.w
        return MapView(
            ck,
            arrays["coords"][:shown],
            labels,
            arrays["logits"][:shown].argmax(1),
            self.data.split_array()[:shown],
            original,
            weights,
        )

    # -- selection and edits ------------------------------------------------
    def select_box(self, x0: float, x1: float, y0: float, y1: float) -> list[int]:
        c = self.map().coords
        inside = (c[:, 0] >= min(x0, x1)) & (c[:, 0] <= max(x0, x1))
        inside &= (c[:, 1] >= min(y0, y1)) & (c[:, 1] <= max(y0, y1))
        return np.flatnonzero(inside).tolist()

    def select_class(self, c: int, split: str = "train") -> list[int]:
        """The points of class c (by the data set's own labels)."""
        m = self.map()
        return np.flatnonzero((m.original == c) & (m.split == split)).tolist()

    def edit(self, edit: Edit) -> dict:
        return loop.add_edit(self.store, self.run_id, edit)

    def edits(self, *edits: Edit) -> list[dict]:
        """Several edits as one step (one Apply: e.g. a Pull and a Relabel of one selection);
        undo and redo move them together."""
        return loop.add_edits(self.store, self.run_id, list(edits))

    def translate(self, indices: list[int], dx: float, dy: float) -> dict:
        return self.edit(Edit("translate", _ints(indices), dx=float(dx), dy=float(dy)))

    def pull_to_class(self, indices: list[int], c: int, alpha: float = 1.0) -> dict:
        return self.edit(Edit("pull", _ints(indices), target_class=int(c), alpha=float(alpha)))

    def compact(self, indices: list[int], beta: float = 0.5) -> dict:
        return self.edit(Edit("compact", _ints(indices), beta=float(beta)))

    def separate(self, indices: list[int], other: list[int], gamma: float = 1.0) -> dict:
        return self.edit(Edit("separate", _ints(indices), other=_ints(other), gamma=float(gamma)))

    # annotations: what the selection's training points are and how much they count; for
    # the guided lineage only (validation and test points in `indices` are skipped)
    def relabel(self, indices: list[int], c: int) -> dict:
        """Train the selection's training points as class c from the next chunk on."""
        return self.edit(Edit("relabel", _ints(indices), target_class=int(c)))

    def weight(self, indices: list[int], w: float) -> dict:
        """Weight their cross-entropy by w (0 < w <= 100)."""
        return self.edit(Edit("weight", _ints(indices), weight=_number(w, "weight")))

    def exclude(self, indices: list[int]) -> dict:
        """Leave them out of training (weight 0; they stay on the map)."""
        return self.edit(Edit("exclude", _ints(indices)))

    def undo(self) -> None:
        loop.undo_edit(self.store, self.run_id)

    def redo(self) -> None:
        loop.redo_edit(self.store, self.run_id)

    # -- results ------------------------------------------------------------
    def history(self) -> list[dict]:
        """Per chunk: the guided and the unguided lineage's metrics records."""
        run = self.run
        recs = self.store.metrics(self.run_id, run)
        return [
            {
                "chunk": ch["index"],
                "guided": public(recs.get(ch["guided"])),
                "unguided": public(recs.get(ch["twin"])),
            }
            for ch in run["chunks"]
        ]

    def compare(self) -> dict:
        """The latest chunk: guided against the unguided lineage (same start, same
        batches, never an edit) and against the counterfactual chunk (the same guided
        checkpoint, same batches, without this chunk's edits).

        "realized": per edit, the share of the requested change that happened relative to
        the rest of the space, for the guided run, the counterfactual and the unguided
        lineage, in each space of `engine.realized_text.REALIZED_SPACES`: "latent", "map"
        (the carried map), "fresh_map" (a new layout of the new latents; UMAP: the guided
        run's only), "val_latent" and "val_map" (the unedited validation points nearest
        the selection). `engine.realized_text.realized_text` says one in words.
        "bias" / "shifts": paired tests against the unguided lineage; "counterfactual":
        the same against the counterfactual.
        """
        run = self.run
        chunk = run["chunks"][-1]
        recs = self.store.metrics(self.run_id, run)
        g, u = recs[chunk["guided"]], recs[chunk["twin"]]
        cf = recs.get(chunk.get("counterfactual") or "")
        out = {
            "chunk": chunk["index"],
            "val_acc": {
                "guided": g["val"]["acc"],
                "unguided": u["val"]["acc"],
                "delta": g["val"]["acc"] - u["val"]["acc"],
            },
            "gap": {"guided": g["gap"], "unguided": u["gap"], "delta": g["gap"] - u["gap"]},
            "realized": chunk.get("realized", []),
            "annotations": _annotation_rows(chunk, run.get("label_names", [])),
            "bias": g.get("bias", []),
            "shifts": g.get("shifts", []),
        }
        if cf is not None:
            out["counterfactual"] = {
                "checkpoint": chunk["counterfactual"],
                "val_acc": cf["val"]["acc"],
                "delta": g["val"]["acc"] - cf["val"]["acc"],
                **(g.get("counterfactual") or {}),
            }
        return public(out)

    def refit_map(self, method: str | None = None) -> dict:
        """A fresh layout of the heads' maps (recorded in the run); no pending edits allowed."""
        return loop.refit_map(self.store, self.run_id, method)

    def reveal_test(self) -> dict:
        return loop.reveal_test(self.store, self.run_id)


def _annotation_rows(chunk: dict, label_names: list[str]) -> list[dict]:
    """The chunk's annotation rows of "realized", each with its sentence ("text")."""
    from hill_dash.dashboard.annotation_text import annotation_sentence, is_annotation_row

    return [
        r | {"text": annotation_sentence(r, label_names)}
        for r in chunk.get("realized") or []
        if is_annotation_row(r)
    ]


def _number(value, name: str) -> float:
    if not isinstance(value, (int, float, np.number)) or isinstance(value, bool):
        raise StoreError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _ints(indices) -> list[int]:
    """Point indices as plain ints (numpy arrays and lists alike)."""
    return [int(i) for i in indices]
