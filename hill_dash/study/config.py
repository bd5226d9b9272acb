"""A study's settings: data, model, strategies and the training protocol (stored in study.json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from hill_dash.engine.errors import HillError
from hill_dash.study.strategies import DEFAULT_BUDGET_FRACTION, get_strategy

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
