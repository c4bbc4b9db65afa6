"""Quadruped goal trials: does the ant find the unseen goal, and find it again sooner in the
second episode? The belief agent (and any other `--agents`) against a uniformly random policy
on quadruped_semicircle, on the same fresh tasks.
`python -m experiments.goal_trials --out DIR [--quick | --preset cpu]`.

The goal g on the semicircle of radius 1 is never observed; the sparse reward
1[‖xy − g‖ ≤ 0.2] − ctrl_cost·‖a‖² tells the ant when it stands on it. Per episode of a trial
this reports the rate of trials in which the torso reached the goal (recovered exactly from
the reward: the indicator is reward + ctrl_cost·‖a‖²), the same rate among the trials that
had reached it in the episode before (what a second episode makes of a found goal), the
closest the torso came to the goal, how far it got from where it started, and the return,
± s.e. over tasks (each task's numbers averaged over the seeds first; the rate after a find
pools seeds and tasks, binomial s.e.). Writes goal_summary.csv (agent, episode,
reach_rate_mean, reach_rate_se, reach_after_found_mean, reach_after_found_se, n_found,
min_distance_mean, min_distance_se, travel_mean, travel_se, return_mean, return_se, n_tasks,
n_seeds, train_s), goal_trials.csv (agent, trial, t, episode, x, y, goal_x, goal_y,
belief_x, belief_y; seed 0, the first `plot_trials` tasks), goal_reached.csv (agent, seed,
task, goal_x, goal_y, episode, reached: every trial, episode by episode), goal_belief.csv (agent,
episode, found, n, belief_error_mean/_se, belief_std_mean/_se: the belief at each episode's
end, its mean's distance from the goal and its std, in the trials that did and did not reach
the goal in that episode; agents with a belief), goal_curves.csv (agent,
env_steps, split, return_mean, return_band: each agent's learning curves, 95% bands over
seeds) and goal_trials.png: the torso's path in each episode against the goal, with the
belief's estimate of the goal. With `--given-goal-std S [S ...]` each belief agent is measured
again on the same tasks for each S, its policy given the belief N(goal, S²) instead of its own
(AGENT_given_goal_S): whether the policy would act on a belief that had found the goal.

The default preset is sized for one GPU/TPU; `--preset cpu` trains in the
quadruped_semicircle cpu shape (64 envs, 200-step episodes; 3 vmapped seeds unless
--num-seeds); `--quick` (16 envs, 50-step episodes) is a smoke test."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import ClassVar

import jax
import numpy as np

from belief_jax.stats import mean_se
from experiments.common import (
    ExperimentArgs,
    check_positive,
    cli,
    curve_rows,
    per_episode,
    random_policy_trials,
    trials_after_training,
    with_train_time,
    write_csv,
    write_trials,
)

ENV = "quadruped_semicircle"
SUMMARY_COLUMNS = ("agent", "episode", "reach_rate_mean", "reach_rate_se",
                   "reach_after_found_mean", "reach_after_found_se", "n_found",
                   "min_distance_mean", "min_distance_se", "travel_mean", "travel_se",
                   "return_mean", "return_se", "n_tasks", "n_seeds", "train_s")
REACHED_COLUMNS = ("agent", "seed", "task", "goal_x", "goal_y", "episode", "reached")
BELIEF_COLUMNS = ("agent", "episode", "found", "n", "belief_error_mean", "belief_error_se",
                  "belief_std_mean", "belief_std_se")
TRACE_COLUMNS = ("agent", "trial", "t", "episode", "x", "y", "goal_x", "goal_y", "belief_x",
                 "belief_y")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/goal_trials")
    agents: tuple[str, ...] = ("belief",)
    learner: str = "ppo"
    plot_trials: int = 4
    """trials drawn in the figure (and written to goal_trials.csv)"""
    training_reward: str | None = None
    """the reward the learner learns from in meta-training: shaped (the sparse reward plus
    the torso's speed towards the goal, potential-based; see envs.quadruped_semicircle), or
    None: the sparse reward itself. Every reported return and rate is the sparse task's."""
    episodes_per_trial: int | None = None
    """episodes per trial in training and in the measured trials (None: the env's 2)"""
    given_goal_std: tuple[float, ...] = ()
    """also measure each belief agent, once per std, with its policy given the belief
    N(true goal, std²) per coordinate in place of its belief network's (reported as
    AGENT_given_goal_STD): does the policy act on a belief that knows the goal? (): off"""

    quick_tasks, full_tasks = 64, 256  # evaluation trials
    cpu_steps: ClassVar[dict[str, int]] = {"ppo": 8_000_000}
    """per agent with --preset cpu, in the quadruped_semicircle cpu shape (other learners: the
    body's cpu preset, SVG(0) 1M)"""


def configs(args: Args) -> list:
    args.validate()
    check_positive(args, "plot_trials", "episodes_per_trial")
    if not all(std > 0 for std in args.given_goal_std):
        raise ValueError(f"given_goal_std must all be > 0, got {list(args.given_goal_std)}")
    out = [args.config(ENV, args.learner, agent=agent, episodes_per_trial=args.episodes_per_trial)
           for agent in args.agents]
    if args.training_reward is None:
        return out
    return [c.replace(env_kwargs={**c.env_kwargs, "training_reward": args.training_reward})
            for c in out]


def summary_rows(agent: str, rewards: np.ndarray, reached: np.ndarray, xy: np.ndarray,
                 goals: np.ndarray, n_seeds: int) -> list[dict]:
    """Per-episode goal rate, closest approach, travel and return from [S, T, N] rewards,
    [S, episodes, N] `episode_reached`, [S, T, N, 2] torso positions (before each step) and
    [N, 2] goals."""
    distance = np.linalg.norm(xy - goals[None, None], axis=-1)
    s, episodes, n = reached.shape
    length = rewards.shape[1] // episodes
    start = np.repeat(xy[:, ::length], length, axis=1)  # each episode's first position
    travel = np.linalg.norm(xy - start, axis=-1)
    columns = {"reach_rate": [mean_se(rate) for rate in reached.mean(0)],
               "min_distance": per_episode(distance, episodes, np.min),
               "travel": per_episode(travel, episodes, np.max),
               "return": per_episode(rewards, episodes, np.sum)}
    rows = []
    for e in range(episodes):
        row = dict(agent=agent, episode=e + 1, n_tasks=n, n_seeds=n_seeds,
                   **after_found(reached[:, e - 1] if e else None, reached[:, e]))
        for name, values in columns.items():
            row[f"{name}_mean"], row[f"{name}_se"] = (float(v) for v in values[e])
        rows.append(row)
    return rows


def goal_indicator(rewards: np.ndarray, actions: np.ndarray, env) -> np.ndarray:
    """1.0 where the torso stood on the goal: the sparse reward with its control cost added
    back ([S, T, N] from [S, T, N] rewards and [S, T, N, A] actions)."""
    ctrl = env.ctrl_cost * np.sum(np.clip(actions, -1.0, 1.0) ** 2, axis=-1)
    return (rewards + ctrl > 0.5).astype(np.float64)


def episode_reached(rewards: np.ndarray, actions: np.ndarray, env, episodes: int
                    ) -> np.ndarray:
    """[S, episodes, N]: whether each episode of each trial reached the goal, from [S, T, N]
    rewards and [S, T, N, A] actions."""
    s, t, n = rewards.shape
    on_goal = goal_indicator(rewards, actions, env)
    return on_goal.reshape(s, episodes, t // episodes, n).max(2)


def reached_rows(agent: str, reached: np.ndarray, goals: np.ndarray) -> list[dict]:
    """Per seed, task and episode: whether the goal was reached, with the goal, so that the
    episodes of a trial can be compared goal by goal (goal_reached.csv)."""
    s, episodes, n = reached.shape
    return [dict(agent=agent, seed=i, task=j, goal_x=float(goals[j, 0]),
                 goal_y=float(goals[j, 1]), episode=e + 1, reached=int(reached[i, e, j]))
            for i in range(s) for j in range(n) for e in range(episodes)]


def belief_rows(agent: str, reached: np.ndarray, belief: np.ndarray, goals: np.ndarray
                ) -> list[dict]:
    """Where the belief stands at each episode's last step (having seen every reward of the
    episode but the last), split by whether the episode reached the goal: the distance of its
    mean from the goal and its std (the geometric mean of the two coordinates'), ± s.e. over
    the (seed, task) trials. From [S, episodes, N] `episode_reached` and the Gaussian belief's
    [S, T, N, 4] parameters [mean, log_std]."""
    episodes = reached.shape[1]
    length = belief.shape[1] // episodes
    last = belief[:, length - 1::length]  # [S, episodes, N, 4]
    error = np.linalg.norm(last[..., :2] - goals[None, None], axis=-1)
    std = np.exp(last[..., 2:4].mean(-1))
    rows = []
    for e in range(episodes):
        for found in (1, 0):
            mask = reached[:, e] == found
            if mask.any():
                (err, err_se), (sd, sd_se) = (mean_se(x[:, e][mask]) for x in (error, std))
                rows.append(dict(agent=agent, episode=e + 1, found=found, n=int(mask.sum()),
                                 belief_error_mean=float(err), belief_error_se=float(err_se),
                                 belief_std_mean=float(sd), belief_std_se=float(sd_se)))
    return rows


def after_found(before: np.ndarray | None, now: np.ndarray) -> dict:
    """The rate of reaching the goal now among the (seed, task) trials that reached it the
    episode before (None: there was none), with its binomial s.e.; NaN where none had."""
    found = np.zeros(now.shape, bool) if before is None else before.astype(bool)
    k = int(found.sum())
    if k == 0:
        return dict(reach_after_found_mean=math.nan, reach_after_found_se=math.nan, n_found=0)
    p = float(now[found].mean())
    return dict(reach_after_found_mean=p, reach_after_found_se=math.sqrt(p * (1 - p) / k),
                n_found=k)


def trace_rows(agent: str, xy: np.ndarray, goals: np.ndarray, belief, episode_length: int,
               num_trials: int) -> list[dict]:
    """Seed 0's first `num_trials` trials, step by step."""
    rows = []
    for trial in range(min(num_trials, xy.shape[2])):
        for t in range(xy.shape[1]):
            bx = by = float("nan")
            if belief is not None:
                bx, by = (float(v) for v in belief[0, t, trial, :2])
            rows.append(dict(agent=agent, trial=trial, t=t, episode=t // episode_length + 1,
                             x=float(xy[0, t, trial, 0]), y=float(xy[0, t, trial, 1]),
                             goal_x=float(goals[trial, 0]), goal_y=float(goals[trial, 1]),
                             belief_x=bx, belief_y=by))
    return rows


def measured(agent: str, rewards: np.ndarray, actions: np.ndarray, xy: np.ndarray, belief,
             goals: np.ndarray, trial_env, n_seeds: int, plot_trials: int,
             gaussian_belief: bool = False) -> dict[str, list[dict]]:
    """One policy's summary, goal_reached and trace rows from its [S, T, N] trials, and its
    goal_belief rows where `belief` holds a Gaussian belief's parameters."""
    env = trial_env.env
    reached = episode_reached(rewards, actions, env, trial_env.episodes_per_trial)
    tables = {"summary": summary_rows(agent, rewards, reached, xy, goals, n_seeds),
              "reached": reached_rows(agent, reached, goals),
              "trials": trace_rows(agent, xy, goals, belief, env.episode_length, plot_trials)}
    if gaussian_belief:
        tables["belief"] = belief_rows(agent, reached, belief, goals)
    return tables


def from_transitions(transitions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rewards [S, T, N], actions [S, T, N, A] and torso positions [S, T, N, 2]."""
    return (np.asarray(transitions.reward, np.float64),
            np.asarray(transitions.action, np.float64),
            np.asarray(transitions.inputs.obs[..., :2], np.float64))


def agent_tables(args: Args, trained, tasks, transitions, belief, key: jax.Array
                 ) -> list[dict[str, list[dict]]]:
    """The trained agent's tables, and with --given-goal-std those of the same agent given
    the goal as its belief (the same tasks and key as its own trials: a paired comparison)."""
    config, agent = trained.config, trained.trainer.agent
    trials = (np.asarray(tasks.goal, np.float64), trained.trainer.eval_env, config.num_seeds,
              args.plot_trials)
    gaussian = belief is not None and agent.task_info_spec.kind == "gaussian"
    out = [measured(config.agent, *from_transitions(transitions), belief, *trials, gaussian)]
    for std in args.given_goal_std if agent.traits.has_belief else ():
        _, given, _ = trained.trials_given_task(std)(trained.params, tasks,
                                                     jax.random.fold_in(key, 3))
        out.append(measured(f"{config.agent}_given_goal_{std:g}", *from_transitions(given),
                            None, *trials))
    for tables in out:
        tables["summary"] = with_train_time(tables["summary"], trained)
    return out


def random_tables(args: Args, trained, tasks, key: jax.Array) -> dict[str, list[dict]]:
    """The uniformly random policy on the same tasks."""
    trial_env = trained.trainer.eval_env
    env = trial_env.env
    rewards, actions, obs = random_policy_trials(
        trial_env, env.action_space, tasks, jax.random.fold_in(key, 4),
        trial_env.episodes_per_trial * env.episode_length)
    return measured("random", rewards, actions, obs[..., :2], None,
                    np.asarray(tasks.goal, np.float64), trial_env, 1, args.plot_trials)


def run(args: Args, log=print) -> dict[str, Path]:
    runs = configs(args)
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    tables = {name: [] for name in ("summary", "reached", "trials", "belief", "curves")}
    for trained, tasks, transitions, belief in trials_after_training(runs, args.tasks, key, log):
        agent = trained.config.agent
        tables["curves"] += curve_rows(trained, agent=agent)
        new = ([] if tables["summary"] else [random_tables(args, trained, tasks, key)]) + \
            agent_tables(args, trained, tasks, transitions, belief, key)
        for part in new:
            for name, rows in part.items():
                tables[name] += rows
        log("  " + "; ".join(f"{r['agent']} episode {r['episode']}: goal reached in "
                             f"{r['reach_rate_mean']:.1%} ± {r['reach_rate_se']:.1%} "
                             f"({r['reach_after_found_mean']:.1%} of {r['n_found']} that had "
                             "found it the episode before), closest "
                             f"{r['min_distance_mean']:.2f} m" for r in tables["summary"]
                             if r["agent"] == "random" or r["agent"].startswith(agent)))
    from experiments.plotting import plot_goal_trials
    steps = runs[0].trained_env_steps
    written = write_trials(args.out, "goal", SUMMARY_COLUMNS, tables["summary"], TRACE_COLUMNS,
                           tables["trials"], tables["curves"])
    written["reached"] = write_csv(args.out / "goal_reached.csv", REACHED_COLUMNS,
                                   tables["reached"])
    if tables["belief"]:
        written["belief"] = write_csv(args.out / "goal_belief.csv", BELIEF_COLUMNS,
                                      tables["belief"])
    return {**written,
            "png": plot_goal_trials(tables["trials"], args.out / "goal_trials.png",
                                    f"{ENV}, {args.learner}, {steps:,} env steps")}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
