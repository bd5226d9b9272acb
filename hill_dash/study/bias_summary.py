"""What the paired bias signals said, per run and chunk, and how often over seeds.

The loop stores in every guided metrics record (`hill_dash.engine.bias`):

- "bias": per class, exact one-sided McNemar test of "guidance cost this class", against
  the unguided lineage, corrected over every class and every chunk of the lineage;
- "shifts": confusion cells (true B, predicted A) whose share went up, same test and
  correction ("true B predicted as A went up");
- "counterfactual": {"bias", "shifts"}: the same against the counterfactual chunk (this
  chunk's guided checkpoint trained on the same batches without the edits).

`flags_of_run` lists, per chunk and per reference, the flagged classes and cells.
`bias_summary` counts them over runs (seeds): per class and per cell, at the final chunk
and at any chunk, and for a merge (`merge-classes:A,B`) how many runs flagged exactly the
merged pair B → A. `bias_lines` renders that as Markdown.
"""

from __future__ import annotations

REFERENCES = ("twin", "counterfactual")  # keys of flags_of_run's chunks
REFERENCE_NAMES = {"twin": "unguided lineage", "counterfactual": "counterfactual chunk"}


def _signals(chunk: dict, reference: str) -> tuple[list[dict], list[dict]]:
    if reference == "twin":
        return chunk.get("bias") or [], chunk.get("shifts") or []
    cf = chunk.get("counterfactual") or {}
    return cf.get("bias") or [], cf.get("shifts") or []


def flags_of_run(run: dict) -> list[dict]:
    """Per chunk: {"chunk", "twin": {"classes", "cells"}, "counterfactual": {...}}.

    classes: flagged classes (sorted); cells: flagged (true, pred) pairs, smallest p first.
    A chunk without a counterfactual (no edits) has empty lists there.
    """
    out = []
    for ch in run["chunks"]:
        row = {"chunk": ch["chunk"]}
        for ref in REFERENCES:
            bias, shifts = _signals(ch, ref)
            row[ref] = {
                "classes": sorted(b["class"] for b in bias if b.get("flag")),
                "cells": [[s["true"], s["pred"]] for s in shifts if s.get("flag")],
            }
        out.append(row)
    return out


def bias_summary(runs: list[dict], n_classes: int, merged: tuple[int, int] | None = None) -> dict:
    """Flag counts over runs. `merged` = (A, B) for merge-classes:A,B (B pulled onto A).

    Per reference: class counts ("final", "any": runs in which the class was flagged at the
    final chunk / at any chunk), cell counts (dict "B->A": runs), runs with any flag at all,
    and for a merge: runs whose flagged cells include B → A, runs in which B → A is the
    only flagged cell, and runs in which class B is flagged.
    """
    per_run = [flags_of_run(r) for r in runs]
    touched = [0] * n_classes
    for r in runs:
        for c in {c for e in r["edits"] for c in (e.get("touched_classes") or [])}:
            touched[c] += 1
    out: dict = {"runs": len(runs), "touched": touched, "per_run": per_run}
    for ref in REFERENCES:
        final = [0] * n_classes
        any_chunk = [0] * n_classes
        cells_final: dict[str, int] = {}
        cells_any: dict[str, int] = {}
        flagged_runs = 0
        pair_any = pair_final = pair_only = b_flagged = 0
        for flags in per_run:
            if not flags:
                continue
            classes_any = {c for f in flags for c in f[ref]["classes"]}
            cells_any_run = {tuple(x) for f in flags for x in f[ref]["cells"]}
            last = flags[-1][ref]
            for c in last["classes"]:
                final[c] += 1
            for c in classes_any:
                any_chunk[c] += 1
            for t, p in {tuple(x) for x in last["cells"]}:
                cells_final[f"{t}->{p}"] = cells_final.get(f"{t}->{p}", 0) + 1
            for t, p in cells_any_run:
                cells_any[f"{t}->{p}"] = cells_any.get(f"{t}->{p}", 0) + 1
            flagged_runs += bool(classes_any or cells_any_run)
            if merged is not None:
                a, b = merged
                pair_any += (b, a) in cells_any_run
                pair_final += (b, a) in {tuple(x) for x in last["cells"]}
                pair_only += cells_any_run == {(b, a)}
                b_flagged += b in classes_any
        out[ref] = {
            "classes_final": final,
            "classes_any": any_chunk,
            "cells_final": dict(sorted(cells_final.items())),
            "cells_any": dict(sorted(cells_any.items())),
            "runs_with_any_flag": flagged_runs,
        }
        if merged is not None:
            out[ref]["merge"] = {
                "pair": f"{merged[1]}->{merged[0]}",
                "pair_any_chunk": pair_any,
                "pair_final_chunk": pair_final,
                "pair_only_flagged_cell": pair_only,
                "b_class_flagged": b_flagged,
            }
    return out


def merged_pair(spec: str) -> tuple[int, int] | None:
    """(A, B) of "merge-classes:A,B", else None."""
    if not spec.startswith("merge-classes:"):
        return None
    a, b = (int(c) for c in spec.partition(":")[2].split(","))
    return a, b


# -- markdown --------------------------------------------------------------------------


def _class_counts(counts: list[int], runs: int) -> str:
    return ", ".join(f"{c} ({k}/{runs})" for c, k in enumerate(counts) if k) or "none"


def _cell_counts(cells: dict[str, int], runs: int) -> str:
    ranked = sorted(cells.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{c} ({k}/{runs})" for c, k in ranked) or "none"


def bias_lines(summary: dict) -> list[str]:
    """The study.md section: flag counts per strategy and reference, then flags per run."""
    lines = [
        "",
        "## Bias signals (paired, corrected over classes and chunks)",
        "",
        "Per class: exact one-sided McNemar test on the validation points (guided vs the "
        "reference), flagged when the lineage-corrected p ≤ 0.05. Confusion shift B->A: "
        "'true B predicted as A went up', same test and correction. Counted over seeds "
        "(runs): at the final chunk / at any chunk. Touched = classes whose training points "
        "were edited.",
        "",
        "| strategy | reference | classes flagged (final) | classes flagged (any chunk) "
        "| shifts flagged (final) | shifts flagged (any chunk) | runs with any flag "
        "| touched in ≥ 1 seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec, s in summary.items():
        b = s["bias"]
        for ref in REFERENCES:
            r = b[ref]
            lines.append(
                f"| {spec} | {REFERENCE_NAMES[ref]}"
                f" | {_class_counts(r['classes_final'], b['runs'])}"
                f" | {_class_counts(r['classes_any'], b['runs'])}"
                f" | {_cell_counts(r['cells_final'], b['runs'])}"
                f" | {_cell_counts(r['cells_any'], b['runs'])}"
                f" | {r['runs_with_any_flag']}/{b['runs']}"
                f" | {', '.join(str(c) for c, k in enumerate(b['touched']) if k) or '–'} |"
            )
    for spec, s in summary.items():
        for ref in REFERENCES:
            m = s["bias"][ref].get("merge")
            if m:
                lines += [
                    "",
                    f"{spec} vs the {REFERENCE_NAMES[ref]}: the shift {m['pair']} is flagged in "
                    f"{m['pair_any_chunk']}/{s['bias']['runs']} runs at some chunk "
                    f"({m['pair_final_chunk']} at the final chunk; the only flagged shift in "
                    f"{m['pair_only_flagged_cell']}); class {m['pair'].split('->')[0]} is "
                    f"flagged in {m['b_class_flagged']}.",
                ]
    lines += [
        "",
        "### Flags per run and chunk",
        "",
        "Each cell: flagged classes | flagged shifts, against the unguided lineage; then "
        "against the counterfactual chunk after '//' ('·' = none).",
        "",
    ]
    n_chunks = max((len(p) for s in summary.values() for p in s["bias"]["per_run"]), default=0)
    lines += [
        "| strategy | seed | " + " | ".join(f"chunk {k + 1}" for k in range(n_chunks)) + " |",
        "|---|---|" + "---|" * n_chunks,
    ]
    for spec, s in summary.items():
        for seed, flags in zip(s["seeds"], s["bias"]["per_run"], strict=True):
            cells = [" // ".join(_flag_text(f[ref]) for ref in REFERENCES) for f in flags]
            lines.append(f"| {spec} | {seed} | " + " | ".join(cells) + " |")
    return lines


def _flag_text(f: dict) -> str:
    classes = ",".join(str(c) for c in f["classes"]) or "·"
    cells = ",".join(f"{t}->{p}" for t, p in f["cells"]) or "·"
    return f"{classes} \\| {cells}"
