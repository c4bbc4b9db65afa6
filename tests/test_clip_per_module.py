"""PPO's per-module gradient clip (`ppo.clip_per_module`): each group's norm clipped apart."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from belief_jax import NetworkConfig, Trainer, make_train
from belief_jax.learners.ppo import make_clip, make_optimizer
from tests.test_train import TINY

SEMICIRCLE = TINY.replace(env="semicircle", env_kwargs={"episode_length": 8},
                          episodes_per_trial=1)
# By name, written out here rather than derived, so a renamed module shows up as a failure.
GROUPS = {"belief": {"belief_core", "belief_head"},
          "critic": {"critic_torso", "critic_head", "value"},
          "policy": {"policy_torso", "policy_head", "mean", "log_std"}}


def _config(config=SEMICIRCLE, **ppo):
    return config.replace(learner=config.learner.replace(max_grad_norm=1.0, **ppo))


def _scaled_grads(params):
    """Gradients of norm ~ 100 on the critic, ~ 3 on the belief and ~ 0.1 on the policy."""
    scale = {name: s for s, group in zip((3.0, 100.0, 0.1), GROUPS.values(), strict=True)
             for name in group}
    keys = iter(jax.random.split(jax.random.key(0), 64))
    return {"params": {name: jax.tree.map(
        lambda x, s=scale[name]: s * jax.random.normal(next(keys), x.shape) / np.sqrt(x.size),
        module) for name, module in params["params"].items()}}


def _norm(tree):
    return float(np.sqrt(sum(np.sum(np.asarray(x) ** 2) for x in jax.tree.leaves(tree))))


def test_each_group_is_clipped_on_its_own_norm():
    """Against a reference by hand: group g's gradient times min(1, max / ‖g‖), with the
    groups named above; the global clip instead scales every group by max / ‖all‖."""
    trainer = Trainer(_config(clip_per_module=True))
    params = trainer.init(jax.random.key(1)).learner.params
    assert set(params["params"]) == set().union(*GROUPS.values())
    grads = _scaled_grads(params)
    for per_module in (True, False):
        clip = make_clip(_config(clip_per_module=per_module).learner, trainer.agent)
        clipped, _ = clip.update(grads, clip.init(params), params)
        total = _norm(grads)
        for group, names in GROUPS.items():
            norm = _norm([grads["params"][n] for n in names])
            factor = min(1.0, 1.0 / norm) if per_module else min(1.0, 1.0 / total)
            for name in names:
                for got, x in zip(jax.tree.leaves(clipped["params"][name]),
                                  jax.tree.leaves(grads["params"][name]), strict=True):
                    np.testing.assert_allclose(got, factor * np.asarray(x), rtol=1e-5,
                                               err_msg=f"{group}/{name}, {per_module=}")


def test_the_factored_heads_arm_embedding_is_the_critics():
    """On the bandit's factored head the critic's layers sit inside the `factored` module:
    a gradient on them alone is clipped without touching the policy's logit layers."""
    config = _config(TINY.replace(network=NetworkConfig(
        hidden_size=8, head_sizes=(8,), policy_head="factored")), clip_per_module=True)
    trainer = Trainer(config)
    params = trainer.init(jax.random.key(1)).learner.params
    factored = params["params"]["factored"]
    assert {"factor_embed", "critic_head", "value", "action_torso", "logit"} <= set(factored)
    grads = jax.tree.map(jnp.ones_like, params)
    clip = make_clip(config.learner, trainer.agent)
    clipped, _ = clip.update(grads, clip.init(params), params)
    critic = [clipped["params"]["factored"][n] for n in ("factor_embed", "critic_head",
                                                           "value")]
    policy = [clipped["params"]["factored"][n] for n in ("action_torso", "logit")]
    assert _norm(critic) == pytest.approx(1.0, rel=1e-5)
    assert _norm(policy) == pytest.approx(1.0, rel=1e-5)


def test_it_composes_with_the_belief_networks_own_optimiser_and_trains():
    """With `network.belief_learning_rate` the belief has its own Adam and clip; the
    per-module clip then runs inside the RL optimiser on a tree with the belief masked out."""
    config = _config(clip_per_module=True)
    config = config.replace(network=dataclasses.replace(config.network,
                                                        belief_learning_rate=1e-3))
    trainer = Trainer(config)
    params = trainer.init(jax.random.key(1)).learner.params
    optimizer = make_optimizer(config.learner, trainer.agent, config.network, 1)
    updates, _ = optimizer.update(_scaled_grads(params), optimizer.init(params), params)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(updates))
    _, (metrics, _) = jax.jit(make_train(config))(jax.random.key(2))
    assert np.isfinite(np.asarray(metrics["loss"])).all()
