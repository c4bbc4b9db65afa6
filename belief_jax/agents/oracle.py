"""`oracle` — a reference, not a meta-learner: the `rnn` baseline given the true task's
embedding (`AgentInput.task`: v* on cheetah_vel, the goal on semicircle) as an input at every
step, so it never has to infer the task. What it scores bounds what task inference can
give; RL loss only."""
from __future__ import annotations

import jax.numpy as jnp

from belief_jax.agents.base import AgentKind, Torso, core, zero_kl
from belief_jax.agents.rnn import RNN, CoreCarry


class Oracle(AgentKind):
    name = "oracle"
    reads_task = True
    initial_carry = RNN.initial_carry

    @staticmethod
    def torso(config, spec, carry, flat, x, noise, belief_features):
        if x.task is None:
            raise ValueError("agent='oracle' reads AgentInput.task, which is None (acting "
                             "fills it; fill it when calling the agent directly)")
        core_carry, h = core(config, "core", carry.core, jnp.concatenate([flat, x.task], -1),
                             x)
        return Torso(carry=CoreCarry(core=core_carry), policy_h=h, critic_h=h, belief=None,
                     kl_belief=zero_kl(flat))
