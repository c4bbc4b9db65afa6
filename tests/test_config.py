import pytest

from belief_jax import NetworkConfig, PPOConfig, TrainConfig, Trainer
from belief_jax.config import SVGConfig, deferred_validation


@pytest.mark.parametrize("build, message", [
    (lambda: TrainConfig(agent="lstm"), "agent='lstm' is not valid; choose one of ['rnn', "
                                        "'aux_head', 'belief', 'pearl', 'oracle']"),
    (lambda: TrainConfig(env="ant"), "env='ant' is not valid; choose one of ['bandit'"),
    (lambda: TrainConfig(learner="sac"),
     "learner must be a learner config (one of ['ppo', 'svg0']), got 'sac'"),
    (lambda: TrainConfig(num_seeds=0), "num_seeds must be positive"),
    (lambda: TrainConfig(total_env_steps=-5), "total_env_steps must be positive"),
    (lambda: TrainConfig(num_train_tasks=-1), "num_train_tasks must be >= 0"),
    (lambda: TrainConfig(episodes_per_trial=0), "episodes_per_trial must be >= 1"),
    (lambda: PPOConfig(num_envs=0), "ppo.num_envs must be positive"),
    (lambda: PPOConfig(num_envs=6, num_minibatches=4), "ppo.num_minibatches=4 must divide"),
    (lambda: PPOConfig(gamma=1.5), "ppo.gamma must lie in [0, 1], got 1.5"),
    (lambda: NetworkConfig(cell="transformer"), "network.cell='transformer' is not valid; "
                                                "choose one of ['lstm', 'gru']"),
    (lambda: NetworkConfig(policy_core="mlp"), "choose one of ['feedforward', 'recurrent']"),
    (lambda: NetworkConfig(hidden_size=0), "network.hidden_size must be positive"),
    (lambda: NetworkConfig(ib_policy=-1.0), "network.ib_policy must be >= 0"),
    (lambda: NetworkConfig(pearl_kl=-1.0), "network.pearl_kl must be >= 0"),
    (lambda: NetworkConfig(pearl_free_nats=-0.5), "network.pearl_free_nats must be >= 0"),
    (lambda: NetworkConfig(pearl_max_nats=-1.0), "network.pearl_max_nats must be >= 0"),
    (lambda: SVGConfig(replay_size=100, batch_size=32, sequence_length=20),
     "svg0.replay_size=100 is smaller than one batch (svg0.batch_size x svg0.sequence_length "
     "= 640)"),
    (lambda: SVGConfig(target_update="soft"), "svg0.target_update='soft' is not valid; choose "
                                              "one of ['polyak', 'periodic']"),
    (lambda: SVGConfig(batch_size=0), "svg0.batch_size must be positive"),
    (lambda: SVGConfig(retrace_lambda=2.0), "svg0.retrace_lambda must lie in [0, 1]"),
    (lambda: TrainConfig(network=NetworkConfig(task_info_target="task_id")),
     "needs num_train_tasks >= 1"),
])
def test_bad_configs_name_the_field_and_valid_values(build, message):
    with pytest.raises(ValueError) as error:
        build()
    assert message in str(error.value)


def test_env_dependent_checks_run_before_compilation():
    with pytest.raises(ValueError, match="rollout_length=101 is longer than a trial of "
                                         "'bandit' \\(100 steps\\); valid: 1..100"):
        Trainer(TrainConfig(learner=PPOConfig(rollout_length=101)))
    with pytest.raises(ValueError, match="svg0.sequence_length=120 is longer than a trial"):
        Trainer(TrainConfig(learner=SVGConfig(sequence_length=120)))
    with pytest.raises(ValueError, match=r"\(svg0.burn_in \+ svg0.sequence_length\)=110 is "
                                         "longer than a trial of 'bandit' \\(100 steps\\)"):
        Trainer(TrainConfig(learner=SVGConfig(sequence_length=20, burn_in=90)))
    with pytest.raises(ValueError, match="unknown env kwargs \\['goal'\\]"):
        Trainer(TrainConfig(env="semicircle", env_kwargs={"goal": 1}))


def test_deferred_validation_checks_later():
    with deferred_validation():
        config = TrainConfig(agent="nope")
    with pytest.raises(ValueError, match="agent='nope'"):
        config.validate()


def test_derived_sizes_are_not_written_into_the_config():
    config = TrainConfig(total_env_steps=10_000, iterations_per_chunk=3,
                         learner=PPOConfig(num_envs=8, rollout_length=100))
    assert config.learner.steps_per_iteration == 800
    assert config.num_chunks == 5 and config.num_iterations == 15  # 13 iterations, rounded up
