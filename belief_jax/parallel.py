"""Data parallelism over envs with `jax.sharding`: the env axis of the actor state is split
across a 1-D device mesh, everything else is replicated. Under `jit`, XLA's partitioner then
runs each device's envs locally and all-reduces the gradients, which are means over the
batch — so the update is the same on 1 or D devices."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from belief_jax.train import RunnerState


def make_mesh(num_devices: int, num_envs: int) -> Mesh:
    """A mesh over the first `num_devices` devices (0 = all of them)."""
    available = jax.devices()
    count = num_devices or len(available)
    if count > len(available):
        raise ValueError(f"num_devices={count} but only {len(available)} device(s) are "
                         f"available; valid: 0 (all) or 1..{len(available)}")
    if num_envs % count:
        raise ValueError(f"ppo.num_envs={num_envs} must be divisible by the number of devices "
                         f"({count}); set num_devices or num_envs accordingly")
    return Mesh(np.array(available[:count]), ("envs",))


def state_shardings(state: RunnerState, mesh: Mesh):
    """Shardings for a seed-batched runner state: actor leaves are [seeds, envs, ...]."""
    replicated = NamedSharding(mesh, PartitionSpec())
    by_env = NamedSharding(mesh, PartitionSpec(None, "envs"))
    actor = jax.tree.map(lambda _: by_env, state.actor)
    rest = jax.tree.map(lambda _: replicated, state._replace(actor=None))
    return rest._replace(actor=actor)
