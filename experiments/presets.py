"""Per-env starting configurations: `quick` runs on a laptop CPU in minutes, the full preset
is sized for one accelerator. Every field can still be overridden on the command line."""
from __future__ import annotations

import dataclasses

from belief_jax.config import PPOConfig, SVGConfig, TrainConfig

# Bandit: rewards come every pull, and a low γλ keeps the variance of advantages built from
# 0/1 rewards small; the belief agent's feed-forward policy acts on a sufficient statistic.
_BANDIT_PPO = PPOConfig(num_envs=256, rollout_length=100, num_epochs=4, num_minibatches=4,
                        gamma=0.9, gae_lambda=0.8, learning_rate=1e-3, max_grad_norm=100.0)
_CONTROL_PPO = PPOConfig(num_envs=128, rollout_length=100, num_epochs=4, num_minibatches=4,
                         gamma=0.99, gae_lambda=0.95, learning_rate=3e-4, ent_coef=0.001)
_PPO = {"bandit": _BANDIT_PPO}
# SVG(0) on the bandit: λ = 0.5 keeps the variance of Retrace targets built from 0/1 rewards
# low; α starts high (explore while Q is still flat) and anneals slowly to a low entropy.
_SVG = {"bandit": SVGConfig(gamma=0.9, retrace_lambda=0.5, learning_rate=1e-3,
                            replay_ratio=0.01, tune_alpha=True, alpha=0.1, target_entropy=0.5,
                            alpha_learning_rate=1e-4)}


@dataclasses.dataclass(frozen=True)
class _Quick:
    """What `--quick` changes: env steps per learner, and for MJX envs fewer envs, shorter
    episodes and a smaller validation batch, so a run fits in minutes on a 2-core CPU."""

    steps: dict
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    num_envs: int | None = None
    num_eval_envs: int = 256
    min_replay: int | None = None


_QUICK = {
    "bandit": _Quick(steps={"ppo": 4_000_000, "svg0": 3_000_000}),
    "semicircle": _Quick(steps={"ppo": 2_000_000, "svg0": 1_000_000}),
    "numpad": _Quick(steps={"ppo": 1_000_000, "svg0": 300_000},
                     env_kwargs={"episode_length": 100}, num_envs=64, num_eval_envs=64),
    "cheetah_vel": _Quick(steps={"ppo": 64_000, "svg0": 24_000},
                          env_kwargs={"episode_length": 50}, num_envs=16, num_eval_envs=16,
                          min_replay=2_000),
    "quadruped_semicircle": _Quick(steps={"ppo": 32_000, "svg0": 16_000},
                                   env_kwargs={"episode_length": 50}, num_envs=16,
                                   num_eval_envs=8, min_replay=2_000),
}


def preset(env: str, learner: str, quick: bool) -> TrainConfig:
    ppo, svg0 = _PPO.get(env, _CONTROL_PPO), _SVG.get(env, SVGConfig(tune_alpha=True))
    # SVG(0) iterations are short (640 env steps): 100 per chunk keeps validation, which
    # runs once per chunk, a small share of the time.
    chunk = 100 if learner == "svg0" else 10
    if quick:
        q = _QUICK.get(env, _Quick(steps={"ppo": 500_000, "svg0": 500_000}))
        if q.num_envs:
            # a rollout of half an episode keeps iterations (and chunks) short
            rollout = min(ppo.rollout_length, q.env_kwargs.get("episode_length", 10**9) // 2)
            ppo = dataclasses.replace(ppo, num_envs=q.num_envs, rollout_length=rollout)
            svg0 = dataclasses.replace(svg0, num_envs=q.num_envs)
        if q.min_replay is not None:
            svg0 = dataclasses.replace(svg0, min_replay=q.min_replay,
                                       replay_size=min(svg0.replay_size, 20 * q.min_replay))
        return TrainConfig(env=env, learner=learner, total_env_steps=q.steps[learner],
                           env_kwargs=dict(q.env_kwargs), num_eval_envs=q.num_eval_envs,
                           ppo=ppo, svg0=svg0, iterations_per_chunk=chunk)
    # Sized for one GPU/TPU: 4x the envs, 50M env steps per seed.
    return TrainConfig(env=env, learner=learner, total_env_steps=50_000_000,
                       iterations_per_chunk=chunk,
                       ppo=dataclasses.replace(ppo, num_envs=4 * ppo.num_envs),
                       svg0=dataclasses.replace(svg0, num_envs=4 * svg0.num_envs,
                                                replay_size=4 * svg0.replay_size))


# Env steps per run in the experiments' sweeps with --quick: a few minutes for a whole sweep
# on a 2-core CPU, so far from converged (the MJX envs most of all).
_EXPERIMENT_QUICK_STEPS = {"bandit": 300_000, "semicircle": 300_000, "numpad": 200_000,
                           "cheetah_vel": 16_000, "quadruped_semicircle": 8_000}


def experiment_steps(env: str, learner: str, quick: bool) -> int:
    """Env steps per run of an experiment sweep: the quick table, or the full preset's."""
    if quick:
        steps = _EXPERIMENT_QUICK_STEPS.get(env, 200_000)
        return steps if learner == "ppo" else (2 * steps) // 3
    return preset(env, learner, quick).total_env_steps
