"""In-JAX sequence replay on flashbax's trajectory buffer.

Every env step is stored with the recurrent state the actor had *before* it, so a sampled
sequence starts from exactly the state the actor was in at its first step, and with the
behaviour policy's log-probability, for the off-policy correction.

Whole trials (`sample_whole_trials`): every env's trials have one fixed length L and all
start together at the first add, so with a per-env capacity that is a multiple of L the
writes wrap at a trial boundary and a trial starts at each physical index k·L. flashbax
samples starts relative to its oldest step, which after a wrap is not a trial start, so
those are sampled here.
"""
from __future__ import annotations

from typing import Any

import flashbax as fbx
import jax
import jax.numpy as jnp


def make_sequence_buffer(num_envs: int, sequence_length: int, batch_size: int,
                         capacity: int, min_steps: int, whole_trials: bool = False):
    """A buffer of `capacity` env steps in total (split evenly over envs), sampling
    `batch_size` sequences of `sequence_length` consecutive steps of one env each. With
    `whole_trials` (`sequence_length` is then the trial length) the per-env capacity is cut
    to a multiple of it, for `sample_whole_trials`."""
    per_env = capacity // num_envs
    if whole_trials:
        per_env -= per_env % sequence_length
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


def sample_whole_trials(buffer_state, key: jax.Array, batch_size: int,
                        trial_length: int) -> Any:
    """A [L, N, ...] batch of N whole trials, each from its first step (see the module
    docstring for what the buffer must hold), uniformly over the trials stored entirely:
    not the one being written when the writes wrap inside it."""
    num_envs, per_env = jax.tree.leaves(buffer_state.experience)[0].shape[:2]
    start = trial_length * jnp.arange(per_env // trial_length)
    written = jnp.where(buffer_state.is_full, per_env, buffer_state.current_index)
    writing = (start < buffer_state.current_index) & (
        buffer_state.current_index < start + trial_length)
    stored = (start + trial_length <= written) & ~writing
    # before a whole trial is stored (vmapped seeds run the sampler under a select even
    # then) any slot will do: the step is discarded
    stored = jnp.where(stored.any(), stored, True)
    slot_key, env_key = jax.random.split(key)
    starts = jax.random.choice(slot_key, start, (batch_size,), p=stored / stored.sum())
    rows = jax.random.randint(env_key, (batch_size,), 0, num_envs)
    time = starts[None, :] + jnp.arange(trial_length)[:, None]
    return jax.tree.map(lambda x: x[rows[None, :], time], buffer_state.experience)
