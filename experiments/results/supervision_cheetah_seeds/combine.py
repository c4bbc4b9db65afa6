"""Row 3 on cheetah_vel over seeds: the three single-seed supervision runs side by side (a
results script, not a tested module). From the repository root:

    python experiments/results/supervision_cheetah_seeds/combine.py

Seed 0 ran `accurate` MJX physics (experiments/results/supervision_cheetah_cpu), seeds 1 and 2
`balanced` (…_seed1, …_seed2); the same cpu shape, 20 training tasks, 1,302,400 env steps per
variant. Writes supervision_cheetah_seeds.csv (per seed and variant, then the mean and its
standard error over seeds, and the embedding − none difference per seed and over seeds) and
supervision_cheetah_seeds.png."""
import csv
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent
RUNS = {0: RESULTS / "supervision_cheetah_cpu", 1: RESULTS / "supervision_cheetah_cpu_seed1",
        2: RESULTS / "supervision_cheetah_cpu_seed2"}
VARIANTS = ("none", "embedding")


def read() -> dict[tuple[int, str], float]:
    out = {}
    for seed, run in RUNS.items():
        with open(run / "supervision_results.csv") as f:
            for row in csv.DictReader(f):
                out[seed, row["supervision"]] = float(row["validation_return"])
    return out


def mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def main() -> None:
    returns = read()
    here = Path(__file__).resolve().parent
    rows = [dict(seed=s, supervision=v, fresh_task_return=returns[s, v])
            for s in RUNS for v in VARIANTS]
    per_variant = {v: np.array([returns[s, v] for s in RUNS]) for v in VARIANTS}
    diff = per_variant["embedding"] - per_variant["none"]
    for v in VARIANTS:
        m, se = mean_se(per_variant[v])
        rows.append(dict(seed="mean", supervision=v, fresh_task_return=m, se_over_seeds=se))
    diff_mean, diff_se = mean_se(diff)
    rows += [dict(seed=s, supervision="embedding - none", fresh_task_return=d)
             for s, d in zip(RUNS, diff, strict=True)]
    rows.append(dict(seed="mean", supervision="embedding - none", fresh_task_return=diff_mean,
                     se_over_seeds=diff_se))
    with open(here / "supervision_cheetah_seeds.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, ["seed", "supervision", "fresh_task_return", "se_over_seeds"])
        writer.writeheader()
        writer.writerows(rows)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for i, v in enumerate(VARIANTS):
        m, se = mean_se(per_variant[v])
        ax.bar(i, m, yerr=se, capsize=6, color="#bbb" if v == "none" else "#4a7")
        ax.scatter(np.full(len(RUNS), i) + np.array([-0.15, 0, 0.15]), per_variant[v],
                   color="k", zorder=3, s=12)
    ax.set_xticks(range(len(VARIANTS)), ["none (rnn)", "embedding (belief)"])
    ax.set_ylabel("fresh-task return per trial")
    ax.set_title("cheetah_vel, 3 seeds (dots), mean ± s.e.\n"
                 f"embedding − none: {diff_mean:.1f} ± {diff_se:.1f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(here / "supervision_cheetah_seeds.png", dpi=120)
    print(open(here / "supervision_cheetah_seeds.csv").read())


if __name__ == "__main__":
    main()
