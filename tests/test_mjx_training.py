"""The brax-body envs inside the scanned training loop, with both learners (marker `slow`:
each compiles an MJX step into the loop, ~30-60 s on a 2-core CPU)."""
import jax
import numpy as np
import pytest

from belief_jax import NetworkConfig, PPOConfig, TrainConfig, make_train
from belief_jax.config import SVGConfig

NETWORK = NetworkConfig(hidden_size=8, torso_sizes=(8,), head_sizes=(8,))


@pytest.mark.slow
# One body per learner keeps CI's slow step bounded; the other pairs run in the quick CLI runs.
@pytest.mark.parametrize("env,learner,iterations", [
    ("cheetah_vel", PPOConfig(num_envs=4, rollout_length=4, num_epochs=1, num_minibatches=2),
     2),
    ("quadruped_semicircle", SVGConfig(num_envs=4, rollout_length=4, sequence_length=4,
                                       batch_size=2, replay_size=64, min_replay=16,
                                       replay_ratio=0.1), 1)])
def test_brax_envs_train_end_to_end(env, learner, iterations):
    config = TrainConfig(
        env=env, agent="belief", learner=learner, env_kwargs={"episode_length": 4},
        total_env_steps=2 * 4 * 8 * iterations, iterations_per_chunk=2,
        num_eval_envs=2, network=NETWORK)
    state, (metrics, evaluation) = jax.jit(make_train(config))(jax.random.key(0))
    losses = np.asarray(metrics["loss"])
    assert np.isfinite(losses[-1]).all()
    assert np.isfinite(np.asarray(evaluation["validation_return"])).all()
    assert np.isfinite(np.asarray(metrics["aux_log_likelihood"])[-1]).all()
    assert int(state.iteration) == config.num_iterations
