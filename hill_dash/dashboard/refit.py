"""Re-fit the guided head's map: a fresh layout, in a background job (same manager as a chunk).

The engine's `loop.refit_map` makes a new layout of the guided head (UMAP takes
seconds), aligns the unguided head's map to it and records it in run.json ("refits").
It refuses while edits are pending (they were made on the current layout) or a chunk
trains; the page disables the button then and says why.
"""

from __future__ import annotations

import time

from hill_dash.dashboard.fork_safety import use_all_cores_in_job
from hill_dash.engine.errors import HillError


def refit_map_job(data_dir: str, run_id: str | None, method: str | None = None) -> dict:
    """Run `loop.refit_map`; returns {"ok", "message"} (errors become the message)."""
    from hill_dash.engine import loop
    from hill_dash.engine.store import RunStore

    if not run_id:
        return {"ok": False, "message": "No run yet: train chunk 0 first."}
    refit = getattr(loop, "refit_map", None)
    if refit is None:
        return {"ok": False, "message": "This engine has no map re-fit yet (loop.refit_map)."}
    use_all_cores_in_job()
    t0 = time.time()
    try:
        record = refit(RunStore(data_dir), run_id, method=method) or {}
    except HillError as exc:
        return {"ok": False, "message": str(exc)}
    seconds = time.time() - t0
    what = str(record.get("method") or method or "").upper()
    return {
        "ok": True,
        "message": f"Map re-fitted{' (' + what + ')' if what else ''} in {seconds:.1f} s. "
        'The re-fit is recorded in the run (run.json, "refits"); the map\'s coordinates '
        "changed, the model did not.",
    }


def refit_blocked(state: dict | None, training_here: bool) -> str:
    """Why Re-fit map is off ("" when it may run)."""
    state = state or {}
    if not state.get("trained"):
        return "Re-fit map needs a trained map (chunk 0)."
    if training_here or state.get("training"):
        return "Re-fit map waits: a chunk is training."
    if state.get("pending"):
        n = state["pending"]
        return (
            f"Re-fit map is off while {n} edit{'' if n == 1 else 's'} {'is' if n == 1 else 'are'} "
            "pending: they were made on this layout. Train the chunk or clear them first."
        )
    return ""
