import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.ball import KinematicBall
from envs.bandit import Bandit, BanditTask
from envs.semicircle import Semicircle, SemicircleTask, goal_reward

# brax bodies compile for ~30 s each; tests/test_mjx_envs.py and the training tests cover them.
PURE_JAX = [name for name in envs.names() if name not in ("cheetah_vel", "quadruped_semicircle")]


@pytest.mark.parametrize("name", PURE_JAX)
def test_every_env_jits_and_is_finite(name):
    env = envs.make(name)
    trial = envs.TrialWrapper(env)
    obs, state = jax.jit(trial.reset)(jax.random.key(0))
    assert obs.shape == (env.observation_size,)
    step = jax.jit(trial.step)
    for i in range(5):
        action = env.action_space.sample(jax.random.key(i))
        obs, state, reward, done, info = step(jax.random.key(100 + i), state, action)
        assert obs.shape == (env.observation_size,)
        assert np.isfinite(np.asarray(obs)).all() and np.isfinite(float(reward))
        assert done.dtype == jnp.bool_ and info.trial_end.dtype == jnp.bool_
    task_info = trial.task_info(state)
    assert task_info.value.shape[-1:] == (env.task_info_spec.size,)


@pytest.mark.parametrize("name", PURE_JAX)
def test_every_env_vmaps(name):
    env = envs.make(name)
    trial = envs.TrialWrapper(env)
    obs, state = jax.vmap(trial.reset)(jax.random.split(jax.random.key(0), 8))
    actions = jax.vmap(env.action_space.sample)(jax.random.split(jax.random.key(1), 8))
    obs, *_ = jax.vmap(trial.step)(jax.random.split(jax.random.key(2), 8), state, actions)
    assert obs.shape == (8, env.observation_size)


def test_unknown_env_and_kwargs_name_the_valid_choices():
    with pytest.raises(ValueError, match="valid names: \\['bandit', 'semicircle'"):
        envs.make("cartpole")
    with pytest.raises(ValueError, match="unknown env kwargs \\['arms'\\].*num_arms"):
        envs.make("bandit", arms=3)
    with pytest.raises(ValueError, match="reward must be one of"):
        envs.make("semicircle", reward="shaped")
    with pytest.raises(ValueError, match="physics must be one of"):
        envs.make("semicircle", physics="bullet")


def test_bandit_task_info_is_the_arm_probabilities():
    env = Bandit()
    task = env.sample_task(jax.random.key(3))
    assert task.arm_probs.shape == (20,)
    assert np.all((task.arm_probs >= 0) & (task.arm_probs <= 1))
    np.testing.assert_array_equal(env.task_info(task).value, task.arm_probs)
    assert env.task_info(task).spec.kind == "beta" and env.action_factors


def test_bandit_reward_is_bernoulli_of_the_pulled_arm():
    env = Bandit(num_arms=3, num_pulls=100)
    task = BanditTask(arm_probs=jnp.array([0.0, 1.0, 0.3]))
    _, state = env.reset(jax.random.key(0), task)
    pull = jax.jit(jax.vmap(lambda k, a: env.step(k, state, a)[2], in_axes=(0, None)))
    keys = jax.random.split(jax.random.key(1), 20_000)
    assert float(pull(keys, 0).max()) == 0.0  # p = 0 never pays
    assert float(pull(keys, 1).min()) == 1.0  # p = 1 always pays
    rate = float(pull(keys, 2).mean())  # p = 0.3: within 5 standard errors
    assert abs(rate - 0.3) < 5 * np.sqrt(0.3 * 0.7 / 20_000)


def test_bandit_episode_ends_after_num_pulls():
    env = Bandit(num_arms=2, num_pulls=3)
    _, state = env.reset(jax.random.key(0), env.sample_task(jax.random.key(1)))
    dones = []
    for i in range(3):
        _, state, _, done, _ = env.step(jax.random.key(i), state, 0)
        dones.append(bool(done))
    assert dones == [False, False, True]


@pytest.mark.parametrize("distance, sparse", [(0.0, 1.0), (0.19, 1.0), (0.2, 1.0), (0.21, 0.0),
                                               (1.3, 0.0)])
def test_semicircle_reward_rule(distance, sparse):
    goal = jnp.array([0.0, 1.0])
    position = goal + jnp.array([distance, 0.0])
    assert float(goal_reward(position, goal, 0.2, "sparse")) == sparse
    assert float(goal_reward(position, goal, 0.2, "dense")) == pytest.approx(-distance, abs=1e-6)


def test_semicircle_goals_lie_on_the_upper_semicircle():
    env = Semicircle()
    goals = jax.vmap(env.sample_task)(jax.random.split(jax.random.key(0), 1000)).goal
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 1.0, atol=1e-5)
    assert float(goals[:, 1].min()) >= 0.0
    assert float(goals[:, 0].min()) < -0.9 and float(goals[:, 0].max()) > 0.9


def test_semicircle_pays_once_the_ball_reaches_the_goal():
    env = Semicircle(reward="sparse")
    goal = jnp.array([0.6, 0.8])
    _, state = env.reset(jax.random.key(0), SemicircleTask(goal=goal))
    rewards = []
    for t in range(60):  # a PD controller drives the ball to the goal
        position, velocity = state.ball[:2], state.ball[2:]
        action = jnp.clip(3.0 * (goal - position) - 2.0 * velocity, -1.0, 1.0)
        _, state, reward, _, _ = env.step(jax.random.key(t), state, action)
        rewards.append(float(reward))
        inside = float(np.linalg.norm(np.asarray(state.ball[:2]) - np.asarray(goal)) <= 0.2)
        assert rewards[-1] == inside
    assert rewards[0] == 0.0 and rewards[-1] == 1.0


def test_kinematic_ball_matches_the_double_integrator_by_hand():
    ball = KinematicBall(dt=0.1, max_accel=2.0, damping=0.1, arena=1.5)
    state = ball.init(jnp.zeros(2))
    state = ball.step(state, jnp.array([1.0, -0.5]))
    # v = 0.9·0 + 0.1·2·a = (0.2, -0.1); x = 0 + 0.1·v = (0.02, -0.01)
    np.testing.assert_allclose(state, [0.02, -0.01, 0.2, -0.1], atol=1e-6)
    state = ball.step(state, jnp.array([0.0, 0.0]))
    np.testing.assert_allclose(state, [0.038, -0.019, 0.18, -0.09], atol=1e-6)
    wall = ball.step(jnp.array([1.49, 0.0, 1.0, 0.0]), jnp.array([1.0, 0.0]))
    np.testing.assert_allclose(wall, [1.5, 0.0, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize("name", ["cheetah_vel", "quadruped_semicircle", "semicircle", "numpad"])
@pytest.mark.parametrize("kwargs,message", [
    ({"mjx_settings": "turbo"},
     "mjx_settings must be one of ['fast', 'balanced', 'accurate', 'default']"),
    ({"solver_iterations": 0}, "solver_iterations must be a positive integer or None"),
    ({"ls_iterations": 2.5}, "ls_iterations must be a positive integer or None"),
    ({"euler_damping": "no"}, "euler_damping must be true, false or None")])
def test_bad_mjx_solver_settings_are_refused_before_any_model_is_built(name, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"{name} {message}")):
        envs.make(name, **kwargs)
