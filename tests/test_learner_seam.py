"""The learner seam: a third learner written only here (plain REINFORCE with a mean-return
baseline) is registered and trained through `make_train`, the runner and the CLI parser,
without any other module knowing about it."""
import dataclasses
import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from belief_jax import NetworkConfig, TrainConfig, Trainer, learners, make_train
from belief_jax.agents import policy_distribution
from belief_jax.learners import LearnerConfig, names, register
from belief_jax.losses import aux_and_ib_loss
from belief_jax.runner import run
from belief_jax.types import RolloutSpec


class ReinforceState(NamedTuple):
    params: dict
    opt_state: optax.OptState


class Reinforce:
    """∇J = E[Σ_t ∇log π(a_t | h_t) (G_t − b)], G_t the return to the trial's end, b its mean
    over the batch (Williams 1992); plus the agent's auxiliary and IB losses."""

    spec = RolloutSpec(squash_actions=False, record_carry=False, store_belief_features=False,
                       value_head=False, off_policy=False)
    metric_names = ("loss", "reinforce_loss", "entropy", "aux_log_likelihood")

    def __init__(self, agent, network, config):
        self.agent, self.config = agent, config
        self.optimizer = optax.adam(config.learning_rate)

    def init(self, key, agent_params, example):
        return ReinforceState(agent_params, self.optimizer.init(agent_params))

    def acting_params(self, state):
        return state.params

    def loss(self, params, rollout):
        batch = rollout.transitions
        _, out = self.agent.apply(params, rollout.start_carry, batch.inputs, batch.noise)
        dist = policy_distribution(out.policy_params, self.agent.action_space)

        def to_go(g, step):  # backwards over time; a trial's end restarts the sum
            reward, end = step
            g = reward + self.config.gamma * g * (1.0 - end)
            return g, g
        _, returns = jax.lax.scan(to_go, jnp.zeros(batch.reward.shape[1]),
                                  (batch.reward, batch.trial_end.astype(jnp.float32)),
                                  reverse=True)
        advantage = returns - returns.mean()
        pg = -jnp.mean(dist.log_prob(batch.action) * jax.lax.stop_gradient(advantage))
        aux, aux_metrics = aux_and_ib_loss(out, batch.task_info, self.agent)
        return pg + aux, {"loss": pg + aux, "reinforce_loss": pg,
                          "entropy": dist.entropy().mean(), **aux_metrics}

    def update(self, state, rollout, key):
        grads, metrics = jax.grad(self.loss, has_aux=True)(state.params, rollout)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        return ReinforceState(optax.apply_updates(state.params, updates), opt_state), metrics


@dataclasses.dataclass(frozen=True)
class ReinforceConfig(LearnerConfig):
    name = "reinforce"
    spec = Reinforce.spec

    num_envs: int = 64
    rollout_length: int = 10
    gamma: float = 1.0
    learning_rate: float = 3e-3

    def validate(self):
        if self.learning_rate <= 0:
            raise ValueError(f"reinforce.learning_rate must be positive, got "
                             f"{self.learning_rate}")

    def make(self, agent, network, num_iterations):
        return Reinforce(agent, network, self)


@pytest.fixture(autouse=True, scope="module")
def registered():
    """Registered for this module's tests only, so other tests see the built-in learners."""
    register(ReinforceConfig)
    yield
    del learners.base._REGISTRY[ReinforceConfig.name]


# One fixed task, a 3-armed, 10-pull bandit with arm probabilities (0.93, 0.45, 0.73):
# uniform play earns 7.0 per trial, always pulling the best arm 9.3. A memoryless policy
# can learn that, so REINFORCE shows it learns within seconds.
CONFIG = TrainConfig(env="bandit", agent="rnn", env_kwargs={"num_arms": 3, "num_pulls": 10},
                     num_train_tasks=1, learner=ReinforceConfig(learning_rate=1e-2),
                     network=NetworkConfig(hidden_size=32, torso_sizes=(32,), head_sizes=(32,)),
                     total_env_steps=64 * 10 * 40, iterations_per_chunk=20, num_eval_envs=8)


def test_the_registry_lists_the_new_learner():
    assert names()[:2] == ("ppo", "svg0") and "reinforce" in names()


def test_a_third_learner_trains_through_make_train():
    best = 10 * float(Trainer(CONFIG).train_env.task_set.tasks.arm_probs.max())
    state, (metrics, _) = jax.jit(make_train(CONFIG))(jax.random.key(0))
    assert set(Reinforce.metric_names) - {"aux_log_likelihood"} <= set(metrics)  # rnn: none
    returns = np.asarray(metrics["train_return"])  # [chunks, iterations], one trial each
    assert returns[0, 0] < 8.0 < 9.0 < returns[-1].mean() <= best + 0.3, (returns, best)
    assert int(state.iteration) == CONFIG.num_iterations


def test_a_third_learner_runs_through_the_runner_and_the_cli_parser(tmp_path):
    from experiments.train import parse
    config, _, _ = parse(["--env", "bandit", "--learner", "reinforce",
                          "--reinforce.learning-rate", "0.01", "--reinforce.num-envs", "64",
                          "--env-kwargs", "num_arms", "3",
                          "num_pulls", "10", "--total-env-steps", "1280",
                          "--iterations-per-chunk", "1", "--num-eval-envs", "8",
                          "--agent", "rnn", "--network.hidden-size", "8",
                          "--network.head-sizes", "8"])
    assert config.learner == ReinforceConfig(learning_rate=0.01)
    with pytest.raises(ValueError, match="reinforce.learning_rate must be positive"):
        ReinforceConfig(learning_rate=0.0)
    summary = run(config, tmp_path / "run", log=lambda line: None)
    assert summary["learner"] == "reinforce" and summary["env_steps"] == 1280
    header = (tmp_path / "run" / "metrics.csv").read_text().splitlines()[0].split(",")
    assert "reinforce_loss" in header and "value_loss" not in header
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["learner"] == "reinforce" and saved["reinforce"]["learning_rate"] == 0.01
    # and it resumes from its own checkpoints like any learner
    longer = run(config.replace(total_env_steps=1920), tmp_path / "run", resume=True,
                 log=lambda line: None)
    assert longer["env_steps"] == 1920
