"""Row 4 at a cpu budget, one training-set size per command: joins their outputs (a results
script, not a tested module). From the repository root:

    python experiments/results/combine_generalisation.py DIR

where each DIR/tasks_N/ holds the output of
`python -m experiments.generalisation --preset cpu --envs ENV --num-train-tasks N --out
DIR/tasks_N` (3 vmapped seeds). Run one size at a time, a stopped session keeps the sizes
already done. Writes generalisation_results.csv and generalisation_curves.csv (the rows of
every size, as one run of them all would) and generalisation_ENV.png into DIR. Used for
generalisation_numpad_cpu_12M and generalisation_quadruped_cpu."""
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for experiments

from experiments.common import write_csv  # noqa: E402
from experiments.plotting import plot_gap  # noqa: E402


def sizes(root: Path) -> list[Path]:
    found = sorted(root.glob("tasks_*/generalisation_results.csv"),
                   key=lambda p: int(p.parent.name.removeprefix("tasks_")))
    if not found:
        raise SystemExit(f"no {root}/tasks_N/generalisation_results.csv to combine")
    return [p.parent for p in found]


def read(runs: list[Path], name: str) -> tuple[list[str], list[dict]]:
    columns, rows = [], []
    for run in runs:
        with open(run / f"generalisation_{name}.csv") as f:
            reader = csv.DictReader(f)
            columns, rows = reader.fieldnames, rows + list(reader)
    return columns, rows


def main(root: Path) -> None:
    runs = sizes(root)
    tables = {name: read(runs, name) for name in ("results", "curves")}
    for name, (columns, rows) in tables.items():
        write_csv(root / f"generalisation_{name}.csv", columns, rows)
    results = tables["results"][1]
    numeric = [{k: (v if k == "env" else float(v)) for k, v in r.items()} for r in results]
    for r in numeric:
        r["num_train_tasks"] = int(r["num_train_tasks"])
    env = numeric[0]["env"]
    plot_gap(numeric, "num_train_tasks", root / f"generalisation_{env}.png", env)
    for r in numeric:
        print(f"{r['num_train_tasks']:>3} tasks: training {r['train_return']:.2f}, fresh "
              f"{r['validation_return']:.2f}, gap {r['gap']:.2f} ± {r['gap_se']:.2f}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]))
