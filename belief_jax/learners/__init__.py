"""Learners behind one seam (`learners.base`): PPO (on-policy) and SVG(0) with Retrace
(off-policy). Importing this package registers both; `names()` lists what `--learner` takes."""
from belief_jax.learners.base import Learner, LearnerConfig, config_type, names, register
from belief_jax.learners.ppo import PPO, PPOConfig
from belief_jax.learners.svg0 import SVG0, SVGConfig

__all__ = ["PPO", "SVG0", "Learner", "LearnerConfig", "PPOConfig", "SVGConfig", "config_type",
           "names", "register"]
