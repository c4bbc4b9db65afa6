"""Row 4 on numpad at the cpu preset's full 12M env steps: the three training-set sizes ran as
three commands, one after the other (a results script, not a tested module). From the
repository root:

    python experiments/results/generalisation_numpad_cpu_12M/combine.py

Each tasks_N/ holds the output of
`python -m experiments.generalisation --preset cpu --envs numpad --num-train-tasks N
--out experiments/results/generalisation_numpad_cpu_12M/tasks_N` (3 vmapped seeds); run one at
a time, a stopped session keeps the sizes already done. Writes generalisation_results.csv and
generalisation_curves.csv (the rows of every size, as one run of the three would) and
generalisation_numpad.png beside this script."""
import csv
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))  # the repository root, for experiments.plotting

from experiments.plotting import plot_gap  # noqa: E402

SIZES = (4, 16, 64)


def read(name: str) -> tuple[list[str], list[dict]]:
    columns, rows = [], []
    for size in SIZES:
        with open(HERE / f"tasks_{size}" / f"generalisation_{name}.csv") as f:
            reader = csv.DictReader(f)
            columns, rows = reader.fieldnames, rows + list(reader)
    return columns, rows


def write(name: str, columns: list[str], rows: list[dict]) -> None:
    with open(HERE / f"generalisation_{name}.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns)
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    for name in ("results", "curves"):
        write(name, *read(name))
    _, results = read("results")
    numeric = [{k: (v if k == "env" else float(v)) for k, v in r.items()} for r in results]
    for r in numeric:
        r["num_train_tasks"] = int(r["num_train_tasks"])
    plot_gap(numeric, "num_train_tasks", HERE / "generalisation_numpad.png", "numpad")
    for r in numeric:
        print(f"{r['num_train_tasks']:>3} tasks: training {r['train_return']:.2f}, fresh "
              f"{r['validation_return']:.2f}, gap {r['gap']:.2f} ± {r['gap_se']:.2f}")


if __name__ == "__main__":
    main()
