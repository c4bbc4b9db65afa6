"""Checkpoints of a whole run with orbax: atomic (written to a temporary directory, then
renamed), the last `keep` kept. A checkpoint holds the entire `RunnerState` — parameters,
optimiser state, env and recurrent states, RNG key, iteration counter — so a resumed run
continues exactly where the saved one stood.

Leaves are stored by their tree path (`learner/params/params/belief_core/...`), and the
checkpoint's metadata records the format version and every path's shape and dtype. Restoring
compares that layout with the current code's state first: a field added, removed, renamed or
reordered, or a leaf of another shape or dtype, is refused with one clear error instead of
being restored into the wrong place."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp

from belief_jax.distributed import barrier, is_main_process, to_host
from belief_jax.types import RunnerState

FORMAT_VERSION = 2  # 1: leaves keyed by flat position (leaf_0000), no layout


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the current configuration."""


def _plain(state: RunnerState) -> RunnerState:
    """orbax stores plain arrays: typed PRNG keys travel as their raw key data."""
    return state._replace(key=jax.random.key_data(state.key))


def _paths_and_leaves(state: RunnerState) -> list[tuple[str, jax.Array]]:
    flat, _ = jax.tree_util.tree_flatten_with_path(_plain(state))
    return [(jax.tree_util.keystr(path, simple=True, separator="/"), leaf)
            for path, leaf in flat]


def layout(state: RunnerState) -> dict[str, list]:
    """Each leaf's path → [shape, dtype], in tree order."""
    return {path: [list(np.shape(x)), str(np.dtype(x.dtype))]
            for path, x in _paths_and_leaves(state)}


def _nested(items: list[tuple[str, object]]) -> dict:
    """{"a/b": x} → {"a": {"b": x}}: orbax keeps nested dict keys as names on disk."""
    tree: dict = {}
    for path, value in items:
        *parents, name = path.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[name] = value
    return tree


def _storable(state: RunnerState) -> dict:
    """Non-empty leaves by path (zero-size leaves, e.g. an empty observation, are rebuilt
    from the template on restore)."""
    return _nested([(p, x) for p, x in _paths_and_leaves(state) if np.size(x)])


def _rebuild(stored: dict, like: RunnerState) -> RunnerState:
    def lookup(path: str):
        node = stored
        for part in path.split("/"):
            node = node[part]
        return node

    template = _plain(like)
    leaves = [lookup(p) if np.size(x) else x for p, x in _paths_and_leaves(like)]
    state = jax.tree.unflatten(jax.tree.structure(template), leaves)
    return state._replace(key=jax.random.wrap_key_data(state.key))


def check_layout(saved: dict, like: RunnerState, where: Path) -> None:
    """Raises CheckpointError naming the first difference between a checkpoint's metadata
    and the layout of `like`."""
    version = saved.get("format", 1)
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {where} has format {version}, this code reads format "
                              f"{FORMAT_VERSION}; it cannot be resumed (start a new run)")
    stored, current = saved["layout"], layout(like)
    if list(stored) != list(current):
        missing = [p for p in current if p not in stored]
        extra = [p for p in stored if p not in current]
        detail = (f"missing {missing[:3]}" if missing else "") + \
            (f" unexpected {extra[:3]}" if extra else "") or "fields in another order"
        raise CheckpointError(f"checkpoint {where} does not match the current state layout "
                              f"({detail.strip()})")
    for path, spec in current.items():
        if stored[path] != spec:
            raise CheckpointError(f"checkpoint {where} does not match this configuration: "
                                  f"{path} is {stored[path]} on disk, {spec} now")


MANIFEST = "sha256.json"


def _digests(step_dir: Path) -> dict[str, str]:
    return {str(p.relative_to(step_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(step_dir.rglob("*")) if p.is_file() and p.name != MANIFEST}


def write_manifest(step_dir: Path) -> None:
    """SHA-256 of every file of a finished checkpoint, written atomically beside them."""
    tmp = step_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(_digests(step_dir), indent=0))
    os.replace(tmp, step_dir / MANIFEST)


def verify_manifest(step_dir: Path) -> None:
    """Raises CheckpointError naming the first missing, extra or altered file."""
    path = step_dir / MANIFEST
    if not path.exists():
        raise CheckpointError(f"checkpoint {step_dir} is incomplete (no {MANIFEST}); delete "
                              "that directory to resume from the one before it")
    expected, actual = json.loads(path.read_text()), _digests(step_dir)
    for name in sorted(set(expected) | set(actual)):
        if expected.get(name) != actual.get(name):
            raise CheckpointError(f"checkpoint {step_dir} is corrupt: {name} is missing, "
                                  "truncated or altered (SHA-256 mismatch)")


class Checkpoints:
    def __init__(self, directory: str | Path, keep: int = 3):
        self.directory = Path(directory).resolve()
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def complete(self) -> list[int]:
        """Saved chunks whose manifest was written: a save killed before that never counts."""
        return sorted(s for s in self.manager.all_steps()
                      if (self.directory / str(s) / MANIFEST).exists())

    def latest(self) -> int | None:
        complete = self.complete()
        return complete[-1] if complete else None

    def discard_unfinished(self) -> list[int]:
        """Removes saves newer than the latest complete one (a run killed mid-save), so the
        resumed run can write those chunks again."""
        latest = self.latest()
        unfinished = [s for s in self.manager.all_steps()
                      if latest is None or s > latest]
        barrier("checkpoints: listed")  # before process 0 removes what the others list
        if is_main_process():
            for step in unfinished:
                shutil.rmtree(self.directory / str(step))
        barrier("checkpoints: unfinished removed")
        if unfinished:
            self.manager.reload()
        return unfinished

    def save(self, chunk: int, state: RunnerState) -> None:
        """Saves after chunk number `chunk` (0-based) and waits until it is on disk. In a
        multi-process run every process writes its own shards (orbax), and process 0 the
        manifest once all of them are written."""
        self.manager.save(chunk, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_storable(state)),
            meta=ocp.args.JsonSave({"format": FORMAT_VERSION, "chunk": chunk,
                                    "iteration": int(to_host(state.iteration
                                                             ).reshape(-1)[0]),
                                    "layout": layout(state)})))
        self.manager.wait_until_finished()
        barrier("checkpoints: saved")
        if is_main_process():
            write_manifest(self.directory / str(chunk))

    def restore(self, like: RunnerState, chunk: int | None = None) -> tuple[int, RunnerState]:
        """The state saved after `chunk` (default: the latest), shaped and sharded like `like`."""
        chunk = self.latest() if chunk is None else chunk
        if chunk is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; nothing to resume")
        where = self.directory / str(chunk)
        verify_manifest(where)
        try:
            meta = self.manager.restore(chunk, args=ocp.args.Composite(
                meta=ocp.args.JsonRestore()))["meta"]
        except Exception as error:  # orbax raises many types for an unreadable item
            raise CheckpointError(f"checkpoint {where} has no readable metadata "
                                  f"({type(error).__name__})") from error
        check_layout(meta, like, where)
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _storable(like))
        try:
            restored = self.manager.restore(chunk, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract)))
        except Exception as error:  # orbax/tensorstore raise many types for a mismatch
            reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            raise CheckpointError(f"checkpoint {self.directory / str(chunk)} does not match "
                                  f"this configuration ({reason})") from error
        return chunk, _rebuild(restored["state"], like)

    def close(self) -> None:
        self.manager.close()
