"""`rnn` — the baseline: one recurrent core feeds both the policy and the critic head; RL
loss only."""
from __future__ import annotations

from typing import NamedTuple

from belief_jax.agents.base import AgentKind, Torso, core, zero_core_carry, zero_kl
from belief_jax.types import Carry


class CoreCarry(NamedTuple):
    core: Carry  # the LSTM (c, h) or GRU h of the shared core


class RNN(AgentKind):
    name = "rnn"

    @staticmethod
    def initial_carry(config, batch):
        return CoreCarry(core=zero_core_carry(config, batch))

    @staticmethod
    def torso(config, spec, carry, flat, x, noise, belief_features):
        core_carry, h = core(config, "core", carry.core, flat, x)
        return Torso(carry=CoreCarry(core=core_carry), policy_h=h, critic_h=h, belief=None,
                     kl_belief=zero_kl(flat))
