"""A small model zoo with a named latent layer, plus "bring your own" nn.Module.

Every model here is a `LatentModel`: `model(x)` returns `(logits, z)` where `z`
is the latent layer the map shows and the teacher pulls on. Built-ins split
into an `encoder` (x -> z) and a `head` (z -> logits); a user's own module is
wrapped by `HookedModel`, which captures the latent layer with a forward hook.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

ARCHS = ("mlp", "cnn1d", "cnn2d")


@dataclass
class ModelConfig:
    """What is needed to rebuild a model in a fresh process (stored in run.json)."""

    arch: str  # "mlp" | "cnn1d" | "cnn2d" | "custom"
    sample_shape: tuple[int, ...]  # one input sample, e.g. (8, 8) or (40,)
    n_classes: int
    latent_dim: int = 32  # width of the latent layer the map shows
    hidden: int = 128  # width of hidden layers in the built-ins
    factory: str = ""  # custom only: "package.module:function" returning an nn.Module
    latent_layer: str = ""  # custom only: dotted name of the latent submodule

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sample_shape"] = list(self.sample_shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields["sample_shape"] = tuple(int(v) for v in fields["sample_shape"])
        return cls(**fields)


class LatentModel(nn.Module):
    """encoder: x -> z (latent_dim); head: z -> logits. forward returns (logits, z)."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.encoder(x)  # (B, latent_dim)
        return self.head(z), z


class HookedModel(nn.Module):
    """Any nn.Module whose latent layer is captured by a forward hook.

    The hooked output keeps its graph, so the teacher loss trains through it.
    `head` is None: the output-level distillation term needs a separable head.
    """

    head = None

    def __init__(self, module: nn.Module, latent_layer: str):
        super().__init__()
        self.module = module
        self.latent_layer = latent_layer
        try:
            layer = module.get_submodule(latent_layer)
        except AttributeError as exc:
            names = [n for n, _ in module.named_modules() if n]
            raise ValueError(
                f"latent_layer: no submodule {latent_layer!r} in {type(module).__name__}; "
                f"expected one of {names[:20]}"
            ) from exc
        self._latent: torch.Tensor | None = None
        layer.register_forward_hook(self._capture)

    def _capture(self, _module, _inputs, output) -> None:
        self._latent = output

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.module(x)
        z = self._latent.flatten(1)  # (B, latent_dim)
        self._latent = None
        return logits, z


def _mlp(cfg: ModelConfig) -> LatentModel:
    n_in = math.prod(cfg.sample_shape)
    encoder = nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_in, cfg.hidden),
        nn.ReLU(),
        nn.Linear(cfg.hidden, cfg.hidden),
        nn.ReLU(),
        nn.Linear(cfg.hidden, cfg.latent_dim),
    )
    return LatentModel(encoder, nn.Sequential(nn.ReLU(), nn.Linear(cfg.latent_dim, cfg.n_classes)))


def _cnn1d(cfg: ModelConfig) -> LatentModel:
    (length,) = cfg.sample_shape[-1:]
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, length)) if len(cfg.sample_shape) == 1 else nn.Identity(),
        nn.Conv1d(1, 32, 5, padding=2),
        nn.ReLU(),
        nn.Conv1d(32, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.Conv1d(32, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(32 * math.ceil(math.ceil(length / 2) / 2), cfg.latent_dim),
    )
    return LatentModel(encoder, nn.Sequential(nn.ReLU(), nn.Linear(cfg.latent_dim, cfg.n_classes)))


def _cnn2d(cfg: ModelConfig) -> LatentModel:
    h, w = cfg.sample_shape[-2:]
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, h)) if len(cfg.sample_shape) == 2 else nn.Identity(),
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((4, 4)),
        nn.Flatten(),
        nn.Linear(32 * 16, cfg.latent_dim),
    )
    return LatentModel(encoder, nn.Sequential(nn.ReLU(), nn.Linear(cfg.latent_dim, cfg.n_classes)))


def _custom(cfg: ModelConfig) -> HookedModel:
    module_name, _, func_name = cfg.factory.partition(":")
    if not module_name or not func_name:
        raise ValueError(f"factory: expected 'package.module:function', got {cfg.factory!r}")
    factory = getattr(importlib.import_module(module_name), func_name)
    module = factory(
        sample_shape=cfg.sample_shape, n_classes=cfg.n_classes, latent_dim=cfg.latent_dim
    )
    return HookedModel(module, cfg.latent_layer)


_BUILDERS = {"mlp": _mlp, "cnn1d": _cnn1d, "cnn2d": _cnn2d, "custom": _custom}


def default_arch(kind: str) -> str:
    """The built-in that suits a data kind: images -> cnn2d, sequences -> cnn1d, else mlp."""
    return {"image": "cnn2d", "sequence": "cnn1d"}.get(kind, "mlp")


def build_model(cfg: ModelConfig, seed: int = 0) -> nn.Module:
    """A freshly initialised model; the same config and seed give the same weights."""
    if cfg.arch not in _BUILDERS:
        raise ValueError(f"model: unknown architecture {cfg.arch!r}; expected one of {ARCHS}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _BUILDERS[cfg.arch](cfg)


def wrap_module(module: nn.Module, latent_layer: str) -> HookedModel:
    """Bring your own: steer any nn.Module through the output of `latent_layer`."""
    return HookedModel(module, latent_layer)
