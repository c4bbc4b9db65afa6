"""Role of supervision: the belief agent's belief network trained on no privileged
information, on the task id, or on the task embedding, on cheetah_vel and semicircle.
`python -m experiments.supervision --out DIR [--quick]`.

`none` is the recurrent `rnn` agent of the same size (a belief network without a target
has nothing to learn from; the paper's "no supervision" baseline is the plain recurrent
agent); `task_id` predicts the index of the task in the finite training set (a categorical
over `num_train_tasks` ids, so it cannot say anything about a fresh task's id); `embedding`
predicts the env's task embedding (cheetah_vel: the target velocity; semicircle: the goal).
All variants train on the same finite task set. Writes supervision_results.csv (env,
supervision, train_return, validation_return, gap, gap_se, validation_auc, n_tasks,
n_seeds), supervision_curves.csv and one supervision_ENV.png and curves PNG per env.

The default preset is sized for one GPU/TPU (3 seeds, 50M env steps per run); `--quick` runs
on a laptop CPU in a few minutes (1 seed; semicircle 300k env steps, cheetah_vel 16k with
50-step episodes and 16 envs), far too short for cheetah_vel to learn: a smoke test."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from experiments.common import ExperimentArgs, check_positive, cli, run_sweep, write_sweep

SUPERVISION = ("none", "task_id", "embedding")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/supervision")
    envs: tuple[str, ...] = ("cheetah_vel", "semicircle")
    supervision: tuple[str, ...] = SUPERVISION
    learner: str = "ppo"
    num_train_tasks: int | None = None
    """default: 20 quick, 100 full"""

    quick_tasks, full_tasks = 64, 1000  # evaluation trials on training and on fresh tasks


def variants(args: Args) -> list:
    for name in args.supervision:
        if name not in SUPERVISION:
            raise ValueError(f"supervision: {name!r} is not valid; choose from "
                             f"{list(SUPERVISION)}")
    args.validate()
    check_positive(args, "num_train_tasks")
    out = []
    for env in args.envs:
        base = args.base(env, args.learner)
        for name in args.supervision:
            network = dataclasses.replace(base.network, task_info_target="task_id"
                                          if name == "task_id" else "embedding")
            config = args.config(env, args.learner, agent="rnn" if name == "none" else
                                 "belief", network=network,
                                 num_train_tasks=args.num_train_tasks or (20 if args.small
                                                                          else 100))
            out.append(({"env": env, "supervision": name}, config))
    return out


def run(args: Args, log=print) -> dict[str, Path]:
    results, curves = run_sweep(variants(args), args.tasks, args.seed, log)
    from experiments.plotting import plot_curves, plot_gap
    paths = write_sweep(args.out, "supervision", ("env", "supervision"), results, curves)
    for env in args.envs:
        paths[f"{env}_png"] = plot_gap([r for r in results if r["env"] == env], "supervision",
                                       args.out / f"supervision_{env}.png", env)
        paths[f"{env}_curves_png"] = plot_curves(
            [c for c in curves if c["env"] == env], "supervision",
            args.out / f"supervision_{env}_curves.png")
    return paths


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
