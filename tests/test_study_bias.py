"""The study's bias summary reads the loop's paired flags per run and chunk and counts them."""

from hill_dash.study.bias_summary import bias_lines, bias_summary, flags_of_run, merged_pair


def _cls(flagged: set[int]) -> list[dict]:
    return [{"class": c, "flag": c in flagged} for c in range(10)]


def _shift(cells: list[tuple[int, int]], quiet: tuple[int, int] = (1, 7)) -> list[dict]:
    rows = [{"true": t, "pred": p, "flag": True} for t, p in cells]
    return rows + [{"true": quiet[0], "pred": quiet[1], "flag": False}]


def _run(chunks, touched=(8,)) -> dict:
    out = []
    for k, (cls, cells, cf_cls, cf_cells) in enumerate(chunks, start=1):
        cf = None if cf_cls is None else {"bias": _cls(cf_cls), "shifts": _shift(cf_cells)}
        out.append({"chunk": k, "bias": _cls(cls), "shifts": _shift(cells), "counterfactual": cf})
    return {"chunks": out, "edits": [{"touched_classes": list(touched)}]}


RUNS = [
    _run([({8}, [(8, 3)], {8}, [(8, 3)]), ({8}, [(8, 3)], set(), [])]),
    _run([(set(), [], None, []), ({8, 1}, [(8, 3), (1, 7)], {8}, [(8, 3)])]),
    _run([(set(), [(2, 5)], set(), []), (set(), [], set(), [])]),
]


def test_flags_of_run_lists_flagged_classes_and_cells_per_chunk_and_reference():
    f = flags_of_run(RUNS[1])
    assert f[0] == {
        "chunk": 1,
        "twin": {"classes": [], "cells": []},
        "counterfactual": {"classes": [], "cells": []},  # no counterfactual: nothing flagged
    }
    assert f[1]["twin"] == {"classes": [1, 8], "cells": [[8, 3], [1, 7]]}
    assert f[1]["counterfactual"] == {"classes": [8], "cells": [[8, 3]]}


def test_bias_summary_counts_runs_and_names_the_merged_pair():
    s = bias_summary(RUNS, 10, merged=(3, 8))
    tw, cf = s["twin"], s["counterfactual"]
    assert tw["classes_final"][8] == 2 and tw["classes_final"][1] == 1
    assert tw["classes_any"][8] == 2
    assert tw["cells_final"] == {"1->7": 1, "8->3": 2}
    assert tw["cells_any"] == {"1->7": 1, "2->5": 1, "8->3": 2}
    assert tw["runs_with_any_flag"] == 3
    assert tw["merge"] == {
        "pair": "8->3",
        "pair_any_chunk": 2,
        "pair_final_chunk": 2,
        "pair_only_flagged_cell": 1,  # run 1 also flagged 1->7
        "b_class_flagged": 2,
    }
    assert cf["merge"]["pair_any_chunk"] == 2 and cf["merge"]["pair_final_chunk"] == 1
    assert cf["runs_with_any_flag"] == 2
    assert s["touched"][8] == 3 and sum(s["touched"]) == 3


def test_bias_lines_render_counts_and_every_run():
    summary = {
        "merge-classes:3,8": {"bias": bias_summary(RUNS, 10, (3, 8)), "seeds": [0, 1, 2]},
        "random": {"bias": bias_summary(RUNS[2:], 10), "seeds": [0]},
    }
    text = "\n".join(bias_lines(summary))
    assert "| merge-classes:3,8 | unguided lineage | 1 (1/3), 8 (2/3) |" in text
    assert "the shift 8->3 is flagged in 2/3 runs" in text
    assert "| random | 0 | · \\| 2->5 // · \\| · | · \\| · // · \\| · |" in text
    assert merged_pair("merge-classes:3,8") == (3, 8) and merged_pair("random") is None
