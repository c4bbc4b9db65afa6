"""The data types every stage shares: what the agent reads and returns, what a rollout
stores, and what the loop carries. This module imports nothing from `belief_jax`, so agents,
learners, acting and the loop can all depend on it without an import cycle.

Shapes: acting works on [B, ...] (one row per env); rollouts stack them time-major
[T, B, ...]. The recurrent carry is each agent kind's own pytree (see `belief_jax.agents`).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import jax

Carry = Any  # an agent kind's recurrent state: a pytree with a leading batch axis


class AgentInput(NamedTuple):
    """x_t of the paper: observation, previous action and reward, first-step-of-episode flag;
    plus `trial_start`, which resets the recurrent state, and the fraction of the trial
    elapsed (read only with network.trial_progress; acting always fills it); and `task`, the
    task's embedding as an input, filled by acting only for kinds that read it (the oracle)."""

    obs: jax.Array
    prev_action: jax.Array  # one-hot for discrete actions; zeros at a trial's first step
    prev_reward: jax.Array  # zero at a trial's first step
    episode_start: jax.Array
    trial_start: jax.Array
    trial_progress: jax.Array | None = None  # steps of the trial before this one / its length
    task: jax.Array | None = None  # [..., F] the task's embedding, one-hot where it is an id


class IBNoise(NamedTuple):
    """Standard-normal noise for each information bottleneck, drawn once at acting time."""

    belief: jax.Array
    policy: jax.Array
    critic: jax.Array
    latent: jax.Array  # pearl's posterior sample, used at episode starts


class AgentOutput(NamedTuple):
    policy_params: jax.Array    # logits, or [mean, log_std] for continuous actions
    value: jax.Array            # V(h) (zeros without a value head)
    critic_features: jax.Array  # the critic's input to its head(s), after any bottleneck
    belief: jax.Array | None    # belief distribution parameters (None without a belief)
    kl_belief: jax.Array
    kl_policy: jax.Array
    kl_critic: jax.Array


class RolloutSpec(NamedTuple):
    """What a learner needs from acting, declared once by the learner."""

    squash_actions: bool         # sample tanh-squashed actions inside the Box
    record_carry: bool           # store the recurrent state before every step (replay)
    store_belief_features: bool  # store the belief the policy acted on (reused by the update)
    value_head: bool             # the agent has a V(h) head; transitions carry its value
    off_policy: bool             # learns from data of older policies (replay)
    masks_exploration: bool = False  # the RL loss ignores `Transition.explore` steps


class Transition(NamedTuple):
    """One env step of every env, as stored by the rollout (time-major when stacked)."""

    inputs: AgentInput
    noise: IBNoise
    belief_features: jax.Array  # the belief the policy saw (if the spec stores it; else width 0)
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    trial_end: jax.Array
    task_info: jax.Array        # the privileged target of this step's task
    carry: Carry | None = None  # recurrent state before this step (if the spec records it)
    explore: jax.Array | None = None  # [B] bool: an exploring env's step (belief loss only)
    training_reward: jax.Array | None = None
    """the env's training reward (`MetaEnv.training_reward`), where it has one: the RL losses
    learn from it in place of `reward`"""


class Rollout(NamedTuple):
    transitions: Transition  # [T, B, ...]
    start_carry: Carry       # [B, ...] recurrent state before the first step
    last_value: jax.Array    # [B] V of the state after the last step


class ActorState(NamedTuple):
    """Everything the acting side carries from one env step to the next, batched over envs."""

    env_state: Any           # envs.TrialState
    next_input: AgentInput
    carry: Carry
    trial_return: jax.Array  # reward so far in each env's current trial
    epsilon: jax.Array       # exploring envs' ε of the current trial (0 for the others)


class BestParams(NamedTuple):
    """The acting parameters of the validation pass with the highest validation return so
    far (`TrainConfig.keep_best`)."""

    params: Any
    validation_return: jax.Array  # -inf before the first validation pass
    env_steps: jax.Array          # per seed, when they were validated


class RunnerState(NamedTuple):
    learner: Any  # the learner's own state (see `belief_jax.learners`)
    actor: ActorState
    key: jax.Array
    iteration: jax.Array
    best: BestParams | None = None  # only with TrainConfig.keep_best
