"""Recurrent PPO (Schulman et al. 2017) with the auxiliary belief loss and IB penalties.

Minibatches are whole env-sequences: each re-runs the recurrent cores from the state they
had at the rollout start, so the gradient sees the same history the actor saw.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from belief_jax import obs_norm, value_norm
from belief_jax.agents import Agent, policy_distribution
from belief_jax.agents.config import NetworkConfig
from belief_jax.learners.base import (
    LearnerConfig,
    clip_per_module,
    register,
    rl_reward,
    with_belief_optimizer,
)
from belief_jax.losses import aux_and_ib_loss, clipped_surrogate, gae, weighted_mean
from belief_jax.parallel import shard_envs
from belief_jax.types import AgentOutput, Carry, Rollout, RolloutSpec, Transition
from belief_jax.validation import non_negative, positive, unit_interval


@register
@dataclass(frozen=True)
class PPOConfig(LearnerConfig):
    name = "ppo"
    spec = RolloutSpec(squash_actions=False, record_carry=False, store_belief_features=True,
                       value_head=True, off_policy=False, masks_exploration=True)

    num_envs: int = 64
    rollout_length: int = 100
    """env steps per rollout; at most one trial"""
    num_epochs: int = 4
    num_minibatches: int = 4
    """minibatches of whole env-sequences; must divide num_envs"""
    shuffle_groups: int = 1
    """envs are shuffled within this many contiguous groups, and each minibatch takes an equal
    share of every group (1 = one shuffle of all envs). A multiple of the device count keeps
    the shuffle on each device, with no envs' data sent between devices or processes; the
    result does not depend on the device count. num_envs must split into
    shuffle_groups x num_minibatches"""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    learning_rate: float = 3e-4
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True
    clip_per_module: bool = False
    """clip the gradient norms of the policy, the critic and the belief network apart, each at
    max_grad_norm (`base.clip_per_module`), instead of their global norm"""
    normalize_values: bool = False
    """the critic learns value targets scaled by their running mean and std (`value_norm`),
    so the value loss's share of the clipped gradient norm does not grow with the returns"""
    value_norm_decay: float = 0.99
    """per update, of the running target moments (0.99: about the last 100 updates)"""

    def validate(self) -> None:
        positive(self, "ppo.", "num_envs", "rollout_length", "num_epochs", "num_minibatches",
                 "shuffle_groups", "learning_rate", "max_grad_norm")
        if not 0 < self.value_norm_decay < 1:
            raise ValueError(f"ppo.value_norm_decay must lie in (0, 1), got "
                             f"{self.value_norm_decay!r}")
        non_negative(self, "ppo.", "clip_eps", "vf_coef", "ent_coef")
        unit_interval(self, "ppo.", "gamma", "gae_lambda")
        if self.num_envs % self.num_minibatches:
            raise ValueError(f"ppo.num_minibatches={self.num_minibatches} must divide "
                             f"ppo.num_envs={self.num_envs}")
        if self.num_envs % (self.num_minibatches * self.shuffle_groups):
            raise ValueError(f"ppo.shuffle_groups={self.shuffle_groups} x ppo.num_minibatches="
                             f"{self.num_minibatches} must divide ppo.num_envs={self.num_envs}")

    def make(self, agent: Agent, network: NetworkConfig, num_iterations: int = 1) -> PPO:
        return PPO(agent, network, self, num_iterations)

    def with_num_envs(self, num_envs: int) -> PPOConfig:
        minibatches = math.gcd(self.num_minibatches, num_envs)
        return self.replace(num_envs=num_envs, num_minibatches=minibatches,
                            shuffle_groups=math.gcd(self.shuffle_groups, num_envs // minibatches))


class LearnerState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    value_norm: value_norm.ValueNorm | None = None
    """the critic's target moments; None unless ppo.normalize_values"""


class Minibatch(NamedTuple):
    start_carry: Carry     # [M, ...]
    transitions: Transition  # [T, M, ...]
    advantages: jax.Array  # [T, M]
    targets: jax.Array     # [T, M]


def make_clip(config: PPOConfig, agent: Agent) -> optax.GradientTransformation:
    if config.clip_per_module:
        return clip_per_module(config.max_grad_norm, agent)
    return optax.clip_by_global_norm(config.max_grad_norm)


def make_optimizer(config: PPOConfig, agent: Agent, network: NetworkConfig,
                   num_iterations: int) -> optax.GradientTransformation:
    rl = optax.chain(make_clip(config, agent), optax.adam(config.learning_rate, eps=1e-5))
    updates = num_iterations * config.num_epochs * config.num_minibatches
    return with_belief_optimizer(rl, agent, network, config.max_grad_norm, updates)


class PPO:
    spec = PPOConfig.spec
    metric_names = ("loss", "policy_loss", "value_loss", "entropy", "grad_norm",
                    "aux_log_likelihood", "ib_kl_belief", "ib_kl_policy", "ib_kl_critic")

    def __init__(self, agent: Agent, network: NetworkConfig, config: PPOConfig,
                 num_iterations: int = 1):
        self.agent, self.network, self.config = agent, network, config
        self.optimizer = make_optimizer(config, agent, network, num_iterations)

    def init(self, key: jax.Array, params: dict, example: Transition) -> LearnerState:
        stats = value_norm.init() if self.config.normalize_values else None
        return LearnerState(params=params, opt_state=self.optimizer.init(params),
                            value_norm=stats)

    def acting_params(self, state: LearnerState) -> dict:
        return state.params

    def forward(self, params: dict, carry: Carry, batch: Transition) -> AgentOutput:
        stored = batch.belief_features if self.agent.traits.reuses_belief_features else None
        _, out = self.agent.apply(params, carry, batch.inputs, batch.noise, stored)
        return out

    def rl_loss(self, out: AgentOutput, batch: Transition, advantages: jax.Array,
                targets: jax.Array) -> tuple[jax.Array, dict]:
        cfg = self.config
        dist = policy_distribution(out.policy_params, self.agent.action_space)
        weight = rl_weight(batch)
        mean = lambda x: weighted_mean(x, weight)
        if cfg.normalize_advantages:
            centred = advantages - mean(advantages)
            advantages = centred / (jnp.sqrt(mean(centred**2)) + 1e-8)
        policy_loss = clipped_surrogate(dist.log_prob(batch.action), batch.log_prob,
                                        advantages, cfg.clip_eps, weight)
        value_loss = 0.5 * mean((out.value - targets) ** 2)
        entropy = mean(dist.entropy())
        loss = policy_loss + cfg.vf_coef * value_loss - cfg.ent_coef * entropy
        return loss, dict(policy_loss=policy_loss, value_loss=value_loss, entropy=entropy)

    def loss(self, params: dict, minibatch: Minibatch) -> tuple[jax.Array, dict]:
        batch = minibatch.transitions
        out = self.forward(params, minibatch.start_carry, batch)
        rl, rl_metrics = self.rl_loss(out, batch, minibatch.advantages, minibatch.targets)
        aux, aux_metrics = aux_and_ib_loss(out, batch.task_info, self.agent)
        return rl + aux, {"loss": rl + aux, **rl_metrics, **aux_metrics}

    def update(self, state: LearnerState, rollout: Rollout, key: jax.Array
               ) -> tuple[LearnerState, dict]:
        """num_epochs passes, each over num_minibatches shuffled groups of envs."""
        cfg = self.config
        batch = rollout.transitions
        advantages, targets, state = self.advantages_and_targets(state, rollout)
        data = Minibatch(start_carry=rollout.start_carry, transitions=batch,
                         advantages=advantages, targets=targets)
        state, metrics = jax.lax.scan(functools.partial(epoch, self, data), state,
                                      jax.random.split(key, cfg.num_epochs))
        # after the epochs: the rollout is learnt from under the moments it was acted under
        state = state._replace(params=obs_norm.update(state.params, batch.inputs.obs))
        return state, jax.tree.map(jnp.mean, metrics)

    def advantages_and_targets(self, state: LearnerState, rollout: Rollout
                               ) -> tuple[jax.Array, jax.Array, LearnerState]:
        """GAE on the rollout; with value normalisation, GAE reads the critic's outputs in
        return units (the stats it acted under) and the critic's targets are normalised by
        the stats updated with this rollout's returns."""
        cfg, batch = self.config, rollout.transitions
        stats = state.value_norm
        to_returns = (lambda v: v) if stats is None else \
            (lambda v: value_norm.denormalize(stats, v))
        advantages, targets = gae(rl_reward(batch), to_returns(batch.value), batch.trial_end,
                                  to_returns(rollout.last_value), cfg.gamma, cfg.gae_lambda)
        if stats is not None:
            stats = value_norm.update(stats, targets, rl_weight(batch), cfg.value_norm_decay)
            targets = value_norm.normalize(stats, targets)
            state = state._replace(value_norm=stats)
        return advantages, targets, state


def rl_weight(batch: Transition) -> jax.Array:
    """[T, B] 1 for steps the RL losses learn from: exploring envs' steps (belief training
    only) carry none."""
    if batch.explore is None:
        return jnp.ones_like(batch.reward)
    return 1.0 - batch.explore.astype(jnp.float32)


def epoch(ppo: PPO, data: Minibatch, state: LearnerState, key: jax.Array
          ) -> tuple[LearnerState, dict]:
    """One pass over the rollout in `num_minibatches` minibatches of shuffled envs."""
    cfg = ppo.config
    group_size = cfg.num_envs // cfg.shuffle_groups
    # one group draws one permutation of all envs, the random stream of earlier runs
    order = (jax.random.permutation(key, cfg.num_envs)[None] if cfg.shuffle_groups == 1 else
             jax.vmap(jax.random.permutation, (0, None))(
                 jax.random.split(key, cfg.shuffle_groups), group_size))
    minibatches = split_minibatches(data, order, cfg.num_minibatches)
    return jax.lax.scan(functools.partial(minibatch_step, ppo), state, minibatches)


def split_minibatches(data: Minibatch, order: jax.Array, num_minibatches: int) -> Minibatch:
    """[num_minibatches, ...] stacks of envs: `order` [groups, group size] shuffles the envs
    of each contiguous group, and minibatch k is the k-th slice of every group. One gather per
    array instead of one per minibatch (measured faster on CPU); the gather runs per group
    (batched over the group axis), so with the groups split over the devices it moves no data
    between them. Each minibatch's env axis is pinned to the device mesh (see `parallel`)."""
    groups, group_size = order.shape
    share = group_size // num_minibatches

    def split(axis: int):
        def stack(x):
            rest = x.shape[axis + 1:]
            grouped = x.reshape(*x.shape[:axis], groups, group_size, *rest)
            grouped = jax.vmap(lambda g, ids: jnp.take(g, ids, axis=axis), (axis, 0), axis)(
                grouped, order)
            sliced = grouped.reshape(*x.shape[:axis], groups, num_minibatches, share, *rest)
            sliced = jnp.moveaxis(sliced, axis + 1, 0)
            return sliced.reshape(num_minibatches, *x.shape[:axis], groups * share, *rest)
        return stack

    time_major = (data.transitions, data.advantages, data.targets)
    return Minibatch(shard_envs(jax.tree.map(split(0), data.start_carry), 1),
                     *shard_envs(jax.tree.map(split(1), time_major), 2))


def minibatch_step(ppo: PPO, state: LearnerState, minibatch: Minibatch
                   ) -> tuple[LearnerState, dict]:
    (_, metrics), grads = jax.value_and_grad(ppo.loss, has_aux=True)(state.params, minibatch)
    updates, opt_state = ppo.optimizer.update(grads, state.opt_state, state.params)
    metrics["grad_norm"] = optax.global_norm(grads)
    return state._replace(params=optax.apply_updates(state.params, updates),
                          opt_state=opt_state), metrics
