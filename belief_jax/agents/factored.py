"""Policy and critic heads on a factored belief (SPEC §3.4): where action k is about factor k
of the task (the bandit: arm k and its Beta), each action's logit comes from its own factor's
features and the inputs every factor shares (trial progress) through one network, so the
policy is equivariant to permuting the factors; an index policy such as Gittins' has exactly
this form. The critic embeds each factor with another shared network and pools the
embeddings (mean and max, a Deep Set), which is invariant to the same permutations."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from belief_jax.networks import MLP


class FactoredHeads(nn.Module):
    sizes: tuple[int, ...]
    value_head: bool = True

    @nn.compact
    def __call__(self, factors: jax.Array, shared: jax.Array
                 ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """factors [..., K, F], shared [..., S] → logits [..., K], value [...], and the pooled
        critic features [..., 2·sizes[-1] + S] (the input of an off-policy learner's Q)."""
        per_factor = jnp.broadcast_to(shared[..., None, :],
                                      (*factors.shape[:-1], shared.shape[-1]))
        u = jnp.concatenate([factors, per_factor], axis=-1)
        logits = nn.Dense(1, name="logit", kernel_init=nn.initializers.orthogonal(0.01))(
            MLP(self.sizes, name="action_torso")(u))[..., 0]
        embedded = MLP(self.sizes, name="factor_embed")(u)
        critic_h = jnp.concatenate([embedded.mean(-2), embedded.max(-2), shared], axis=-1)
        value = nn.Dense(1, name="value")(MLP(self.sizes, name="critic_head")(critic_h))[
            ..., 0] if self.value_head else jnp.zeros(critic_h.shape[:-1])
        return logits, value, critic_h
