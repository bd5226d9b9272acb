"""The pending edits of a run: added on the guided head's map, undone, redone, cleared.

Edits wait in run.json's "pending" list, stamped with the head they were made on ("on"),
until a chunk uses them as its teacher. Each is checked completely when it is added
(indices against the run's map, the class against its classes), so a stored edit can
never fail later, when a chunk starts.

The edits of one Apply (a Pull and a Relabel of one selection) share a "group" id: the
edit list shows them as one step, and undo and redo move the whole group.
"""

from __future__ import annotations

import uuid

from hill_dash.engine.edits import Edit
from hill_dash.engine.errors import StoreError
from hill_dash.engine.store import RunStore


def guided_head(run: dict) -> str | None:
    """The checkpoint the Loop map shows and new edits are made on: the arriving chunk's
    guided checkpoint while its references train, else the guided head."""
    arriving = run.get("arriving")
    if arriving:
        return arriving["guided"]
    return (run.get("heads") or {}).get("guided")


def edits_closed(store: RunStore, run_id: str, run: dict) -> bool:
    """Whether a chunk is training its guided lineage: edits wait for its map. While a
    chunk's references train (`arriving`) its guided map is final and takes edits."""
    return store.lock_holder(run_id) is not None and not run.get("arriving")


def roll_back_arriving(store: RunStore, run_id: str, lease=None) -> None:
    """Forget a chunk that showed its guided map but was never recorded: its edits are
    pending again; edits made on the arriving map are set aside in `stale_edits` (their
    map is gone), named, never silently lost."""

    def change(r: dict) -> None:
        arriving = r.pop("arriving", None)
        if not arriving:
            return
        made_on_it = [e for e in r.get("pending", []) if e.get("on") == arriving["guided"]]
        rest = [e for e in r.get("pending", []) if e.get("on") != arriving["guided"]]
        r.setdefault("stale_edits", []).extend(made_on_it)
        r["pending"] = list(arriving.get("edits", [])) + rest

    store.update_run(run_id, change, lease=lease)


def add_edit(store: RunStore, run_id: str, edit: Edit) -> dict:
    """Append a pending edit made on the guided head's map; clears redo."""
    return add_edits(store, run_id, [edit])[0]


def add_edits(store: RunStore, run_id: str, edits: list[Edit]) -> list[dict]:
    """Append the edits of one Apply, as one step (one group) when there are several."""
    group = uuid.uuid4().hex[:10] if len(edits) > 1 else None
    records = [
        e.to_dict() | {"id": uuid.uuid4().hex[:10]} | ({"group": group} if group else {})
        for e in edits
    ]

    def change(r: dict) -> None:
        # checked under run.json's lock, which a chunk also takes to read its edits after
        # it took the training lock: the edit is either read by the chunk or refused here,
        # never stamped with a head that is about to be replaced and left untrained
        if edits_closed(store, run_id, r):
            raise StoreError(
                f"run {run_id!r}: a chunk is training; make the edit when its guided map is "
                "shown (it would be made on a head that is about to be replaced)"
            )
        if not r["heads"]:
            raise StoreError(f"run {run_id!r}: train a first chunk before editing")
        n_all = sum(r["sizes"].values())
        for record in records:
            Edit.from_dict(
                record,
                n_all,
                n_classes=r["config"]["model"]["n_classes"],
                n_train=r["sizes"]["train"],
            )
            record["on"] = guided_head(r)
        r["pending"].extend(records)
        r["redo"] = []

    store.update_run(run_id, change)
    return records


def _move_step(src: list, dst: list) -> None:
    """Move the last step of `src` (one edit, or every edit of its group) onto `dst`."""
    if not src:
        return
    group = src[-1].get("group")
    while src:
        dst.append(src.pop())
        if not group or not src or src[-1].get("group") != group:
            return


def undo_edit(store: RunStore, run_id: str) -> dict:
    def change(r: dict) -> None:
        _move_step(r["pending"], r["redo"])

    return store.update_run(run_id, change)


def redo_edit(store: RunStore, run_id: str) -> dict:
    def change(r: dict) -> None:
        _move_step(r["redo"], r["pending"])

    return store.update_run(run_id, change)


def clear_edits(store: RunStore, run_id: str) -> dict:
    def change(r: dict) -> None:
        r["redo"].extend(reversed(r["pending"]))
        r["pending"] = []

    return store.update_run(run_id, change)
