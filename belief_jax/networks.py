"""Building blocks: a recurrent core that resets at trial starts, an MLP torso, the
information-bottleneck encoder and the auxiliary (belief) head."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.recurrent import DenseParams

from belief_jax.lstm import lstm_scan
from envs.core import TaskInfoSpec

CELLS = ("lstm", "gru")


class _ResettingGRUCell(nn.Module):
    """One GRU step that first zeroes the carry of rows starting a new trial."""

    features: int

    @nn.compact
    def __call__(self, carry: Any, inputs: tuple[jax.Array, jax.Array]):
        x, reset = inputs
        carry = jnp.where(reset[:, None], 0.0, carry)
        return nn.GRUCell(self.features, name="gru")(carry, x)


class _LSTMParams(nn.Module):
    """The parameters of flax's `OptimizedLSTMCell` (same names, shapes and initialisers),
    fused into input kernel [D, 4H], recurrent kernel [H, 4H] and bias [4H].

    `chrono_t_max` > 0: chrono initialisation (Tallec & Ollivier 2018), forget-gate bias
    log(U[1, T_max − 1]) and input-gate bias its negative, so units start out remembering
    over time scales up to T_max instead of forgetting within a few steps."""

    features: int
    chrono_t_max: int = 0

    @nn.compact
    def __call__(self, input_size: int):
        bias_init = {k: nn.initializers.zeros for k in "ifgo"}
        if self.chrono_t_max and self.is_initializing():
            chrono = jnp.log(jax.random.uniform(self.make_rng("params"), (self.features,),
                                                minval=1.0, maxval=self.chrono_t_max - 1.0))
            bias_init["f"], bias_init["i"] = (lambda *_: chrono), (lambda *_: -chrono)
        dense = lambda name, bias, init, b_init=nn.initializers.zeros: DenseParams(
            self.features, use_bias=bias, kernel_init=init, bias_init=b_init, name=name)
        inputs = [dense(f"i{k}", False, nn.initializers.lecun_normal())(
            jnp.zeros((1, input_size)))[0] for k in "ifgo"]
        hidden = [dense(f"h{k}", True, nn.initializers.orthogonal(), bias_init[k])(
            jnp.zeros((1, self.features))) for k in "ifgo"]
        return (jnp.concatenate(inputs, axis=-1),
                jnp.concatenate([kernel for kernel, _ in hidden], axis=-1),
                jnp.concatenate([bias for _, bias in hidden], axis=-1))


class _LSTM(nn.Module):
    features: int
    chrono_t_max: int = 0

    @nn.compact
    def __call__(self, carry: Any, x: jax.Array, reset: jax.Array):
        params = _LSTMParams(self.features, self.chrono_t_max, name="lstm")(x.shape[-1])
        c, h = carry
        return lstm_scan(*params, x, reset, c, h)


class RecurrentCore(nn.Module):
    """Dense+ReLU embedding, then an LSTM/GRU scanned over a time-major [T, B, F] input.

    The embedding gives the cell a nonlinear view of (action, reward) pairs, which it needs
    to keep per-action statistics. The LSTM is `belief_jax.lstm.lstm_scan` (its own backward
    pass, faster at small batches); the GRU is flax's cell under `nn.scan`."""

    cell: str = "lstm"
    features: int = 128
    chrono_t_max: int = 0  # LSTM only: chrono initialisation of the gate biases (0 = off)

    @nn.compact
    def __call__(self, carry: Any, x: jax.Array, reset: jax.Array):
        x = nn.relu(nn.Dense(self.features, name="embed")(x))
        if self.cell == "lstm":
            return _LSTM(self.features, self.chrono_t_max, name="cell")(carry, x, reset)
        scan = nn.scan(_ResettingGRUCell, variable_broadcast="params",
                       split_rngs={"params": False}, in_axes=0, out_axes=0)
        return scan(self.features, name="cell")(carry, (x, reset))

    @staticmethod
    def initial_carry(cell: str, batch: int, features: int) -> Any:
        # Distinct arrays (not one aliased twice), so the carry can be donated to a jit.
        zeros = lambda: jnp.zeros((batch, features), jnp.float32)
        return (zeros(), zeros()) if cell == "lstm" else zeros()


class MLP(nn.Module):
    sizes: Sequence[int]

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for i, size in enumerate(self.sizes):
            x = nn.relu(nn.Dense(size, name=f"dense_{i}")(x))
        return x


class InformationBottleneck(nn.Module):
    """z = μ(h) + σ(h)·ε with ε given by the caller (stored at acting time, so the PPO ratio
    compares the same stochastic policy); returns z and KL(N(μ, σ²) ‖ N(0, I)) per row."""

    size: int

    @nn.compact
    def __call__(self, h: jax.Array, noise: jax.Array) -> tuple[jax.Array, jax.Array]:
        mean = nn.Dense(self.size, name="mean")(h)
        log_std = jnp.clip(nn.Dense(self.size, name="log_std")(h), -10.0, 2.0)
        z = mean + jnp.exp(log_std) * noise
        return z, gaussian_kl_to_standard_normal(mean, log_std)


def gaussian_kl_to_standard_normal(mean: jax.Array, log_std: jax.Array) -> jax.Array:
    """KL(N(μ, σ²) ‖ N(0, I)) = ½ Σ (μ² + σ² − 1 − 2 log σ), summed over the last axis."""
    return 0.5 * jnp.sum(mean**2 + jnp.exp(2 * log_std) - 1.0 - 2 * log_std, axis=-1)


# Beta concentrations in [e^-4, e^8]: the bandit's exact posterior Beta(1 + s, 1 + f) needs
# 1..H+1; below e^-4 the density at the edges overflows float32 for no gain.
BETA_LOG_CONCENTRATION = (-4.0, 8.0)


class AuxHead(nn.Module):
    """Parameters of the belief q(task_info | history) for each kind of privileged info:
    categorical → normalised logits [C]; gaussian → [mean, log_std] (2·size);
    beta → [log α, log β] (2·size), one Beta(α, β) per dimension;
    multi_categorical → normalised logits [size·C], one categorical per position."""

    spec: TaskInfoSpec
    hidden: Sequence[int] = ()  # ReLU layers before the output (none: linear in h)

    @nn.compact
    def __call__(self, h: jax.Array) -> jax.Array:
        spec = self.spec
        h = MLP(self.hidden, name="hidden")(h) if self.hidden else h
        if spec.kind == "categorical":
            return jax.nn.log_softmax(nn.Dense(spec.num_classes, name="logits")(h))
        if spec.kind == "gaussian":
            mean = nn.Dense(spec.size, name="mean")(h)
            log_std = jnp.clip(nn.Dense(spec.size, name="log_std")(h), -7.0, 3.0)
            return jnp.concatenate([mean, log_std], axis=-1)
        if spec.kind == "beta":
            return jnp.clip(nn.Dense(2 * spec.size, name="log_concentration")(h),
                            *BETA_LOG_CONCENTRATION)
        logits = nn.Dense(spec.size * spec.num_classes, name="logits")(h)
        logits = logits.reshape(*h.shape[:-1], spec.size, spec.num_classes)
        return jax.nn.log_softmax(logits).reshape(*h.shape[:-1], spec.size * spec.num_classes)


def belief_features(belief: jax.Array, spec: TaskInfoSpec) -> jax.Array:
    """What the policy and critic see of the belief: its parameters, except for a Beta,
    where [log α, log β] becomes [mean α/(α+β), log(α+β)] per dimension (the estimate and
    how many observations back it, on scales a network reads easily)."""
    if spec.kind != "beta":
        return belief
    log_a, log_b = jnp.split(belief, 2, axis=-1)
    log_total = jnp.logaddexp(log_a, log_b)
    return jnp.concatenate([jnp.exp(log_a - log_total), log_total], axis=-1)


def belief_factors(features: jax.Array, spec: TaskInfoSpec) -> jax.Array:
    """Belief features [..., 2·size] of a per-dimension belief (gaussian or beta) as
    [..., size, 2]: one row of features per factor."""
    if spec.kind not in ("gaussian", "beta"):
        raise ValueError(f"a belief of kind {spec.kind!r} has no per-dimension factors")
    first, second = jnp.split(features, 2, axis=-1)
    return jnp.stack([first, second], axis=-1)


class ContextCarry(NamedTuple):
    """Natural parameters of the product of per-transition Gaussians seen so far in the
    trial (the N(0, I) prior is added when read), and the latent z held for the episode."""

    eta: jax.Array        # Σ_i μ_i / σ_i²
    precision: jax.Array  # Σ_i 1 / σ_i²
    z: jax.Array


class _PosteriorSamplingStep(nn.Module):
    latent_size: int
    sizes: Sequence[int]
    resample: bool = False  # z drawn at every step, not held for the episode

    @nn.compact
    def __call__(self, carry: ContextCarry, inputs):
        x, episode_start, trial_start, noise = inputs
        carry = jax.tree.map(lambda c: jnp.where(trial_start[:, None], 0.0, c), carry)
        h = MLP(self.sizes, name="factor_torso")(x)
        mean_i = nn.Dense(self.latent_size, name="factor_mean")(h)
        log_var_i = jnp.clip(nn.Dense(self.latent_size, name="factor_log_var")(h), -8.0, 8.0)
        # At an episode's first step the previous reward belongs to the previous episode's
        # last position, not to this observation: that step adds no factor.
        keep = (episode_start == 0).astype(jnp.float32)[:, None]
        precision_i = keep * jnp.exp(-log_var_i)
        eta = carry.eta + precision_i * mean_i
        precision = carry.precision + precision_i
        post_mean = eta / (1.0 + precision)
        post_log_std = -0.5 * jnp.log1p(precision)
        sampled = post_mean + jnp.exp(post_log_std) * noise
        held = jnp.where(episode_start[:, None] > 0, sampled, carry.z)  # for the episode
        z = sampled if self.resample else held
        kl = gaussian_kl_to_standard_normal(post_mean, post_log_std)
        return ContextCarry(eta, precision, held), (z, held, jnp.concatenate(
            [post_mean, post_log_std], axis=-1), kl)


def last_of_trial(values: jax.Array, trial_start: jax.Array) -> jax.Array:
    """[T, B, ...] values → at each step, the value at the last step of its trial within
    the sequence (the step before the next trial start, or the sequence's last step)."""
    def back(later, inputs):
        value, next_starts = inputs
        keep = next_starts.reshape(next_starts.shape + (1,) * (value.ndim - 1))
        out = jnp.where(keep, value, later)
        return out, out
    next_starts = jnp.concatenate([trial_start[1:], jnp.ones_like(trial_start[:1])]) > 0
    return jax.lax.scan(back, values[-1], (values, next_starts), reverse=True)[1]


class PosteriorSamplingEncoder(nn.Module):
    """PEARL's permutation-invariant context encoder (Rakelly et al. 2019): each transition
    gives a Gaussian factor N(μ_i, σ_i²); the posterior q(z | context) ∝ N(0, I)·Π_i factors.
    A z is sampled at each episode start and held fixed through the episode (posterior
    sampling). Returns z, the episode's held z, the posterior parameters and
    KL(q ‖ N(0, I)) per step.
    `z_from` (training; the carry always holds the episode's z): 'held' as when acting;
    'resampled': z drawn at every step from the posterior so far; 'trial': every step of a
    trial's segment of the sequence takes the z drawn at the segment's last step, from the
    posterior of all of its context (hindsight, as PEARL's z from the task's context)."""

    latent_size: int
    sizes: Sequence[int]
    z_from: str = "held"

    @nn.compact
    def __call__(self, carry: ContextCarry, x: jax.Array, episode_start: jax.Array,
                 trial_start: jax.Array, noise: jax.Array):
        scan = nn.scan(_PosteriorSamplingStep, variable_broadcast="params",
                       split_rngs={"params": False}, in_axes=0, out_axes=0)
        carry, (z, held, posterior, kl) = scan(
            self.latent_size, self.sizes, self.z_from != "held", name="step")(
            carry, (x, episode_start, trial_start, noise))
        if self.z_from == "trial":
            z = last_of_trial(z, trial_start)
        return carry, (z, held, posterior, kl)

    @staticmethod
    def initial_carry(batch: int, latent_size: int) -> ContextCarry:
        zeros = lambda: jnp.zeros((batch, latent_size), jnp.float32)
        return ContextCarry(zeros(), zeros(), zeros())
