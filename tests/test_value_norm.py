"""PPO's value-target normalisation: the running moments, and what the learner does with them."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from belief_jax import PPOConfig, Trainer, make_train, value_norm
from tests.test_train import TINY, _rollout

NORMALISED = TINY.replace(learner=TINY.learner.replace(normalize_values=True,
                                                        value_norm_decay=0.9))


def test_moments_are_the_debiased_ema_of_the_batch_moments():
    """Against an independent form: the EMA's weights (1 − d)·d^(n−k) over the batches seen,
    renormalised to sum to one, and only the unmasked targets of each batch."""
    rng = np.random.default_rng(0)
    decay, stats = 0.8, value_norm.init()
    batches, masks = [], []
    for k in range(5):
        targets = rng.normal(3.0 * k, 1.0 + k, size=(6, 4)).astype(np.float32)
        mask = (rng.random((6, 4)) > 0.3).astype(np.float32)
        stats = value_norm.update(stats, jnp.asarray(targets), jnp.asarray(mask), decay)
        batches.append(targets)
        masks.append(mask)
    weights = np.array([(1 - decay) * decay ** (4 - k) for k in range(5)])
    weights /= weights.sum()
    pairs = list(zip(batches, masks, strict=True))
    means = np.array([(t * m).sum() / m.sum() for t, m in pairs])
    mean_sqs = np.array([(t**2 * m).sum() / m.sum() for t, m in pairs])
    mean = weights @ means
    scale = np.sqrt(weights @ mean_sqs - mean**2)
    got_mean, got_scale = value_norm.moments(stats)
    np.testing.assert_allclose([got_mean, got_scale], [mean, scale], rtol=1e-5)
    np.testing.assert_allclose(value_norm.denormalize(stats, value_norm.normalize(
        stats, jnp.asarray(batches[0]))), batches[0], rtol=1e-5, atol=1e-5)


def test_before_any_update_it_is_the_identity_and_the_scale_has_a_floor():
    stats = value_norm.init()
    np.testing.assert_allclose(value_norm.normalize(stats, jnp.array([2.5, -1.0])), [2.5, -1.0])
    constant = value_norm.update(stats, jnp.full((3,), 7.0), jnp.ones(3), 0.5)
    assert float(value_norm.moments(constant)[1]) == pytest.approx(value_norm.MIN_SCALE)


def _scaled(rollout, stats, c):
    """The same rollout with rewards x c, and stats in return units x c: the critic's stored
    (normalised) outputs then mean c times the returns."""
    tr = rollout.transitions._replace(reward=rollout.transitions.reward * c)
    return rollout._replace(transitions=tr), value_norm.ValueNorm(
        stats.mean * c, stats.mean_sq * c**2, stats.weight)


def test_normalised_targets_do_not_depend_on_the_reward_scale():
    """GAE reads the critic in return units and the targets it learns are normalised: scaling
    every reward by c scales the advantages by c and leaves the critic's targets (and so its
    loss and gradient) as they were. Without normalisation the targets scale with c."""
    trainer = Trainer(NORMALISED)
    state = trainer.init(jax.random.key(0))
    _, rollout, _ = _rollout(trainer, state)
    ppo, learner = trainer.learner, state.learner
    # stats as after some updates, so the denormalisation is not the identity
    stats = value_norm.ValueNorm(jnp.float32(0.6), jnp.float32(0.9), jnp.float32(0.7))
    results = {}
    for c in (1.0, 50.0):
        scaled, scaled_stats = _scaled(rollout, stats, c)
        results[c] = ppo.advantages_and_targets(learner._replace(value_norm=scaled_stats), scaled)
    (adv_1, targets_1, state_1), (adv_c, targets_c, state_c) = results[1.0], results[50.0]
    np.testing.assert_allclose(adv_c, 50.0 * adv_1, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(targets_c, targets_1, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(value_norm.moments(state_c.value_norm),
                               np.array(value_norm.moments(state_1.value_norm)) * 50.0,
                               rtol=1e-5)
    # the reference the invariance is measured against: targets in return units
    plain = Trainer(TINY).learner
    _, raw_1, _ = plain.advantages_and_targets(learner._replace(value_norm=None), rollout)
    _, raw_c, _ = plain.advantages_and_targets(learner._replace(value_norm=None),
                                               _scaled(rollout, stats, 50.0)[0])
    assert not np.allclose(raw_c, raw_1, rtol=0.1)


def test_a_run_with_normalised_values_learns_its_target_moments():
    """The trained state carries the stats, and they are those of the returns the critic saw
    (bandit rewards are 0/1 per pull, so discounted returns lie in [0, 8])."""
    state, (metrics, _) = jax.jit(make_train(NORMALISED))(jax.random.key(2))
    mean, scale = value_norm.moments(state.learner.value_norm)
    assert 0.0 < float(mean) < 8.0 and 0.0 < float(scale) < 8.0
    assert np.isfinite(metrics["value_loss"]).all()
    assert Trainer(TINY).init(jax.random.key(0)).learner.value_norm is None


def test_value_norm_decay_is_checked():
    with pytest.raises(ValueError, match=r"ppo.value_norm_decay must lie in \(0, 1\)"):
        PPOConfig(value_norm_decay=1.0)
