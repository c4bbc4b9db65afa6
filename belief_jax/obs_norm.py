"""Observation normalisation: the agent reads (obs − mean) / std, with the running mean and
variance of every observation the learner has seen (brax's PPO and SB3's VecNormalize do the
same; MuJoCo bodies' raw observations mix joint angles of O(0.1) with velocities of O(10)).

The moments live in the agent's flax variables, in their own collection (`COLLECTION`), so
acting, validation and checkpoints carry them with the parameters. The agent stops their
gradient, so the learners' optimisers leave them as they are (Adam's step on a leaf whose
gradient is always zero is exactly zero); learners replace them with `update` after each
update, so a rollout is learnt from under the moments it was acted under (PPO's ratio is
exact). Not brax's `running_statistics`: its state is a dataclass outside flax's variables,
and it comes from `brax.training`, which this JAX cannot import whole.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

COLLECTION = "obs_norm"
MODULE = "obs_norm"  # the normaliser's name inside the agent
# Observations that never vary (a constant coordinate) would otherwise be divided by ~0.
MIN_STD = 1e-3
# Normalised observations are clipped here (SB3's default): one wild state must not saturate
# every unit of the first layer.
CLIP = 10.0


class ObsNormalizer(nn.Module):
    """(obs − mean) / std from the collection's moments; identity before any update."""

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        size = obs.shape[-1]
        mean = self.variable(COLLECTION, "mean", jnp.zeros, (size,), jnp.float32).value
        var = self.variable(COLLECTION, "var", jnp.ones, (size,), jnp.float32).value
        # count is float so that differentiating the whole variables dict stays valid
        self.variable(COLLECTION, "count", jnp.zeros, (), jnp.float32)
        mean, std = jax.lax.stop_gradient((mean, jnp.maximum(jnp.sqrt(var), MIN_STD)))
        return jnp.clip((obs - mean) / std, -CLIP, CLIP)


def _find(variables: dict) -> dict | None:
    """The normaliser's moments in an agent's variables (None when it has none)."""
    collection = variables.get(COLLECTION)
    return None if collection is None else collection[MODULE]


def merge(moments: dict, obs: jax.Array) -> dict:
    """The moments of all observations so far and the batch `obs` [..., F] together (Chan et
    al.'s pairwise update: exact, and stable for any batch size)."""
    batch = obs.reshape(-1, obs.shape[-1]).astype(jnp.float32)
    n_b = jnp.float32(batch.shape[0])
    mean_b = batch.mean(0)
    var_b = ((batch - mean_b) ** 2).mean(0)
    n_a, mean_a, var_a = moments["count"], moments["mean"], moments["var"]
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * n_b / n
    var = (n_a * var_a + n_b * var_b + delta**2 * n_a * n_b / n) / n
    # before the first update `var` holds the identity's 1, weighted by n_a = 0
    return {"mean": mean, "var": var, "count": n}


def update(variables: dict, obs: jax.Array) -> dict:
    """`variables` with the normaliser's moments merged with `obs`; unchanged if the agent
    has no normaliser."""
    moments = _find(variables)
    if moments is None:
        return variables
    return {**variables, COLLECTION: {MODULE: merge(moments, obs)}}


def copy_moments(source: dict, target: dict) -> dict:
    """`target` (e.g. a target network's variables) with the moments of `source`."""
    if _find(source) is None:
        return target
    return {**target, COLLECTION: source[COLLECTION]}
