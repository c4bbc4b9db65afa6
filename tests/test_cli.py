import json
import subprocess
import sys
from pathlib import Path

import pytest

from belief_jax.learners import PPO
from belief_jax.runner import metric_columns
from experiments.plotting import read_csv

NETWORK_FLAGS = ["--iterations-per-chunk", "2", "--num-eval-envs", "8",
                 "--network.hidden-size", "8", "--network.torso-sizes", "8",
                 "--network.head-sizes", "8"]
TINY_FLAGS = ["--env-kwargs", "num_arms", "3", "num_pulls", "10", "--total-env-steps", "320",
              "--ppo.num-envs", "8", "--ppo.rollout-length", "10", "--ppo.num-minibatches", "2",
              *NETWORK_FLAGS]


def _train(*flags, cwd=None):
    return subprocess.run([sys.executable, "-m", "experiments.train", *flags],
                          capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("agent", ["belief", "rnn"])
def test_cli_writes_config_metrics_summary_and_plot(tmp_path, agent):
    out = tmp_path / "run"
    result = _train("--env", "bandit", "--agent", agent, "--learner", "ppo", "--quick",
                    "--seed", "3", "--num-seeds", "2", "--out", str(out), *TINY_FLAGS)
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["agent"] == agent and config["seed"] == 3 and config["num_seeds"] == 2
    assert config["ppo"]["num_envs"] == 8 and config["env_kwargs"]["num_arms"] == 3
    rows = read_csv(out / "metrics.csv")
    assert len(rows) == 2 and tuple(rows[0]) == metric_columns(PPO.metric_names)
    assert tuple(rows[0])[:5] == ("iteration", "env_steps", "wall_s", "steps_per_s",
                                  "train_return") and "value_loss" in rows[0]
    assert [r["env_steps"] for r in rows] == [160, 320]
    summary = json.loads((out / "summary.json").read_text())
    for key in ("env", "agent", "learner", "env_steps", "wall_s", "steps_per_s",
                "final_train_return", "final_validation_return", "final_aux_log_likelihood"):
        assert key in summary
    assert summary["env_steps"] == 320 and 0 <= summary["final_validation_return"] <= 10
    assert (summary["final_aux_log_likelihood"] is None) == (agent == "rnn")
    assert (out / "learning_curves.png").stat().st_size > 1000


@pytest.mark.parametrize("flags, message", [
    (["--agent", "transformer"], "agent='transformer' is not valid; choose one of ['rnn'"),
    (["--env", "cartpole"], "env='cartpole' is not valid; choose one of ['bandit'"),
    (["--ppo.num-envs", "0"], "num_envs must be positive"),
    (["--ppo.rollout-length", "150"], "ppo.rollout_length=150 is longer than a trial"),
    (["--network.task-info-target", "task_id"], "needs num_train_tasks >= 1"),
    (["--env-kwargs", "arms", "3"], "unknown env kwargs ['arms']"),
    (["--learner", "sac"], "learner='sac' is not valid; choose one of ['ppo', 'svg0']"),
    (["--learner", "svg0", "--svg0.gamma", "2"], "svg0.gamma must lie in [0, 1], got 2.0"),
    (["--agent", "pearl"], "agent='pearl' needs an off-policy learner, not learner='ppo'"),
    (["--preset", "medium"], "preset='medium' is not valid; choose one of ['quick', 'cpu'"),
    (["--preset", "cpu", "--env", "semicircle"], "no cpu preset for env='semicircle'"),
    (["--quick", "--preset", "cpu"], "--quick is --preset quick; it contradicts"),
    (["--network.policy-head", "factored", "--agent", "rnn"], "needs agent in ['belief']"),
])
def test_cli_bad_config_is_one_line_and_exit_2(tmp_path, flags, message):
    result = _train("--out", str(tmp_path / "bad"), *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "bad" / "metrics.csv").exists()


@pytest.mark.slow  # end-to-end (CLI processes); in the slow step to keep `make test` under 10 min
def test_cli_keeps_an_earlier_run_unless_told_to_overwrite(tmp_path):
    out = tmp_path / "run"
    assert _train("--out", str(out), *TINY_FLAGS).returncode == 0
    before = (out / "metrics.csv").read_text()
    again = _train("--out", str(out), "--seed", "9", *TINY_FLAGS)
    assert again.returncode == 2 and "already holds a run" in again.stderr
    assert (out / "metrics.csv").read_text() == before
    assert _train("--out", str(out), "--seed", "9", "--overwrite", *TINY_FLAGS).returncode == 0
    assert json.loads((out / "config.json").read_text())["seed"] == 9


SVG_TINY = ["--svg0.num-envs", "8", "--svg0.rollout-length", "5", "--svg0.sequence-length", "4",
            "--svg0.batch-size", "4", "--svg0.replay-size", "400", "--svg0.min-replay", "40"]


@pytest.mark.parametrize("agent", ["belief", "pearl"])
def test_cli_trains_with_svg0(tmp_path, agent):
    out = tmp_path / "svg"
    result = _train("--env", "semicircle", "--agent", agent, "--learner", "svg0", "--quick",
                    "--out", str(out), "--env-kwargs", "episode_length", "10",
                    "--total-env-steps", "160", *NETWORK_FLAGS, *SVG_TINY)
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["learner"] == "svg0" and summary["agent"] == agent
    assert summary["env_steps"] == 160
    assert (summary["final_aux_log_likelihood"] is None) == (agent == "pearl")
    config = json.loads((out / "config.json").read_text())
    assert config["learner"] == "svg0" and config["svg0"]["batch_size"] == 4
    assert "ppo" not in config  # only the chosen learner's config exists
    rows = read_csv(out / "metrics.csv")
    assert all(r["critic_loss"] == r["critic_loss"] for r in rows)  # learning has started
    assert (out / "learning_curves.png").exists()


def test_cli_env_kwargs_extend_and_override_the_preset():
    from experiments.train import parse
    config, _, _ = parse(["--env", "numpad", "--quick", "--env-kwargs", "physics", "mjx"])
    assert config.env_kwargs == {"episode_length": 100, "physics": "mjx"}
    config, _, _ = parse(["--env", "numpad", "--quick", "--env-kwargs", "episode_length", "40"])
    assert config.env_kwargs == {"episode_length": 40}


def test_cli_refuses_a_learner_flag_of_another_learner(tmp_path):
    """Only the chosen learner's fields are parsed: --svg0.* does not exist for ppo."""
    result = _train("--out", str(tmp_path / "bad"), "--learner", "ppo", "--svg0.batch-size", "4")
    assert result.returncode == 2 and "--svg0.batch-size" in result.stderr
    assert not (tmp_path / "bad").exists()


@pytest.mark.parametrize("where", ["file", "under_file", "unwritable"])
def test_cli_bad_out_is_one_line_and_exit_2(tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    # /proc takes no new directories, not even from root
    out = {"file": blocker, "under_file": blocker / "run",
           "unwritable": Path("/proc/belief_jax_test/run")}[where]
    result = _train("--out", str(out), *TINY_FLAGS)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert f"out={str(out)!r}" in result.stderr
    assert blocker.read_text() == "not a directory"


def test_presets_by_size():
    from experiments.train import parse
    quick, _, _ = parse(["--quick"])
    cpu, _, _ = parse(["--preset", "cpu"])
    full, _, _ = parse([])
    assert cpu.total_env_steps == 8_000_000 > quick.total_env_steps == 2_000_000
    assert cpu.learner == quick.learner and cpu.learner.num_envs == 64
    assert full.learner.num_envs == 256 and full.total_env_steps == 50_000_000
    assert quick.network.policy_head == "auto" == cpu.network.policy_head


def test_mjx_bodies_cpu_presets_have_a_shape_of_their_own():
    """cpu trains the quick shape longer, except where that shape is too small to learn in:
    cheetah_vel's cpu preset keeps the env's 200-step episodes, with more envs, value and
    observation normalisation and the per-module clip, and the experiments build it too."""
    from experiments.train import parse
    from experiments.velocity_trials import Args, configs
    quick, _, _ = parse(["--env", "cheetah_vel", "--quick"])
    cpu, _, _ = parse(["--env", "cheetah_vel", "--preset", "cpu"])
    assert quick.env_kwargs == {"episode_length": 50} and quick.learner.num_envs == 16
    assert cpu.env_kwargs == {} and cpu.total_env_steps == 8_000_000
    assert (cpu.learner.num_envs, cpu.learner.rollout_length) == (64, 50)
    assert cpu.learner.normalize_values and not quick.learner.normalize_values
    assert cpu.learner.clip_per_module and not quick.learner.clip_per_module
    assert cpu.network.normalize_observations and not quick.network.normalize_observations
    assert cpu.iterations_per_chunk == 50
    ant, _, _ = parse(["--env", "quadruped_semicircle", "--preset", "cpu"])
    assert ant.env_kwargs == {} and ant.learner.num_envs == 64
    assert ant.network.normalize_observations and ant.learner.normalize_values
    # both bodies have an SVG(0) cpu preset in the same shape (envs, episodes, observations)
    for env, body in (("cheetah_vel", cpu), ("quadruped_semicircle", ant)):
        svg0, _, _ = parse(["--env", env, "--preset", "cpu", "--learner", "svg0"])
        assert svg0.learner.name == "svg0" and svg0.learner.num_envs == 64
        assert svg0.env_kwargs == body.env_kwargs and svg0.network == body.network
        assert 0 < svg0.total_env_steps < body.total_env_steps
    belief, oracle = configs(Args(preset="cpu"))
    assert belief.learner == cpu.learner and oracle.agent == "oracle"
    assert belief.network == oracle.network == cpu.network
    assert belief.env_kwargs == {} and belief.total_env_steps >= 5_000_000


def test_numpad_cpu_preset_and_its_belief_analysis():
    """NumPad's cpu preset: 200-step episodes (the quick 100), 256 envs with whole
    100-step rollouts and PPO's entropy bonus 0.01; belief_analysis builds it, 3 seeds."""
    from experiments import belief_analysis
    from experiments.train import parse
    quick, _, _ = parse(["--env", "numpad", "--quick"])
    cpu, _, _ = parse(["--env", "numpad", "--preset", "cpu"])
    assert quick.env_kwargs == {"episode_length": 100} and quick.learner.num_envs == 64
    assert cpu.env_kwargs == {"episode_length": 200} and cpu.total_env_steps == 12_000_000
    assert (cpu.learner.num_envs, cpu.learner.rollout_length) == (256, 100)
    assert cpu.learner.ent_coef == 0.01 > quick.learner.ent_coef
    [config] = belief_analysis.configs(belief_analysis.Args(preset="cpu", envs=("numpad",)))
    assert config.env_kwargs == cpu.env_kwargs and config.learner == cpu.learner
    assert config.num_seeds == 3 and config.total_env_steps >= 12_000_000
    with pytest.raises(ValueError, match="no cpu preset for env='numpad' with learner='svg0'"):
        parse(["--env", "numpad", "--preset", "cpu", "--learner", "svg0"])
