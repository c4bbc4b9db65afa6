"""Throughput of one run laid out as 1 process x D devices against P processes x 1 device on
this machine (localhost coordinator, gloo on CPU), the same global batch, e.g.
`python -m experiments.benchmark.processes --out experiments/results/distributed`
(other flags: `"--train-flags=--env bandit --quick ..."`, with the `=`).

Each layout runs `experiments.train` with the same flags (plus --ppo.shuffle-groups G); its
steps/s is the median over the chunks after the first (compile excluded). Writes
processes.csv (layout, processes, devices_per_process, shuffle_groups, steps_per_s, ratio to
the first layout) and prints it."""
from __future__ import annotations

import csv
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import tyro


@dataclass(frozen=True)
class Args:
    out: Path = Path("experiments/results/distributed")
    train_flags: str = "--env bandit --agent belief --quick --total-env-steps 512000"
    """flags of experiments.train shared by every layout (one string)"""
    layouts: tuple[str, ...] = ("1x1:1", "1x2:1", "2x1:1", "1x2:2", "2x1:2")
    """PROCESSES x DEVICES_PER_PROCESS : SHUFFLE_GROUPS"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_layout(flags: list[str], processes: int, devices: int, out: Path) -> float:
    """Median steps/s of the chunks after the first."""
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    command = [sys.executable, "-m", "experiments.train", *flags, "--out", str(out)]
    port = _free_port()
    launched = [subprocess.Popen(command + ([] if processes == 1 else [
        "--coordinator", f"localhost:{port}", "--num-processes", str(processes),
        "--process-id", str(i)]), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True) for i in range(processes)]
    for process in launched:
        _, stderr = process.communicate()
        if process.returncode:
            raise RuntimeError(f"{processes}x{devices} failed:\n{stderr[-2000:]}")
    with open(out / "metrics.csv") as f:
        rates = [float(row["steps_per_s"]) for row in csv.DictReader(f)][1:]
    return statistics.median(rates)


def main(args: Args) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for layout in args.layouts:
            shape, groups = layout.split(":")
            processes, devices = map(int, shape.split("x"))
            flags = [*shlex.split(args.train_flags), "--ppo.shuffle-groups", groups]
            rate = run_layout(flags, processes, devices, Path(scratch) / layout)
            rows.append({"layout": shape, "processes": processes,
                         "devices_per_process": devices, "shuffle_groups": int(groups),
                         "steps_per_s": round(rate)})
            print(rows[-1], flush=True)
    for row in rows:
        row["ratio"] = round(row["steps_per_s"] / rows[0]["steps_per_s"], 3)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "processes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"train flags: {args.train_flags}")
    for row in rows:
        print(f"{row['layout']:>5}  groups {row['shuffle_groups']}  "
              f"{row['steps_per_s']:>8,} steps/s  {row['ratio']:.2f}x")


if __name__ == "__main__":
    main(tyro.cli(Args))
