"""The MJX solver settings keep the physics sane (envs.mjx_settings).

Tolerances. A random-action cheetah is chaotic: moving its start by 1e-4 moves its joints by
~0.2 within 20 env steps, so whole trajectories under two solver settings cannot be compared
tightly. Each check therefore compares one env step at a time, from the states of the
default setting's own trajectory: the local error of the solver.
- `accurate` (Newton, 4 iterations) converges: 1e-5 of the default's next state (measured
  1.4e-6);
- `balanced` (3 iterations, cheetah_vel's default) converges in all but a few contact solves:
  99% of the states within 1e-5 (measured 6e-7 over 960 states of four such trajectories) and
  every state within 5e-3 (measured 1.6e-3 at worst, a touchdown that needed the fourth
  iteration). Stopping short in the common case fails both by far: 2 iterations are off by
  0.43 at worst and 0.047 at the 99th percentile, 1 iteration by 0.24 and 0.045;
- `fast` (1 iteration, brax's MJX ant setting) is not checked this way: it leaves the
  cheetah's contact solve unconverged (up to 0.16 rad at touchdown) and launches it metres
  into the air over long rollouts, which is why cheetah_vel never defaults to it.
Over a long random-action rollout with each env's default setting nothing may go non-finite
and the torso stays above the floor (for brax's ant, whose torso does not collide, above its
legs' reach) and below a height no gait reaches.
"""
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import envs

pytestmark = pytest.mark.slow  # each setting compiles its own MJX step
STEPS = 30


def _default_trajectory(env, num_envs=8):
    actions = jax.random.uniform(jax.random.key(1), (num_envs, STEPS, env.action_space.shape[0]),
                                 minval=-1.0, maxval=1.0)

    def trajectory(key, actions):
        def step(physics, action):
            after = env.body.step(physics, action)
            return after, (physics, after.qpos)
        return jax.lax.scan(step, env.body.reset(key), actions)[1]

    keys = jax.random.split(jax.random.key(0), num_envs)
    states, next_qpos = jax.jit(jax.vmap(trajectory))(keys, actions)
    return states, next_qpos, actions


def _one_step_errors(env, states, actions):
    step = jax.jit(jax.vmap(jax.vmap(env.body.step)))
    return step(states, actions).qpos


@pytest.fixture(scope="module")
def cheetah_default():
    env = envs.make("cheetah_vel", mjx_settings="default")
    return env, _default_trajectory(env)


def test_cheetah_settings_reach_the_model(cheetah_default):
    default, _ = cheetah_default
    opt = default.body.sys.opt
    assert (opt.iterations, opt.ls_iterations) == (4, 50)  # brax's XML and MuJoCo's default
    balanced = envs.make("cheetah_vel").body.sys.opt  # its default
    assert (balanced.iterations, balanced.ls_iterations) == (3, 4)
    assert int(balanced.disableflags) == int(opt.disableflags)  # Euler damping left as it was
    accurate = envs.make("cheetah_vel", mjx_settings="accurate").body.sys.opt
    assert (accurate.iterations, accurate.ls_iterations) == (4, 4)
    fast = envs.make("cheetah_vel", mjx_settings="fast").body.sys.opt
    assert (fast.iterations, fast.ls_iterations) == (1, 4)
    custom = envs.make("cheetah_vel", solver_iterations=2, euler_damping=False).body.sys.opt
    assert (custom.iterations, custom.ls_iterations) == (2, 4)
    assert int(custom.disableflags) & int(mujoco.mjtDisableBit.mjDSBL_EULERDAMP)


def test_cheetah_accurate_setting_converges_to_the_default_settings_step(cheetah_default):
    _, (states, next_qpos, actions) = cheetah_default
    qpos = _one_step_errors(envs.make("cheetah_vel", mjx_settings="accurate"), states, actions)
    np.testing.assert_allclose(np.asarray(qpos), np.asarray(next_qpos), atol=1e-5)


def test_cheetah_balanced_setting_converges_but_for_a_few_contact_solves(cheetah_default):
    _, (states, next_qpos, actions) = cheetah_default
    qpos = _one_step_errors(envs.make("cheetah_vel"), states, actions)  # "balanced"
    error = np.abs(np.asarray(qpos) - np.asarray(next_qpos))
    assert np.quantile(error, 0.99) <= 1e-5, np.quantile(error, 0.99)
    assert error.max() <= 5e-3, error.max()


@pytest.mark.parametrize("name,height_index,low,high", [
    ("cheetah_vel", 1, -0.7, 1.0),  # root z slide, relative to the start height (m)
    # torso z (m). brax's ant collides only its feet with the floor, so an ant that flips
    # sinks its torso through the floor (measured: -0.45 m in 1000 random steps) until its
    # legs stop it: a property of brax's model, the same under every solver setting here.
    # The 1000 random steps are chaotic: float differences of XLA's threaded CPU kernels
    # under load change the trajectory (a fresh-clone CI run under load reached 2.24 m, the
    # same test alone stays below 2.0), so the bound leaves room; a blow-up runs to 1e3.
    ("quadruped_semicircle", 2, -1.0, 3.0)])
def test_default_setting_long_random_rollout_stays_physical(name, height_index, low, high):
    env = envs.make(name)
    num_envs, steps = 4, 1000
    keys = jax.random.split(jax.random.key(7), num_envs)

    def rollout(key):
        def step(physics, key):
            action = jax.random.uniform(key, env.action_space.shape, minval=-1.0, maxval=1.0)
            after = env.body.step(physics, action)
            return after, (after.qpos[height_index], jnp.abs(after.qvel).max(),
                           jnp.isfinite(after.qpos).all() & jnp.isfinite(after.qvel).all())
        return jax.lax.scan(step, env.body.reset(key), jax.random.split(key, steps))[1]

    height, speed, finite = map(np.asarray, jax.jit(jax.vmap(rollout))(keys))
    assert finite.all()
    assert low <= height.min() and height.max() <= high, (height.min(), height.max())
    assert speed.max() < 100.0, speed.max()  # rad/s or m/s; a blow-up runs to 1e3 and beyond


def test_ball_settings_agree_at_the_walls():
    """The MJX ball's only constraints are its joint limits (the walls): driven into a corner
    and back, the fast and default settings move it along the same path."""
    paths = []
    for settings in ("fast", "default"):
        env = envs.make("semicircle", physics="mjx", mjx_settings=settings)
        actions = jnp.concatenate([jnp.ones((40, 2)), -jnp.ones((20, 2))])

        def step(ball, action, env=env):
            ball = env.physics.step(ball, action)
            return ball, env.physics.position(ball)

        paths.append(np.asarray(jax.jit(lambda a, env=env, step=step: jax.lax.scan(
            step, env.physics.init(jnp.zeros(2)), a)[1])(actions)))
    assert paths[1][:40].max() > 1.45  # the walls at 1.5 were reached
    np.testing.assert_allclose(paths[0], paths[1], atol=2e-3)
