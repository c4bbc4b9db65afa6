"""Bandit experiment: trained agents (rnn / aux_head / belief × ppo / svg0) against classical
baselines on the same validation tasks, plus train-vs-validation curves on a finite training
task set. `python -m experiments.bandit --out DIR [--quick]`.

Writes to DIR: bandit_results.csv (method, total_reward_mean, total_reward_se, n_tasks,
n_seeds; one row per method, baselines first), bandit_curves.csv (method, env_steps, split,
return_mean, return_band), bandit_results.png and bandit_curves.png.

The default preset is sized for one GPU/TPU (50M env steps per run, 3 seeds, 2,000
validation tasks); `--quick` runs on a laptop CPU in about 5 minutes (1 seed; ppo 600k env
steps with 64 envs, svg0 200k; 500 validation tasks), far too short for the agents to match the full
runs. The total reward ± s.e. is over validation tasks (each task's reward averaged over
seeds)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

import envs
from belief_jax.config import AGENTS, LEARNERS
from belief_jax.train import validate as validate_with_env
from experiments import bandit_baselines
from experiments.common import (
    CURVE_COLUMNS,
    check_positive,
    cli,
    curve_rows,
    mean_se,
    sample_tasks,
    sized,
    train,
    validation_trials,
    write_csv,
)
from experiments.presets import preset

RESULT_COLUMNS = ("method", "total_reward_mean", "total_reward_se", "n_tasks", "n_seeds")


@dataclasses.dataclass(frozen=True)
class Args:
    out: Path = Path("runs/bandit")
    quick: bool = False
    """CPU-sized preset (minutes); without it the preset is sized for one GPU/TPU"""
    agents: tuple[str, ...] = ("rnn", "aux_head", "belief")
    learners: tuple[str, ...] = LEARNERS
    num_seeds: int | None = None
    """vmapped seeds per agent (default: 1 quick, 3 full)"""
    total_env_steps: int | None = None
    """per run (default: the preset's, per learner)"""
    num_envs: int | None = None
    """envs per learner (default: the preset's)"""
    num_train_tasks: int = 1000
    """size of the finite training task set"""
    num_tasks: int | None = None
    """validation tasks (default: 500 quick, 2000 full)"""
    curve_points: int = 10
    """validation passes per run (points on the learning curves)"""
    seed: int = 0
    overwrite: bool = False
    """replace results (CSV/PNG) already in --out; without it such an --out is refused"""

    def validate(self) -> None:
        for agent in self.agents:
            if agent not in AGENTS or agent == "pearl":
                raise ValueError(f"agents: {agent!r} is not valid; choose from "
                                 f"{[a for a in AGENTS if a != 'pearl']}")
        for learner in self.learners:
            if learner not in LEARNERS:
                raise ValueError(f"learners: {learner!r} is not valid; choose from "
                                 f"{list(LEARNERS)}")
        check_positive(self, "num_seeds", "total_env_steps", "num_envs", "num_tasks",
                       "num_train_tasks", "curve_points")


def agent_config(args: Args, agent: str, learner: str):
    """The bandit preset for one (agent, learner), sized so each run logs `curve_points`."""
    config = preset("bandit", learner, args.quick)
    steps = args.total_env_steps or ({"ppo": 600_000, "svg0": 200_000}[learner] if args.quick
                                     else config.total_env_steps)
    # quick PPO: 64 envs give 4x the updates per env step of the preset's 256
    num_envs = args.num_envs or (64 if args.quick and learner == "ppo" else None)
    return sized(config, steps, args.curve_points, num_envs, agent=agent, seed=args.seed,
                 num_seeds=args.num_seeds or (1 if args.quick else 3),
                 num_train_tasks=args.num_train_tasks,
                 num_eval_envs=min(config.num_eval_envs, 256))


def run(args: Args, log=print) -> dict[str, Path]:
    args.validate()
    configs = [agent_config(args, a, learner) for learner in args.learners for a in args.agents]
    for config in configs:  # every config is checked before anything compiles
        config.validate()
        validate_with_env(config)
    env = envs.make("bandit")
    num_tasks = args.num_tasks or (500 if args.quick else 2000)
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    tasks = sample_tasks(env, key, num_tasks)

    results, curves = [], []
    for name in bandit_baselines.BASELINES:
        totals = np.asarray(bandit_baselines.total_rewards(name, env, tasks,
                                                           jax.random.fold_in(key, 2)))
        mean, se = mean_se(totals)
        results.append(dict(method=name, total_reward_mean=mean, total_reward_se=se,
                            n_tasks=num_tasks, n_seeds=1))
        log(f"{name:>16}: {mean:6.2f} ± {se:.2f}")
    for config in configs:
        method = f"{config.agent}_{config.learner}"
        trained = train(config, log)
        _, _, returns = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
        mean, se = mean_se(returns.mean(0))  # per task, averaged over seeds
        results.append(dict(method=method, total_reward_mean=mean, total_reward_se=se,
                            n_tasks=num_tasks, n_seeds=config.num_seeds))
        log(f"{method:>16}: {mean:6.2f} ± {se:.2f}")
        curves += curve_rows(trained, method=method)

    out = args.out
    paths = {"results": write_csv(out / "bandit_results.csv", RESULT_COLUMNS, results),
             "curves": write_csv(out / "bandit_curves.csv", ("method", *CURVE_COLUMNS),
                                 curves)}
    from experiments.plotting import plot_curves, plot_method_bars
    paths["results_png"] = plot_method_bars(
        results, out / "bandit_results.png",
        f"20-armed bandit, {num_tasks} validation tasks (±1.96 s.e.)", "total reward")
    if curves:
        baselines = {r["method"]: r["total_reward_mean"] for r in results
                     if r["method"] in ("greedy", "thompson")}
        paths["curves_png"] = plot_curves(curves, "method", out / "bandit_curves.png",
                                          baselines)
    return paths


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
