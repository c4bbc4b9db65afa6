"""Classical bandit strategies, run on the project's own bandit env (same tasks, same reward
rule as the agents): uniform `random`, `greedy` on the posterior mean, `ucb1`, `thompson`
sampling, `optimistic` (posterior mean plus one posterior standard deviation), `bayes_ucb`
(the posterior's 1 − 1/t quantile at pull t, Kaufmann et al. 2012), `knowledge_gradient`
(the online KG of Ryzhov, Powell & Frazier 2012: posterior mean plus the pulls left times the
expected gain in the best posterior mean from one more pull) and `gittins` (the
finite-horizon Gittins index of `experiments.bandit_dp`, the pulls left included).

With s_k, f_k the successes and failures of arm k so far, the exact posterior under the
uniform prior is Beta(1 + s_k, 1 + f_k); ties are broken uniformly at random."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats

from envs.bandit import Bandit, BanditTask
from experiments import bandit_dp

BASELINES = ("random", "greedy", "ucb1", "thompson", "optimistic", "bayes_ucb",
             "knowledge_gradient", "gittins")


def _argmax_random_ties(key: jax.Array, score: jax.Array) -> jax.Array:
    best = score == score.max()
    return jnp.argmax(jnp.where(best, jax.random.uniform(key, score.shape), -1.0))


def check_name(name: str) -> None:
    if name not in BASELINES:
        raise ValueError(f"baseline={name!r} is not valid; choose one of {list(BASELINES)}")


@functools.lru_cache(maxsize=4)
def gittins_table(horizon: int) -> np.ndarray:
    """G[s, f, r] as float32 (computed once per horizon: ~5 s for 100 pulls)."""
    return bandit_dp.gittins_table(horizon).astype(np.float32)


@functools.lru_cache(maxsize=4)
def bayes_ucb_table(horizon: int) -> np.ndarray:
    """Q[s, f, t]: the 1 − 1/t quantile of Beta(1 + s, 1 + f) for pull t = 1..horizon, by
    scipy (JAX has `betainc` but no inverse, and bisecting it per pull under `vmap` cost
    ~10 s per 600 trials); states with s + f ≥ t cannot occur and stay 0."""
    n = horizon + 1
    s, f, t = np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij")
    valid = (t >= 1) & (s + f <= t - 1)
    table = np.zeros((n, n, n), np.float32)
    table[valid] = scipy.stats.beta.ppf(1.0 - 1.0 / t[valid], 1.0 + s[valid], 1.0 + f[valid])
    return table


def knowledge_gradient(a: jax.Array, b: jax.Array) -> jax.Array:
    """E[max_j μ'_j] − max_j μ_j after one pull of each arm [K] (μ' the updated means)."""
    mean = a / (a + b)
    if_win, if_loss = (a + 1.0) / (a + b + 1.0), a / (a + b + 1.0)
    others = jnp.where(jnp.eye(mean.shape[0], dtype=bool), -jnp.inf, mean[None]).max(-1)
    expected_best = mean * jnp.maximum(if_win, others) + (1 - mean) * jnp.maximum(if_loss,
                                                                                 others)
    return expected_best - jnp.maximum(mean, others)


def arm_scores(name: str, key: jax.Array, successes: jax.Array, failures: jax.Array,
               horizon: int) -> jax.Array:
    """The score each strategy maximises, given per-arm counts [K] in a trial of `horizon`
    pulls."""
    check_name(name)
    pulls = successes + failures
    a, b = 1.0 + successes, 1.0 + failures
    t = pulls.sum() + 1.0  # this pull's number, 1..horizon
    if name == "random":
        return jnp.zeros_like(successes)
    if name == "greedy":
        return a / (a + b)
    if name == "thompson":
        return jax.random.beta(key, a, b)
    if name == "optimistic":
        variance = a * b / ((a + b) ** 2 * (a + b + 1.0))
        return a / (a + b) + jnp.sqrt(variance)
    if name == "bayes_ucb":
        table = jnp.asarray(bayes_ucb_table(horizon))
        return table[successes.astype(jnp.int32), failures.astype(jnp.int32),
                     t.astype(jnp.int32)]
    if name == "knowledge_gradient":
        return a / (a + b) + (horizon - t) * knowledge_gradient(a, b)
    if name == "gittins":
        table = jnp.asarray(gittins_table(horizon))
        s, f = successes.astype(jnp.int32), failures.astype(jnp.int32)
        return table[s, f, (horizon - t + 1).astype(jnp.int32)]
    # ucb1, Auer et al. (2002): every arm once, then mean + sqrt(2 ln t / n)
    safe = jnp.maximum(pulls, 1.0)
    ucb = successes / safe + jnp.sqrt(2.0 * jnp.log(jnp.maximum(t - 1.0, 1.0)) / safe)
    return jnp.where((pulls == 0).any(), (pulls == 0).astype(jnp.float32), ucb)


def play(name: str, env: Bandit, task: BanditTask, key: jax.Array) -> jax.Array:
    """One trial of `env.episode_length` pulls of one task; returns the rewards [H]."""
    check_name(name)
    reset_key, run_key = jax.random.split(key)
    _, state = env.reset(reset_key, task)
    zeros = jnp.zeros(env.num_arms)

    def pull(carry, key):
        state, successes, failures = carry
        score_key, tie_key, step_key = jax.random.split(key, 3)
        arm = _argmax_random_ties(tie_key, arm_scores(name, score_key, successes, failures,
                                                       env.episode_length))
        _, state, reward, _, _ = env.step(step_key, state, arm)
        hit = jax.nn.one_hot(arm, env.num_arms) * reward
        miss = jax.nn.one_hot(arm, env.num_arms) * (1.0 - reward)
        return (state, successes + hit, failures + miss), reward

    keys = jax.random.split(run_key, env.episode_length)
    _, rewards = jax.lax.scan(pull, (state, zeros, zeros), keys)
    return rewards


def total_rewards(name: str, env: Bandit, tasks: BanditTask, key: jax.Array) -> jax.Array:
    """Total reward of one trial on each task [N]."""
    num_tasks = tasks.arm_probs.shape[0]
    run = jax.jit(jax.vmap(lambda task, k: play(name, env, task, k).sum()))
    return run(tasks, jax.random.split(key, num_tasks))
