"""What the experiment modules share: train vmapped seeds in one jitted call, run trained
agents on a fixed set of validation tasks, and write CSV files.

Experiments call the pure `make_train` directly instead of the checkpointing runner: a
sweep is many short runs whose every number ends up in the experiment's CSV, and one
jitted call per configuration keeps the seeds vmapped and the host out of the loop."""
from __future__ import annotations

import csv
import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import jax
import numpy as np

from belief_jax.acting import Acting
from belief_jax.config import TrainConfig
from belief_jax.stats import mean_se
from belief_jax.train import Trainer, make_train, over_seeds, validate
from belief_jax.types import ActorState, Transition
from experiments.presets import (
    SIZES,
    experiment_learner_changes,
    experiment_steps,
    has_cpu_shape,
    preset,
)

__all__ = ["mean_se"]  # re-exported: the experiments' statistics are the runner's


@dataclasses.dataclass(frozen=True)
class ExperimentArgs:
    """The arguments every experiment shares, with its quick / full defaults resolved in one
    place (`seeds`, `tasks`, `steps`, `config`). Each experiment subclasses it, adds its own
    fields (its env or envs among them) and sets `quick_tasks` / `full_tasks`."""

    out: Path = Path("runs/experiment")
    quick: bool = False
    """= --preset quick"""
    preset: str | None = None
    """quick (a smoke test: minutes on a 2-core CPU, 1 seed), cpu (sized to learn on a
    2-core CPU within about an hour, 3 seeds; where the experiment has one) or full (one
    GPU/TPU; the default)"""
    num_seeds: int | None = None
    """vmapped seeds per run (default: 1 quick, 3 cpu and full)"""
    total_env_steps: int | None = None
    """per run (default: per env and learner, see experiments.presets)"""
    num_envs: int | None = None
    """envs per run (default: the preset's)"""
    num_tasks: int | None = None
    """validation tasks (default: the experiment's, smaller with --quick)"""
    curve_points: int = 10
    """validation passes per run (points on the learning curves)"""
    seed: int = 0
    overwrite: bool = False
    """replace results (CSV/PNG) already in --out; without it such an --out is refused"""
    ppo_normalize_values: bool | None = None
    """PPO with value-target normalisation (default: the preset's)"""
    ppo_clip_per_module: bool | None = None
    """PPO clipping the policy's, critic's and belief's gradient norms apart (default: the
    preset's: on in cheetah_vel's cpu shape, off elsewhere)"""
    svg0_target_update: str | None = None
    """SVG(0)'s target networks, polyak or periodic (default: the preset's: polyak, but
    periodic on the bandit)"""
    svg0_lr_schedule: str | None = None
    """SVG(0)'s learning rate, constant or cosine (decayed over the run; default: the
    preset's, constant)"""
    svg0_replay_size: int | None = None
    """SVG(0)'s replay capacity in env steps over all envs (default: the preset's, 100k on
    the small presets). The PEARL-style agent unlearned after ~0.5M env steps on 100k and
    held a plateau on 1.1M, which keeps a 1M run whole (3 seeds; README, *Adaptation*)"""
    keep_best: bool = False
    """measure each seed's parameters from its validation pass with the highest validation
    return instead of its last (model selection on the passes' fresh tasks; the measured
    tasks are others)"""

    quick_tasks: ClassVar[int] = 256
    full_tasks: ClassVar[int] = 1000
    cpu_steps: ClassVar[dict[str, int]] = {}
    """env steps per run with --preset cpu, per learner, for an experiment that sizes its own
    (a learner it does not name: the env's cpu preset; an experiment with none: the presets'
    table)"""

    def validate(self) -> None:
        check_positive(self, "num_seeds", "total_env_steps", "num_envs", "num_tasks",
                       "curve_points")
        if self.preset is not None and self.preset not in SIZES:
            raise ValueError(f"preset={self.preset!r} is not valid; choose one of "
                             f"{list(SIZES)}")
        if self.quick and self.preset not in (None, "quick"):
            raise ValueError(f"--quick and --preset {self.preset} contradict each other; "
                             "pass one of them")

    @property
    def size(self) -> str:
        """The preset's name: quick, cpu or full."""
        return "quick" if self.quick else self.preset or "full"

    @property
    def small(self) -> bool:
        """The quick and cpu presets share the quick preset's shapes (envs, episode lengths,
        task counts) and cpu trains them longer, except where an env has a cpu shape of its
        own (`presets.has_cpu_shape`)."""
        return self.size != "full"

    @property
    def seeds(self) -> int:
        return self.num_seeds or (1 if self.size == "quick" else 3)

    @property
    def tasks(self) -> int:
        return self.num_tasks or (self.quick_tasks if self.size == "quick"
                                  else self.full_tasks)

    def steps(self, env: str, learner: str) -> int:
        if self.size == "cpu" and self.cpu_steps and not self.total_env_steps:
            return (self.cpu_steps.get(learner)
                    or preset(env, learner, "cpu").total_env_steps)
        return self.total_env_steps or experiment_steps(env, learner, self.size)

    def _learner_flags(self, learner: str) -> dict:
        """The learner fields given by this experiment's --ppo-* / --svg0-* flags."""
        given = {"ppo": {"normalize_values": self.ppo_normalize_values,
                         "clip_per_module": self.ppo_clip_per_module},
                 "svg0": {"target_update": self.svg0_target_update,
                          "lr_schedule": self.svg0_lr_schedule,
                          "replay_size": self.svg0_replay_size}}.get(learner, {})
        return {k: v for k, v in given.items() if v is not None}

    def base(self, env: str, learner: str) -> TrainConfig:
        """The env's preset for `learner` in this experiment's shape, before sizing: build a
        variant's network from `base(...).network` so that it keeps the shape's changes (the
        cpu shape's observation normalisation; the quick preset's network has none)."""
        # the cpu preset's own shape where the env has one (cheetah_vel), else the quick shape
        shape = "cpu" if self.size == "cpu" and has_cpu_shape(env) else self.small
        base = preset(env, learner, shape)
        return base.replace(learner=base.learner.replace(
            **{**experiment_learner_changes(env, learner, self.size),
               **self._learner_flags(learner)}))

    def config(self, env: str, learner: str, steps: int | None = None,
               num_envs: int | None = None, **changes) -> TrainConfig:
        """The env's preset for `learner`, sized to `steps` (default `self.steps`) with this
        experiment's seeds and a validation batch that keeps each chunk's evaluation cheap."""
        base = self.base(env, learner)
        changes = {"seed": self.seed, "num_seeds": self.seeds, "keep_best": self.keep_best,
                   "num_eval_envs": min(base.num_eval_envs, 64 if self.small else 256),
                   **changes}
        return sized(base, steps or self.steps(env, learner), self.curve_points,
                     num_envs or self.num_envs, **changes)


@dataclasses.dataclass
class Trained:
    """A finished run of `config.num_seeds` seeds; arrays have a leading seed axis."""

    config: TrainConfig
    trainer: Trainer
    params: Any
    env_steps: np.ndarray          # [chunks], per seed, at the end of each chunk
    train_return: np.ndarray       # [seeds, chunks], mean over the chunk's finished trials
    validation_return: np.ndarray  # [seeds, chunks], fresh tasks
    wall_s: float
    compile_s: float = 0.0
    """of wall_s, the compilation (before the first env step)"""
    grad_norm: np.ndarray | None = None
    """[seeds, chunks], the RL update's global gradient norm (before any clip), mean over
    the chunk's iterations that learned (as `learner_metrics`; NaN for a chunk with none)"""
    best_env_steps: np.ndarray | None = None
    """[seeds], with config.keep_best: the env steps at which `params` were validated"""
    learner_metrics: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
    """[seeds, chunks] each of the learner's `metric_names`, mean over the chunk's
    iterations that learned (an off-policy learner reports NaN before its replay fills)"""

    @functools.cached_property
    def trials(self):
        """Jitted validation trials, vmapped over seeds; tasks and key are arguments, so
        training-set and fresh tasks of one size share a compilation."""
        return seed_vmapped_trials(self.trainer.validation)

    def trials_given_task(self, std: float):
        """As `trials`, with the policy given a belief N(true task, std²) in place of the
        belief network's (`Acting.given_task`)."""
        return seed_vmapped_trials(self.trainer.validation.given_task(std))


def seed_vmapped_trials(acting: Acting):
    """(params [S, ...], tasks, key) → one trial of each task per seed, jitted."""
    def run(params, tasks, key):
        num_tasks = jax.tree.leaves(tasks)[0].shape[0]
        return acting.trials(params, key, num_tasks, tasks)
    return jax.jit(jax.vmap(run, in_axes=(0, None, None)))


def train(config: TrainConfig, log: Callable[[str], None] = print) -> Trained:
    trainer = Trainer(config)  # validates before compiling
    run = jax.jit(over_seeds(make_train(config, trainer), config.num_seeds))
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    log(f"training {config.env} {config.agent} {config.learner.name}: {config.num_seeds} "
        f"seed(s) x {config.num_iterations * config.learner.steps_per_iteration:,} env steps")
    start = time.perf_counter()
    compiled = run.lower(keys).compile()
    compile_s = time.perf_counter() - start
    state, (metrics, evaluation) = jax.block_until_ready(compiled(keys))
    trained = _trained(config, trainer, state, metrics, evaluation, time.perf_counter() - start)
    trained.compile_s = compile_s
    log(f"  done in {trained.wall_s:.0f}s ({compile_s:.0f}s of it compiling); final "
        f"validation return {np.mean(trained.validation_return[:, -1]):.2f}")
    if trained.best_env_steps is not None:
        log(f"  measuring each seed's best validation pass, at {trained.best_env_steps.tolist()}"
            " env steps")
    return trained


def _trained(config: TrainConfig, trainer: Trainer, state, metrics, evaluation,
             wall_s: float) -> Trained:
    metrics, evaluation = jax.device_get((metrics, evaluation))
    env_steps = config.steps_per_chunk * np.arange(1, config.num_chunks + 1)
    # a chunk without a finished trial gives NaN
    train_return = chunk_means(metrics, ("train_return",))["train_return"]
    params = (jax.vmap(trainer.learner.acting_params)(state.learner) if state.best is None
              else state.best.params)
    learner_metrics = chunk_means(metrics, trainer.learner.metric_names)
    return Trained(config=config, trainer=trainer, params=params, env_steps=env_steps,
                   train_return=train_return,
                   validation_return=np.asarray(evaluation["validation_return"], np.float64),
                   wall_s=wall_s, grad_norm=learner_metrics.get("grad_norm"),
                   best_env_steps=None if state.best is None else
                   np.asarray(jax.device_get(state.best.env_steps)),
                   learner_metrics=learner_metrics)


def chunk_means(metrics: dict, names: Sequence[str]) -> dict[str, np.ndarray]:
    """[..., chunks, iterations] metrics -> [..., chunks] means over the iterations that
    report a value (NaN: the learner did not learn, or no trial finished, in that iteration;
    a chunk without any stays NaN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return {name: np.nanmean(np.asarray(metrics[name], np.float64), axis=-1)
                for name in names if name in metrics}


def train_in_one_program(config: TrainConfig, field: str, values: Sequence[float],
                         log: Callable[[str], None] = print) -> list[Trained]:
    """Every value of `field` and every seed trained by one jitted program
    (`belief_jax.sweep`); value i is the run of `with_value(config, field, values[i])`.
    Each result's wall_s is the whole program's (compiled and run once for all values)."""
    from belief_jax.sweep import make_sweep, with_value
    program = jax.jit(make_sweep(config, field, values))  # checks every value first
    configs = [with_value(config, field, float(v)) for v in values]
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    log(f"training {config.env} {config.agent} {config.learner.name}: {field} in "
        f"{list(values)} x {config.num_seeds} seed(s) in one program, "
        f"{config.num_iterations * config.learner.steps_per_iteration:,} env steps each")
    start = time.perf_counter()
    state, (metrics, evaluation) = jax.block_until_ready(program(keys))
    wall_s = time.perf_counter() - start
    pick = lambda tree, i: jax.tree.map(lambda x: x[i], tree)
    results = [_trained(c, Trainer(c), pick(state, i), pick(metrics, i), pick(evaluation, i),
                        wall_s) for i, c in enumerate(configs)]
    log(f"  done in {wall_s:.0f}s (with compilation); final validation return "
        + ", ".join(f"{v:g}: {np.mean(r.validation_return[:, -1]):.2f}"
                    for v, r in zip(values, results, strict=True)))
    return results


def validation_trials(trained: Trained, tasks: Any, key: jax.Array
                      ) -> tuple[ActorState, Transition, np.ndarray]:
    """One trial of each given task for every seed: start states and transitions with a
    leading seed axis ([S, T, N] for the transitions) and trial returns [S, N]."""
    actor, transitions, returns = trained.trials(trained.params, tasks, key)
    return actor, transitions, np.asarray(returns, np.float64)


def per_episode(values: np.ndarray, episodes: int, reduce) -> list[tuple[float, float]]:
    """[S, T, N] per-step values → (mean, s.e. over tasks) per episode, each task's episode
    `reduce`d over its steps and then averaged over the seeds."""
    s, t, n = values.shape
    per_task = reduce(values.reshape(s, episodes, t // episodes, n), axis=2).mean(0)
    return [tuple(float(x) for x in mean_se(row)) for row in per_task]


def trials_after_training(configs, num_tasks: int, key: jax.Array, log=print):
    """Each config trained, then one validation trial on each of the same `num_tasks` fresh
    tasks (drawn from `key` with the first config's env). Yields (trained, tasks,
    transitions, belief): transitions [S, T, N], and the belief's parameters along them
    [S, T, N, ...] (None for an agent without a belief)."""
    tasks = None
    for config in configs:
        trained = train(config, log)
        if tasks is None:
            tasks = sample_tasks(trained.trainer.eval_env.env, key, num_tasks)
        actor, transitions, _ = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
        belief = None
        if trained.trainer.agent.traits.has_belief:
            belief = np.asarray(jax.jit(jax.vmap(trained.trainer.validation.belief_over))(
                trained.params, actor, transitions))
        yield trained, tasks, transitions, belief


def with_train_time(rows: list[dict], trained: Trained) -> list[dict]:
    """Summary rows of a trained agent with its training's wall time (compilation included),
    so that a result and what it cost stay together in one CSV."""
    return [{**row, "train_s": round(trained.wall_s, 1)} for row in rows]


def write_trials(out: Path, name: str, summary_columns: Sequence[str], summary: list[dict],
                 trace_columns: Sequence[str], traces: list[dict], curves: list[dict]
                 ) -> dict[str, Path]:
    """A trials experiment's NAME_summary.csv, NAME_trials.csv and NAME_curves.csv (agent +
    CURVE_COLUMNS)."""
    return {"summary": write_csv(out / f"{name}_summary.csv", summary_columns, summary),
            "trials": write_csv(out / f"{name}_trials.csv", trace_columns, traces),
            "curves": write_csv(out / f"{name}_curves.csv", ("agent", *CURVE_COLUMNS), curves)}


def random_policy_trials(trial_env, action_space, tasks, key: jax.Array, length: int):
    """One trial of each task under uniformly random actions: rewards, actions and the
    observation before each step, with a leading axis of one 'seed' ([1, T, N],
    [1, T, N, A] and [1, T, N, obs])."""
    def one(key, task):
        reset_key, key = jax.random.split(key)
        obs, state = trial_env.reset_to(reset_key, task)

        def step(carry, key):
            obs, state = carry
            action_key, step_key = jax.random.split(key)
            action = action_space.sample(action_key)
            next_obs, state, reward, _, _ = trial_env.step(step_key, state, action)
            return (next_obs, state), (reward, action, obs)
        return jax.lax.scan(step, (obs, state), jax.random.split(key, length))[1]

    num_tasks = jax.tree.leaves(tasks)[0].shape[0]
    out = jax.jit(jax.vmap(one, out_axes=1))(jax.random.split(key, num_tasks), tasks)
    return tuple(np.asarray(x, np.float64)[None] for x in out)


def sample_tasks(env, key: jax.Array, num_tasks: int) -> Any:
    """Validation tasks drawn from the env's distribution (seeded apart from every training
    task set, which uses `TrainConfig.task_set_seed`)."""
    return jax.vmap(env.sample_task)(jax.random.split(key, num_tasks))


def seed_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) and a 95% band half-width (1.96 s.e.; zero for one seed)."""
    mean, se = mean_se(values, axis=0)
    return mean, np.nan_to_num(1.96 * se)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    return path


def train_set_tasks(trained: Trained, num_tasks: int, key: jax.Array) -> Any:
    """`num_tasks` draws (with replacement) from the run's finite training task set."""
    task_set = trained.trainer.train_env.task_set
    if task_set is None:
        raise ValueError("num_train_tasks must be >= 1 to measure a generalisation gap")
    return task_set.get(jax.random.randint(key, (num_tasks,), 0, task_set.size))


GAP_COLUMNS = ("train_return", "validation_return", "gap", "gap_se", "validation_auc",
               "n_tasks", "n_seeds")


def generalisation_row(trained: Trained, validation_tasks: Any, key: jax.Array) -> dict:
    """Return on training tasks and on fresh validation tasks, both measured the same way
    (one validation trial per task, policy and bottleneck as in validation), their gap with
    its s.e. (over seeds, or over tasks with one seed), and the sample-efficiency summary
    `validation_auc`: the validation return averaged over the run's learning curve."""
    num_tasks = jax.tree.leaves(validation_tasks)[0].shape[0]
    train_key, val_key, draw_key = jax.random.split(key, 3)
    on_train = validation_trials(trained, train_set_tasks(trained, num_tasks, draw_key),
                                 train_key)[2]
    on_validation = validation_trials(trained, validation_tasks, val_key)[2]
    gap = on_train.mean(1) - on_validation.mean(1)  # [S]
    if gap.size > 1:
        gap_se = mean_se(gap)[1]
    else:
        gap_se = math.sqrt(on_train.var(ddof=1) / num_tasks + on_validation.var(ddof=1)
                           / num_tasks)
    return dict(train_return=float(on_train.mean()),
                validation_return=float(on_validation.mean()), gap=float(gap.mean()),
                gap_se=float(gap_se), validation_auc=float(trained.validation_return.mean()),
                n_tasks=num_tasks, n_seeds=trained.config.num_seeds)


CURVE_COLUMNS = ("env_steps", "split", "return_mean", "return_band")


def curve_rows(trained: Trained, **labels) -> list[dict]:
    """Learning-curve rows (train return on the training tasks, validation on fresh ones)
    with 95% bands over seeds, each tagged with `labels`."""
    rows = []
    for split, values in (("train", trained.train_return),
                          ("validation", trained.validation_return)):
        means, bands = seed_band(values)
        rows += [dict(**labels, env_steps=int(s), split=split, return_mean=float(m),
                      return_band=float(b))
                 for s, m, b in zip(trained.env_steps, means, bands, strict=True)]
    return rows


LEARNER_COLUMNS = ("env_steps", "metric", "mean", "band")


def learner_rows(trained: Trained, **labels) -> list[dict]:
    """The learner's metrics per chunk (`Trained.learner_metrics`: losses, KL, Q's mean, ...)
    with 95% bands over seeds, each tagged with `labels`."""
    rows = []
    for metric, values in trained.learner_metrics.items():
        means, bands = seed_band(values)
        rows += [dict(**labels, env_steps=int(s), metric=metric, mean=float(m), band=float(b))
                 for s, m, b in zip(trained.env_steps, means, bands, strict=True)]
    return rows


def sized(config: TrainConfig, total_env_steps: int, curve_points: int = 10,
          num_envs: int | None = None, **changes) -> TrainConfig:
    """`config` with a step budget, optionally fewer envs, and chunks sized so the run logs
    about `curve_points` validation passes."""
    learner = config.learner.with_num_envs(num_envs) if num_envs else config.learner
    iterations = max(1, -(-total_env_steps // learner.steps_per_iteration))
    return config.replace(total_env_steps=total_env_steps, learner=learner,
                          iterations_per_chunk=max(1, iterations // curve_points), **changes)


def cli(args_type, run, argv: list[str] | None, description: str) -> int:
    """The experiments' shared entry point: parse with tyro, refuse an --out that already
    holds results unless --overwrite, run, and print a bad argument as one line (exit 2)
    instead of a traceback."""
    import sys

    import tyro
    args = tyro.cli(args_type, args=sys.argv[1:] if argv is None else argv,
                    description=description)
    from belief_jax.runner import make_out_dir
    try:
        make_out_dir(Path(args.out))
        earlier = sorted(p.name for p in Path(args.out).glob("*.csv"))
        if earlier and not args.overwrite:
            raise ValueError(f"out={str(args.out)!r} already holds results "
                             f"({', '.join(earlier)}); choose another --out or pass --overwrite")
        paths = run(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def check_positive(args: Any, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"{name} must be positive, got {value}")


Measure = Callable[["Trained", Any, jax.Array], list[dict]]


TrainAll = Callable[[list[TrainConfig]], list["Trained"]]


def sweep(variants: list[tuple[dict, TrainConfig]], num_tasks: int, seed: int,
          measure: Measure, log: Callable[[str], None] = print,
          train_all: TrainAll | None = None) -> tuple[list[dict], list[dict]]:
    """The experiments' one loop: trains each labelled config (one by one, or all of them at
    once by `train_all`) and measures it on validation tasks shared by all variants of one
    env. Every config is validated first, so a bad one fails before anything compiles.
    `measure(trained, tasks, key)` returns result rows, each then tagged with the variant's
    labels. Returns (result rows, learning-curve rows)."""
    envs_made = [validate(config) for _, config in variants]
    trained = train_all([config for _, config in variants]) if train_all else None
    key = jax.random.fold_in(jax.random.key(seed), 1)
    tasks: dict[str, Any] = {}
    results, curves = [], []
    for index, ((labels, config), env) in enumerate(zip(variants, envs_made, strict=True)):
        env_id = f"{config.env}{sorted(config.env_kwargs.items())}"
        if env_id not in tasks:
            tasks[env_id] = sample_tasks(env, key, num_tasks)
        run = trained[index] if trained is not None else train(config, log)
        rows = [dict(**labels, **row) for row in measure(run, tasks[env_id], key)]
        log("  " + ", ".join(f"{k}={v}" for k, v in labels.items()) + ": " + "; ".join(
            ", ".join(f"{k} {v:.2f}" for k, v in row.items()
                      if k not in labels and isinstance(v, float)) for row in rows))
        results += rows
        curves += curve_rows(run, **labels)
    return results, curves


def run_sweep(variants: list[tuple[dict, TrainConfig]], num_tasks: int, seed: int,
              log: Callable[[str], None] = print, train_all: TrainAll | None = None
              ) -> tuple[list[dict], list[dict]]:
    """`sweep` measuring each variant's generalisation gap (`generalisation_row`)."""
    measure = lambda trained, tasks, key: [generalisation_row(trained, tasks,
                                                              jax.random.fold_in(key, 2))]
    return sweep(variants, num_tasks, seed, measure, log, train_all)


def write_sweep(out: Path, name: str, labels: tuple[str, ...], results: list[dict],
                curves: list[dict]) -> dict[str, Path]:
    """NAME_results.csv (labels + GAP_COLUMNS) and NAME_curves.csv (labels + CURVE_COLUMNS)."""
    return {"results": write_csv(out / f"{name}_results.csv", (*labels, *GAP_COLUMNS), results),
            "curves": write_csv(out / f"{name}_curves.csv", (*labels, *CURVE_COLUMNS), curves)}
