import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from envs.semicircle import Semicircle


def _run(trial, steps, key=0):
    obs, state = trial.reset(jax.random.key(key))
    step = jax.jit(trial.step)
    history = []
    for t in range(steps):
        action = jnp.array([1.0, 1.0])
        obs, state, reward, done, info = step(jax.random.key(1000 + t), state, action)
        history.append(dict(goal=np.asarray(state.env_state.task.goal), done=bool(done),
                            trial_end=bool(info.trial_end), time=int(state.env_state.time),
                            obs=np.asarray(obs), episode=int(state.episode)))
    return trial.reset(jax.random.key(key))[1], history


def test_trial_keeps_the_task_across_episodes_and_resamples_at_trial_end():
    trial = envs.TrialWrapper(Semicircle(episode_length=5), episodes_per_trial=2)
    first, history = _run(trial, 20)
    goal0 = np.asarray(first.env_state.task.goal)
    ends = [t for t, h in enumerate(history) if h["done"]]
    trial_ends = [t for t, h in enumerate(history) if h["trial_end"]]
    assert ends == [4, 9, 14, 19] and trial_ends == [9, 19]
    for t in range(9):  # the whole first trial, including the reset after episode 1
        np.testing.assert_array_equal(history[t]["goal"], goal0)
    assert not np.allclose(history[9]["goal"], goal0)  # new task after the trial
    np.testing.assert_array_equal(history[10]["goal"], history[9]["goal"])
    # after each episode end the ball is back at the origin with time 0
    for t in ends:
        assert history[t]["time"] == 0
        np.testing.assert_array_equal(history[t]["obs"], np.zeros(4))
    assert [history[t]["episode"] for t in (3, 4, 8, 9)] == [0, 1, 1, 0]


def test_task_set_samples_only_its_tasks_and_reports_their_ids():
    env = Semicircle(episode_length=2)
    task_set = envs.TaskSet.sample_from(env, jax.random.key(0), 3)
    trial = envs.TrialWrapper(env, episodes_per_trial=1, task_set=task_set)
    seen = set()
    obs, state = trial.reset(jax.random.key(1))
    for t in range(60):
        info = trial.task_info(state, "task_id")
        task_id = int(info.value)
        np.testing.assert_array_equal(state.env_state.task.goal, task_set.tasks.goal[task_id])
        assert info.spec.num_classes == 3
        seen.add(task_id)
        obs, state, *_ = trial.step(jax.random.key(t), state, jnp.zeros(2))
    assert seen == {0, 1, 2}


def test_fresh_tasks_have_no_id():
    trial = envs.TrialWrapper(Semicircle())
    _, state = trial.reset(jax.random.key(0))
    assert int(state.task_id) == -1
    with pytest.raises(ValueError, match="task_id.*finite task set"):
        trial.task_info(state, "task_id")


def test_task_set_must_not_be_empty():
    with pytest.raises(ValueError, match="num_train_tasks must be >= 1"):
        envs.TaskSet.sample_from(Semicircle(), jax.random.key(0), 0)
