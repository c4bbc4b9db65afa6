"""Trials, auto-reset and finite task sets: the one place where episodes become trials.

A trial (meta-episode) is `episodes_per_trial` episodes of one task. Inside a trial the
task is kept and each finished episode is reset with the same task; when the last episode
ends the trial ends, a new task is sampled and the env is reset (auto-reset).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from envs.core import MetaEnv, StepInfo, TaskInfo, TaskInfoSpec


@struct.dataclass
class TaskSet:
    """N pre-sampled tasks (a pytree with a leading axis N), sampled uniformly.

    The index of a task in the set is its id, usable as privileged information.
    """

    tasks: Any

    @staticmethod
    def sample_from(env: MetaEnv, key: jax.Array, num_tasks: int) -> TaskSet:
        if num_tasks < 1:
            raise ValueError(f"num_train_tasks must be >= 1 for a task set, got {num_tasks}")
        return TaskSet(jax.vmap(env.sample_task)(jax.random.split(key, num_tasks)))

    @property
    def size(self) -> int:
        return jax.tree.leaves(self.tasks)[0].shape[0]

    def get(self, task_id: jax.Array) -> Any:
        return jax.tree.map(lambda x: x[task_id], self.tasks)

    def sample(self, key: jax.Array) -> tuple[Any, jax.Array]:
        task_id = jax.random.randint(key, (), 0, self.size)
        return self.get(task_id), task_id


@struct.dataclass
class TrialState:
    env_state: Any
    task_id: jax.Array  # index into the TaskSet, or -1 for a task fresh from the distribution
    episode: jax.Array  # episodes finished in the current trial


class TrialWrapper:
    """Turns a `MetaEnv` into an auto-resetting stream of trials.

    `task_set=None` draws every trial's task fresh from the env's distribution (validation);
    a `TaskSet` draws among its tasks (meta-training on a finite set).
    """

    def __init__(self, env: MetaEnv, episodes_per_trial: int | None = None,
                 task_set: TaskSet | None = None):
        self.env = env
        self.episodes_per_trial = episodes_per_trial or env.default_episodes_per_trial
        if self.episodes_per_trial < 1:
            raise ValueError(f"episodes_per_trial must be >= 1, got {self.episodes_per_trial}")
        self.task_set = task_set

    @property
    def trial_length(self) -> int:
        return self.env.episode_length * self.episodes_per_trial

    def progress(self, state: TrialState) -> jax.Array:
        """The fraction of the trial already played: steps taken over `trial_length`."""
        steps = state.episode * self.env.episode_length + state.env_state.time
        return steps.astype(jnp.float32) / self.trial_length

    def sample_task(self, key: jax.Array) -> tuple[Any, jax.Array]:
        if self.task_set is None:
            return self.env.sample_task(key), jnp.int32(-1)
        task, task_id = self.task_set.sample(key)
        return task, task_id.astype(jnp.int32)

    def reset(self, key: jax.Array) -> tuple[jax.Array, TrialState]:
        task_key, reset_key = jax.random.split(key)
        task, task_id = self.sample_task(task_key)
        return self.reset_to(reset_key, task, task_id)

    def reset_to(self, key: jax.Array, task: Any, task_id: jax.Array | int = -1
                 ) -> tuple[jax.Array, TrialState]:
        """Starts a trial of a given task (e.g. a fixed validation set shared by baselines)."""
        obs, env_state = self.env.reset(key, task)
        return obs, TrialState(env_state=env_state, task_id=jnp.int32(task_id),
                               episode=jnp.int32(0))

    def step(self, key: jax.Array, state: TrialState, action: jax.Array):
        """`(obs, state, reward, done, info)`: `done` is the episode end, `info.trial_end` the
        trial end; on either, `obs` and `state` are already those of the next episode."""
        step_key, task_key, reset_key = jax.random.split(key, 3)
        obs, env_state, reward, episode_end, step_info = self.env.step(step_key, state.env_state,
                                                                       action)
        episode = state.episode + episode_end.astype(jnp.int32)
        trial_end = episode_end & (episode >= self.episodes_per_trial)

        new_task, new_id = self.sample_task(task_key)
        task = _select(trial_end, new_task, state.env_state.task)
        task_id = jnp.where(trial_end, new_id, state.task_id)
        reset_obs, reset_state = self.env.reset(reset_key, task)

        obs = jnp.where(episode_end, reset_obs, obs)
        env_state = _select(episode_end, reset_state, env_state)
        episode = jnp.where(trial_end, 0, episode)
        next_state = TrialState(env_state=env_state, task_id=task_id, episode=episode)
        info = StepInfo(episode_end=episode_end, trial_end=trial_end,
                        training_reward=step_info.training_reward)
        return obs, next_state, reward, episode_end, info

    def task_info(self, state: TrialState, target: str = "embedding") -> TaskInfo:
        """The privileged information of the current task: the env's own form (`embedding`)
        or its id in the task set (`task_id`, only with a finite task set)."""
        if target == "task_id":
            if self.task_set is None:
                raise ValueError("task_info target 'task_id' needs a finite task set "
                                 "(num_train_tasks >= 1)")
            spec = TaskInfoSpec(kind="categorical", size=1, num_classes=self.task_set.size)
            return TaskInfo(value=state.task_id, spec=spec)
        return self.env.task_info(state.env_state.task)


def _select(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)
