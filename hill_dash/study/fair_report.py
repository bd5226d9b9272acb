"""Summaries of the fair study: one scenario's study.json / study.md, and the table of all.

Per scenario (`summarize`): per arm the mean test headline, accuracy and human effort;
paired differences (t interval, exact sign-flip p) of every arm against the unguided
lineage and against every direct arm; the best direct arm (highest mean headline: chosen
after the fact, which favours it); headline gain over the unguided lineage per gesture and
per thumbnail read.

Over scenarios (`table`): the pre-registered primary comparisons (`PREREGISTERED`, as
committed in docs/results.md before the runs), Holm-adjusted over all 8 (a scenario that
did not run enters with p = 1), and the secondary family (primary arm − unguided).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hill_dash.study.fair_arms import DIRECT_ARMS, PRIMARY_ARM
from hill_dash.study.fair_stats import holm, holm_interval, paired

# (key, dataset, user, arm, metric, baseline): docs/results.md, "Pre-registration"
PREREGISTERED = [
    ("digits-decoy", "digits-decoy", "inspect-and-pull", "latent", "worst", "upweight"),
    ("digits-noisy", "digits-noisy", "inspect-and-pull", "latent", "worst", "relabel"),
    ("digits-few-unnamed", "digits-few", "group-without-names", "shape", "acc", "pseudo-label"),
    ("digits-few", "digits-few", "inspect-and-pull", "latent", "acc", "dfr"),
    ("mnist1d-decoy", "mnist1d-decoy", "inspect-and-pull", "latent", "worst", "dfr"),
    ("mnist1d-noisy", "mnist1d-noisy", "inspect-and-pull", "latent", "worst", "relabel"),
    ("mnist1d-few-unnamed", "mnist1d-few", "group-without-names", "shape", "acc", "pseudo-label"),
    ("mnist1d-few", "mnist1d-few", "inspect-and-pull", "latent", "acc", "relabel"),
]


def scenario_key(study: dict) -> str:
    cfg = study["config"]
    key = cfg["dataset"] + ("-unnamed" if cfg["user"] == "group-without-names" else "")
    if cfg.get("trust_after"):
        key += f"-trust{cfg['trust_after']}"
    if cfg.get("live"):  # a sensitivity run: the user reads another arm's map
        key += f"-live-{cfg['live']}"
    return key


def per_seed(study: dict, arm: str, metric: str) -> list[float | None]:
    out = []
    for s in study["seeds"]:
        res = s["arms"].get(arm)
        out.append(None if res is None else res["test"].get(metric))
    return out


def diff(study: dict, arm: str, base: str, metric: str) -> dict:
    a, b = per_seed(study, arm, metric), per_seed(study, base, metric)
    d = [None if x is None or y is None else 100 * (x - y) for x, y in zip(a, b, strict=True)]
    return paired(d) | {"per_seed": d}


def summarize(study: dict) -> dict:
    metric = study["headline"]
    arms = list(study["seeds"][0]["arms"])
    direct = [a for a in arms if a in DIRECT_ARMS]
    out: dict = {"metric": metric, "arms": {}}
    for arm in arms:
        vals = [v for v in per_seed(study, arm, metric) if v is not None]
        acc = [v for v in per_seed(study, arm, "acc") if v is not None]
        eff = [s["arms"][arm]["effort"] for s in study["seeds"]]
        g = float(np.mean([e["gestures"] for e in eff]))
        t = float(np.mean([e["thumbnails"] for e in eff]))
        row = {
            "headline": 100 * float(np.mean(vals)),
            "acc": 100 * float(np.mean(acc)),
            "gestures": g,
            "thumbnails": t,
        }
        if arm != "unguided":
            row["vs_unguided"] = diff(study, arm, "unguided", metric)
            gain = row["vs_unguided"]["mean"]
            row["gain_per_gesture"] = gain / g if g else None
            row["gain_per_100_thumbnails"] = 100 * gain / t if t else None
        out["arms"][arm] = row
    if direct:
        best = max(direct, key=lambda a: out["arms"][a]["headline"])
        out["best_direct"] = best
        for arm in arms:
            if arm != best and arm != "unguided":
                out["arms"][arm]["vs_best_direct"] = diff(study, arm, best, metric)
        primary = PRIMARY_ARM[study["config"]["user"]]
        out["primary_vs"] = {b: diff(study, primary, b, metric) for b in arms if b != primary}
    else:
        primary = PRIMARY_ARM[study["config"]["user"]]
        out["primary_vs"] = {b: diff(study, primary, b, metric) for b in arms if b != primary}
    return out


def _holm_fmt(d: dict) -> str:
    if d.get("holm_low") is None:
        return "–"
    s = f"[{d['holm_low']:+.1f}, {d['holm_high']:+.1f}]"
    return f"**{s}**" if d["holm_low"] > 0 or d["holm_high"] < 0 else s


def _fmt(d: dict | None, bold: bool = False) -> str:
    if not d or d.get("mean") is None:
        return "–"
    if d.get("low") is None:
        return f"{d['mean']:+.1f}"
    s = f"{d['mean']:+.1f} [{d['low']:+.1f}, {d['high']:+.1f}]"
    if bold and (d["low"] > 0 or d["high"] < 0):
        s = f"**{s}**"
    return s


def _p(d: dict | None) -> str:
    return "–" if not d or d.get("p_signflip") is None else f"{d['p_signflip']:.3f}"


def write_report(study: dict, out_dir: Path) -> None:
    out_dir = Path(out_dir)
    (out_dir / "study.json").write_text(json.dumps(study, indent=1, default=_json))
    (out_dir / "study.md").write_text(study_markdown(study))


def _json(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def study_markdown(study: dict) -> str:
    s = study["summary"]
    cfg = study["config"]
    git = study.get("git") or {}
    lines = [
        f"# Fair study: {scenario_key(study)}",
        "",
        f"Command: `{study.get('command')}`",
        "",
        f"Commit {git.get('commit')} (tree clean: {git.get('clean')}); "
        f"{len(study['seeds'])} seeds; {study['seconds']:.0f} s.",
        "",
        f"Headline: test {s['metric']} (points). Δ paired by seed, 95 % t interval, "
        "exact sign-flip p (uncorrected here; Holm across scenarios in docs/results.md).",
        "",
        "| arm | headline | accuracy | gestures | thumbnails | − unguided | p (sign-flip) "
        "| gain / gesture | gain / 100 thumbnails | − best direct |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, r in s["arms"].items():
        vu = r.get("vs_unguided")
        gpg = r.get("gain_per_gesture")
        gpt = r.get("gain_per_100_thumbnails")
        lines.append(
            f"| {arm} | {r['headline']:.1f} | {r['acc']:.1f} | {r['gestures']:.1f} | "
            f"{r['thumbnails']:.1f} | {_fmt(vu, True)} | "
            f"{_p(vu)} | "
            f"{'–' if gpg is None else f'{gpg:+.2f}'} | {'–' if gpt is None else f'{gpt:+.2f}'} | "
            f"{_fmt(r.get('vs_best_direct'), True)} |"
        )
    lines += ["", f"Best direct arm (after the fact): {s.get('best_direct', '–')}.", ""]
    lines += ["Primary arm against every other arm:", ""]
    for b, d in s["primary_vs"].items():
        lines.append(f"- − {b}: {_fmt(d, True)} (sign-flip p {d.get('p_signflip')})")
    lines += ["", f"Config: `{json.dumps(cfg)}`", ""]
    return "\n".join(lines)


# -- over scenarios -------------------------------------------------------------------


def load_studies(folder: Path) -> dict[str, dict]:
    out = {}
    for f in sorted(Path(folder).glob("*/study.json")):
        study = json.loads(f.read_text())
        if study.get("kind") == "fair":
            out[scenario_key(study)] = study | {"_path": str(f)}
    return out


def table(studies: dict[str, dict]) -> dict:
    """The pre-registered comparisons (Holm over 8) and the secondary family."""
    rows = []
    primary_p, secondary_p = {}, {}
    for key, _dataset, _user, arm, metric, base in PREREGISTERED:
        st = studies.get(key)
        if st is None:
            rows.append({"key": key, "ran": False, "arm": arm, "baseline": base})
            continue
        d = diff(st, arm, base, metric)
        u = diff(st, arm, "unguided", metric)
        primary_p[key], secondary_p[key] = d["p_signflip"], u["p_signflip"]
        s = st["summary"]
        rows.append(
            {
                "key": key,
                "ran": True,
                "seeds": len(st["seeds"]),
                "arm": arm,
                "baseline": base,
                "metric": metric,
                "primary": d,
                "vs_unguided": u,
                "best_direct": s.get("best_direct"),
                "vs_best_direct": (
                    s["arms"][arm].get("vs_best_direct") if s.get("best_direct") else None
                ),
                "arms": s["arms"],
                "path": st["_path"],
                "git": st.get("git"),
            }
        )
    keys = [k for k, *_ in PREREGISTERED]
    hp, hs = holm(primary_p, keys), holm(secondary_p, keys)
    for r in rows:
        r["holm_primary"], r["holm_secondary"] = hp[r["key"]], hs[r["key"]]
    # the interval at the level Holm tests each comparison (α / (m − rank)), missing: p = 1
    for fam, name in ((primary_p, "primary"), (secondary_p, "vs_unguided")):
        order = sorted(keys, key=lambda k: 1.0 if fam.get(k) is None else fam[k])
        for r in rows:
            if r["ran"]:
                m_rank = len(keys) - order.index(r["key"])
                low, high = holm_interval(r[name]["per_seed"], m_rank)
                r[name] |= {"holm_low": low, "holm_high": high}
    return {"rows": rows}


def table_markdown(t: dict) -> str:
    lines = [
        "| scenario | primary: arm − baseline (test, points), 95 % | Holm-level interval "
        "| sign-flip p | Holm p | arm − unguided, 95 % | Holm-level interval | Holm p "
        "| arm − best direct (after the fact) | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t["rows"]:
        if not r["ran"]:
            lines.append(
                f"| {r['key']} | not run ({r['arm']} − {r['baseline']}) | – | – | 1 (counted) "
                "| – | – | – | – | 0 |"
            )
            continue
        p = r["primary"]
        bd = r.get("vs_best_direct")
        best = r.get("best_direct")
        lines.append(
            f"| {r['key']} | {r['arm']} − {r['baseline']} ({r['metric']}): {_fmt(p)} | "
            f"{_holm_fmt(p)} | {p['p_signflip']:.3f} | {r['holm_primary']:.3f} | "
            f"{_fmt(r['vs_unguided'])} | {_holm_fmt(r['vs_unguided'])} | "
            f"{r['holm_secondary']:.3f} | "
            f"{_best(bd, best)} | {r['seeds']} |"
        )
    return "\n".join(lines)


def _best(d: dict | None, best: str | None) -> str:
    if best is None:
        return "–"
    return f"{_fmt(d)} ({best})" if d else f"it is the best ({best})"


def arms_markdown(t: dict) -> str:
    """Scenario × arm: headline, − unguided, − best direct, effort and gain per effort."""
    lines = [
        "| scenario | arm | headline | − unguided | − best direct | gestures | thumbnails "
        "| gain / gesture | gain / 100 thumbnails |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t["rows"]:
        if not r["ran"]:
            continue
        for arm, a in r["arms"].items():
            gpg, gpt = a.get("gain_per_gesture"), a.get("gain_per_100_thumbnails")
            lines.append(
                f"| {r['key']} | {arm} | {a['headline']:.1f} | {_fmt(a.get('vs_unguided'), True)} "
                f"| {_fmt(a.get('vs_best_direct'), True)} | {a['gestures']:.0f} | "
                f"{a['thumbnails']:.0f} | {'–' if gpg is None else f'{gpg:+.2f}'} | "
                f"{'–' if gpt is None else f'{gpt:+.2f}'} |"
            )
    return "\n".join(lines)
