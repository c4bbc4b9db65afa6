"""Per-env starting configurations: `quick` runs on a laptop CPU in minutes, the full preset
is sized for one accelerator. Every field can still be overridden on the command line."""
from __future__ import annotations

import dataclasses

from belief_jax.config import PPOConfig, TrainConfig

# Bandit: rewards come every pull, and a low γλ keeps the variance of advantages built from
# 0/1 rewards small; the belief agent's feed-forward policy acts on a sufficient statistic.
_BANDIT_PPO = PPOConfig(num_envs=256, rollout_length=100, num_epochs=4, num_minibatches=4,
                        gamma=0.9, gae_lambda=0.8, learning_rate=1e-3, max_grad_norm=100.0)
_SEMICIRCLE_PPO = PPOConfig(num_envs=128, rollout_length=100, num_epochs=4, num_minibatches=4,
                            gamma=0.99, gae_lambda=0.95, learning_rate=3e-4, ent_coef=0.001)
_QUICK_STEPS = {"bandit": 4_000_000, "semicircle": 2_000_000}
_PPO = {"bandit": _BANDIT_PPO, "semicircle": _SEMICIRCLE_PPO}


def preset(env: str, quick: bool) -> TrainConfig:
    ppo = _PPO.get(env, PPOConfig())
    if quick:
        return TrainConfig(env=env, total_env_steps=_QUICK_STEPS.get(env, 500_000), ppo=ppo)
    # Sized for one GPU/TPU: 4x the envs, 50M env steps per seed.
    return TrainConfig(env=env, total_env_steps=50_000_000,
                       ppo=dataclasses.replace(ppo, num_envs=4 * ppo.num_envs))
