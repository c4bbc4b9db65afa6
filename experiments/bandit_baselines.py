"""Classical bandit strategies, run on the project's own bandit env (same tasks, same reward
rule as the agents): uniform `random`, `greedy` on the posterior mean, `ucb1`, `thompson`
sampling, and `optimistic` (posterior mean plus one posterior standard deviation).

With s_k, f_k the successes and failures of arm k so far, the exact posterior under the
uniform prior is Beta(1 + s_k, 1 + f_k); ties are broken uniformly at random."""
from __future__ import annotations

import jax
import jax.numpy as jnp

from envs.bandit import Bandit, BanditTask

BASELINES = ("random", "greedy", "ucb1", "thompson", "optimistic")


def _argmax_random_ties(key: jax.Array, score: jax.Array) -> jax.Array:
    best = score == score.max()
    return jnp.argmax(jnp.where(best, jax.random.uniform(key, score.shape), -1.0))


def arm_scores(name: str, key: jax.Array, successes: jax.Array, failures: jax.Array
               ) -> jax.Array:
    """The score each strategy maximises, given per-arm counts [K]."""
    pulls = successes + failures
    a, b = 1.0 + successes, 1.0 + failures
    if name == "random":
        return jnp.zeros_like(successes)
    if name == "greedy":
        return a / (a + b)
    if name == "thompson":
        return jax.random.beta(key, a, b)
    if name == "optimistic":
        variance = a * b / ((a + b) ** 2 * (a + b + 1.0))
        return a / (a + b) + jnp.sqrt(variance)
    if name == "ucb1":  # Auer et al. (2002): every arm once, then mean + sqrt(2 ln t / n)
        t = pulls.sum()
        safe = jnp.maximum(pulls, 1.0)
        ucb = successes / safe + jnp.sqrt(2.0 * jnp.log(jnp.maximum(t, 1.0)) / safe)
        return jnp.where((pulls == 0).any(), (pulls == 0).astype(jnp.float32), ucb)
    raise ValueError(f"baseline={name!r} is not valid; choose one of {list(BASELINES)}")


def play(name: str, env: Bandit, task: BanditTask, key: jax.Array) -> jax.Array:
    """One trial of `env.episode_length` pulls of one task; returns the rewards [H]."""
    if name not in BASELINES:
        raise ValueError(f"baseline={name!r} is not valid; choose one of {list(BASELINES)}")
    reset_key, run_key = jax.random.split(key)
    _, state = env.reset(reset_key, task)
    zeros = jnp.zeros(env.num_arms)

    def pull(carry, key):
        state, successes, failures = carry
        score_key, tie_key, step_key = jax.random.split(key, 3)
        arm = _argmax_random_ties(tie_key, arm_scores(name, score_key, successes, failures))
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
