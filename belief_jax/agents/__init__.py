"""The agents of Humplik et al. (2019), one module per kind:

- `rnn`: one recurrent core → policy and critic heads; RL loss only.
- `aux_head`: the same plus an auxiliary head on the core predicting the task info.
- `belief`: a separate belief network trained only by the auxiliary loss; policy and critic
  act on its stop-gradient output.
- `pearl`: the posterior-sampling (PEARL-style) comparison agent.
- `oracle`: the `rnn` agent given the true task's embedding as an input (a reference).

`Agent(kind, ...)` is the flax module; `names()` / `get(name)` read the registry."""
from belief_jax.agents.agent import Agent
from belief_jax.agents.base import (
    AgentKind,
    QHead,
    encode_action,
    encode_task,
    policy_distribution,
    policy_mode,
    sample_ib_noise,
)
from belief_jax.agents.registry import get, names
from belief_jax.types import AgentInput, AgentOutput, IBNoise

__all__ = ["Agent", "AgentInput", "AgentKind", "AgentOutput", "IBNoise", "QHead",
           "encode_action", "encode_task", "get", "names", "policy_distribution", "policy_mode",
           "sample_ib_noise"]
