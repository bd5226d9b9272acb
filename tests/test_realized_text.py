"""One wording of the realized share for the CLI, the dashboard and the report."""

from __future__ import annotations

from hill_dash.engine.realized_text import REALIZED_SPACES, pct, realized_text

ROW = {
    "edit": "e1",
    "kind": "translate",
    "latent": {"guided": 0.81, "counterfactual": None, "twin": 0.02},
    "map": {"guided": 0.784, "counterfactual": 0.03, "twin": -0.01},
    "fresh_map": {"guided": 0.7},
    "val_latent": {"guided": 0.65, "counterfactual": None, "twin": 0.0},
    "val_map": {"guided": None},
}


def test_every_number_names_its_space():
    assert realized_text(ROW) == (
        "on the map: moved 78 % of the way · counterfactual 3 % · unguided lineage -1 %"
        " (guided: latent 81 % · fresh map 70 % · validation points (latent) 65 %)"
    )
    assert realized_text(ROW, "fresh_map", others=False) == (
        "on a fresh map: moved 70 % of the way · unguided lineage –"
    )
    assert realized_text(ROW, "val_latent", others=False).startswith(
        "unedited validation points, latent space: moved 65 %"
    )


def test_the_verb_says_what_the_kind_asked_for():
    for kind, verb in (("pull", "pulled"), ("compact", "shrunk"), ("separate", "moved apart")):
        assert realized_text(ROW | {"kind": kind}, others=False).startswith(
            f"on the map: {verb} 78 % of the way"
        )
        assert realized_text(ROW, others=False, kind=kind).startswith(f"on the map: {verb} 78 %")
    assert realized_text(ROW | {"kind": "?"}, others=False).startswith("on the map: moved 78 %")


def test_missing_and_odd_values_read_as_a_dash():
    assert pct(None) == pct(float("nan")) == pct(True) == pct("x") == "–"
    assert realized_text({}, "latent") == "in latent space: moved – of the way · unguided lineage –"
    assert REALIZED_SPACES[:2] == ("latent", "map")


def test_the_cli_and_the_dashboard_say_it_the_same_way():
    from hill_dash import cli
    from hill_dash.dashboard import compare_view as CV
    from hill_dash.dashboard import history

    for kind in ("translate", "compact"):
        row = ROW | {"kind": kind}
        # the kind from the row, or (an older record) from the edit it measures
        for recorded in (row, {k: v for k, v in row.items() if k != "kind"}):
            chunk = {"edits": [{"id": "e1", "kind": kind, "indices": [1]}], "realized": [recorded]}
            (hrow,) = history.realized_edits(chunk)
            (crow,) = CV.realized_rows(chunk, [])
            for space in ("latent", "map"):
                expected = realized_text(row, space)
                assert history.realized_text(hrow, space) == expected
                assert CV.realized_text(crow, space) == expected
        assert cli.realized_text(row) == realized_text(row, "map")
