"""An edit is validated fully when it is added (issue 9, defect 7).

A pending edit that only fails when the next chunk builds its teacher blocks every
later chunk of the run. So `loop.add_edit` must refuse it at once, with a message
that names the field, and store nothing.
"""

from __future__ import annotations

import pytest

from hill_dash.engine import loop
from hill_dash.engine.errors import StoreError
from hill_dash.engine.teacher import Edit


def test_a_pull_to_a_class_the_run_does_not_have_is_refused_at_add_time(run_copy):
    store, run_id = run_copy
    run_json = store.run_dir(run_id) / "run.json"
    before = run_json.read_bytes()
    assert store.load_run(run_id)["config"]["model"]["n_classes"] == 10
    with pytest.raises(StoreError, match=r"target_class: 99 .*0\.\.9"):
        loop.add_edit(store, run_id, Edit("pull", [0, 1, 2], target_class=99))
    assert run_json.read_bytes() == before  # nothing stored, no pending edit, redo kept
    assert store.load_run(run_id)["pending"] == []


def test_a_valid_pull_is_still_accepted(run_copy):
    store, run_id = run_copy
    rec = loop.add_edit(store, run_id, Edit("pull", [0, 1, 2], target_class=9))
    assert store.load_run(run_id)["pending"] == [rec]
