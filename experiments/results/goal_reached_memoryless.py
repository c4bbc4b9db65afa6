"""Does a second (third, ...) episode use a goal found in the episode before, or would the
agent have reached it anyway? (A results script, not a tested module.) From the repository
root:

    python experiments/results/goal_reached_memoryless.py DIR [DIR ...] [--bins 8]

DIR holds a goal_trials run's goal_reached.csv. A policy that ignores the trial's history
reaches a goal in each episode independently given the goal, with some chance p(goal); among
the trials that reached it in episode e - 1 it reaches it again in episode e with chance
E[p_{e-1} p_e] / E[p_{e-1}], which is high for a policy that walks to the same place every
episode. That chance is estimated here with p taken per bin of the goal's angle on the
semicircle (`--bins`, over the tasks of each seed: one policy per seed), against the observed rate
after a find; the random policy, memoryless by construction, checks the estimate. Coarse
bins average p within a bin and so understate the memoryless rate; the trial's own episodes
count in its bin's p, which overstates it. Writes after_found_memoryless.csv in each DIR
(agent, episode, n_found, observed, observed_se, memoryless; episode 0: episodes 2 on,
pooled)."""
import argparse
import csv
import math
from collections import defaultdict
from pathlib import Path

import numpy as np


def read(run: Path) -> dict[str, dict[tuple[int, int], dict]]:
    """agent -> (seed, task) -> {'angle': θ, e: reached}."""
    out: dict = defaultdict(lambda: defaultdict(dict))
    with open(run / "goal_reached.csv") as f:
        for row in csv.DictReader(f):
            trial = out[row["agent"]][int(row["seed"]), int(row["task"])]
            trial["angle"] = math.atan2(float(row["goal_y"]), float(row["goal_x"]))
            trial[int(row["episode"])] = int(row["reached"])
    return out


def rows(agent: str, trials: dict, bins: int) -> list[dict]:
    episodes = max(k for trial in trials.values() for k in trial if k != "angle")
    trial_list = list(trials.values())
    # one bin per seed and angle range: each seed trained its own policy
    seeds = sorted({seed for seed, _ in trials})
    which = np.array([seeds.index(seed) * bins + min(int(t["angle"] / math.pi * bins), bins - 1)
                      for (seed, _), t in trials.items()])
    reached = np.array([[t[e] for e in range(1, episodes + 1)] for t in trial_list], float)
    p = np.stack([reached[which == b].mean(0) if (which == b).any() else
                  np.zeros(episodes) for b in range(len(seeds) * bins)])[which]
    out, pooled = [], [0, 0, 0.0]
    for e in range(1, episodes):
        found = reached[:, e - 1] > 0
        k, again = int(found.sum()), float(reached[found, e].sum())
        expected = float((p[:, e - 1] * p[:, e]).sum() / p[:, e - 1].sum())
        out.append(row(agent, e + 1, k, again, expected))
        pooled = [pooled[0] + k, pooled[1] + again, pooled[2] + expected * k]
    out.append(row(agent, 0, pooled[0], pooled[1], pooled[2] / max(pooled[0], 1)))
    return out


def row(agent: str, episode: int, k: int, again: float, memoryless: float) -> dict:
    rate = again / k if k else math.nan
    return dict(agent=agent, episode=episode, n_found=k, observed=rate,
                observed_se=math.sqrt(rate * (1 - rate) / k) if k else math.nan,
                memoryless=memoryless)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--bins", type=int, default=8)
    args = parser.parse_args()
    for run in args.runs:
        table = [r for agent, trials in read(run).items() for r in rows(agent, trials,
                                                                         args.bins)]
        with open(run / "after_found_memoryless.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(table[0]))
            writer.writeheader()
            writer.writerows(table)
        print(run)
        for r in table:
            episode = r["episode"] or "2+"
            print(f"  {r['agent']:>8} episode {episode}: {r['observed']:.1%} ± "
                  f"{r['observed_se']:.1%} of {r['n_found']} found the episode before; "
                  f"memoryless {r['memoryless']:.1%}")


if __name__ == "__main__":
    main()
