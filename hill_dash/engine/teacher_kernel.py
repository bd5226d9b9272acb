"""The teacher's loss and its gradient on z, compiled for the CPU (one call per step).

`teacher_loss.teacher_term` writes the frame loss as torch operations: about twenty small
ones per step, forward and backward, each ~5 µs inside a real training step (its caches
taken by the model), which cost a guided step on the digits MLP ~25 % of a bare step
(benchmarks §1). Here the same loss and its closed-form gradient are one numba function
over the batch's latents; `train_chunk` hands the gradient to autograd as a second root
of the backward pass, `backward((loss, z), (None, ∂teacher/∂z))`, which adds it where the
cross-entropy's gradient reaches z: no autograd node, no extra operation.

The math is `teacher_loss._FrameLoss`'s (local frame) and ``Σ‖r z − τ‖²`` (global frame);
`tests/test_teacher_kernel.py` checks both against autograd. On a GPU the torch
operations stay (`on_cpu`). Sums accumulate in float64; the gradient has z's dtype.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from hill_dash.engine.teacher_loss import Term


def on_cpu(z: torch.Tensor) -> bool:
    """Whether this step's teacher runs here (a CPU latent that takes a gradient)."""
    return z.device.type == "cpu" and z.requires_grad


def teacher_grad(z: torch.Tensor, term: Term) -> tuple[float, torch.Tensor]:
    """The batch's teacher loss and its gradient ∂loss/∂z (a new tensor, z's shape)."""
    zn = z.detach().numpy()
    dz = np.empty_like(zn)
    root = term.root.numpy().ravel()
    if term.ref_w is None:
        value = _global_frame(zn, root, term.targets.numpy(), dz)
    else:
        value = _local_frame(zn, term.ref_w.numpy(), root, term.targets.numpy(), dz)
    return value, torch.from_numpy(dz)


def warm_up() -> None:
    """Compile (or load from numba's cache) both kernels for float32, e.g. in a job
    launcher before it forks, so that no chunk pays for it."""
    z = torch.zeros(2, 2, requires_grad=True)
    w, root = torch.tensor([1.0, 0.0]), torch.ones(2, 1)
    teacher_grad(z, Term(w, root, torch.zeros(2, 2)))
    teacher_grad(z, Term(None, root, torch.zeros(2, 2)))


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _global_frame(z, root, targets, dz):  # pragma: no cover - compiled
    """Σ_i ‖r_i z_i − τ_i‖²; dz_i = 2 r_i (r_i z_i − τ_i)."""
    n, d = z.shape
    loss = 0.0
    for i in range(n):
        r = root[i]
        for k in range(d):
            e = r * z[i, k] - targets[i, k]
            loss += e * e
            dz[i, k] = 2.0 * r * e
    return loss


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _local_frame(z, w, root, targets, dz):  # pragma: no cover - compiled
    """Σ_i ‖r_i (z_i − μ)/σ − τ_i‖², μ = wᵀz, σ² = Σ_j w_j ‖z_j − μ‖², and its gradient:
    with e_i = r_i (z_i − μ)/σ − τ_i, G_i = e_i r_i/σ, c = Σ_i r_i e_i·(z_i − μ)/σ³ and
    m = Σ_j w_j (z_j − μ): ∂L/∂z_k = 2 [G_k − w_k Σ_i G_i − c w_k (z_k − μ − m)]."""
    n, d = z.shape
    mu = np.zeros(d)
    for i in range(n):
        if w[i] != 0.0:
            for k in range(d):
                mu[k] += w[i] * z[i, k]
    var = 0.0
    for i in range(n):
        if w[i] != 0.0:
            s2 = 0.0
            for k in range(d):
                t = z[i, k] - mu[k]
                s2 += t * t
            var += w[i] * s2
    s = 1.0 / np.sqrt(var)
    loss, c = 0.0, 0.0
    g_sum, m = np.zeros(d), np.zeros(d)
    for i in range(n):
        a = root[i] * s
        for k in range(d):
            zc = z[i, k] - mu[k]
            e = zc * a - targets[i, k]
            loss += e * e
            c += root[i] * e * zc
            dz[i, k] = 2.0 * e * a
            g_sum[k] += e * a
            m[k] += w[i] * zc
    c *= s * s * s
    for i in range(n):
        if w[i] != 0.0:
            for k in range(d):
                dz[i, k] -= 2.0 * w[i] * (g_sum[k] + c * (z[i, k] - mu[k] - m[k]))
    return loss
