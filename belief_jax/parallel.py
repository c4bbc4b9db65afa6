"""Data parallelism over envs with `jax.sharding`: the env axis of the actor state is split
across a 1-D device mesh, everything else is replicated. Under `jit`, XLA's partitioner then
runs each device's envs locally and all-reduces the gradients, which are means over the
batch — so the update is the same on 1 or D devices.

The update needs one hint: PPO shuffles envs across the whole batch, and XLA's partitioner
gathers a shuffled, sharded array into a replicated one (SVG(0)'s batches, sampled from a
replay buffer kept on every device, come out replicated too), after which every device ran
the whole update (measured: per-device FLOPs did not drop on 2 devices). `shard_envs` pins
each batch's env axis back onto the mesh, so each device computes the loss and gradients of
its share of it."""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from belief_jax.types import RunnerState

ENV_AXIS = "envs"


def env_shards(size: int) -> int:
    """How many devices an env axis of `size` is split over by `shard_envs` (1 without a
    mesh, or where `size` does not divide evenly)."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or ENV_AXIS not in mesh.axis_names:
        return 1
    count = mesh.shape[ENV_AXIS]
    return count if size % count == 0 else 1


def shard_envs(tree, axis: int):
    """`tree` with `axis` of each leaf split over the env axis of the mesh set by
    `jax.set_mesh` (the runner sets it while compiling); unchanged without such a mesh, on one
    device, or where the axis does not divide evenly."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or ENV_AXIS not in mesh.axis_names or mesh.shape[ENV_AXIS] == 1:
        return tree
    spec = PartitionSpec(*([None] * axis), ENV_AXIS)
    return jax.tree.map(lambda x: x if x.shape[axis] % mesh.shape[ENV_AXIS]
                        else jax.lax.with_sharding_constraint(x, spec), tree)


def make_mesh(num_devices: int, num_envs: int, learner: str = "learner") -> Mesh:
    """A mesh over the first `num_devices` devices (0 = all of them). In a multi-process run
    the devices are every process's, and the mesh must hold them all."""
    available = jax.devices()
    count = num_devices or len(available)
    processes = jax.process_count()
    where = f" across {processes} processes" if processes > 1 else ""
    if count > len(available) or (processes > 1 and count != len(available)):
        valid = f"0 or {len(available)}" if processes > 1 else f"0 (all) or 1..{len(available)}"
        raise ValueError(f"num_devices={count} but only {len(available)} device(s) are "
                         f"available{where}; valid: {valid}")
    if num_envs % count:
        raise ValueError(f"{learner}.num_envs={num_envs} must be divisible by the number of "
                         f"devices ({count}{where}); set num_devices or num_envs accordingly")
    return Mesh(np.array(available[:count]), (ENV_AXIS,))


def state_shardings(state: RunnerState, mesh: Mesh):
    """Shardings for a seed-batched runner state: actor leaves are [seeds, envs, ...]."""
    replicated = NamedSharding(mesh, PartitionSpec())
    by_env = NamedSharding(mesh, PartitionSpec(None, ENV_AXIS))
    actor = jax.tree.map(lambda _: by_env, state.actor)
    rest = jax.tree.map(lambda _: replicated, state._replace(actor=None))
    return rest._replace(actor=actor)
