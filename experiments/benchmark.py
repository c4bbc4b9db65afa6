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

import contextlib
import dataclasses
import json
import resource
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs
from belief_jax.config import TrainConfig
from belief_jax.parallel import make_mesh, state_shardings
from belief_jax.train import Trainer, over_seeds
from experiments.peer_gru_ppo import GRUPPO
from experiments.presets import preset


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


def peak_mem_mb() -> float:
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Timing:
    """A compiled function with fixed inputs, warmed up once; `run()` times one more call."""

    def __init__(self, fn, *args, out_shardings=None, mesh=None):
        start = time.perf_counter()
        with contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh):
            self.compiled = jax.jit(fn, out_shardings=out_shardings).lower(*args).compile()
        self.compile_s = time.perf_counter() - start
        self.args = args
        jax.block_until_ready(self.compiled(*args))  # warm caches
        self.runs: list[float] = []

    def run(self) -> None:
        start = time.perf_counter()
        jax.block_until_ready(self.compiled(*self.args))
        self.runs.append(time.perf_counter() - start)


def parse_env(spec: str) -> tuple[str, dict]:
    """`numpad` or `numpad:physics=mjx,episode_length=100` -> (name, kwargs)."""
    name, _, rest = spec.partition(":")
    kwargs = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            kwargs[key] = int(value)
        except ValueError:
            try:
                kwargs[key] = float(value)
            except ValueError:
                kwargs[key] = value
    return name, kwargs


def env_only_timing(env_spec: str, num_envs: int, steps: int) -> tuple[Timing, int]:
    name, kwargs = parse_env(env_spec)
    env = envs.make(name, **kwargs)
    trial = envs.TrialWrapper(env)

    def run(key):
        _, state = jax.vmap(trial.reset)(jax.random.split(key, num_envs))

        def step(state, key):
            action_key, step_key = jax.random.split(key)
            actions = jax.vmap(env.action_space.sample)(jax.random.split(action_key, num_envs))
            _, state, reward, _, _ = jax.vmap(trial.step)(
                jax.random.split(step_key, num_envs), state, actions)
            return state, reward.sum()
        return jax.lax.scan(step, state, jax.random.split(key, steps))[1].sum()

    return Timing(run, jax.random.key(0)), num_envs * steps


def _config(env_spec: str, agent: str, learner: str, num_envs: int, num_seeds: int = 1,
            num_devices: int = 1) -> TrainConfig:
    env, kwargs = parse_env(env_spec)
    base = preset(env, learner, quick=True)
    base = base.replace(env_kwargs={**base.env_kwargs, **kwargs})
    if learner == "svg0":
        svg0 = dataclasses.replace(base.svg0, num_envs=num_envs,
                                   replay_size=max(base.svg0.replay_size, 200 * num_envs),
                                   min_replay=0)
        return base.replace(agent=agent, svg0=svg0, iterations_per_chunk=20, num_eval_envs=8,
                            num_seeds=num_seeds, num_devices=num_devices)
    ppo = dataclasses.replace(base.ppo, num_envs=num_envs)
    return base.replace(agent=agent, ppo=ppo, iterations_per_chunk=2, num_eval_envs=8,
                        num_seeds=num_seeds, num_devices=num_devices)


def acting_timing(config: TrainConfig, steps: int) -> tuple[Timing, int]:
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    params = trainer.learner.acting_params(state.learner)

    def run(params, actor, key):
        step = lambda a, k: trainer.env_step(params, trainer.train_env, False, a, k)
        return jax.lax.scan(step, actor, jax.random.split(key, steps))[1][1].sum()

    timing = Timing(run, params, state.actor, jax.random.key(1))
    return timing, config.learner_config.num_envs * steps


def train_timing(config: TrainConfig) -> tuple[Timing, int]:
    """One chunk, seeds vmapped and envs sharded as in the runner; excludes validation.
    Returns the timing and the env steps one run takes."""
    trainer = Trainer(config)
    mesh = make_mesh(config.num_devices, config.learner_config.num_envs)
    keys = jax.random.split(jax.random.key(0), config.num_seeds)
    state = jax.jit(over_seeds(trainer.init, config.num_seeds))(keys)
    shardings = state_shardings(state, mesh)
    state = jax.device_put(state, shardings)

    def run(state):
        return jax.lax.scan(trainer.iteration, state, None, config.iterations_per_chunk)

    timing = Timing(over_seeds(run, config.num_seeds), state, out_shardings=(shardings, None),
                    mesh=mesh)
    steps = config.iterations_per_chunk * config.learner_config.steps_per_iteration
    return timing, steps * config.num_seeds


def train(config: TrainConfig, repeats: int = 3) -> dict:
    timing, steps = train_timing(config)
    for _ in range(repeats):
        timing.run()
    return _rate(timing, steps)


def _rate(timing: Timing, steps: int, last: int | None = None) -> dict:
    """steps/s of the fastest run (of the `last` ones, if given) and the compile time."""
    runs = timing.runs[-last:] if last else timing.runs
    return {"steps_per_s": steps / min(runs), "compile_s": timing.compile_s}


BRAX_NAMES = {"cheetah_vel": "halfcheetah", "quadruped_semicircle": "ant"}


def _restore_device_put_replicated() -> None:
    """brax 0.14's PPO trainer calls `jax.device_put_replicated`, which JAX 0.10 removed.
    Restored here for the peer only, as pmap's own placement of stacked copies (placing them
    any other way made the trainer compile its epoch again on the second call)."""
    if hasattr(jax, "device_put_replicated"):
        return

    def device_put_replicated(tree, devices):
        stacked = jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * len(devices)), tree)
        return jax.pmap(lambda t: t, devices=devices)(stacked)

    jax.device_put_replicated = device_put_replicated


def peer_brax_ppo(config: TrainConfig, repeats: int = 3, between=lambda: None) -> dict:
    """brax's own PPO on the same brax body with our batch shape: num_envs, unroll length,
    epochs and minibatches of `config.ppo`, episode length 200, on as many devices as
    `config.num_devices` (brax's trainer would otherwise use them all). Its training steps/s
    (`training/sps`, evaluation excluded) is the best of `repeats` training epochs of three
    iterations each, after two that include compilation. `between()` runs after each epoch
    (the benchmark times its own loops there, interleaved with brax's epochs)."""
    _restore_device_put_replicated()
    from brax import envs as brax_envs
    from brax.training.agents.ppo import train as brax_ppo

    ppo = config.ppo
    body = brax_envs.get_environment(BRAX_NAMES[config.env], backend="mjx")
    per_step = ppo.num_envs * ppo.rollout_length
    num_epochs = 2 + repeats
    sps, walltime = [], []

    def progress(_, metrics):
        if "training/sps" in metrics:
            sps.append(float(metrics["training/sps"]))
            walltime.append(float(metrics["training/walltime"]))
            between()

    brax_ppo.train(environment=body, num_timesteps=num_epochs * 3 * per_step,
                   episode_length=200, num_envs=ppo.num_envs, unroll_length=ppo.rollout_length,
                   batch_size=ppo.num_envs // ppo.num_minibatches,
                   num_minibatches=ppo.num_minibatches, num_updates_per_batch=ppo.num_epochs,
                   num_evals=num_epochs + 1, num_eval_envs=8, normalize_observations=False,
                   seed=0, progress_fn=progress, max_devices_per_host=config.num_devices)
    epochs = np.diff([0.0, *walltime])
    # compile time ≈ what the two compiling epochs took beyond a steady-state epoch
    return {"steps_per_s": max(sps[2:]),
            "compile_s": float(epochs[0] + epochs[1] - 2 * epochs[2:].min())}


def peer_gru_timing(config: TrainConfig) -> tuple[Timing, int]:
    """The single-file GRU recurrent PPO (`experiments.peer_gru_ppo`) on the same env with
    our PPO shape, timed like `train`: `iterations_per_chunk` iterations in one jit."""
    ppo = config.ppo
    peer = GRUPPO(envs.make(config.env, **config.env_kwargs), ppo.num_envs, ppo.rollout_length,
                  ppo.num_epochs, ppo.num_minibatches, ppo.gamma, ppo.gae_lambda)
    state = jax.jit(peer.init)(jax.random.key(0))

    def run(state):
        return jax.lax.scan(peer.iteration, state, None, config.iterations_per_chunk)

    return Timing(run, state), config.iterations_per_chunk * ppo.num_envs * ppo.rollout_length


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
                           *env_only_timing(env, num_envs, bench.steps)))
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
