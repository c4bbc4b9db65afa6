"""Agent kinds by name: adding one is a new module under `belief_jax.agents` and a line here."""
from __future__ import annotations

from belief_jax.agents.aux_head import AuxHeadAgent
from belief_jax.agents.base import AgentKind
from belief_jax.agents.belief import Belief
from belief_jax.agents.oracle import Oracle
from belief_jax.agents.pearl import Pearl
from belief_jax.agents.rnn import RNN

KINDS: dict[str, type[AgentKind]] = {kind.name: kind for kind in (RNN, AuxHeadAgent, Belief,
                                                                   Pearl, Oracle)}


def names() -> tuple[str, ...]:
    return tuple(KINDS)


def get(name: str) -> type[AgentKind]:
    if name not in KINDS:
        raise ValueError(f"agent={name!r} is not valid; choose one of {list(KINDS)}")
    return KINDS[name]
