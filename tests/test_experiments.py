"""Experiments: bandit baselines against an independent numpy implementation, the exact
posterior's log loss against scipy, the alignment of counts with what the belief has seen,
and the CSV/PNG outputs of tiny runs."""
import math
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

import envs
from experiments import bandit, bandit_baselines, belief_quality
from experiments.common import CURVE_COLUMNS, sample_tasks, train, validation_trials
from experiments.plotting import read_csv

TINY_NETWORK = dict(hidden_size=8, torso_sizes=(8,), head_sizes=(8,))


def _numpy_bandit(name: str, arm_probs: np.ndarray, pulls: int, rng) -> np.ndarray:
    """Plain-loop reference of the four classical strategies (own RNG, own tie-breaking)."""
    totals = []
    for p in arm_probs:
        k = len(p)
        s, n, total = np.zeros(k), np.zeros(k), 0.0
        for t in range(pulls):
            if name == "random":
                score = np.zeros(k)
            elif name == "greedy":
                score = (s + 1) / (n + 2)
            elif name == "thompson":
                score = rng.beta(1 + s, 1 + n - s)
            elif (n == 0).any():  # ucb1: every arm once first
                score = (n == 0).astype(float)
            else:
                score = s / n + np.sqrt(2 * math.log(t) / n)
            arm = rng.choice(np.flatnonzero(score == score.max()))
            reward = float(rng.random() < p[arm])
            s[arm] += reward
            n[arm] += 1
            total += reward
        totals.append(total)
    return np.array(totals)


@pytest.mark.parametrize("name", ["random", "greedy", "ucb1", "thompson"])
def test_baselines_agree_with_an_independent_numpy_implementation(name):
    env = envs.make("bandit")
    tasks = sample_tasks(env, jax.random.key(0), 600)
    ours = np.asarray(bandit_baselines.total_rewards(name, env, tasks, jax.random.key(1)))
    reference = _numpy_bandit(name, np.asarray(tasks.arm_probs), 100,
                              np.random.default_rng(2))
    se = math.sqrt(ours.var(ddof=1) / ours.size + reference.var(ddof=1) / reference.size)
    assert abs(ours.mean() - reference.mean()) < 4 * se, (ours.mean(), reference.mean(), se)
    if name == "random":  # E[p] = 1/2 per pull
        assert abs(ours.mean() - 50.0) < 4 * ours.std() / math.sqrt(ours.size)


def test_baseline_rules_on_fixed_counts():
    key = jax.random.key(0)
    s, f = jnp.array([3.0, 0.0, 1.0, 0.0]), jnp.array([1.0, 0.0, 0.0, 0.0])
    ucb = bandit_baselines.arm_scores("ucb1", key, s, f)
    assert ucb.tolist() == [0.0, 1.0, 0.0, 1.0]  # unpulled arms first
    picks = {int(bandit_baselines._argmax_random_ties(k, ucb))
             for k in jax.random.split(key, 50)}
    assert picks == {1, 3}  # ties broken at random among the best
    s, f = jnp.array([3.0, 1.0]), jnp.array([1.0, 0.0])  # all pulled: mean + sqrt(2 ln 5 / n)
    np.testing.assert_allclose(bandit_baselines.arm_scores("ucb1", key, s, f),
                               [0.75 + math.sqrt(2 * math.log(5) / 4),
                                1.0 + math.sqrt(2 * math.log(5))], rtol=1e-6)
    np.testing.assert_allclose(bandit_baselines.arm_scores("greedy", key, s, f), [4 / 6, 2 / 3])
    with pytest.raises(ValueError, match="baseline='oracle' is not valid; choose one of"):
        bandit_baselines.play("oracle", envs.make("bandit"), None, key)


def test_exact_posterior_log_loss_matches_scipy():
    rng = np.random.default_rng(0)
    p = rng.random((5, 20))
    s, f = rng.integers(0, 6, (5, 20)).astype(float), rng.integers(0, 6, (5, 20)).astype(float)
    expected = -scipy.stats.beta.logpdf(p, 1 + s, 1 + f).sum(-1)
    np.testing.assert_allclose(belief_quality.exact_nll(p, s, f), expected, rtol=1e-5)
    a, b = 1 + s, 1 + f
    gaussian = -scipy.stats.norm.logpdf(p, a / (a + b),
                                        np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))).sum(-1)
    np.testing.assert_allclose(belief_quality.best_gaussian_nll(p, s, f), gaussian, rtol=1e-5)


def test_belief_quality_counts_are_what_the_belief_has_seen():
    """A belief built from the agent's own inputs (previous action and reward) as the
    moment-matched Gaussian must score exactly the best-Gaussian column: the counts the
    experiment uses are aligned with the belief's history. The exact posterior must beat it
    at every step (Gibbs' inequality), and at t = 0 the Gaussian loses 20·(½ ln(2π/12) + ½)."""
    from belief_jax.config import NetworkConfig, PPOConfig, TrainConfig
    config = TrainConfig(env="bandit", agent="belief", total_env_steps=800,
                         iterations_per_chunk=1, num_eval_envs=8,
                         network=NetworkConfig(**TINY_NETWORK),
                         ppo=PPOConfig(num_envs=8, rollout_length=100, num_minibatches=2))
    trained = train(config, log=lambda _: None)
    tasks = sample_tasks(trained.trainer.eval_env.env, jax.random.key(5), 400)
    _, transitions, _ = validation_trials(trained, tasks, jax.random.key(6))
    tr = jax.tree.map(lambda x: x[0], transitions)  # the one seed
    seen_hits = jnp.cumsum(tr.inputs.prev_action * tr.inputs.prev_reward[..., None], axis=0)
    seen_pulls = jnp.cumsum(tr.inputs.prev_action, axis=0)
    a, b = 1 + seen_hits, 1 + seen_pulls - seen_hits
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1))
    belief = jnp.concatenate([mean, 0.5 * jnp.log(var)], axis=-1)
    losses = belief_quality.nll_per_step(belief, tr.action, tr.reward, tasks.arm_probs,
                                         trained.trainer.agent.task_info_spec)
    np.testing.assert_allclose(losses["learned_nll"], losses["best_gaussian_nll"], rtol=1e-4,
                               atol=1e-4)
    exact, gaussian = losses["exact_nll"].mean(1), losses["best_gaussian_nll"].mean(1)
    assert (exact < gaussian).all()
    assert float(jnp.abs(losses["exact_nll"][0]).max()) < 1e-4  # uniform prior: density 1
    assert abs(float(gaussian[0]) - 20 * (0.5 * math.log(2 * math.pi / 12) + 0.5)) < 0.1


def test_bandit_experiment_writes_results_and_curves(tmp_path):
    args = bandit.Args(out=tmp_path, agents=("belief",), learners=("ppo",), num_seeds=2,
                       total_env_steps=3_200, num_envs=16, num_tasks=64, curve_points=2)
    paths = bandit.run(args, log=lambda _: None)
    rows = read_csv(paths["results"])
    assert tuple(rows[0]) == bandit.RESULT_COLUMNS
    assert [r["method"] for r in rows] == [*bandit_baselines.BASELINES, "belief_ppo"]
    assert all(r["n_tasks"] == 64 and r["total_reward_se"] > 0 for r in rows)
    assert all(0 <= r["total_reward_mean"] <= 100 for r in rows)
    curves = read_csv(paths["curves"])
    assert tuple(curves[0]) == ("method", *CURVE_COLUMNS)
    assert {(c["split"], c["env_steps"]) for c in curves} == {
        (split, s) for split in ("train", "validation") for s in (1_600, 3_200)}
    for name in ("results_png", "curves_png"):
        assert paths[name].stat().st_size > 5_000


def test_belief_quality_experiment_writes_one_row_per_step(tmp_path):
    args = belief_quality.Args(out=tmp_path, total_env_steps=1_600, num_envs=16, num_seeds=1,
                               num_tasks=32)
    paths = belief_quality.run(args, log=lambda _: None)
    rows = read_csv(paths["csv"])
    assert tuple(rows[0]) == belief_quality.COLUMNS
    assert [r["t"] for r in rows] == list(range(100))
    assert rows[0]["exact_nll"] == pytest.approx(0.0, abs=1e-4)
    assert all(math.isfinite(r["learned_nll"]) and r["n_tasks"] == 32 for r in rows)
    assert paths["png"].stat().st_size > 5_000


@pytest.mark.parametrize("module, flags, message", [
    ("bandit", ["--agents", "pearl"], "agents: 'pearl' is not valid; choose from"),
    ("bandit", ["--num-tasks", "0"], "num_tasks must be positive"),
    ("belief_quality", ["--agent", "rnn"], "agent='rnn' has no belief to score"),
])
def test_experiment_cli_rejects_bad_arguments(tmp_path, module, flags, message):
    result = subprocess.run([sys.executable, "-m", f"experiments.{module}", "--out",
                             str(tmp_path), *flags], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and not any(tmp_path.iterdir())


def test_discovery_times_and_alignment():
    from experiments.belief_analysis import aligned, discovery_times
    rewards = np.zeros((10, 3))
    rewards[[2, 5, 9], 0] = 1  # trial 0 finds three tiles at steps 2, 5, 9
    rewards[4, 1] = 1          # trial 1 one tile; trial 2 none
    times = discovery_times(rewards, 4)
    assert times.tolist() == [[2, 4, -1], [5, -1, -1], [9, -1, -1], [-1, -1, -1]]
    loglik = np.arange(30, dtype=float).reshape(10, 3)  # value = 3t + trial
    rows = {(r["tile"], r["offset"]): r for r in aligned(loglik, times, 2)}
    assert rows[(1, 0)]["log_likelihood_mean"] == np.mean([3 * 2 + 0, 3 * 4 + 1])
    assert rows[(1, 0)]["n_trials"] == 2 and rows[(3, 1)]["n_trials"] == 0  # t = 10 is out
    assert rows[(2, -1)]["log_likelihood_mean"] == 3 * 4 and rows[(4, 0)]["n_trials"] == 0


def test_episode_returns_split_a_trial():
    from experiments.adaptation import episode_returns
    rewards = np.zeros((1, 6, 2))
    rewards[0, [0, 1, 4], 0] = 1
    rewards[0, 5, 1] = 2
    assert episode_returns(rewards, 3)[0].tolist() == [[2, 0], [0, 0], [1, 2]]


def test_experiment_cli_keeps_earlier_results_unless_told_to_overwrite(tmp_path):
    (tmp_path / "bandit_results.csv").write_text("method\nkept\n")
    result = subprocess.run([sys.executable, "-m", "experiments.bandit", "--out", str(tmp_path),
                             "--num-tasks", "0"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "already holds results (bandit_results.csv)" in \
        result.stderr, result.stderr
    assert (tmp_path / "bandit_results.csv").read_text() == "method\nkept\n"
    result = subprocess.run([sys.executable, "-m", "experiments.bandit", "--out", str(tmp_path),
                             "--num-tasks", "0", "--overwrite"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2 and "num_tasks must be positive" in result.stderr
