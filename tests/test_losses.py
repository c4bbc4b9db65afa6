import math

import distrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from belief_jax.losses import clipped_surrogate, gae, task_log_likelihood
from belief_jax.networks import AuxHead, gaussian_kl_to_standard_normal
from envs.core import TaskInfoSpec


def gae_reference(rewards, values, trial_ends, last_value, gamma, lam):
    """Plain-Python GAE over one env, written from the definition."""
    T = len(rewards)
    advantages = [0.0] * T
    next_advantage, next_value = 0.0, last_value
    for t in reversed(range(T)):
        not_end = 0.0 if trial_ends[t] else 1.0
        delta = rewards[t] + gamma * not_end * next_value - values[t]
        next_advantage = delta + gamma * lam * not_end * next_advantage
        advantages[t] = next_advantage
        next_value = values[t]
    return advantages


@pytest.mark.parametrize("jit", [True, False])
def test_gae_matches_plain_python_across_trial_ends(jit):
    rng = np.random.default_rng(0)
    T, B = 12, 3
    rewards = rng.normal(size=(T, B)).astype(np.float32)
    values = rng.normal(size=(T, B)).astype(np.float32)
    trial_ends = rng.random((T, B)) < 0.2
    last_value = rng.normal(size=B).astype(np.float32)
    fn = jax.jit(gae, static_argnums=(4, 5)) if jit else gae
    advantages, targets = fn(
        rewards, values, trial_ends, last_value, 0.97, 0.9)
    for b in range(B):
        expected = gae_reference(rewards[:, b], values[:, b], trial_ends[:, b], last_value[b],
                                 0.97, 0.9)
        np.testing.assert_allclose(advantages[:, b], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(targets, advantages + values, rtol=1e-6)


def test_gae_with_lambda_one_and_no_end_is_the_discounted_return_minus_value():
    rewards = jnp.ones((4, 1))
    values = jnp.zeros((4, 1))
    adv, _ = gae(rewards, values, jnp.zeros((4, 1), bool), jnp.zeros(1), 0.5, 1.0)
    np.testing.assert_allclose(adv[:, 0], [1.875, 1.75, 1.5, 1.0])


def _gauss_logpdf(x, mean, std):
    return -0.5 * ((x - mean) / std) ** 2 - math.log(std) - 0.5 * math.log(2 * math.pi)


def test_task_log_likelihood_gaussian_by_hand():
    spec = TaskInfoSpec(kind="gaussian", size=2)
    belief = jnp.array([[0.1, 0.7, math.log(0.5), math.log(2.0)]])
    value = jnp.array([[0.3, 0.2]])
    expected = _gauss_logpdf(0.3, 0.1, 0.5) + _gauss_logpdf(0.2, 0.7, 2.0)
    np.testing.assert_allclose(task_log_likelihood(belief, value, spec), [expected], rtol=1e-5)


def test_task_log_likelihood_categorical_and_multi_categorical_by_hand():
    logits = jnp.log(jnp.array([[0.2, 0.5, 0.3]]))
    spec = TaskInfoSpec(kind="categorical", size=1, num_classes=3)
    np.testing.assert_allclose(task_log_likelihood(logits, jnp.array([1]), spec),
                               [math.log(0.5)], rtol=1e-6)
    multi = TaskInfoSpec(kind="multi_categorical", size=2, num_classes=3)
    probs = jnp.array([[0.2, 0.5, 0.3, 0.6, 0.3, 0.1]])
    np.testing.assert_allclose(task_log_likelihood(jnp.log(probs), jnp.array([[2, 0]]), multi),
                               [math.log(0.3) + math.log(0.6)], rtol=1e-6)


@pytest.mark.parametrize("spec", [TaskInfoSpec("categorical", 1, 5), TaskInfoSpec("gaussian", 3),
                                  TaskInfoSpec("multi_categorical", 4, 9)])
def test_aux_head_output_is_a_normalised_distribution(spec):
    head = AuxHead(spec)
    h = jax.random.normal(jax.random.key(0), (7, 16))
    out = head.apply(head.init(jax.random.key(1), h), h)
    if spec.kind == "gaussian":
        assert out.shape == (7, 6)
        return
    probs = jnp.exp(out.reshape(7, spec.size, spec.num_classes))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_ib_kl_matches_closed_form_and_distrax():
    rng = np.random.default_rng(1)
    mean = rng.normal(size=(5, 4)).astype(np.float32)
    log_std = rng.normal(scale=0.5, size=(5, 4)).astype(np.float32)
    ours = gaussian_kl_to_standard_normal(jnp.array(mean), jnp.array(log_std))
    var = np.exp(2 * log_std)
    by_hand = 0.5 * np.sum(mean**2 + var - 1 - np.log(var), axis=-1)
    reference = distrax.MultivariateNormalDiag(mean, np.exp(log_std)).kl_divergence(
        distrax.MultivariateNormalDiag(np.zeros(4), np.ones(4)))
    np.testing.assert_allclose(ours, by_hand, rtol=1e-5)
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    assert float(gaussian_kl_to_standard_normal(jnp.zeros(3), jnp.zeros(3))) == 0.0


def test_clipped_surrogate_by_hand():
    old = jnp.log(jnp.array([0.5, 0.5, 0.5]))
    new = jnp.log(jnp.array([0.75, 0.25, 0.55]))  # ratios 1.5, 0.5, 1.1
    adv = jnp.array([1.0, -2.0, 3.0])
    # min(ρA, clip(ρ)A): 1.5→1.2·1 = 1.2; 0.5·(−2) = −1 vs 0.8·(−2) = −1.6 → −1.6; 1.1·3 = 3.3
    expected = -np.mean([1.2, -1.6, 3.3])
    np.testing.assert_allclose(clipped_surrogate(new, old, adv, 0.2), expected, rtol=1e-5)
