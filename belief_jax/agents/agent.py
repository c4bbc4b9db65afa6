"""`Agent`: the flax module every kind shares. It builds x_t, runs the kind's torso (see
`belief_jax.agents.registry`), applies the optional bottlenecks on the policy and critic
inputs, and ends in the policy head and, for learners that want one, a V(h) head.

All inputs are time-major [T, B, ...]; acting is a T = 1 call.
"""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from belief_jax import obs_norm
from belief_jax.agents.base import MLP, AgentKind, zero_kl
from belief_jax.agents.config import NetworkConfig, switched_on
from belief_jax.agents.factored import FactoredHeads
from belief_jax.agents.registry import get
from belief_jax.networks import InformationBottleneck
from belief_jax.obs_norm import ObsNormalizer
from belief_jax.types import AgentInput, AgentOutput, Carry, IBNoise
from envs.core import Box, Discrete, TaskInfoSpec


class Agent(nn.Module):
    kind: str  # a name in `agents.names()`
    config: NetworkConfig
    task_info_spec: TaskInfoSpec
    action_space: Discrete | Box
    value_head: bool = True  # False for SVG(0), whose critic is a separate Q head

    @property
    def traits(self) -> type[AgentKind]:
        """The kind's declarations (has_belief, reuses_belief_features, ...)."""
        return get(self.kind)

    def initial_carry(self, batch: int) -> Carry:
        return self.traits.initial_carry(self.config, batch)

    @nn.compact
    def __call__(self, carry: Carry, x: AgentInput, noise: IBNoise,
                 belief_features: jax.Array | None = None) -> tuple[Carry, AgentOutput]:
        """`belief_features`, if given, replaces the belief network's output as the policy and
        critic input (an update reusing those computed at acting time)."""
        cfg = self.config
        obs = ObsNormalizer(name=obs_norm.MODULE)(x.obs) if cfg.normalize_observations else x.obs
        flat = jnp.concatenate([obs, x.prev_action, x.prev_reward[..., None],
                                x.episode_start[..., None], *self._extra_inputs(x)], axis=-1)
        torso = self.traits.torso(cfg, self.task_info_spec, carry, flat, x, noise,
                                belief_features)
        if torso.factors is not None:
            logits, value, critic_h = FactoredHeads(cfg.head_sizes, self.value_head,
                                                    name="factored")(
                torso.factors, self._shared_factor_inputs(x))
            zero = zero_kl(flat)
            return torso.carry, AgentOutput(policy_params=logits, value=value,
                                            critic_features=critic_h, belief=torso.belief,
                                            kl_belief=torso.kl_belief, kl_policy=zero,
                                            kl_critic=zero)
        policy_h, critic_h = torso.policy_h, torso.critic_h
        kl_policy = kl_critic = jnp.zeros(flat.shape[:-1])
        if switched_on(cfg.ib_policy):
            policy_h, kl_policy = InformationBottleneck(cfg.ib_size, name="ib_policy")(
                policy_h, noise.policy)
        if switched_on(cfg.ib_critic):
            critic_h, kl_critic = InformationBottleneck(cfg.ib_size, name="ib_critic")(
                critic_h, noise.critic)
        policy_params = self._policy_head(MLP(cfg.head_sizes, name="policy_head")(policy_h))
        value = nn.Dense(1, name="value")(MLP(cfg.head_sizes, name="critic_head")(critic_h))[
            ..., 0] if self.value_head else jnp.zeros(critic_h.shape[:-1])
        return torso.carry, AgentOutput(policy_params=policy_params, value=value,
                                        critic_features=critic_h, belief=torso.belief,
                                        kl_belief=torso.kl_belief, kl_policy=kl_policy,
                                        kl_critic=kl_critic)

    def _extra_inputs(self, x: AgentInput) -> list[jax.Array]:
        """The optional parts of x_t: the previous action split by its reward (a one-hot
        action times r and times 1 − r, counts a core can sum per action) and trial progress."""
        extra = []
        if self.config.reward_by_action:
            r = x.prev_reward[..., None]
            extra += [x.prev_action * r, x.prev_action * (1.0 - r)]
        return extra + self._progress(x)

    def _progress(self, x: AgentInput) -> list[jax.Array]:
        if not self.config.trial_progress:
            return []
        if x.trial_progress is None:
            raise ValueError("network.trial_progress is on but AgentInput.trial_progress is "
                             "None (acting fills it; fill it when calling the agent directly)")
        return [x.trial_progress[..., None]]

    def _shared_factor_inputs(self, x: AgentInput) -> jax.Array:
        """What every factor's head sees besides its own factor: the trial's progress."""
        return jnp.concatenate([*self._progress(x), jnp.zeros((*x.prev_reward.shape, 0))],
                               axis=-1)

    def _policy_head(self, h: jax.Array) -> jax.Array:
        space = self.action_space
        if isinstance(space, Discrete):
            return nn.Dense(space.n, name="logits", kernel_init=nn.initializers.orthogonal(0.01))(h)
        mean = nn.Dense(space.size, name="mean", kernel_init=nn.initializers.orthogonal(0.01))(h)
        log_std = self.param("log_std", nn.initializers.constant(-0.5), (space.size,))
        return jnp.concatenate([mean, jnp.broadcast_to(log_std, mean.shape)], axis=-1)
