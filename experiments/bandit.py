"""Bandit experiment: trained agents (rnn / aux_head / belief × ppo / svg0; the belief agent
once per policy head, factored and generic) against the classical baselines of
`experiments.bandit_baselines` (Gittins among them) on the same validation tasks, plus
train-vs-validation curves on a finite training task set (`--num-train-tasks 0`: fresh
tasks). `python -m experiments.bandit --out DIR [--quick]`.

Writes to DIR: bandit_results.csv (method, total_reward_mean, total_reward_se, n_tasks,
n_seeds; one row per method, baselines first), bandit_curves.csv (method, env_steps, split,
return_mean, return_band), bandit_results.png and bandit_curves.png (greedy, Thompson,
Bayes-UCB and Gittins as reference lines).

The default preset is sized for one GPU/TPU (50M env steps per run, 3 seeds, 2,000
validation tasks); `--quick` runs on a laptop CPU in about 8 minutes (1 seed; ppo 600k env
steps with 64 envs, svg0 200k; 500 validation tasks), far too short for most agents to match
the full runs. The cpu budget of the README's table: `--agents belief --learners ppo
--num-train-tasks 0 --total-env-steps 8000000 --num-envs 64 --num-seeds 1 --num-tasks 2000`
(about 28 minutes). The total reward ± s.e. is over validation tasks (each task's reward
averaged over seeds)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

import envs
from belief_jax import learners
from belief_jax.validation import choice
from experiments import bandit_baselines
from experiments.common import (
    CURVE_COLUMNS,
    ExperimentArgs,
    cli,
    mean_se,
    sample_tasks,
    sweep,
    validation_trials,
    write_csv,
)

CURVE_BASELINES = ("thompson", "greedy", "bayes_ucb", "gittins")  # reference lines
HEADS = ("factored", "generic")  # the belief agent's policy heads, one run each
RESULT_COLUMNS = ("method", "total_reward_mean", "total_reward_se", "n_tasks", "n_seeds")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/bandit")
    agents: tuple[str, ...] = ("rnn", "aux_head", "belief")
    learners: tuple[str, ...] = ("ppo", "svg0")
    heads: tuple[str, ...] = ("factored", "generic")
    """policy heads of the belief agent, one run each (method belief_LEARNER for the
    factored head of the preset, belief_generic_LEARNER for the generic MLP)"""
    num_train_tasks: int = 1000
    """size of the finite training task set (0 = a fresh task every trial)"""

    quick_tasks, full_tasks = 500, 2000  # validation tasks

    def validate(self) -> None:
        super().validate()
        if self.num_train_tasks < 0:
            raise ValueError(f"num_train_tasks must be >= 0, got {self.num_train_tasks}")
        for head in self.heads:
            choice("heads", head, HEADS)


# quick: env steps per learner; PPO with 64 envs gets 4x the updates per env step of the
# preset's 256
_QUICK_STEPS = {"ppo": 600_000, "svg0": 200_000}
_QUICK_ENVS = {"ppo": 64}


def agent_config(args: Args, agent: str, learner: str, head: str = "factored"):
    """The bandit preset for one (agent, learner), sized so each run logs `curve_points`;
    the belief agent with the given policy head (the other agents have only the generic)."""
    learners.config_type(learner)  # an unknown learner: one line naming the valid ones
    quick = lambda table, small=False: (table.get(learner) if args.size == "quick"
                                        or (small and args.small) else None)
    config = args.config("bandit", learner, args.total_env_steps or quick(_QUICK_STEPS),
                         args.num_envs or quick(_QUICK_ENVS, small=True), agent=agent,
                         num_train_tasks=args.num_train_tasks, num_eval_envs=256)
    factored = agent == "belief" and head == "factored"
    return config.replace(network=dataclasses.replace(
        config.network, policy_head="factored" if factored else "generic"))


def variants_of(args: Args) -> list[tuple[dict, object]]:
    variants = []
    for learner in args.learners:
        for agent in args.agents:
            heads = args.heads if agent == "belief" else ("generic",)
            for head in heads:
                name = f"{agent}_generic" if agent == "belief" and head == "generic" else agent
                variants.append(({"method": f"{name}_{learner}"},
                                 agent_config(args, agent, learner, head)))
    return variants


def run(args: Args, log=print) -> dict[str, Path]:
    args.validate()
    variants = variants_of(args)
    env = envs.make("bandit")
    num_tasks = args.tasks
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

    def measure(trained, tasks, key):
        _, _, returns = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
        mean, se = mean_se(returns.mean(0))  # per task, averaged over seeds
        return [dict(total_reward_mean=float(mean), total_reward_se=float(se),
                     n_tasks=num_tasks, n_seeds=trained.config.num_seeds)]

    trained_rows, curves = sweep(variants, num_tasks, args.seed, measure, log)
    results += trained_rows

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
                     if r["method"] in CURVE_BASELINES}
        paths["curves_png"] = plot_curves(curves, "method", out / "bandit_curves.png",
                                          baselines)
    return paths


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
