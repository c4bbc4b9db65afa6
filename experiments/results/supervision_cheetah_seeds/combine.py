"""Row 3 on cheetah_vel over seeds: the single-seed supervision runs side by side (a results
script, not a tested module). From the repository root:

    python experiments/results/supervision_cheetah_seeds/combine.py

Seeds 0-7 ran `balanced` MJX physics (…_seed0_balanced, …_seed1 to …_seed7; seeds 3 to 6
on 2026-12-07, seed 7 on 2026-12-08 on another CPU); the first seed-0 run
(experiments/results/supervision_cheetah_cpu) ran `accurate` and is listed apart, outside
the means. The same cpu shape, 20 training tasks, 1,302,400 env steps per variant.
Writes supervision_cheetah_seeds.csv (per seed and variant, then the mean and its standard
error over the `balanced` seeds, and the embedding − none difference per seed and over seeds)
and supervision_cheetah_seeds.png."""
import csv
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = Path(__file__).resolve().parent.parent
RUNS = {"0": RESULTS / "supervision_cheetah_cpu_seed0_balanced",
        "1": RESULTS / "supervision_cheetah_cpu_seed1",
        "2": RESULTS / "supervision_cheetah_cpu_seed2",
        "3": RESULTS / "supervision_cheetah_cpu_seed3",
        "4": RESULTS / "supervision_cheetah_cpu_seed4",
        "5": RESULTS / "supervision_cheetah_cpu_seed5",
        "6": RESULTS / "supervision_cheetah_cpu_seed6",
        "7": RESULTS / "supervision_cheetah_cpu_seed7"}
APART = {"0 (accurate)": RESULTS / "supervision_cheetah_cpu"}
VARIANTS = ("none", "embedding")


def read(runs: dict[str, Path]) -> dict[tuple[str, str], float]:
    out = {}
    for seed, run in runs.items():
        with open(run / "supervision_results.csv") as f:
            for row in csv.DictReader(f):
                out[seed, row["supervision"]] = float(row["validation_return"])
    return out


def mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / np.sqrt(x.size))


def main() -> None:
    returns, apart = read(RUNS), read(APART)
    here = Path(__file__).resolve().parent
    rows = [dict(seed=s, supervision=v, fresh_task_return=r[s, v])
            for r, seeds in ((returns, RUNS), (apart, APART)) for s in seeds for v in VARIANTS]
    per_variant = {v: np.array([returns[s, v] for s in RUNS]) for v in VARIANTS}
    for v in VARIANTS:
        m, se = mean_se(per_variant[v])
        rows.append(dict(seed="mean", supervision=v, fresh_task_return=m, se_over_seeds=se))
    diff = per_variant["embedding"] - per_variant["none"]
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
    offsets = np.linspace(-0.15, 0.15, len(RUNS))
    for i, v in enumerate(VARIANTS):
        m, se = mean_se(per_variant[v])
        ax.bar(i, m, yerr=se, capsize=6, color="#bbb" if v == "none" else "#4a7")
        ax.scatter(i + offsets, per_variant[v], color="k", zorder=3, s=12)
        ax.scatter([i + 0.3], [apart[s, v] for s in APART], facecolors="none",
                   edgecolors="k", zorder=3, s=18, label="seed 0, accurate" if i == 0 else None)
    ax.set_xticks(range(len(VARIANTS)), ["none (rnn)", "embedding (belief)"])
    ax.set_ylabel("fresh-task return per trial")
    ax.set_title(f"cheetah_vel, {len(RUNS)} seeds on balanced physics (dots), mean ± s.e.\n"
                 f"embedding − none: {diff_mean:.1f} ± {diff_se:.1f}", fontsize=9)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(here / "supervision_cheetah_seeds.png", dpi=120)
    print(open(here / "supervision_cheetah_seeds.csv").read())


if __name__ == "__main__":
    main()
