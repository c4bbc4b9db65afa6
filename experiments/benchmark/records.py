"""Throughput on the current device: `python -m experiments.benchmark [--quick] --json OUT`.

For each env: env-only steps/s (jitted, vmapped random actions inside `lax.scan`), acting
steps/s (env + agent forward), and full training-loop env-steps/s for each (agent, learner);
compile time and peak memory (RSS on CPU, device memory on GPU) for each, and scaling over
num_envs, vmapped seeds and devices. One process, one device type: compare the ratios, not
the absolute numbers, which shared machines make noisy; the measurements at one num_envs are
timed in alternation so that their ratios hold. Prints a table and the ratios, and writes
JSON records with keys env, agent, learner, num_envs, num_seeds, num_devices, kind,
steps_per_s, compile_s, peak_mem_mb.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

import jax
import tyro

import envs
from experiments.benchmark.harness import (
    _config,
    _rate,
    acting_timing,
    env_only_timing,
    parse_env,
    peak_mem_mb,
    train,
    train_timing,
)
from experiments.benchmark.peers import BRAX_NAMES, peer_brax_ppo, peer_gru_timing


@dataclass(frozen=True)
class BenchmarkConfig:
    envs: tuple[str, ...] = ("bandit", "semicircle")
    """env names, optionally with kwargs: semicircle:physics=mjx"""
    num_envs: tuple[int, ...] = (64, 256, 1024)
    agents: tuple[str, ...] = ("rnn", "belief")
    learners: tuple[str, ...] = ("ppo", "svg0")
    num_seeds: tuple[int, ...] = (1, 2)
    """seed counts for the vmapped-seed scaling (train, first num_envs only)"""
    num_devices: tuple[int, ...] = (1, 2)
    """device counts for the sharding scaling (train, largest num_envs; counts above
    jax.device_count() are skipped: on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=2)"""
    kinds: tuple[str, ...] = ("env_only", "acting", "train", "peer_brax_ppo", "peer_gru_ppo")
    """which measurements to take; with ppo among the learners, peer_brax_ppo runs for the
    brax-body envs and peer_gru_ppo for the envs with discrete actions"""
    steps: int = 100
    """env steps timed per env for env-only/acting; train runs one chunk"""
    repeats: int = 3
    """timed rounds after a warm-up run; at each num_envs a round runs every measurement
    (env only, acting, training loops, peers) once, and the fastest run of each is reported"""
    quick: bool = False
    """small sizes that finish on a laptop CPU in a few minutes"""
    json: Path = Path("runs/benchmark.json")


def has_peer(kind: str, env: str, action_space) -> bool:
    if kind == "peer_brax_ppo":
        return env in BRAX_NAMES
    return kind == "peer_gru_ppo" and isinstance(action_space, envs.Discrete)


PEERS = ("peer_brax_ppo", "peer_gru_ppo")


def records(bench: BenchmarkConfig):
    for env in bench.envs:
        name, kwargs = parse_env(env)
        action_space = envs.make(name, **kwargs).action_space
        peers = [kind for kind in PEERS if kind in bench.kinds and "ppo" in bench.learners
                 and has_peer(kind, name, action_space)]
        for num_envs in bench.num_envs:
            yield from _interleaved_records(bench, env, num_envs, peers)
        if "train" in bench.kinds:
            for agent in bench.agents:
                for learner in bench.learners:
                    yield from _scaling_records(bench, env, agent, learner)


def _interleaved_records(bench: BenchmarkConfig, env: str, num_envs: int, peers: list[str]):
    """Every measurement at one num_envs (env only, acting, our training loops, the peers),
    timed in alternation: each round runs each of them once, so a slow spell of a shared
    machine slows them all alike and their ratios hold (timed one after the other, a rate
    moved by up to 30 % between runs)."""
    row = dict(env=env, num_envs=num_envs, num_seeds=1, num_devices=1)
    ours = [(agent, learner) for agent in bench.agents for learner in bench.learners]
    timed_rows = []  # (record fields, timing, env steps per run)
    if "env_only" in bench.kinds:
        timed_rows.append(({"agent": None, "learner": None, "kind": "env_only"},
                           *env_only_timing(_config(env, "rnn", "ppo", num_envs), bench.steps)))
    for kind, measure in (("acting", lambda c: acting_timing(c, bench.steps)),
                          ("train", train_timing)):
        if kind in bench.kinds:
            timed_rows += [({"agent": agent, "learner": learner, "kind": kind},
                            *measure(_config(env, agent, learner, num_envs)))
                           for agent, learner in ours]
    if "peer_gru_ppo" in peers:
        timed_rows.append(({"agent": None, "learner": "ppo", "kind": "peer_gru_ppo"},
                           *peer_gru_timing(_config(env, "rnn", "ppo", num_envs))))
    one_round = lambda: [timing.run() for _, timing, _steps in timed_rows]
    brax = None
    if "peer_brax_ppo" in peers:
        # brax's trainer runs as one call: ours run after each of its epochs, and the last
        # `repeats` of our runs are those that alternate with brax's timed epochs.
        brax = peer_brax_ppo(_config(env, "rnn", "ppo", num_envs), bench.repeats, one_round)
    else:
        for _ in range(bench.repeats):
            one_round()
    for fields, timing, steps in timed_rows:
        yield {**row, **fields, **_rate(timing, steps, last=bench.repeats)}
    if brax is not None:
        yield {**row, "agent": None, "learner": "ppo", "kind": "peer_brax_ppo", **brax}


def _scaling_records(bench: BenchmarkConfig, env: str, agent: str, learner: str):
    row = dict(env=env, agent=agent, learner=learner, kind="train")
    for seeds in bench.num_seeds[1:]:
        config = _config(env, agent, learner, bench.num_envs[0], seeds)
        yield {**row, "num_envs": bench.num_envs[0], "num_seeds": seeds, "num_devices": 1,
               **train(config, bench.repeats)}
    for devices in bench.num_devices[1:]:
        if devices > jax.device_count():
            continue
        config = _config(env, agent, learner, bench.num_envs[-1], 1, devices)
        yield {**row, "num_envs": bench.num_envs[-1], "num_seeds": 1, "num_devices": devices,
               **train(config, bench.repeats)}


KINDS = ("env_only", "acting", "train", *PEERS)


def main() -> None:
    bench = tyro.cli(BenchmarkConfig, description=__doc__)
    unknown = sorted(set(bench.kinds) - set(KINDS))
    if unknown:
        raise SystemExit(f"--kinds must be among {', '.join(KINDS)} (got {', '.join(unknown)})")
    if bench.repeats < 1:
        raise SystemExit(f"--repeats must be >= 1, got {bench.repeats}")
    if bench.quick:
        bench = dataclasses.replace(bench, num_envs=(64, 256), steps=50)
    print(f"device: {jax.devices()[0].device_kind} x {jax.device_count()}")
    width = max(len(env) for env in bench.envs) + 1
    header = f"{'env':<{width}}{'agent':<8}{'learner':<8}{'envs':>6}{'seeds':>6}{'dev':>4}" \
             f"{'kind':>15}{'steps/s':>12}{'compile s':>10}{'peak MB':>9}"
    print(header)
    rows = []
    for row in records(bench):
        row["peak_mem_mb"] = peak_mem_mb()
        rows.append(row)
        print(f"{row['env']:<{width}}{str(row['agent'] or '-'):<8}"
              f"{str(row['learner'] or '-'):<8}"
              f"{row['num_envs']:>6}{row['num_seeds']:>6}{row['num_devices']:>4}"
              f"{row['kind']:>15}{row['steps_per_s']:>12,.0f}{row['compile_s']:>10.1f}"
              f"{row['peak_mem_mb']:>9.0f}", flush=True)
    bench.json.parent.mkdir(parents=True, exist_ok=True)
    bench.json.write_text(json.dumps({"device": jax.devices()[0].device_kind,
                                      "device_count": jax.device_count(), "records": rows},
                                     indent=2))
    plot(rows, bench.json.with_suffix(".png"))
    for line in ratios(rows):
        print(line)
    print(f"wrote {bench.json} and {bench.json.with_suffix('.png')}")


def ratios(rows: list[dict]) -> list[str]:
    """Each 1-seed, 1-device training loop against env-only and the peers at its num_envs."""
    lines = []
    for row in rows:
        if row["kind"] != "train" or row["num_seeds"] != 1 or row["num_devices"] != 1:
            continue
        others = [(other["kind"], row["steps_per_s"] / other["steps_per_s"]) for other in rows
                  if other["kind"] in ("env_only", *PEERS) and other["env"] == row["env"]
                  and other["num_envs"] == row["num_envs"]]
        if others:
            lines.append(f"{row['env']} {row['agent']} {row['learner']} {row['num_envs']} envs: "
                         + ", ".join(f"{ratio:.2f} x {kind}" for kind, ratio in others))
    return lines


def plot(rows: list[dict], path: Path) -> None:
    """Steps/s against num_envs, one line per (env, agent, learner, kind), 1 seed, 1 device."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        if row["num_seeds"] == 1 and row["num_devices"] == 1:
            label = " ".join(str(row[k]) for k in ("env", "agent", "learner", "kind")
                             if row[k] is not None)
            lines.setdefault(label, []).append((row["num_envs"], row["steps_per_s"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, points in sorted(lines.items()):
        x, y = zip(*sorted(points), strict=True)
        ax.plot(x, y, marker="o", label=label)
    ax.set(xscale="log", yscale="log", xlabel="num_envs", ylabel="env steps / s",
           title=f"{jax.devices()[0].device_kind}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
