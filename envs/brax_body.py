"""A brax robot on the MJX backend as the body of a meta-RL task: physics, reset, observation.

The task envs (`cheetah_vel`, `quadruped_semicircle`) own the reward; this module owns the
brax system. We step brax's own MJX pipeline (`Env.pipeline_step`, `n_frames` MJX steps per
env step) but do not call brax's `Env.reset`/`Env.step`: their rewards, termination and
metrics belong to other tasks, and `reset` runs `mjx.forward`. `TrialWrapper` evaluates a
reset at every step (it selects it where an episode ended), so reset must be cheap: it
writes noisy `qpos`/`qvel` into a template state computed once at construction. The first
`mjx.step` after a reset runs `forward` itself, so nothing derived from the stale template
is ever read: observations and rewards use only `qpos`, `qvel` and the action.
The MJX solver settings (`envs.mjx_settings`) are applied to brax's system before anything is
compiled.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.mjx_settings import SolverSettings

BODIES = ("halfcheetah", "ant")


class BraxBody:
    """`brax.envs.get_environment(name, backend="mjx")`, built once."""

    def __init__(self, name: str, solver: SolverSettings, reset_noise_scale: float = 0.1):
        if name not in BODIES:
            raise ValueError(f"brax body must be one of {BODIES}, got {name!r}")
        from brax import envs as brax_envs  # MJX is imported only by the envs that use it

        self.brax_env = brax_envs.get_environment(name, backend="mjx")
        sys = self.brax_env.sys
        # brax's pipeline_step reads the env's `sys`, so replacing it there sets the solver
        self.brax_env.sys = sys.tree_replace(solver.replacements(sys.opt.disableflags))
        self.sys = self.brax_env.sys
        self.dt = float(self.brax_env.dt)
        self.q_size, self.qd_size = self.sys.q_size(), self.sys.qd_size()
        self.action_size = self.sys.act_size()
        self.reset_noise_scale = reset_noise_scale
        zeros = jnp.zeros(self.qd_size)
        self._template = jax.jit(self.brax_env.pipeline_init)(self.sys.init_q, zeros)

    def reset(self, key: jax.Array):
        """brax's reset noise: q = q0 + U(±s), q̇ = s·N(0, 1)."""
        q_key, qd_key = jax.random.split(key)
        scale = self.reset_noise_scale
        q = self.sys.init_q + jax.random.uniform(q_key, (self.q_size,), minval=-scale,
                                                 maxval=scale)
        qd = scale * jax.random.normal(qd_key, (self.qd_size,))
        return self._template.replace(qpos=q, qvel=qd, q=q, qd=qd)

    def step(self, state, action: jax.Array):
        return self.brax_env.pipeline_step(state, jnp.clip(action, -1.0, 1.0))
