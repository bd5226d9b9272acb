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


@dataclass
class ScenarioConfig:
    """A scenario study (issue 10): one scripted user, its random control at the same
    budget, the direct annotation controls and the unguided lineage (stored in study.json)."""

    dataset: str = "digits-decoy"  # a scenario name (hill_dash.engine.scenarios)
    model: str | None = None
    user: str = "inspect-and-pull"
    controls: list[str] | None = None  # None: the ones that fit the scenario
    seeds: int = 5
    first_seed: int = 0
    chunks: int = 3
    epochs: int = 5
    batch_size: int = 64
    lam: float = 1.0
    kd_weight: float = 1.0  # output-level distillation: a pull to class c says "this is c"
    budget: float = DEFAULT_BUDGET_FRACTION  # share of training points edited per chunk
    thumbnails: int = 50  # samples a user may inspect per chunk
    trust_after: int = 5  # inspect-and-pull: decoy groups seen before it pulls unread ones
    keep_pulls: bool = True  # inspect-and-pull: pull again what it pulled in earlier chunks
    latent_dim: int = 32
    projection: str = "umap"  # what a person looks at (clusters show on UMAP, not on PCA)
    threads: int = 1
    jobs: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self) -> None:
        from hill_dash.engine.scenarios import SCENARIOS
        from hill_dash.study.controls import CONTROLS
        from hill_dash.study.users import USERS

        if self.dataset not in SCENARIOS:
            raise HillError(
                f"scenario study: --dataset {self.dataset!r}: expected one of "
                f"{', '.join(SCENARIOS)}"
            )
        if self.user not in USERS or self.user == "random":
            raise HillError(f"scenario study: --user {self.user!r}: expected inspect-and-pull")
        for c in self.controls or []:
            if c not in CONTROLS:
                raise HillError(
                    f"scenario study: --controls {c!r}: expected some of {', '.join(CONTROLS)}"
                )
        if self.seeds < 1 or self.chunks < 1 or self.epochs < 1 or self.thumbnails < 0:
            raise HillError("scenario study: --seeds, --chunks, --epochs must be at least 1")
        if not 0 < self.budget <= 1:
            raise HillError(f"scenario study: --budget {self.budget}: expected a share in (0, 1]")
