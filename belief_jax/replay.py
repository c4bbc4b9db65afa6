"""In-JAX sequence replay on flashbax's trajectory buffer.

Every env step is stored with the recurrent state the actor had *before* it, so a sampled
sequence starts from exactly the state the actor was in at its first step, and with the
behaviour policy's log-probability, for the off-policy correction.
"""
from __future__ import annotations

from typing import Any

import flashbax as fbx
import jax


def make_sequence_buffer(num_envs: int, sequence_length: int, batch_size: int,
                         capacity: int, min_steps: int):
    """A buffer of `capacity` env steps in total (split evenly over envs), sampling
    `batch_size` sequences of `sequence_length` consecutive steps of one env each."""
    per_env = capacity // num_envs
    min_per_env = max(sequence_length, min_steps // num_envs)
    return fbx.make_trajectory_buffer(
        add_batch_size=num_envs, sample_batch_size=batch_size,
        sample_sequence_length=sequence_length, period=1,
        min_length_time_axis=min_per_env, max_length_time_axis=per_env)


def add_time_major(buffer, buffer_state, transitions: Any):
    """Adds [T, B, ...] rollout data (flashbax wants batch-major [B, T, ...])."""
    return buffer.add(buffer_state, jax.tree.map(lambda x: x.swapaxes(0, 1), transitions))


def sample_time_major(buffer, buffer_state, key: jax.Array) -> Any:
    """A [L, N, ...] batch of N sequences."""
    experience = buffer.sample(buffer_state, key).experience
    return jax.tree.map(lambda x: x.swapaxes(0, 1), experience)
