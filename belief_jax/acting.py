"""The acting side of the loop: stepping vectorised envs with the agent, rollouts for the
learner, whole validation trials, and the belief along recorded trials.

An `Acting` binds one agent to one trial env (training envs with their task set, or
validation envs with fresh tasks); what each transition stores follows the learner's
`RolloutSpec`. Every method is pure and jittable; batches are [num_envs, ...] per step and
time-major [T, num_envs, ...] when stacked.
"""
from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp

import envs
from belief_jax.agents import (
    Agent,
    encode_action,
    encode_task,
    policy_distribution,
    policy_mode,
    sample_ib_noise,
)
from belief_jax.types import ActorState, AgentInput, Rollout, RolloutSpec, Transition


def _add_time(tree):
    """A leading time axis of 1 on every leaf (None, an empty tree, stays None)."""
    return jax.tree.map(lambda a: a[None], tree)


class Acting:
    """`exploration_envs`: the last this many envs act ε-greedily around the policy, ε ~ U[0, 1]
    drawn per trial; their transitions are marked `explore` (the belief learns from them, the
    RL losses mask them out; SPEC §3.5). `act_mode`: act with the policy's most likely action
    (evaluation) instead of a sample. `given_task_log_std` (an evaluation probe, see
    `given_task`): the policy and critic see a belief centred on the true task."""

    def __init__(self, agent: Agent, env: envs.TrialWrapper, spec: RolloutSpec,
                 task_target: str, deterministic_ib: bool, exploration_envs: int = 0,
                 act_mode: bool = False, given_task_log_std: float | None = None):
        self.agent, self.env, self.spec = agent, env, spec
        self.act_mode = act_mode
        self.given_task_log_std = given_task_log_std
        self.task_target = task_target
        self.deterministic_ib = deterministic_ib
        self.exploration_envs = exploration_envs
        # A task id exists only inside a finite task set: fresh validation tasks have none.
        self.has_task_info = task_target == "embedding" or env.task_set is not None

    def given_task(self, std: float) -> Acting:
        """This acting with the belief network's output, as the policy's and critic's input,
        replaced by a Gaussian belief N(true task embedding, std²) per dimension: does the
        policy act on a belief that knows the task? (The belief network still runs and is
        reported as it is.) For belief agents on envs with Gaussian task info."""
        if not self.agent.traits.has_belief or self.agent.task_info_spec.kind != "gaussian":
            raise ValueError("given_task needs an agent with a belief over Gaussian task info; "
                             f"got agent={self.agent.kind!r} with task info of kind "
                             f"{self.agent.task_info_spec.kind!r}")
        if not std > 0:
            raise ValueError(f"given_task std must be > 0, got {std}")
        return Acting(self.agent, self.env, self.spec, self.task_target, self.deterministic_ib,
                      self.exploration_envs, self.act_mode, math.log(std))

    def given_belief(self, env_state: envs.TrialState) -> jax.Array | None:
        """[num_envs, 2·size]: the belief parameters [mean, log_std] the policy is given
        (None: it sees the belief network's own)."""
        if self.given_task_log_std is None:
            return None
        mean = jax.vmap(lambda s: self.env.task_info(s, "embedding").value)(env_state)
        mean = mean.astype(jnp.float32)
        return jnp.concatenate([mean, jnp.full_like(mean, self.given_task_log_std)], axis=-1)

    def first_input(self, obs: jax.Array, task: jax.Array | None = None) -> AgentInput:
        batch = obs.shape[0]
        return AgentInput(obs=obs, prev_action=jnp.zeros((batch, self.agent.action_space.size)),
                          prev_reward=jnp.zeros(batch), episode_start=jnp.ones(batch),
                          trial_start=jnp.ones(batch, bool), trial_progress=jnp.zeros(batch),
                          task=task)

    def task_input(self, env_state: envs.TrialState) -> jax.Array | None:
        """The current task's embedding as the agent's input, for kinds that read it."""
        if not self.agent.traits.reads_task:
            return None
        def encode(state):
            info = self.env.task_info(state, "embedding")
            return encode_task(info.value, info.spec)
        return jax.vmap(encode)(env_state)

    def reset(self, key: jax.Array, num_envs: int, tasks: Any = None) -> ActorState:
        """Starts a trial in each env: fresh tasks from the env, or the given `tasks` (a pytree
        with a leading axis of `num_envs`)."""
        epsilon_key, key = jax.random.split(key)
        keys = jax.random.split(key, num_envs)
        obs, env_state = jax.vmap(self.env.reset)(keys) if tasks is None else \
            jax.vmap(self.env.reset_to)(keys, tasks)
        return ActorState(env_state=env_state,
                          next_input=self.first_input(obs, self.task_input(env_state)),
                          carry=self.agent.initial_carry(num_envs),
                          trial_return=jnp.zeros(num_envs),
                          epsilon=self.draw_epsilon(epsilon_key, num_envs))

    def exploring(self, num_envs: int) -> jax.Array:
        return jnp.arange(num_envs) >= num_envs - self.exploration_envs

    def draw_epsilon(self, key: jax.Array, num_envs: int) -> jax.Array:
        """ε per env: U[0, 1] for the exploring envs, 0 for the others."""
        return jnp.where(self.exploring(num_envs), jax.random.uniform(key, (num_envs,)), 0.0)

    def behave(self, key: jax.Array, epsilon: jax.Array, action: jax.Array) -> jax.Array:
        """The policy's action, replaced by a uniformly random one with probability ε."""
        coin_key, action_key = jax.random.split(key)
        num_envs = epsilon.shape[0]
        random = jax.vmap(self.agent.action_space.sample)(jax.random.split(action_key,
                                                                           num_envs))
        replace = jax.random.uniform(coin_key, (num_envs,)) < epsilon
        return jnp.where(replace.reshape(-1, *([1] * (action.ndim - 1))), random, action)

    def task_info(self, env_state: envs.TrialState, num_envs: int) -> jax.Array:
        if not self.has_task_info:
            return jnp.zeros(num_envs, jnp.int32)
        return jax.vmap(lambda s: self.env.task_info(s, self.task_target).value)(env_state)

    def step(self, params: dict, actor: ActorState, key: jax.Array
             ) -> tuple[ActorState, tuple[Transition, jax.Array]]:
        """Act in every env once and step them; returns the transition to store and the
        return of each trial that ended at this step (0 elsewhere)."""
        noise_key, action_key, step_key, explore_key, epsilon_key = jax.random.split(key, 5)
        x = actor.next_input
        num_envs = x.prev_reward.shape[0]
        noise = sample_ib_noise(noise_key, self.agent.config, (num_envs,), self.deterministic_ib)
        given = self.given_belief(actor.env_state)
        carry, out = self.agent.apply(params, actor.carry, _add_time(x), _add_time(noise),
                                      _add_time(given))
        out = jax.tree.map(lambda a: a[0], out)
        dist = policy_distribution(out.policy_params, self.agent.action_space,
                                   self.spec.squash_actions)
        action, log_prob = dist.sample_and_log_prob(seed=action_key)
        if self.act_mode:
            action = policy_mode(out.policy_params, self.agent.action_space,
                                 self.spec.squash_actions)
            log_prob = dist.log_prob(action)
        if self.exploration_envs:
            action = self.behave(explore_key, actor.epsilon, action)
            log_prob = dist.log_prob(action)

        obs, env_state, reward, episode_end, info = jax.vmap(self.env.step)(
            jax.random.split(step_key, num_envs), actor.env_state, action)
        store = self.agent.traits.reuses_belief_features and self.spec.store_belief_features
        transition = Transition(
            inputs=x, noise=noise, belief_features=out.belief if store else
            jnp.zeros((num_envs, 0)), action=action, log_prob=log_prob, value=out.value,
            reward=reward, trial_end=info.trial_end,
            task_info=self.task_info(actor.env_state, num_envs),
            carry=actor.carry if self.spec.record_carry else None,
            explore=self.exploring(num_envs), training_reward=info.training_reward)
        # A new trial starts from zeros for the previous action and reward, as at reset: the
        # last trial's outcome says nothing about the new task.
        fresh = info.trial_end
        next_input = AgentInput(
            obs=obs, prev_action=jnp.where(fresh[:, None], 0.0,
                                           encode_action(action, self.agent.action_space)),
            prev_reward=jnp.where(fresh, 0.0, reward),
            episode_start=episode_end.astype(jnp.float32), trial_start=fresh,
            trial_progress=jax.vmap(self.env.progress)(env_state),
            task=self.task_input(env_state))
        completed = jnp.where(fresh, actor.trial_return + reward, 0.0)
        epsilon = actor.epsilon
        if self.exploration_envs:
            epsilon = jnp.where(fresh, self.draw_epsilon(epsilon_key, num_envs), epsilon)
        actor = ActorState(env_state=env_state, next_input=next_input, carry=carry,
                           trial_return=jnp.where(fresh, 0.0, actor.trial_return + reward),
                           epsilon=epsilon)
        return actor, (transition, completed)

    def rollout(self, params: dict, actor: ActorState, key: jax.Array, length: int
                ) -> tuple[ActorState, Rollout, jax.Array]:
        """`length` steps of every env; the rollout, and [length, num_envs] trial returns."""
        keys = jax.random.split(key, length)
        end_actor, (transitions, completed) = jax.lax.scan(
            lambda a, k: self.step(params, a, k), actor, keys)
        # V of the state after the last step, for bootstrapping a rollout cut mid-trial.
        zero_noise = sample_ib_noise(key, self.agent.config, actor.trial_return.shape, True)
        given = self.given_belief(end_actor.env_state)
        _, out = self.agent.apply(params, end_actor.carry, _add_time(end_actor.next_input),
                                  _add_time(zero_noise),
                                  _add_time(given))
        rollout = Rollout(transitions=transitions, start_carry=actor.carry,
                          last_value=out.value[0])
        return end_actor, rollout, completed

    def trials(self, params: dict, key: jax.Array, num_envs: int, tasks: Any = None
               ) -> tuple[ActorState, Transition, jax.Array]:
        """One whole trial in each of `num_envs` envs (fresh tasks, or the given `tasks`):
        the start state, the [T, num_envs] transitions and each env's trial return."""
        reset_key, run_key = jax.random.split(key)
        actor = self.reset(reset_key, num_envs, tasks)
        keys = jax.random.split(run_key, self.env.trial_length)
        _, (transitions, completed) = jax.lax.scan(lambda a, k: self.step(params, a, k),
                                                   actor, keys)
        return actor, transitions, completed.sum(0)

    def belief_over(self, params: dict, actor: ActorState, transitions: Transition):
        """The belief's parameters [T, B, ...] along recorded trials (None without one)."""
        _, out = self.agent.apply(params, actor.carry, transitions.inputs, transitions.noise)
        return out.belief
