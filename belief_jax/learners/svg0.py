"""Entropy-regularised SVG(0) (Heess et al. 2015) with a Retrace critic (Munos et al. 2016),
learning from replayed sequences.

- Critic: Q(h, a) on the critic's features, regressed onto Retrace targets computed with a
  target network; truncated importance weights c = λ·min(1, π/μ) correct for the behaviour
  policy μ that filled the replay.
- Policy: maximise E_π[Q(h, a)] + α·H(π(·|h)). Discrete actions use the exact expectation
  Σ_a π(a|h) Q(h, a); continuous actions a reparameterised tanh-Gaussian sample.
- Belief: the auxiliary log loss on the same replayed sequences — valid off-policy, since the
  posterior over tasks does not depend on the policy that produced the history.
The sequence forward starts from the recurrent state stored with the sequence's first step.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
import rlax

from belief_jax import obs_norm
from belief_jax.agents import Agent, QHead, policy_distribution
from belief_jax.agents.config import LR_SCHEDULES, NetworkConfig
from belief_jax.learners.base import (
    LearnerConfig,
    learning_rate,
    register,
    rl_reward,
    with_belief_optimizer,
)
from belief_jax.losses import aux_and_ib_loss
from belief_jax.parallel import shard_envs
from belief_jax.replay import (
    add_time_major,
    make_sequence_buffer,
    sample_time_major,
    sample_whole_trials,
)
from belief_jax.types import AgentOutput, Rollout, RolloutSpec, Transition
from belief_jax.validation import choice, non_negative, positive, unit_interval
from envs.core import Discrete

TARGET_UPDATES = ("polyak", "periodic")


@register
@dataclass(frozen=True)
class SVGConfig(LearnerConfig):
    """Entropy-regularised SVG(0) with a Retrace critic, learning from sequence replay."""

    name = "svg0"
    spec = RolloutSpec(squash_actions=True, record_carry=True, store_belief_features=False,
                       value_head=False, off_policy=True)
    # SVG(0) iterations are short (640 env steps): 100 per chunk keeps validation, which
    # runs once per chunk, a small share of the time.
    iterations_per_chunk = 100

    num_envs: int = 64
    rollout_length: int = 10
    """env steps per env between learning phases"""
    sequence_length: int = 20
    """length of replayed sequences; at most one trial"""
    replay_whole_trials: bool = False
    """replay whole trials from their first step (sequence_length must then be the trial's
    length): every step's context from the trial's start is in the sequence, so a learned
    encoder (pearl) gets gradient from all of it, not only from the sequence's share"""
    burn_in: int = 0
    """steps replayed before each sequence only to bring its stored recurrent state up to
    date with the current parameters (R2D2): no loss on them, no gradient through them"""
    batch_size: int = 32
    """sequences per gradient step"""
    replay_size: int = 100_000
    """env steps kept in replay (over all envs)"""
    min_replay: int = 5_000
    """env steps in replay before learning starts"""
    replay_ratio: float = 0.01
    """gradient steps per env step"""
    gamma: float = 0.99
    retrace_lambda: float = 1.0
    learning_rate: float = 3e-4
    lr_schedule: str = "constant"
    """constant, or cosine: every module but a separate belief network (which has its own,
    network.belief_lr_schedule) decays from learning_rate to 3% of it over the run's
    gradient steps, so a learner whose return peaks and then declines settles instead"""
    max_grad_norm: float = 40.0
    target_update: str = "polyak"
    """polyak (the default: on semicircle, 3 seeds, its validation return reached 90 in 22%
    fewer env steps, swung 14.8% over the run's last 20% against 22.5%, and ended at 86.3
    against 73.5 with periodic copies; README, Sample efficiency) or periodic"""
    target_period: int = 100
    """gradient steps between target-network copies (periodic)"""
    polyak_tau: float = 0.005
    twin_critics: bool = False
    """two Q heads trained on the same targets; the targets and the policy use their minimum
    (TD3, SAC), which curbs the over-estimation a max over actions feeds back into Q"""
    alpha: float = 0.01
    """entropy weight α (initial value when tuned)"""
    tune_alpha: bool = False
    """tune α towards target_entropy"""
    alpha_learning_rate: float = 3e-5
    """Adam step size of log α; small, so α anneals over the run instead of collapsing"""
    target_entropy: float | None = None
    """None: −|A| for continuous actions, 0.5·log n for n discrete actions"""

    def validate(self) -> None:
        positive(self, "svg0.", "num_envs", "rollout_length", "sequence_length", "batch_size",
                 "replay_size", "replay_ratio", "learning_rate", "alpha_learning_rate",
                 "max_grad_norm", "target_period", "polyak_tau")
        non_negative(self, "svg0.", "min_replay", "alpha", "burn_in")
        unit_interval(self, "svg0.", "gamma", "retrace_lambda")
        choice("svg0.target_update", self.target_update, TARGET_UPDATES)
        choice("svg0.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        if self.replay_whole_trials and self.burn_in:
            raise ValueError(f"svg0.burn_in={self.burn_in} with svg0.replay_whole_trials: a "
                             "whole trial starts from the initial state; set burn_in to 0")
        if self.replay_size < self.batch_size * self.replayed_length:
            raise ValueError(f"svg0.replay_size={self.replay_size} is smaller than one batch "
                             f"(svg0.batch_size x {self.replayed_name} = "
                             f"{self.batch_size * self.replayed_length})")
        if self.replay_size // self.num_envs < max(self.replayed_length,
                                                    self.min_replay // self.num_envs):
            raise ValueError(f"svg0.replay_size={self.replay_size} holds fewer steps per env "
                             f"than {self.replayed_name} or svg0.min_replay need")

    @property
    def replayed_length(self) -> int:
        """Steps of each sampled sequence: the burn-in, then the sequence learned from."""
        return self.burn_in + self.sequence_length

    @property
    def replayed_name(self) -> str:
        return "(svg0.burn_in + svg0.sequence_length)" if self.burn_in else \
            "svg0.sequence_length"

    @property
    def updates_per_iteration(self) -> int:
        return max(1, round(self.replay_ratio * self.steps_per_iteration))

    def trial_bounded_lengths(self) -> dict[str, int]:
        return {**super().trial_bounded_lengths(), self.replayed_name: self.replayed_length}

    def check_trial_length(self, trial_length: int) -> None:
        if self.replay_whole_trials and self.sequence_length != trial_length:
            raise ValueError(f"svg0.sequence_length={self.sequence_length} with "
                             f"svg0.replay_whole_trials must be the trial's length; valid: "
                             f"{trial_length}")

    def scaled(self, factor: int) -> SVGConfig:
        return self.replace(num_envs=factor * self.num_envs,
                            replay_size=factor * self.replay_size)

    def make(self, agent: Agent, network: NetworkConfig, num_iterations: int = 1) -> SVG0:
        return SVG0(agent, network, self, num_iterations)


class SVGState(NamedTuple):
    params: dict          # {"agent": ..., "q": ...}
    target_params: dict
    opt_state: optax.OptState
    log_alpha: jax.Array
    alpha_opt_state: optax.OptState
    buffer: Any           # flashbax trajectory buffer state
    num_updates: jax.Array


def retrace_targets(q_taken: jax.Array, v: jax.Array, rewards: jax.Array, discounts: jax.Array,
                    log_rhos: jax.Array, lambda_: float) -> jax.Array:
    """Retrace targets for Q(x_t, a_t), t = 0..L−2, of one sequence of length L:

    G_t = r_t + γ_t [V(x_{t+1}) + c_{t+1} (G_{t+1} − Q(x_{t+1}, a_{t+1}))],
    c_t = λ·min(1, π(a_t|x_t)/μ(a_t|x_t)),  G_{L−2} = r + γ V(x_{L−1}).
    q_taken, v, log_rhos: [L] (target-network Q of the taken action, E_π Q, log π/μ);
    rewards, discounts: [L] (γ_t = 0 where a trial ends at step t). Returns [L − 1].
    """
    c = lambda_ * jnp.minimum(1.0, jnp.exp(log_rhos[1:-1]))
    return rlax.general_off_policy_returns_from_q_and_v(
        q_t=q_taken[1:-1], v_t=v[1:], r_t=rewards[:-1], discount_t=discounts[:-1], c_t=c)


class SVG0:
    spec = SVGConfig.spec
    metric_names = ("loss", "critic_loss", "policy_loss", "entropy", "alpha", "q_mean",
                    "importance_weight", "grad_norm", "learning", "aux_log_likelihood",
                    "ib_kl_belief", "ib_kl_policy", "ib_kl_critic")

    def __init__(self, agent: Agent, network: NetworkConfig, config: SVGConfig,
                 num_iterations: int = 1):
        self.agent, self.network, self.config = agent, network, config
        # the forward pass of the loss; pearl's z is drawn there from the trial's context
        self.train_agent = agent.clone(config=dataclasses.replace(
            agent.config, latent_learner_pass=True))
        self.q_head = QHead(network.head_sizes, agent.action_space)
        num_updates = num_iterations * config.updates_per_iteration
        rate = learning_rate(config.learning_rate, config.lr_schedule, num_updates)
        self.optimizer = with_belief_optimizer(
            optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(rate)),
            agent, network, config.max_grad_norm, num_updates,
            agent_path=lambda params: params["agent"])
        self.alpha_optimizer = optax.adam(config.alpha_learning_rate)
        self.buffer = make_sequence_buffer(config.num_envs, config.replayed_length,
                                           config.batch_size, config.replay_size,
                                           config.min_replay, config.replay_whole_trials)
        space = agent.action_space
        self.discrete = isinstance(space, Discrete)
        self.target_entropy = config.target_entropy if config.target_entropy is not None else (
            0.5 * jnp.log(space.n).item() if self.discrete else -float(space.size))

    def init(self, key: jax.Array, agent_params: dict, example: Transition) -> SVGState:
        features = jnp.zeros((1, self._critic_width(agent_params, example)))
        init = lambda k: self.q_head.init(k, features, self._example_action(example))
        q_params = (jax.vmap(init)(jax.random.split(key, 2)) if self.config.twin_critics
                    else init(key))
        params = {"agent": agent_params, "q": q_params}
        log_alpha = jnp.log(jnp.float32(max(self.config.alpha, 1e-8)))
        return SVGState(params=params, target_params=params, opt_state=self.optimizer.init(params),
                        log_alpha=log_alpha, alpha_opt_state=self.alpha_optimizer.init(log_alpha),
                        buffer=self.buffer.init(example), num_updates=jnp.int32(0))

    def _critic_width(self, agent_params: dict, example: Transition) -> int:
        add = lambda tree: jax.tree.map(lambda x: x[None, None], tree)
        carry = jax.tree.map(lambda x: x[None], example.carry)
        out = jax.eval_shape(lambda: self.agent.apply(agent_params, carry, add(example.inputs),
                                                      add(example.noise))[1])
        return out.critic_features.shape[-1]

    def _example_action(self, example: Transition):
        return None if self.discrete else jnp.zeros((1, self.agent.action_space.size))

    def acting_params(self, state: SVGState) -> dict:
        return state.params["agent"]

    # ----- losses -------------------------------------------------------------------------
    def _forward(self, agent_params: dict, replayed: Transition) -> AgentOutput:
        """The agent's outputs on the learned part of `replayed` sequences, from the stored
        state at their first step, refreshed over the burn-in steps."""
        burn_in, batch = self.split_burn_in(replayed)
        carry = self.burned_in_carry(agent_params, burn_in, replayed)
        return self.train_agent.apply(agent_params, carry, batch.inputs, batch.noise)[1]

    def split_burn_in(self, replayed: Transition) -> tuple[Transition, Transition]:
        """[burn_in + L, N] sequences -> the burn-in steps and the L steps learned from."""
        cut = self.config.burn_in
        return (jax.tree.map(lambda x: x[:cut], replayed),
                jax.tree.map(lambda x: x[cut:], replayed))

    def burned_in_carry(self, agent_params: dict, burn_in: Transition,
                        replayed: Transition):
        """The recurrent state at the first learned step: the stored one, unrolled over the
        burn-in with the current parameters (no gradient), or stored as is without burn-in.
        A trial start inside the burn-in resets it, as it reset the actor."""
        start = jax.tree.map(lambda x: x[0], replayed.carry)
        if not self.config.burn_in:
            return start
        carry, _ = self.agent.apply(jax.lax.stop_gradient(agent_params), start,
                                    burn_in.inputs, burn_in.noise)
        return jax.lax.stop_gradient(carry)

    def _rescorable(self, action: jax.Array) -> jax.Array:
        """A stored squashed action moved inside the open box: a pre-tanh value above ~8.3
        rounds to exactly ±1 in float32, where the tanh bijector's inverse (and so the
        log-probability, and Retrace's log π/μ) is infinite. 1e-6 of the half-width inside,
        atanh is at most 7.25; the log-probability of such an action is then finite, and the
        truncated importance weight min(1, π/μ) keeps the error it makes bounded."""
        if self.discrete:
            return action
        space = self.agent.action_space
        inset = 1e-6 * (space.high - space.low) / 2
        return jnp.clip(action, space.low + inset, space.high - inset)

    def _critics(self, apply, q_params: dict) -> jax.Array:
        """`apply(params)` of the one critic, or stacked [2, ...] over the twin critics."""
        return jax.vmap(apply)(q_params) if self.config.twin_critics else apply(q_params)

    def _pessimistic(self, q: jax.Array) -> jax.Array:
        return q.min(0) if self.config.twin_critics else q

    def _q(self, q_params: dict, features: jax.Array, action: jax.Array) -> jax.Array:
        """Q of the given actions [L, N] ([2, L, N] with twin critics)."""
        if self.discrete:
            take = lambda q_all: jnp.take_along_axis(q_all, action[..., None], axis=-1)[..., 0]
            return self._critics(lambda p: take(self.q_head.apply(p, features)), q_params)
        return self._critics(lambda p: self.q_head.apply(p, features, action), q_params)

    def _expected_q(self, q_params: dict, features: jax.Array, dist, key: jax.Array):
        """E_π[Q(h, ·)] (exact for discrete actions; the twin critics' minimum inside the
        expectation) and the entropy estimate."""
        if self.discrete:
            q_all = self._critics(lambda p: self.q_head.apply(p, features), q_params)
            return jnp.sum(dist.probs * self._pessimistic(q_all), axis=-1), dist.entropy()
        action, log_prob = dist.sample_and_log_prob(seed=key)
        q = self._critics(lambda p: self.q_head.apply(p, features, action), q_params)
        return self._pessimistic(q), -log_prob

    def loss(self, params: dict, target_params: dict, log_alpha: jax.Array, batch: Transition,
             key: jax.Array) -> tuple[jax.Array, dict]:
        cfg = self.config
        target_key, policy_key = jax.random.split(key)
        out = self._forward(params["agent"], batch)
        target_out = self._forward(target_params["agent"], batch)
        batch = self.split_burn_in(batch)[1]
        dist = policy_distribution(out.policy_params, self.agent.action_space, squash=True)
        frozen_dist = policy_distribution(jax.lax.stop_gradient(out.policy_params),
                                          self.agent.action_space, squash=True)

        # Critic: Retrace targets from the target network and the current policy.
        target_q = self._pessimistic(self._q(target_params["q"], target_out.critic_features,
                                             batch.action))
        target_v, _ = self._expected_q(target_params["q"], target_out.critic_features,
                                       frozen_dist, target_key)
        log_rhos = frozen_dist.log_prob(self._rescorable(batch.action)) - batch.log_prob
        discounts = cfg.gamma * (1.0 - batch.trial_end.astype(jnp.float32))
        targets = jax.vmap(retrace_targets, in_axes=(1, 1, 1, 1, 1, None), out_axes=1)(
            target_q, target_v, rl_reward(batch), discounts, log_rhos, cfg.retrace_lambda)
        q = self._q(params["q"], out.critic_features, batch.action)[..., :-1, :]
        # each critic's mean squared error; the twins' summed
        critic_loss = 0.5 * jnp.sum(jnp.mean((q - jax.lax.stop_gradient(targets)) ** 2,
                                             axis=(-2, -1)))

        # Policy: SVG(0) through a frozen critic.
        alpha = jnp.exp(jax.lax.stop_gradient(log_alpha))
        expected_q, entropy = self._expected_q(jax.lax.stop_gradient(params["q"]),
                                               jax.lax.stop_gradient(out.critic_features),
                                               dist, policy_key)
        policy_loss = -jnp.mean(expected_q + alpha * entropy)
        alpha_loss = log_alpha * jnp.mean(jax.lax.stop_gradient(entropy) - self.target_entropy)

        aux, aux_metrics = aux_and_ib_loss(out, batch.task_info, self.agent)
        total = critic_loss + policy_loss + aux
        return total + alpha_loss, {
            "loss": total, "critic_loss": critic_loss, "policy_loss": policy_loss,
            "entropy": entropy.mean(), "alpha": alpha, "q_mean": q.mean(),
            "importance_weight": jnp.exp(log_rhos).mean(), **aux_metrics}

    # ----- update -------------------------------------------------------------------------
    def update(self, state: SVGState, rollout: Rollout, key: jax.Array
               ) -> tuple[SVGState, dict]:
        buffer = add_time_major(self.buffer, state.buffer, rollout.transitions)
        state = state._replace(buffer=buffer)
        can_learn = self.buffer.can_sample(buffer)
        steps = jax.random.split(key, self.config.updates_per_iteration)
        state, metrics = jax.lax.scan(
            lambda s, k: jax.lax.cond(can_learn, self._gradient_step, self._skip, s, k),
            state, steps)
        metrics = jax.tree.map(jnp.mean, metrics)
        metrics["learning"] = can_learn.astype(jnp.float32)
        return self._observe(state, rollout), metrics

    def _observe(self, state: SVGState, rollout: Rollout) -> SVGState:
        """The observation moments (network.normalize_observations) merged with the
        rollout's, in the online and target agent alike."""
        agent = obs_norm.update(state.params["agent"], rollout.transitions.inputs.obs)
        target = obs_norm.copy_moments(agent, state.target_params["agent"])
        return state._replace(params={**state.params, "agent": agent},
                              target_params={**state.target_params, "agent": target})

    def _gradient_step(self, state: SVGState, key: jax.Array) -> tuple[SVGState, dict]:
        sample_key, loss_key = jax.random.split(key)
        # the buffer is on every device; each computes the loss of its share of the batch
        batch = shard_envs(self._sample(state.buffer, sample_key), 1)
        grad_fn = jax.grad(self.loss, argnums=(0, 2), has_aux=True)
        (grads, alpha_grad), metrics = grad_fn(state.params, state.target_params,
                                               state.log_alpha, batch, loss_key)
        updates, opt_state = self.optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        log_alpha, alpha_opt_state = state.log_alpha, state.alpha_opt_state
        if self.config.tune_alpha:
            alpha_update, alpha_opt_state = self.alpha_optimizer.update(alpha_grad,
                                                                        alpha_opt_state)
            log_alpha = optax.apply_updates(log_alpha, alpha_update)
        num_updates = state.num_updates + 1
        target = self._update_target(state.target_params, params, num_updates)
        metrics["grad_norm"] = optax.global_norm(grads)
        return state._replace(params=params, target_params=target, opt_state=opt_state,
                              log_alpha=log_alpha, alpha_opt_state=alpha_opt_state,
                              num_updates=num_updates), metrics

    def _sample(self, buffer, key: jax.Array) -> Transition:
        cfg = self.config
        if cfg.replay_whole_trials:
            return sample_whole_trials(buffer, key, cfg.batch_size, cfg.sequence_length)
        return sample_time_major(self.buffer, buffer, key)

    def _skip(self, state: SVGState, key: jax.Array) -> tuple[SVGState, dict]:
        metrics = jax.eval_shape(self._gradient_step, state, key)[1]
        return state, jax.tree.map(lambda m: jnp.full(m.shape, jnp.nan, m.dtype), metrics)

    def _update_target(self, target: dict, online: dict, num_updates: jax.Array) -> dict:
        cfg = self.config
        if cfg.target_update == "polyak":
            return optax.incremental_update(online, target, cfg.polyak_tau)
        copy = num_updates % cfg.target_period == 0
        return jax.tree.map(lambda o, t: jnp.where(copy, o, t), online, target)
