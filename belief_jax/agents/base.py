"""What every agent kind shares: the kind's declaration (`AgentKind`), the torso result
it hands to the common heads, and the policy/critic utilities used by acting and learners."""
from __future__ import annotations

from typing import ClassVar, NamedTuple

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from belief_jax.agents.config import NetworkConfig
from belief_jax.networks import MLP, RecurrentCore
from belief_jax.types import AgentInput, Carry, IBNoise
from envs.core import Box, Discrete, TaskInfoSpec


class Torso(NamedTuple):
    """What a kind's torso gives the shared policy and critic heads."""

    carry: Carry
    policy_h: jax.Array
    critic_h: jax.Array
    belief: jax.Array | None  # belief distribution parameters (None without a belief)
    kl_belief: jax.Array      # per-row KL of the belief's bottleneck (or pearl's posterior)
    factors: jax.Array | None = None
    """per-factor belief features [..., K, F] for the factored heads (policy_h and critic_h
    are then None)"""


class AgentKind:
    """One agent architecture. A kind is a module under `belief_jax.agents` defining a
    subclass of this and one line in `agents.registry`; code outside the agents package
    reads only these declarations, never the kind's name.

    `torso` runs inside the `Agent` module's compact call, so the flax submodules it creates
    are the agent's own (their names are the parameter paths)."""

    name: ClassVar[str]
    has_belief: ClassVar[bool] = False
    """outputs a belief over the task info, trained by the auxiliary log loss"""
    reuses_belief_features: ClassVar[bool] = False
    """the update can feed back the belief features computed at acting time"""
    requires_off_policy: ClassVar[bool] = False
    """trains only with an off-policy learner"""
    factored_policy: ClassVar[bool] = False
    """can score each action from its own factor of the belief (network.policy_head)"""
    reads_task: ClassVar[bool] = False
    """sees the task's embedding as an input (`AgentInput.task`): a reference, not a
    meta-learner"""
    belief_modules: ClassVar[tuple[str, ...]] = ()
    """top-level parameter names of a network trained by the belief loss alone (its own
    optimiser when network.belief_learning_rate > 0)"""

    @staticmethod
    def initial_carry(config: NetworkConfig, batch: int) -> Carry:
        raise NotImplementedError

    @staticmethod
    def torso(config: NetworkConfig, spec: TaskInfoSpec, carry: Carry, flat: jax.Array,
              x: AgentInput, noise: IBNoise, belief_features: jax.Array | None) -> Torso:
        raise NotImplementedError

    @staticmethod
    def kl_belief_weight(config: NetworkConfig) -> float:
        """β of `Torso.kl_belief` in the loss."""
        return config.ib_belief

    @staticmethod
    def kl_belief_free_nats(config: NetworkConfig) -> float:
        """Nats of `Torso.kl_belief` per step the loss does not count (0: all of it)."""
        return 0.0

    @staticmethod
    def kl_belief_max_nats(config: NetworkConfig) -> float:
        """Nats of `Torso.kl_belief` per step above which each nat costs
        `losses.MAX_NATS_WEIGHT` more (0: no ceiling)."""
        return 0.0


def core(config: NetworkConfig, name: str, carry: Carry, inputs: jax.Array, x: AgentInput):
    """A recurrent core named `name`, reset at trial starts."""
    return RecurrentCore(config.cell, config.hidden_size, config.chrono_init, name=name)(
        carry, inputs, x.trial_start)


def zero_core_carry(config: NetworkConfig, batch: int) -> Carry:
    return RecurrentCore.initial_carry(config.cell, batch, config.hidden_size)


def zero_kl(flat: jax.Array) -> jax.Array:
    return jnp.zeros(flat.shape[:-1])


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
    return distrax.Independent(distrax.Transformed(base, _squash(action_space)), 1)


def _squash(action_space: Box):
    """tanh, then affinely onto the Box's [low, high]."""
    low, high = action_space.low, action_space.high
    return distrax.Tanh() if (low, high) == (-1.0, 1.0) else distrax.Chain(
        [distrax.ScalarAffine(shift=(high + low) / 2, scale=(high - low) / 2), distrax.Tanh()])


def policy_mode(policy_params: jax.Array, action_space: Discrete | Box,
                squash: bool = False) -> jax.Array:
    """The policy's most likely action, as `policy_distribution` parameterises it: the
    logits' argmax, or the Gaussian mean (squashed into the box like the samples: SAC's
    deterministic evaluation)."""
    if isinstance(action_space, Discrete):
        return jnp.argmax(policy_params, axis=-1)
    mean = jnp.split(policy_params, 2, axis=-1)[0]
    return _squash(action_space).forward(mean) if squash else mean


def encode_task(value: jax.Array, spec: TaskInfoSpec) -> jax.Array:
    """One task's embedding (unbatched) as an input vector: one-hot ids (categorical kinds),
    else the values themselves."""
    if spec.kind in ("categorical", "multi_categorical"):
        return jax.nn.one_hot(value, spec.num_classes).reshape(-1)
    return value.astype(jnp.float32).reshape(-1)


def encode_action(action: jax.Array, action_space: Discrete | Box) -> jax.Array:
    """The previous action as the agent sees it: one-hot if discrete, clipped if continuous."""
    if isinstance(action_space, Discrete):
        return jax.nn.one_hot(action, action_space.n)
    return jnp.clip(action, action_space.low, action_space.high)


def sample_ib_noise(key: jax.Array, config: NetworkConfig, batch_shape: tuple[int, ...],
                    deterministic: bool = False) -> IBNoise:
    """Standard-normal noise for every bottleneck and for pearl's latent. `deterministic`
    zeroes the bottlenecks' noise (their means μ); pearl's latent keeps its own flag,
    `network.latent_eval_mean`: PEARL evaluates by posterior sampling, and with z fixed to the
    posterior mean (0 before any context) it would never explore a new task."""
    shapes = [(*batch_shape, config.ib_size)] * 3 + [(*batch_shape, config.latent_size)]
    keys = jax.random.split(key, len(shapes))
    noise = [jax.random.normal(k, shape) for k, shape in zip(keys, shapes, strict=True)]
    if deterministic:
        noise[:3] = [jnp.zeros(shape) for shape in shapes[:3]]
        if config.latent_eval_mean:
            noise[3] = jnp.zeros(shapes[3])
    return IBNoise(*noise)
