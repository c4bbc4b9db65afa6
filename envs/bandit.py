"""K-armed Bernoulli bandit: the task is the vector of arm success probabilities."""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.core import Discrete, MetaEnv, TaskInfo, TaskInfoSpec


@struct.dataclass
class BanditTask:
    arm_probs: jax.Array  # [num_arms], p_k ~ U(0, 1) iid


@struct.dataclass
class BanditState:
    task: BanditTask
    time: jax.Array


class Bandit(MetaEnv):
    """Observation is empty: everything the agent learns comes through its previous action
    and reward, which the agent's input carries."""

    default_episodes_per_trial = 1
    action_factors = True  # arm k <-> p_k

    def __init__(self, num_arms: int = 20, num_pulls: int = 100):
        if num_arms < 2:
            raise ValueError(f"bandit num_arms must be >= 2, got {num_arms}")
        if num_pulls < 1:
            raise ValueError(f"bandit num_pulls must be >= 1, got {num_pulls}")
        self.num_arms = num_arms
        self.observation_size = 0
        self.action_space = Discrete(num_arms)
        self.episode_length = num_pulls
        self.task_info_spec = TaskInfoSpec(kind="beta", size=num_arms)

    def sample_task(self, key: jax.Array) -> BanditTask:
        return BanditTask(arm_probs=jax.random.uniform(key, (self.num_arms,)))

    def task_info(self, task: BanditTask) -> TaskInfo:
        return TaskInfo(value=task.arm_probs, spec=self.task_info_spec)

    def reset_env(self, key: jax.Array, task: BanditTask):
        return jnp.zeros((0,)), BanditState(task=task, time=jnp.int32(0))

    def step_env(self, key: jax.Array, state: BanditState, action: jax.Array):
        reward = jax.random.bernoulli(key, state.task.arm_probs[action])
        return jnp.zeros((0,)), state, reward
