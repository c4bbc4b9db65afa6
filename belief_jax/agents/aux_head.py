"""`aux_head` — the `rnn` agent plus an auxiliary head on its core predicting the task info;
the auxiliary loss shapes the representation that policy and critic share."""
from __future__ import annotations

from belief_jax.agents.rnn import RNN
from belief_jax.networks import AuxHead


class AuxHeadAgent(RNN):
    name = "aux_head"
    has_belief = True

    @staticmethod
    def torso(config, spec, carry, flat, x, noise, belief_features):
        torso = RNN.torso(config, spec, carry, flat, x, noise, belief_features)
        return torso._replace(belief=AuxHead(spec, name="aux_head")(torso.policy_h))
