"""Dynamic programming on the Bernoulli bandit with uniform priors, in float64 numpy.

With s, f the successes and failures of an arm, its posterior is Beta(1 + s, 1 + f) and the
next pull pays 1 with probability μ = (1 + s) / (2 + s + f). Two computations:

- `gittins_table(horizon)`: the finite-horizon Gittins index G(s, f, r) of an arm with r pulls
  left (Gittins 1979; the undiscounted, finite-horizon calibration, e.g. Niño-Mora 2011): the
  per-pull charge λ at which pulling the arm r' ≤ r more times, stopping optimally, and
  retiring are worth the same. For a fixed λ,
      W(s, f, r) = max(0, C(s, f, r)),
      C(s, f, r) = μ − λ + μ·W(s + 1, f, r − 1) + (1 − μ)·W(s, f + 1, r − 1),
  and C decreases in λ, so G is the root of C. It is solved for every state at once on a grid
  of λ with linear interpolation between the two grid points around the root (C is convex and
  piecewise linear in λ; 1,024 points put the error far below the gaps between arms' indices).
  Written here because no maintained library computes finite-horizon Bernoulli indices.
- `bayes_optimal_value(num_arms, horizon)` and `index_policy_value(...)`: the exact expected
  total reward of the Bayes-optimal policy, and of an index policy with random tie-breaking,
  by recursion over the joint counts; feasible for a few arms and short horizons (test
  references for the index policies).
"""
from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

GITTINS_GRID = 1024


def success_probability(s, f):
    return (1.0 + s) / (2.0 + s + f)


def gittins_table(horizon: int, grid: int = GITTINS_GRID) -> np.ndarray:
    """G[s, f, r] for s, f in 0..horizon and r in 0..horizon (G[..., 0] = 0: nothing left).

    With r pulls left only s + f ≤ horizon − r can occur, so each r works on the square
    s, f ≤ horizon − r + 1 (about a third of the full cube's work); entries outside it are 0,
    entries inside it with s + f > horizon − r are unreachable and meaningless."""
    n = horizon + 1
    lam = np.linspace(0.0, 1.0, grid)[:, None, None]
    s, f = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    mu = success_probability(s, f)[None]
    w = np.zeros((grid, n + 1, n + 1))  # W(·, ·, r − 1), padded by one in s and f
    table = np.zeros((n, n, n))
    for r in range(1, n):
        m = min(n - r + 1, n)  # s, f ≤ horizon − r + 1: one more than needed, the next r reads it
        c = mu[:, :m, :m] - lam + mu[:, :m, :m] * w[:, 1:m + 1, :m] \
            + (1.0 - mu[:, :m, :m]) * w[:, :m, 1:m + 1]
        table[:m, :m, r] = _root(c, lam[:, 0, 0])
        w[:, :m, :m] = np.maximum(c, 0.0)
    return table


def _root(c: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """The λ where c [grid, ...] (decreasing along the grid) crosses zero, interpolated."""
    above = (c >= 0).sum(0) - 1  # last grid index with c >= 0 (c[0] = μ + ... > 0 always)
    j = np.clip(above, 0, len(lam) - 2)
    c0 = np.take_along_axis(c, j[None], 0)[0]
    c1 = np.take_along_axis(c, j[None] + 1, 0)[0]
    step = lam[1] - lam[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(c0 > c1, c0 / (c0 - c1), 0.0)
    return lam[j] + np.clip(frac, 0.0, 1.0) * step


def bayes_optimal_value(num_arms: int, horizon: int) -> float:
    """Expected total reward of the Bayes-optimal policy over `horizon` pulls."""

    @functools.cache
    def value(counts: tuple[tuple[int, int], ...], left: int) -> float:
        if left == 0:
            return 0.0
        return max(_pull_value(counts, k, left, value) for k in range(num_arms))

    return value(((0, 0),) * num_arms, horizon)


def index_policy_value(index: Callable[[int, int, int], float], num_arms: int,
                       horizon: int) -> float:
    """Exact expected total reward of pulling the arm of highest `index(s, f, pulls_left)`,
    ties broken uniformly at random (as the baselines do)."""

    @functools.cache
    def value(counts: tuple[tuple[int, int], ...], left: int) -> float:
        if left == 0:
            return 0.0
        scores = np.array([index(s, f, left) for s, f in counts])
        best = np.flatnonzero(scores == scores.max())
        return float(np.mean([_pull_value(counts, k, left, value) for k in best]))

    return value(((0, 0),) * num_arms, horizon)


def _pull_value(counts, k: int, left: int, value) -> float:
    s, f = counts[k]
    mu = success_probability(s, f)
    win = counts[:k] + ((s + 1, f),) + counts[k + 1:]
    lose = counts[:k] + ((s, f + 1),) + counts[k + 1:]
    return mu * (1.0 + value(win, left - 1)) + (1.0 - mu) * value(lose, left - 1)
