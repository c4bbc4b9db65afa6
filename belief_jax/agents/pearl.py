"""`pearl` — the posterior-sampling comparison agent (PEARL-style, Rakelly et al. 2019): a
context encoder (product of per-transition Gaussians) whose latent z, sampled once per
episode, conditions feed-forward policy and critic. No privileged information: the RL loss
plus β·KL(q(z | context) ‖ N(0, I)) with β = `network.pearl_kl`, each step's KL counted only
above `network.pearl_free_nats` and, with `network.pearl_max_nats`, charged more above that.
Trained off-policy."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from belief_jax.agents.base import MLP, AgentKind, Torso
from belief_jax.networks import PosteriorSamplingEncoder


class Pearl(AgentKind):
    name = "pearl"
    requires_off_policy = True

    @staticmethod
    def initial_carry(config, batch):
        return PosteriorSamplingEncoder.initial_carry(batch, config.latent_size)

    @staticmethod
    def torso(config, spec, carry, flat, x, noise, belief_features):
        z_from = config.pearl_train_z if config.latent_learner_pass else "held"
        encoder = PosteriorSamplingEncoder(config.latent_size, config.torso_sizes,
                                           z_from=z_from, name="context")
        context, (z, held, _, kl) = encoder(carry, flat, x.episode_start, x.trial_start,
                                            noise.latent)
        policy_z = held if config.pearl_policy_z == "held" else z
        # As in PEARL, the encoder learns from the critic and the KL, not from the actor.
        policy_h = MLP(config.torso_sizes, name="policy_torso")(
            jnp.concatenate([flat, jax.lax.stop_gradient(policy_z)], axis=-1))
        critic_h = MLP(config.torso_sizes, name="critic_torso")(
            jnp.concatenate([flat, z], axis=-1))
        return Torso(carry=context, policy_h=policy_h, critic_h=critic_h, belief=None,
                     kl_belief=kl)

    @staticmethod
    def kl_belief_weight(config):
        return config.pearl_kl

    @staticmethod
    def kl_belief_free_nats(config):
        return config.pearl_free_nats

    @staticmethod
    def kl_belief_max_nats(config):
        return config.pearl_max_nats
