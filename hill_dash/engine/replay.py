"""Replay an exported session: same data, config, seeds and edits; compare the metrics.

    python -m hill_dash replay session.json [--data-dir DIR]

The session JSON is untrusted: it is size-capped and validated field by field
before anything runs, and every problem raises StoreError naming the file and
the field. Training is deterministic on the same machine and device, so a
faithful replay reproduces train / val accuracy and gap exactly.
"""

from __future__ import annotations

import json
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hill_dash.engine import loop
from hill_dash.engine.data import BUILTINS, Dataset, load_builtin
from hill_dash.engine.errors import DataError, StoreError
from hill_dash.engine.export import SESSION_FORMAT, dataset_digest
from hill_dash.engine.models import ARCHS
from hill_dash.engine.store import CKPT_ID, RunStore, check_run_id
from hill_dash.engine.teacher import Edit

MAX_SESSION_BYTES = 64 * 1024 * 1024
MAX_CHUNKS = 10_000
COMPARED = ("train_acc", "val_acc", "gap")  # must match exactly
REPORTED = (*COMPARED, "val_loss")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
INT32 = 2**31


@dataclass
class ChunkSpec:
    index: int
    overrides: dict  # this chunk's hyper-parameters (seed excluded: it derives from the run)
    seed: int | None
    edits: list[Edit]
    guided: str
    twin: str


@dataclass
class SessionSpec:
    """A validated session file."""

    path: str
    run_id: str
    name: str
    config: dict
    sizes: dict[str, int]
    dataset: dict
    chunks: list[ChunkSpec]
    metrics: dict[str, dict]  # checkpoint -> {train_acc, val_acc, gap, val_loss}
    forked_from: dict | None
    pending: int  # edits made but never trained (not replayed)


# -- reading untrusted JSON ---------------------------------------------------


class _Fields:
    """Typed getters that raise StoreError naming `<file>: <field>: <expectation>`."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, field: str, expected: str, got: object = ...) -> StoreError:
        tail = "" if got is ... else f", got {_short(got)}"
        return StoreError(f"{self.path}: {field}: expected {expected}{tail}")

    def obj(self, d: dict, key: str, field: str) -> dict:
        v = d.get(key)
        if not isinstance(v, dict):
            raise self.fail(field, "an object", v)
        return v

    def lst(self, d: dict, key: str, field: str, max_len: int) -> list:
        v = d.get(key)
        if not isinstance(v, list) or len(v) > max_len:
            raise self.fail(field, f"a list of at most {max_len} items", v)
        return v

    def int_(self, d: dict, key: str, field: str, lo: int, hi: int) -> int:
        v = d.get(key)
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise self.fail(field, f"an integer in {lo}..{hi}", v)
        return v

    def num(self, d: dict, key: str, field: str, lo: float, hi: float) -> float:
        v = d.get(key)
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        if not ok or not lo <= v <= hi:
            raise self.fail(field, f"a finite number in {lo}..{hi}", v)
        return float(v)

    def str_(
        self, d: dict, key: str, field: str, choices: tuple | None = None, max_len: int = 200
    ) -> str:
        v = d.get(key)
        if not isinstance(v, str) or len(v) > max_len or (choices and v not in choices):
            raise self.fail(field, f"one of {choices}" if choices else "a short string", v)
        return v

    def ckpt(self, d: dict, key: str, field: str) -> str:
        v = d.get(key)
        if not isinstance(v, str) or not CKPT_ID.match(v):
            raise self.fail(field, "a checkpoint id such as 'c0' or 'g3'", v)
        return v

    def run_id(self, d: dict, key: str, field: str) -> str:
        try:
            return check_run_id(d.get(key))
        except StoreError as exc:
            raise StoreError(f"{self.path}: {field}: {exc}") from None


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def read_session_file(path: str | Path) -> dict:
    """The session's JSON object (size-capped; NaN/Infinity refused), from a session.json
    or from the zip the Runs page and `export_session` write (its session.json member)."""
    p = Path(path)
    if not p.is_file():
        raise StoreError(f"{p}: session file not found")
    if zipfile.is_zipfile(p):
        return _parse_session_bytes(_zip_member(p), f"{p}: session.json")
    with open(p, "rb") as fh:
        raw = fh.read(MAX_SESSION_BYTES + 1)
    return _parse_session_bytes(raw, str(p))


def _zip_member(p: Path) -> bytes:
    try:
        with zipfile.ZipFile(p) as zf:
            try:
                info = zf.getinfo("session.json")
            except KeyError:
                raise StoreError(
                    f"{p}: zip: no session.json inside; expected a session exported by "
                    "HILL Dash (Runs page → Export, or export_session)"
                ) from None
            if info.file_size > MAX_SESSION_BYTES:
                return b"x" * (MAX_SESSION_BYTES + 1)
            with zf.open(info) as fh:
                return fh.read(MAX_SESSION_BYTES + 1)
    except zipfile.BadZipFile as exc:
        raise StoreError(f"{p}: zip: unreadable ({exc})") from None


def _parse_session_bytes(raw: bytes, where: str) -> dict:
    if len(raw) > MAX_SESSION_BYTES:
        raise StoreError(
            f"{where}: file: larger than {MAX_SESSION_BYTES // 2**20} MB; "
            "expected an exported session.json"
        )
    try:
        obj = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise StoreError(
            f"{where}: file: not valid JSON ({type(exc).__name__}: {_short(str(exc))})"
        ) from None
    if not isinstance(obj, dict):
        raise StoreError(f"{where}: (top level): expected a JSON object, got {type(obj).__name__}")
    return obj


def parse_session(obj: dict, path: str = "session.json") -> SessionSpec:
    """Validate every field replay uses; raises StoreError naming the first bad one."""
    f = _Fields(path)
    if obj.get("format") != SESSION_FORMAT:
        raise f.fail("format", repr(SESSION_FORMAT), obj.get("format"))
    run = f.obj(obj, "run", "run")
    run_id = f.run_id(run, "id", "run.id")
    config = _parse_config(f, f.obj(run, "config", "run.config"))
    sizes_d = f.obj(run, "sizes", "run.sizes")
    sizes = {s: f.int_(sizes_d, s, f"run.sizes.{s}", 0, 10**8) for s in ("train", "val", "test")}
    n_points = sum(sizes.values())
    chunks = [
        _parse_chunk(f, ch, i, n_points)
        for i, ch in enumerate(f.lst(run, "chunks", "run.chunks", MAX_CHUNKS))
    ]
    if not chunks:
        raise f.fail("run.chunks", "at least one trained chunk", [])
    forked = None
    if run.get("forked_from") is not None:
        fk = f.obj(run, "forked_from", "run.forked_from")
        forked = {
            "run": f.run_id(fk, "run", "run.forked_from.run"),
            "checkpoint": f.ckpt(fk, "checkpoint", "run.forked_from.checkpoint"),
        }
    dataset = _parse_dataset(f, f.obj(obj, "dataset", "dataset"))
    metrics = _parse_metrics(f, f.obj(obj, "metrics", "metrics"), chunks)
    pending = len(run.get("pending") or []) if isinstance(run.get("pending"), list) else 0
    name = run.get("name") if isinstance(run.get("name"), str) else run_id
    return SessionSpec(
        path, run_id, name[:100], config, sizes, dataset, chunks, metrics, forked, pending
    )


def _parse_config(f: _Fields, cfg: dict) -> dict:
    m = f.obj(cfg, "model", "run.config.model")
    arch = f.str_(m, "arch", "run.config.model.arch", ARCHS)  # never "custom": no imports
    shape = f.lst(m, "sample_shape", "run.config.model.sample_shape", 3)
    if not shape or not all(
        isinstance(s, int) and not isinstance(s, bool) and 0 < s <= 10**6 for s in shape
    ):
        raise f.fail("run.config.model.sample_shape", "1 to 3 positive integers", shape)
    model = {
        "arch": arch,
        "sample_shape": shape,
        "n_classes": f.int_(m, "n_classes", "run.config.model.n_classes", 2, 100_000),
        "latent_dim": f.int_(m, "latent_dim", "run.config.model.latent_dim", 1, 4096),
        "hidden": f.int_(m, "hidden", "run.config.model.hidden", 1, 65_536),
    }
    chunk = _parse_chunk_config(f, f.obj(cfg, "chunk", "run.config.chunk"), "run.config.chunk")
    return {
        "model": model,
        "chunk": chunk,
        "projection": f.str_(cfg, "projection", "run.config.projection", ("umap", "pca")),
        "seed": f.int_(cfg, "seed", "run.config.seed", -INT32, INT32 - 1),
        "device": f.str_(cfg, "device", "run.config.device", ("auto", "cpu", "cuda")),
    }


def _parse_chunk_config(f: _Fields, c: dict, where: str) -> dict:
    return {
        "epochs": f.int_(c, "epochs", f"{where}.epochs", 1, 10_000),
        "batch_size": f.int_(c, "batch_size", f"{where}.batch_size", 1, 10**6),
        "lr": f.num(c, "lr", f"{where}.lr", 1e-12, 10.0),
        "lam": f.num(c, "lam", f"{where}.lam", 0.0, 1e6),
        "anchor": f.num(c, "anchor", f"{where}.anchor", 0.0, 1e6),
        "kd_weight": f.num(c, "kd_weight", f"{where}.kd_weight", 0.0, 1e6),
        "kd_temperature": f.num(c, "kd_temperature", f"{where}.kd_temperature", 1e-6, 1e6),
    }


def _parse_chunk(f: _Fields, ch: object, i: int, n_points: int) -> ChunkSpec:
    where = f"run.chunks[{i}]"
    if not isinstance(ch, dict):
        raise f.fail(where, "an object", ch)
    if ch.get("index") != i:
        raise f.fail(f"{where}.index", str(i), ch.get("index"))
    edits = [
        Edit.from_dict(e, n_points, f"{f.path}: {where}.edits[{j}]")
        for j, e in enumerate(f.lst(ch, "edits", f"{where}.edits", 100_000))
    ]
    if i == 0 and edits:
        raise f.fail(f"{where}.edits", "no edits in chunk 0 (it trains from scratch)")
    forked = ch.get("forked") is True
    overrides, seed = {}, None
    if not forked:
        overrides = _parse_chunk_config(
            f, f.obj(ch, "config", f"{where}.config"), f"{where}.config"
        )
        seed = f.int_(ch, "seed", f"{where}.seed", -(2**62), 2**62)
    if forked and i != 0:
        raise f.fail(f"{where}.forked", "only on chunk 0")
    return ChunkSpec(
        i,
        overrides,
        seed,
        edits,
        f.ckpt(ch, "guided", f"{where}.guided"),
        f.ckpt(ch, "twin", f"{where}.twin"),
    )


def _parse_dataset(f: _Fields, d: dict) -> dict:
    digest = d.get("content_sha256")
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise f.fail("dataset.content_sha256", "64 lowercase hex digits", digest)
    builtin = d.get("builtin")
    if not isinstance(builtin, bool):
        raise f.fail("dataset.builtin", "true or false", builtin)
    name = f.str_(d, "name", "dataset.name", BUILTINS if builtin else None)
    return {
        "name": name,
        "builtin": builtin,
        "content_sha256": digest,
        "seed": f.int_(d, "seed", "dataset.seed", -INT32, INT32 - 1),
    }


def _parse_metrics(f: _Fields, m: dict, chunks: list[ChunkSpec]) -> dict[str, dict]:
    out = {}
    for ch in chunks:
        for ck in dict.fromkeys((ch.guided, ch.twin)):
            rec = f.obj(m, ck, f"metrics.{ck}")
            train = f.obj(rec, "train", f"metrics.{ck}.train")
            val = f.obj(rec, "val", f"metrics.{ck}.val")
            out[ck] = {
                "train_acc": f.num(train, "acc", f"metrics.{ck}.train.acc", 0.0, 1.0),
                "val_acc": f.num(val, "acc", f"metrics.{ck}.val.acc", 0.0, 1.0),
                "gap": f.num(rec, "gap", f"metrics.{ck}.gap", -1.0, 1.0),
                "val_loss": f.num(val, "loss", f"metrics.{ck}.val.loss", 0.0, 1e9),
            }
    return out


# -- replaying ----------------------------------------------------------------------


def replay_data(spec: SessionSpec, store: RunStore) -> Dataset:
    """The session's data set: a rebuilt built-in, or the source run's data.npz."""
    want = spec.dataset["content_sha256"]
    if spec.dataset["builtin"]:
        data = load_builtin(spec.dataset["name"], store.root, spec.dataset["seed"])
        if dataset_digest(data) == want:
            return data
    source = store.runs / spec.run_id / "data.npz"  # run id already validated
    if source.is_file():
        try:
            data = Dataset.load_npz(source)
        except DataError as exc:
            raise StoreError(f"{spec.path}: dataset: {exc}") from None
        if dataset_digest(data) == want:
            return data
    raise StoreError(
        f"{spec.path}: dataset.content_sha256: no matching data set; replay rebuilds built-ins "
        f"and otherwise needs the source run's data.npz at {source}"
    )


def replay_session(path: str | Path, data_dir: str | Path | None = None) -> dict:
    """Re-run a session in a fresh run of `data_dir`'s store and compare its metrics."""
    spec = parse_session(read_session_file(path), str(path))
    store = RunStore(data_dir)
    data = replay_data(spec, store)
    sizes = {"train": len(data.y_train), "val": len(data.y_val), "test": len(data.y_test)}
    if sizes != spec.sizes:
        raise StoreError(f"{path}: run.sizes: expected {sizes} for this data set, got {spec.sizes}")
    model = spec.config["model"]
    if model["n_classes"] != data.n_classes or tuple(model["sample_shape"]) != data.sample_shape:
        raise StoreError(
            f"{path}: run.config.model: expected n_classes {data.n_classes} and "
            f"sample_shape {list(data.sample_shape)} for this data set"
        )
    run_id = _start_replay_run(spec, store, data)
    seeds_ok = True
    for ch in spec.chunks[1:]:
        for edit in ch.edits:
            loop.add_edit(store, run_id, edit)
        done = loop.run_chunk(store, run_id, overrides=ch.overrides)
        seeds_ok &= done["seed"] == ch.seed
    return compare_metrics(spec, store, run_id) | {"seeds_match": seeds_ok}


def _start_replay_run(spec: SessionSpec, store: RunStore, data: Dataset) -> str:
    name = f"replay of {spec.name}"
    if spec.chunks[0].guided != "c0":
        raise StoreError(f"{spec.path}: run.chunks[0].guided: expected 'c0'")
    if spec.forked_from is not None:
        src = spec.forked_from
        if not store.exists(src["run"]):
            raise StoreError(
                f"{spec.path}: run.forked_from.run: this run was forked from "
                f"{src['run']!r}, which is not in {store.root}; replay needs it"
            )
        run_id = loop.fork_run(store, src["run"], src["checkpoint"], name=name)
        store.update_run(run_id, lambda r: r.update(config=spec.config))
        return run_id
    cfg = spec.config
    run_id = loop.create_run(
        store,
        data,
        arch=cfg["model"]["arch"],
        latent_dim=cfg["model"]["latent_dim"],
        projection=cfg["projection"],
        seed=cfg["seed"],
        device=cfg["device"],
        name=name,
    )
    # the session's config as recorded (hidden width, chunk defaults), not create_run's defaults
    store.update_run(run_id, lambda r: r.update(config=spec.config))
    loop.run_chunk(store, run_id)
    return run_id


def compare_metrics(spec: SessionSpec, store: RunStore, run_id: str) -> dict:
    """Per checkpoint: recorded vs replayed values, and the max abs difference per metric."""
    recs = store.metrics(run_id)
    rows, missing = [], []
    max_diff = dict.fromkeys(REPORTED, 0.0)
    for ck, want in spec.metrics.items():
        rec = recs.get(ck)
        if rec is None:
            missing.append(ck)
            continue
        got = {
            "train_acc": rec["train"]["acc"],
            "val_acc": rec["val"]["acc"],
            "gap": rec["gap"],
            "val_loss": rec["val"]["loss"],
        }
        row = {"checkpoint": ck}
        for k in REPORTED:
            diff = abs(got[k] - want[k])
            max_diff[k] = max(max_diff[k], diff)
            row[k] = [want[k], got[k]]
        rows.append(row)
    identical = not missing and all(max_diff[k] == 0.0 for k in COMPARED)
    return {
        "identical": identical,
        "session": spec.path,
        "source_run": spec.run_id,
        "replay_run": run_id,
        "chunks": len(spec.chunks),
        "max_abs_diff": max_diff,
        "missing_checkpoints": missing,
        "pending_edits_not_replayed": spec.pending,
        "checkpoints": rows,
    }
