"""Checkpoints keyed by tree path: a round trip restores every leaf where it was; a state of
another layout (a field added, removed or reordered, a leaf of another shape) and a
checkpoint of the old positional format are refused with one clear error, never misread."""
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from belief_jax.checkpoint import CheckpointError, Checkpoints, write_manifest
from belief_jax.types import RunnerState


class Learner(NamedTuple):
    params: dict
    step: jax.Array


class Reordered(NamedTuple):  # the same fields and shapes, in another order
    step: jax.Array
    params: dict


class Extended(NamedTuple):
    params: dict
    step: jax.Array
    momentum: jax.Array


def _state(learner) -> RunnerState:
    return RunnerState(learner=learner, actor={"obs": jnp.zeros((4, 0)), "h": jnp.ones((4, 3))},
                       key=jax.random.key(3), iteration=jnp.int32(7))


def _params(scale=1.0):
    return {"dense": {"kernel": scale * jnp.arange(6.0).reshape(2, 3),
                      "bias": scale * jnp.array([1.0, 2.0, 3.0])}}


def _saved(tmp_path, state):
    checkpoints = Checkpoints(tmp_path / "ckpt")
    checkpoints.save(0, state)
    return checkpoints


def test_round_trip_restores_every_leaf_in_place(tmp_path):
    state = _state(Learner(_params(), jnp.array(5)))
    checkpoints = _saved(tmp_path, state)
    like = _state(Learner(_params(0.0), jnp.array(0)))
    chunk, restored = checkpoints.restore(like)
    checkpoints.close()
    assert chunk == 0
    for got, want in zip(jax.tree.leaves(restored._replace(key=0)),
                         jax.tree.leaves(state._replace(key=0)), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(jax.random.key_data(restored.key),
                                  jax.random.key_data(state.key))


@pytest.mark.parametrize("like, message", [
    (_state(Reordered(jnp.array(0), _params())), "fields in another order"),
    (_state(Extended(_params(), jnp.array(0), jnp.zeros(3))),
     "missing ['learner/momentum']"),
    (_state({"params": _params()}), "unexpected ['learner/step']"),  # a field removed
    (_state(Learner({"dense": {"kernel": jnp.zeros((3, 2)), "bias": jnp.zeros(3)}},
                    jnp.array(0))), "learner/params/dense/kernel is [[2, 3], 'float32'] on "
                                    "disk, [[3, 2], 'float32'] now"),
    (_state(Learner(_params(), jnp.array(0.0))), "learner/step is [[], 'int32'] on disk, "
                                                 "[[], 'float32'] now"),
])
def test_a_changed_layout_is_refused_with_one_clear_error(tmp_path, like, message):
    checkpoints = _saved(tmp_path, _state(Learner(_params(), jnp.array(5))))
    with pytest.raises(CheckpointError) as error:
        checkpoints.restore(like)
    checkpoints.close()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_checkpoint_of_the_positional_format_is_refused(tmp_path):
    """Format 1 stored leaves as leaf_0000, leaf_0001, ... by flat position, with no layout:
    restored into a reordered state it would swap fields silently, so it is refused."""
    state = _state(Learner(_params(), jnp.array(5)))
    leaves = jax.tree.leaves(state._replace(key=jax.random.key_data(state.key)))
    manager = ocp.CheckpointManager(tmp_path / "ckpt", options=ocp.CheckpointManagerOptions(
        create=True, enable_async_checkpointing=False))
    manager.save(0, args=ocp.args.Composite(
        state=ocp.args.StandardSave({f"leaf_{i:04d}": x for i, x in enumerate(leaves)
                                     if x.size}),
        meta=ocp.args.JsonSave({"chunk": 0, "iteration": 7})))
    manager.wait_until_finished()
    manager.close()
    write_manifest(tmp_path / "ckpt" / "0")
    checkpoints = Checkpoints(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="has format 1, this code reads format 2; it "
                                              "cannot be resumed"):
        checkpoints.restore(state)
    checkpoints.close()
