"""Sizes and options of the agent's networks (the agent kind is `TrainConfig.agent`)."""
from __future__ import annotations

from dataclasses import dataclass

import jax

from belief_jax.validation import Validated, choice, non_negative, positive

CELLS = ("lstm", "gru")
POLICY_CORES = ("feedforward", "recurrent")
POLICY_HEADS = ("generic", "factored", "auto")
LR_SCHEDULES = ("constant", "cosine")
TASK_INFO_TARGETS = ("embedding", "task_id")
PEARL_TRAIN_Z = ("trial", "resampled", "held")
PEARL_POLICY_Z = ("learner", "held")


def switched_on(weight) -> bool:
    """Whether a loss weight that adds a module (an information bottleneck) switches it on:
    > 0, or a traced value, which a one-program sweep (`belief_jax.sweep`) allows only for
    values that are all positive."""
    return isinstance(weight, jax.core.Tracer) or weight > 0


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
    policy_head: str = "generic"
    """belief agent: generic (MLP on the whole belief), factored (each action scored from its
    own factor of the belief by one shared network; for envs whose actions index the task
    info's dimensions, the bandit; see agents.factored), or auto (factored wherever it
    applies, generic elsewhere; the bandit preset's choice)"""
    trial_progress: bool = False
    """add the fraction of the trial elapsed to the agent's input"""
    reward_by_action: bool = False
    """discrete actions: add prev_action·r and prev_action·(1 − r) to the input"""
    chrono_init: int = 0
    """LSTM cores: chrono initialisation of the gate biases for memories of up to this many
    steps (Tallec & Ollivier 2018; the trial length is the natural value); 0 = off"""
    belief_head_sizes: tuple[int, ...] = ()
    """belief agent: hidden layers of the belief head between its core and the belief's
    parameters (none: linear)"""
    belief_learning_rate: float = 0.0
    """belief agent: the belief network's own Adam learning rate, with its own gradient
    clipping (it learns only from the belief loss); 0 = train it with the learner's optimiser"""
    belief_lr_schedule: str = "constant"
    """the belief's own learning rate: constant, or cosine (decayed over the run to 3%)"""
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
    pearl_free_nats: float = 0.0
    """pearl: the KL penalty counts each step's KL only above this many nats ("free bits",
    Kingma et al. 2016), so z may carry that much about the task at no cost. At 0 the
    posterior collapsed onto the prior on semicircle; 8 (one nat per latent dimension) kept
    z informative and adapted between episodes on one seed, but not over 3 seeds, and
    learnt lower returns (see the README), so the default stays 0"""
    pearl_max_nats: float = 0.0
    """pearl: a ceiling on each step's KL (0 = none): nats above it cost
    `losses.MAX_NATS_WEIGHT` each, on top of the β-weighted KL, so z can say at most about
    this much about the task however hard the critic pulls (the capacity idea of Burgess et
    al. 2018, one-sided). The posterior otherwise grew to 100-200 nats while the agent
    unlearned; with 10 on semicircle it stayed at 2-14 nats and the agent unlearned all the
    same (3 seeds; README, *PEARL-style agent*), so the default stays 0"""
    latent_eval_mean: bool = False
    """pearl: evaluate with the posterior mean of z instead of a posterior sample (PEARL
    samples; the mean is 0 in a trial's first episode)"""
    pearl_train_z: str = "resampled"
    """pearl, in the learner's forward pass: 'resampled' draws z (reparameterised) at every
    step from the posterior of the trial's context so far; 'trial' draws one z per trial
    segment of the sequence from the posterior of its whole replayed context, later steps
    included (PEARL's z from the task's context; on semicircle it learnt far slower: see the
    README); 'held' uses the z the actor held for the episode (gradient only where a
    sequence holds an episode start)"""
    pearl_policy_z: str = "held"
    """pearl, in the learner's forward pass: the z the policy reads. 'held' (the default):
    the z the actor held for the episode, drawn at its start from the context of the trial's
    earlier episodes, which is what the policy reads when it acts; 'learner': the z drawn as
    pearl_train_z says, as the critic reads it ('resampled' and 'trial' also hold the current
    episode's steps, which the acting policy never has; on semicircle it learnt and then
    unlearnt by 1.1M env steps, where 'held' had not yet, though it too declined by 2.2M: see
    the README). The critic, and so the encoder, always learn from pearl_train_z's z"""
    latent_learner_pass: bool = False
    """internal: set by the learner for its forward pass (z drawn as pearl_train_z says)"""
    normalize_observations: bool = False
    """the agent reads observations normalised by the running mean and std of all those the
    learner has seen (`belief_jax.obs_norm`; brax's PPO does this for its MuJoCo bodies)"""
    ib_eval_mean: bool = True
    """evaluate with the bottleneck mean μ instead of a sample"""
    policy_eval_mode: bool = False
    """validation acts with the policy's most likely action instead of a sample: the Gaussian
    mean (squashed into the box where the learner squashes), the argmax for discrete actions"""

    @property
    def bottlenecked(self) -> bool:
        """Some information bottleneck is on."""
        return any(switched_on(w) for w in (self.ib_belief, self.ib_policy, self.ib_critic))

    def validate(self) -> None:
        choice("network.cell", self.cell, CELLS)
        choice("network.policy_core", self.policy_core, POLICY_CORES)
        choice("network.task_info_target", self.task_info_target, TASK_INFO_TARGETS)
        choice("network.policy_head", self.policy_head, POLICY_HEADS)
        choice("network.belief_lr_schedule", self.belief_lr_schedule, LR_SCHEDULES)
        if self.chrono_init == 1 or self.chrono_init < 0:
            raise ValueError(f"network.chrono_init must be 0 (off) or >= 2, got "
                             f"{self.chrono_init}")
        if self.chrono_init and self.cell != "lstm":
            raise ValueError(f"network.chrono_init needs cell='lstm', got cell={self.cell!r}")
        if self.policy_head == "factored" and self.bottlenecked:
            raise ValueError("network.policy_head='factored' reads the belief's factors "
                             "directly: set network.ib_belief, ib_policy and ib_critic to 0")
        positive(self, "network.", "hidden_size", "ib_size", "latent_size")
        choice("network.pearl_train_z", self.pearl_train_z, PEARL_TRAIN_Z)
        choice("network.pearl_policy_z", self.pearl_policy_z, PEARL_POLICY_Z)
        non_negative(self, "network.", "aux_weight", "ib_belief", "ib_policy", "ib_critic",
                     "pearl_kl", "pearl_free_nats", "pearl_max_nats", "belief_learning_rate")
        if any(s <= 0 for s in (*self.torso_sizes, *self.head_sizes, *self.belief_head_sizes)):
            raise ValueError("network.torso_sizes, head_sizes and belief_head_sizes must be "
                             "positive")
