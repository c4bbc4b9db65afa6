"""The training loop: `make_train(config) -> train(key)`, one jitted `lax.scan` holding the
envs, the networks and the updates of either learner (PPO or SVG(0)).

A run is `num_chunks` chunks of `iterations_per_chunk` iterations; each iteration rolls out
`rollout_length` steps of `num_envs` envs and then updates (PPO: epochs over the rollout;
SVG(0): adds it to replay and takes `updates_per_iteration` gradient steps). The host-side runner
(`belief_jax.runner`) calls the very same `Trainer.chunk`, so chunked and one-shot runs give
the same numbers. Every function here is pure, so `jax.vmap(train)(keys)` trains seeds at once.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import envs
from belief_jax.agents import (
    Agent,
    AgentCarry,
    AgentInput,
    encode_action,
    initial_carry,
    policy_distribution,
    sample_ib_noise,
)
from belief_jax.config import TrainConfig
from belief_jax.ppo import PPO, Rollout, Transition
from belief_jax.svg0 import SVG0
from envs.core import TaskInfoSpec


class ActorState(NamedTuple):
    """Everything the acting side carries from one env step to the next, batched over envs."""

    env_state: envs.TrialState
    next_input: AgentInput
    carry: AgentCarry
    trial_return: jax.Array  # reward so far in each env's current trial


class RunnerState(NamedTuple):
    learner: Any  # the learner's state: ppo.LearnerState or svg0.SVGState
    actor: ActorState
    key: jax.Array
    iteration: jax.Array


def validate(config: TrainConfig) -> envs.MetaEnv:
    """Checks that need the env; raises ValueError naming the field, before any compilation."""
    env = envs.make(config.env, **config.env_kwargs)
    trial_length = env.episode_length * (config.episodes_per_trial or
                                         env.default_episodes_per_trial)
    lengths = {f"{config.learner}.rollout_length": config.learner_config.rollout_length}
    if config.learner == "svg0":
        lengths["svg0.sequence_length"] = config.svg0.sequence_length
    for name, length in lengths.items():
        if length > trial_length:
            raise ValueError(f"{name}={length} is longer than a trial of {config.env!r} "
                             f"({trial_length} steps); valid: 1..{trial_length}")
    return env


class Trainer:
    """Static structure of a run (env, agent, learner) and its pure stage functions."""

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
        self.task_target = config.network.task_info_target
        spec = env.task_info_spec if self.task_target == "embedding" else TaskInfoSpec(
            kind="categorical", size=1, num_classes=config.num_train_tasks)
        self.learner_config = config.learner_config
        if config.learner == "svg0":
            self.agent = Agent(config.agent, config.network, spec, env.action_space,
                               value_head=False)
            self.learner = SVG0(self.agent, config.network, config.svg0)
        else:
            self.agent = Agent(config.agent, config.network, spec, env.action_space)
            self.learner = PPO(self.agent, config.network, config.ppo)

    # ----- acting -----------------------------------------------------------------------
    def first_input(self, obs: jax.Array) -> AgentInput:
        batch = obs.shape[0]
        return AgentInput(obs=obs, prev_action=jnp.zeros((batch, self.agent.action_space.size)),
                          prev_reward=jnp.zeros(batch), episode_start=jnp.ones(batch),
                          trial_start=jnp.ones(batch, bool))

    def reset_actor(self, key: jax.Array, env: envs.TrialWrapper, num_envs: int,
                    tasks: Any = None) -> ActorState:
        """Starts a trial in each env: fresh tasks from `env`, or the given `tasks` (a pytree
        with a leading axis of `num_envs`)."""
        keys = jax.random.split(key, num_envs)
        obs, env_state = jax.vmap(env.reset)(keys) if tasks is None else \
            jax.vmap(env.reset_to)(keys, tasks)
        return ActorState(env_state=env_state, next_input=self.first_input(obs),
                          carry=initial_carry(self.agent.kind, self.agent.config, num_envs),
                          trial_return=jnp.zeros(num_envs))

    def env_step(self, params: dict, env: envs.TrialWrapper, deterministic_ib: bool,
                 actor: ActorState, key: jax.Array) -> tuple[ActorState, Transition]:
        """Act in every env once and step them; returns the transition to store."""
        noise_key, action_key, step_key = jax.random.split(key, 3)
        x = actor.next_input
        noise = sample_ib_noise(noise_key, self.agent.config, x.prev_reward.shape,
                                deterministic_ib)
        add_time = lambda tree: jax.tree.map(lambda a: a[None], tree)
        carry, out = self.agent.apply(params, actor.carry, add_time(x), add_time(noise))
        out = jax.tree.map(lambda a: a[0], out)
        dist = policy_distribution(out.policy_params, self.agent.action_space,
                                   self.learner.squash_actions)
        action, log_prob = dist.sample_and_log_prob(seed=action_key)
        task_info = jax.vmap(lambda s: env.task_info(s, self.task_target).value)(actor.env_state) \
            if env is self.train_env or self.task_target == "embedding" else \
            jnp.zeros(x.prev_reward.shape, jnp.int32)

        num_envs = x.prev_reward.shape[0]
        obs, env_state, reward, episode_end, info = jax.vmap(env.step)(
            jax.random.split(step_key, num_envs), actor.env_state, action)
        store = self.agent.kind == "belief" and self.learner.store_belief_features
        belief = out.belief if store else jnp.zeros((num_envs, 0))
        transition = Transition(inputs=x, noise=noise, belief_features=belief, action=action,
                                log_prob=log_prob, value=out.value, reward=reward,
                                trial_end=info.trial_end, task_info=task_info,
                                carry=actor.carry if self.learner.record_carry else None)
        next_input = AgentInput(obs=obs, prev_action=encode_action(action, self.agent.action_space),
                                prev_reward=reward, episode_start=episode_end.astype(jnp.float32),
                                trial_start=info.trial_end)
        trial_return = jnp.where(info.trial_end, 0.0, actor.trial_return + reward)
        completed = jnp.where(info.trial_end, actor.trial_return + reward, 0.0)
        actor = ActorState(env_state=env_state, next_input=next_input, carry=carry,
                           trial_return=trial_return)
        return actor, (transition, completed)

    # ----- training -----------------------------------------------------------------------
    def init(self, key: jax.Array) -> RunnerState:
        num_envs = self.learner_config.num_envs
        key, env_key, param_key, learner_key, example_key = jax.random.split(key, 5)
        actor = self.reset_actor(env_key, self.train_env, num_envs)
        add_time = lambda tree: jax.tree.map(lambda a: a[None], tree)
        noise = sample_ib_noise(param_key, self.agent.config, (num_envs,))
        params = self.agent.init(param_key, actor.carry, add_time(actor.next_input),
                                 add_time(noise))
        # One env's transition shows the learner (replay) what a stored step looks like.
        _, (example, _) = self.env_step(params, self.train_env, False, actor, example_key)
        example = jax.tree.map(lambda x: x[0], example)
        return RunnerState(learner=self.learner.init(learner_key, params, example),
                           actor=actor, key=key, iteration=jnp.int32(0))

    def rollout(self, params: dict, actor: ActorState, key: jax.Array):
        step = lambda a, k: self.env_step(params, self.train_env, False, a, k)
        keys = jax.random.split(key, self.learner_config.rollout_length)
        end_actor, (transitions, completed) = jax.lax.scan(step, actor, keys)
        # V of the state after the last step, for bootstrapping a rollout cut mid-trial.
        add_time = lambda tree: jax.tree.map(lambda a: a[None], tree)
        zero_noise = sample_ib_noise(key, self.agent.config, actor.trial_return.shape, True)
        _, out = self.agent.apply(params, end_actor.carry, add_time(end_actor.next_input),
                                  add_time(zero_noise))
        rollout = Rollout(transitions=transitions, start_carry=actor.carry,
                          last_value=out.value[0])
        return end_actor, rollout, completed

    def iteration(self, state: RunnerState, _=None) -> tuple[RunnerState, dict]:
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        params = self.learner.acting_params(state.learner)
        actor, rollout, completed = self.rollout(params, state.actor, rollout_key)
        learner, metrics = self.learner.update(state.learner, rollout, update_key)
        num_trials = rollout.transitions.trial_end.sum()
        metrics["train_return"] = jnp.where(num_trials > 0, completed.sum() / num_trials, jnp.nan)
        metrics["env_steps"] = (state.iteration + 1) * self.learner_config.steps_per_iteration
        return RunnerState(learner=learner, actor=actor, key=key,
                           iteration=state.iteration + 1), metrics

    def validation_trials(self, params: dict, key: jax.Array, num_envs: int,
                          tasks: Any = None) -> tuple[ActorState, Transition, jax.Array]:
        """One validation trial in each of `num_envs` envs (fresh tasks, or the given `tasks`):
        the start state, the [T, num_envs] transitions and each env's trial return."""
        reset_key, run_key = jax.random.split(key)
        actor = self.reset_actor(reset_key, self.eval_env, num_envs, tasks)
        step = lambda a, k: self.env_step(params, self.eval_env, self.config.network.ib_eval_mean,
                                          a, k)
        keys = jax.random.split(run_key, self.eval_env.trial_length)
        _, (transitions, completed) = jax.lax.scan(step, actor, keys)
        return actor, transitions, completed.sum(0)

    def belief_over(self, params: dict, actor: ActorState, transitions: Transition):
        """The belief's parameters [T, B, ...] along recorded validation trials."""
        _, out = self.agent.apply(params, actor.carry, transitions.inputs, transitions.noise)
        return out.belief

    def evaluate(self, params: dict, key: jax.Array) -> dict:
        """One trial on each of `num_eval_envs` envs with fresh tasks from the distribution."""
        actor, transitions, returns = self.validation_trials(params, key,
                                                             self.config.num_eval_envs)
        metrics = {"validation_return": returns.mean(),
                   "validation_return_se": returns.std() / jnp.sqrt(returns.size)}
        if self.agent.kind in ("aux_head", "belief") and self.task_target == "embedding":
            # The policy is evaluated with the same forward; the belief it produced is scored.
            metrics["validation_aux_log_likelihood"] = self._eval_log_likelihood(
                params, actor, transitions)
        return metrics

    def _eval_log_likelihood(self, params, actor: ActorState, transitions: Transition):
        from belief_jax.losses import task_log_likelihood
        return task_log_likelihood(self.belief_over(params, actor, transitions),
                                   transitions.task_info, self.agent.task_info_spec).mean()

    def chunk(self, state: RunnerState) -> tuple[RunnerState, dict, dict]:
        """`iterations_per_chunk` iterations, then a validation pass.

        The validation key is folded from the runner key without advancing it, so evaluating
        more or less often never changes the training trajectory."""
        state, metrics = jax.lax.scan(self.iteration, state, None,
                                      self.config.iterations_per_chunk)
        evaluation = self.evaluate(self.learner.acting_params(state.learner),
                                   jax.random.fold_in(state.key, 7))
        return state, metrics, evaluation


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

    def train(key: jax.Array):
        def chunk(state, _):
            state, metrics, evaluation = trainer.chunk(state)
            return state, (metrics, evaluation)

        return jax.lax.scan(chunk, trainer.init(key), None, config.num_chunks)

    return train
