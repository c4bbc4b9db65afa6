"""The bandit's dynamic programs: the exact Bayes-optimal value against brute-force
expectimax over every history (predictive probabilities by numerical integration, not from
counts), the finite-horizon Gittins index against hand-computed values and the optimum, and
the `gittins` baseline's simulated return against the exact value of its policy."""
import functools
import math

import jax
import numpy as np
import pytest
import scipy.integrate

import envs
from experiments import bandit_baselines, bandit_dp
from experiments.common import sample_tasks


def _brute_force_value(num_arms: int, horizon: int) -> float:
    """max over actions, expectation over outcomes, of every history of (arm, reward) pairs;
    P(reward | history) = ∫ p·Π_k p_k^s_k (1 − p_k)^f_k dp / ∫ Π ... dp by quadrature."""

    def weight(history, extra=()):
        def integrand(p, k):
            outcomes = [r for a, r in (*history, *extra) if a == k]
            return math.prod(p if r else 1 - p for r in outcomes)
        return math.prod(scipy.integrate.quad(integrand, 0, 1, args=(k,))[0]
                         for k in range(num_arms))

    @functools.cache
    def value(history):
        if len(history) == horizon:
            return 0.0
        best = -1.0
        for arm in range(num_arms):
            p_win = weight(history, ((arm, 1),)) / weight(history)
            best = max(best, p_win * (1 + value((*history, (arm, 1))))
                       + (1 - p_win) * value((*history, (arm, 0))))
        return best

    return value(())


@pytest.mark.parametrize("num_arms,horizon", [(2, 4), (3, 3)])
def test_bayes_optimal_dp_matches_brute_force_over_histories(num_arms, horizon):
    assert bandit_dp.bayes_optimal_value(num_arms, horizon) == pytest.approx(
        _brute_force_value(num_arms, horizon), abs=1e-9)


def test_gittins_index_by_hand():
    table = bandit_dp.gittins_table(6)
    s, f = np.meshgrid(np.arange(7), np.arange(7), indexing="ij")
    np.testing.assert_allclose(table[..., 1], (1 + s) / (2 + s + f), atol=1e-12)  # one pull left
    # two pulls left, fresh arm: pull, and pull again only after a success:
    # (1/2 + 1/2 · 2/3) / (1 + 1/2) = 5/9
    assert table[0, 0, 2] == pytest.approx(5 / 9, abs=1e-4)
    assert np.all(np.diff(table[0, 0, 1:]) > 0)  # more pulls left, more worth exploring


@pytest.mark.parametrize("num_arms,horizon", [(2, 6), (2, 12), (3, 8), (3, 12)])
def test_gittins_is_near_bayes_optimal_and_never_above(num_arms, horizon):
    table = bandit_dp.gittins_table(horizon)
    optimal = bandit_dp.bayes_optimal_value(num_arms, horizon)
    gittins = bandit_dp.index_policy_value(lambda s, f, r: table[s, f, r], num_arms, horizon)
    greedy = bandit_dp.index_policy_value(lambda s, f, r: bandit_dp.success_probability(s, f),
                                          num_arms, horizon)
    assert optimal - 0.01 <= gittins <= optimal + 1e-9
    assert greedy <= gittins + 1e-9


def test_gittins_baseline_plays_the_index_policy():
    env = envs.make("bandit", num_arms=3, num_pulls=12)
    tasks = sample_tasks(env, jax.random.key(0), 40_000)
    totals = np.asarray(bandit_baselines.total_rewards("gittins", env, tasks,
                                                       jax.random.key(1)))
    table = bandit_dp.gittins_table(12)
    exact = bandit_dp.index_policy_value(lambda s, f, r: np.float32(table[s, f, r]), 3, 12)
    se = totals.std() / math.sqrt(totals.size)
    assert abs(totals.mean() - exact) < 4 * se, (totals.mean(), exact, se)

