"""belief_jax: meta-RL as task inference (Humplik et al., 2019) in pure JAX."""
from belief_jax.config import NetworkConfig, PPOConfig, TrainConfig
from belief_jax.train import Trainer, make_train

__all__ = ["NetworkConfig", "PPOConfig", "TrainConfig", "Trainer", "make_train"]
