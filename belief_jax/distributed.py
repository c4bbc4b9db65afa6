"""One run over several processes (one per host, or several on one machine) with JAX's own
multi-controller runtime: every process runs the same program on one global mesh over all
processes' devices, each holding its share of the envs; XLA's collectives average the
gradients. No coordinator or parameter server of our own: `jax.distributed.initialize` starts
the coordination service in process 0 and connects the others to it.

Host-side helpers for the runner: arrays that span other processes' devices cannot be read
with `jax.device_get`, so `to_host` reads a replicated array from the local copy; `any_process`
and `barrier` are the two agreements a run needs (stop after this chunk; files are ready)."""
from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import dataclass

import jax
import numpy as np
from jax.experimental import multihost_utils

from belief_jax.validation import Validated, positive


class CoordinatorError(RuntimeError):
    """The coordinator could not be reached (or resolved) within the timeout."""


@dataclass(frozen=True)
class DistributedConfig(Validated):
    """How this process joins a multi-process run. With no field set, `jax.distributed.
    initialize()` detects SLURM, Open MPI or a Cloud TPU slice from the environment."""
    coordinator: str | None = None
    """HOST:PORT of process 0, which serves the coordination service there"""
    num_processes: int | None = None
    process_id: int | None = None
    """0 .. num_processes - 1; process 0 hosts the coordinator"""
    timeout_s: int = 300
    """seconds to wait for the coordinator and for every process to join"""

    def validate(self) -> None:
        given = [self.coordinator is not None, self.num_processes is not None,
                 self.process_id is not None]
        if any(given) and not all(given):
            raise ValueError("distributed: give all of coordinator, num_processes and "
                             "process_id, or none of them (auto-detection: SLURM, Open MPI, "
                             "Cloud TPU)")
        positive(self, "distributed.", "timeout_s")
        if not all(given):
            return
        host, _, port = self.coordinator.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"distributed.coordinator must be HOST:PORT (port 1-65535), got "
                             f"{self.coordinator!r}")
        if self.num_processes < 1:
            raise ValueError(f"distributed.num_processes must be >= 1, got "
                             f"{self.num_processes}")
        if not 0 <= self.process_id < self.num_processes:
            raise ValueError(f"distributed.process_id must be in 0..{self.num_processes - 1}, "
                             f"got {self.process_id}")


def _wait_for_coordinator(address: str, timeout_s: float) -> None:
    """Raises CoordinatorError unless a TCP connection to `address` opens within `timeout_s`.
    JAX's client aborts the whole process (a C++ fatal error and a stack trace) when it
    cannot register in time, so a process that is not the coordinator checks first."""
    host, _, port = address.rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=1.0).close()
            return
        except socket.gaierror as error:
            raise CoordinatorError(f"cannot resolve the coordinator {address} "
                                   f"({error.strerror})") from error
        except OSError as error:
            if time.monotonic() >= deadline:
                raise CoordinatorError(f"cannot reach the coordinator {address} within "
                                       f"{timeout_s:g} s; is process 0 running there?") from error
            time.sleep(0.2)


def initialize(config: DistributedConfig) -> None:
    """Joins this process to the run; call before anything else uses JAX."""
    config.validate()
    # CPU processes need a collectives backend to all-reduce across processes (gloo ships
    # with jaxlib); other platforms ignore the setting. A user's own setting wins.
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    start = time.monotonic()
    if config.coordinator is not None and config.process_id != 0:
        _wait_for_coordinator(config.coordinator, config.timeout_s)
    remaining = max(1, int(config.timeout_s - (time.monotonic() - start)))
    try:
        jax.distributed.initialize(config.coordinator, config.num_processes,
                                   config.process_id, initialization_timeout=remaining)
    except ValueError as error:
        if config.coordinator is not None:
            raise
        raise ValueError(f"distributed: no SLURM, Open MPI or Cloud TPU environment found to "
                         f"detect the processes from ({error}); give --coordinator HOST:PORT "
                         "--num-processes N --process-id I") from error


def is_main_process() -> bool:
    """Process 0 writes the run's files; every process computes."""
    return jax.process_index() == 0


def to_host(tree):
    """`tree` as numpy arrays. Arrays that span other processes' devices must be replicated
    (metrics, parameters); each process reads its own copy."""
    def fetch(x):
        if not isinstance(x, jax.Array) or x.is_fully_addressable:
            return np.asarray(jax.device_get(x))
        if not x.is_fully_replicated:
            raise ValueError(f"to_host: an array of shape {x.shape} is split across processes "
                             f"({x.sharding}); only replicated arrays can be read on one")
        return np.asarray(x.addressable_data(0))
    return jax.tree.map(fetch, tree)


def place(tree, shardings):
    """`tree` (identical in every process, e.g. computed from the same seed) laid out as
    global arrays with `shardings`. `jax.device_put` refuses shardings over other processes'
    devices, so each process builds its shards from its own copy."""
    if jax.process_count() == 1:
        return jax.device_put(tree, shardings)

    def build(x, sharding):
        typed_key = jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)
        host = np.asarray(jax.device_get(jax.random.key_data(x) if typed_key else x))
        array = jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
        return jax.random.wrap_key_data(array, impl=jax.random.key_impl(x)) if typed_key \
            else array
    return jax.tree.map(build, tree, shardings)


def any_process(flag: bool) -> bool:
    """True in every process if `flag` is true in any of them."""
    if jax.process_count() == 1:
        return flag
    return bool(np.asarray(multihost_utils.process_allgather(np.array(flag))).any())


def raise_together(error: Exception | None) -> None:
    """Raises `error` here, and a ValueError in every other process, if any process has one:
    a process that stopped alone would leave the others waiting in their next collective.
    Also a barrier."""
    failed = any_process(error is not None)
    if error is not None:
        raise error
    if failed:
        raise ValueError("another process of this run stopped with an error; see its output "
                         "(process 0 prints it)")


@contextlib.contextmanager
def together(*errors: type[Exception]):
    """A block that fails in every process if it raises one of `errors` in any of them
    (`raise_together` on its outcome)."""
    error = None
    try:
        yield
    except errors as failure:
        error = failure
    raise_together(error)


def barrier(name: str) -> None:
    """Waits until every process reaches the barrier called `name`."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
