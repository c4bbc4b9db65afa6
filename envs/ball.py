"""The 2-D ball shared by semicircle and NumPad: a point mass pushed by a 2-D force.

`kinematic` is a pure-JAX damped double integrator, cheap enough for fast tests of the
learning logic; its state is a flat array [x, y, vx, vy]. `mjx` is a MuJoCo sphere on a
plane with two slide joints and two motors, stepped by MJX; its state is an `mjx.Data`.
Both expose the same `init/step/position/observation`, with matching constants (mass 1,
force 2·a, velocity decay 0.9 per 0.1 s env step, walls at ±1.5), so a scripted action
sequence moves both balls along nearly the same path.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from envs.mjx_settings import SolverSettings

PHYSICS = ("kinematic", "mjx")
MUJOCO_DEFAULTS = SolverSettings()  # keeps the model's own options


class BallPhysics:
    dt: float
    """seconds per env step"""

    def init(self, position: jax.Array):
        raise NotImplementedError

    def step(self, state, action: jax.Array):
        raise NotImplementedError

    def position(self, state) -> jax.Array:
        return state[:2]

    def observation(self, state) -> jax.Array:
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


_BALL_XML = """
<mujoco model="ball">
  <option timestep="{timestep}" integrator="Euler"/>
  <worldbody>
    <geom name="floor" type="plane" size="{floor} {floor} 0.1" contype="0" conaffinity="0"/>
    <body name="ball" pos="0 0 {radius}">
      <joint name="x" type="slide" axis="1 0 0" damping="{damping}" limited="true"
             range="-{arena} {arena}"/>
      <joint name="y" type="slide" axis="0 1 0" damping="{damping}" limited="true"
             range="-{arena} {arena}"/>
      <geom type="sphere" size="{radius}" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="x" gear="{gear}" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" gear="{gear}" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


class MjxBall(BallPhysics):
    """MuJoCo ball on a plane, `substeps` MJX steps per env step of `dt` seconds.

    The sphere rolls on the plane through its slide joints (no contacts to solve: the
    joints keep it on the plane); joint damping gives the kinematic ball's velocity decay,
    joint limits its walls (the only constraints the solver sees). The MJX model is built
    once, here, with the given solver settings."""

    def __init__(self, solver: SolverSettings = MUJOCO_DEFAULTS, dt: float = 0.1,
                 max_accel: float = 2.0, damping: float = 0.1, arena: float = 1.5,
                 substeps: int = 5, radius: float = 0.05):
        import mujoco
        from mujoco import mjx

        self._mjx = mjx
        # exp(−c·dt / m) = 1 − damping per env step, with m = 1.
        joint_damping = -math.log(1.0 - damping) / dt
        xml = _BALL_XML.format(timestep=dt / substeps, damping=joint_damping, arena=arena,
                               gear=max_accel, radius=radius, floor=arena + 0.5)
        self.mj_model = mujoco.MjModel.from_xml_string(xml)
        solver.apply(self.mj_model)
        self.model = mjx.put_model(self.mj_model)
        self.substeps, self.dt = substeps, dt
        self._template = mjx.make_data(self.model)

    def init(self, position: jax.Array):
        return self._template.replace(qpos=position.astype(jnp.float32),
                                      qvel=jnp.zeros(2, jnp.float32))

    def step(self, state, action: jax.Array):
        state = state.replace(ctrl=action)
        substep = lambda _, data: self._mjx.step(self.model, data)
        return jax.lax.fori_loop(0, self.substeps, substep, state)

    def position(self, state) -> jax.Array:
        return state.qpos

    def observation(self, state) -> jax.Array:
        return jnp.concatenate([state.qpos, state.qvel])


def make_ball_physics(name: str, solver: SolverSettings = MUJOCO_DEFAULTS) -> BallPhysics:
    """`solver` applies to the MJX ball only."""
    if name == "kinematic":
        return KinematicBall()
    if name == "mjx":
        return MjxBall(solver)
    raise ValueError(f"ball physics must be one of {PHYSICS}, got {name!r}")
