"""A small model zoo with a named latent layer, plus "bring your own" nn.Module.

Every model here is a `LatentModel`: `model(x)` returns `(logits, z)` where `z`
is the latent layer the map shows and the teacher pulls on. Built-ins split
into an `encoder` (x -> z) and a `head` (z -> logits); a user's own module is
wrapped by `HookedModel`, which captures the latent layer with a forward hook.
`cnn2d` takes images with or without channels: sample shape `(H, W)` or `(C, H, W)`.

A user's model is named by a factory, `"package.module:function"`, called as
`function(sample_shape=..., n_classes=..., latent_dim=...)` and returning an nn.Module;
`custom_config` imports, builds and tries it once and says clearly what is wrong.
Importing a factory runs its module's code: the dashboard only offers it when the
person starting it allows that (HILL_DASH_ALLOW_CUSTOM_MODELS=1).
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import asdict, dataclass

import torch
from torch import nn

ARCHS = ("mlp", "cnn1d", "cnn2d")
FACTORY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


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


class _PoolTo(nn.AdaptiveAvgPool2d):
    """`AdaptiveAvgPool2d` that passes an input already of its output size through.

    Digits' 8 × 8 images are 4 × 4 after the stride-2 convolution, so the pool averages
    windows of one value: the value itself, bit for bit, yet torch's pooling took 0.69 ms
    of a 2.4 ms training step (forward and backward). Larger images are pooled as before.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == tuple(self.output_size):
            return x
        return super().forward(x)


def _cnn2d(cfg: ModelConfig) -> LatentModel:
    h, w = cfg.sample_shape[-2:]
    channels = cfg.sample_shape[0] if len(cfg.sample_shape) == 3 else 1
    encoder = nn.Sequential(
        nn.Unflatten(1, (1, h)) if len(cfg.sample_shape) == 2 else nn.Identity(),
        nn.Conv2d(channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 32, 3, padding=1, stride=2),
        nn.ReLU(),
        _PoolTo((4, 4)),
        nn.Flatten(),
        nn.Linear(32 * 16, cfg.latent_dim),
    )
    return LatentModel(encoder, nn.Sequential(nn.ReLU(), nn.Linear(cfg.latent_dim, cfg.n_classes)))


def _custom(cfg: ModelConfig) -> HookedModel:
    factory = _import_factory(cfg.factory)
    kwargs = {
        "sample_shape": tuple(cfg.sample_shape),
        "n_classes": cfg.n_classes,
        "latent_dim": cfg.latent_dim,
    }
    try:
        module = factory(**kwargs)
    except Exception as exc:
        call = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(
            f"factory: {cfg.factory}({call}) raised {type(exc).__name__}: {exc}"
        ) from None
    if not isinstance(module, nn.Module):
        raise ValueError(
            f"factory: {cfg.factory} returned {type(module).__name__}; expected a torch.nn.Module"
        )
    if not cfg.latent_layer:
        raise ValueError("latent_layer: empty; expected the dotted name of a submodule")
    return HookedModel(module, cfg.latent_layer)


def _import_factory(spec: str):
    """The function named by ``"package.module:function"``, imported (this runs its module)."""
    if not FACTORY.match(spec or ""):
        raise ValueError(f"factory: expected 'package.module:function', got {spec!r}")
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ValueError(
            f"factory: cannot import module {module_name!r} ({type(exc).__name__}: {exc}); "
            "it must be importable by the dashboard and its job processes"
        ) from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        raise ValueError(f"factory: module {module_name!r} has no function {func_name!r}")
    return factory


def custom_config(
    factory: str,
    latent_layer: str,
    sample_shape: tuple[int, ...],
    n_classes: int,
    latent_dim: int = 32,
) -> ModelConfig:
    """A checked config for a user's model: the factory imports, builds a module that has
    ``latent_layer``, and a batch of two zero samples gives ``(2, n_classes)`` logits and a
    latent; ``latent_dim`` becomes the latent's real width. Raises ValueError naming the
    field (``factory`` or ``latent_layer``) and what was expected."""
    cfg = ModelConfig(
        "custom",
        tuple(int(d) for d in sample_shape),
        int(n_classes),
        int(latent_dim),
        factory=(factory or "").strip(),
        latent_layer=(latent_layer or "").strip(),
    )
    model = build_model(cfg)
    model.eval()
    try:
        with torch.no_grad():
            logits = model.module(torch.zeros(2, *cfg.sample_shape))
    except Exception as exc:
        raise ValueError(
            f"factory: the model from {cfg.factory} fails on a batch of shape "
            f"{(2, *cfg.sample_shape)} ({type(exc).__name__}: {exc})"
        ) from None
    latent, model._latent = model._latent, None
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (2, cfg.n_classes):
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(
            f"factory: the model from {cfg.factory} returns {got}; expected logits of shape "
            f"(batch, {cfg.n_classes})"
        )
    if not isinstance(latent, torch.Tensor) or latent.ndim < 2 or latent.shape[0] != 2:
        got = "nothing (it did not run)" if latent is None else type(latent).__name__
        if isinstance(latent, torch.Tensor):
            got = f"shape {tuple(latent.shape)}"
        raise ValueError(
            f"latent_layer: {cfg.latent_layer!r} gave {got} in forward; expected a tensor "
            "with one row per sample"
        )
    cfg.latent_dim = int(latent.flatten(1).shape[1])
    return cfg


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
