"""A small session object a notebook user can drive, and the dashboard's read side.

s = Session.new("digits", model="mlp")      # stores the run, trains chunk 0
sel = s.select_box(x0, x1, y0, y1)          # map point indices
s.pull_to_class(sel, 3)
s.train_chunk()                             # guided chunk + unguided twin
s.compare()                                 # guided vs twin, per metric
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hill_dash.engine import loop
from hill_dash.engine.data import Dataset, load_dataset
from hill_dash.engine.models import ModelConfig
from hill_dash.engine.store import RunStore
from hill_dash.engine.teacher import Edit
from hill_dash.engine.training import ChunkConfig


@dataclass
class MapView:
    """What the map of one checkpoint shows, read from the store."""

    checkpoint: str
    coords: np.ndarray  # (n, 2)
    labels: np.ndarray  # (n,)
    pred: np.ndarray  # (n,)
    split: np.ndarray  # (n,) "train" | "val" (the locked test split is never on a map view)


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
        """Train the next chunk (guided + twin); returns the chunk's record."""
        return loop.run_chunk(self.store, self.run_id, progress=progress, overrides=overrides)

    def map(self, lineage: str = "guided") -> MapView:
        """The head's map: "guided", or "twin" (the unguided lineage). The locked test split
        is not on it: only training and validation points (in that order)."""
        ck = self.run["heads"][lineage]
        arrays = self.store.load_arrays(self.run_id, ck)
        shown = len(self.data.y_train) + len(self.data.y_val)
        return MapView(
            ck,
            arrays["coords"][:shown],
            self.data.all_y()[:shown],
            arrays["logits"][:shown].argmax(1),
            self.data.split_array()[:shown],
        )

    # -- selection and edits ------------------------------------------------
    def select_box(self, x0: float, x1: float, y0: float, y1: float) -> list[int]:
        c = self.map().coords
        inside = (c[:, 0] >= min(x0, x1)) & (c[:, 0] <= max(x0, x1))
        inside &= (c[:, 1] >= min(y0, y1)) & (c[:, 1] <= max(y0, y1))
        return np.flatnonzero(inside).tolist()

    def select_class(self, c: int, split: str = "train") -> list[int]:
        m = self.map()
        return np.flatnonzero((m.labels == c) & (m.split == split)).tolist()

    def edit(self, edit: Edit) -> dict:
        return loop.add_edit(self.store, self.run_id, edit)

    def translate(self, indices: list[int], dx: float, dy: float) -> dict:
        return self.edit(Edit("translate", _ints(indices), dx=float(dx), dy=float(dy)))

    def pull_to_class(self, indices: list[int], c: int, alpha: float = 1.0) -> dict:
        return self.edit(Edit("pull", _ints(indices), target_class=int(c), alpha=float(alpha)))

    def compact(self, indices: list[int], beta: float = 0.5) -> dict:
        return self.edit(Edit("compact", _ints(indices), beta=float(beta)))

    def separate(self, indices: list[int], other: list[int], gamma: float = 1.0) -> dict:
        return self.edit(Edit("separate", _ints(indices), other=_ints(other), gamma=float(gamma)))

    def undo(self) -> None:
        loop.undo_edit(self.store, self.run_id)

    def redo(self) -> None:
        loop.redo_edit(self.store, self.run_id)

    # -- results ------------------------------------------------------------
    def history(self) -> list[dict]:
        """Per chunk: the guided and twin metrics records."""
        run = self.run
        recs = self.store.metrics(self.run_id, run)
        return [
            {"chunk": ch["index"], "guided": recs.get(ch["guided"]), "twin": recs.get(ch["twin"])}
            for ch in run["chunks"]
        ]

    def compare(self) -> dict:
        """The latest chunk: guided against the unguided lineage ("twin": same start, same
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
                "twin": u["val"]["acc"],
                "delta": g["val"]["acc"] - u["val"]["acc"],
            },
            "gap": {"guided": g["gap"], "twin": u["gap"], "delta": g["gap"] - u["gap"]},
            "realized": chunk.get("realized", []),
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
        return out

    def refit_map(self, method: str | None = None) -> dict:
        """A fresh layout of the heads' maps (recorded in the run); no pending edits allowed."""
        return loop.refit_map(self.store, self.run_id, method)

    def reveal_test(self) -> dict:
        return loop.reveal_test(self.store, self.run_id)


def _ints(indices) -> list[int]:
    """Point indices as plain ints (numpy arrays and lists alike)."""
    return [int(i) for i in indices]
