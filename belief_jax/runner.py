"""Host side of a run: compile once, execute the jitted chunks, log, checkpoint, and write
results. Writes into `out_dir`: config.json, metrics.csv (one row per chunk, i.e. per logged
iteration, averaged over vmapped seeds), summary.json and checkpoints/.

Reliability: SIGINT/SIGTERM finish the current chunk, save and return; a kill -9 loses at most
the chunks since the last checkpoint; a non-finite loss or parameter stops the run before
anything is saved, so the last good checkpoint stays intact.
"""
from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from belief_jax import distributed
from belief_jax.checkpoint import CheckpointError, Checkpoints
from belief_jax.config import TrainConfig, config_to_dict
from belief_jax.distributed import is_main_process, to_host
from belief_jax.parallel import make_mesh, state_shardings
from belief_jax.stats import finite_mean_se
from belief_jax.train import Trainer, over_seeds
from belief_jax.types import RunnerState

# Columns of every run; the learner's own metrics (`Learner.metric_names`) follow them.
METRIC_COLUMNS = ("iteration", "env_steps", "wall_s", "steps_per_s", "train_return",
                  "train_return_se", "validation_return", "validation_return_se",
                  "aux_log_likelihood", "validation_aux_log_likelihood", "ib_kl_belief",
                  "ib_kl_policy", "ib_kl_critic", "entropy", "loss")
# Fields a resumed run may change: it may be extended, nothing else.
RESUMABLE_CHANGES = ("total_env_steps",)


class NonFiniteError(RuntimeError):
    """A loss or parameter became NaN/inf; the run stopped without saving."""


def metric_columns(metric_names: tuple[str, ...]) -> tuple[str, ...]:
    """The CSV columns of a run whose learner reports `metric_names`."""
    return tuple(dict.fromkeys((*METRIC_COLUMNS, *metric_names)))


def chunk_row(metrics: dict, evaluation: dict, chunk_index: int, config: TrainConfig,
              wall_s: float, steps_per_s: float, columns: tuple[str, ...]) -> dict:
    """One CSV row from a chunk's metrics ([seeds, iterations]) and evaluation ([seeds])."""
    per_seed = lambda x: np.nanmean(np.asarray(x, np.float64).reshape(config.num_seeds, -1), 1)
    row = {"iteration": (chunk_index + 1) * config.iterations_per_chunk,
           "env_steps": int((chunk_index + 1) * config.steps_per_chunk),
           "wall_s": wall_s, "steps_per_s": steps_per_s}
    row["train_return"], row["train_return_se"] = finite_mean_se(
        per_seed(metrics["train_return"]))
    row["validation_return"], row["validation_return_se"] = finite_mean_se(
        per_seed(evaluation["validation_return"]))
    if config.num_seeds == 1:  # one seed: the standard error over its validation trials
        se = np.asarray(evaluation["validation_return_se"]).reshape(-1)[0]
        row["validation_return_se"] = float(se)
    for name in columns:
        source = metrics.get(name, evaluation.get(name))
        if name not in row:
            row[name] = float(np.nanmean(np.asarray(source))) if source is not None else math.nan
    return row


def check_finite(metrics: dict, params_finite: bool, chunk_index: int,
                 config: TrainConfig, metric_names: tuple[str, ...]) -> None:
    """Raises NonFiniteError naming the first iteration and learner metric that went
    non-finite. A learner that reports `learning` (0 while it only collects data, e.g. until
    replay is full) may report NaN where `learning` is 0."""
    for name in metric_names:
        if name not in metrics:
            continue
        values = np.asarray(metrics[name]).reshape(config.num_seeds, -1)
        bad = ~np.isfinite(values)
        if "learning" in metrics:
            bad &= np.asarray(metrics["learning"]).reshape(config.num_seeds, -1) > 0
        if bad.any():
            first = int(np.argmax(bad.any(0)))
            iteration = chunk_index * config.iterations_per_chunk + first + 1
            raise NonFiniteError(f"non-finite {name} ({values[:, first].tolist()}) at iteration "
                                 f"{iteration}; the run stopped without saving this chunk")
    if not params_finite:
        iteration = (chunk_index + 1) * config.iterations_per_chunk
        raise NonFiniteError(f"non-finite parameters after iteration {iteration}; the run "
                             "stopped without saving this chunk")


def _flat(tree: dict, prefix: str = "") -> dict:
    """{"ppo": {"gamma": 0.99}} -> {"ppo.gamma": 0.99}"""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_resumable(config: TrainConfig, out: Path) -> None:
    """Refuses a resume whose config differs from the saved one, except in
    RESUMABLE_CHANGES. A field the saved config lacks (added to the code since) counts as
    unchanged while it keeps its default, so a run outlives an upgrade that adds options."""
    saved_path = out / "config.json"
    if not saved_path.exists():
        raise CheckpointError(f"cannot resume: {saved_path} does not exist")
    saved, current = _flat(json.loads(saved_path.read_text())), _flat(config_to_dict(config))
    defaults = _flat(config_to_dict(TrainConfig(learner=type(config.learner)())))
    changed = sorted(k for k in set(saved) | set(current)
                     if saved.get(k, defaults.get(k)) != current.get(k)
                     and k.partition(".")[0] not in RESUMABLE_CHANGES)
    if changed:
        raise CheckpointError(f"cannot resume {out}: the configuration differs in {changed} "
                              f"(only {list(RESUMABLE_CHANGES)} may change on resume)")


@contextlib.contextmanager
def _stop_on_signals():
    """Turns SIGINT/SIGTERM into a request to stop after the current chunk."""
    requested: list[int] = []
    handler = lambda signum, frame: requested.append(signum)
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield requested
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _read_rows(path: Path, up_to_iteration: int) -> list[dict]:
    with open(path) as f:
        rows = [{k: int(v) if k in ("iteration", "env_steps") else float(v)
                 for k, v in row.items()} for row in csv.DictReader(f)]
    return [r for r in rows if r["iteration"] <= up_to_iteration]


def compile_chunk(trainer: Trainer, state: RunnerState, mesh: Mesh):
    """The chunk, vmapped over seeds, compiled ahead of time for `state` placed on `mesh`
    (envs split over its devices); the input state is donated. Metrics come back replicated,
    so every process (of a multi-process run) can read them."""
    shardings = state_shardings(state, mesh)
    replicated = NamedSharding(mesh, PartitionSpec())
    chunk = jax.jit(over_seeds(trainer.chunk, trainer.config.num_seeds), donate_argnums=0,
                    out_shardings=(shardings, replicated, replicated))
    with jax.set_mesh(mesh):  # lets the update pin its minibatches to the devices
        return chunk.lower(state).compile()


def _prepare_out(config: TrainConfig, out: Path, overwrite: bool, resume: bool) -> None:
    """Every process checks `out`, then process 0 alone clears and writes it. Each step ends
    with an agreement (`distributed.together`): it keeps a process from reading what process
    0 is already replacing, and an error in one process from leaving the others waiting."""
    with distributed.together(ValueError, CheckpointError):
        check_out_dir(out)
        if resume:
            _check_resumable(config, out)
        elif (out / "metrics.csv").exists() and not overwrite:
            raise ValueError(f"out={str(out)!r} already holds a run (metrics.csv); choose "
                             "another --out, pass --resume to continue it, or --overwrite")
    with distributed.together(ValueError):
        if is_main_process():
            if not resume and (out / "checkpoints").exists():
                shutil.rmtree(out / "checkpoints")  # --overwrite: the old run is discarded
            make_out_dir(out)
            (out / "config.json").write_text(json.dumps(config_to_dict(config), indent=2))


def _restore(config: TrainConfig, out: Path, checkpoints: Checkpoints, state: RunnerState,
             log: Callable[[str], None]) -> tuple[int, RunnerState, list[dict]]:
    unfinished = checkpoints.discard_unfinished()
    if unfinished:
        log(f"discarded unfinished checkpoint save(s) {unfinished} (the run was killed "
            "while saving)")
    last, state = checkpoints.restore(state)
    start_chunk = last + 1
    rows = _read_rows(out / "metrics.csv", start_chunk * config.iterations_per_chunk)
    log(f"resuming {out} after chunk {start_chunk}/{config.num_chunks}")
    return start_chunk, state, rows


def run(config: TrainConfig, out_dir: str | os.PathLike, overwrite: bool = False,
        resume: bool = False, log: Callable[[str], None] = print) -> dict:
    """Train `config.num_seeds` seeds (vmapped) in jitted chunks; returns the summary.

    Refuses to replace an earlier run in `out_dir` unless `overwrite`; `resume` continues it
    from its latest checkpoint and reproduces the uninterrupted run. In a multi-process run
    (`belief_jax.distributed.initialize` first) every process calls `run` alike; process 0
    logs and writes the files, and a signal to any process stops all of them."""
    out = Path(out_dir).resolve()
    trainer = Trainer(config)  # validates before anything is compiled or written
    mesh = make_mesh(config.num_devices, config.learner.num_envs, config.learner.name)
    log = log if is_main_process() else (lambda line: None)
    _prepare_out(config, out, overwrite, resume)
    metric_names = trainer.learner.metric_names
    columns = metric_columns(metric_names)

    keys = jax.random.split(jax.random.key(config.seed), config.num_seeds)
    state = jax.jit(over_seeds(trainer.init, config.num_seeds))(keys)
    state = distributed.place(state, state_shardings(state, mesh))
    checkpoints = Checkpoints(out / "checkpoints", config.keep_checkpoints)
    start_chunk, rows = 0, []
    if resume:
        start_chunk, state, rows = _restore(config, out, checkpoints, state, log)

    start = time.perf_counter()
    compiled = compile_chunk(trainer, state, mesh)
    compile_s = time.perf_counter() - start
    all_finite = jax.jit(lambda tree: jnp.all(jnp.stack(
        [jnp.isfinite(x).all() for x in jax.tree.leaves(tree)
         if jnp.issubdtype(x.dtype, jnp.inexact)])),
        out_shardings=NamedSharding(mesh, PartitionSpec()))
    steps_per_chunk = config.steps_per_chunk
    processes = f" in {jax.process_count()} processes" if jax.process_count() > 1 else ""
    log(f"compiled one chunk in {compile_s:.1f}s; {config.num_chunks} chunks of "
        f"{steps_per_chunk} env steps x {config.num_seeds} seed(s) on {mesh.size} "
        f"device(s){processes}")
    distributed.barrier("runner: metrics read")  # process 0 is about to rewrite metrics.csv

    wall_offset = rows[-1]["wall_s"] if rows else 0.0
    train_start, interrupted = time.perf_counter(), False
    with _metrics_writer(out, columns, rows) as writer, _stop_on_signals() as stop:
        for index in range(start_chunk, config.num_chunks):
            chunk_start = time.perf_counter()
            state, metrics, evaluation = compiled(state)
            metrics, evaluation = to_host((metrics, evaluation))
            check_finite(metrics, bool(to_host(all_finite(state.learner))), index, config,
                         metric_names)
            now = time.perf_counter()
            row = chunk_row(metrics, evaluation, index, config, wall_offset + now - train_start,
                            steps_per_chunk * config.num_seeds / (now - chunk_start), columns)
            writer(row)
            rows.append(row)
            last_chunk = index == config.num_chunks - 1
            stopping = distributed.any_process(bool(stop))
            if stopping or last_chunk or (config.checkpoint_every
                                          and (index + 1) % config.checkpoint_every == 0):
                checkpoints.save(index, state)
            log(_progress_line(row, index, config, (now - train_start) / (index + 1 - start_chunk)))
            if stopping and not last_chunk:
                interrupted = True
                cause = f"signal {stop[0]}" if stop else "a signal to another process"
                log(f"interrupted by {cause}: saved after chunk {index + 1}/"
                    f"{config.num_chunks}; continue with the same command plus --resume")
                break
    checkpoints.close()
    summary = _summary(config, rows, compile_s, interrupted)
    if state.best is not None:  # per seed: the checkpoint's `best` holds their params
        summary["best_validation_return"] = to_host(state.best.validation_return).tolist()
        summary["best_env_steps"] = to_host(state.best.env_steps).tolist()
    if is_main_process():
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


@contextlib.contextmanager
def _metrics_writer(out: Path, columns: tuple[str, ...], rows: list[dict]):
    """A function writing one row to metrics.csv (rewritten with `rows` first) in process 0;
    a no-op in the others."""
    if not is_main_process():
        yield lambda row: None
        return
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

        def write(row: dict) -> None:
            writer.writerow(row)
            f.flush()
        yield write


def _summary(config: TrainConfig, rows: list[dict], compile_s: float, interrupted: bool):
    last = rows[-1]
    summary = {
        "env": config.env, "agent": config.agent, "learner": config.learner.name,
        "num_seeds": config.num_seeds, "env_steps": int(last["env_steps"]),
        "wall_s": last["wall_s"], "compile_s": compile_s,
        "steps_per_s": last["env_steps"] * config.num_seeds / last["wall_s"],
        "final_train_return": last["train_return"],
        "final_validation_return": last["validation_return"],
        "final_validation_return_se": last["validation_return_se"],
        "final_aux_log_likelihood": last["aux_log_likelihood"],
        "interrupted": interrupted,
    }
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in summary.items()}


def _progress_line(row: dict, index: int, config: TrainConfig, s_per_chunk: float) -> str:
    eta = s_per_chunk * (config.num_chunks - index - 1)
    line = (f"[{index + 1}/{config.num_chunks}] env_steps {row['env_steps']:,} "
            f"train {row['train_return']:.2f} validation {row['validation_return']:.2f} "
            f"entropy {row['entropy']:.2f} {row['steps_per_s']:,.0f} steps/s "
            f"{row['wall_s']:.0f}s ETA {_duration(eta)}")
    if math.isfinite(row["aux_log_likelihood"]):
        line += f" aux_ll {row['aux_log_likelihood']:.2f}"
    return line


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def check_out_dir(out: Path) -> None:
    """An --out that is a file or lies under one is a ValueError naming it."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} is a file, not a directory; choose another --out")
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"out={str(out)!r} lies under {str(existing)!r}, which is a file; "
                         "choose another --out")


def make_out_dir(out: Path) -> None:
    """Creates `out`; an --out that is a file, lies under one, or where nothing can be
    written is a ValueError naming it (before anything compiles), not a traceback."""
    check_out_dir(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"out={str(out)!r} cannot be written ({error.strerror}); choose "
                         "another --out") from error


__all__ = ["run", "CheckpointError", "NonFiniteError", "METRIC_COLUMNS"]
