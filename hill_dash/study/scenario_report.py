"""The scenario study's report: paired differences over seeds, study.md and the plots.

Arms per seed: ``guided`` (the scripted user's run), ``unguided`` (its unguided lineage),
``random`` (random edits at the same budget; its own guided head) and every annotation
control. The headline metric is worst-group test accuracy where the scenario has groups
whose worst one is the point (decoy, noisy: the flipped sub-cluster) and test accuracy
otherwise (few labels, the uniform-noise control). Differences guided − arm are paired
per seed: mean and a 95 % t interval (`report.paired_summary`, scipy.stats).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hill_dash.engine.durable import atomic_write_json
from hill_dash.study.realized_summary import realized_summary
from hill_dash.study.report import _ci, _mean_band, _pct, paired_summary

METRICS = ("worst", "acc")
METRIC_NAMES = {"worst": "worst-group", "acc": "accuracy"}


def primary_metric(study: dict) -> str:
    """Worst-group where the scenario plants a group (decoy minority, flipped sub-cluster);
    accuracy otherwise: few labels, and the uniform-noise control, whose "sub-cluster"
    group is only the same 8s left correctly labelled (about ten test points)."""
    ds = study["dataset"]
    return "worst" if ds["group_names"] and not ds["name"].endswith("-uniform") else "acc"


def arm_outcomes(seed: dict, user: str) -> dict[str, dict]:
    """Per arm, the final test outcome of one seed."""
    user_arm = seed["arms"][user]
    out = {
        "guided": user_arm["test"]["guided"],
        "unguided": user_arm["test"]["twin"],
        "random": seed["arms"]["random"]["test"]["guided"],
    }
    out |= {name: c["test"] for name, c in seed["controls"].items()}
    return out


def _val_curves(seed: dict, user: str, metric: str) -> dict[str, list]:
    """Per arm, the validation metric after chunk 0, 1, ..., k (DFR: only at the end)."""
    c0 = seed["c0"].get(metric)
    user_chunks = seed["arms"][user]["chunks"]
    curves = {
        "guided": [c0] + [c["val"]["guided"].get(metric) for c in user_chunks],
        "unguided": [c0] + [c["val"]["twin"].get(metric) for c in user_chunks],
        "random": [c0] + [c["val"]["guided"].get(metric) for c in seed["arms"]["random"]["chunks"]],
    }
    for name, c in seed["controls"].items():
        if len(c["val"]) == len(user_chunks):
            curves[name] = [c0] + [v.get(metric) for v in c["val"]]
    return curves


def summarize_scenario(study: dict) -> dict:
    cfg, seeds = study["config"], study["seeds"]
    user = cfg["user"]
    metrics = [m for m in METRICS if m != "worst" or study["dataset"]["group_names"]]
    outcomes = [arm_outcomes(s, user) for s in seeds]
    arms = list(outcomes[0])
    summary = {
        "primary": primary_metric(study),
        "metrics": metrics,
        "arms": {
            a: {m: float(np.mean([o[a][m] for o in outcomes])) for m in metrics} for a in arms
        },
        "guided_minus": {
            a: {m: paired_summary([o["guided"][m] - o[a][m] for o in outcomes]) for m in metrics}
            for a in arms
            if a != "guided"
        },
        "minus_unguided": {
            a: {m: paired_summary([o[a][m] - o["unguided"][m] for o in outcomes]) for m in metrics}
            for a in arms
            if a != "unguided"
        },
        "per_seed": [
            {"seed": s["seed"], **{a: o[a] for a in arms}}
            for s, o in zip(seeds, outcomes, strict=True)
        ],
    }
    curves = {}
    for m in metrics:
        per = [_val_curves(s, user, m) for s in seeds]
        curves[m] = {
            a: dict(
                zip(("mean", "low", "high"), _mean_band(np.array([p[a] for p in per])), strict=True)
            )
            for a in per[0]
        }
    summary["val_curves"] = curves
    for spec in (user, "random"):
        runs = [s["arms"][spec] for s in seeds]
        summary[f"realized_{spec}"] = realized_summary(runs)
    summary["user"] = _user_summary([s["arms"][user] for s in seeds])
    summary["controls"] = {
        name: {
            k: float(np.mean([s["controls"][name][k] for s in seeds]))
            for k in ("relabelled", "upweighted", "fitted_on")
            if k in seeds[0]["controls"][name]
        }
        for name in seeds[0]["controls"]
    }
    summary["twins_identical"] = all(
        s["arms"][user]["test"]["twin"] == s["arms"]["random"]["test"]["twin"] for s in seeds
    )
    summary["test_reads"] = sorted(
        {s["arms"][spec]["test_reveals"] for s in seeds for spec in (user, "random")}
    )
    summary["seconds"] = {
        "study": study["seconds"],
        "per_seed": [s["seconds"]["total"] for s in seeds],
    }
    return summary


def _user_summary(runs: list[dict]) -> dict:
    """Per chunk (mean over seeds): thumbnails, points pulled, and the head on them."""
    n_chunks = len(runs[0]["chunks"])
    out = []
    for k in range(n_chunks):
        ch = [r["chunks"][k] for r in runs]
        row = {
            "chunk": k + 1,
            "inspected": float(np.mean([c["inspected"] for c in ch])),
            "points": float(np.mean([c["points"] for c in ch])),
            "edits": float(np.mean([c["edits"] for c in ch])),
        }
        kinds: dict[str, float] = {}
        for r in runs:
            for pull in r["log"][k]["pulls"] if k < len(r["log"]) else []:
                kinds[pull["kind"]] = kinds.get(pull["kind"], 0.0) + len(pull["indices"])
        row["kinds"] = {kind: v / len(runs) for kind, v in sorted(kinds.items())}
        for key in ("precision", "group_points"):
            v = [c["head"].get(key) for c in ch if c["head"].get(key) is not None]
            row[key] = float(np.mean(v)) if v else None
        for lin in ("before", "guided", "counterfactual", "twin"):
            v = [c["head"].get(lin) for c in ch if c["head"].get(lin) is not None]
            row[f"head_{lin}"] = float(np.mean(v)) if v else None
        out.append(row)
    return {"per_chunk": out, "budget": runs[0]["budget"]}


# -- files -----------------------------------------------------------------------------


def write_scenario_report(study: dict, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    atomic_write_json(out_dir / "study.json", study, compact=True)
    plots = write_scenario_plots(study, out_dir)
    (out_dir / "study.md").write_text(render_scenario(study, plots))


def rewrite_scenario_report(out_dir: str | Path) -> dict:
    """Re-summarise a stored scenario study.json and rewrite its report (no training)."""
    study = json.loads((Path(out_dir) / "study.json").read_text())
    study["summary"] = summarize_scenario(study)
    write_scenario_report(study, out_dir)
    return study


def render_scenario(study: dict, plots: dict[str, str]) -> str:
    cfg, ds, s = study["config"], study["dataset"], study["summary"]
    prim = s["primary"]
    lines = [
        f"# Scenario study: {ds['name']} ({cfg['model'] or 'default model'})",
        "",
        ds["description"],
        "",
        f"{cfg['seeds']} seeds, chunk 0 unguided, then {cfg['chunks']} chunks of "
        f"{cfg['epochs']} epochs (batch {cfg['batch_size']}, λ = {cfg['lam']}, output "
        f"distillation {cfg['kd_weight']}), map {cfg['projection']}. User "
        f"`{cfg['user']}` (keeps its pulls: {'yes' if cfg.get('keep_pulls', True) else 'no'}; "
        f"pulls out-of-place groups unread after {cfg.get('trust_after', 5)} confirmed decoys"
        f"{' (never)' if not cfg.get('trust_after', 5) else ''}): at most "
        f"{cfg['thumbnails']} thumbnails and "
        f"{s['user']['budget']} edited training points per chunk; the random control "
        "edits as many. Test read once per run, at the end. Accuracies in %; "
        "differences paired per seed, mean [95 % t interval].",
        "",
        "| arm | test "
        + " | test ".join(METRIC_NAMES[m] for m in s["metrics"])
        + " | "
        + " | ".join(f"guided − arm, {METRIC_NAMES[m]}" for m in s["metrics"])
        + " | "
        + " | ".join(f"arm − unguided, {METRIC_NAMES[m]}" for m in s["metrics"])
        + " |",
        "|---|" + "---|" * (3 * len(s["metrics"])),
    ]
    for arm, vals in s["arms"].items():
        gm = s["guided_minus"].get(arm)
        mu = s["minus_unguided"].get(arm)
        lines.append(
            f"| {arm} | "
            + " | ".join(_pct(vals[m]) for m in s["metrics"])
            + " | "
            + " | ".join("–" if gm is None else _ci(gm[m]) for m in s["metrics"])
            + " | "
            + " | ".join("–" if mu is None else _ci(mu[m]) for m in s["metrics"])
            + " |"
        )
    lines += [
        "",
        f"Headline metric: test {METRIC_NAMES[prim]}.",
        "",
        "## What the user did, and what the model did with it",
        "",
        "Per chunk, mean over seeds. Right: share of the pulled points whose true class is "
        "the class they were pulled to; in group: pulled points of the scenario's planted "
        "group (decoy minority / flipped sub-cluster), both scored by the study, unseen by "
        "the user. Head: share of the pulled training points the model predicts as the "
        "class they were pulled to: before the chunk, after the guided chunk, after the "
        "counterfactual chunk (same start and batches, no edits) and in the unguided lineage. "
        "Points by reason: out of place (shown in one colour, sitting in another class's "
        "region), unlabelled (a cluster of unlabelled points), kept (pulled again, as in an "
        "earlier chunk), unread (out of place, pulled home without a thumbnail after five "
        "confirmed decoys).",
        "",
        "| chunk | thumbnails | points pulled | pulls | right | in group | head before | guided "
        "| counterfactual | unguided | points by reason |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["user"]["per_chunk"]:
        group = "–" if r["group_points"] is None else f"{r['group_points']:.0f}"
        lines.append(
            f"| {r['chunk']} | {r['inspected']:.0f} | {r['points']:.0f} | {r['edits']:.1f} | "
            f"{_pct(r['precision'])} | {group} | "
            + " | ".join(
                _pct(r[f"head_{k}"]) for k in ("before", "guided", "counterfactual", "twin")
            )
            + f" | {_kinds(r.get('kinds'))} |"
        )
    lines += ["", "Realized shares of the edits (median over edits; 1 = all of the request):", ""]
    lines += ["| edits of | space | guided | counterfactual | unguided | edits ≥ half way |"]
    lines += ["|---|---|---|---|---|---|"]
    for spec in (cfg["user"], "random"):
        r = s[f"realized_{spec}"]
        for space in ("map", "latent"):
            q = r[space]
            lines.append(
                f"| {spec} | {space} | "
                + " | ".join(_num(q[lin]["median"]) for lin in ("guided", "counterfactual", "twin"))
                + f" | {_pct(q['guided']['half_way'])} % |"
            )
    lines += ["", "Controls (mean per seed at the last chunk):", ""]
    for name, c in s["controls"].items():
        lines.append(f"- `{name}`: " + ", ".join(f"{k} {v:.0f}" for k, v in c.items()))
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
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}; "
        f"{study['seconds'] / 60:.1f} min with {cfg['jobs']} job(s) (load average before "
        f"{_load_text(m.get('load_before'))}, after {_load_text(m.get('load_after'))}; the "
        "machine was shared). Unguided lineage identical in the user's and the random "
        f"control's runs: {s['twins_identical']}. Test reads per run: {s['test_reads']}.",
        "",
    ]
    return "\n".join(lines)


def _kinds(kinds: dict | None) -> str:
    if not kinds:
        return "–"
    return " · ".join(f"{kind} {v:.0f}" for kind, v in kinds.items())


def _num(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def _load_text(load) -> str:
    return "–" if not load else " / ".join(f"{x:.1f}" for x in load)


# -- plots -----------------------------------------------------------------------------

COLORS = {"guided": "tab:blue", "unguided": "tab:gray", "random": "tab:orange"}
CONTROL_COLORS = ("tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink")


def write_scenario_plots(study: dict, out_dir: Path) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = study["summary"]
    name = study["dataset"]["name"]
    fig, axes = plt.subplots(
        1, len(s["metrics"]), figsize=(5.2 * len(s["metrics"]), 3.4), squeeze=False
    )
    for ax, m in zip(axes[0], s["metrics"], strict=True):
        arms = list(s["guided_minus"])
        d = [s["guided_minus"][a][m] for a in arms]
        mean = np.array([100 * (x["mean"] or 0) for x in d])
        lo = np.array([100 * (x["ci_low"] if x["ci_low"] is not None else x["mean"]) for x in d])
        hi = np.array([100 * (x["ci_high"] if x["ci_high"] is not None else x["mean"]) for x in d])
        y = np.arange(len(arms))
        ax.barh(
            y, mean, xerr=np.vstack([mean - lo, hi - mean]), color="tab:blue", alpha=0.7, capsize=3
        )
        ax.axvline(0, color="black", lw=0.7)
        ax.set_yticks(y, arms)
        ax.invert_yaxis()
        ax.set_xlabel(f"guided − arm, test {METRIC_NAMES[m]} (points)")
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"{name}: guided minus each reference, 95 % interval over seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_dir / "differences.png", dpi=110)
    plt.close(fig)

    m = s["primary"]
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for i, (arm, c) in enumerate(s["val_curves"][m].items()):
        x = np.arange(len(c["mean"]))
        color = COLORS.get(arm) or CONTROL_COLORS[(i - len(COLORS)) % len(CONTROL_COLORS)]
        ax.plot(x, 100 * np.array(c["mean"]), marker="o", ms=3, label=arm, color=color)
        ax.fill_between(
            x, 100 * np.array(c["low"]), 100 * np.array(c["high"]), alpha=0.12, color=color
        )
    ax.set_xlabel("chunk")
    ax.set_ylabel(f"validation {METRIC_NAMES[m]} (%)")
    ax.set_xticks(x)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"{name}: validation {METRIC_NAMES[m]} per chunk (mean, 95 % band)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out_dir / "val_curves.png", dpi=110)
    plt.close(fig)
    return {"guided minus each reference": "differences.png", "validation curves": "val_curves.png"}
