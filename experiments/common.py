"""What the experiment modules share: train vmapped seeds in one jitted call, run trained
agents on a fixed set of validation tasks, and write CSV files.

Experiments call the pure `make_train` directly instead of the checkpointing runner: a
sweep is many short runs whose every number ends up in the experiment's CSV, and one
jitted call per configuration keeps the seeds vmapped and the host out of the loop."""
from __future__ import annotations

import csv
import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from belief_jax.config import TrainConfig
from belief_jax.ppo import Transition
from belief_jax.train import ActorState, Trainer, make_train, over_seeds


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


def train(config: TrainConfig, log: Callable[[str], None] = print) -> Trained:
    trainer = Trainer(config)  # validates before compiling
    run = jax.jit(over_seeds(make_train(config, trainer), config.num_seeds))
    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    log(f"training {config.env} {config.agent} {config.learner}: {config.num_seeds} seed(s) x "
        f"{config.num_iterations * config.learner_config.steps_per_iteration:,} env steps")
    start = time.perf_counter()
    state, (metrics, evaluation) = jax.block_until_ready(run(keys))
    wall_s = time.perf_counter() - start
    metrics, evaluation = jax.device_get((metrics, evaluation))
    steps_per_chunk = config.iterations_per_chunk * config.learner_config.steps_per_iteration
    env_steps = steps_per_chunk * np.arange(1, config.num_chunks + 1)
    with np.errstate(all="ignore"):  # chunks without a finished trial give NaN
        train_return = np.nanmean(np.asarray(metrics["train_return"], np.float64), axis=-1)
    params = jax.vmap(trainer.learner.acting_params)(state.learner)
    log(f"  done in {wall_s:.0f}s (with compilation); final validation return "
        f"{np.mean(evaluation['validation_return'][:, -1]):.2f}")
    return Trained(config=config, trainer=trainer, params=params, env_steps=env_steps,
                   train_return=train_return,
                   validation_return=np.asarray(evaluation["validation_return"], np.float64),
                   wall_s=wall_s)


def validation_trials(trained: Trained, tasks: Any, key: jax.Array
                      ) -> tuple[ActorState, Transition, np.ndarray]:
    """One trial of each given task for every seed: start states and transitions with a
    leading seed axis ([S, T, N] for the transitions) and trial returns [S, N]."""
    trainer, num_tasks = trained.trainer, jax.tree.leaves(tasks)[0].shape[0]
    run = lambda params: trainer.validation_trials(params, key, num_tasks, tasks)
    actor, transitions, returns = jax.jit(jax.vmap(run))(trained.params)
    return actor, transitions, np.asarray(returns, np.float64)


def sample_tasks(env, key: jax.Array, num_tasks: int) -> Any:
    """Validation tasks drawn from the env's distribution (seeded apart from every training
    task set, which uses `TrainConfig.task_set_seed`)."""
    return jax.vmap(env.sample_task)(jax.random.split(key, num_tasks))


def mean_se(values: np.ndarray, axis: int | None = None) -> tuple[Any, Any]:
    """Mean and standard error of the mean (NaN for a single value)."""
    values = np.asarray(values, np.float64)
    n = values.size if axis is None else values.shape[axis]
    se = values.std(axis=axis, ddof=1) / math.sqrt(n) if n > 1 else np.full_like(
        values.mean(axis=axis), math.nan)
    return values.mean(axis=axis), se


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
