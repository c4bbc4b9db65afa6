"""The three agents of Humplik et al. (2019) as one flax module, chosen by `Agent.kind`.

- `rnn`: one recurrent core → policy and critic heads; RL loss only.
- `aux_head`: the same plus an auxiliary head on the core predicting the task info; the
  auxiliary loss shapes the shared core.
- `pearl`: the posterior-sampling comparison agent (PEARL-style, Rakelly et al. 2019): a
  context encoder (product of per-transition Gaussians) whose latent z, sampled once per
  episode, conditions feed-forward policy and critic; no privileged information, only the
  RL loss and β·KL(q(z | context) ‖ N(0, I)) with β = `ib_belief`.
- `belief`: a separate belief network (own core + auxiliary head) trained only by the
  auxiliary loss. Its output, the belief's distribution parameters, passes a stop-gradient
  and feeds policy and critic with the raw input. Policy and critic torsos are recurrent or
  feed-forward (a belief that is a sufficient statistic makes memory unnecessary).

All inputs are time-major [T, B, ...]; acting is a T = 1 call.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from belief_jax.config import NetworkConfig
from belief_jax.networks import (
    MLP,
    AuxHead,
    InformationBottleneck,
    PosteriorSamplingEncoder,
    RecurrentCore,
)
from envs.core import Box, Discrete, TaskInfoSpec


class AgentInput(NamedTuple):
    """x_t of the paper: observation, previous action and reward, first-step-of-episode flag;
    plus `trial_start`, which resets the recurrent state."""

    obs: jax.Array
    prev_action: jax.Array  # one-hot for discrete actions
    prev_reward: jax.Array
    episode_start: jax.Array
    trial_start: jax.Array


class AgentCarry(NamedTuple):
    core: Any = None      # rnn / aux_head
    belief: Any = None    # belief agent
    policy: Any = None    # belief agent with a recurrent policy torso
    critic: Any = None    # ... and a separate recurrent critic
    context: Any = None   # pearl: the context posterior and the held latent


class IBNoise(NamedTuple):
    """Standard-normal noise for each information bottleneck, drawn once at acting time."""

    belief: jax.Array
    policy: jax.Array
    critic: jax.Array
    latent: jax.Array  # pearl's posterior sample, used at episode starts


class AgentOutput(NamedTuple):
    policy_params: jax.Array  # logits, or [mean, log_std] for continuous actions
    value: jax.Array          # V(h) (zeros without a value head)
    critic_features: jax.Array  # the critic's input to its head(s), after any bottleneck
    belief: jax.Array | None  # belief distribution parameters (None for `rnn`)
    kl_belief: jax.Array
    kl_policy: jax.Array
    kl_critic: jax.Array


class Agent(nn.Module):
    kind: str  # rnn, aux_head or belief
    config: NetworkConfig
    task_info_spec: TaskInfoSpec
    action_space: Discrete | Box
    value_head: bool = True  # False for SVG(0), whose critic is a separate Q head

    @nn.compact
    def __call__(self, carry: AgentCarry, x: AgentInput, noise: IBNoise,
                 belief_features: jax.Array | None = None) -> tuple[AgentCarry, AgentOutput]:
        """`belief_features`, if given, replaces the belief network's output as the policy and
        critic input (the belief agent's update reuses those computed at acting time)."""
        cfg = self.config
        flat = jnp.concatenate([x.obs, x.prev_action, x.prev_reward[..., None],
                                x.episode_start[..., None]], axis=-1)
        core = lambda name, c, inp: RecurrentCore(cfg.cell, cfg.hidden_size, name=name)(
            c, inp, x.trial_start)
        kl_belief = jnp.zeros(flat.shape[:-1])

        if self.kind in ("rnn", "aux_head"):
            core_carry, h = core("core", carry.core, flat)
            belief = AuxHead(self.task_info_spec, name="aux_head")(h) if self.kind == "aux_head" \
                else None
            new_carry, policy_h, critic_h = AgentCarry(core=core_carry), h, h
        elif self.kind == "pearl":
            encoder = PosteriorSamplingEncoder(cfg.latent_size, cfg.torso_sizes, name="context")
            context, (z, belief, kl_belief) = encoder(carry.context, flat, x.episode_start,
                                                      x.trial_start, noise.latent)
            # As in PEARL, the encoder learns from the critic and the KL, not from the actor.
            policy_h = MLP(cfg.torso_sizes, name="policy_torso")(
                jnp.concatenate([flat, jax.lax.stop_gradient(z)], axis=-1))
            critic_h = MLP(cfg.torso_sizes, name="critic_torso")(
                jnp.concatenate([flat, z], axis=-1))
            new_carry, belief = AgentCarry(context=context), None
        else:
            belief_carry, belief_h = core("belief_core", carry.belief, flat)
            belief = AuxHead(self.task_info_spec, name="belief_head")(belief_h)
            features = jax.lax.stop_gradient(belief if belief_features is None
                                              else belief_features)
            if cfg.ib_belief > 0:
                features, kl_belief = InformationBottleneck(cfg.ib_size, name="ib_belief")(
                    features, noise.belief)
            torso_in = jnp.concatenate([flat, features], axis=-1)
            policy_carry = critic_carry = None
            if cfg.policy_core == "recurrent":
                policy_carry, policy_h = core("policy_core", carry.policy, torso_in)
                critic_carry, critic_h = (None, policy_h) if cfg.share_policy_critic else \
                    core("critic_core", carry.critic, torso_in)
            else:
                policy_h = MLP(cfg.torso_sizes, name="policy_torso")(torso_in)
                critic_h = policy_h if cfg.share_policy_critic else \
                    MLP(cfg.torso_sizes, name="critic_torso")(torso_in)
            new_carry = AgentCarry(belief=belief_carry, policy=policy_carry, critic=critic_carry)

        kl_policy = kl_critic = jnp.zeros(flat.shape[:-1])
        if cfg.ib_policy > 0:
            policy_h, kl_policy = InformationBottleneck(cfg.ib_size, name="ib_policy")(
                policy_h, noise.policy)
        if cfg.ib_critic > 0:
            critic_h, kl_critic = InformationBottleneck(cfg.ib_size, name="ib_critic")(
                critic_h, noise.critic)
        policy_params = self._policy_head(MLP(cfg.head_sizes, name="policy_head")(policy_h))
        value = nn.Dense(1, name="value")(MLP(cfg.head_sizes, name="critic_head")(critic_h))[
            ..., 0] if self.value_head else jnp.zeros(critic_h.shape[:-1])
        return new_carry, AgentOutput(policy_params=policy_params, value=value,
                                      critic_features=critic_h, belief=belief,
                                      kl_belief=kl_belief, kl_policy=kl_policy,
                                      kl_critic=kl_critic)

    def _policy_head(self, h: jax.Array) -> jax.Array:
        space = self.action_space
        if isinstance(space, Discrete):
            return nn.Dense(space.n, name="logits", kernel_init=nn.initializers.orthogonal(0.01))(h)
        mean = nn.Dense(space.size, name="mean", kernel_init=nn.initializers.orthogonal(0.01))(h)
        log_std = self.param("log_std", nn.initializers.constant(-0.5), (space.size,))
        return jnp.concatenate([mean, jnp.broadcast_to(log_std, mean.shape)], axis=-1)


def initial_carry(kind: str, config: NetworkConfig, batch: int) -> AgentCarry:
    zeros = lambda: RecurrentCore.initial_carry(config.cell, batch, config.hidden_size)
    if kind in ("rnn", "aux_head"):
        return AgentCarry(core=zeros())
    if kind == "pearl":
        return AgentCarry(context=PosteriorSamplingEncoder.initial_carry(batch, config.latent_size))
    recurrent = config.policy_core == "recurrent"
    return AgentCarry(belief=zeros(), policy=zeros() if recurrent else None,
                      critic=zeros() if recurrent and not config.share_policy_critic else None)


class QHead(nn.Module):
    """Q(h, ·) for discrete actions (one output per action) or Q(h, a) for continuous ones."""

    sizes: tuple[int, ...]
    action_space: Discrete | Box

    @nn.compact
    def __call__(self, h: jax.Array, action: jax.Array | None = None) -> jax.Array:
        if isinstance(self.action_space, Discrete):
            return nn.Dense(self.action_space.n, name="q")(MLP(self.sizes, name="torso")(h))
        x = jnp.concatenate([h, action], axis=-1)
        return nn.Dense(1, name="q")(MLP(self.sizes, name="torso")(x))[..., 0]


def policy_distribution(policy_params: jax.Array, action_space: Discrete | Box,
                        squash: bool = False):
    """Categorical, or diagonal Gaussian; `squash` maps the Gaussian through tanh and then
    affinely onto the Box's [low, high] (SVG(0)'s bounded reparameterised actions, with the
    log-density corrected)."""
    if isinstance(action_space, Discrete):
        return distrax.Categorical(logits=policy_params)
    mean, log_std = jnp.split(policy_params, 2, axis=-1)
    if not squash:
        return distrax.MultivariateNormalDiag(mean, jnp.exp(log_std))
    base = distrax.Normal(mean, jnp.exp(log_std))
    low, high = action_space.low, action_space.high
    bijector = distrax.Tanh() if (low, high) == (-1.0, 1.0) else distrax.Chain(
        [distrax.ScalarAffine(shift=(high + low) / 2, scale=(high - low) / 2), distrax.Tanh()])
    return distrax.Independent(distrax.Transformed(base, bijector), 1)


def encode_action(action: jax.Array, action_space: Discrete | Box) -> jax.Array:
    """The previous action as the agent sees it: one-hot if discrete, clipped if continuous."""
    if isinstance(action_space, Discrete):
        return jax.nn.one_hot(action, action_space.n)
    return jnp.clip(action, action_space.low, action_space.high)


def sample_ib_noise(key: jax.Array, config: NetworkConfig, batch_shape: tuple[int, ...],
                    deterministic: bool = False) -> IBNoise:
    shapes = [(*batch_shape, config.ib_size)] * 3 + [(*batch_shape, config.latent_size)]
    if deterministic:
        return IBNoise(*(jnp.zeros(shape) for shape in shapes))
    keys = jax.random.split(key, len(shapes))
    return IBNoise(*(jax.random.normal(k, shape) for k, shape in zip(keys, shapes, strict=True)))
