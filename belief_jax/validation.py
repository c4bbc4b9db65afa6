"""Config validation shared by every config class: checks run in `__post_init__` unless
deferred, and each message names the full field (`ppo.num_envs`) and the valid values."""
from __future__ import annotations

import contextlib
import contextvars

_DEFER = contextvars.ContextVar("defer_validation", default=False)


@contextlib.contextmanager
def deferred_validation():
    """Build configs without checking them (the CLI parser would swallow our messages into
    its own box); call `config.validate()` afterwards."""
    token = _DEFER.set(True)
    try:
        yield
    finally:
        _DEFER.reset(token)


class Validated:
    def __post_init__(self):
        if not _DEFER.get():
            self.validate()

    def validate(self) -> None:
        raise NotImplementedError


def choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(valid)}")


def positive(obj: object, prefix: str, *names: str) -> None:
    """Each `obj.name` > 0; messages name the field as `prefix.name`."""
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ValueError(f"{prefix}{name} must be positive, got {value!r}")


def non_negative(obj: object, prefix: str, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ValueError(f"{prefix}{name} must be >= 0, got {getattr(obj, name)!r}")


def unit_interval(obj: object, prefix: str, *names: str) -> None:
    for name in names:
        if not 0 <= getattr(obj, name) <= 1:
            raise ValueError(f"{prefix}{name} must lie in [0, 1], got {getattr(obj, name)!r}")
