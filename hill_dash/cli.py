"""`hill-dash` (or `python -m hill_dash`): train headless, serve the dashboard, replay
a session, write a report, and run the studies.

Bad input prints one line on stderr and exits with code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hill_dash.engine.errors import HillError
from hill_dash.engine.naming import public
from hill_dash.engine.realized_text import realized_text
from hill_dash.engine.scenarios import SCENARIOS

EXIT_BAD_INPUT = 2
_BUILTIN_NAMES = ", ".join(("digits", "mnist1d", *SCENARIOS))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", help="run store directory (default: $HILL_DASH_DATA_DIR or ~/.hill_dash)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hill-dash", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    train = sub.add_parser("train", help="train a run headless and print per-chunk metrics")
    src = train.add_mutually_exclusive_group()
    src.add_argument("--dataset", default="digits", help=f"built-in: {_BUILTIN_NAMES}")
    src.add_argument("--data-file", help="a .npz (X, y) or .csv (label column) file")
    train.add_argument("--model", choices=("mlp", "cnn1d", "cnn2d"), help="default: by data kind")
    train.add_argument("--latent-dim", type=int, default=32)
    train.add_argument("--chunks", type=int, default=3, help="guided chunks after chunk 0")
    train.add_argument("--epochs", type=int, default=5, help="epochs per chunk")
    train.add_argument("--lam", type=float, default=1.0, help="teacher weight λ")
    train.add_argument("--projection", choices=("umap", "pca"), default="pca")
    train.add_argument("--edits", help="JSON list of edits, each may name its 'chunk' (default 1)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    train.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    _common(train)

    serve = sub.add_parser("serve", help="start the dashboard")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--data-file", default=None)
    _common(serve)

    replay = sub.add_parser("replay", help="re-run an exported session and compare its metrics")
    replay.add_argument("session", help="session JSON exported from the dashboard")
    _common(replay)

    report = sub.add_parser("report", help="write a one-page HTML report of a run (offline)")
    report.add_argument("run_id", metavar="RUN_ID", help="the run's id (see the Runs page)")
    report.add_argument("--out", required=True, help="the HTML file to write")
    _common(report)

    study = sub.add_parser(
        "study",
        help="scripted users vs the unguided twin over seeds; "
        "writes study.json, study.md and plots",
    )
    study.add_argument(
        "--dataset", default="digits", help=f"built-in ({_BUILTIN_NAMES}) or a .npz/.csv file"
    )
    study.add_argument("--model", choices=("mlp", "cnn1d", "cnn2d"), help="default: by data kind")
    study.add_argument(
        "--strategy",
        default=None,
        help="comma list of fix-misplaced, compact-classes, separate-confused, "
        "merge-classes:A,B, random (default: all, merge-classes:3,8)",
    )
    study.add_argument("--seeds", type=int, default=5)
    study.add_argument("--first-seed", type=int, default=0)
    study.add_argument("--chunks", type=int, default=3, help="guided chunks after chunk 0")
    study.add_argument("--epochs", type=int, default=5, help="epochs per chunk")
    study.add_argument("--batch-size", type=int, default=64)
    study.add_argument("--lam", type=float, default=1.0, help="teacher weight λ")
    study.add_argument(
        "--kd-weight",
        type=float,
        default=0.0,
        help="output-level distillation weight (the head's prediction at the target)",
    )
    study.add_argument(
        "--budget",
        type=float,
        default=0.1,
        help="share of training points edited per chunk (every strategy)",
    )
    study.add_argument("--latent-dim", type=int, default=32)
    study.add_argument("--projection", choices=("umap", "pca"), default="pca")
    study.add_argument("--threads", type=int, default=1, help="torch threads per process")
    study.add_argument("--jobs", type=int, default=1, help="seeds trained at once")
    study.add_argument("--out", required=True, help="folder for study.json, study.md, PNGs")
    study.add_argument("--work-dir", help="keep the runs here (default: a temp dir, removed)")
    _scenario_parser(sub)
    _fair_parser(sub)
    return parser


def _fair_parser(sub) -> None:
    from hill_dash.study.fair_arms import ARMS_BY_USER

    p = sub.add_parser(
        "fair-study",
        help="issue 16: latent edits against the annotations they imply, every arm through "
        "the edit path; writes study.json and study.md, logs the call in docs/study/log.csv",
    )
    p.add_argument("--dataset", required=True, help=f"a scenario: {', '.join(SCENARIOS)}")
    p.add_argument("--user", choices=tuple(ARMS_BY_USER), default="inspect-and-pull")
    p.add_argument("--arms", help="comma list (default: every arm of the user)")
    p.add_argument("--model", choices=("mlp", "cnn1d", "cnn2d"), help="default: by data kind")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--chunks", type=int, default=3)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--budget", type=float, default=0.1)
    p.add_argument("--thumbnails", type=int, default=50)
    p.add_argument("--trust-after", type=int, default=0)
    p.add_argument(
        "--live",
        help="the arm whose map the scripted user reads (default: the primary arm); "
        "a sensitivity run: the others replay its reads and selections",
    )
    p.add_argument("--projection", choices=("umap", "pca"), default="umap")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--work-dir")
    p.add_argument("--log", default="docs/study/log.csv", help="invocation log (appended)")
    t = sub.add_parser("fair-table", help="the fair study's table over scenarios (Holm)")
    t.add_argument("--folder", default="docs/study/fair")


def _scenario_parser(sub) -> None:
    from hill_dash.study.controls import CONTROLS

    p = sub.add_parser(
        "scenario-study",
        help="a scripted user on a scenario vs the unguided lineage, random edits and "
        "annotation controls; writes study.json, study.md and plots",
    )
    p.add_argument("--dataset", required=True, help=f"a scenario: {', '.join(SCENARIOS)}")
    p.add_argument("--model", choices=("mlp", "cnn1d", "cnn2d"), help="default: by data kind")
    p.add_argument("--controls", help=f"comma list of {', '.join(CONTROLS)} (default: by scenario)")
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--chunks", type=int, default=3, help="guided chunks after chunk 0")
    p.add_argument("--epochs", type=int, default=5, help="epochs per chunk")
    p.add_argument("--lam", type=float, default=1.0, help="teacher weight λ")
    p.add_argument("--kd-weight", type=float, default=1.0, help="output-level distillation")
    p.add_argument("--budget", type=float, default=0.1, help="share of training points edited")
    p.add_argument("--thumbnails", type=int, default=50, help="samples inspected per chunk")
    p.add_argument("--projection", choices=("umap", "pca"), default="umap")
    p.add_argument(
        "--keep-pulls",
        choices=("yes", "no"),
        default="yes",
        help="inspect-and-pull: pull again, every chunk, what it pulled before",
    )
    p.add_argument(
        "--trust-after",
        type=int,
        default=5,
        help="inspect-and-pull: confirmed decoy groups before it pulls unread ones (0: never)",
    )
    p.add_argument("--jobs", type=int, default=1, help="seeds trained at once")
    p.add_argument("--out", required=True, help="folder for study.json, study.md, PNGs")
    p.add_argument("--work-dir", help="keep the runs here (default: a temp dir, removed)")


def cmd_train(args: argparse.Namespace) -> int:
    from hill_dash.engine import loop
    from hill_dash.engine.data import load_dataset
    from hill_dash.engine.store import RunStore
    from hill_dash.engine.teacher import Edit
    from hill_dash.engine.training import ChunkConfig

    edits = _read_edits(args.edits) if args.edits else []
    store = RunStore(args.data_dir)
    data = load_dataset(args.data_file or args.dataset, store.root, args.seed)
    for i, e in enumerate(edits):
        Edit.from_dict(
            e, len(data.all_y()), f"{args.edits}[{i}]", data.n_classes, len(data.y_train)
        )
    run_id = loop.create_run(
        store,
        data,
        arch=args.model,
        latent_dim=args.latent_dim,
        projection=args.projection,
        seed=args.seed,
        device=args.device,
        chunk=ChunkConfig(epochs=args.epochs, lam=args.lam),
    )
    print(f"run {run_id} in {store.root}", file=sys.stderr)
    for index in range(args.chunks + 1):
        for e in edits:
            if int(e.get("chunk", 1)) == index:
                loop.add_edit(store, run_id, Edit.from_dict(e))
        chunk = loop.run_chunk(store, run_id)
        _print_chunk(store, run_id, chunk, args.json)
    return 0


def _read_edits(path: str) -> list[dict]:
    try:
        obj = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise HillError(f"{path}: edits file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HillError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(obj, list):
        raise HillError(f"{path}: expected a JSON list of edits")
    return obj


def _print_chunk(store, run_id: str, chunk: dict, as_json: bool) -> None:
    """One line per chunk: guided vs the unguided lineage, and how much each edit moved."""
    from hill_dash.dashboard.annotation_text import annotation_sentence, is_annotation_row

    recs = store.metrics(run_id)
    g, u = recs[chunk["guided"]], recs[chunk["twin"]]
    row = {
        "chunk": chunk["index"],
        "guided_val_acc": g["val"]["acc"],
        "unguided_val_acc": u["val"]["acc"],
        "guided_gap": g["gap"],
        "unguided_gap": u["gap"],
        "edited": chunk.get("teacher", {}).get("n_edited", 0),
        "counterfactual": chunk.get("counterfactual"),
        "realized": public(chunk.get("realized", [])),
    }
    if as_json:
        print(json.dumps(row))
        return
    print(
        f"chunk {row['chunk']}: val acc guided {row['guided_val_acc']:.4f} "
        f"unguided lineage {row['unguided_val_acc']:.4f} | gap guided {row['guided_gap']:+.4f} "
        f"unguided {row['unguided_gap']:+.4f} | edited {row['edited']}"
    )
    for r in row["realized"]:
        if is_annotation_row(r):
            r_text = annotation_sentence(r, store.load_run(run_id).get("label_names", []))
        else:
            r_text = realized_text(r)
        print(f"  {r['kind']} {r['edit']}: {r_text}")


def cmd_serve(args: argparse.Namespace) -> int:
    import app

    return app.main(
        ["--data-dir", args.data_dir] * bool(args.data_dir)
        + ["--host", args.host] * bool(args.host)
        + ["--port", str(args.port)] * bool(args.port)
        + ["--data-file", args.data_file] * bool(args.data_file)
    )


def cmd_replay(args: argparse.Namespace) -> int:
    from hill_dash.engine.replay import replay_session

    report = replay_session(args.session, args.data_dir)
    print(json.dumps(report, indent=1))
    return 0 if report["identical"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    from hill_dash.dashboard.report import session_report
    from hill_dash.engine.store import RunStore

    store = RunStore(args.data_dir)
    if not store.exists(args.run_id):
        raise HillError(f"run {args.run_id!r}: not found in {store.root}")
    page = session_report(store, args.run_id)
    try:
        Path(args.out).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise HillError(f"{args.out}: cannot write the report ({exc.strerror})") from None
    print(f"wrote {args.out} ({len(page) / 2**20:.1f} MB)", file=sys.stderr)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from hill_dash.study.config import DEFAULT_STRATEGIES, StudyConfig
    from hill_dash.study.runner import run_study
    from hill_dash.study.strategies import parse_strategies

    strategies = parse_strategies(args.strategy) if args.strategy else list(DEFAULT_STRATEGIES)
    cfg = StudyConfig(
        dataset=args.dataset,
        model=args.model,
        strategies=strategies,
        seeds=args.seeds,
        first_seed=args.first_seed,
        chunks=args.chunks,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lam=args.lam,
        kd_weight=args.kd_weight,
        budget=args.budget,
        latent_dim=args.latent_dim,
        projection=args.projection,
        threads=args.threads,
        jobs=args.jobs,
    )
    command = "python -m hill_dash study " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k not in ("command", "data_dir", "work_dir") and v is not None
    )
    study = run_study(cfg, args.out, work_dir=args.work_dir, command=command)
    print(Path(args.out) / "study.md")
    for spec, s in study["summary"].items():
        d = s["diff"]["val"]
        print(
            f"{spec}: val acc guided {s['guided']['val']:.4f} unguided {s['twin']['val']:.4f} "
            f"delta {d['mean']:+.4f}"
        )
    return 0


def cmd_scenario_study(args: argparse.Namespace) -> int:
    from hill_dash.study.config import ScenarioConfig
    from hill_dash.study.scenario_runner import run_scenario_study

    cfg = ScenarioConfig(
        dataset=args.dataset,
        model=args.model,
        controls=[c.strip() for c in args.controls.split(",")] if args.controls else None,
        seeds=args.seeds,
        first_seed=args.first_seed,
        chunks=args.chunks,
        epochs=args.epochs,
        lam=args.lam,
        kd_weight=args.kd_weight,
        budget=args.budget,
        thumbnails=args.thumbnails,
        projection=args.projection,
        keep_pulls=args.keep_pulls == "yes",
        trust_after=args.trust_after,
        jobs=args.jobs,
    )
    command = "python -m hill_dash scenario-study " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if k not in ("command", "data_dir", "work_dir") and v is not None
    )
    from hill_dash.study.provenance import git_state, log_invocation

    cfg.check()  # bad input is not a study: nothing logged
    git = git_state()
    log_invocation(Path("docs/study/log.csv"), command, git, args.out)
    study = run_scenario_study(cfg, args.out, work_dir=args.work_dir, command=command, git=git)
    print(Path(args.out) / "study.md")
    s = study["summary"]
    for arm, d in s["guided_minus"].items():
        m = d[s["primary"]]
        print(f"guided - {arm}: test {s['primary']} {m['mean']:+.4f}")
    return 0


def cmd_fair_study(args: argparse.Namespace) -> int:
    from hill_dash.study.fair import FairConfig, run_fair_study
    from hill_dash.study.provenance import command_line, git_state, log_invocation

    cfg = FairConfig(
        dataset=args.dataset,
        user=args.user,
        arms=[a.strip() for a in args.arms.split(",")] if args.arms else None,
        model=args.model,
        seeds=args.seeds,
        first_seed=args.first_seed,
        chunks=args.chunks,
        epochs=args.epochs,
        budget=args.budget,
        thumbnails=args.thumbnails,
        trust_after=args.trust_after,
        projection=args.projection,
        jobs=args.jobs,
        live=args.live,
    )
    cfg.check()
    command = command_line(sys.argv[1:] if args._argv is None else args._argv)
    git = git_state()
    log_invocation(Path(args.log), command, git, args.out)
    study = run_fair_study(cfg, args.out, work_dir=args.work_dir, command=command, git=git)
    print(Path(args.out) / "study.md")
    for arm, r in study["summary"]["arms"].items():
        u = r.get("vs_unguided") or {}
        print(f"{arm}: test {study['headline']} {r['headline']:.1f} (− unguided {u.get('mean')})")
    return 0


def cmd_fair_table(args: argparse.Namespace) -> int:
    from hill_dash.study.fair_report import arms_markdown, load_studies, table, table_markdown

    t = table(load_studies(Path(args.folder)))
    print(table_markdown(t))
    print()
    print(arms_markdown(t))
    return 0


COMMANDS = {
    "fair-study": cmd_fair_study,
    "fair-table": cmd_fair_table,
    "train": cmd_train,
    "serve": cmd_serve,
    "replay": cmd_replay,
    "study": cmd_study,
    "report": cmd_report,
    "scenario-study": cmd_scenario_study,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args._argv = argv
    try:
        return COMMANDS[args.command](args)
    except HillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
