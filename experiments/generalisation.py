"""Generalisation gap against the number of training tasks, for the belief agent on bandit,
quadruped_semicircle and numpad. `python -m experiments.generalisation --out DIR [--quick]`.

For each env and each training-set size, the agent meta-trains on that finite task set;
the gap is its return on training tasks minus its return on fresh tasks, both measured the
same way. Writes generalisation_results.csv (env, num_train_tasks, train_return,
validation_return, gap, gap_se, validation_auc, n_tasks, n_seeds), generalisation_curves.csv,
and generalisation_ENV.png per env.

The default preset is sized for one GPU/TPU (3 seeds, 50M env steps per run, 10 to 10,000
tasks); `--quick` runs on a laptop CPU in about 5 minutes (1 seed, 4 and 64 tasks; bandit 300k
env steps, numpad 200k with 100-step episodes, quadruped_semicircle 8k with 50-step episodes
and 16 envs), far from converged: a smoke test of the pipeline. `--preset cpu` (3 seeds)
learns on a 2-core CPU, one env and one training-set size per command (`--envs ENV
--num-train-tasks N`): bandit about 4 minutes at `--total-env-steps 1000000`, numpad (12M env
steps) 33 minutes and quadruped_semicircle (3M) 28 minutes per size; the README's row 4 joins
the sizes with experiments/results/combine_generalisation.py."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from experiments.common import ExperimentArgs, cli, run_sweep, write_sweep


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/generalisation")
    envs: tuple[str, ...] = ("bandit", "quadruped_semicircle", "numpad")
    num_train_tasks: tuple[int, ...] | None = None
    """training-set sizes (default: 4 64 quick, 10 100 1000 10000 full)"""
    agent: str = "belief"
    learner: str = "ppo"

    quick_tasks, full_tasks = 64, 1000  # evaluation trials on training and on fresh tasks


def variants(args: Args) -> list:
    sizes = args.num_train_tasks or ((4, 64) if args.small else (10, 100, 1000, 10_000))
    if any(n < 1 for n in sizes):
        raise ValueError(f"num_train_tasks must all be >= 1, got {list(sizes)}")
    args.validate()
    return [({"env": env, "num_train_tasks": size},
             args.config(env, args.learner, agent=args.agent, num_train_tasks=size))
            for env in args.envs for size in sizes]


def run(args: Args, log=print) -> dict[str, Path]:
    results, curves = run_sweep(variants(args), args.tasks, args.seed, log)
    from experiments.plotting import plot_gap
    paths = write_sweep(args.out, "generalisation", ("env", "num_train_tasks"), results, curves)
    for env in args.envs:
        paths[f"{env}_png"] = plot_gap([r for r in results if r["env"] == env],
                                       "num_train_tasks",
                                       args.out / f"generalisation_{env}.png", env)
    return paths


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
