"""Semicircle: a 2-D ball starts at the origin and must find a goal on the unit semicircle.

The goal angle θ ~ U(0, π) is the task. With the sparse reward the agent only learns where
the goal is by reaching it, so it must explore along the arc in the first episode and go
straight there in the second.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.ball import BallPhysics, make_ball_physics
from envs.core import Box, MetaEnv, TaskInfo, TaskInfoSpec, goal_shaping
from envs.mjx_settings import solver_settings

REWARDS = ("sparse", "dense")
TRAINING_REWARDS = (*REWARDS, "shaped")


@struct.dataclass
class SemicircleTask:
    goal: jax.Array  # [2], (cos θ, sin θ) · radius


@struct.dataclass
class SemicircleState:
    task: SemicircleTask
    ball: jax.Array  # physics state
    time: jax.Array


class Semicircle(MetaEnv):
    default_episodes_per_trial = 2

    def __init__(self, physics: str = "kinematic", reward: str = "sparse",
                 goal_radius: float = 0.2, semicircle_radius: float = 1.0,
                 episode_length: int = 100, training_reward: str | None = None,
                 mjx_settings: str = "fast", solver_iterations: int | None = None,
                 ls_iterations: int | None = None, euler_damping: bool | None = None,
                 shaping_weight: float = 1.0):
        if reward not in REWARDS:
            raise ValueError(f"semicircle reward must be one of {REWARDS}, got {reward!r}")
        if training_reward not in (None, *TRAINING_REWARDS):
            raise ValueError("semicircle training_reward must be None or one of "
                             f"{TRAINING_REWARDS}, got {training_reward!r}")
        if shaping_weight < 0:
            raise ValueError(f"semicircle shaping_weight must be >= 0, got {shaping_weight}")
        if goal_radius <= 0 or semicircle_radius <= 0 or episode_length < 1:
            raise ValueError("semicircle goal_radius, semicircle_radius and episode_length "
                             "must be positive")
        self.physics: BallPhysics = make_ball_physics(physics, solver_settings(
            "semicircle", mjx_settings, solver_iterations, ls_iterations, euler_damping))
        self.reward = reward
        self.training_reward_kind = training_reward
        """the reward the learner learns from in meta-training (PEARL's sparse point robot:
        `dense` where `reward` is sparse); `shaped`: the reward plus shaping_weight × the
        ball's speed towards the goal (`envs.core.goal_shaping`); None: the reward itself"""
        self.shaping_weight = shaping_weight
        self.goal_radius = goal_radius
        self.semicircle_radius = semicircle_radius
        self.observation_size = 4  # position, velocity
        self.action_space = Box(low=-1.0, high=1.0, shape=(2,))
        self.episode_length = episode_length
        self.task_info_spec = TaskInfoSpec(kind="gaussian", size=2)

    def sample_task(self, key: jax.Array) -> SemicircleTask:
        theta = jax.random.uniform(key, (), minval=0.0, maxval=jnp.pi)
        goal = self.semicircle_radius * jnp.stack([jnp.cos(theta), jnp.sin(theta)])
        return SemicircleTask(goal=goal)

    def task_info(self, task: SemicircleTask) -> TaskInfo:
        return TaskInfo(value=task.goal, spec=self.task_info_spec)

    def reset_env(self, key: jax.Array, task: SemicircleTask):
        ball = self.physics.init(jnp.zeros(2))
        state = SemicircleState(task=task, ball=ball, time=jnp.int32(0))
        return self.physics.observation(ball), state

    def step_env(self, key: jax.Array, state: SemicircleState, action: jax.Array):
        ball = self.physics.step(state.ball, jnp.clip(action, -1.0, 1.0))
        position = self.physics.position(ball)
        reward = goal_reward(position, state.task.goal, self.goal_radius, self.reward)
        return self.physics.observation(ball), state.replace(ball=ball), reward

    def training_reward(self, state: SemicircleState, next_state: SemicircleState,
                        reward: jax.Array) -> jax.Array | None:
        if self.training_reward_kind is None:
            return None
        if self.training_reward_kind == "shaped":
            return goal_shaping(reward, self.physics.position(state.ball),
                                self.physics.position(next_state.ball), state.task.goal,
                                self.shaping_weight, self.physics.dt)
        return goal_reward(self.physics.position(next_state.ball), next_state.task.goal,
                           self.goal_radius, self.training_reward_kind).astype(jnp.float32)


def goal_reward(position: jax.Array, goal: jax.Array, goal_radius: float,
                kind: str) -> jax.Array:
    """sparse: 1[‖x − g‖ ≤ goal_radius]; dense: −‖x − g‖."""
    distance = jnp.linalg.norm(position - goal)
    if kind == "sparse":
        return (distance <= goal_radius).astype(jnp.float32)
    return -distance
