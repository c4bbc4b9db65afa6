"""Quadruped semicircle: brax's ant (MJX) must find a goal on a semicircle of radius R.

Goal g = R·(cos θ, sin θ), θ ~ U(0, π), unobserved. Sparse reward
1[‖xy − g‖ ≤ goal_radius] − ctrl_cost·‖a‖², with xy the torso position (the free joint's
first two coordinates). The observation includes xy (unlike brax's ant task) because the
agent must know where it is to search along the arc. No termination: a flipped ant simply
earns nothing until the episode's time limit.

`training_reward="shaped"` gives the learner (not the agent's input, nor any reported return)
the sparse reward plus potential-based shaping (`envs.core.goal_shaping`): each step adds
shaping_weight × the torso's speed towards the goal (m/s, as brax's ant rewards forward
speed). In meta-training the goal is known, like the task info the belief learns from.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.brax_body import BraxBody
from envs.core import Box, MetaEnv, TaskInfo, TaskInfoSpec, goal_shaping
from envs.mjx_settings import solver_settings

TRAINING_REWARDS = ("shaped",)


@struct.dataclass
class QuadrupedTask:
    goal: jax.Array  # [2]


@struct.dataclass
class QuadrupedState:
    task: QuadrupedTask
    physics: object  # brax MJX pipeline state
    time: jax.Array


class QuadrupedSemicircle(MetaEnv):
    default_episodes_per_trial = 2

    def __init__(self, semicircle_radius: float = 1.0, goal_radius: float = 0.2,
                 ctrl_cost: float = 0.1, episode_length: int = 200,
                 mjx_settings: str = "fast", solver_iterations: int | None = None,
                 ls_iterations: int | None = None, euler_damping: bool | None = None,
                 training_reward: str | None = None, shaping_weight: float = 1.0):
        if training_reward not in (None, *TRAINING_REWARDS):
            raise ValueError("quadruped_semicircle training_reward must be None or one of "
                             f"{TRAINING_REWARDS}, got {training_reward!r}")
        if shaping_weight < 0:
            raise ValueError(f"quadruped_semicircle shaping_weight must be >= 0, got "
                             f"{shaping_weight}")
        if semicircle_radius <= 0 or goal_radius <= 0:
            raise ValueError("quadruped_semicircle semicircle_radius and goal_radius must be "
                             "positive")
        if ctrl_cost < 0 or episode_length < 1:
            raise ValueError("quadruped_semicircle ctrl_cost must be >= 0 and "
                             "episode_length >= 1")
        solver = solver_settings("quadruped_semicircle", mjx_settings, solver_iterations,
                                 ls_iterations, euler_damping)
        self.body = BraxBody("ant", solver)
        self.semicircle_radius, self.goal_radius = semicircle_radius, goal_radius
        self.ctrl_cost = ctrl_cost
        self.training_reward_kind, self.shaping_weight = training_reward, shaping_weight
        self.episode_length = episode_length
        self.observation_size = self.body.q_size + self.body.qd_size
        self.action_space = Box(low=-1.0, high=1.0, shape=(self.body.action_size,))
        self.task_info_spec = TaskInfoSpec(kind="gaussian", size=2)

    def sample_task(self, key: jax.Array) -> QuadrupedTask:
        theta = jax.random.uniform(key, (), minval=0.0, maxval=jnp.pi)
        return QuadrupedTask(goal=self.semicircle_radius * jnp.stack([jnp.cos(theta),
                                                                      jnp.sin(theta)]))

    def task_info(self, task: QuadrupedTask) -> TaskInfo:
        return TaskInfo(value=task.goal, spec=self.task_info_spec)

    def observation(self, physics) -> jax.Array:
        return jnp.concatenate([physics.qpos, physics.qvel])

    def reset_env(self, key: jax.Array, task: QuadrupedTask):
        physics = self.body.reset(key)
        state = QuadrupedState(task=task, physics=physics, time=jnp.int32(0))
        return self.observation(physics), state

    def step_env(self, key: jax.Array, state: QuadrupedState, action: jax.Array):
        physics = self.body.step(state.physics, action)
        reward = self.reward(physics.qpos[:2], state.task.goal, action)
        return self.observation(physics), state.replace(physics=physics), reward

    def reward(self, position: jax.Array, goal: jax.Array, action: jax.Array) -> jax.Array:
        action = jnp.clip(action, -1.0, 1.0)
        reached = jnp.linalg.norm(position - goal) <= self.goal_radius
        return reached.astype(jnp.float32) - self.ctrl_cost * jnp.sum(action ** 2)

    def training_reward(self, state: QuadrupedState, next_state: QuadrupedState,
                        reward: jax.Array) -> jax.Array | None:
        if self.training_reward_kind is None:
            return None
        return goal_shaping(reward, state.physics.qpos[:2], next_state.physics.qpos[:2],
                            state.task.goal, self.shaping_weight, self.body.dt)
