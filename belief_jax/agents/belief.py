"""`belief` — a separate belief network (own core + auxiliary head) trained only by the
auxiliary loss. Its output, the belief's distribution parameters, passes a stop-gradient and
feeds policy and critic with the raw input. Their torsos are recurrent or feed-forward (a
belief that is a sufficient statistic makes memory unnecessary); with
network.policy_head='factored' there is no torso: `agents.factored` scores each action from
its own factor of the belief."""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from belief_jax import networks
from belief_jax.agents.base import MLP, AgentKind, Torso, core, zero_core_carry, zero_kl
from belief_jax.agents.config import switched_on
from belief_jax.networks import AuxHead, InformationBottleneck
from belief_jax.types import Carry


class BeliefCarry(NamedTuple):
    belief: Carry         # the belief network's core
    policy: Carry | None  # the recurrent policy torso (None when feed-forward)
    critic: Carry | None  # the recurrent critic torso (None when feed-forward or shared)


class Belief(AgentKind):
    name = "belief"
    has_belief = True
    reuses_belief_features = True
    factored_policy = True
    belief_modules = ("belief_core", "belief_head")

    @staticmethod
    def initial_carry(config, batch):
        recurrent = config.policy_core == "recurrent" and config.policy_head != "factored"
        zeros = lambda: zero_core_carry(config, batch)
        return BeliefCarry(belief=zeros(), policy=zeros() if recurrent else None,
                           critic=zeros() if recurrent and not config.share_policy_critic
                           else None)

    @staticmethod
    def torso(config, spec, carry, flat, x, noise, belief_features):
        belief_carry, belief_h = core(config, "belief_core", carry.belief, flat, x)
        belief = AuxHead(spec, config.belief_head_sizes, name="belief_head")(belief_h)
        # No RL gradient reaches the belief network: it learns from the auxiliary loss only.
        features = networks.belief_features(jax.lax.stop_gradient(
            belief if belief_features is None else belief_features), spec)
        kl_belief = zero_kl(flat)
        if config.policy_head == "factored":  # the heads read the factors, not a torso
            return Torso(carry=BeliefCarry(belief=belief_carry, policy=None, critic=None),
                         policy_h=None, critic_h=None, belief=belief, kl_belief=kl_belief,
                         factors=networks.belief_factors(features, spec))
        if switched_on(config.ib_belief):
            features, kl_belief = InformationBottleneck(config.ib_size, name="ib_belief")(
                features, noise.belief)
        torso_in = jnp.concatenate([flat, features], axis=-1)
        policy_carry = critic_carry = None
        if config.policy_core == "recurrent":
            policy_carry, policy_h = core(config, "policy_core", carry.policy, torso_in, x)
            critic_carry, critic_h = (None, policy_h) if config.share_policy_critic else \
                core(config, "critic_core", carry.critic, torso_in, x)
        else:
            policy_h = MLP(config.torso_sizes, name="policy_torso")(torso_in)
            critic_h = policy_h if config.share_policy_critic else \
                MLP(config.torso_sizes, name="critic_torso")(torso_in)
        return Torso(carry=BeliefCarry(belief=belief_carry, policy=policy_carry,
                                       critic=critic_carry),
                     policy_h=policy_h, critic_h=critic_h, belief=belief, kl_belief=kl_belief)
