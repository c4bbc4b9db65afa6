"""The benchmark's records and plot (tiny sizes: this checks the schema, not the speed)."""
import json
import subprocess
import sys

from experiments.benchmark import parse_env

KEYS = {"env", "agent", "learner", "num_envs", "num_seeds", "num_devices", "kind",
        "steps_per_s", "compile_s", "peak_mem_mb"}


def test_env_specs_parse_kwargs():
    assert parse_env("numpad") == ("numpad", {})
    assert parse_env("semicircle:physics=mjx,goal_radius=0.3,episode_length=50") == (
        "semicircle", {"physics": "mjx", "goal_radius": 0.3, "episode_length": 50})


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
    assert kinds == [("env_only", 8, 1), ("env_only", 16, 1), ("peer_gru_ppo", 8, 1),
                     ("peer_gru_ppo", 16, 1), ("train", 8, 1), ("train", 16, 1), ("train", 8, 2)]
    assert all(r["steps_per_s"] > 0 and r["compile_s"] > 0 for r in records)
    assert out.with_suffix(".png").stat().st_size > 10_000


def test_unknown_kind_is_refused_before_any_measurement(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "experiments.benchmark", "--kinds", "train", "speed",
         "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "--kinds must be among env_only, acting, train, peer_brax_ppo, peer_gru_ppo" \
        in result.stderr
    assert not out.exists()
