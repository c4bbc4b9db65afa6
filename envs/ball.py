"""The 2-D ball shared by semicircle and NumPad: a point mass pushed by a 2-D force.

`kinematic` is a pure-JAX damped double integrator, cheap enough for fast tests of the
learning logic. The state is a flat array [x, y, vx, vy].
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

PHYSICS = ("kinematic",)


class BallPhysics:
    def init(self, position: jax.Array) -> jax.Array:
        raise NotImplementedError

    def step(self, state: jax.Array, action: jax.Array) -> jax.Array:
        raise NotImplementedError

    def position(self, state: jax.Array) -> jax.Array:
        return state[:2]

    def observation(self, state: jax.Array) -> jax.Array:
        return state[:4]


class KinematicBall(BallPhysics):
    """v' = (1 − damping)·v + dt·max_accel·a;  x' = clip(x + dt·v', ±arena).

    Defaults let the ball cross the unit semicircle in ~15 steps, so a 100-step episode
    leaves room to search along the arc."""

    def __init__(self, dt: float = 0.1, max_accel: float = 2.0, damping: float = 0.1,
                 arena: float = 1.5):
        self.dt, self.max_accel, self.damping, self.arena = dt, max_accel, damping, arena

    def init(self, position: jax.Array) -> jax.Array:
        return jnp.concatenate([position, jnp.zeros(2)]).astype(jnp.float32)

    def step(self, state: jax.Array, action: jax.Array) -> jax.Array:
        velocity = (1.0 - self.damping) * state[2:] + self.dt * self.max_accel * action
        position = state[:2] + self.dt * velocity
        clipped = jnp.clip(position, -self.arena, self.arena)
        velocity = jnp.where(clipped == position, velocity, 0.0)  # stop at the wall
        return jnp.concatenate([clipped, velocity])


def make_ball_physics(name: str) -> BallPhysics:
    if name == "kinematic":
        return KinematicBall()
    raise ValueError(f"ball physics must be one of {PHYSICS}, got {name!r}")
