"""The study: do scripted users' latent edits beat the unguided twin, and which plant bias?

For every seed, one run is created and its chunk 0 trained; each strategy then
gets its own copy of that run (same split, same initial weights, same batch
orders) and makes its edits on the guided head's map before each of `chunks`
guided chunks. The engine trains every guided chunk together with its unguided
twin (same checkpoint, same seed, λ = 0), so "guided − twin" per seed is a
paired difference that only the edits explain.

What is measured, per strategy:

- validation accuracy, validation gap (train − val accuracy) after every chunk,
  guided and twin;
- the locked test accuracy of both final heads, read once per run through
  `loop.reveal_test` (the scripted user's "final evaluation"; the reveal is
  recorded in run.json like a person's);
- paired differences guided − twin over seeds, with mean and a 95 % t interval;
- guided(strategy) − guided(random), the same budget spent at random;
- per-class validation deltas and how often each class is bias-flagged.

Projection: "pca" by default (instant, exact inverse); the strategies read
latents and labels, so the map method only changes `translate` edits of the
random control. Torch runs single-threaded per process by default: on two
shared cores one thread is several times faster for these small models, and
`--jobs 2` then runs two seeds at once.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from hill_dash.errors import HillError
from hill_dash.strategies import DEFAULT_BUDGET_FRACTION, budget_used, get_strategy, make_state

DEFAULT_STRATEGIES = (
    "fix-misplaced",
    "compact-classes",
    "separate-confused",
    "merge-classes:3,8",
    "random",
)
CONTROL = "random"


@dataclass
class StudyConfig:
    """One study: data, model, strategies and the training protocol (stored in study.json)."""

    dataset: str = "digits"  # built-in name or a .npz/.csv path
    model: str | None = None  # None: the built-in that suits the data kind
    strategies: list[str] = field(default_factory=lambda: list(DEFAULT_STRATEGIES))
    seeds: int = 5  # seeds first_seed .. first_seed + seeds - 1
    first_seed: int = 0
    chunks: int = 3  # guided chunks after chunk 0
    epochs: int = 5  # epochs per chunk
    batch_size: int = 64
    lam: float = 1.0  # teacher weight λ
    kd_weight: float = 0.0  # output-level distillation through the frozen head (0 = off)
    budget: float = DEFAULT_BUDGET_FRACTION  # share of training points edited per chunk
    latent_dim: int = 32
    projection: str = "pca"
    threads: int = 1  # torch threads per process
    jobs: int = 1  # seeds trained at once (processes)

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        if self.seeds < 1 or self.chunks < 1 or self.epochs < 1:
            raise HillError("study: --seeds, --chunks and --epochs must be at least 1")
        if not 0 < self.budget <= 1:
            raise HillError(f"study: --budget {self.budget}: expected a share in (0, 1]")
        if self.projection not in ("pca", "umap"):
            raise HillError(f"study: --projection {self.projection!r}: expected pca or umap")
        for spec in self.strategies:
            get_strategy(spec)


# -- one seed --------------------------------------------------------------------------


def run_seed(cfg: StudyConfig, seed: int, work_dir: str, data_dir: str) -> dict:
    """Chunk 0 once, then every strategy on its own copy of the run; returns plain numbers."""
    import torch

    from hill_dash import loop
    from hill_dash.data import load_dataset
    from hill_dash.store import RunStore
    from hill_dash.training import ChunkConfig

    torch.set_num_threads(cfg.threads)
    t0 = time.time()
    root = Path(work_dir) / f"seed{seed}"
    base = RunStore(root / "base")
    data = load_dataset(cfg.dataset, data_dir, seed)
    chunk = ChunkConfig(
        epochs=cfg.epochs, batch_size=cfg.batch_size, lam=cfg.lam, kd_weight=cfg.kd_weight
    )
    run_id = loop.create_run(
        base,
        data,
        arch=cfg.model,
        latent_dim=cfg.latent_dim,
        projection=cfg.projection,
        chunk=chunk,
        seed=seed,
        device="cpu",
        name=f"study-seed{seed}",
    )
    loop.run_chunk(base, run_id)
    c0 = base.metrics(run_id)["c0"]
    y_all, split = data.all_y(), data.split_array()
    out = {"seed": seed, "c0": _split_numbers(c0), "strategies": {}}
    for s_index, spec in enumerate(cfg.strategies):
        store = RunStore(root / f"s{s_index}")
        shutil.copytree(base.root, store.root, dirs_exist_ok=True)
        strategy = get_strategy(spec)
        rng = np.random.default_rng([seed, zlib.crc32(spec.encode())])
        edits_log = []
        for _ in range(cfg.chunks):
            head = store.load_run(run_id)["heads"]["guided"]
            arrays = store.load_arrays(run_id, head)
            state = make_state(
                arrays["Z"],
                arrays["coords"],
                y_all,
                arrays["logits"],
                split,
                data.n_classes,
                rng,
                cfg.budget,
            )
            edits = strategy(state)
            used = budget_used(edits, split)
            if used > state.budget:
                raise AssertionError(f"{spec}: {used} points edited, budget {state.budget}")
            for e in edits:
                loop.add_edit(store, run_id, e)
            rec = loop.run_chunk(store, run_id)
            edits_log.append(
                {
                    "edits": len(edits),
                    "points": used,
                    "budget": state.budget,
                    "kinds": sorted({e.kind for e in edits}),
                    **{
                        k: rec.get("teacher", {}).get(k)
                        for k in ("n_edited", "relabels", "touched_classes")
                    },
                }
            )
        out["strategies"][spec] = _collect(store, run_id, edits_log)
        _log(
            f"seed {seed} {spec}: guided val "
            f"{out['strategies'][spec]['chunks'][-1]['guided']['val_acc']:.4f} twin "
            f"{out['strategies'][spec]['chunks'][-1]['twin']['val_acc']:.4f}"
        )
    out["seconds"] = time.time() - t0
    return out


def _split_numbers(rec: dict) -> dict:
    return {
        "val_acc": rec["val"]["acc"],
        "train_acc": rec["train"]["acc"],
        "gap": rec["gap"],
        "val_per_class": rec["val"]["per_class"],
        "val_confusion": rec["val"]["confusion"],
        "train_per_class": rec["train"]["per_class"],
    }


def _collect(store, run_id: str, edits_log: list[dict]) -> dict:
    from hill_dash import loop

    run = store.load_run(run_id)
    metrics = store.metrics(run_id, run)
    chunks = []
    for ch in run["chunks"][1:]:
        g, u = metrics[ch["guided"]], metrics[ch["twin"]]
        chunks.append(
            {
                "chunk": ch["index"],
                "guided": _split_numbers(g)
                | {"adherence": g.get("adherence"), "drift": g.get("drift")},
                "twin": _split_numbers(u),
                "bias": g.get("bias", []),
            }
        )
    test = loop.reveal_test(store, run_id)  # the scripted user's final evaluation, recorded
    return {
        "chunks": chunks,
        "edits": edits_log,
        "test": {
            lin: {
                "acc": test[lin]["acc"],
                "per_class": test[lin]["per_class"],
                "confusion": test[lin]["confusion"],
            }
            for lin in ("guided", "twin")
        },
        "test_reveals": test["reveals"],
    }


def _log(msg: str) -> None:
    print(f"[study] {msg}", file=sys.stderr, flush=True)


# -- statistics ------------------------------------------------------------------------


def paired_summary(diffs: list[float], level: float = 0.95) -> dict:
    """Mean of paired differences with a two-sided t interval (None when n < 2)."""
    from scipy import stats

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
        sd = float(d.std(ddof=1))
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
        out |= {"sd": sd, "ci_low": out["mean"] - half, "ci_high": out["mean"] + half}
    return out


def _mean_band(values: np.ndarray, level: float = 0.95) -> tuple[list, list, list]:
    """Per column: mean and the t interval of the mean (rows are seeds)."""
    from scipy import stats

    n = values.shape[0]
    mean = values.mean(axis=0)
    if n < 2:
        return mean.tolist(), mean.tolist(), mean.tolist()
    half = stats.t.ppf(0.5 + level / 2, n - 1) * values.std(axis=0, ddof=1) / math.sqrt(n)
    return mean.tolist(), (mean - half).tolist(), (mean + half).tolist()


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
            "bias": _bias_counts(runs, n_classes),
            "edits": _edit_summary(runs),
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


def _bias_counts(runs: list[dict], n_classes: int) -> dict:
    """How often each class was flagged: at the final chunk (over seeds) and at any chunk."""
    final = [0] * n_classes
    any_chunk = [0] * n_classes
    touched = [0] * n_classes
    for r in runs:
        flagged_any = set()
        for ch in r["chunks"]:
            flagged_any |= {b["class"] for b in ch["bias"] if b["flag"]}
        for b in r["chunks"][-1]["bias"]:
            final[b["class"]] += int(b["flag"])
        for c in flagged_any:
            any_chunk[c] += 1
        for c in {c for e in r["edits"] for c in (e["touched_classes"] or [])}:
            touched[c] += 1
    return {"final": final, "any_chunk": any_chunk, "touched": touched, "runs": len(runs)}


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


# -- the whole study -------------------------------------------------------------------


def run_study(
    cfg: StudyConfig,
    out_dir: str | Path,
    work_dir: str | Path | None = None,
    keep_runs: bool = False,
    command: str | None = None,
) -> dict:
    """Train every (seed, strategy), summarise, and write study.json, study.md and PNGs."""
    from hill_dash.data import load_dataset

    cfg.check()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="hill-study-"))
    data_dir = work / "data"
    data = load_dataset(cfg.dataset, data_dir, cfg.first_seed)  # fail early; caches mnist1d
    seeds = list(range(cfg.first_seed, cfg.first_seed + cfg.seeds))
    t0 = time.time()
    try:
        if cfg.jobs > 1:
            with ProcessPoolExecutor(cfg.jobs, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(run_seed, cfg, s, str(work), str(data_dir)) for s in seeds]
                results = [f.result() for f in futures]
        else:
            results = [run_seed(cfg, s, str(work), str(data_dir)) for s in seeds]
    finally:
        if not keep_runs and not work_dir:
            shutil.rmtree(work, ignore_errors=True)
    study = {
        "config": cfg.to_dict(),
        "command": command,
        "dataset": {
            "name": data.name,
            "n_train": len(data.y_train),
            "n_val": len(data.y_val),
            "n_test": len(data.y_test),
            "n_classes": data.n_classes,
            "label_names": data.label_names,
        },
        "machine": machine_info(),
        "seconds": time.time() - t0,
        "twins_identical_across_strategies": twins_agree(cfg, results),
        "summary": summarize(cfg, results),
        "seeds": results,
    }
    write_report(study, out_dir)
    return study


def write_report(study: dict, out_dir: str | Path) -> None:
    """study.json, the PNGs and study.md into `out_dir`."""
    out_dir = Path(out_dir)
    _write_json(out_dir / "study.json", study)
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


def machine_info() -> dict:
    import platform

    import torch

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def _write_json(path: Path, obj: object) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(obj, separators=(",", ":"), allow_nan=False))
    os.replace(tmp, path)


# -- report ----------------------------------------------------------------------------


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
    lines += [
        "",
        "## Bias signals",
        "",
        "Classes flagged (a per-class validation drop guided − twin beyond 2 binomial "
        "standard errors and 2 points), counted over seeds: at the final chunk / at any "
        "chunk. Touched = classes whose training points were edited.",
        "",
        "| strategy | flagged at final chunk | flagged at any chunk | touched in ≥ 1 seed |",
        "|---|---|---|---|",
    ]
    for spec, s in summ.items():
        b = s["bias"]
        lines.append(
            f"| {spec} | {_counts(b['final'], b['runs'])} | "
            f"{_counts(b['any_chunk'], b['runs'])} | "
            f"{', '.join(str(c) for c, k in enumerate(b['touched']) if k) or '–'} |"
        )
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
        "| strategy | points (budget) | edits | relabels | kinds |",
        "|---|---|---|---|---|",
    ]
    for spec, s in summ.items():
        e = s["edits"]
        lines.append(
            f"| {spec} | {e['mean_points']:.0f} ({e['budget']}) | {e['mean_edits']:.1f} "
            f"| {e['relabels']:.0f} | {', '.join(e['kinds'])} |"
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


def _counts(counts: list[int], runs: int) -> str:
    parts = [f"{c} ({k}/{runs})" for c, k in enumerate(counts) if k]
    return ", ".join(parts) or "none"


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
