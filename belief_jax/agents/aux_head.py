"""`aux_head` — the `rnn` agent plus an auxiliary head on its core predicting the task info;
the auxiliary loss shapes the representation that policy and critic share."""
from __future__ import annotations

from belief_jax.agents.base import AgentKind, Torso, core, zero_core_carry, zero_kl
from belief_jax.agents.rnn import CoreCarry
from belief_jax.networks import AuxHead


class AuxHeadAgent(AgentKind):
    name = "aux_head"
    has_belief = True

    @staticmethod
    def initial_carry(config, batch):
        return CoreCarry(core=zero_core_carry(config, batch))

    @staticmethod
    def torso(config, spec, carry, flat, x, noise, belief_features):
        core_carry, h = core(config, "core", carry.core, flat, x)
        belief = AuxHead(spec, name="aux_head")(h)
        return Torso(carry=CoreCarry(core=core_carry), policy_h=h, critic_h=h, belief=belief,
                     kl_belief=zero_kl(flat))
