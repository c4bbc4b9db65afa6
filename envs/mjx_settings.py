"""MJX solver settings for the MuJoCo bodies (brax's halfcheetah and ant, the 2-D ball).

MJX runs every constraint-solver and line-search iteration under `vmap` (a batched
`while_loop` runs until its slowest member is done), so MuJoCo's CPU defaults (up to 100
solver and 50 line-search iterations) cost far more than on MuJoCo's own CPU engine. brax's
own MJX ant and humanoid switch to the Newton solver with `iterations=1`, `ls_iterations=4`
and Euler damping disabled; `"fast"` is that solver setting, for every body.

Measured on brax's halfcheetah (one env step from each state of 30-step random-action
trajectories of the XML setting; 1000-step random rollouts; 64 envs on a 2-core CPU): Newton
converges in <= 4 iterations there, so `"accurate"` (`iterations=4, ls_iterations=4`) gives the
XML setting's next state to 3e-6 (960 states) at ~5x its speed. `"balanced"` (`iterations=3`)
gives it to 6e-7 in 99% of those states and 1.6e-3 (joint angle, rad) at worst, where one
contact solve needed its fourth iteration, at ~8-11x the XML setting's speed (1.5-2x
`"accurate"`'s); its rollouts stay on the floor, so cheetah_vel defaults to it. `"fast"`
(`iterations=1`) steps ~11x faster but leaves the contact solve unconverged: joint angles off
by up to 0.16-0.24 rad at touchdown, and over long random rollouts the cheetah is launched
5-38 m into the air. brax's ant (its own MJX setting) and the ball (joint limits only)
default to `"fast"`. Euler damping is a model choice, not a solver approximation (turning it
off moves the cheetah by 0.03 in one env step), so the presets leave it as the body has it;
`euler_damping` sets it. `"default"` keeps what the body comes with, one kwarg away: what
`brax.envs.get_environment(name, backend="mjx")` builds (for halfcheetah its XML's
`iterations=4` and MuJoCo's 50 line-search iterations; brax's ant is already fast) and
MuJoCo's own defaults for the ball. Any single option can be set on top of any of them.
"""
from __future__ import annotations

import dataclasses

SETTINGS = ("fast", "balanced", "accurate", "default")
# (solver iterations, line-search iterations) of each preset; Newton solver in each.
_PRESETS = {"fast": (1, 4), "balanced": (3, 4), "accurate": (4, 4)}


@dataclasses.dataclass(frozen=True)
class SolverSettings:
    """`None` keeps the model file's value."""
    iterations: int | None = None
    ls_iterations: int | None = None
    euler_damping: bool | None = None
    newton: bool = False  # the Newton solver (MuJoCo's default, but brax's ant XML may differ)

    def replacements(self, disableflags: int) -> dict[str, object]:
        """The `opt.*` fields to replace in an MJX / brax model."""
        import mujoco

        out: dict[str, object] = {}
        if self.newton:
            out["opt.solver"] = mujoco.mjtSolver.mjSOL_NEWTON
        if self.iterations is not None:
            out["opt.iterations"] = self.iterations
        if self.ls_iterations is not None:
            out["opt.ls_iterations"] = self.ls_iterations
        if self.euler_damping is not None:
            bit = int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)
            flags = int(disableflags) & ~bit if self.euler_damping else int(disableflags) | bit
            out["opt.disableflags"] = mujoco.mjtDisableBit(flags)
        return out

    def apply(self, mj_model) -> None:
        """Set them on a `mujoco.MjModel`, before `mjx.put_model`."""
        for field, value in self.replacements(mj_model.opt.disableflags).items():
            setattr(mj_model.opt, field.removeprefix("opt."), value)


def solver_settings(env: str, mjx_settings: str, solver_iterations: int | None,
                    ls_iterations: int | None, euler_damping: bool | None) -> SolverSettings:
    """The settings an env's kwargs ask for, checked before any model is built."""
    if mjx_settings not in SETTINGS:
        raise ValueError(f"{env} mjx_settings must be one of {list(SETTINGS)}, got "
                         f"{mjx_settings!r}")
    for name, value in (("solver_iterations", solver_iterations),
                        ("ls_iterations", ls_iterations)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"{env} {name} must be a positive integer or None, got {value!r}")
    if euler_damping is not None and not isinstance(euler_damping, bool):
        raise ValueError(f"{env} euler_damping must be true, false or None, got "
                         f"{euler_damping!r}")
    base = SolverSettings()
    if mjx_settings in _PRESETS:
        preset_iterations, preset_ls_iterations = _PRESETS[mjx_settings]
        base = SolverSettings(iterations=preset_iterations, ls_iterations=preset_ls_iterations,
                              newton=True)
    overrides = {k: v for k, v in (("iterations", solver_iterations),
                                   ("ls_iterations", ls_iterations),
                                   ("euler_damping", euler_damping)) if v is not None}
    return dataclasses.replace(base, **overrides)
