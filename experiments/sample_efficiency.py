"""Sample efficiency of the learners: the belief agent trained by PPO and by SVG(0) on
semicircle (sparse reward), validation return against env steps and against wall time.
`python -m experiments.sample_efficiency --out DIR [--quick | --preset cpu]`.

The paper's practical claim is that the belief network combines with an off-policy learner
that needs far fewer env steps than PPO. For each learner this reports, over the seeds, the
env steps (and wall time) at which the validation return first reaches `target_return`
(on the mean-over-seeds curve, and per seed), and how steady the return is over the last
`last_fraction` of the run (its largest deviation from its own mean, relative to that mean).
Wall time excludes compilation and is spread evenly over the run's chunks (every chunk does
the same work; SVG(0)'s first chunk is cheaper by its `min_replay` steps without learning).
Writes sample_efficiency_curves.csv (learner, seed, env_steps, wall_s, validation_return,
train_return, grad_norm), sample_efficiency.csv (one row per learner, see `summary`) and
sample_efficiency.png.

The default preset is sized for one GPU/TPU (3 seeds, 50M env steps per learner); `--preset
cpu` learns on a 2-core CPU (3 seeds; PPO 1.6M and SVG(0) 400k env steps per seed, about
12 minutes); `--quick` is a smoke test (1 seed, 300k / 200k env steps)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from experiments.common import (
    ExperimentArgs,
    cli,
    mean_se,
    sweep,
    validation_trials,
    write_csv,
)

CURVE_COLUMNS = ("learner", "seed", "env_steps", "wall_s", "validation_return",
                 "train_return", "grad_norm")
COLUMNS = ("learner", "n_seeds", "env_steps", "run_s", "compile_s", "steps_to_target",
           "wall_to_target", "seeds_reaching_target", "seed_steps_to_target_mean",
           "seed_steps_to_target_se", "last_mean", "last_se", "last_max_rel_dev",
           "final_return", "final_return_se", "n_tasks")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/sample_efficiency")
    env: str = "semicircle"
    agent: str = "belief"
    learners: tuple[str, ...] = ("ppo", "svg0")
    target_return: float = 90.0
    """validation return per trial to reach (semicircle: ~100 is solved, random ~2)"""
    last_fraction: float = 0.2
    """the final share of the run whose steadiness is measured"""
    svg0_replay_ratio: float | None = None
    """SVG(0)'s gradient steps per env step (default: the preset's; 0.06 in the cpu preset,
    where the learner's default 0.01 replays each transition about 6 times and learns
    semicircle far slower per env step)"""
    svg0_twin_critics: bool | None = None
    """SVG(0) with twin critics (default: the preset's)"""
    svg0_burn_in: int | None = None
    """SVG(0)'s burn-in steps before each replayed sequence (default: the preset's)"""
    curve_points: int = 20

    quick_tasks, full_tasks = 256, 1000  # final validation trials


def configs(args: Args) -> list:
    args.validate()
    if args.svg0_replay_ratio is not None and not args.svg0_replay_ratio > 0:
        raise ValueError(f"svg0_replay_ratio must be positive, got {args.svg0_replay_ratio}")
    if not 0.0 < args.last_fraction <= 1.0:
        raise ValueError(f"last_fraction must be in (0, 1], got {args.last_fraction}")
    changes = {"svg0": (("replay_ratio", args.svg0_replay_ratio),
                        ("twin_critics", args.svg0_twin_critics),
                        ("burn_in", args.svg0_burn_in))}
    out = []
    for learner in args.learners:
        config = args.config(args.env, learner, agent=args.agent, num_eval_envs=256)
        given = {name: value for name, value in changes.get(learner, ()) if value is not None}
        if given:
            config = config.replace(learner=config.learner.replace(**given))  # validates
        out.append(config)
    return out


def first_reaching(values: np.ndarray, target: float) -> int | None:
    """Index of the first entry ≥ target, or None."""
    hits = np.flatnonzero(values >= target)
    return int(hits[0]) if hits.size else None


def chunk_walls(trained) -> np.ndarray:
    """Wall time without compilation at the end of each chunk, spread evenly over them."""
    chunks = trained.env_steps.size
    return (trained.wall_s - trained.compile_s) * np.arange(1, chunks + 1) / chunks


def summary(trained, args: Args) -> dict:
    steps = trained.env_steps
    wall = chunk_walls(trained)
    curves = trained.validation_return  # [seeds, chunks]
    mean_curve = curves.mean(0)
    hit = first_reaching(mean_curve, args.target_return)
    per_seed = [first_reaching(c, args.target_return) for c in curves]
    reached = [int(steps[i]) for i in per_seed if i is not None]
    seed_mean, seed_se = mean_se(np.asarray(reached, np.float64)) if reached else (math.nan,) * 2
    last = curves[:, -max(1, round(args.last_fraction * steps.size)):]
    last_mean, last_se = mean_se(last.mean(1))
    deviation = np.abs(last.mean(0) - last_mean).max() / abs(last_mean)
    return dict(n_seeds=curves.shape[0], env_steps=int(steps[-1]), run_s=float(wall[-1]),
                compile_s=trained.compile_s,
                steps_to_target=math.nan if hit is None else int(steps[hit]),
                wall_to_target=math.nan if hit is None else float(wall[hit]),
                seeds_reaching_target=len(reached), seed_steps_to_target_mean=seed_mean,
                seed_steps_to_target_se=seed_se, last_mean=float(last_mean),
                last_se=float(last_se), last_max_rel_dev=float(deviation))


def curve_rows(trained, learner: str) -> list[dict]:
    walls = chunk_walls(trained)
    return [dict(learner=learner, seed=seed, env_steps=int(s), wall_s=float(walls[i]),
                 validation_return=float(trained.validation_return[seed, i]),
                 train_return=float(trained.train_return[seed, i]),
                 grad_norm=float(trained.grad_norm[seed, i]))
            for seed in range(trained.validation_return.shape[0])
            for i, s in enumerate(trained.env_steps)]


def run(args: Args, log=print) -> dict[str, Path]:
    runs = configs(args)
    curves: list[dict] = []

    def measure(trained, tasks, key):
        learner = trained.config.learner.name
        curves.extend(curve_rows(trained, learner))
        returns = validation_trials(trained, tasks, key)[2].mean(0)  # over seeds, per task
        final, final_se = mean_se(returns)
        return [dict(**summary(trained, args), final_return=float(final),
                     final_return_se=float(final_se), n_tasks=returns.size)]

    rows, _ = sweep([({"learner": c.learner.name}, c) for c in runs], args.tasks, args.seed,
                    measure, log)
    from experiments.plotting import plot_sample_efficiency
    title = f"{args.env}, {args.agent} agent, {runs[0].num_seeds} seed(s)"
    return {"csv": write_csv(args.out / "sample_efficiency.csv", COLUMNS, rows),
            "curves": write_csv(args.out / "sample_efficiency_curves.csv", CURVE_COLUMNS,
                                curves),
            "png": plot_sample_efficiency(curves, args.target_return,
                                          args.out / "sample_efficiency.png", title)}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
