"""cheetah_vel and quadruped_semicircle on brax's MJX bodies: rewards against brax's own
quantities, the goal radius, and the cheap template reset."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs


@pytest.fixture(scope="module")
def cheetah():
    return envs.make("cheetah_vel")


@pytest.fixture(scope="module")
def ant():
    return envs.make("quadruped_semicircle")


def _advance(env, key, steps=3):
    """A state a few random steps after reset, so brax's derived fields (x, xd) are fresh."""
    task = env.sample_task(key)
    _, state = env.reset(key, task)
    step = jax.jit(env.step)
    for i in range(steps):
        _, state, *_ = step(key, state, env.action_space.sample(jax.random.fold_in(key, i)))
    return state, step


@pytest.mark.slow  # compiles brax's step beside ours
def test_cheetah_reward_is_velocity_error_and_control_cost_per_brax(cheetah):
    """Reference from brax's own halfcheetah step on the same state: v_x is the root's x
    displacement over the env step / dt (brax's `x_velocity` metric reads the torso position
    one substep earlier, a lag we do not copy), the control cost is brax's
    `reward_ctrl` (weight 0.1 there, 0.05 here)."""
    state, step = _advance(cheetah, jax.random.key(0))
    brax_env = cheetah.body.brax_env
    # brax's reset and step jitted: eager, MJX's forward pass runs op by op (~15 s)
    brax_state = jax.jit(brax_env.reset)(jax.random.key(1)).replace(pipeline_state=state.physics)
    brax_step = jax.jit(brax_env.step)
    for i in range(3):
        action = cheetah.action_space.sample(jax.random.key(10 + i))
        reference = brax_step(brax_state, action)
        _, state, reward, _, _ = step(jax.random.key(0), state, action)
        v_x = float(reference.pipeline_state.qpos[0] - brax_state.pipeline_state.qpos[0]
                    ) / float(brax_env.dt)
        expected = (-abs(v_x - float(state.task.target_velocity))
                    + 0.5 * float(reference.metrics["reward_ctrl"]))
        np.testing.assert_allclose(float(reward), expected, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(state.physics.qpos, reference.pipeline_state.qpos, atol=1e-5)
        brax_state = reference


def test_cheetah_task_is_the_target_velocity(cheetah):
    tasks = jax.vmap(cheetah.sample_task)(jax.random.split(jax.random.key(0), 1000))
    velocities = np.asarray(tasks.target_velocity)
    assert velocities.min() >= 0.0 and velocities.max() <= 3.0 and velocities.std() > 0.7
    info = cheetah.task_info(tasks.__class__(target_velocity=tasks.target_velocity[0]))
    assert info.spec.kind == "gaussian" and info.value.shape == (1,)


def test_ant_sparse_reward_switches_exactly_at_the_goal_radius(ant):
    state, step = _advance(ant, jax.random.key(2))
    action = jnp.full(ant.action_space.shape, 0.5)
    _, after, *_ = step(jax.random.key(0), state, action)
    xy = np.asarray(after.physics.qpos[:2])
    control = 0.1 * float(jnp.sum(action ** 2))
    for offset, inside in [(0.199, True), (0.2 - 1e-5, True), (0.2 + 1e-5, False),
                           (0.201, False)]:
        goal = jnp.asarray(xy + np.array([offset, 0.0]), jnp.float32)
        at_goal = state.replace(task=state.task.replace(goal=goal))
        _, _, reward, _, _ = step(jax.random.key(0), at_goal, action)
        np.testing.assert_allclose(float(reward), float(inside) - control, atol=1e-5)


def test_ant_observation_includes_the_torso_position(ant):
    state, step = _advance(ant, jax.random.key(3))
    obs, after, *_ = step(jax.random.key(0), state, jnp.zeros(ant.action_space.shape))
    np.testing.assert_array_equal(obs[:2], after.physics.qpos[:2])
    assert obs.shape == (ant.observation_size,)


@pytest.mark.parametrize("name", [
    "cheetah_vel", pytest.param("quadruped_semicircle", marks=pytest.mark.slow)])
def test_template_reset_steps_like_brax_reset(name, cheetah, ant):
    """Our reset skips `mjx.forward`; the next step must match a step from brax's reset
    with the same q, q̇ (which ran forward)."""
    env = cheetah if name == "cheetah_vel" else ant
    physics = env.body.reset(jax.random.key(4))
    # jitted: eager, MJX's forward pass runs op by op (~15 s for the cheetah)
    brax_physics = jax.jit(env.body.brax_env.pipeline_init)(physics.qpos, physics.qvel)
    action = env.action_space.sample(jax.random.key(5))
    step = jax.jit(env.body.step)
    ours, theirs = step(physics, action), step(brax_physics, action)
    np.testing.assert_allclose(ours.qpos, theirs.qpos, atol=1e-5)
    np.testing.assert_allclose(ours.qvel, theirs.qvel, atol=1e-4)


def test_ant_shaped_training_reward_adds_the_speed_towards_the_goal():
    """Against numpy's distances from the torso before and after each step of the unwrapped
    env, across an episode's end (where the wrapper has already reset); the shaping sums to
    the episode's net approach / dt, and the agent's reward stays the sparse one."""
    env = envs.make("quadruped_semicircle", episode_length=3, training_reward="shaped",
                    shaping_weight=2.0)
    trial = envs.TrialWrapper(env, 2)
    goal = jnp.array([0.0, 1.0])
    _, state = trial.reset_to(jax.random.key(0), env.sample_task(jax.random.key(0))
                              .replace(goal=goal))
    env_step, trial_step = jax.jit(env.step), jax.jit(trial.step)
    shaping, start = [], np.asarray(state.env_state.physics.qpos[:2])
    for t in range(6):
        key, action = jax.random.key(10 + t), jnp.full(env.action_space.shape, 0.8)
        before = np.asarray(state.env_state.physics.qpos[:2])
        _, after, sparse, _, _ = env_step(jax.random.split(key, 3)[0], state.env_state, action)
        _, state, reward, done, info = trial_step(key, state, action)
        after = np.asarray(after.physics.qpos[:2])
        closer = np.linalg.norm(before - goal) - np.linalg.norm(after - goal)
        assert float(reward) == pytest.approx(float(sparse), abs=1e-6)
        assert float(info.training_reward) == pytest.approx(
            float(reward) + 2.0 * closer / env.body.dt, rel=1e-4, abs=1e-4)
        shaping.append(float(info.training_reward) - float(reward))
        if t == 2:
            assert bool(done)
            net = np.linalg.norm(start - goal) - np.linalg.norm(after - goal)
            assert sum(shaping) == pytest.approx(2.0 * net / env.body.dt, rel=1e-3)
    with pytest.raises(ValueError, match=r"training_reward must be None or one of "
                                         r"\('shaped',\), got 'dense'"):
        envs.make("quadruped_semicircle", training_reward="dense")
