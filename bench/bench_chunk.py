"""A training chunk with the teacher term vs a bare PyTorch loop over the same batches.

Both start from the same weights with a fresh Adam, see the same batches (the chunk's
`batch_order`) and run the same epochs; the bare loop is forward, cross-entropy,
backward, step and nothing else. Per repetition the three variants (bare, twin =
train_chunk without teacher, guided = train_chunk with the relative teacher, λ = 1) run
back to back in a rotating order, and the ratios are taken within the repetition, so
machine load hits both sides alike. train_chunk also records the per-step curves (loss,
cross-entropy, teacher term, batch accuracy) for the dashboard: that bookkeeping is in
the twin's time as well. Both clocks are recorded: wall time, and the process's CPU time
(torch runs single-threaded here, so CPU time is the work done and is not inflated when
other jobs share the two cores). Target: guided / bare <= 1.10.

Models: the digits MLP, the digits 2-D CNN and the MNIST-1D CNN (the app's defaults for
those data sets), and an MLP on 20 000 synthetic 784-feature points. Two teachers per
model:

- **pulls**: pull edits on a random 10 % of the training points, to every class: their
  target classes' points are all held as landmarks, so no reference frame is left and
  every batch uses the global frame (the study's random control);
- **move**: one class's training points moved (the product's default gesture): every
  batch has reference rows, a frame of its own and the epoch's rotation.

    python bench/bench_chunk.py [--reps 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import time

import common  # noqa: F401  (puts the repository on sys.path)
import numpy as np
import torch
import torch.nn.functional as F
from common import flat_dataset, median, summary, write_result

from hill_dash.engine.data import Dataset, load_builtin
from hill_dash.engine.models import ModelConfig, build_model
from hill_dash.engine.projection import fit_map
from hill_dash.engine.teacher import Edit, build_teacher
from hill_dash.engine.training import ChunkConfig, batch_order, infer, make_optimizer, train_chunk


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of fn(); single-threaded torch, so the
    CPU time is the work done, free of the waits a loaded machine adds to wall time."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def bare_loop(model, opt, X, y, cfg: ChunkConfig) -> None:
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    model.train()
    for idx in batch_order(len(X), cfg.batch_size, cfg.epochs, cfg.seed):
        logits, _ = model(Xt[idx])
        loss = F.cross_entropy(logits, yt[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def make_teacher(model, data: Dataset, kind: str = "pulls", share: float = 0.10):
    """`pulls`: pull edits on a random 10 % of the training points (to every class), as the
    study's random control; `move`: class 3's training points moved a third of the map."""
    _, Z = infer(model, data.all_X())
    state = fit_map(Z, "pca")
    if kind == "move":
        sel = np.flatnonzero(data.y_train == 3).tolist()
        dx = float(np.ptp(state.coords[:, 0])) / 3
        return build_teacher(
            [Edit("translate", sel, dx=dx, dy=0.0)], Z, state, data.all_y(), data.split_array()
        )
    rng = np.random.default_rng(0)
    pick = rng.choice(len(data.y_train), int(share * len(data.y_train)), replace=False)
    edits = [
        Edit("pull", sorted(int(i) for i in part), target_class=int(c))
        for c, part in enumerate(np.array_split(pick, data.n_classes))
    ]
    return build_teacher(edits, Z, state, data.all_y(), data.split_array())


def synthetic(n: int, features: int, classes: int = 10) -> Dataset:
    g = np.random.default_rng(0)
    y = np.arange(n) % classes
    X = (g.normal(size=(classes, features))[y] + g.normal(size=(n, features))).astype(np.float32)
    return flat_dataset(f"synthetic-{n}x{features}", X, y, [str(c) for c in range(classes)])


def bench_case(
    name: str, data: Dataset, arch: str, epochs: int, reps: int, teacher_kind: str
) -> dict:
    model0 = build_model(ModelConfig(arch, data.sample_shape, data.n_classes), seed=0)
    teacher = make_teacher(model0, data, teacher_kind)
    cfg = ChunkConfig(epochs=epochs, batch_size=64, lam=1.0, seed=3)
    twin_cfg = ChunkConfig(epochs=epochs, batch_size=64, lam=0.0, seed=3)

    def fresh():
        m = copy.deepcopy(model0)
        return m, make_optimizer(m, 1e-3)

    def run_bare():
        m, o = fresh()
        return timed(lambda: bare_loop(m, o, data.X_train, data.y_train, cfg))

    def run_twin():
        m, o = fresh()
        return timed(lambda: train_chunk(m, o, data.X_train, data.y_train, twin_cfg))

    def run_guided():
        m, o = fresh()
        return timed(lambda: train_chunk(m, o, data.X_train, data.y_train, cfg, teacher))

    variants = {
        "bare": run_bare,
        "twin": run_twin,
        "guided": run_guided,
    }
    run_guided()  # warm-up (allocator, first-call overheads)
    run_bare()
    wall = {k: [] for k in variants}
    cpu = {k: [] for k in variants}
    names = list(variants)
    for r in range(reps):
        for k in names[r % len(names) :] + names[: r % len(names)]:
            w, c = variants[k]()
            wall[k].append(w)
            cpu[k].append(c)

    def ratios(t: dict) -> dict:
        return {
            f"{k}_over_bare": summary([a / b for a, b in zip(t[k], t["bare"], strict=True)])
            for k in ("guided", "twin")
        }

    steps = len(batch_order(len(data.y_train), 64, epochs, 3))
    return {
        "case": f"{name}, {teacher_kind}",
        "teacher": teacher_kind,
        "reference_rows": len(teacher.reference_idx),
        "arch": arch,
        "n_train": len(data.y_train),
        "epochs": epochs,
        "steps": steps,
        "edited": len(teacher.train_idx),
        "wall_seconds": {k: summary(v) for k, v in wall.items()},
        "cpu_seconds": {k: summary(v) for k, v in cpu.items()},
        "cpu_ms_per_step": {k: 1000 * median(v) / steps for k, v in cpu.items()},
        "ratios_wall": ratios(wall),
        "ratios_cpu": ratios(cpu),
        "target": "guided_over_bare median <= 1.10",
        "meets_target_wall": ratios(wall)["guided_over_bare"]["median"] <= 1.10,
        "meets_target_cpu": ratios(cpu)["guided_over_bare"]["median"] <= 1.10,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="chunk")
    p.add_argument("--teachers", nargs="+", default=["pulls", "move"], choices=["pulls", "move"])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    digits = load_builtin("digits", seed=0)
    mnist1d = load_builtin("mnist1d", data_dir=None, seed=0)  # generated in memory, no cache
    big = synthetic(20_000, 784)
    cases = [
        bench_case(name, data, arch, epochs, args.reps, kind)
        for name, data, arch, epochs in (
            ("digits mlp", digits, "mlp", 5),
            ("digits cnn2d (the app's default for digits)", digits, "cnn2d", 5),
            ("mnist1d cnn1d", mnist1d, "cnn1d", 5),
            ("synthetic 20k x 784 mlp", big, "mlp", 1),
        )
        for kind in args.teachers
    ]
    write_result(args.out, {"threads": args.threads, "cases": cases})


if __name__ == "__main__":
    main()
