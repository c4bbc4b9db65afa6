"""Tiny end-to-end runs of the sweep experiments: each writes its CSV with the documented
columns and its PNGs (slow: every run compiles several training loops)."""
import dataclasses
import math

import numpy as np
import pytest

from belief_jax.learners.svg0 import SVG0
from experiments import (
    adaptation,
    belief_analysis,
    generalisation,
    goal_trials,
    information_bottleneck,
    sample_efficiency,
    supervision,
    velocity_trials,
)
from experiments.common import CURVE_COLUMNS, GAP_COLUMNS, LEARNER_COLUMNS
from experiments.plotting import read_csv

pytestmark = pytest.mark.slow
TINY = dict(num_envs=16, num_seeds=1, num_tasks=16)
quiet = lambda _: None


def _pngs(paths):
    for name, path in paths.items():
        if name.endswith("png"):
            assert path.stat().st_size > 5_000, name


def test_information_bottleneck(tmp_path):
    """The positive βs train in one program; the same experiment with one run per β gives
    the same rows."""
    args = information_bottleneck.Args(out=tmp_path / "one", betas=(0.0, 0.3, 1.0),
                                       total_env_steps=3_200, curve_points=2, **TINY)
    paths = information_bottleneck.run(args, quiet)
    rows = read_csv(paths["results"])
    assert tuple(rows[0]) == ("beta", *GAP_COLUMNS)
    assert [r["beta"] for r in rows] == [0.0, 0.3, 1.0]
    for r in rows:
        assert r["gap"] == pytest.approx(r["train_return"] - r["validation_return"], abs=1e-6)
        assert math.isfinite(r["gap_se"]) and r["n_tasks"] == 16
    assert tuple(read_csv(paths["curves"])[0]) == ("beta", *CURVE_COLUMNS)
    _pngs(paths)
    separate = information_bottleneck.run(dataclasses.replace(
        args, out=tmp_path / "separate", one_program=False), quiet)
    for a, b in zip(rows, read_csv(separate["results"]), strict=True):
        for key in ("train_return", "validation_return", "validation_auc"):
            assert a[key] == pytest.approx(b[key], rel=1e-3, abs=1e-3), (a["beta"], key)


def test_supervision_and_generalisation(tmp_path):
    sup = supervision.run(supervision.Args(out=tmp_path, envs=("semicircle",),
                                           total_env_steps=1_600, curve_points=1, **TINY),
                          quiet)
    rows = read_csv(sup["results"])
    assert [r["supervision"] for r in rows] == ["none", "task_id", "embedding"]
    gen = generalisation.run(generalisation.Args(out=tmp_path, envs=("bandit",),
                                                 num_train_tasks=(2, 8), total_env_steps=1_600,
                                                 curve_points=1, **TINY), quiet)
    rows = read_csv(gen["results"])
    assert tuple(rows[0]) == ("env", "num_train_tasks", *GAP_COLUMNS)
    assert [r["num_train_tasks"] for r in rows] == [2, 8]
    _pngs(sup | gen)


def test_adaptation(tmp_path):
    """Per agent and episode, the seed-averaged return with its s.e. over seeds computed
    from the per-seed rows; the learning curves of both agents; with --keep-best, each
    seed's row says which validation pass its parameters come from."""
    paths = adaptation.run(adaptation.Args(out=tmp_path, episodes_per_trial=2,
                                           total_env_steps=1_600, keep_best=True,
                                           **{**TINY, "num_seeds": 2}), quiet)
    rows = read_csv(paths["csv"])
    assert tuple(rows[0]) == adaptation.COLUMNS
    assert [(r["agent"], r["episode"]) for r in rows] == [
        ("belief", 1), ("belief", 2), ("pearl", 1), ("pearl", 2)]
    seeds = read_csv(paths["seeds"])
    assert tuple(seeds[0]) == adaptation.SEED_COLUMNS
    for row in rows:
        mine = [s["return_mean"] for s in seeds
                if (s["agent"], s["episode"]) == (row["agent"], row["episode"])]
        assert len(mine) == 2 and row["n_seeds"] == 2
        assert row["return_mean"] == pytest.approx(np.mean(mine))
        assert row["return_se_seeds"] == pytest.approx(abs(mine[0] - mine[1]) / 2)
    curves = read_csv(paths["curves"])
    assert {c["agent"] for c in curves} == {"belief", "pearl"}
    for agent in ("belief", "pearl"):
        passes = {c["env_steps"] for c in curves if c["agent"] == agent}
        assert len(passes) > 1
        assert {s["params_env_steps"] for s in seeds if s["agent"] == agent} <= passes
    # the learner's metrics at every validation pass
    learner = read_csv(paths["learner"])
    assert tuple(learner[0]) == ("agent", *LEARNER_COLUMNS)
    for agent in ("belief", "pearl"):
        mine = [r for r in learner if r["agent"] == agent]
        no_belief = {"aux_log_likelihood"} if agent == "pearl" else set()
        assert {r["metric"] for r in mine} == set(SVG0.metric_names) - no_belief
        assert {r["env_steps"] for r in mine} == {c["env_steps"] for c in curves
                                                  if c["agent"] == agent}
        # 1,600 env steps never fill the replay: no gradient step, so no loss to report
        assert all(r["mean"] == 0 for r in mine if r["metric"] == "learning")
        assert all(math.isnan(r["mean"]) for r in mine if r["metric"] == "critic_loss")
    _pngs(paths)


def test_sample_efficiency(tmp_path):
    """Both learners' curves per seed and chunk, and a summary row each; the cpu preset's
    replay ratio reaches SVG(0)'s config."""
    args = sample_efficiency.Args(out=tmp_path, total_env_steps=3_200, curve_points=2,
                                  **TINY)
    paths = sample_efficiency.run(args, quiet)
    rows = read_csv(paths["csv"])
    assert tuple(rows[0]) == sample_efficiency.COLUMNS
    assert [r["learner"] for r in rows] == ["ppo", "svg0"]
    curves = read_csv(paths["curves"])
    assert tuple(curves[0]) == sample_efficiency.CURVE_COLUMNS
    for learner in ("ppo", "svg0"):
        walls = [c["wall_s"] for c in curves if c["learner"] == learner]
        assert len(walls) >= 2 and walls == sorted(walls) and walls[0] > 0
    # SVG(0) reports NaN until min_replay steps are stored (not reached in this tiny run)
    assert all(c["grad_norm"] > 0 for c in curves if c["learner"] == "ppo")
    assert all(not c["grad_norm"] <= 0 for c in curves)
    _pngs(paths)
    cpu = sample_efficiency.configs(dataclasses.replace(args, preset="cpu", num_seeds=None,
                                                        total_env_steps=None))
    assert cpu[1].learner.replay_ratio == 0.06 and cpu[1].total_env_steps >= 400_000
    assert cpu[0].num_seeds == 3


def test_belief_analysis_on_numpad(tmp_path):
    args = belief_analysis.Args(out=tmp_path, envs=("numpad",), total_env_steps=1_600,
                                window=3, **TINY)
    paths = belief_analysis.run(args, quiet)
    rows = read_csv(paths["loglik"])
    assert tuple(rows[0]) == belief_analysis.LOGLIK_COLUMNS and len(rows) == 500
    # an untrained belief is near uniform over 9 tiles at each of the 4 positions
    assert rows[0]["log_likelihood_mean"] == pytest.approx(-4 * math.log(9), abs=0.5)
    discovery = read_csv(paths["discovery"])
    assert tuple(discovery[0]) == belief_analysis.DISCOVERY_COLUMNS
    assert len(discovery) == 4 * 7
    tiles = read_csv(paths["tiles"])
    assert [r["agent"] for r in tiles] == ["belief", "random"]
    assert all(r["n_trials"] == args.tasks and 0 <= r["tiles_mean"] for r in tiles)
    assert all(1 >= r["reached_1"] >= r["reached_2"] >= r["reached_4"] >= 0 for r in tiles)
    _pngs(paths)


def test_velocity_trials(tmp_path):
    """Belief agent and oracle on cheetah_vel: a summary per agent and episode (and the
    random policy's), traces with the belief's estimate for the belief agent only."""
    args = velocity_trials.Args(out=tmp_path, total_env_steps=800, curve_points=1,
                                plot_trials=2, num_envs=8, num_seeds=1, num_tasks=4,
                                quick=True)
    paths = velocity_trials.run(args, quiet)
    rows = read_csv(paths["summary"])
    assert tuple(rows[0]) == velocity_trials.SUMMARY_COLUMNS
    assert [(r["agent"], r["episode"]) for r in rows] == [
        (a, e) for a in ("random", "belief", "oracle") for e in (1, 2)]
    assert all(r["abs_error_mean"] > 0 for r in rows)
    # each trained agent's training time beside its result; the random policy has none
    assert all(r["train_s"] > 0 for r in rows if r["agent"] != "random")
    assert all(r["train_s"] == "" for r in rows if r["agent"] == "random")
    traces = read_csv(paths["trials"])
    belief = [r for r in traces if r["agent"] == "belief"]
    assert len(belief) == 2 * 100 and all(math.isfinite(r["belief_v"]) for r in belief)
    assert all(math.isnan(r["belief_v"]) for r in traces if r["agent"] == "oracle")
    assert {r["v_target"] for r in belief if r["trial"] == 0} == {belief[0]["v_target"]}
    curves = read_csv(paths["curves"])
    assert {r["agent"] for r in curves} == {"belief", "oracle"}
    _pngs(paths)


def test_goal_trials(tmp_path):
    """The belief agent (also given the goal as its belief) and the random policy on
    quadruped_semicircle: a summary per agent and episode, traces with the belief's estimate
    of the goal for the belief agent only."""
    args = goal_trials.Args(out=tmp_path, total_env_steps=800, curve_points=1, plot_trials=2,
                            num_envs=8, num_seeds=1, num_tasks=4, quick=True,
                            given_goal_std=(0.1,))
    paths = goal_trials.run(args, quiet)
    rows = read_csv(paths["summary"])
    assert tuple(rows[0]) == goal_trials.SUMMARY_COLUMNS
    agents = ("random", "belief", "belief_given_goal_0.1")
    assert [(r["agent"], r["episode"]) for r in rows] == [(a, e) for a in agents for e in (1, 2)]
    assert all(0 <= r["reach_rate_mean"] <= 1 and r["min_distance_mean"] > 0 for r in rows)
    assert [r["train_s"] > 0 for r in rows if r["agent"] != "random"] == [True] * 4
    # every (agent, task, episode) once, agreeing with the summary's rate
    reached = read_csv(paths["reached"])
    assert len(reached) == 3 * 4 * 2 and {r["reached"] for r in reached} <= {0, 1}
    for r in rows:
        mine = [x["reached"] for x in reached
                if (x["agent"], x["episode"]) == (r["agent"], r["episode"])]
        assert r["reach_rate_mean"] == pytest.approx(np.mean(mine))
    # the belief at each episode's end, for the belief agent only, every trial counted once
    beliefs = read_csv(paths["belief"])
    assert {r["agent"] for r in beliefs} == {"belief"}
    assert [sum(r["n"] for r in beliefs if r["episode"] == e) for e in (1, 2)] == [4, 4]
    assert all(r["belief_error_mean"] >= 0 and r["belief_std_mean"] > 0 for r in beliefs)
    traces = read_csv(paths["trials"])
    belief = [r for r in traces if r["agent"] == "belief"]
    assert len(belief) == 2 * 100 and all(math.isfinite(r["belief_x"]) for r in belief)
    assert all(math.isnan(r["belief_x"]) for r in traces if r["agent"] == "random")
    curves = read_csv(paths["curves"])
    assert {(r["agent"], r["split"]) for r in curves} == {("belief", "train"),
                                                          ("belief", "validation")}
    # every trace starts where the body starts, near the origin
    assert all(abs(r["x"]) < 0.2 and abs(r["y"]) < 0.2 for r in traces if r["t"] == 0)
    _pngs(paths)
