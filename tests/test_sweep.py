"""One-program sweeps: a hyperparameter vmapped with the seeds gives each value's own run."""
import dataclasses

import jax
import numpy as np
import pytest

from belief_jax import NetworkConfig, PPOConfig, SVGConfig, TrainConfig, make_train
from belief_jax.sweep import make_sweep, variants, with_value

# semicircle with dense reward, so every number below is non-trivial
TINY = TrainConfig(
    env="semicircle", agent="belief", env_kwargs={"episode_length": 10, "reward": "dense"},
    total_env_steps=4 * 10 * 4, iterations_per_chunk=2, num_eval_envs=4, num_train_tasks=5,
    network=NetworkConfig(hidden_size=8, torso_sizes=(8,), head_sizes=(8,), ib_belief=0.1),
    learner=PPOConfig(num_envs=4, rollout_length=10, num_epochs=2, num_minibatches=2))
# SVG(0) derives its forward pass's network config from the swept one while building
TINY_PEARL = TINY.replace(agent="pearl", total_env_steps=4 * 5 * 8, learner=SVGConfig(
    num_envs=4, rollout_length=5, sequence_length=4, batch_size=4, replay_size=200,
    min_replay=40, replay_ratio=0.1))


@pytest.mark.parametrize("base, field, values", [
    (TINY, "network.ib_belief", (0.01, 0.3, 3.0)),
    # a second field; the β case (issue 20's must-show) stays in the fast suite
    pytest.param(TINY, "ppo.learning_rate", (1e-4, 3e-3), marks=pytest.mark.slow),
    pytest.param(TINY_PEARL, "network.pearl_kl", (0.001, 1.0), marks=pytest.mark.slow),
    # 0 (no ceiling) traced beside a ceiling: the switch is a jnp.where, not Python
    pytest.param(TINY_PEARL, "network.pearl_max_nats", (0.0, 0.05), marks=pytest.mark.slow)])
def test_sweep_in_one_program_matches_separate_runs(base, field, values):
    keys = jax.random.split(jax.random.key(0), 2)
    _, (metrics, evaluation) = jax.jit(make_sweep(base, field, values))(keys)
    assert evaluation["validation_return"].shape[:2] == (len(values), 2)
    for i, value in enumerate(values):
        _, (alone, alone_eval) = jax.jit(jax.vmap(make_train(with_value(base, field, value))))(
            keys)
        for name in ("loss", "ib_kl_belief", "train_return"):
            np.testing.assert_allclose(metrics[name][i], alone[name], rtol=1e-4, atol=1e-5,
                                       err_msg=f"{field}={value}: {name}")
        np.testing.assert_allclose(evaluation["validation_return"][i],
                                   alone_eval["validation_return"], rtol=1e-4, atol=1e-4)
    # the values really differ: otherwise the check above could not fail
    assert not np.allclose(metrics["loss"][0], metrics["loss"][-1])


def test_sweep_refuses_what_it_cannot_trace():
    with pytest.raises(ValueError, match="network.ib_belief = 0 has no bottleneck"):
        variants(TINY, "network.ib_belief", (0.0, 0.1))
    with pytest.raises(ValueError, match=r"field='network.hidden_size' cannot be swept"):
        variants(TINY, "network.hidden_size", (8, 16))
    with pytest.raises(ValueError, match="ppo.learning_rate must be positive"):
        variants(TINY, "ppo.learning_rate", (1e-3, -1.0))
    no_ib = TINY.replace(network=dataclasses.replace(TINY.network, ib_belief=0.0))
    assert with_value(no_ib, "network.ib_belief", 0.5).network.ib_belief == 0.5
