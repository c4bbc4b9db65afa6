"""The env's training reward (PEARL's sparse-reward recipe): the RL losses learn from a dense
reward while the agent's input and the reported returns keep the sparse one."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs
from belief_jax import NetworkConfig, PPOConfig, SVGConfig, TrainConfig, Trainer
from belief_jax.learners.base import rl_reward
from envs.semicircle import Semicircle, SemicircleTask
from tests.test_svg0 import _replayed_batch
from tests.test_train import _rollout

NET = NetworkConfig(hidden_size=8, torso_sizes=(8,), head_sizes=(8,))


def _config(learner, training_reward="dense", agent="belief"):
    kwargs = {"episode_length": 6}
    if training_reward:
        kwargs["training_reward"] = training_reward
    return TrainConfig(env="semicircle", agent=agent, env_kwargs=kwargs,
                       total_env_steps=8 * 6 * 4, iterations_per_chunk=2, num_eval_envs=4,
                       network=NET, learner=learner)


PPO = PPOConfig(num_envs=4, rollout_length=6, num_epochs=2, num_minibatches=2)
SVG = SVGConfig(num_envs=8, rollout_length=5, sequence_length=4, batch_size=4,
                replay_size=400, min_replay=80, replay_ratio=0.05)


def test_semicircle_training_reward_is_the_distance_after_the_step_even_at_a_reset():
    """Against numpy's distance from the ball the unwrapped env stepped to; at an episode's
    last step the wrapper's state is already the next episode's, the reward is not."""
    env = Semicircle(reward="sparse", training_reward="dense", episode_length=3)
    trial = envs.TrialWrapper(env, 2)
    goal = jnp.array([0.6, 0.8])
    _, state = trial.reset_to(jax.random.key(0), SemicircleTask(goal=goal))
    for t in range(6):
        key, action = jax.random.key(10 + t), jnp.array([1.0, 0.7])
        _, state_after, _, _, _ = env.step(jax.random.split(key, 3)[0], state.env_state, action)
        _, state, reward, done, info = trial.step(key, state, action)
        distance = np.linalg.norm(np.asarray(state_after.ball[:2]) - np.asarray(goal))
        assert float(info.training_reward) == pytest.approx(-distance, abs=1e-5)
        assert float(reward) == float(distance <= 0.2)
        assert bool(done) == (t % 3 == 2)
    assert envs.make("semicircle").step(jax.random.key(0), state.env_state,
                                        jnp.zeros(2))[4].training_reward is None


@pytest.mark.parametrize("physics", ["kinematic", "mjx"])
def test_semicircle_shaped_training_reward_adds_the_speed_towards_the_goal(physics):
    """Against numpy's distances from the ball before and after each step of the unwrapped
    env, across an episode's end; the shaping telescopes to the net approach / dt."""
    env = Semicircle(physics=physics, reward="sparse", training_reward="shaped",
                     shaping_weight=0.5, episode_length=3)
    position = lambda ball: np.asarray(env.physics.position(ball))
    trial = envs.TrialWrapper(env, 2)
    goal = np.array([0.6, 0.8])
    _, state = trial.reset_to(jax.random.key(0), SemicircleTask(goal=jnp.asarray(goal)))
    shaping = []
    for t in range(6):
        key, action = jax.random.key(10 + t), jnp.array([1.0, 0.7]) * (1 - 2 * (t == 1))
        before = position(state.env_state.ball)
        _, state_after, _, _, _ = env.step(jax.random.split(key, 3)[0], state.env_state, action)
        _, state, reward, done, info = trial.step(key, state, action)
        after = position(state_after.ball)
        assert bool(done) == (t % 3 == 2)
        closer = np.linalg.norm(before - goal) - np.linalg.norm(after - goal)
        assert float(reward) == float(np.linalg.norm(after - goal) <= 0.2)
        assert float(info.training_reward) == pytest.approx(float(reward) + 0.5 * closer / 0.1,
                                                            abs=1e-5)
        shaping.append(float(info.training_reward) - float(reward))
        if bool(done):
            net = np.linalg.norm(goal) - np.linalg.norm(after - goal)  # from the origin
            assert sum(shaping) == pytest.approx(0.5 * net / 0.1, abs=1e-4)
            shaping = []


def test_bad_training_reward_names_the_field_and_choices():
    with pytest.raises(ValueError, match=r"training_reward must be None or one of \('sparse', "
                                         r"'dense', 'shaped'\), got 'potential'"):
        Semicircle(training_reward="potential")
    with pytest.raises(ValueError, match="semicircle shaping_weight must be >= 0, got -1"):
        Semicircle(training_reward="shaped", shaping_weight=-1)


def test_rollouts_store_the_training_reward_beside_the_reward_the_agent_saw():
    trainer = Trainer(_config(PPO))
    state = trainer.init(jax.random.key(0))
    _, rollout, _ = _rollout(trainer, state)
    batch = rollout.transitions
    assert set(np.unique(np.asarray(batch.reward))) <= {0.0, 1.0}
    assert float(batch.training_reward.max()) <= 0.0 < float(-batch.training_reward.mean())
    # the agent's input is the sparse reward: the previous step's, within an episode
    np.testing.assert_array_equal(batch.inputs.prev_reward[1:], batch.reward[:-1])
    plain = Trainer(_config(PPO, training_reward=None))
    _, plain_rollout, _ = _rollout(plain, plain.init(jax.random.key(0)))
    assert plain_rollout.transitions.training_reward is None


def _with_reward(batch, reward):
    """The same batch, its reward replaced and no training reward."""
    return batch._replace(reward=reward, training_reward=None)


def test_ppo_advantages_come_from_the_training_reward():
    trainer = Trainer(_config(PPO))
    state = trainer.init(jax.random.key(0))
    _, rollout, _ = _rollout(trainer, state)
    ppo, learner = trainer.learner, state.learner
    batch = rollout.transitions
    adv, targets, _ = ppo.advantages_and_targets(learner, rollout)
    dense = rollout._replace(transitions=_with_reward(batch, batch.training_reward))
    sparse = rollout._replace(transitions=_with_reward(batch, batch.reward))
    ref_adv, ref_targets, _ = ppo.advantages_and_targets(learner, dense)
    np.testing.assert_allclose(adv, ref_adv, rtol=1e-6)
    np.testing.assert_allclose(targets, ref_targets, rtol=1e-6)
    assert not np.allclose(targets, ppo.advantages_and_targets(learner, sparse)[1])


@pytest.mark.parametrize("agent", ["pearl", "belief"])
def test_svg0_critic_targets_come_from_the_training_reward(agent):
    config = _config(SVG, agent=agent)
    if agent == "pearl":
        config = config.replace(network=dataclasses.replace(NET, policy_core="feedforward"))
    trainer, state, batch = _replayed_batch(config)
    learner = trainer.learner

    def critic_loss(b):
        return float(learner.loss(state.learner.params, state.learner.target_params,
                                  state.learner.log_alpha, b, jax.random.key(2))[1]["critic_loss"])

    np.testing.assert_array_equal(rl_reward(batch), batch.training_reward)
    assert critic_loss(batch) == pytest.approx(
        critic_loss(_with_reward(batch, batch.training_reward)), rel=1e-6)
    assert critic_loss(batch) != pytest.approx(critic_loss(_with_reward(batch, batch.reward)),
                                               rel=1e-3)
