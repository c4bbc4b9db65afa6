"""Losses, in nats: the belief's log-likelihood of the true task, GAE, and the PPO terms."""
from __future__ import annotations

import distrax
import jax
import jax.numpy as jnp
import rlax

from envs.core import TaskInfoSpec

# Beta values are clipped to [BETA_EDGE, 1 − BETA_EDGE]: 1 − 1e-6 is still below 1 in float32.
BETA_EDGE = 1e-6
# Per nat of a step's KL above its ceiling (network.pearl_max_nats): 10x PEARL's β of 0.1 and
# of the order of a squared TD error, so the ceiling holds against the critic's pull.
MAX_NATS_WEIGHT = 1.0


def task_log_likelihood(belief: jax.Array, task_info: jax.Array,
                        spec: TaskInfoSpec) -> jax.Array:
    """log q(task_info | history) under the belief's parameters, per row (leading axes kept).

    categorical: log-softmax logits [..., C] and ids [...];
    gaussian: [mean, log_std] [..., 2d] and values [..., d] — diagonal Gaussian density;
    beta: [log α, log β] [..., 2d] and values [..., d] in [0, 1] — product of Beta densities;
    multi_categorical: logits [..., L·C] and ids [..., L] — sum of per-position log-probs.
    The negative is the auxiliary log loss; its minimiser is the true posterior.
    """
    if spec.kind == "categorical":
        ids = task_info.reshape(belief.shape[:-1]).astype(jnp.int32)
        return jnp.take_along_axis(belief, ids[..., None], axis=-1)[..., 0]
    if spec.kind == "gaussian":
        mean, log_std = jnp.split(belief, 2, axis=-1)
        return distrax.Normal(mean, jnp.exp(log_std)).log_prob(task_info).sum(-1)
    if spec.kind == "beta":
        log_a, log_b = jnp.split(belief, 2, axis=-1)
        # U[0, 1) draws can be exactly 0, where a Beta with α < 1 has infinite density.
        value = jnp.clip(task_info, BETA_EDGE, 1.0 - BETA_EDGE)
        return distrax.Beta(jnp.exp(log_a), jnp.exp(log_b)).log_prob(value).sum(-1)
    logits = belief.reshape(*belief.shape[:-1], spec.size, spec.num_classes)
    ids = task_info.astype(jnp.int32)[..., None]
    return jnp.take_along_axis(logits, ids, axis=-1)[..., 0].sum(-1)


def aux_and_ib_loss(out, task_info: jax.Array, agent) -> tuple[jax.Array, dict]:
    """−aux_weight·log q(task_info | history) + Σ β·KL over the bottlenecks, with metrics.

    `out` is an `AgentOutput`; `agent` the `agents.Agent` that produced it (its network
    config holds the weights; its kind says which β weighs `kl_belief`)."""
    network = agent.config
    kl = dict(ib_kl_belief=out.kl_belief.mean(), ib_kl_policy=out.kl_policy.mean(),
              ib_kl_critic=out.kl_critic.mean())
    # free nats: a step's KL below the floor is neither penalised nor pushed down
    penalised = jnp.maximum(out.kl_belief, agent.traits.kl_belief_free_nats(network)).mean()
    ceiling = agent.traits.kl_belief_max_nats(network)
    above = jnp.where(ceiling > 0, jnp.maximum(out.kl_belief - ceiling, 0.0), 0.0).mean()
    loss = agent.traits.kl_belief_weight(network) * penalised + MAX_NATS_WEIGHT * above \
        + network.ib_policy * kl["ib_kl_policy"] + network.ib_critic * kl["ib_kl_critic"]
    metrics = dict(kl)
    if out.belief is not None:
        log_lik = task_log_likelihood(out.belief, task_info, agent.task_info_spec).mean()
        loss = loss - network.aux_weight * log_lik
        metrics["aux_log_likelihood"] = log_lik
    return loss, metrics


def gae(rewards: jax.Array, values: jax.Array, trial_ends: jax.Array, last_value: jax.Array,
        gamma: float, lam: float) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation (Schulman et al. 2016) on time-major [T, B] data.

    Aₜ = δₜ + γλ(1 − dₜ)Aₜ₊₁,  δₜ = rₜ + γ(1 − dₜ)Vₜ₊₁ − Vₜ,  with dₜ = 1 only at a trial's
    end: episode boundaries inside a trial are crossed, so exploring early pays off later.
    Returns (advantages, value targets = advantages + values).
    """
    discounts = gamma * (1.0 - trial_ends.astype(jnp.float32))
    bootstrap = jnp.concatenate([values, last_value[None]], axis=0)
    per_env = jax.vmap(rlax.truncated_generalized_advantage_estimation,
                       in_axes=(1, 1, None, 1), out_axes=1)
    advantages = per_env(rewards, discounts, lam, bootstrap)
    return advantages, advantages + values


def clipped_surrogate(log_prob: jax.Array, old_log_prob: jax.Array, advantages: jax.Array,
                      clip_eps: float, weight: jax.Array | None = None) -> jax.Array:
    """PPO's loss −E[min(ρA, clip(ρ, 1 ± ε)A)], ρ = π/π_old (Schulman et al. 2017); with
    `weight`, the weighted mean (0 drops a step)."""
    ratio = jnp.exp(log_prob - old_log_prob)
    clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps)
    objective = jnp.minimum(ratio * advantages, clipped * advantages)
    return -(jnp.mean(objective) if weight is None else weighted_mean(objective, weight))


def weighted_mean(x: jax.Array, weight: jax.Array) -> jax.Array:
    """The mean of x over the entries with weight 1 (weights 0 or 1), 0 if there are none."""
    return jnp.sum(weight * x) / jnp.maximum(weight.sum(), 1.0)
