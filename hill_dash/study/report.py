"""The study's report: summary statistics over seeds, study.json, study.md and the plots.

`summarize` turns the per-seed numbers of `hill_dash.study.runner.run_study` into, per
strategy: paired differences guided − twin over seeds (mean and a 95 % t
interval), guided(strategy) − guided(random) for the same budget spent at
random, accuracy curves with 95 % bands, per-class validation deltas, bias-flag
counts (`hill_dash.study.bias_summary`) and what a merge did to the merged class.
`write_report` writes study.json, the PNGs and study.md; `rewrite_report` re-summarises
a stored study.json without training again.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

from hill_dash.engine.durable import atomic_write_json
from hill_dash.study.bias_summary import bias_lines, bias_summary, merged_pair
from hill_dash.study.config import CONTROL, StudyConfig
from hill_dash.study.realized_summary import realized_summary, realized_text

# -- statistics ------------------------------------------------------------------------


def paired_summary(diffs: list[float], level: float = 0.95) -> dict:
    """Mean of paired differences with a two-sided t interval (None when n < 2)."""
    d = np.asarray([x for x in diffs if x is not None and math.isfinite(x)], dtype=np.float64)
    n = len(d)
    out = {
        "n": n,
        "mean": float(d.mean()) if n else None,
        "sd": None,
        "ci_low": None,
        "ci_high": None,
        "positive": int((d > 0).sum()),
        "negative": int((d < 0).sum()),
        "ties": int((d == 0).sum()),
    }
    if n >= 2:
        low, high = _t_interval(d, level)
        out |= {"sd": float(d.std(ddof=1)), "ci_low": float(low), "ci_high": float(high)}
    return out


def _t_interval(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """The t interval of the mean over axis 0 (`scipy.stats.ttest_1samp`); a column
    without spread gets the point interval [mean, mean]."""
    with warnings.catch_warnings():  # constant data: scipy warns, the interval is still exact
        warnings.simplefilter("ignore", RuntimeWarning)
        ci = stats.ttest_1samp(values, 0.0, axis=0).confidence_interval(confidence_level=level)
    mean = values.mean(axis=0)
    flat = values.std(axis=0) == 0
    return np.where(flat, mean, ci.low), np.where(flat, mean, ci.high)


def _mean_band(values: np.ndarray, level: float = 0.95) -> tuple[list, list, list]:
    """Per column: mean and the t interval of the mean (rows are seeds)."""
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        return mean.tolist(), mean.tolist(), mean.tolist()
    low, high = _t_interval(values, level)
    return mean.tolist(), np.asarray(low).tolist(), np.asarray(high).tolist()


def summarize(cfg: StudyConfig, seeds: list[dict]) -> dict:
    """Per strategy: final numbers, paired differences, curves, per-class deltas, bias flags."""
    out = {}
    for spec in cfg.strategies:
        runs = [s["strategies"][spec] for s in seeds]
        final = [r["chunks"][-1] for r in runs]
        per_seed = []
        for s, r, f in zip(seeds, runs, final, strict=True):
            per_seed.append(
                {
                    "seed": s["seed"],
                    "guided_val": f["guided"]["val_acc"],
                    "twin_val": f["twin"]["val_acc"],
                    "guided_test": r["test"]["guided"]["acc"],
                    "twin_test": r["test"]["twin"]["acc"],
                    "guided_gap": f["guided"]["gap"],
                    "twin_gap": f["twin"]["gap"],
                }
            )
        diff = {
            m: paired_summary([p[f"guided_{m}"] - p[f"twin_{m}"] for p in per_seed])
            for m in ("val", "test", "gap")
        }
        curves = {}
        for lin in ("guided", "twin"):
            vals = np.array(
                [
                    [s["c0"]["val_acc"]] + [c[lin]["val_acc"] for c in r["chunks"]]
                    for s, r in zip(seeds, runs, strict=True)
                ]
            )
            curves[lin] = dict(zip(("mean", "low", "high"), _mean_band(vals), strict=True))
        delta = np.array(
            [[g["guided"]["val_acc"] - g["twin"]["val_acc"] for g in r["chunks"]] for r in runs]
        )
        curves["delta"] = dict(zip(("mean", "low", "high"), _mean_band(delta), strict=True))
        n_classes = len(final[0]["guided"]["val_per_class"])
        per_class = []
        for c in range(n_classes):
            ds = [f["guided"]["val_per_class"][c] - f["twin"]["val_per_class"][c] for f in final]
            per_class.append({"class": c, **paired_summary(ds)})
        out[spec] = {
            "per_seed": per_seed,
            "guided": {
                m: float(np.mean([p[f"guided_{m}"] for p in per_seed]))
                for m in ("val", "test", "gap")
            },
            "twin": {
                m: float(np.mean([p[f"twin_{m}"] for p in per_seed]))
                for m in ("val", "test", "gap")
            },
            "diff": diff,
            "curves": curves,
            "per_class_delta": per_class,
            "seeds": [s["seed"] for s in seeds],
            "bias": bias_summary(runs, n_classes, merged_pair(spec)),
            "edits": _edit_summary(runs),
            "realized": realized_summary(runs),
        }
        if spec.startswith("merge-classes:"):
            a, b = (int(c) for c in spec.partition(":")[2].split(","))
            out[spec]["merge"] = _merge_summary(runs, a, b)
    if CONTROL in out:
        for spec in cfg.strategies:
            out[spec]["vs_random"] = {
                m: paired_summary(
                    [
                        p[f"guided_{m}"] - q[f"guided_{m}"]
                        for p, q in zip(
                            out[spec]["per_seed"], out[CONTROL]["per_seed"], strict=True
                        )
                    ]
                )
                for m in ("val", "test")
            }
    return out


def _rate(confusion: list[list[int]], true: int, pred: int) -> float:
    row = confusion[true]
    return row[pred] / max(sum(row), 1)


def _merge_summary(runs: list[dict], a: int, b: int) -> dict:
    """What merging B into A did to B: its accuracy and the share of B predicted as A.

    Paired guided − twin over seeds at the final chunk: validation, test (final
    heads) and, for the accuracy on B, the training points (where the pulled points are).
    """
    out = {"a": a, "b": b}
    for split in ("val", "test"):
        if split == "val":
            g = [r["chunks"][-1]["guided"]["val_confusion"] for r in runs]
            u = [r["chunks"][-1]["twin"]["val_confusion"] for r in runs]
        else:
            g = [r["test"]["guided"]["confusion"] for r in runs]
            u = [r["test"]["twin"]["confusion"] for r in runs]
        pairs = list(zip(g, u, strict=True))
        out[f"{split}_b_as_a"] = {
            "guided": float(np.mean([_rate(c, b, a) for c in g])),
            "twin": float(np.mean([_rate(c, b, a) for c in u])),
            "diff": paired_summary([_rate(x, b, a) - _rate(y, b, a) for x, y in pairs]),
        }
        out[f"{split}_b_acc"] = {
            "diff": paired_summary([_rate(x, b, b) - _rate(y, b, b) for x, y in pairs])
        }
    last = [r["chunks"][-1] for r in runs]
    out["train_b_acc"] = {
        "diff": paired_summary(
            [c["guided"]["train_per_class"][b] - c["twin"]["train_per_class"][b] for c in last]
        )
    }
    return out


def _edit_summary(runs: list[dict]) -> dict:
    logs = [e for r in runs for e in r["edits"]]
    return {
        "mean_points": float(np.mean([e["points"] for e in logs])),
        "budget": int(max(e["budget"] for e in logs)),
        "mean_edits": float(np.mean([e["edits"] for e in logs])),
        "relabels": float(np.mean([e["relabels"] or 0 for e in logs])),
        "kinds": sorted({k for e in logs for k in e["kinds"]}),
    }


def twins_agree(cfg: StudyConfig, seeds: list[dict]) -> bool:
    """The twin lineage never sees edits, so it must be identical across strategies per seed."""
    for s in seeds:
        accs = {
            tuple(c["twin"]["val_acc"] for c in s["strategies"][spec]["chunks"])
            for spec in cfg.strategies
        }
        if len(accs) != 1:
            return False
    return True


# -- files -----------------------------------------------------------------------------


def write_report(study: dict, out_dir: str | Path) -> None:
    """study.json, the PNGs and study.md into `out_dir`."""
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "study.json", study, compact=True)
    plots = write_plots(study, out_dir)
    (out_dir / "study.md").write_text(render_markdown(study, plots))


def rewrite_report(out_dir: str | Path) -> dict:
    """Re-summarise a stored study.json (its per-seed numbers) and rewrite the report."""
    path = Path(out_dir) / "study.json"
    study = json.loads(path.read_text())
    cfg = StudyConfig(**study["config"])
    study["summary"] = summarize(cfg, study["seeds"])
    study["twins_identical_across_strategies"] = twins_agree(cfg, study["seeds"])
    write_report(study, out_dir)
    return study


# -- markdown --------------------------------------------------------------------------


def _pct(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "–"
    v = round(100 * x, 1) + 0.0  # no "-0.0"
    return f"{v:+.1f}" if signed else f"{v:.1f}"


def _ci(d: dict) -> str:
    if d["mean"] is None:
        return "–"
    if d["ci_low"] is None:
        return f"{_pct(d['mean'], True)}"
    return f"{_pct(d['mean'], True)} [{_pct(d['ci_low'], True)}, {_pct(d['ci_high'], True)}]"


def verdict(d: dict) -> str:
    """'helps' / 'hurts' when the 95 % interval excludes 0, else 'no clear effect'."""
    if d["ci_low"] is None:
        return "too few seeds"
    if d["ci_low"] > 0:
        return "helps"
    if d["ci_high"] < 0:
        return "hurts"
    return "no clear effect"


def render_markdown(study: dict, plots: dict[str, str]) -> str:
    cfg, ds, summ = study["config"], study["dataset"], study["summary"]
    n = cfg["seeds"]
    lines = [
        f"# Study: scripted users on {ds['name']} ({cfg['model'] or 'default model'})",
        "",
        f"{n} seeds ({cfg['first_seed']}..{cfg['first_seed'] + n - 1}; a seed fixes the split, "
        f"the initial weights and the batch orders), chunk 0 unguided, then {cfg['chunks']} "
        f"guided chunks of {cfg['epochs']} epochs (batch {cfg['batch_size']}, λ = {cfg['lam']}, "
        f"output distillation weight {cfg.get('kd_weight', 0.0)}), "
        f"each paired with its unguided twin. Edit budget: {_pct(cfg['budget'])} % of the "
        f"{ds['n_train']} training points per chunk for every strategy. Projection: "
        f"{cfg['projection']}. Validation {ds['n_val']}, test {ds['n_test']} points; test read "
        "once per run at the end through `loop.reveal_test`.",
        "",
        "Accuracies in %. Δ = guided − twin, paired per seed: mean [95 % t interval]. "
        "Δ vs random = guided(strategy) − guided(random), same budget.",
        "",
        "| strategy | guided val | twin val | Δ val | Δ test | Δ gap | Δ val vs random | "
        "wins/losses/ties (val) | verdict (val) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for spec, s in summ.items():
        vr = s.get("vs_random", {}).get("val")
        vr_text = "–" if spec == CONTROL or vr is None else _ci(vr)
        lines.append(
            f"| {spec} | {_pct(s['guided']['val'])} | {_pct(s['twin']['val'])} | "
            f"{_ci(s['diff']['val'])} | {_ci(s['diff']['test'])} | {_ci(s['diff']['gap'])} | "
            f"{vr_text} | {s['diff']['val']['positive']}/{s['diff']['val']['negative']}/"
            f"{s['diff']['val']['ties']} | "
            f"{verdict(s['diff']['val'])} |"
        )
    lines += bias_lines(summ)
    for spec, s in summ.items():
        if "merge" in s:
            lines += _merge_lines(spec, s["merge"])
    lines += [
        "",
        "## Per-class validation Δ (guided − twin, final chunk, mean over seeds)",
        "",
        "| strategy | " + " | ".join(str(c) for c in range(ds["n_classes"])) + " |",
        "|---|" + "---|" * ds["n_classes"],
    ]
    for spec, s in summ.items():
        lines.append(
            f"| {spec} | " + " | ".join(_pct(p["mean"], True) for p in s["per_class_delta"]) + " |"
        )
    lines += [
        "",
        "## Edits per chunk",
        "",
        "Realized share: median over every edit of every run and chunk, on the map "
        "(1 = all of the requested change relative to the rest, 0 = none).",
        "",
        "| strategy | points (budget) | edits | relabels | kinds | realized on the map |",
        "|---|---|---|---|---|---|",
    ]
    for spec, s in summ.items():
        e = s["edits"]
        lines.append(
            f"| {spec} | {e['mean_points']:.0f} ({e['budget']}) | {e['mean_edits']:.1f} "
            f"| {e['relabels']:.0f} | {', '.join(e['kinds'])} | {realized_text(s['realized'])} |"
        )
    lines += ["", "## Plots", ""] + [f"![{k}]({v})" for k, v in plots.items()]
    m = study["machine"]
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        study["command"] or "(called from Python)",
        "```",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"torch {m['torch']}; {study['seconds'] / 60:.1f} min. Twins identical across "
        f"strategies (sanity check): {study['twins_identical_across_strategies']}.",
        "",
    ]
    return "\n".join(lines)


def _merge_lines(spec: str, m: dict) -> list[str]:
    a, b = m["a"], m["b"]
    lines = [
        "",
        f"### {spec}: class {b} pulled onto class {a}",
        "",
        f"Paired guided − twin over seeds at the final chunk, on the points of class {b}:",
        "",
        "| measure | guided | twin | Δ [95 % CI] |",
        "|---|---|---|---|",
    ]
    for split in ("val", "test"):
        x = m[f"{split}_b_as_a"]
        lines.append(
            f"| {split}: share of {b} predicted as {a} | {_pct(x['guided'])} | "
            f"{_pct(x['twin'])} | {_ci(x['diff'])} |"
        )
        lines.append(f"| {split}: accuracy on {b} | | | {_ci(m[f'{split}_b_acc']['diff'])} |")
    lines.append(f"| train: accuracy on {b} | | | {_ci(m['train_b_acc']['diff'])} |")
    return lines


# -- plots -----------------------------------------------------------------------------


def write_plots(study: dict, out_dir: Path) -> dict[str, str]:
    """Accuracy curves with 95 % bands and per-class deltas with intervals; file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summ = study["summary"]
    specs = list(summ)
    fig, axes = plt.subplots(
        2, len(specs), figsize=(3.2 * len(specs), 5.6), sharey="row", squeeze=False
    )
    for ax, dax, spec in zip(axes[0], axes[1], specs, strict=True):
        for lin, color in (("guided", "tab:blue"), ("twin", "tab:gray")):
            c = summ[spec]["curves"][lin]
            x = np.arange(len(c["mean"]))
            ax.plot(x, 100 * np.array(c["mean"]), color=color, label=lin, marker="o", ms=3)
            ax.fill_between(
                x, 100 * np.array(c["low"]), 100 * np.array(c["high"]), color=color, alpha=0.2
            )
        d = summ[spec]["curves"]["delta"]
        xd = np.arange(1, len(d["mean"]) + 1)
        dax.plot(xd, 100 * np.array(d["mean"]), color="tab:blue", marker="o", ms=3)
        dax.fill_between(
            xd, 100 * np.array(d["low"]), 100 * np.array(d["high"]), color="tab:blue", alpha=0.2
        )
        dax.axhline(0, color="black", lw=0.6)
        ax.set_title(spec, fontsize=9)
        for a in (ax, dax):
            a.set_xlabel("chunk")
            a.set_xticks(x)
            a.grid(alpha=0.3)
    axes[0][0].set_ylabel("validation accuracy (%)")
    axes[1][0].set_ylabel("guided − twin (points)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(
        f"{study['dataset']['name']}: mean over {study['config']['seeds']} seeds, 95 % band",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out_dir / "curves.png", dpi=110)
    plt.close(fig)

    n_classes = study["dataset"]["n_classes"]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * n_classes * len(specs) / 3), 3.4))
    width = 0.8 / len(specs)
    x = np.arange(n_classes)
    for i, spec in enumerate(specs):
        pc = summ[spec]["per_class_delta"]
        mean = np.array([100 * (p["mean"] or 0.0) for p in pc])
        lo = np.array(
            [100 * (p["ci_low"] if p["ci_low"] is not None else p["mean"] or 0.0) for p in pc]
        )
        hi = np.array(
            [100 * (p["ci_high"] if p["ci_high"] is not None else p["mean"] or 0.0) for p in pc]
        )
        ax.bar(
            x + (i - (len(specs) - 1) / 2) * width,
            mean,
            width,
            label=spec,
            yerr=np.vstack([mean - lo, hi - mean]),
            capsize=1.5,
            error_kw={"lw": 0.6},
        )
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xticks(x, [str(c) for c in x])
    ax.set_xlabel("class")
    ax.set_ylabel("val acc guided − twin (points)")
    ax.legend(fontsize=7, ncol=min(len(specs), 5))
    ax.set_title(
        "Per-class validation Δ at the final chunk (95 % interval over seeds)", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(out_dir / "per_class.png", dpi=110)
    plt.close(fig)
    return {"accuracy curves": "curves.png", "per-class deltas": "per_class.png"}
