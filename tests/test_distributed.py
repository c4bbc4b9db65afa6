"""Multi-process runs (JAX's distributed runtime, gloo collectives on CPU): two processes on
this machine train as one run, match a one-process run, stop together and resume."""
import csv
import json
import signal
import socket
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from test_runner import (
    ENV,
    FLAGS,
    SVG_FLAGS,
    TWO_DEVICES,
    _final_params,
    _metrics,
    _wait_for_checkpoint,
    _with_base,
)

from belief_jax.distributed import CoordinatorError, DistributedConfig, _wait_for_coordinator

# 12 chunks of 2 iterations; each process shuffles its own envs (two groups)
STEPS = ["--total-env-steps", str(8 * 10 * 2 * 12), "--ppo.shuffle-groups", "2"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _launch(out, *flags, steps=STEPS, processes=2):
    """Every process of a run started with the same command but its --process-id."""
    port = _free_port()
    return [subprocess.Popen(
        [sys.executable, "-m", "experiments.train", *_with_base([*steps, *flags]), "--out",
         str(out),
         "--coordinator", f"localhost:{port}", "--num-processes", str(processes),
         "--process-id", str(i), "--coordinator-timeout", "120"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i in range(processes)]


def _finish(processes, timeout=300) -> list[tuple[int, str, str]]:
    results = []
    try:
        for process in processes:
            stdout, stderr = process.communicate(timeout=timeout)
            results.append((process.returncode, stdout, stderr))
    finally:  # a process left waiting in a collective must not outlive the test
        for process in processes:
            process.kill()
    return results


def _run_two(out, *flags, steps=STEPS):
    results = _finish(_launch(out, *flags, steps=steps))
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    return results


def _assert_same_params(a, b, **tolerance):
    for x, y in zip(jax.tree.leaves(a.learner.params), jax.tree.leaves(b.learner.params),
                    strict=True):
        if tolerance:
            np.testing.assert_allclose(x, y, **tolerance)
        else:
            np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("two_processes") / "run"
    _run_two(out)
    return out


@pytest.mark.slow  # two processes compile the chunk, and two one-process references
def test_two_processes_match_one_process(two_process_run, tmp_path):
    files = sorted(p.name for p in two_process_run.iterdir())
    assert files == ["checkpoints", "config.json", "learning_curves.png", "metrics.csv",
                     "summary.json"]
    assert len(_metrics(two_process_run)) == 12
    for devices, env in ((2, TWO_DEVICES), (1, ENV)):
        out = tmp_path / f"one_process_{devices}"
        single = subprocess.run([sys.executable, "-m", "experiments.train", *FLAGS, *STEPS,
                                 "--out", str(out)], env=env, capture_output=True, text=True)
        assert single.returncode == 0, single.stderr
        _, a = _final_params(two_process_run, STEPS)
        _, b = _final_params(out, STEPS)
        if devices == 2:  # the same SPMD program on the same 2-device mesh
            assert _metrics(two_process_run) == _metrics(out)
            _assert_same_params(a, b)
            continue
        for row_a, row_b in zip(_metrics(two_process_run), _metrics(out), strict=True):
            for key in row_a:
                np.testing.assert_allclose(float(row_a[key]), float(row_b[key]), rtol=2e-4,
                                           atol=2e-5, err_msg=key)
        _assert_same_params(a, b, rtol=1e-3, atol=1e-5)


def _interrupt(out, sig):
    """Two processes, and `sig` to process 1 once the second chunk's checkpoint is written."""
    processes = _launch(out)
    _wait_for_checkpoint(out, 1, processes[0])
    processes[1].send_signal(sig)
    return processes


def _assert_resumes_to(out, whole):
    """Resumed with the same command, the run ends as the uninterrupted one, bit for bit."""
    results = _run_two(out, "--resume")
    assert "resuming" in results[0][1]
    assert _metrics(out) == _metrics(whole)
    _assert_same_params(_final_params(out, STEPS)[1], _final_params(whole, STEPS)[1])


@pytest.mark.slow
def test_sigkill_of_one_process_resumes_to_the_uninterrupted_run(two_process_run, tmp_path):
    out = tmp_path / "killed"
    processes = _interrupt(out, signal.SIGKILL)
    # The survivor waits in its next collective until JAX's runtime aborts it (~1 minute
    # here); a job scheduler kills the rest of the job, as here.
    time.sleep(1.0)
    processes[0].send_signal(signal.SIGKILL)
    _finish(processes)
    assert not (out / "summary.json").exists()  # really cut short
    _assert_resumes_to(out, two_process_run)


@pytest.mark.slow
def test_sigterm_to_one_process_stops_both_after_the_chunk(two_process_run, tmp_path):
    out = tmp_path / "terminated"
    results = _finish(_interrupt(out, signal.SIGTERM))
    for code, _, stderr in results:
        assert code == 0, stderr[-3000:]
    assert "interrupted by a signal to another process" in results[0][1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True and summary["env_steps"] < 8 * 10 * 2 * 12
    _assert_resumes_to(out, two_process_run)


@pytest.mark.slow
def test_svg0_two_processes_match_one_process_on_two_devices(tmp_path):
    """SVG(0)'s replay buffer is replicated on every device: in two processes each holds the
    whole buffer, and the run is the one-process, two-device run."""
    steps = ["--total-env-steps", str(8 * 5 * 2 * 6), *SVG_FLAGS]
    _run_two(tmp_path / "two", steps=steps)
    single = subprocess.run([sys.executable, "-m", "experiments.train", *_with_base(steps),
                             "--out", str(tmp_path / "one")], env=TWO_DEVICES,
                            capture_output=True, text=True)
    assert single.returncode == 0, single.stderr
    assert _metrics(tmp_path / "two") == _metrics(tmp_path / "one")
    _assert_same_params(_final_params(tmp_path / "two", steps)[1],
                        _final_params(tmp_path / "one", steps)[1])


def test_num_envs_must_split_across_every_process_device(tmp_path):
    """Two processes of one device each, 5 envs: a validation error before compiling."""
    results = _finish(_launch(tmp_path / "run", "--ppo.num-envs", "5",
                              "--ppo.num-minibatches", "1", steps=[]), timeout=120)
    for code, stdout, stderr in results:
        assert code == 2, stderr[-3000:]
        assert "ppo.num_envs=5 must be divisible by the number of devices (2 across 2 " \
               "processes)" in stderr
        assert "compiled" not in stdout
    assert not (tmp_path / "run").exists()


def test_unreachable_coordinator_exits_2_with_one_line(tmp_path):
    port = _free_port()  # nothing listens there
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "experiments.train", *FLAGS, "--out", str(tmp_path / "run"),
         "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", "1",
         "--coordinator-timeout", "2"], env=ENV, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [f"error: cannot reach the coordinator localhost:{port} within 2 s; is "
                     "process 0 running there?"]
    assert time.monotonic() - start < 60
    assert not (tmp_path / "run").exists()


def test_coordinator_wait_returns_once_it_listens_and_names_a_bad_host():
    with socket.socket() as server:
        server.bind(("localhost", 0))
        server.listen()
        _wait_for_coordinator(f"localhost:{server.getsockname()[1]}", 2)
    with pytest.raises(CoordinatorError, match="cannot resolve the coordinator no-such-host"):
        _wait_for_coordinator("no-such-host.invalid:1234", 2)


@pytest.mark.parametrize("fields, message", [
    (dict(coordinator="localhost:1"), "give all of coordinator, num_processes and process_id"),
    (dict(coordinator="localhost", num_processes=2, process_id=0), "must be HOST:PORT"),
    (dict(coordinator="h:70000", num_processes=2, process_id=0), "must be HOST:PORT"),
    (dict(coordinator="h:1", num_processes=2, process_id=2), r"process_id must be in 0\.\.1"),
    (dict(coordinator="h:1", num_processes=0, process_id=0), "num_processes must be >= 1"),
    (dict(timeout_s=0), "distributed.timeout_s must be positive")])
def test_distributed_config_names_the_bad_field(fields, message):
    with pytest.raises(ValueError, match=message):
        DistributedConfig(**fields)


@pytest.mark.slow
def test_process_layout_benchmark_writes_one_row_per_layout(tmp_path):
    from experiments.benchmark.processes import Args, main
    main(Args(out=tmp_path, train_flags=" ".join([*FLAGS, *STEPS[:2]]),
              layouts=("1x1:1", "2x1:2")))
    with open(tmp_path / "processes.csv") as f:
        rows = list(csv.DictReader(f))
    assert [(r["layout"], r["shuffle_groups"]) for r in rows] == [("1x1", "1"), ("2x1", "2")]
    assert float(rows[0]["ratio"]) == 1.0 and all(float(r["steps_per_s"]) > 0 for r in rows)
