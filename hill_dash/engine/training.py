"""One training chunk: K epochs of cross-entropy plus the teacher term.

`train_chunk` is a plain loop (no framework): a seeded `torch.Generator` fixes
the batch order, so the guided chunk and its unguided twin (λ = 0) see exactly
the same batches, and the same checkpoint, seed and edits give bit-identical
weights. Progress goes out per step through a callback; a `should_stop`
callable lets a cancelled job stop between steps.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hill_dash.engine.errors import HillError
from hill_dash.engine.teacher import Teacher
from hill_dash.engine.teacher_loss import TeacherTable, batch_terms, target_ramp, teacher_term

ProgressFn = Callable[[int, int, float], None]  # (step, total steps, running loss)


class ChunkCancelled(RuntimeError):
    """The chunk was stopped before its last step; nothing of it is stored."""


class ChunkDiverged(HillError):
    """The loss became NaN or infinite; nothing of the chunk is stored."""


# A step loss above this (or NaN) stops the chunk: a sane cross-entropy is below ~50 and
# the teacher term, dimensionless, below ~1e4 at λ = 100.
DIVERGED_LOSS = 1e6

# What a chunk's hyper-parameters may be: (lowest, highest, integer?). One place for the
# engine's checks, the Advanced settings fields and the CLI. A learning rate above 1 makes
# Adam diverge on every built-in model; λ above 100 drowns the cross-entropy.
CHUNK_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "epochs": (1, 1000, True),
    "batch_size": (1, 100_000, True),
    "lr": (1e-7, 1.0, False),
    "lam": (0.0, 100.0, False),
    "anchor": (0.0, 100.0, False),
    "kd_weight": (0.0, 100.0, False),
    "kd_temperature": (0.1, 100.0, False),
    "threads": (1, 64, True),
}


@dataclass
class ChunkConfig:
    """Hyper-parameters of one chunk (stored with every chunk in run.json)."""

    epochs: int = 5  # epochs per chunk (K)
    batch_size: int = 64
    lr: float = 1e-3  # Adam learning rate
    lam: float = 1.0  # λ: weight of the teacher term
    anchor: float = 0.0  # λ_anchor: unedited training points keep their latent
    kd_weight: float = 0.0  # output-level distillation through the frozen head
    kd_temperature: float = 2.0
    ramp: bool = True  # the teacher's targets approached over the epochs (target_ramp)
    seed: int = 0  # batch-order seed of this chunk
    # torch threads per lineage: part of the chunk, so its numbers do not depend on the
    # thread count of whatever process runs it (a reduction's order does)
    threads: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ChunkConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def check_overrides(overrides: dict, where: str = "overrides") -> dict:
    """A chunk's hyper-parameter overrides, checked: unknown keys and values out of
    `CHUNK_BOUNDS` raise a HillError that names the key and what was expected."""
    unknown = sorted(set(overrides) - set(CHUNK_BOUNDS))
    if unknown:
        raise HillError(
            f"{where}: unknown setting(s) {', '.join(map(repr, unknown))}; "
            f"expected some of {', '.join(CHUNK_BOUNDS)}"
        )
    out = {}
    for key, value in overrides.items():
        lo, hi, integer = CHUNK_BOUNDS[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = ok and math.isfinite(value) and lo <= value <= hi
        if ok and integer and value != int(value):
            ok = False
        if not ok:
            kind = "an integer" if integer else "a number"
            raise HillError(f"{where}.{key}: expected {kind} in [{lo:g}, {hi:g}], got {value!r}")
        out[key] = int(value) if integer else float(value)
    return out


@contextlib.contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count set to `n` inside, put back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(int(n), 1))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def pick_device(preference: str = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU. Call only inside a training job."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference == "cuda" and not torch.cuda.is_available():
        raise HillError("device: 'cuda' was asked for but no CUDA device is available")
    return torch.device(preference)


def make_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """Adam, with torch's fused kernel where the device has one (CPU, CUDA): one call per
    parameter tensor instead of ~12 small operations. A chunk of the built-in models takes
    9–30 % less time (docs/benchmarks.md §1); the arithmetic is Adam's, rounded differently.

    The choice is stored with the optimizer's state (its `fused` flag), and a restored
    optimizer takes the stored one: a run keeps the Adam it started with, and a run made
    before the fused kernel keeps the per-tensor Adam's steps.
    """
    params = list(model.parameters())
    try:
        return torch.optim.Adam(params, lr=lr, fused=True)
    except RuntimeError:  # parameters on a device (or of a dtype) without the fused kernel
        return torch.optim.Adam(params, lr=lr)


def batch_order(n: int, batch_size: int, epochs: int, seed: int) -> list[torch.Tensor]:
    """The index batches of a whole chunk; a pure function of (n, batch size, epochs, seed)."""
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        batches.extend(perm.split(batch_size))
    return batches


def train_chunk(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    X: np.ndarray,
    y: np.ndarray,
    cfg: ChunkConfig,
    teacher: Teacher | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    step_offset: int = 0,
    total_steps: int | None = None,
    weights: np.ndarray | None = None,
) -> dict:
    """Train in place for cfg.epochs.

    Returns the means {"loss", "ce", "teacher"}, "steps", and "curve": per step the batch's
    loss, cross-entropy, teacher term and accuracy (lists, for the training-curve panel).
    Labels of -1 mark unlabelled training points: no cross-entropy, only the teacher.
    `weights` (one ≥ 0 per training point, None = all 1): the batch's cross-entropy is the
    weighted mean Σ w_i ce_i / Σ w_i over its labelled rows (the study's up-weighting
    controls; weight 0 is the same as an unlabelled point).
    """
    device = next(model.parameters()).device
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    yt = torch.as_tensor(y, dtype=torch.long, device=device)
    unlabelled = bool((yt < 0).any())
    wt = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
    if wt is not None and (wt.shape != yt.shape or bool((wt < 0).any())):
        raise HillError(f"weights: expected {len(y)} values >= 0, one per training point")
    # the latent term (λ, λ_anchor) and output distillation (kd_weight) each switch the
    # teacher on; with λ = λ_anchor = 0 and kd_weight > 0 the chunk is distillation only
    latent = cfg.lam > 0 or cfg.anchor > 0
    guided = teacher is not None and not teacher.empty and (latent or cfg.kd_weight > 0)
    table = TeacherTable(teacher, len(X), device) if guided else None
    frozen_head = _frozen_head(model) if guided and cfg.kd_weight > 0 else None
    batches = batch_order(len(X), cfg.batch_size, cfg.epochs, cfg.seed)
    if device.type != "cpu":  # moved once, not a step at a time
        batches = [b.to(device) for b in batches]
    total = total_steps or len(batches)
    curve: dict[str, list] = {"loss": [], "ce": [], "teacher": [], "acc": []}
    # per step, kept as tensors and read back once per epoch (no host sync inside a step):
    # (ce, teacher term) and the logits (their classes taken once per epoch); the progress
    # message shows the mean loss of the epochs read
    unread: list[tuple[torch.Tensor, torch.Tensor | None, float]] = []
    step_logits: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    running = float("nan")
    model.train()
    # the teacher's lookups, one epoch of batches at a time, outside the autograd steps
    per_epoch = -(-len(X) // cfg.batch_size)
    ramp = target_ramp(cfg.epochs) if cfg.ramp else None
    # on the CPU the teacher is compiled (`teacher_kernel`: its terms as arrays, its loss
    # and gradient one call a step); elsewhere torch operations
    kernel = _cpu_kernel() if table is not None and latent and device.type == "cpu" else None
    terms = itertools.repeat(None)
    if table is not None and latent:
        prepare = batch_terms if kernel is None else kernel.batch_terms
        terms = prepare(batches, table, cfg.lam, cfg.anchor, per_epoch, ramp)
    # the epoch's latents, for the frame's rotation (only when one can be estimated)
    seen: list[torch.Tensor] | None = [] if table is not None and table.rotates else None
    last_epoch_start = (len(batches) - 1) // per_epoch * per_epoch
    for step, (idx, term) in enumerate(zip(batches, terms, strict=False)):  # terms may repeat
        if should_stop is not None and should_stop():
            raise ChunkCancelled(f"stopped at step {step_offset + step} of {total}")
        logits, z = model(Xt[idx])
        yb = yt[idx]
        if wt is not None:
            ce = _weighted_cross_entropy(logits, yb, wt[idx])
        elif unlabelled:
            ce = _cross_entropy(logits, yb)
        else:
            ce = F.cross_entropy(logits, yb)
        # the teacher: on the CPU one compiled call, its value a float and its gradient on
        # z a second root of the backward pass; elsewhere torch operations in the loss
        pushed, value, extra = None, 0.0, None
        if term is not None and kernel is not None:
            value, pushed = kernel.teacher_grad(z, term)
            pushed = pushed if z.requires_grad else None  # a latent no gradient can reach
        else:
            extra = teacher_term(z, term)
        if frozen_head is not None:
            kd = cfg.kd_weight * _distill(z, idx, table, frozen_head, logits, cfg)
            extra = kd if extra is None else extra + kd
        # the twin's step is exactly a bare step: no zero term, no extra autograd node
        loss = ce if extra is None else ce + extra
        optimizer.zero_grad(set_to_none=True)
        if pushed is None:
            loss.backward()
        else:
            torch.autograd.backward((loss, z), (None, pushed))
        optimizer.step()
        unread.append((ce.detach(), None if extra is None else extra.detach(), value))
        step_logits.append(logits.detach())
        labels.append(yb)
        if seen is not None and step < last_epoch_start:  # no rotation after the last epoch
            seen.append(z.detach())
        epoch_end = (step + 1) % per_epoch == 0 or step + 1 == len(batches)
        if epoch_end:
            first = step + 1 - len(unread)
            _read_epoch(unread, curve, step_offset + first, cfg)
            curve["acc"].extend(_accuracies(step_logits, labels))
            if seen:
                table.observe(torch.cat(batches[first : step + 1]), torch.cat(seen))
                seen = []
                if (step + 1) % per_epoch == 0:
                    table.refresh_rotation()
            unread, step_logits, labels = [], [], []
            running = sum(curve["loss"]) / len(curve["loss"])
        if progress is not None:
            progress(step_offset + step + 1, total, running)
    n = max(len(batches), 1)
    means = {k: sum(curve[k]) / n for k in ("loss", "ce", "teacher")}
    return means | {"steps": len(batches), "curve": curve}


def _cpu_kernel():
    """`teacher_kernel`, imported by a guided chunk only (numba's import takes ~1 s, and
    the web process imports this module). None would leave the teacher to the torch
    operations: the same teacher to float rounding (what tests and benchmarks compare)."""
    from hill_dash.engine import teacher_kernel

    return teacher_kernel


def _accuracies(logits: list[torch.Tensor], labels: list[torch.Tensor]) -> list[float]:
    """Per step, the share of its labelled rows predicted right (0 for none): one argmax
    and one read for the epoch's steps."""
    pred, y = torch.cat(logits).argmax(1), torch.cat(labels)
    sizes = torch.tensor([len(b) for b in labels], device=y.device)
    step = torch.repeat_interleave(torch.arange(len(labels), device=y.device), sizes)
    labelled = y >= 0
    right = torch.zeros(len(labels), device=y.device)
    right.index_add_(0, step, ((pred == y) & labelled).float())
    count = torch.zeros(len(labels), device=y.device).index_add_(0, step, labelled.float())
    return (right / count.clamp(min=1)).tolist()


def _read_epoch(unread: list, curve: dict, first_step: int, cfg: ChunkConfig) -> None:
    """One epoch's step losses read back in one sync, checked, and added to the curve.

    Per step: the cross-entropy, the teacher's terms as a tensor (torch) or None, and as a
    float (the CPU kernel's, else 0); a step's teacher term is their sum."""
    ce = torch.stack([c for c, _, _ in unread]).tolist()
    extras = [e for _, e, _ in unread if e is not None]
    read = iter(torch.stack(extras).tolist() if extras else [])
    teacher = [v if e is None else next(read) + v for _, e, v in unread]
    for i, (c, t) in enumerate(zip(ce, teacher, strict=True)):
        if not abs(c + t) < DIVERGED_LOSS:  # NaN fails this too
            raise ChunkDiverged(_diverged(first_step + i + 1, c, t, cfg))
    curve["ce"].extend(ce)
    curve["teacher"].extend(teacher)
    curve["loss"].extend(c + t for c, t in zip(ce, teacher, strict=True))


def _diverged(step: int, ce: float, extra: float, cfg: ChunkConfig) -> str:
    term = "the teacher term" if abs(ce) < DIVERGED_LOSS else "the cross-entropy"
    return (
        f"training diverged at step {step}: {term} became {ce + extra:.3g} "
        f"(learning rate {cfg.lr:g}, λ {cfg.lam:g}). Lower the learning rate under "
        "Advanced settings (or λ) and train again; the run stays at its last checkpoint."
    )


def _cross_entropy(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the labelled rows (0 for a batch with none)."""
    labelled = (y >= 0).sum().clamp(min=1)
    return F.cross_entropy(logits, y, ignore_index=-1, reduction="sum") / labelled


def _weighted_cross_entropy(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor):
    """Σ w_i ce_i / Σ w_i over the labelled rows (0 for a batch without weight)."""
    w = w * (y >= 0)
    ce = F.cross_entropy(logits, y.clamp(min=0), reduction="none")
    return (w * ce).sum() / w.sum().clamp(min=1e-12)


def _frozen_head(model: nn.Module) -> nn.Module | None:
    head = getattr(model, "head", None)
    if head is None:
        return None
    frozen = copy.deepcopy(head).eval()
    for p in frozen.parameters():
        p.requires_grad_(False)
    return frozen


def _distill(z, idx, table: TeacherTable, head: nn.Module, logits, cfg: ChunkConfig):
    """KL(softmax(h_k(t)/T) ‖ softmax(h(f(x))/T)) over the edited points of the batch."""
    mask = table.mask[idx]
    if not bool(mask.any()):
        return logits.new_zeros(())
    T = cfg.kd_temperature
    teacher_probs = F.softmax(head(table.table[idx[mask]]) / T, dim=1)
    student_logp = F.log_softmax(logits[mask] / T, dim=1)
    return F.kl_div(student_logp, teacher_probs, reduction="batchmean") * T * T


@torch.no_grad()
def infer(model: nn.Module, X: np.ndarray, batch_size: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(logits, latents) as float32 numpy arrays, in eval mode."""
    device = next(model.parameters()).device
    model.eval()
    logits, latents = [], []
    for start in range(0, len(X), batch_size):
        xb = torch.as_tensor(X[start : start + batch_size], dtype=torch.float32, device=device)
        lg, z = model(xb)
        logits.append(lg.float().cpu().numpy())
        latents.append(z.float().cpu().numpy())
    return np.concatenate(logits), np.concatenate(latents)
