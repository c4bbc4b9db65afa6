"""belief_jax: meta-RL as task inference (Humplik et al., 2019) in pure JAX."""
from belief_jax import _xla_flags

_xla_flags.apply()  # before any JAX backend exists; see the module for why

from belief_jax.config import (  # noqa: E402
    NetworkConfig,
    PPOConfig,
    SVGConfig,
    TrainConfig,
)
from belief_jax.train import Trainer, make_train  # noqa: E402

__all__ = ["NetworkConfig", "PPOConfig", "SVGConfig", "TrainConfig", "Trainer", "make_train"]
