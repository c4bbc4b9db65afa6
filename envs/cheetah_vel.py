"""Cheetah velocity: brax's halfcheetah (MJX) must run at a target forward velocity v*.

The task is v* ~ U[min_velocity, max_velocity]; it is not observed, so the agent infers it
from the reward. Reward: −|v_x − v*| − ctrl_cost·‖a‖², with v_x the torso's forward velocity
over the env step (root x displacement / dt, as brax's own halfcheetah reward).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs.brax_body import BraxBody
from envs.core import Box, MetaEnv, TaskInfo, TaskInfoSpec
from envs.mjx_settings import solver_settings


@struct.dataclass
class CheetahVelTask:
    target_velocity: jax.Array  # [], v*


@struct.dataclass
class CheetahVelState:
    task: CheetahVelTask
    physics: object  # brax MJX pipeline state
    time: jax.Array


class CheetahVel(MetaEnv):
    default_episodes_per_trial = 2

    def __init__(self, min_velocity: float = 0.0, max_velocity: float = 3.0,
                 ctrl_cost: float = 0.05, episode_length: int = 200,
                 mjx_settings: str = "balanced", solver_iterations: int | None = None,
                 ls_iterations: int | None = None, euler_damping: bool | None = None):
        if not min_velocity <= max_velocity:
            raise ValueError(f"cheetah_vel needs min_velocity <= max_velocity, got "
                             f"{min_velocity} > {max_velocity}")
        if ctrl_cost < 0 or episode_length < 1:
            raise ValueError("cheetah_vel ctrl_cost must be >= 0 and episode_length >= 1")
        solver = solver_settings("cheetah_vel", mjx_settings, solver_iterations, ls_iterations,
                                 euler_damping)
        self.body = BraxBody("halfcheetah", solver)
        self.min_velocity, self.max_velocity = min_velocity, max_velocity
        self.ctrl_cost = ctrl_cost
        self.episode_length = episode_length
        self.observation_size = self.body.q_size - 1 + self.body.qd_size  # all but root x
        self.action_space = Box(low=-1.0, high=1.0, shape=(self.body.action_size,))
        self.task_info_spec = TaskInfoSpec(kind="gaussian", size=1)

    def sample_task(self, key: jax.Array) -> CheetahVelTask:
        velocity = jax.random.uniform(key, (), minval=self.min_velocity,
                                      maxval=self.max_velocity)
        return CheetahVelTask(target_velocity=velocity)

    def task_info(self, task: CheetahVelTask) -> TaskInfo:
        return TaskInfo(value=task.target_velocity[None], spec=self.task_info_spec)

    def observation(self, physics) -> jax.Array:
        return jnp.concatenate([physics.qpos[1:], physics.qvel])

    def reset_env(self, key: jax.Array, task: CheetahVelTask):
        physics = self.body.reset(key)
        state = CheetahVelState(task=task, physics=physics, time=jnp.int32(0))
        return self.observation(physics), state

    def step_env(self, key: jax.Array, state: CheetahVelState, action: jax.Array):
        physics = self.body.step(state.physics, action)
        velocity = (physics.qpos[0] - state.physics.qpos[0]) / self.body.dt
        reward = self.reward(velocity, state.task.target_velocity, action)
        return self.observation(physics), state.replace(physics=physics), reward

    def reward(self, velocity: jax.Array, target: jax.Array, action: jax.Array) -> jax.Array:
        action = jnp.clip(action, -1.0, 1.0)
        return -jnp.abs(velocity - target) - self.ctrl_cost * jnp.sum(action ** 2)
