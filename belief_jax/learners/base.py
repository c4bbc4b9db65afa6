"""The learner seam, in the style of optax and flashbax: a learner is a small object with

    init(key, agent_params, example: Transition) -> state
    acting_params(state) -> agent params
    update(state, rollout: Rollout, key) -> (state, metrics)

plus two declarations: `spec` (a `RolloutSpec`: what acting must store in each transition)
and `metric_names` (what `update` reports). Its config is a `LearnerConfig` subclass that
names the learner, validates its own fields and builds it. Adding a learner is one module
and one `register` call; no code outside that module tests its name.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import jax
import optax

from belief_jax.types import Rollout, RolloutSpec, Transition
from belief_jax.validation import Validated


class Learner(Protocol):
    spec: ClassVar[RolloutSpec]
    metric_names: ClassVar[tuple[str, ...]]

    def init(self, key: jax.Array, agent_params: Any, example: Transition) -> Any: ...

    def acting_params(self, state: Any) -> Any: ...

    def update(self, state: Any, rollout: Rollout, key: jax.Array
               ) -> tuple[Any, dict[str, jax.Array]]: ...


@dataclass(frozen=True)
class LearnerConfig(Validated):
    """Fields every learner has; subclasses add their own and set `name`, `spec` and
    `iterations_per_chunk` (a sensible chunk for the runner's logging)."""

    name: ClassVar[str]
    spec: ClassVar[RolloutSpec]
    iterations_per_chunk: ClassVar[int] = 10

    num_envs: int = 64
    rollout_length: int = 100
    """env steps per env between updates; at most one trial"""

    def make(self, agent, network, num_iterations: int) -> Learner:
        """The learner for `agent` (an `agents.Agent`) and its `NetworkConfig`, in a run of
        `num_iterations` iterations (the horizon of learning-rate schedules)."""
        raise NotImplementedError

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.rollout_length

    def trial_bounded_lengths(self) -> dict[str, int]:
        """Lengths that must fit in one trial, by full field name."""
        return {f"{self.name}.rollout_length": self.rollout_length}

    def check_trial_length(self, trial_length: int) -> None:
        """Raises ValueError where a field does not fit the env's trials (beyond
        `trial_bounded_lengths`)."""

    def with_num_envs(self, num_envs: int) -> LearnerConfig:
        """This config with `num_envs` envs (and whatever must change with it)."""
        return dataclasses.replace(self, num_envs=num_envs)

    def scaled(self, factor: int) -> LearnerConfig:
        """This config for `factor` times the envs (a larger device): by default only the
        envs; a learner with state sized per env (a replay) scales that too."""
        return self.with_num_envs(factor * self.num_envs)

    def replace(self, **changes) -> LearnerConfig:
        return dataclasses.replace(self, **changes)


# cosine schedules end at this fraction of the initial rate
FINAL_RATE_FRACTION = 0.03


def learning_rate(rate: float, schedule: str, num_updates: int) -> float | optax.Schedule:
    """`rate`, constant or (`schedule='cosine'`) decayed over the run's `num_updates`
    gradient steps to FINAL_RATE_FRACTION of it."""
    if schedule == "cosine":
        return optax.cosine_decay_schedule(rate, max(num_updates, 1), FINAL_RATE_FRACTION)
    return rate


def with_belief_optimizer(optimizer: optax.GradientTransformation, agent, network,
                          max_grad_norm: float, num_updates: int,
                          agent_path: Callable[[Any], Any] = lambda params: params
                          ) -> optax.GradientTransformation:
    """`optimizer` for everything but the belief network, which gets its own Adam at
    `network.belief_learning_rate` with its own gradient clipping (SPEC §3.5): its loss is
    supervised, so its step size need not follow the RL losses' gradient norm, and it may
    decay (`network.belief_lr_schedule`, over the run's `num_updates` gradient steps; measured
    on the bandit: a cosine decay from 6e-3 halved the belief's gap to the exact posterior
    after 1M env steps, 1.21 -> 0.67 nats, against a constant 3e-3). Without that rate, or for
    a kind without a separate belief network, `optimizer` alone. `agent_path(params)` is
    where the agent's flax variables sit in the learner's params."""
    modules = agent.traits.belief_modules
    if network.belief_learning_rate <= 0 or not modules:
        return optimizer
    rate = learning_rate(network.belief_learning_rate, network.belief_lr_schedule,
                         num_updates)
    belief = optax.chain(optax.clip_by_global_norm(max_grad_norm),
                         optax.adam(rate, eps=1e-5))

    labels = agent_labels(lambda path: "belief" if path[0] in modules else "rl", "rl",
                          agent_path)
    return optax.multi_transform({"rl": optimizer, "belief": belief}, labels)


def agent_labels(label_of: Callable[[tuple[str, ...]], str], other: str,
                 agent_path: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`multi_transform`'s labels: `label_of(path)` for each agent parameter (by its module
    path under the agent's `params`), `other` for anything else in the learner's params."""
    def labels(params):
        label = jax.tree.map(lambda _: other, params)
        variables = agent_path(label)
        variables["params"] = jax.tree_util.tree_map_with_path(
            lambda path, _: label_of(tuple(k.key for k in path)), variables["params"])
        return label
    return labels


# the critic's own layers, by module name (agents/agent.py, belief.py, factored.py: the
# factored head's arm embedding feeds only the critic)
CRITIC_MODULES = ("critic_torso", "critic_core", "critic_head", "ib_critic", "value",
                  "factor_embed")


def module_group(path: tuple[str, ...], belief_modules: tuple[str, ...]) -> str:
    """The group of the parameter at `path` in the agent's `params`: `belief` (the separate
    belief network), `critic` (layers only the critic uses) or `policy` (the rest: the
    policy's layers and any torso that policy and critic share)."""
    if path[0] in belief_modules:
        return "belief"
    return "critic" if any(name in CRITIC_MODULES for name in path) else "policy"


def clip_per_module(max_norm: float, agent,
                    agent_path: Callable[[Any], Any] = lambda params: params
                    ) -> optax.GradientTransformation:
    """`clip_by_global_norm(max_norm)` applied to the policy's, the critic's and the belief
    network's gradients apart (`module_group`), so that a large value-loss gradient does not
    shrink the policy's and the belief's steps as one global clip does (optax has no grouped
    clip; `multi_transform` over clips is one)."""
    modules = agent.traits.belief_modules
    labels = agent_labels(lambda path: module_group(path, modules), "policy", agent_path)
    clip = optax.clip_by_global_norm(max_norm)
    return optax.multi_transform({"policy": clip, "critic": clip, "belief": clip}, labels)


_REGISTRY: dict[str, type[LearnerConfig]] = {}


def register(config_type: type[LearnerConfig]) -> type[LearnerConfig]:
    """Makes a learner selectable by name (`--learner NAME`); usable as a class decorator."""
    _REGISTRY[config_type.name] = config_type
    return config_type


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def config_type(name: str) -> type[LearnerConfig]:
    if name not in _REGISTRY:
        raise ValueError(f"learner={name!r} is not valid; choose one of {list(_REGISTRY)}")
    return _REGISTRY[name]


def off_policy_names() -> list[str]:
    return [name for name, cls in _REGISTRY.items() if cls.spec.off_policy]


def rl_reward(batch: Transition) -> jax.Array:
    """The reward the RL losses learn from: the env's training reward where it gives one
    (`MetaEnv.training_reward`), else the reward the agent saw."""
    return batch.reward if batch.training_reward is None else batch.training_reward
