"""Running normalisation of value targets (`ppo.normalize_values`).

The critic learns value targets divided by a running estimate of their scale, so the value
loss (and its share of a clipped global gradient norm) stays O(1) whatever the rewards' scale;
GAE reads the critic's outputs mapped back to returns. This is the target normalisation of
PopArt (van Hasselt et al. 2016) without its output-preserving rescale of the last layer, as
in MAPPO's ValueNorm (Yu et al. 2022): the agents' critic heads differ (generic, factored), and
with a slow decay the stats move little per update.

Written here rather than taken from rlax: `rlax.art` sums one update per target, so its step
depends on the batch size; this is one debiased EMA step per PPO update over the batch mean.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# the smallest scale a target is divided by: a task whose returns barely vary (early sparse
# reward) would otherwise blow its normalised targets up
MIN_SCALE = 1e-2


class ValueNorm(NamedTuple):
    mean: jax.Array     # [] EMA of the targets (started at 0)
    mean_sq: jax.Array  # [] EMA of their squares
    weight: jax.Array   # [] EMA of 1: divides out the zero start (Adam's bias correction)


def init() -> ValueNorm:
    zero = jnp.zeros((), jnp.float32)
    return ValueNorm(zero, zero, zero)


def moments(stats: ValueNorm) -> tuple[jax.Array, jax.Array]:
    """(mean, scale) of the targets seen so far; (0, 1) before the first update."""
    seen = stats.weight > 0
    weight = jnp.where(seen, stats.weight, 1.0)
    mean = jnp.where(seen, stats.mean / weight, 0.0)
    variance = jnp.where(seen, stats.mean_sq / weight - mean**2, 1.0)
    return mean, jnp.sqrt(jnp.maximum(variance, MIN_SCALE**2))


def update(stats: ValueNorm, targets: jax.Array, weight: jax.Array, decay: float) -> ValueNorm:
    """One EMA step towards the weighted batch mean and mean square of `targets`."""
    total = jnp.maximum(jnp.sum(weight), 1e-8)
    batch_mean = jnp.sum(weight * targets) / total
    batch_mean_sq = jnp.sum(weight * targets**2) / total
    mix = lambda old, new: decay * old + (1.0 - decay) * new
    return jax.lax.stop_gradient(ValueNorm(mix(stats.mean, batch_mean),
                                           mix(stats.mean_sq, batch_mean_sq),
                                           mix(stats.weight, 1.0)))


def normalize(stats: ValueNorm, values: jax.Array) -> jax.Array:
    mean, scale = moments(stats)
    return (values - mean) / scale


def denormalize(stats: ValueNorm, values: jax.Array) -> jax.Array:
    mean, scale = moments(stats)
    return values * scale + mean
