"""Experiments: bandit baselines against an independent numpy implementation, the exact
posterior's log loss against scipy, the alignment of counts with what the belief has seen,
and the CSV/PNG outputs of tiny runs."""
import dataclasses
import math
import subprocess
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

import envs
from belief_jax.agents import sample_ib_noise
from experiments import bandit, bandit_baselines, belief_quality
from experiments.belief_analysis import tiles_row
from experiments.common import (
    CURVE_COLUMNS,
    chunk_means,
    learner_rows,
    sample_tasks,
    train,
    validation_trials,
)
from experiments.plotting import read_csv

TINY_NETWORK = dict(hidden_size=8, torso_sizes=(8,), head_sizes=(8,))


def _numpy_bandit(name: str, arm_probs: np.ndarray, pulls: int, rng) -> np.ndarray:
    """Plain-numpy reference of the classical strategies (own RNG, own tie-breaking, scipy's
    Beta quantile), all tasks in lockstep: one step of every trial at a time."""
    n_tasks, k = arm_probs.shape
    s, n, total = np.zeros((n_tasks, k)), np.zeros((n_tasks, k)), np.zeros(n_tasks)
    rows = np.arange(n_tasks)
    for t in range(pulls):
        if name == "random":
            score = np.zeros((n_tasks, k))
        elif name == "greedy":
            score = (s + 1) / (n + 2)
        elif name == "thompson":
            score = rng.beta(1 + s, 1 + n - s)
        elif name == "bayes_ucb":  # quantile 1 − 1/t at pull t = 1, 2, ...
            score = _bisected_beta_quantile(1 - 1 / (t + 1), 1 + s, 1 + n - s)
        elif name == "knowledge_gradient":
            score = _numpy_knowledge_gradient(s, n, pulls - t - 1)
        else:  # ucb1: every arm once first
            with np.errstate(divide="ignore", invalid="ignore"):
                ucb = s / n + np.sqrt(2 * math.log(max(t, 1)) / n)
            score = np.where((n == 0).any(1, keepdims=True), (n == 0).astype(float), ucb)
        arm = np.array([rng.choice(np.flatnonzero(row == row.max())) for row in score])
        reward = (rng.random(n_tasks) < arm_probs[rows, arm]).astype(float)
        s[rows, arm] += reward
        n[rows, arm] += 1
        total += reward
    return total


def _bisected_beta_quantile(q: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with I_x(a, b) = q by 50 bisections on scipy's incomplete beta function (the
    baseline reads scipy's own inverse, so this reference computes it another way)."""
    lo, hi = np.zeros_like(a), np.ones_like(a)
    for _ in range(50):
        mid = (lo + hi) / 2
        below = scipy.special.betainc(a, b, mid) < q
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def _numpy_knowledge_gradient(s, n, left: int) -> np.ndarray:
    """μ_k + left · (E[best mean after pulling k] − best mean now), arm by arm."""
    mean = (s + 1) / (n + 2)
    score = np.empty_like(mean)
    for k in range(mean.shape[1]):
        other = np.delete(mean, k, axis=1).max(1)
        win, loss = (s[:, k] + 2) / (n[:, k] + 3), (s[:, k] + 1) / (n[:, k] + 3)
        gain = mean[:, k] * np.maximum(win, other) + (1 - mean[:, k]) * np.maximum(loss, other) \
            - np.maximum(mean[:, k], other)
        score[:, k] = mean[:, k] + left * gain
    return score


@pytest.mark.parametrize("name", ["random", "greedy", "ucb1", "thompson", "bayes_ucb",
                                  "knowledge_gradient"])
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


def test_learner_metrics_average_only_the_iterations_that_learned():
    """Per chunk, the mean of the iterations that report a value (NaN: no gradient step);
    a chunk with none stays NaN; names the metrics lack are skipped. Rows carry the mean
    over seeds and a 95% band (1.96 s.e.)."""
    nan = np.nan
    loss = np.array([[[nan, nan], [nan, 2.0], [1.0, 3.0]],    # seed 0: 3 chunks x 2 iterations
                     [[nan, nan], [4.0, 6.0], [5.0, 7.0]]])   # seed 1
    means = chunk_means({"critic_loss": loss}, ("critic_loss", "q_mean"))
    assert list(means) == ["critic_loss"]
    np.testing.assert_array_equal(means["critic_loss"], [[nan, 2.0, 2.0], [nan, 5.0, 6.0]])
    trained = types.SimpleNamespace(learner_metrics=means, env_steps=np.array([10, 20, 30]))
    rows = learner_rows(trained, agent="pearl")
    assert [(r["env_steps"], r["metric"]) for r in rows] == [
        (10, "critic_loss"), (20, "critic_loss"), (30, "critic_loss")]
    assert rows[1]["mean"] == 3.5 and rows[2]["mean"] == 4.0
    # two seeds 3 apart: s.e. = std(ddof=1) / sqrt(2) = 1.5
    assert rows[1]["band"] == pytest.approx(1.96 * 1.5)
    assert all(r["agent"] == "pearl" for r in rows)


def test_baseline_rules_on_fixed_counts():
    key = jax.random.key(0)
    s, f = jnp.array([3.0, 0.0, 1.0, 0.0]), jnp.array([1.0, 0.0, 0.0, 0.0])
    ucb = bandit_baselines.arm_scores("ucb1", key, s, f, 100)
    assert ucb.tolist() == [0.0, 1.0, 0.0, 1.0]  # unpulled arms first
    picks = {int(bandit_baselines._argmax_random_ties(k, ucb))
             for k in jax.random.split(key, 50)}
    assert picks == {1, 3}  # ties broken at random among the best
    s, f = jnp.array([3.0, 1.0]), jnp.array([1.0, 0.0])  # all pulled: mean + sqrt(2 ln 5 / n)
    np.testing.assert_allclose(bandit_baselines.arm_scores("ucb1", key, s, f, 100),
                               [0.75 + math.sqrt(2 * math.log(5) / 4),
                                1.0 + math.sqrt(2 * math.log(5))], rtol=1e-6)
    np.testing.assert_allclose(bandit_baselines.arm_scores("greedy", key, s, f, 100),
                               [4 / 6, 2 / 3])
    quantile = bandit_baselines.arm_scores("bayes_ucb", key, s, f, 100)  # pull 6: q = 5/6
    np.testing.assert_allclose(quantile, scipy.stats.beta.ppf(5 / 6, [4, 2], [2, 1]),
                               rtol=1e-5)
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
    """A Beta belief built from the agent's own inputs (previous action and reward) must score
    exactly the exact-posterior column: the counts the experiment uses are aligned with the
    belief's history. The exact posterior must beat the best Gaussian at every step (Gibbs'
    inequality), and at t = 0 the Gaussian loses 20·(½ ln(2π/12) + ½)."""
    from belief_jax.config import NetworkConfig, PPOConfig, TrainConfig
    config = TrainConfig(env="bandit", agent="belief", total_env_steps=800,
                         iterations_per_chunk=1, num_eval_envs=8,
                         network=NetworkConfig(**TINY_NETWORK),
                         learner=PPOConfig(num_envs=8, rollout_length=100, num_minibatches=2))
    trained = train(config, log=lambda _: None)
    tasks = sample_tasks(trained.trainer.eval_env.env, jax.random.key(5), 400)
    _, transitions, _ = validation_trials(trained, tasks, jax.random.key(6))
    tr = jax.tree.map(lambda x: x[0], transitions)  # the one seed
    seen_hits = jnp.cumsum(tr.inputs.prev_action * tr.inputs.prev_reward[..., None], axis=0)
    seen_pulls = jnp.cumsum(tr.inputs.prev_action, axis=0)
    a, b = 1 + seen_hits, 1 + seen_pulls - seen_hits
    belief = jnp.concatenate([jnp.log(a), jnp.log(b)], axis=-1)  # the exact Beta posterior
    losses = belief_quality.nll_per_step(belief, tr.action, tr.reward, tasks.arm_probs,
                                         trained.trainer.agent.task_info_spec)
    np.testing.assert_allclose(losses["learned_nll"], losses["exact_nll"], rtol=1e-4,
                               atol=2e-3)
    exact, gaussian = losses["exact_nll"].mean(1), losses["best_gaussian_nll"].mean(1)
    assert (exact < gaussian).all()
    assert float(jnp.abs(losses["exact_nll"][0]).max()) < 1e-4  # uniform prior: density 1
    assert abs(float(gaussian[0]) - 20 * (0.5 * math.log(2 * math.pi / 12) + 0.5)) < 0.1


@pytest.mark.slow  # a whole experiment run, as tests/test_experiment_runs.py's; ~80 s
def test_bandit_experiment_writes_results_and_curves(tmp_path):
    args = bandit.Args(out=tmp_path, agents=("belief",), learners=("ppo",), num_seeds=2,
                       total_env_steps=3_200, num_envs=16, num_tasks=64, curve_points=2)
    paths = bandit.run(args, log=lambda _: None)
    rows = read_csv(paths["results"])
    assert tuple(rows[0]) == bandit.RESULT_COLUMNS
    assert [r["method"] for r in rows] == [*bandit_baselines.BASELINES, "belief_ppo",
                                           "belief_generic_ppo"]
    assert all(r["n_tasks"] == 64 and r["total_reward_se"] > 0 for r in rows)
    assert all(0 <= r["total_reward_mean"] <= 100 for r in rows)
    curves = read_csv(paths["curves"])
    assert tuple(curves[0]) == ("method", *CURVE_COLUMNS)
    assert {(c["split"], c["env_steps"]) for c in curves} == {
        (split, s) for split in ("train", "validation") for s in (1_600, 3_200)}
    for name in ("results_png", "curves_png"):
        assert paths[name].stat().st_size > 5_000


@pytest.mark.parametrize("env, trial, prior_nll", [("bandit", 100, 0.0),
                                                   ("semicircle", 200, math.log(math.pi))])
def test_belief_quality_experiment_writes_one_row_per_step(tmp_path, env, trial, prior_nll):
    """At t = 0 the exact posterior is the prior: density 1 on [0, 1]^20 (bandit), 1/π on
    the goal angles (semicircle); later it can only concentrate."""
    args = belief_quality.Args(out=tmp_path, env=env, total_env_steps=1_600, num_envs=16,
                               num_seeds=1, num_tasks=32)
    paths = belief_quality.run(args, log=lambda _: None)
    rows = read_csv(paths["csv"])
    assert tuple(rows[0]) == belief_quality.COLUMNS[env]
    assert [r["t"] for r in rows] == list(range(trial))
    assert rows[0]["exact_nll"] == pytest.approx(prior_nll, abs=1e-4)
    if env == "semicircle":  # the consistent set only shrinks
        assert np.all(np.diff([r["exact_nll"] for r in rows]) <= 1e-9)
    assert all(math.isfinite(r["learned_nll"]) and r["n_tasks"] == 32 for r in rows)
    assert paths["png"].stat().st_size > 5_000


def _arc_interval(position, radius=1.0, goal_radius=0.2):
    """The goal angles θ with ‖x − R·u(θ)‖ ≤ ρ, by the law of cosines:
    cos(θ − φ) ≥ (|x|² + R² − ρ²) / (2R|x|), φ the angle of x."""
    x = np.asarray(position, np.float64)
    phi, norm_x = math.atan2(x[1], x[0]), float(np.hypot(*x))
    half = math.acos((norm_x**2 + radius**2 - goal_radius**2) / (2 * radius * norm_x))
    return phi - half, phi + half


def test_arc_exact_posterior_matches_the_law_of_cosines():
    """log |S_t| from the grid against intervals computed by hand: a hit at x1 confines the
    goal to x1's arc interval, a miss at x2 then removes x2's interval from it, and a miss
    alone leaves π minus the interval."""
    x1, x2 = (0.0, 0.9), (0.15, 0.9)
    (a1, b1), (a2, b2) = _arc_interval(x1), _arc_interval(x2)
    assert a2 < a1 < b2 < b1  # the two intervals overlap, x2's to the left
    positions = jnp.array([[x1, x1], [x2, x2], [x2, x2]], jnp.float32)  # [T=3, N=2, 2]
    rewards = jnp.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    nll = belief_quality.arc_exact_nll(positions, rewards, 1.0, 0.2)
    want = [[math.pi, math.pi], [b1 - a1, math.pi - (b1 - a1)],
            [b1 - b2, math.pi - (b1 - a2)]]
    np.testing.assert_allclose(np.exp(nll), want, rtol=1e-6)


def test_arc_exact_posterior_matches_brute_force_on_random_histories():
    """Random walks around the arc with the rewards of a random true goal: |S_t| from the
    intervals against counting consistent angles on a grid of 10^6 (hits, misses, empty
    intervals near the origin, intervals cut at 0 and π, overlapping misses)."""
    rng = np.random.default_rng(0)
    T, N, R, rho = 40, 6, 1.0, 0.2
    theta = np.concatenate([[0.05, math.pi - 0.05], rng.uniform(0, math.pi, N - 2)])
    goal = R * np.stack([np.cos(theta), np.sin(theta)], -1)
    # half of the steps near the goal (hits and edge misses), half anywhere in the arena
    near = goal + rng.normal(0, 0.15, (T, N, 2))
    positions = np.where(rng.random((T, N, 1)) < 0.5, near, rng.uniform(-1.5, 1.5, (T, N, 2)))
    rewards = (np.linalg.norm(positions - goal, axis=-1) <= rho).astype(np.float32)
    nll = belief_quality.arc_exact_nll(positions, rewards, R, rho)
    grid = (np.arange(10**6) + 0.5) * (math.pi / 10**6)
    arc = R * np.stack([np.cos(grid), np.sin(grid)], -1)
    for n in range(N):
        consistent = np.ones(grid.size, bool)
        for t in range(T):
            np.testing.assert_allclose(math.exp(nll[t, n]), consistent.mean() * math.pi,
                                       atol=3 * math.pi / 10**6)
            hit = np.linalg.norm(arc - positions[t, n], axis=-1) <= rho
            consistent &= hit == (rewards[t, n] > 0.5)
    assert 0 < rewards.sum() < T * N


def test_arc_belief_is_a_normalised_density_on_the_angle():
    """The learned belief restricted to the arc integrates to 1 over θ ∈ [0, π] (trapezoid
    on a grid unrelated to the one inside), and its ratio at two angles is the ratio of the
    2-D Gaussian densities at the two goals (scipy)."""
    belief = jnp.array([[[0.3, 0.8, math.log(0.4), math.log(0.2)]]])  # [T=1, N=1, 4]
    thetas = np.linspace(0.0, math.pi, 20_001)
    nll = jax.vmap(lambda th: belief_quality.arc_learned_nll(
        belief, th[None], 1.0, belief_quality.arc_grid())[0, 0])(jnp.asarray(thetas))
    density = np.exp(np.asarray(nll, np.float64) * -1)
    assert np.trapezoid(density, thetas) == pytest.approx(1.0, abs=1e-3)
    gauss = lambda th: scipy.stats.norm.pdf([math.cos(th), math.sin(th)], [0.3, 0.8],
                                            [0.4, 0.2]).prod()
    i, j = 5_000, 12_000
    assert density[i] / density[j] == pytest.approx(gauss(thetas[i]) / gauss(thetas[j]),
                                                     rel=1e-3)


def test_ball_positions_reproduce_the_sparse_rewards():
    """Positions recomputed from the recorded observations and actions, tested against the
    goal, give back every reward the env paid (a scripted policy heads to the goal and
    wanders, so there are hits and misses); the true goal angle stays in the consistent set."""
    env = envs.make("semicircle")
    task = env.sample_task(jax.random.key(3))
    obs, state = env.reset_env(jax.random.key(0), task)

    def step(carry, key):
        obs, state = carry
        heading = task.goal - env.physics.position(state.ball)
        action = jnp.clip(2.0 * heading, -1, 1) + jax.random.normal(key, (2,))  # unclipped
        next_obs, state, reward = env.step_env(key, state, action)
        return (next_obs, state), (obs, action, reward)

    _, (observations, actions, rewards) = jax.lax.scan(step, (obs, state),
                                                       jax.random.split(jax.random.key(1), 60))
    positions = belief_quality.ball_positions(env.physics, observations[:, None],
                                              actions[:, None])
    hits = jnp.linalg.norm(positions[:, 0] - task.goal, axis=-1) <= env.goal_radius
    assert 0 < int(rewards.sum()) < 60
    np.testing.assert_array_equal(hits, rewards > 0.5)
    nll = belief_quality.arc_exact_nll(positions, rewards[:, None], 1.0, env.goal_radius)
    assert float(nll[-1, 0]) < math.log(2 * 0.2)  # after hits: within the goal's arc width


@pytest.mark.parametrize("module, flags, message", [
    ("bandit", ["--agents", "pearl"], "agent='pearl' needs an off-policy learner, not "
                                      "learner='ppo'"),
    ("bandit", ["--learners", "sac"], "learner='sac' is not valid; choose one of ['ppo'"),
    ("bandit", ["--num-tasks", "0"], "num_tasks must be positive"),
    ("belief_quality", ["--agent", "rnn"], "agent='rnn' has no belief to score"),
    ("belief_quality", ["--env", "numpad"], "env='numpad' has no exact posterior here"),
    ("sample_efficiency", ["--preset", "gpu"], "preset='gpu' is not valid; choose one of "
                                               "['quick', 'cpu', 'full']"),
    ("sample_efficiency", ["--quick", "--preset", "cpu"], "--quick and --preset cpu "
                                                          "contradict each other"),
    ("supervision", ["--preset", "cpu"], "no cpu preset for env='cheetah_vel' with "
                                         "learner='ppo' in the experiments"),
    ("sample_efficiency", ["--last-fraction", "0"], "last_fraction must be in (0, 1]"),
    ("sample_efficiency", ["--svg0-target-update", "soft"], "svg0.target_update='soft' is "
                                                            "not valid; choose one of"),
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


def test_sample_efficiency_passes_svg0_options_to_svg0_alone():
    from experiments import sample_efficiency
    ppo, svg0 = sample_efficiency.configs(sample_efficiency.Args(
        quick=True, svg0_twin_critics=True, svg0_target_update="polyak", svg0_burn_in=5))
    assert (svg0.learner.twin_critics, svg0.learner.target_update, svg0.learner.burn_in) == (
        True, "polyak", 5)
    assert ppo.learner.name == "ppo"
    default = sample_efficiency.configs(sample_efficiency.Args(quick=True))[1].learner
    assert (default.twin_critics, default.target_update, default.burn_in) == (
        False, "polyak", 0)
    # the common flag reaches the SVG(0) of other experiments too (adaptation's agents)
    from experiments import adaptation
    for config in adaptation.configs(adaptation.Args(quick=True, svg0_replay_size=300_000,
                                                     svg0_target_update="periodic")):
        assert config.learner.target_update == "periodic"
        assert config.learner.replay_size == 300_000
    # and --keep-best, off unless given
    assert [c.keep_best for c in adaptation.configs(adaptation.Args(quick=True))] == [False] * 2
    assert [c.keep_best for c in adaptation.configs(adaptation.Args(quick=True,
                                                                    keep_best=True))] == [True] * 2


def test_velocity_summary_recovers_the_tracking_error_from_the_reward():
    """|v_x − v*| per episode, from rewards built by the env's own reward rule out of known
    velocities (actions beyond the box are clipped in the control cost, as in the env)."""
    from envs.cheetah_vel import CheetahVel
    from experiments.velocity_trials import summary_rows
    env = CheetahVel.__new__(CheetahVel)  # the reward rule needs no physics
    env.ctrl_cost = 0.05
    rng = np.random.default_rng(0)
    s, t, n, a = 2, 6, 3, 4  # 2 seeds, 2 episodes of 3 steps, 3 tasks
    velocity, target = rng.uniform(0, 3, (s, t, n)), rng.uniform(0, 3, (1, 1, n))
    actions = rng.uniform(-1.5, 1.5, (s, t, n, a))
    rewards = np.asarray(jax.vmap(env.reward)(  # the env's rule is for one step
        velocity.ravel(), np.broadcast_to(target, velocity.shape).ravel(),
        actions.reshape(-1, a))).reshape(s, t, n)
    rows = summary_rows("belief", rewards, actions, env, 2, s)
    error = np.abs(velocity - target)
    for e, row in enumerate(rows):
        per_task = error[:, 3 * e:3 * e + 3].mean(1).mean(0)
        assert row["abs_error_mean"] == pytest.approx(per_task.mean(), rel=1e-5)
        assert row["abs_error_se"] == pytest.approx(per_task.std(ddof=1) / np.sqrt(n),
                                                    rel=1e-4)
        assert row["return_mean"] == pytest.approx(
            rewards[:, 3 * e:3 * e + 3].sum(1).mean(0).mean(), rel=1e-5)
    assert [r["episode"] for r in rows] == [1, 2] and rows[0]["n_seeds"] == 2


@pytest.mark.parametrize("episodes", [2, 4])
def test_goal_summary_recovers_the_goal_from_the_reward(episodes):
    """The rate of trials reaching the goal per episode, from rewards built by the env's own
    reward rule out of known positions, against the positions themselves; the closest
    approach and the travel from each episode's start from the positions."""
    from envs.quadruped_semicircle import QuadrupedSemicircle
    from experiments.goal_trials import episode_reached, reached_rows, summary_rows
    env = QuadrupedSemicircle.__new__(QuadrupedSemicircle)  # the reward rule needs no physics
    env.ctrl_cost, env.goal_radius = 0.1, 0.2
    rng = np.random.default_rng(1)
    s, t, n, a = 2, 4 * episodes, 5, 8  # 2 seeds, episodes of 4 steps, 5 tasks
    goals = rng.uniform(-1, 1, (n, 2))
    xy = goals[None, None] + rng.uniform(-0.4, 0.4, (s, t, n, 2))
    actions = rng.uniform(-1.5, 1.5, (s, t, n, a))
    rewards = np.asarray(jax.vmap(env.reward)(
        xy.reshape(-1, 2), np.broadcast_to(goals, xy.shape).reshape(-1, 2),
        actions.reshape(-1, a))).reshape(s, t, n)
    reached_per_episode = episode_reached(rewards, actions, env, episodes)
    rows = summary_rows("belief", rewards, reached_per_episode, xy, goals, s)
    inside = np.linalg.norm(xy - goals, axis=-1) <= 0.2
    assert 0 < inside.mean() < 1
    for e, row in enumerate(rows):
        steps = slice(4 * e, 4 * e + 4)
        reached = inside[:, steps].any(1).mean(0)  # per task, averaged over seeds
        assert row["reach_rate_mean"] == pytest.approx(reached.mean())
        closest = np.linalg.norm(xy[:, steps] - goals, axis=-1).min(1).mean(0)
        assert row["min_distance_mean"] == pytest.approx(closest.mean())
        travel = np.linalg.norm(xy[:, steps] - xy[:, 4 * e:4 * e + 1], axis=-1).max(1).mean(0)
        assert row["travel_mean"] == pytest.approx(travel.mean())
    assert [r["episode"] for r in rows] == list(range(1, episodes + 1))
    assert rows[0]["n_seeds"] == 2
    # each later episode among the (seed, task) trials that reached the goal in the episode
    # just before it, counted trial by trial
    for e in range(1, episodes):
        pairs = [(inside[i, 4 * e - 4:4 * e, j].any(), inside[i, 4 * e:4 * e + 4, j].any())
                 for i in range(s) for j in range(n)]
        again = [now for before, now in pairs if before]
        assert 0 < len(again) < s * n and rows[e]["n_found"] == len(again)
        assert rows[e]["reach_after_found_mean"] == pytest.approx(sum(again) / len(again))
    assert math.isnan(rows[0]["reach_after_found_mean"]) and rows[0]["n_found"] == 0
    # goal_reached.csv: each (seed, task, episode) once, against the positions
    per_trial = reached_rows("belief", reached_per_episode, goals)
    assert len(per_trial) == s * n * episodes
    for r in per_trial:
        steps = slice(4 * r["episode"] - 4, 4 * r["episode"])
        assert r["reached"] == int(inside[r["seed"], steps, r["task"]].any())
        assert (r["goal_x"], r["goal_y"]) == tuple(goals[r["task"]])


def test_goal_belief_rows_read_each_episodes_last_belief_by_outcome():
    """The belief's error and std at each episode's last step, split by whether the episode
    reached the goal, against a trial-by-trial loop over beliefs of known error."""
    from envs.quadruped_semicircle import QuadrupedSemicircle
    from experiments.goal_trials import belief_rows, episode_reached
    env = QuadrupedSemicircle.__new__(QuadrupedSemicircle)
    env.ctrl_cost, env.goal_radius = 0.1, 0.2
    rng = np.random.default_rng(2)
    s, t, n, episodes = 2, 8, 6, 2  # episodes of 4 steps
    goals = rng.uniform(-1, 1, (n, 2))
    actions = np.zeros((s, t, n, 8))
    rewards = (rng.uniform(size=(s, t, n)) < 0.2).astype(float)  # on the goal at these steps
    belief = np.concatenate([goals[None, None] + rng.normal(0, 0.3, (s, t, n, 2)),
                             rng.normal(-1, 0.5, (s, t, n, 2))], axis=-1)
    rows = belief_rows("belief", episode_reached(rewards, actions, env, episodes), belief,
                       goals)
    for e in range(episodes):
        for found in (1, 0):
            errors, stds = [], []
            for i in range(s):
                for j in range(n):
                    if rewards[i, 4 * e:4 * e + 4, j].max() == found:
                        last = belief[i, 4 * e + 3, j]
                        errors.append(math.dist(last[:2], goals[j]))
                        stds.append(math.sqrt(math.exp(last[2]) * math.exp(last[3])))
            row, = [r for r in rows if (r["episode"], r["found"]) == (e + 1, found)]
            assert row["n"] == len(errors) > 1
            assert row["belief_error_mean"] == pytest.approx(np.mean(errors))
            assert row["belief_std_mean"] == pytest.approx(np.mean(stds))
            assert row["belief_error_se"] == pytest.approx(np.std(errors, ddof=1)
                                                           / math.sqrt(len(errors)))


def test_episode_returns_split_a_trial():
    from experiments.adaptation import episode_returns
    rewards = np.zeros((1, 6, 2))
    rewards[0, [0, 1, 4], 0] = 1
    rewards[0, 5, 1] = 2
    assert episode_returns(rewards, 3)[0].tolist() == [[2, 0], [0, 0], [1, 2]]


def test_adaptation_sets_free_nats_ceiling_and_kl_on_the_pearl_agent_only():
    from experiments.adaptation import Args, configs
    belief, pearl = configs(Args(preset="cpu", pearl_free_nats=8.0))
    assert (belief.network.pearl_free_nats, pearl.network.pearl_free_nats) == (0.0, 8.0)
    assert [c.network.pearl_free_nats for c in configs(Args(preset="cpu"))] == [0.0, 0.0]
    with pytest.raises(ValueError, match="pearl_free_nats must be >= 0, got -1.0"):
        configs(Args(pearl_free_nats=-1.0))
    belief, pearl = configs(Args(preset="cpu", pearl_max_nats=10.0))
    assert (belief.network.pearl_max_nats, pearl.network.pearl_max_nats) == (0.0, 10.0)
    with pytest.raises(ValueError, match="pearl_max_nats must be >= 0, got -2.0"):
        configs(Args(pearl_max_nats=-2.0))
    belief, pearl = configs(Args(preset="cpu", pearl_kl=0.01))
    assert (belief.network.pearl_kl, pearl.network.pearl_kl) == (0.1, 0.01)
    with pytest.raises(ValueError, match="pearl_kl must be >= 0, got -0.5"):
        configs(Args(pearl_kl=-0.5))
    belief, pearl = configs(Args(preset="cpu"))  # the policy on the critic's z by default
    assert (belief.network.pearl_policy_z, pearl.network.pearl_policy_z) == ("held", "learner")
    _, held = configs(Args(preset="cpu", pearl_policy_z=None))
    assert held.network.pearl_policy_z == "held"
    # refused by the network config's own check, as the pearl agent's config is built
    with pytest.raises(ValueError, match=r"network.pearl_policy_z='episode' is not valid; "
                                         r"choose one of \['learner', 'held'\]"):
        configs(Args(pearl_policy_z="episode"))
    belief, trial = configs(Args(preset="cpu", pearl_train_z="trial"))
    assert (belief.network.pearl_train_z, trial.network.pearl_train_z) == ("resampled", "trial")
    assert held.network.pearl_train_z == "resampled"


def test_adaptation_burns_the_pearl_agents_replay_in_back_to_the_trial_start():
    """The PEARL-style agent's replayed sequences get a burn-in of the trial's length minus
    the sequence's (its context recomputed from the trial's start); the belief agent none."""
    from belief_jax.train import validate
    from experiments.adaptation import Args, configs
    refresh = dict(preset="cpu", pearl_refresh_context=True)
    belief, pearl = configs(Args(**refresh))  # 3 episodes of 100 steps, sequences of 20
    assert (belief.learner.burn_in, pearl.learner.burn_in) == (0, 280)
    validate(pearl)  # burn-in + sequence is exactly one trial
    assert configs(Args(**refresh, episodes_per_trial=2))[1].learner.burn_in == 180
    assert configs(Args(preset="cpu"))[1].learner.burn_in == 0  # off by default


def test_adaptation_gives_the_training_reward_to_the_pearl_agent_only():
    from belief_jax.train import validate
    from experiments.adaptation import Args, configs
    belief, pearl = configs(Args(preset="cpu"))  # the defaults: shaped, KL weight 0.01
    assert (belief.env_kwargs, belief.network.pearl_kl) == ({}, 0.1)
    assert (pearl.env_kwargs, pearl.network.pearl_kl) == ({"training_reward": "shaped"}, 0.01)
    _, plain = configs(Args(preset="cpu", pearl_training_reward=None, pearl_kl=None))
    assert (plain.env_kwargs, plain.network.pearl_kl) == ({}, 0.1)
    belief, pearl = configs(Args(preset="cpu", pearl_training_reward="dense"))
    assert "training_reward" not in belief.env_kwargs
    assert pearl.env_kwargs["training_reward"] == "dense"
    with pytest.raises(ValueError, match="training_reward must be None or one of"):
        configs(Args(preset="cpu", pearl_training_reward="potential",
                     pearl_refresh_context=True))  # which makes the env to find its trial
    _, bad = configs(Args(preset="cpu", pearl_training_reward="potential"))
    with pytest.raises(ValueError, match="training_reward must be None or one of"):
        validate(bad)  # the experiments' sweep validates every config before training


def test_sample_efficiency_gives_each_learner_its_own_options():
    from experiments.sample_efficiency import Args, configs
    ppo, svg0 = configs(Args(preset="cpu", ppo_normalize_values=True, ppo_clip_per_module=True,
                             svg0_burn_in=4))
    assert (ppo.learner.normalize_values, ppo.learner.clip_per_module) == (True, True)
    assert svg0.learner.burn_in == 4 and not hasattr(svg0.learner, "clip_per_module")
    ppo, _ = configs(Args(preset="cpu"))
    assert (ppo.learner.normalize_values, ppo.learner.clip_per_module) == (False, False)


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


def test_sample_efficiency_summary_reads_the_curves():
    """Steps to the target on the mean curve and per seed, and the steadiness of the last
    chunks, against numbers worked out by hand."""
    import types

    from experiments.sample_efficiency import Args, summary
    curves = np.array([[10., 95., 80., 100., 90.],    # seed 0 reaches 90 at chunk 1
                       [10., 50., 100., 100., 110.],  # seed 1 at chunk 2
                       [0., 20., 60., 70., 80.]])     # seed 2 never
    trained = types.SimpleNamespace(env_steps=np.array([10, 20, 30, 40, 50]),
                                    validation_return=curves, wall_s=60.0, compile_s=10.0)
    row = summary(trained, Args(target_return=90.0, last_fraction=0.4))
    # mean curve: 6.67, 55, 80, 90, 93.3 -> first >= 90 at chunk 3 (40 steps, 4/5 of 50 s)
    assert row["steps_to_target"] == 40 and row["wall_to_target"] == pytest.approx(40.0)
    assert row["seeds_reaching_target"] == 2
    assert row["seed_steps_to_target_mean"] == pytest.approx(25.0)
    assert row["seed_steps_to_target_se"] == pytest.approx(5.0)
    # last 2 chunks: seed means 95, 105, 75 -> 91.67; the mean curve's 90 and 93.33 deviate
    # from it by at most 1.67
    assert row["last_mean"] == pytest.approx(275 / 3)
    assert row["last_max_rel_dev"] == pytest.approx((5 / 3) / (275 / 3))
    assert row["run_s"] == 50.0 and row["env_steps"] == 50


@pytest.mark.parametrize("eval_sample", [False, True])
def test_information_bottleneck_evaluates_with_the_mean_unless_told_to_sample(eval_sample):
    """--eval-sample reaches the validation acting of every β's trainer: its bottleneck noise
    is zero (the mean μ) by default and a standard-normal sample with the flag."""
    from belief_jax.train import Trainer
    from experiments import information_bottleneck

    args = information_bottleneck.Args(betas=(0.1, 1.0), eval_sample=eval_sample, quick=True)
    for config in information_bottleneck.configs(args):
        validation = Trainer(config).validation
        noise = sample_ib_noise(jax.random.key(0), config.network, (4,),
                                validation.deterministic_ib)
        assert (float(jnp.abs(noise.belief).sum()) > 0) == eval_sample


def test_numpad_tiles_row_against_a_count_by_hand():
    """Tiles per trial are the rewards counted per (seed, trial); the standard errors are
    scipy's over the per-seed and the per-trial means."""
    rewards = np.zeros((2, 6, 3))  # seeds, steps, trials
    counts = np.array([[1, 4, 0], [2, 5, 1]])  # tiles lit per (seed, trial)
    for s, n in np.ndindex(counts.shape):
        rewards[s, :counts[s, n], n] = 1.0
    row = tiles_row("belief", rewards, length=4)
    assert row["tiles_mean"] == pytest.approx(counts.mean())
    assert row["tiles_se_seeds"] == pytest.approx(scipy.stats.sem(counts.mean(1)))
    assert row["tiles_se_trials"] == pytest.approx(scipy.stats.sem(counts.mean(0)))
    assert row["rounds_mean"] == pytest.approx(2 / 6)  # the 4 and the 5 completed one round
    assert (row["reached_1"], row["reached_2"], row["reached_4"]) == (5 / 6, 3 / 6, 2 / 6)
    assert row["n_trials"] == 3 and row["n_seeds"] == 2


def test_supervision_variants_keep_the_cpu_shape_of_cheetah_vel():
    """Each supervision variant is the cpu shape's network (observation normalisation on)
    with only the belief target changed; building it from the quick preset's network had
    silently dropped the normalisation."""
    from experiments.presets import preset
    from experiments.supervision import Args, variants
    args = Args(preset="cpu", envs=("cheetah_vel",), total_env_steps=100_000)
    shape = preset("cheetah_vel", "ppo", "cpu").network
    assert shape.normalize_observations
    for (names, config), target in zip(variants(args), ("embedding", "task_id", "embedding"),
                                       strict=True):
        assert config.network == dataclasses.replace(shape, task_info_target=target), names
        assert config.learner.clip_per_module and config.env_kwargs == {}


def test_body_trials_size_each_learner_by_its_own_cpu_steps():
    """`--preset cpu --learner svg0` on the bodies trains the SVG(0) cpu preset's env steps,
    not PPO's 5-8M (which had set an SVG(0) run to hours here); --total-env-steps wins."""
    from experiments import goal_trials, velocity_trials
    from experiments.presets import preset
    for module, env in ((goal_trials, "quadruped_semicircle"), (velocity_trials, "cheetah_vel")):
        svg0_steps = preset(env, "svg0", "cpu").total_env_steps
        [ppo] = module.configs(module.Args(preset="cpu", agents=("belief",)))
        [svg0] = module.configs(module.Args(preset="cpu", agents=("belief",), learner="svg0"))
        assert ppo.total_env_steps >= 5_000_000 > 2 * svg0_steps
        assert svg0_steps <= svg0.total_env_steps < 1.1 * svg0_steps
        [given] = module.configs(module.Args(preset="cpu", agents=("belief",), learner="svg0",
                                             total_env_steps=300_000))
        assert given.total_env_steps < svg0_steps


def test_goal_trials_gives_the_shaped_training_reward_to_every_agent():
    from belief_jax.train import validate
    from experiments.goal_trials import Args, configs
    plain, = configs(Args(preset="cpu"))
    assert "training_reward" not in plain.env_kwargs
    shaped, = configs(Args(preset="cpu", training_reward="shaped"))
    assert shaped.env_kwargs == {**plain.env_kwargs, "training_reward": "shaped"}
    four, = configs(Args(preset="cpu", training_reward="shaped", episodes_per_trial=4))
    assert (four.episodes_per_trial, plain.episodes_per_trial) == (4, None)
    with pytest.raises(ValueError, match="episodes_per_trial must be positive, got 0"):
        configs(Args(preset="cpu", episodes_per_trial=0))
    with pytest.raises(ValueError, match=r"given_goal_std must all be > 0, got \[0.1, -0.1\]"):
        configs(Args(preset="cpu", given_goal_std=(0.1, -0.1)))
    bad, = configs(Args(preset="cpu", training_reward="dense"))
    with pytest.raises(ValueError, match=r"quadruped_semicircle training_reward must be None "
                                         r"or one of \('shaped',\)"):
        validate(bad)
