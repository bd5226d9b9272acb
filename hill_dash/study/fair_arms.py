"""The fair study's arms: which a user gets, and the edits each makes of the user's input.

The names (`ARMS_BY_USER`, `PRIMARY_ARM`, ...) are shared by the study (`fair`) and its
report (`fair_report`), which import them from here without importing each other.
`ArmEdits` turns the scripted user's log (what it read, what it selected) into one arm's
edits, chunk by chunk; `dfr` is the arm that refits a last layer after the fact.
"""

from __future__ import annotations

import numpy as np

from hill_dash.engine.edits import MAX_WEIGHT, Edit

LATENT_ARMS = ("latent", "latent+kd", "kd-only")
DIRECT_ARMS = ("relabel", "upweight", "dfr", "queue")
ARMS_BY_USER = {
    "inspect-and-pull": (
        "latent",
        "latent+kd",
        "kd-only",
        "relabel",
        "upweight",
        "dfr",
        "random",
        "queue",
    ),
    "group-without-names": ("shape", "pseudo-label", "queue"),
}
PRIMARY_ARM = {"inspect-and-pull": "latent", "group-without-names": "shape"}
# chunk overrides of the arms that train the user's latent edits (the run: λ 1, kd 0)
OVERRIDES = {
    "latent": {},
    "latent+kd": {"kd_weight": 1.0},
    "kd-only": {"lam": 0.0, "anchor": 0.0, "kd_weight": 1.0},
    "shape": {},
    "random": {},
}


# -- the human input, as each arm uses it ---------------------------------------------


def selections(entry: dict) -> list[tuple[list[int], int]]:
    """(indices, class) of the pulls of one chunk of an `InspectAndPull` log."""
    return [(list(p["indices"]), int(p["target"])) for p in entry.get("pulls", [])]


def reads_of(entry: dict) -> dict[int, int]:
    return {int(i): int(c) for i, c in entry.get("inspected", []) if c is not None and c >= 0}


def gestures(entry: dict) -> int:
    return (
        len(entry.get("pulls", []))
        + len(entry.get("compacts", []))
        + len(entry.get("separates", []))
    )


# -- one arm's edits ------------------------------------------------------------------


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


class ArmEdits:
    """Turns the user's log into one arm's edits, chunk by chunk (k = 1, 2, ...)."""

    def __init__(self, arm: str, data, log: list[dict], rng: np.random.Generator):
        self.arm, self.data, self.log, self.rng = arm, data, log, rng
        self.n_train = len(data.y_train)
        self.truth = data.y_train_true if data.y_train_true is not None else data.y_train
        self.queue_read: set[int] = set()
        self.marked: set[int] = set()
        self.labels = np.array(data.y_train, dtype=np.int64)  # labels after relabels so far

    def __call__(self, k: int, logits: np.ndarray) -> tuple[list[Edit], dict]:
        entry = self.log[k - 1]
        fn = getattr(self, "_" + self.arm.replace("+", "_").replace("-", "_"))
        return fn(entry, logits)

    def _train_only(self, idx) -> list[int]:
        return sorted({int(i) for i in idx if int(i) < self.n_train})

    def _pulls(self, entry, logits):
        edits = [Edit("pull", sorted(i), target_class=c) for i, c in selections(entry)]
        return edits, {"gestures": gestures(entry), "thumbnails": len(entry["inspected"])}

    _latent = _latent_kd = _kd_only = _pulls

    def _relabels(self, entry) -> list[Edit]:
        """Relabel edits: each pulled group to its class, each read point to its read."""
        edits = []
        reads = reads_of(entry)
        for idx, c in selections(entry):
            idx = [i for i in self._train_only(idx) if i not in reads]
            if idx:
                edits.append(Edit("relabel", idx, target_class=c))
                self.labels[idx] = c
                self.marked.update(idx)
        by_class: dict[int, list[int]] = {}
        for i, c in reads.items():
            if i < self.n_train:
                by_class.setdefault(c, []).append(i)
        for c, idx in sorted(by_class.items()):
            edits.append(Edit("relabel", sorted(idx), target_class=c))
            self.labels[idx] = c
            self.marked.update(idx)
        return edits

    def _relabel(self, entry, logits):
        return self._relabels(entry), {
            "gestures": gestures(entry),
            "thumbnails": len(entry["inspected"]),
        }

    def _upweight(self, entry, logits):
        edits = self._relabels(entry)
        if self.marked:
            marked = sorted(self.marked)
            others = int(np.sum(self.labels >= 0)) - len(marked)
            w = float(np.clip(others / len(marked), 1.0, MAX_WEIGHT))
            edits.append(Edit("weight", marked, weight=w))
        return edits, {"gestures": gestures(entry), "thumbnails": len(entry["inspected"])}

    def _random(self, entry, logits):
        """Groups of the user's sizes: random training points shown as a random class c,
        pulled to c (their shown label). A group never takes every point of c: a pull
        needs one outside the selection to pull toward (few labels: a class may have
        fewer points than the user's group)."""
        y = self.data.y_train
        used: set[int] = set()
        edits = []
        for idx, _ in selections(entry):
            size = len(self._train_only(idx))
            c = int(self.rng.integers(self.data.n_classes))
            members = np.flatnonzero(y == c)
            pool = np.array([i for i in members if int(i) not in used])
            k = min(size, len(pool), len(members) - 1)
            if k <= 0:
                continue
            pick = self.rng.choice(pool, size=k, replace=False)
            used.update(int(i) for i in pick)
            edits.append(Edit("pull", sorted(int(i) for i in pick), target_class=c))
        return edits, {"gestures": gestures(entry), "thumbnails": 0}

    def _queue(self, entry, logits):
        """Per-sample labelling: read the k least-confident training points of this arm's
        head not read before (k = the user's thumbnails this chunk), relabel them."""
        k = len(entry["inspected"])
        conf = _softmax(np.asarray(logits[: self.n_train], dtype=np.float64)).max(1)
        order = [int(i) for i in np.argsort(conf, kind="stable") if int(i) not in self.queue_read]
        pick = order[:k]
        self.queue_read.update(pick)
        by_class: dict[int, list[int]] = {}
        for i in pick:
            by_class.setdefault(int(self.truth[i]), []).append(i)  # the thumbnail, read
        edits = [Edit("relabel", sorted(idx), target_class=c) for c, idx in by_class.items()]
        return edits, {"gestures": len(pick), "thumbnails": len(pick)}

    def _pseudo_label(self, entry, logits):
        """The user's selections (compacts; each half of a separate) relabelled to the
        head's majority prediction on them: the label-free use of the same selection."""
        pred = np.asarray(logits[: self.n_train]).argmax(1)
        groups = [list(c) for c in entry.get("compacts", [])]
        for a, b in entry.get("separates", []):
            groups += [list(a), list(b)]
        edits = []
        for idx in groups:
            idx = self._train_only(idx)
            if idx:
                c = int(np.bincount(pred[idx], minlength=self.data.n_classes).argmax())
                edits.append(Edit("relabel", idx, target_class=c))
        return edits, {"gestures": gestures(entry), "thumbnails": len(entry["inspected"])}


def dfr(data, Z: np.ndarray, log: list[dict]) -> dict:
    """Last layer refitted on the unguided encoder's latents: every labelled training point
    (labels as the `relabel` arm leaves them), groups = (class, selected by the user),
    each group weighing the same in total."""
    from sklearn.linear_model import LogisticRegression

    n = len(data.y_train)
    y = np.array(data.y_train, dtype=np.int64)
    selected = np.zeros(n, bool)
    for entry in log:
        reads = reads_of(entry)
        for idx, c in selections(entry):
            idx = [i for i in idx if i < n and i not in reads]
            y[idx] = c
            selected[idx] = True
        for i, c in reads.items():
            if i < n:
                y[i] = c
                selected[i] = True
    rows = np.flatnonzero(y >= 0)
    groups = y[rows] * 2 + selected[rows]
    w = np.zeros(len(rows))
    for g in np.unique(groups):
        w[groups == g] = 1.0 / np.sum(groups == g)
    w *= len(rows) / w.sum()
    F = np.maximum(Z.astype(np.float64), 0.0)
    clf = LogisticRegression(C=1.0, max_iter=3000)
    clf.fit(F[rows], y[rows], sample_weight=w)
    logits = np.full((len(F), data.n_classes), -1e9)
    logits[:, clf.classes_] = clf.predict_log_proba(F)
    return {"logits": logits, "fitted_on": int(len(rows)), "selected": int(selected.sum())}
