"""The benchmark's harness: compile a function once, time it, and the timed workloads (env
only, acting, one training chunk) built from the presets."""
from __future__ import annotations

import contextlib
import resource
import time

import jax

import envs
from belief_jax.config import TrainConfig
from belief_jax.parallel import make_mesh, state_shardings
from belief_jax.train import Trainer, over_seeds
from experiments.presets import preset


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


def env_only_timing(config: TrainConfig, steps: int) -> tuple[Timing, int]:
    """The env the training loop of `config` steps (its kwargs, so its episode length too),
    with random actions at `config.learner.num_envs`."""
    num_envs = config.learner.num_envs
    env = envs.make(config.env, **config.env_kwargs)
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
    """The quick preset at `num_envs`; a chunk a fifth of the runner's (20 SVG(0) or 2 PPO
    iterations); a replay that holds 200 steps per env and learns from the first iteration."""
    env, kwargs = parse_env(env_spec)
    base = preset(env, learner, quick=True)
    config = base.learner.with_num_envs(num_envs)
    if hasattr(config, "replay_size"):
        config = config.replace(replay_size=max(config.replay_size, 200 * num_envs),
                                min_replay=0)
    return base.replace(env_kwargs={**base.env_kwargs, **kwargs}, agent=agent, learner=config,
                        iterations_per_chunk=max(1, config.iterations_per_chunk // 5),
                        num_eval_envs=8, num_seeds=num_seeds, num_devices=num_devices)


def acting_timing(config: TrainConfig, steps: int) -> tuple[Timing, int]:
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    params = trainer.learner.acting_params(state.learner)

    def run(params, actor, key):
        step = lambda a, k: trainer.acting.step(params, a, k)
        return jax.lax.scan(step, actor, jax.random.split(key, steps))[1][1].sum()

    timing = Timing(run, params, state.actor, jax.random.key(1))
    return timing, config.learner.num_envs * steps


def train_timing(config: TrainConfig) -> tuple[Timing, int]:
    """One chunk, seeds vmapped and envs sharded as in the runner; excludes validation.
    Returns the timing and the env steps one run takes."""
    trainer = Trainer(config)
    mesh = make_mesh(config.num_devices, config.learner.num_envs, config.learner.name)
    keys = jax.random.split(jax.random.key(0), config.num_seeds)
    state = jax.jit(over_seeds(trainer.init, config.num_seeds))(keys)
    shardings = state_shardings(state, mesh)
    state = jax.device_put(state, shardings)

    def run(state):
        return jax.lax.scan(trainer.iteration, state, None, config.iterations_per_chunk)

    timing = Timing(over_seeds(run, config.num_seeds), state, out_shardings=(shardings, None),
                    mesh=mesh)
    return timing, config.steps_per_chunk * config.num_seeds


def train(config: TrainConfig, repeats: int = 3) -> dict:
    timing, steps = train_timing(config)
    for _ in range(repeats):
        timing.run()
    return _rate(timing, steps)


def _rate(timing: Timing, steps: int, last: int | None = None) -> dict:
    """steps/s of the fastest run (of the `last` ones, if given) and the compile time."""
    runs = timing.runs[-last:] if last else timing.runs
    return {"steps_per_s": steps / min(runs), "compile_s": timing.compile_s}


