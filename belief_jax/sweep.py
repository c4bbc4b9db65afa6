"""A sweep over a numeric hyperparameter as one program: the value is an argument of the
training function, vmapped over values and over seeds together, so a sweep compiles once
instead of once per value (rejax does the same for learning rates).

Only fields that never change shapes or Python control flow can be traced. The bottleneck
weights switch a module on when positive (`agents.config.switched_on`), so a sweep over
them takes positive values only; β = 0 is another network and runs on its own."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from belief_jax.config import TrainConfig
from belief_jax.train import make_train, validate
from belief_jax.validation import deferred_validation

SWITCHES = ("network.ib_belief", "network.ib_policy", "network.ib_critic")
SWEEPABLE = (*SWITCHES, "network.aux_weight", "network.pearl_kl", "network.pearl_free_nats",
             "network.pearl_max_nats", "LEARNER.learning_rate", "ppo.ent_coef", "ppo.vf_coef")


def _owner(config: TrainConfig, group: str):
    """The config object a `group.name` field lives in: the network, the chosen learner, or
    None."""
    if group == "network":
        return config.network
    return config.learner if group == config.learner.name else None


def with_value(config: TrainConfig, field: str, value) -> TrainConfig:
    """`config` with the dotted `field` (network.X, or LEARNER.X for the chosen learner)
    set to `value`."""
    group, _, name = field.partition(".")
    owner = _owner(config, group)
    if owner is None:
        raise ValueError(f"field={field!r} is not one of {list(sweepable(config))}")
    changed = dataclasses.replace(owner, **{name: value})
    return config.replace(**{"network" if group == "network" else "learner": changed})


def sweepable(config: TrainConfig) -> tuple[str, ...]:
    """The fields a one-program sweep of `config` can trace."""
    names = dict.fromkeys(f.replace("LEARNER", config.learner.name) for f in SWEEPABLE)
    return tuple(f for f in names
                 if hasattr(_owner(config, f.partition(".")[0]), f.partition(".")[2]))


def variants(config: TrainConfig, field: str, values: Sequence[float]) -> list[TrainConfig]:
    """One validated config per value; raises ValueError naming the field before anything
    compiles."""
    if field not in sweepable(config):
        raise ValueError(f"field={field!r} cannot be swept in one program; valid: "
                         f"{list(sweepable(config))}")
    if not values:
        raise ValueError("values must not be empty")
    if field in SWITCHES and min(values) <= 0:
        raise ValueError(f"{field} = 0 has no bottleneck (another network): sweep positive "
                         f"values in one program and run 0 on its own, got {list(values)}")
    configs = [with_value(config, field, float(v)) for v in values]
    for variant in configs:
        validate(variant)
    return configs


def make_sweep(config: TrainConfig, field: str, values: Sequence[float]):
    """`sweep(keys) -> (state, (metrics, evaluation))`, every leaf with leading axes
    [values, seeds]: `make_train` of each value's config, vmapped over both. `keys` are the
    seeds' keys, shared by every value, so value i with key j is the run
    `make_train(with_value(config, field, values[i]))(keys[j])`."""
    variants(config, field, values)  # all checks, before tracing

    def train(value: jax.Array, key: jax.Array):
        # the traced value cannot be compared (every value was checked above), and learners
        # derive configs from it while building (SVG(0)'s forward-pass network config)
        with deferred_validation():
            return make_train(with_value(config, field, value))(key)

    grid = jax.vmap(jax.vmap(train, in_axes=(None, 0)), in_axes=(0, None))
    array = jnp.asarray(values, jnp.float32)
    return lambda keys: grid(array, keys)
