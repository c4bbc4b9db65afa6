"""Core types of the meta-RL environment API: spaces, privileged task information, the env base.

An environment is a pure-function object in the style of gymnax: it holds only static
structure; every piece of changing state (including the task) lives in a pytree that the
caller threads through `reset` and `step`.
"""
from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

TaskInfoKind = Literal["categorical", "gaussian", "beta", "multi_categorical"]
TASK_INFO_KINDS: tuple[str, ...] = ("categorical", "gaussian", "beta", "multi_categorical")


@struct.dataclass
class Discrete:
    """`n` discrete actions, 0..n-1."""

    n: int = struct.field(pytree_node=False)

    @property
    def size(self) -> int:
        """Width of the one-hot encoding the agent sees as its previous action."""
        return self.n

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.randint(key, (), 0, self.n)


@struct.dataclass
class Box:
    """A `shape[0]`-dimensional continuous action in [low, high]."""

    low: float = struct.field(pytree_node=False)
    high: float = struct.field(pytree_node=False)
    shape: tuple[int, ...] = struct.field(pytree_node=False)

    @property
    def size(self) -> int:
        return self.shape[0]

    def sample(self, key: jax.Array) -> jax.Array:
        return jax.random.uniform(key, self.shape, minval=self.low, maxval=self.high)


@struct.dataclass
class TaskInfoSpec:
    """Static description of the privileged information, so a head can be built for it.

    kind: `categorical` (a task id in [0, num_classes)), `gaussian` (a real vector of
    length `size`), `beta` (a vector of length `size` in [0, 1], e.g. probabilities), or
    `multi_categorical` (`size` ids, each in [0, num_classes)).
    """

    kind: str = struct.field(pytree_node=False)
    size: int = struct.field(pytree_node=False)
    num_classes: int = struct.field(pytree_node=False, default=0)


@struct.dataclass
class TaskInfo:
    """Privileged information about a task: the auxiliary target of belief learning."""

    value: jax.Array
    spec: TaskInfoSpec = struct.field(pytree_node=False)


class StepInfo(NamedTuple):
    """What `step` says beyond the reward: an episode ended, or the whole trial ended.

    A base env only ever ends episodes; `TrialWrapper` sets `trial_end` on the last episode
    of a trial. `trial_end` implies `episode_end`.
    """

    episode_end: jax.Array
    trial_end: jax.Array
    training_reward: jax.Array | None = None
    """the env's `training_reward` of the step, where it has one (else None)"""


class MetaEnv:
    """Base class of a meta-RL environment: a distribution over tasks plus per-task dynamics.

    Subclasses implement `sample_task`, `reset_env`, `step_env`, `task_info` and set
    `observation_size`, `action_space`, `episode_length`, `default_episodes_per_trial`.
    The public `step` adds the time limit; auto-reset and trials live in `TrialWrapper`.
    The env state must be a struct dataclass with fields `task` and `time`.
    """

    observation_size: int
    action_space: Discrete | Box
    episode_length: int
    default_episodes_per_trial: int = 1
    task_info_spec: TaskInfoSpec
    action_factors: bool = False
    """action k is about factor k of the task info (the bandit: pulling arm k tells about
    p_k), so a policy may score each action from its own factor of the belief"""

    def sample_task(self, key: jax.Array) -> Any:
        raise NotImplementedError

    def task_info(self, task: Any) -> TaskInfo:
        raise NotImplementedError

    def reset(self, key: jax.Array, task: Any) -> tuple[jax.Array, Any]:
        return self.reset_env(key, task)

    def step(self, key: jax.Array, state: Any, action: jax.Array):
        """One transition: `(obs, state, reward, done, info)`; `done` marks the episode end."""
        obs, next_state, reward = self.step_env(key, state, action)
        next_state = next_state.replace(time=next_state.time + 1)
        done = next_state.time >= self.episode_length
        info = StepInfo(episode_end=done, trial_end=jnp.zeros_like(done),
                        training_reward=self.training_reward(state, next_state, reward))
        return obs, next_state, reward.astype(jnp.float32), done, info

    def training_reward(self, state: Any, next_state: Any,
                        reward: jax.Array) -> jax.Array | None:
        """A reward, apart from the one the agent sees and is scored by, that the learner's RL
        losses learn from in meta-training (privileged, like the task info), from the step's
        states before and after and its reward; None (the default): they learn from the
        reward itself. PEARL trains its critic on a dense reward where the env's reward is
        sparse (Rakelly et al. 2019, sparse point robot), while its context, like our agents'
        input, sees the sparse one; semicircle's and quadruped_semicircle's `shaped` add
        potential-based shaping (`goal_shaping`) to their sparse reward."""
        return None

    def reset_env(self, key: jax.Array, task: Any) -> tuple[jax.Array, Any]:
        raise NotImplementedError

    def step_env(self, key: jax.Array, state: Any, action: jax.Array):
        raise NotImplementedError


def goal_shaping(reward: jax.Array, before: jax.Array, after: jax.Array, goal: jax.Array,
                 weight: float, dt: float) -> jax.Array:
    """`reward` plus potential-based shaping (Ng et al. 1999) with potential −weight·‖x − g‖/dt:
    the speed towards the goal over the step. Over an episode it telescopes to
    weight·(‖x₀ − g‖ − ‖x_T − g‖)/dt, a bonus for ending near the goal, where a dense
    −‖x − g‖ pays for nearness at every step and so pulls a searching agent off the arc; every
    step towards the goal still earns something."""
    closer = jnp.linalg.norm(before - goal) - jnp.linalg.norm(after - goal)
    return (reward + weight * closer / dt).astype(jnp.float32)
