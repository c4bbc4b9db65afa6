"""The peers our loops are timed against: brax's own PPO on the same MJX body, and the
single-file GRU recurrent PPO (`experiments.benchmark.peer_gru_ppo`) on discrete-action envs."""
from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import numpy as np

import envs
from belief_jax.config import TrainConfig
from experiments.benchmark.harness import Timing
from experiments.benchmark.peer_gru_ppo import GRUPPO

BRAX_NAMES = {"cheetah_vel": "halfcheetah", "quadruped_semicircle": "ant"}


@contextlib.contextmanager
def device_put_replicated_restored():
    """brax 0.14's PPO trainer calls `jax.device_put_replicated`, which JAX 0.10 removed.
    Restored only while brax's trainer runs, as pmap's own placement of stacked copies
    (placing them any other way made the trainer compile its epoch again on the second
    call); the rest of the process never sees it."""
    if hasattr(jax, "device_put_replicated"):  # a JAX that still has it
        yield
        return

    def device_put_replicated(tree, devices):
        stacked = jax.tree.map(lambda a: jnp.stack([jnp.asarray(a)] * len(devices)), tree)
        return jax.pmap(lambda t: t, devices=devices)(stacked)

    jax.device_put_replicated = device_put_replicated
    try:
        yield
    finally:
        del jax.device_put_replicated


def peer_brax_ppo(config: TrainConfig, repeats: int = 3, between=lambda: None) -> dict:
    """brax's own PPO on the same brax body with our batch shape: num_envs, unroll length,
    epochs and minibatches of `config.learner` (a PPOConfig), our env's MJX solver settings
    (`mjx_settings` and friends in `config.env_kwargs`) and episode length, on as many
    devices as `config.num_devices` (brax's trainer would otherwise use them all). Its
    training steps/s (`training/sps`; its evaluation is off) is the best of `repeats` training
    epochs of three iterations each, after two that include compilation. `between()` runs
    after each epoch (the benchmark times its own loops there, interleaved with brax's
    epochs)."""
    from brax.training.agents.ppo import train as brax_ppo

    ppo = config.learner
    # brax's env object inside ours: the same body with the same MJX solver settings
    env = envs.make(config.env, **config.env_kwargs)
    body = env.body.brax_env
    per_step = ppo.num_envs * ppo.rollout_length
    num_epochs = 2 + repeats
    sps, walltime = [], []

    def progress(_, metrics):
        if "training/sps" in metrics:
            sps.append(float(metrics["training/sps"]))
            walltime.append(float(metrics["training/walltime"]))
            between()

    with device_put_replicated_restored():
        brax_ppo.train(environment=body, num_timesteps=num_epochs * 3 * per_step,
                       episode_length=env.episode_length, num_envs=ppo.num_envs,
                       unroll_length=ppo.rollout_length,
                       batch_size=ppo.num_envs // ppo.num_minibatches,
                       num_minibatches=ppo.num_minibatches,
                       num_updates_per_batch=ppo.num_epochs, num_evals=num_epochs + 1,
                       # no evaluation: it is not timed, and compiling its rollout costs
                       # as much as the trainer's epoch (progress still reports each epoch);
                       # brax still resets its evaluator's envs once, so keep them few
                       run_evals=False, num_eval_envs=8, normalize_observations=False, seed=0,
                       progress_fn=progress, max_devices_per_host=config.num_devices)
    epochs = np.diff([0.0, *walltime])
    # compile time ≈ what the two compiling epochs took beyond a steady-state epoch
    return {"steps_per_s": max(sps[2:]),
            "compile_s": float(epochs[0] + epochs[1] - 2 * epochs[2:].min())}


def peer_gru_timing(config: TrainConfig) -> tuple[Timing, int]:
    """The single-file GRU recurrent PPO (`experiments.benchmark.peer_gru_ppo`) on the same env with
    our PPO shape, timed like `train`: `iterations_per_chunk` iterations in one jit."""
    ppo = config.learner
    peer = GRUPPO(envs.make(config.env, **config.env_kwargs), ppo.num_envs, ppo.rollout_length,
                  ppo.num_epochs, ppo.num_minibatches, ppo.gamma, ppo.gae_lambda)
    state = jax.jit(peer.init)(jax.random.key(0))

    def run(state):
        return jax.lax.scan(peer.iteration, state, None, config.iterations_per_chunk)

    return Timing(run, state), config.iterations_per_chunk * ppo.num_envs * ppo.rollout_length


