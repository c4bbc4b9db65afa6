"""Host side of a run: compile once, execute the jitted chunks, log, and write results.

Writes into `out_dir`: config.json, metrics.csv (one row per chunk, i.e. per logged
iteration, averaged over vmapped seeds) and summary.json.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from belief_jax.config import TrainConfig
from belief_jax.train import Trainer

METRIC_COLUMNS = ("iteration", "env_steps", "wall_s", "steps_per_s", "train_return",
                  "train_return_se", "validation_return", "validation_return_se",
                  "aux_log_likelihood", "validation_aux_log_likelihood", "ib_kl_belief",
                  "ib_kl_policy", "ib_kl_critic", "entropy", "loss", "policy_loss",
                  "value_loss", "grad_norm")


def config_to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)


def _mean_se(values: np.ndarray) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan, math.nan
    se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else math.nan
    return float(values.mean()), se


def chunk_row(metrics: dict, evaluation: dict, chunk_index: int, config: TrainConfig,
              wall_s: float, steps_per_s: float) -> dict:
    """One CSV row from a chunk's metrics ([seeds, iterations]) and evaluation ([seeds])."""
    per_seed = lambda x: np.nanmean(np.asarray(x, np.float64).reshape(config.num_seeds, -1), 1)
    row = {"iteration": (chunk_index + 1) * config.iterations_per_chunk,
           "env_steps": int((chunk_index + 1) * config.iterations_per_chunk
                            * config.ppo.steps_per_iteration),
           "wall_s": wall_s, "steps_per_s": steps_per_s}
    row["train_return"], row["train_return_se"] = _mean_se(per_seed(metrics["train_return"]))
    row["validation_return"], row["validation_return_se"] = _mean_se(
        per_seed(evaluation["validation_return"]))
    if config.num_seeds == 1:  # one seed: the standard error over its validation trials
        se = np.asarray(evaluation["validation_return_se"]).reshape(-1)[0]
        row["validation_return_se"] = float(se)
    for name in METRIC_COLUMNS:
        source = metrics.get(name, evaluation.get(name))
        if name not in row:
            row[name] = float(np.nanmean(np.asarray(source))) if source is not None else math.nan
    return row


def run(config: TrainConfig, out_dir: str | os.PathLike, overwrite: bool = False,
        log: Callable[[str], None] = print) -> dict:
    """Train `config.num_seeds` seeds (vmapped) in jitted chunks; returns the summary.

    Refuses to replace the results of an earlier run in `out_dir` unless `overwrite`."""
    out = Path(out_dir)
    trainer = Trainer(config)  # validates before anything is compiled or written
    if (out / "metrics.csv").exists() and not overwrite:
        raise ValueError(f"out={str(out)!r} already holds a run (metrics.csv); choose another "
                         "--out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config_to_dict(config), indent=2))

    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    state = jax.jit(jax.vmap(trainer.init))(keys)
    chunk = jax.jit(jax.vmap(trainer.chunk), donate_argnums=0)
    start = time.perf_counter()
    compiled = chunk.lower(state).compile()
    compile_s = time.perf_counter() - start
    log(f"compiled one chunk in {compile_s:.1f}s; {config.num_chunks} chunks of "
        f"{config.iterations_per_chunk} iterations x {config.ppo.steps_per_iteration} env steps"
        f" x {config.num_seeds} seed(s)")

    rows: list[dict] = []
    train_start = time.perf_counter()
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        for index in range(config.num_chunks):
            chunk_start = time.perf_counter()
            state, metrics, evaluation = compiled(state)
            metrics, evaluation = jax.device_get((metrics, evaluation))
            now = time.perf_counter()
            steps = config.iterations_per_chunk * config.ppo.steps_per_iteration * config.num_seeds
            row = chunk_row(metrics, evaluation, index, config, now - train_start,
                            steps / (now - chunk_start))
            writer.writerow(row)
            f.flush()
            rows.append(row)
            log(_progress_line(row, index, config))

    wall_s = time.perf_counter() - train_start
    last = rows[-1]
    has_belief = config.agent != "rnn"
    summary = {
        "env": config.env, "agent": config.agent, "learner": config.learner,
        "num_seeds": config.num_seeds, "env_steps": last["env_steps"], "wall_s": wall_s,
        "compile_s": compile_s,
        "steps_per_s": last["env_steps"] * config.num_seeds / wall_s,
        "final_train_return": last["train_return"],
        "final_validation_return": last["validation_return"],
        "final_validation_return_se": last["validation_return_se"],
        "final_aux_log_likelihood": last["aux_log_likelihood"] if has_belief else None,
    }
    summary = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
               for k, v in summary.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def _progress_line(row: dict, index: int, config: TrainConfig) -> str:
    line = (f"[{index + 1}/{config.num_chunks}] env_steps {row['env_steps']:,} "
            f"train {row['train_return']:.2f} validation {row['validation_return']:.2f} "
            f"entropy {row['entropy']:.2f} {row['steps_per_s']:,.0f} steps/s "
            f"{row['wall_s']:.0f}s")
    if math.isfinite(row["aux_log_likelihood"]):
        line += f" aux_ll {row['aux_log_likelihood']:.2f}"
    return line
