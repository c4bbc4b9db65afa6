"""Sizes and options of the agent's networks (the agent kind is `TrainConfig.agent`)."""
from __future__ import annotations

from dataclasses import dataclass

from belief_jax.validation import Validated, choice, non_negative, positive

CELLS = ("lstm", "gru")
POLICY_CORES = ("feedforward", "recurrent")
TASK_INFO_TARGETS = ("embedding", "task_id")


@dataclass(frozen=True)
class NetworkConfig(Validated):
    cell: str = "lstm"
    """recurrent cell: lstm or gru"""
    hidden_size: int = 128
    torso_sizes: tuple[int, ...] = (128, 128)
    """hidden layers of a feed-forward policy/critic torso (belief agent)"""
    head_sizes: tuple[int, ...] = (128,)
    """hidden layers of the policy and critic heads"""
    policy_core: str = "feedforward"
    """belief agent: policy/critic torso on top of the belief, feedforward or recurrent"""
    share_policy_critic: bool = False
    """belief agent: one torso for policy and critic"""
    aux_weight: float = 1.0
    """weight of the auxiliary (belief) log loss"""
    task_info_target: str = "embedding"
    """privileged info to predict: the env's embedding, or task_id (needs num_train_tasks)"""
    ib_belief: float = 0.0
    """β of the information bottleneck on the belief features (0 = off)"""
    ib_policy: float = 0.0
    """β of the information bottleneck on the policy input (0 = off)"""
    ib_critic: float = 0.0
    """β of the information bottleneck on the critic input (0 = off)"""
    ib_size: int = 8
    latent_size: int = 8
    """pearl: size of the task latent z"""
    pearl_kl: float = 0.1
    """pearl: β of KL(q(z | context) ‖ N(0, I)) (PEARL uses 0.1)"""
    ib_eval_mean: bool = True
    """evaluate with the bottleneck mean μ instead of a sample"""

    def validate(self) -> None:
        choice("network.cell", self.cell, CELLS)
        choice("network.policy_core", self.policy_core, POLICY_CORES)
        choice("network.task_info_target", self.task_info_target, TASK_INFO_TARGETS)
        positive(self, "network.", "hidden_size", "ib_size", "latent_size")
        non_negative(self, "network.", "aux_weight", "ib_belief", "ib_policy", "ib_critic",
                     "pearl_kl")
        if any(s <= 0 for s in (*self.torso_sizes, *self.head_sizes)):
            raise ValueError("network.torso_sizes and network.head_sizes must be positive")
