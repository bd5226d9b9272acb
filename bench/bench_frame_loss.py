"""The teacher's frame loss three ways: compiled, closed-form backward, plain autograd.

`teacher_kernel` (the CPU default since round 21) computes the loss and its gradient on
z in one numba call, handed to backward as a second root; `teacher_loss._FrameLoss`
computes them as torch operations with a hand-written backward (one autograd node; the
GPU path); `autograd` is the same loss as a dozen recorded operations. Per model,
train_chunk runs a guided chunk (a move of one class, as bench_chunk's "move" teacher)
with each version and an unguided chunk (the twin), back to back in a rotating order, in
one process; the ratios to the twin are taken within each repetition, on CPU time (one
torch thread), so machine load hits all four alike.

    python bench/bench_frame_loss.py [--reps 15]
"""

from __future__ import annotations

import argparse
import copy
import time

import common  # noqa: F401 - first: it puts the repository on sys.path
import torch
from bench_chunk import make_teacher
from common import summary, write_result

from hill_dash.engine import training
from hill_dash.engine.data import load_builtin
from hill_dash.engine.models import ModelConfig, build_model
from hill_dash.engine.teacher_loss import Term, teacher_term


def autograd_term(z: torch.Tensor, term: Term | None) -> torch.Tensor | None:
    """The loss `teacher_term` computes, written as plain tensor operations."""
    if term is None:
        return None
    if term.ref_w is None:
        return ((z * term.root - term.targets) ** 2).sum()
    zc = z - term.ref_w @ z
    var = term.ref_w @ zc.pow(2).sum(1)
    return ((zc * (term.root * var.rsqrt()) - term.targets) ** 2).sum()


VERSIONS = {"kernel": teacher_term, "closed_form": teacher_term, "autograd": autograd_term}
CPU_KERNEL = training._cpu_kernel


def measure(name: str, arch: str, epochs: int, reps: int) -> dict:
    data = load_builtin(name, seed=0)
    model0 = build_model(ModelConfig(arch, data.sample_shape, data.n_classes), seed=0)
    teacher = make_teacher(model0, data, "move")
    guided = training.ChunkConfig(epochs=epochs, batch_size=64, lam=1.0, seed=3)
    twin = training.ChunkConfig(epochs=epochs, batch_size=64, lam=0.0, seed=3)

    def run(kind: str) -> float:
        training.teacher_term = VERSIONS.get(kind, teacher_term)
        training._cpu_kernel = CPU_KERNEL if kind == "kernel" else lambda: None
        m = copy.deepcopy(model0)
        opt = training.make_optimizer(m, 1e-3)
        cfg, t = (twin, None) if kind == "twin" else (guided, teacher)
        c0 = time.process_time()
        training.train_chunk(m, opt, data.X_train, data.y_train, cfg, t)
        return time.process_time() - c0

    kinds = [*VERSIONS, "twin"]
    try:
        for k in kinds:
            run(k)  # warm-up
        cpu = {k: [] for k in kinds}
        for r in range(reps):
            for k in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                cpu[k].append(run(k))
    finally:
        training.teacher_term = teacher_term
        training._cpu_kernel = CPU_KERNEL
    ratios = {
        f"{k}_over_twin": summary([a / b for a, b in zip(cpu[k], cpu["twin"], strict=True)])
        for k in VERSIONS
    }
    cpu_s = {k: summary(v) for k, v in cpu.items()}
    return {"case": f"{name} {arch}, move", "epochs": epochs, "cpu_seconds": cpu_s} | ratios


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--out", default="frame_loss")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    for name, arch, epochs in (("digits", "mlp", 5), ("mnist1d", "cnn1d", 2)):
        row = measure(name, arch, epochs, args.reps)
        rows.append(row)
        print(
            f"{name}: guided ÷ twin, kernel {row['kernel_over_twin']['median']:.3f}, "
            f"closed form {row['closed_form_over_twin']['median']:.3f}, "
            f"autograd {row['autograd_over_twin']['median']:.3f}",
            flush=True,
        )
    write_result(args.out, {"reps": args.reps, "threads": 1, "cases": rows})


if __name__ == "__main__":
    main()
