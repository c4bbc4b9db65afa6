"""Build environments by name. Env modules are imported on first use, so `import envs`
stays light and a pure-JAX user never pays for MJX."""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from envs.core import MetaEnv

_REGISTRY: dict[str, tuple[str, str]] = {
    "bandit": ("envs.bandit", "Bandit"),
    "semicircle": ("envs.semicircle", "Semicircle"),
    "numpad": ("envs.numpad", "NumPad"),
    "cheetah_vel": ("envs.cheetah_vel", "CheetahVel"),
    "quadruped_semicircle": ("envs.quadruped_semicircle", "QuadrupedSemicircle"),
}


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def _env_class(name: str) -> type[MetaEnv]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown env {name!r}; valid names: {list(_REGISTRY)}")
    module, cls = _REGISTRY[name]
    return getattr(importlib.import_module(module), cls)


def env_kwargs(name: str) -> tuple[str, ...]:
    """The keyword arguments `make(name, ...)` accepts."""
    signature = inspect.signature(_env_class(name).__init__)
    return tuple(p for p in signature.parameters if p != "self")


def make(name: str, **kwargs: Any) -> MetaEnv:
    """`make("semicircle", physics="kinematic", reward="dense")`."""
    valid = env_kwargs(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"unknown env kwargs {unknown} for env {name!r}; valid: {list(valid)}")
    return _env_class(name)(**kwargs)
