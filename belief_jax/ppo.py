"""Recurrent PPO (Schulman et al. 2017) with the auxiliary belief loss and IB penalties.

Minibatches are whole env-sequences: each re-runs the recurrent cores from the state they
had at the rollout start, so the gradient sees the same history the actor saw.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from belief_jax.agents import (
    Agent,
    AgentCarry,
    AgentInput,
    AgentOutput,
    IBNoise,
    policy_distribution,
)
from belief_jax.config import NetworkConfig, PPOConfig
from belief_jax.losses import aux_and_ib_loss, clipped_surrogate, gae
from belief_jax.parallel import shard_envs


class Transition(NamedTuple):
    """One env step of every env, as stored by the rollout (time-major when stacked)."""

    inputs: AgentInput
    noise: IBNoise
    belief_features: jax.Array  # the belief the policy saw (belief agent; else width 0)
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    trial_end: jax.Array
    task_info: jax.Array  # the privileged target of this step's task
    carry: AgentCarry | None = None  # recurrent state before this step (replay only)


class LearnerState(NamedTuple):
    params: dict
    opt_state: optax.OptState


class Rollout(NamedTuple):
    transitions: Transition  # [T, B, ...]
    start_carry: AgentCarry  # [B, ...] recurrent state before the first step
    last_value: jax.Array    # [B] V of the state after the last step


def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adam(config.learning_rate, eps=1e-5))


class PPO:
    squash_actions = False
    record_carry = False
    store_belief_features = True  # the update reuses the belief the actor acted on

    def __init__(self, agent: Agent, network: NetworkConfig, config: PPOConfig):
        self.agent, self.network, self.config = agent, network, config
        self.optimizer = make_optimizer(config)

    def init(self, key: jax.Array, params: dict, example: Transition) -> LearnerState:
        return LearnerState(params=params, opt_state=self.optimizer.init(params))

    def acting_params(self, state: LearnerState) -> dict:
        return state.params

    def forward(self, params: dict, carry: AgentCarry, batch: Transition) -> AgentOutput:
        stored = batch.belief_features if self.agent.kind == "belief" else None
        _, out = self.agent.apply(params, carry, batch.inputs, batch.noise, stored)
        return out

    def rl_loss(self, out: AgentOutput, batch: Transition, advantages: jax.Array,
                targets: jax.Array) -> tuple[jax.Array, dict]:
        cfg = self.config
        dist = policy_distribution(out.policy_params, self.agent.action_space)
        if cfg.normalize_advantages:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        policy_loss = clipped_surrogate(dist.log_prob(batch.action), batch.log_prob,
                                        advantages, cfg.clip_eps)
        value_loss = 0.5 * jnp.mean((out.value - targets) ** 2)
        entropy = dist.entropy().mean()
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        return loss, dict(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy)

    def loss(self, params: dict, carry: AgentCarry, batch: Transition, advantages: jax.Array,
             targets: jax.Array) -> tuple[jax.Array, dict]:
        out = self.forward(params, carry, batch)
        rl, rl_metrics = self.rl_loss(out, batch, advantages, targets)
        aux, aux_metrics = aux_and_ib_loss(out, batch.task_info, self.network,
                                           self.agent.task_info_spec)
        return rl + aux, {"loss": rl + aux, **rl_metrics, **aux_metrics}

    def update(self, state: LearnerState, rollout: Rollout, key: jax.Array
               ) -> tuple[LearnerState, dict]:
        """num_epochs passes, each over num_minibatches shuffled groups of envs."""
        cfg = self.config
        batch = rollout.transitions
        advantages, targets = gae(batch.reward, batch.value, batch.trial_end, rollout.last_value,
                                  cfg.gamma, cfg.gae_lambda)
        grad_fn = jax.value_and_grad(self.loss, has_aux=True)

        def minibatch_step(state: LearnerState, minibatch):
            (_, metrics), grads = grad_fn(state.params, *minibatch)
            updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
            metrics["grad_norm"] = optax.global_norm(grads)
            return LearnerState(optax.apply_updates(state.params, updates), opt_state), metrics

        def epoch(state: LearnerState, epoch_key: jax.Array):
            # One shuffle of the envs per epoch, then contiguous minibatches: a single gather
            # per array instead of one per minibatch (measured faster on CPU).
            env_ids = jax.random.permutation(epoch_key, cfg.num_envs)
            size = cfg.num_envs // cfg.num_minibatches
            split = lambda axis: lambda x: jnp.moveaxis(jnp.take(x, env_ids, axis=axis).reshape(
                *x.shape[:axis], cfg.num_minibatches, size, *x.shape[axis + 1:]), axis, 0)
            minibatches = (shard_envs(jax.tree.map(split(0), rollout.start_carry), 1),
                           *shard_envs(jax.tree.map(split(1), (batch, advantages, targets)), 2))
            return jax.lax.scan(minibatch_step, state, minibatches)

        state, metrics = jax.lax.scan(epoch, state, jax.random.split(key, cfg.num_epochs))
        return state, jax.tree.map(jnp.mean, metrics)
