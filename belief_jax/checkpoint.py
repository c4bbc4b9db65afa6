"""Checkpoints of a whole run with orbax: atomic (written to a temporary directory, then
renamed), the last `keep` kept. A checkpoint holds the entire `RunnerState` — parameters,
optimiser state, env and recurrent states, RNG key, iteration counter — so a resumed run
continues exactly where the saved one stood."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from belief_jax.train import RunnerState


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the current configuration."""


def _storable(state: RunnerState) -> dict[str, jax.Array]:
    """The state's leaves by position. orbax stores plain, non-empty arrays: typed PRNG keys
    travel as their raw key data, and zero-size leaves (an empty observation) are rebuilt
    from the template on restore."""
    leaves = jax.tree.leaves(state._replace(key=jax.random.key_data(state.key)))
    return {f"leaf_{i:04d}": x for i, x in enumerate(leaves) if x.size}


def _rebuild(stored: dict[str, jax.Array], like: RunnerState) -> RunnerState:
    template = like._replace(key=jax.random.key_data(like.key))
    leaves, treedef = jax.tree.flatten(template)
    leaves = [stored.get(f"leaf_{i:04d}", x) for i, x in enumerate(leaves)]
    state = jax.tree.unflatten(treedef, leaves)
    return state._replace(key=jax.random.wrap_key_data(state.key))


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
        for step in unfinished:
            shutil.rmtree(self.directory / str(step))
        if unfinished:
            self.manager.reload()
        return unfinished

    def save(self, chunk: int, state: RunnerState) -> None:
        """Saves after chunk number `chunk` (0-based) and waits until it is on disk."""
        self.manager.save(chunk, args=ocp.args.Composite(
            state=ocp.args.StandardSave(_storable(state)),
            meta=ocp.args.JsonSave({"chunk": chunk, "iteration": int(jax.device_get(
                state.iteration).reshape(-1)[0])})))
        self.manager.wait_until_finished()
        write_manifest(self.directory / str(chunk))

    def restore(self, like: RunnerState, chunk: int | None = None) -> tuple[int, RunnerState]:
        """The state saved after `chunk` (default: the latest), shaped and sharded like `like`."""
        chunk = self.latest() if chunk is None else chunk
        if chunk is None:
            raise CheckpointError(f"no checkpoint in {self.directory}; nothing to resume")
        verify_manifest(self.directory / str(chunk))
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _storable(like))
        try:
            restored = self.manager.restore(chunk, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        except Exception as error:  # orbax/tensorstore raise many types for a mismatch
            reason = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            raise CheckpointError(f"checkpoint {self.directory / str(chunk)} does not match "
                                  f"this configuration ({reason})") from error
        return chunk, _rebuild(restored["state"], like)

    def close(self) -> None:
        self.manager.close()
