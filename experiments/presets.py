"""Per-env starting configurations: `quick` runs on a laptop CPU in minutes, the full preset
is sized for one accelerator. Every field can still be overridden on the command line."""
from __future__ import annotations

import dataclasses

from belief_jax.config import PPOConfig, SVGConfig, TrainConfig

# Bandit: rewards come every pull, and a low γλ keeps the variance of advantages built from
# 0/1 rewards small; the belief agent's feed-forward policy acts on a sufficient statistic.
_BANDIT_PPO = PPOConfig(num_envs=256, rollout_length=100, num_epochs=4, num_minibatches=4,
                        gamma=0.9, gae_lambda=0.8, learning_rate=1e-3, max_grad_norm=100.0)
_SEMICIRCLE_PPO = PPOConfig(num_envs=128, rollout_length=100, num_epochs=4, num_minibatches=4,
                            gamma=0.99, gae_lambda=0.95, learning_rate=3e-4, ent_coef=0.001)
_QUICK_STEPS = {("bandit", "ppo"): 4_000_000, ("semicircle", "ppo"): 2_000_000,
                ("bandit", "svg0"): 3_000_000, ("semicircle", "svg0"): 1_000_000}
_PPO = {"bandit": _BANDIT_PPO, "semicircle": _SEMICIRCLE_PPO}
# SVG(0) on the bandit: λ = 0.5 keeps the variance of Retrace targets built from 0/1 rewards
# low; α starts high (explore while Q is still flat) and anneals slowly to a low entropy.
_SVG = {"bandit": SVGConfig(gamma=0.9, retrace_lambda=0.5, learning_rate=1e-3,
                            replay_ratio=0.01, tune_alpha=True, alpha=0.1, target_entropy=0.5,
                            alpha_learning_rate=1e-4),
        "semicircle": SVGConfig(tune_alpha=True)}


def preset(env: str, learner: str, quick: bool) -> TrainConfig:
    ppo, svg0 = _PPO.get(env, PPOConfig()), _SVG.get(env, SVGConfig())
    # SVG(0) iterations are short (640 env steps): 100 per chunk keeps validation, which
    # runs once per chunk, a small share of the time.
    chunk = 100 if learner == "svg0" else 10
    if quick:
        steps = _QUICK_STEPS.get((env, learner), 500_000)
        return TrainConfig(env=env, learner=learner, total_env_steps=steps, ppo=ppo, svg0=svg0,
                           iterations_per_chunk=chunk)
    # Sized for one GPU/TPU: 4x the envs, 50M env steps per seed.
    return TrainConfig(env=env, learner=learner, total_env_steps=50_000_000,
                       iterations_per_chunk=chunk,
                       ppo=dataclasses.replace(ppo, num_envs=4 * ppo.num_envs),
                       svg0=dataclasses.replace(svg0, num_envs=4 * svg0.num_envs,
                                                replay_size=4 * svg0.replay_size))
