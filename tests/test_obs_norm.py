"""Observation normalisation: the running moments, the agent's use of them, and the learners'
updates of them (none by gradient)."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from belief_jax import NetworkConfig, PPOConfig, SVGConfig, Trainer, make_train, obs_norm
from belief_jax.obs_norm import COLLECTION
from tests.test_train import _rollout

NET = NetworkConfig(hidden_size=8, torso_sizes=(8,), head_sizes=(8,),
                    normalize_observations=True)


def _config(learner):
    from belief_jax import TrainConfig
    return TrainConfig(env="semicircle", agent="belief", env_kwargs={"episode_length": 6},
                       total_env_steps=4 * 6 * 4, iterations_per_chunk=2, num_eval_envs=4,
                       network=NET, learner=learner)


PPO_TINY = _config(PPOConfig(num_envs=4, rollout_length=6, num_epochs=2, num_minibatches=2))


def _moments(variables):
    return variables[COLLECTION]["obs_norm"]


def test_merged_moments_are_those_of_all_observations_together():
    """Against numpy's mean and variance of every batch concatenated, from the identity (count
    0) through batches of different sizes and scales."""
    rng = np.random.default_rng(0)
    moments = {"mean": jnp.zeros(3), "var": jnp.ones(3), "count": jnp.float32(0)}
    seen = []
    for k, rows in enumerate((5, 1, 40, 7)):
        batch = rng.normal([k, -2.0 * k, 100.0], [1.0, 10.0 ** k, 0.1], (rows, 3))
        moments = obs_norm.merge(moments, jnp.asarray(batch, jnp.float32))
        seen.append(batch)
    everything = np.concatenate(seen)
    np.testing.assert_allclose(moments["mean"], everything.mean(0), rtol=1e-5)
    np.testing.assert_allclose(moments["var"], everything.var(0), rtol=1e-4)
    assert float(moments["count"]) == len(everything)


def test_the_agent_reads_observations_standardised():
    """With moments of the data it sees, the agent's output does not depend on the units of the
    observations: obs·a + b under the moments of obs·a + b acts as obs under those of obs. Before
    any update the normaliser is the identity."""
    trainer = Trainer(PPO_TINY)
    state = trainer.init(jax.random.key(0))
    _, rollout, _ = _rollout(trainer, state)
    params, inputs = state.learner.params, rollout.transitions.inputs
    assert float(_moments(params)["count"]) == 0.0
    np.testing.assert_array_equal(_moments(params)["var"], 1.0)

    def act(obs):
        variables = obs_norm.update(params, obs)
        _, out = trainer.agent.apply(variables, rollout.start_carry, inputs._replace(obs=obs),
                                     rollout.transitions.noise)
        return out.policy_params, out.value

    scale, shift = jnp.array([30.0, 0.2, 4.0, 0.5]), jnp.array([-5.0, 7.0, 0.0, 1.0])
    plain, moved = act(inputs.obs), act(inputs.obs * scale + shift)
    for a, b in zip(plain, moved, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4)
    # the reference the invariance is measured against: without normalisation it changes
    _, raw = trainer.agent.apply(params, rollout.start_carry,
                                 inputs._replace(obs=inputs.obs * scale + shift),
                                 rollout.transitions.noise)
    assert not np.allclose(raw.value, plain[1], atol=1e-2)


def test_ppo_learns_no_moments_by_gradient_and_updates_them_after_its_epochs(monkeypatch):
    """The loss's gradient on the moments is zero, and the update's moments are exactly the
    merge of the identity with the rollout's observations (so the epochs ran under the moments
    the rollout was acted under)."""
    trainer = Trainer(PPO_TINY)
    state = trainer.init(jax.random.key(0))
    _, rollout, _ = _rollout(trainer, state)
    ppo, learner = trainer.learner, state.learner
    adv, targets, _ = ppo.advantages_and_targets(learner, rollout)
    from belief_jax.learners.ppo import Minibatch
    grads, _ = jax.grad(ppo.loss, has_aux=True)(learner.params, Minibatch(
        rollout.start_carry, rollout.transitions, adv, targets))
    assert optax.global_norm(grads[COLLECTION]) == 0.0
    assert optax.global_norm(grads["params"]) > 0.0
    new, _ = jax.jit(ppo.update)(learner, rollout, jax.random.key(3))
    expected = obs_norm.merge(_moments(learner.params), rollout.transitions.inputs.obs)
    for name in ("mean", "var", "count"):
        np.testing.assert_allclose(_moments(new.params)[name], expected[name], rtol=1e-6)
    # the gradient steps are those of an update that never touches the moments
    monkeypatch.setattr(obs_norm, "update", lambda variables, obs: variables)
    frozen, _ = jax.jit(ppo.update)(learner, rollout, jax.random.key(3))
    for a, b in zip(jax.tree.leaves(new.params["params"]),
                    jax.tree.leaves(frozen.params["params"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_run_counts_every_observation_and_svg0_targets_share_the_moments():
    for learner in (PPOConfig(num_envs=4, rollout_length=6, num_epochs=2, num_minibatches=2),
                    SVGConfig(num_envs=4, rollout_length=6, sequence_length=4, batch_size=4,
                              replay_size=200, min_replay=24, replay_ratio=0.05)):
        config = _config(learner)
        state, (metrics, _) = jax.jit(make_train(config))(jax.random.key(1))
        params = trainer_params = state.learner.params
        if isinstance(learner, SVGConfig):
            trainer_params = params["agent"]
            target = _moments(state.learner.target_params["agent"])
            for name, value in _moments(trainer_params).items():
                np.testing.assert_array_equal(target[name], value)
        moments = _moments(trainer_params)
        assert float(moments["count"]) == config.total_env_steps
        # semicircle's observation is the point's position and velocity, both small
        assert np.all(np.abs(moments["mean"]) < 1.0) and np.all(moments["var"] > 0.0)
        assert np.isfinite(metrics["loss"]).all()
    plain = dataclasses.replace(NET, normalize_observations=False)
    plain = Trainer(PPO_TINY.replace(network=plain))
    assert COLLECTION not in plain.init(jax.random.key(0)).learner.params
