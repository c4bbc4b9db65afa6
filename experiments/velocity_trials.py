"""Cheetah velocity trials: the belief agent against the oracle (the `rnn` agent given v* as
an input) and a uniformly random policy on cheetah_vel, on the same fresh tasks.
`python -m experiments.velocity_trials --out DIR [--quick]`.

The task v* ~ U[0, 3] m/s is never observed; the belief agent must infer it from the reward
in the first episode and run at it from the start of the second. Per episode of a trial this
reports the mean tracking error |v_x − v*| (recovered exactly from the reward, −|v_x − v*| −
ctrl_cost·‖a‖²) and the return, ± s.e. over tasks (each task's numbers averaged over the
seeds first). Writes velocity_summary.csv (agent, episode, abs_error_mean, abs_error_se,
return_mean, return_se, n_tasks, n_seeds), velocity_trials.csv (agent, trial, t, episode,
v_target, v_x, belief_v, belief_std; seed 0, the first `plot_trials` tasks; v_x is the
torso's forward velocity at each step's start, qvel[0]), velocity_curves.csv (agent,
env_steps, split, return_mean, return_band: each agent's learning curves, 95% bands over
seeds) and velocity_trials.png: v_x over the trial against v*, with the belief's estimate of
v* (mean ± std) beside it.

The default preset is sized for one GPU/TPU; `--preset cpu` trains each agent for 5M env
steps in the cheetah_vel cpu shape (64 envs, 200-step episodes; 3 vmapped seeds unless
--num-seeds: one seed took ~28 minutes per agent on a 2-core CPU); `--quick` (16 envs,
50-step episodes, 16k env steps) is a smoke test: neither agent learns the task at that
budget."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import jax
import numpy as np

from experiments.common import (
    ExperimentArgs,
    check_positive,
    cli,
    curve_rows,
    per_episode,
    random_policy_trials,
    trials_after_training,
    with_train_time,
    write_trials,
)

ENV = "cheetah_vel"
SUMMARY_COLUMNS = ("agent", "episode", "abs_error_mean", "abs_error_se", "return_mean",
                   "return_se", "n_tasks", "n_seeds", "train_s")
TRACE_COLUMNS = ("agent", "trial", "t", "episode", "v_target", "v_x", "belief_v",
                 "belief_std")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/velocity_trials")
    agents: tuple[str, ...] = ("belief", "oracle")
    learner: str = "ppo"
    plot_trials: int = 4
    """trials drawn in the figure (and written to velocity_trials.csv)"""

    quick_tasks, full_tasks = 64, 256  # evaluation trials
    cpu_steps: ClassVar[dict[str, int]] = {"ppo": 5_000_000}
    """per agent with --preset cpu, in the cheetah_vel cpu shape (~28 minutes per agent and
    seed here)"""


def configs(args: Args) -> list:
    args.validate()
    check_positive(args, "plot_trials")
    return [args.config(ENV, args.learner, agent=agent) for agent in args.agents]


def summary_rows(agent: str, rewards: np.ndarray, actions: np.ndarray, env, episodes: int,
                 n_seeds: int) -> list[dict]:
    """Per-episode tracking error and return from [S, T, N] rewards and [S, T, N, A]
    actions."""
    ctrl = env.ctrl_cost * np.sum(np.clip(actions, -1.0, 1.0) ** 2, axis=-1)
    errors = per_episode(-(rewards + ctrl), episodes, np.mean)
    returns = per_episode(rewards, episodes, np.sum)
    return [dict(agent=agent, episode=e, abs_error_mean=err[0], abs_error_se=err[1],
                 return_mean=ret[0], return_se=ret[1], n_tasks=rewards.shape[2],
                 n_seeds=n_seeds)
            for e, (err, ret) in enumerate(zip(errors, returns, strict=True), start=1)]


def trace_rows(agent: str, transitions, belief, q_size: int, episode_length: int,
               num_trials: int) -> list[dict]:
    """Seed 0's first `num_trials` trials, step by step."""
    obs = np.asarray(transitions.inputs.obs[0])       # [T, N, obs]
    target = np.asarray(transitions.task_info[0])[..., 0]
    rows = []
    for trial in range(min(num_trials, obs.shape[1])):
        for t in range(obs.shape[0]):
            mean = std = float("nan")
            if belief is not None:
                mean = float(belief[0, t, trial, 0])
                std = float(np.exp(belief[0, t, trial, 1]))
            rows.append(dict(agent=agent, trial=trial, t=t, episode=t // episode_length + 1,
                             v_target=float(target[t, trial]),
                             v_x=float(obs[t, trial, q_size - 1]), belief_v=mean,
                             belief_std=std))
    return rows


def run(args: Args, log=print) -> dict[str, Path]:
    runs = configs(args)
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    summary, traces, curves = [], [], []
    for trained, tasks, transitions, belief in trials_after_training(runs, args.tasks, key, log):
        config, trial_env = trained.config, trained.trainer.eval_env
        curves += curve_rows(trained, agent=config.agent)
        env = trial_env.env
        episodes = trial_env.episodes_per_trial
        if not summary:
            rewards, actions, _ = random_policy_trials(trial_env, env.action_space, tasks,
                                                       jax.random.fold_in(key, 4),
                                                       episodes * env.episode_length)
            summary += summary_rows("random", rewards, actions, env, episodes, 1)
        summary += with_train_time(summary_rows(
            config.agent, np.asarray(transitions.reward, np.float64),
            np.asarray(transitions.action, np.float64), env, episodes, config.num_seeds),
            trained)
        traces += trace_rows(config.agent, transitions, belief, env.body.q_size,
                             env.episode_length, args.plot_trials)
        log("  " + "; ".join(f"{r['agent']} episode {r['episode']}: |v_x - v*| "
                             f"{r['abs_error_mean']:.2f} ± {r['abs_error_se']:.2f}"
                             for r in summary if r["agent"] in ("random", config.agent)))
    from experiments.plotting import plot_velocity_trials
    steps = runs[0].trained_env_steps
    written = write_trials(args.out, "velocity", SUMMARY_COLUMNS, summary, TRACE_COLUMNS, traces,
                           curves)
    return {**written,
            "png": plot_velocity_trials(traces, args.out / "velocity_trials.png",
                                        f"{ENV}, {args.learner}, {steps:,} env steps")}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
