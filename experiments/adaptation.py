"""Adaptation within a trial: the belief agent against the posterior-sampling (PEARL-style)
agent, return per episode of a multi-episode trial on the same fresh tasks.
`python -m experiments.adaptation --out DIR [--quick]`.

Both train with SVG(0) (the PEARL-style agent is off-policy) on semicircle with
`episodes_per_trial` episodes per trial. The belief agent updates its belief every step;
the PEARL-style agent samples a task latent from its context posterior once per episode, so
it can only change behaviour between episodes. The paper reports the belief agent adapting
much faster: a high return already in the first episode. Writes adaptation.csv (agent,
episode, return_mean, return_se, n_tasks, n_seeds) and adaptation.png.

The default preset is sized for one GPU/TPU (3 seeds, 50M env steps per agent); `--quick`
runs on a laptop CPU in about 4 minutes (1 seed, 600k env steps per agent), far too short
for either agent to solve the task: a smoke test."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from belief_jax.train import validate
from experiments.common import (
    check_positive,
    cli,
    mean_se,
    sample_tasks,
    sized,
    train,
    validation_trials,
    write_csv,
)
from experiments.presets import experiment_steps, preset

COLUMNS = ("agent", "episode", "return_mean", "return_se", "n_tasks", "n_seeds")


@dataclasses.dataclass(frozen=True)
class Args:
    out: Path = Path("runs/adaptation")
    quick: bool = False
    """CPU-sized preset (minutes); without it the preset is sized for one GPU/TPU"""
    env: str = "semicircle"
    agents: tuple[str, ...] = ("belief", "pearl")
    episodes_per_trial: int = 3
    total_env_steps: int | None = None
    num_envs: int | None = None
    num_seeds: int | None = None
    num_tasks: int | None = None
    """evaluation trials (default: 256 quick, 1000 full)"""
    seed: int = 0
    overwrite: bool = False
    """replace results (CSV/PNG) already in --out; without it such an --out is refused"""


def configs(args: Args) -> list:
    check_positive(args, "episodes_per_trial", "total_env_steps", "num_envs", "num_seeds",
                   "num_tasks")
    base = preset(args.env, "svg0", args.quick)
    # quick: 3x the sweeps' budget, since adaptation is only visible once the task is learnt
    steps = args.total_env_steps or (3 * experiment_steps(args.env, "svg0", args.quick)
                                     if args.quick else base.total_env_steps)
    out = []
    for agent in args.agents:
        config = sized(base, steps, 10, args.num_envs, agent=agent, seed=args.seed,
                       episodes_per_trial=args.episodes_per_trial,
                       num_seeds=args.num_seeds or (1 if args.quick else 3))
        validate(config)
        out.append(config)
    return out


def episode_returns(rewards: np.ndarray, episodes: int) -> np.ndarray:
    """[S, T, N] rewards of whole trials → [S, episodes, N] return per episode."""
    s, t, n = rewards.shape
    return rewards.reshape(s, episodes, t // episodes, n).sum(2)


def run(args: Args, log=print) -> dict[str, Path]:
    runs = configs(args)
    env = validate(runs[0])
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    tasks = sample_tasks(env, key, args.num_tasks or (256 if args.quick else 1000))
    rows = []
    for config in runs:
        trained = train(config, log)
        _, transitions, _ = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
        per_episode = episode_returns(np.asarray(transitions.reward, np.float64),
                                      args.episodes_per_trial).mean(0)  # over seeds
        for episode, returns in enumerate(per_episode, start=1):
            mean, se = mean_se(returns)
            rows.append(dict(agent=config.agent, episode=episode, return_mean=mean,
                             return_se=se, n_tasks=returns.size, n_seeds=config.num_seeds))
        log(f"  {config.agent}: " + ", ".join(f"episode {r['episode']} {r['return_mean']:.2f}"
                                              for r in rows if r["agent"] == config.agent))
    from experiments.plotting import plot_adaptation
    return {"csv": write_csv(args.out / "adaptation.csv", COLUMNS, rows),
            "png": plot_adaptation(rows, args.out / "adaptation.png",
                                   f"{args.env}, SVG(0), {runs[0].total_env_steps:,} env steps")}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
