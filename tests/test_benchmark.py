"""The benchmark's records and plot (tiny sizes: this checks the schema, not the speed)."""
import json
import subprocess
import sys

import pytest

from experiments import benchmark
from experiments.benchmark import parse_env

KEYS = {"env", "agent", "learner", "num_envs", "num_seeds", "num_devices", "kind",
        "steps_per_s", "compile_s", "peak_mem_mb"}


def test_env_specs_parse_kwargs():
    assert parse_env("numpad") == ("numpad", {})
    assert parse_env("semicircle:physics=mjx,goal_radius=0.3,episode_length=50") == (
        "semicircle", {"physics": "mjx", "goal_radius": 0.3, "episode_length": 50})


@pytest.mark.slow  # seven timed records, each compiled in a fresh benchmark process
def test_benchmark_writes_records_and_plot(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--envs", "bandit", "--num-envs", "8",
         "16", "--agents", "rnn", "--learners", "ppo", "--num-seeds", "1", "2",
         "--num-devices", "1", "--kinds", "env_only", "train", "peer_gru_ppo", "--steps", "5",
         "--repeats", "1", "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    records = json.loads(out.read_text())["records"]
    assert all(KEYS <= set(r) for r in records)
    kinds = [(r["kind"], r["num_envs"], r["num_seeds"]) for r in records]
    assert kinds == [("env_only", 8, 1), ("train", 8, 1), ("peer_gru_ppo", 8, 1),
                     ("env_only", 16, 1), ("train", 16, 1), ("peer_gru_ppo", 16, 1),
                     ("train", 8, 2)]
    assert all(r["steps_per_s"] > 0 and r["compile_s"] > 0 for r in records)
    assert out.with_suffix(".png").stat().st_size > 10_000
    # the loop against env-only and the peer, at each num_envs, from the same records
    assert "bandit rnn ppo 16 envs: " in result.stdout
    assert " x env_only, " in result.stdout and " x peer_gru_ppo" in result.stdout


def test_unknown_kind_is_refused_before_any_measurement(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--kinds", "train", "speed",
         "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--kinds must be among env_only, acting, train, peer_brax_ppo, peer_gru_ppo" \
        in result.stderr
    assert not out.exists()


@pytest.mark.slow
def test_brax_peer_epochs_alternate_with_our_loop(monkeypatch):
    """brax's PPO trainer on the same MJX body, with our belief loop timed after each of its
    epochs (compiles brax's trainer and our loop: ~1-2 min on a 2-core CPU)."""
    runs = []
    original = benchmark.Timing.run
    monkeypatch.setattr(benchmark.Timing, "run", lambda self: (runs.append(1), original(self)))
    bench = benchmark.BenchmarkConfig(agents=("belief",), learners=("ppo",),
                                      kinds=("train", "peer_brax_ppo"), repeats=1)
    rows = list(benchmark._interleaved_records(bench, "cheetah_vel:episode_length=200", 4,
                                               ["peer_brax_ppo"]))
    assert [(r["kind"], r["agent"], r["num_envs"]) for r in rows] == [
        ("train", "belief", 4), ("peer_brax_ppo", None, 4)]
    assert all(r["steps_per_s"] > 0 and r["compile_s"] > 0 for r in rows)
    assert len(runs) == 2 + bench.repeats  # one of ours after each of brax's epochs
