"""The training loop: `make_train(config) -> train(key)`, one jitted `lax.scan` holding the
envs, the networks and the updates of the configured learner.

A run is `num_chunks` chunks of `iterations_per_chunk` iterations; each iteration rolls out
`rollout_length` steps of `num_envs` envs (`belief_jax.acting`) and hands the rollout to the
learner's `update`. The host-side runner (`belief_jax.runner`) calls the very same
`Trainer.chunk`, so chunked and one-shot runs give the same numbers. Every function here is
pure, so `jax.vmap(train)(keys)` trains seeds at once.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

import envs
from belief_jax import agents, learners
from belief_jax.acting import Acting
from belief_jax.agents import Agent, sample_ib_noise
from belief_jax.config import NetworkConfig, TrainConfig
from belief_jax.losses import task_log_likelihood
from belief_jax.types import BestParams, RunnerState
from envs.core import TaskInfoSpec


def validate(config: TrainConfig) -> envs.MetaEnv:
    """Checks that need the env; raises ValueError naming the field, before any compilation."""
    env = envs.make(config.env, **config.env_kwargs)
    trial_length = envs.TrialWrapper(env, config.episodes_per_trial).trial_length
    for name, length in config.learner.trial_bounded_lengths().items():
        if length > trial_length:
            raise ValueError(f"{name}={length} is longer than a trial of {config.env!r} "
                             f"({trial_length} steps); valid: 1..{trial_length}")
    config.learner.check_trial_length(trial_length)
    network = config.network
    if config.belief_exploration_envs:
        _validate_exploration(config)
    if network.reward_by_action and not isinstance(env.action_space, envs.Discrete):
        raise ValueError(f"network.reward_by_action needs discrete actions; {config.env!r} "
                         f"has continuous ones")
    if network.policy_head == "factored" and (misfit := factored_head_misfit(config, env)):
        raise ValueError(misfit)
    return env


def resolved_network(config: TrainConfig, env: envs.MetaEnv) -> NetworkConfig:
    """The network config with policy_head='auto' made concrete: factored where the agent
    kind, the env's action factors, the embedding target and the absence of bottlenecks
    allow it, generic elsewhere."""
    network = config.network
    if network.policy_head != "auto":
        return network
    applies = factored_head_misfit(config, env) is None and not network.bottlenecked
    return dataclasses.replace(network, policy_head="factored" if applies else "generic")


def _validate_exploration(config: TrainConfig) -> None:
    name = "belief_exploration_envs"
    if config.belief_exploration_envs >= config.learner.num_envs:
        raise ValueError(f"{name}={config.belief_exploration_envs} must be below "
                         f"{config.learner.name}.num_envs={config.learner.num_envs} (some envs "
                         f"must act with the policy)")
    with_belief = [name for name in agents.names() if agents.get(name).has_belief]
    if config.agent not in with_belief:
        raise ValueError(f"{name} trains a belief: agent must be one of {with_belief}, got "
                         f"{config.agent!r}")
    if not config.learner.spec.masks_exploration:
        masking = [n for n in learners.names() if learners.config_type(n).spec.masks_exploration]
        raise ValueError(f"{name} needs a learner whose RL loss masks exploring envs; "
                         f"{config.learner.name!r} does not (valid: {masking})")


def factored_head_misfit(config: TrainConfig, env: envs.MetaEnv) -> str | None:
    """Why the factored policy head does not fit this agent and env (None if it does; the
    bottlenecks are NetworkConfig's own check)."""
    if not agents.get(config.agent).factored_policy:
        kinds = [name for name in agents.names() if agents.get(name).factored_policy]
        return (f"network.policy_head='factored' needs agent in {kinds}, got "
                f"agent={config.agent!r}")
    if not env.action_factors or config.network.task_info_target != "embedding":
        return (f"network.policy_head='factored' needs an env whose actions index its task "
                f"embedding's dimensions (action_factors) and "
                f"network.task_info_target='embedding'; {config.env!r} with target "
                f"{config.network.task_info_target!r} is not one")
    return None


class Trainer:
    """Static structure of a run (envs, agent, learner) and its pure stage functions."""

    def __init__(self, config: TrainConfig):
        self.config = config
        env = validate(config)
        task_set = None
        if config.num_train_tasks > 0:
            # One training set per config, shared by vmapped seeds, so seeds differ only in
            # their own randomness and the train/validation gap is measured on the same tasks.
            task_set = envs.TaskSet.sample_from(env, jax.random.key(config.task_set_seed),
                                                config.num_train_tasks)
        self.train_env = envs.TrialWrapper(env, config.episodes_per_trial, task_set)
        self.eval_env = envs.TrialWrapper(env, config.episodes_per_trial, None)
        target = config.network.task_info_target
        spec = env.task_info_spec if target == "embedding" else TaskInfoSpec(
            kind="categorical", size=1, num_classes=config.num_train_tasks)
        rollout_spec = config.learner.spec
        network = resolved_network(config, env)
        self.agent = Agent(config.agent, network, spec, env.action_space,
                           value_head=rollout_spec.value_head)
        self.learner = config.learner.make(self.agent, network, config.num_iterations)
        self.acting = Acting(self.agent, self.train_env, rollout_spec, target, False,
                             config.belief_exploration_envs)
        self.validation = Acting(self.agent, self.eval_env, rollout_spec, target,
                                 config.network.ib_eval_mean,
                                 act_mode=config.network.policy_eval_mode)
        self.scores_belief = self.agent.traits.has_belief and target == "embedding"

    def init(self, key: jax.Array) -> RunnerState:
        num_envs = self.config.learner.num_envs
        key, env_key, param_key, learner_key, example_key = jax.random.split(key, 5)
        actor = self.acting.reset(env_key, num_envs)
        add_time = lambda tree: jax.tree.map(lambda a: a[None], tree)
        noise = sample_ib_noise(param_key, self.agent.config, (num_envs,))
        params = self.agent.init(param_key, actor.carry, add_time(actor.next_input),
                                 add_time(noise))
        # One env's transition shows the learner (replay) what a stored step looks like.
        _, (example, _) = self.acting.step(params, actor, example_key)
        example = jax.tree.map(lambda x: x[0], example)
        learner = self.learner.init(learner_key, params, example)
        best = None
        if self.config.keep_best:
            best = BestParams(self.learner.acting_params(learner), jnp.float32(-jnp.inf),
                              jnp.int32(0))
        return RunnerState(learner=learner, actor=actor, key=key, iteration=jnp.int32(0),
                           best=best)

    def iteration(self, state: RunnerState, _=None) -> tuple[RunnerState, dict]:
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        params = self.learner.acting_params(state.learner)
        actor, rollout, completed = self.acting.rollout(params, state.actor, rollout_key,
                                                        self.config.learner.rollout_length)
        learner, metrics = self.learner.update(state.learner, rollout, update_key)
        # the exploring envs' trials say nothing about the policy's return
        on_policy = ~rollout.transitions.explore
        num_trials = (rollout.transitions.trial_end & on_policy).sum()
        metrics["train_return"] = jnp.where(num_trials > 0,
                                            (completed * on_policy).sum() / num_trials, jnp.nan)
        metrics["env_steps"] = (state.iteration + 1) * self.config.learner.steps_per_iteration
        return state._replace(learner=learner, actor=actor, key=key,
                              iteration=state.iteration + 1), metrics

    def evaluate(self, params: dict, key: jax.Array) -> dict:
        """One trial on each of `num_eval_envs` envs with fresh tasks from the distribution;
        the belief the policy acted on is scored too, where there is one to score."""
        actor, transitions, returns = self.validation.trials(params, key,
                                                             self.config.num_eval_envs)
        metrics = {"validation_return": returns.mean(),
                   "validation_return_se": returns.std() / jnp.sqrt(returns.size)}
        if self.scores_belief:
            belief = self.validation.belief_over(params, actor, transitions)
            metrics["validation_aux_log_likelihood"] = task_log_likelihood(
                belief, transitions.task_info, self.agent.task_info_spec).mean()
        return metrics

    def chunk(self, state: RunnerState) -> tuple[RunnerState, dict, dict]:
        """`iterations_per_chunk` iterations, then a validation pass.

        The validation key is folded from the runner key without advancing it, so evaluating
        more or less often never changes the training trajectory."""
        state, metrics = jax.lax.scan(self.iteration, state, None,
                                      self.config.iterations_per_chunk)
        params = self.learner.acting_params(state.learner)
        evaluation = self.evaluate(params, jax.random.fold_in(state.key, 7))
        if state.best is not None:
            state = state._replace(best=_better(state.best, BestParams(
                params, evaluation["validation_return"], metrics["env_steps"][-1])))
        return state, metrics, evaluation


def _better(best: BestParams, candidate: BestParams) -> BestParams:
    """The candidate where its validation return is higher (a NaN one never wins)."""
    take = candidate.validation_return > best.validation_return
    return jax.tree.map(lambda new, old: jnp.where(take, new, old), candidate, best)


def over_seeds(fn, num_seeds: int):
    """`jax.vmap(fn)` over a leading seed axis; with one seed, the same signature without the
    vmap (squeeze, call, expand). Measured: vmapping an MJX physics step over a size-1 axis
    ran the cheetah loop 2.3x slower than not vmapping it."""
    if num_seeds > 1:
        return jax.vmap(fn)
    squeeze = lambda tree: jax.tree.map(lambda x: x[0], tree)
    expand = lambda tree: jax.tree.map(lambda x: x[None], tree)
    return lambda *args: expand(fn(*squeeze(args)))


def make_train(config: TrainConfig, trainer: Trainer | None = None):
    """`train(key) -> (RunnerState, (metrics, evaluation))`, a pure function of the key: the
    whole run in one `lax.scan` over chunks. Metrics are [num_chunks, iterations_per_chunk],
    evaluation [num_chunks]. `jax.jit(jax.vmap(train))(keys)` trains several seeds."""
    trainer = trainer or Trainer(config)

    def chunk(state, _):
        state, metrics, evaluation = trainer.chunk(state)
        return state, (metrics, evaluation)

    def train(key: jax.Array):
        return jax.lax.scan(chunk, trainer.init(key), None, config.num_chunks)

    return train
