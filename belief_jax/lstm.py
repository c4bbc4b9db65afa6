"""An LSTM scanned over time with carry resets, with a hand-written backward pass.

`jax.grad` through flax's scanned `OptimizedLSTMCell` runs two matmuls per step forward and
four per step backward, the weight gradients accumulated inside the reverse loop. Here each
step forward is one matmul of [x_t, h] with the stacked kernels, each step backward one
matmul giving the gradients of both x_t and h; the weight gradient is a single matmul over
all T·B rows after the loop. Measured on a 2-core CPU (T = 100, 128 units, forward +
backward): 1.6x faster than flax at 16 rows per step, 1.1x at 256. The maths is flax's
`OptimizedLSTMCell` (gates i, f, g, o; c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c')), with
the same parameters; a test compares values and gradients with `jax.grad` through flax's cell.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _forward(input_kernel, recurrent_kernel, bias, x, reset, c0, h0):
    """Returns ((c_T, h_T), h [T, B, H], residuals for the backward pass)."""
    kernel = jnp.concatenate([input_kernel, recurrent_kernel], axis=0)  # [D + H, 4H]

    def step(carry, inputs):
        c, h = carry
        x_t, reset_t = inputs
        forget = reset_t[:, None]  # a trial start forgets the previous trial
        c, h = jnp.where(forget, 0.0, c), jnp.where(forget, 0.0, h)
        xh = jnp.concatenate([x_t, h], axis=-1)
        i, f, g, o = jnp.split(xh @ kernel + bias, 4, axis=-1)
        i, f, g, o = jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)
        c_new = f * c + i * g
        tanh_c = jnp.tanh(c_new)
        h_new = o * tanh_c
        return (c_new, h_new), (h_new, (c, xh, i, f, g, o, tanh_c))

    (c_last, h_last), (hs, residuals) = jax.lax.scan(step, (c0, h0), (x, reset))
    return (c_last, h_last), hs, residuals


@jax.custom_vjp
def lstm_scan(input_kernel: jax.Array, recurrent_kernel: jax.Array, bias: jax.Array,
              x: jax.Array, reset: jax.Array, c0: jax.Array, h0: jax.Array):
    """x [T, B, D], reset [T, B] (zero the carry before step t), carry (c0, h0) [B, H];
    kernels [D, 4H] and [H, 4H], bias [4H], gates ordered i, f, g, o.
    Returns ((c_T, h_T), h [T, B, H])."""
    carry, hs, _ = _forward(input_kernel, recurrent_kernel, bias, x, reset, c0, h0)
    return carry, hs


def _lstm_fwd(input_kernel, recurrent_kernel, bias, x, reset, c0, h0):
    carry, hs, residuals = _forward(input_kernel, recurrent_kernel, bias, x, reset, c0, h0)
    return (carry, hs), (input_kernel, recurrent_kernel, reset, residuals)


def _lstm_bwd(saved, cotangents):
    input_kernel, recurrent_kernel, reset, residuals = saved
    (dc_last, dh_last), dhs = cotangents
    kernel = jnp.concatenate([input_kernel, recurrent_kernel], axis=0)
    input_size = input_kernel.shape[0]

    def step(carry, inputs):
        dc_next, dh_next = carry
        dh_out, (c, _, i, f, g, o, tanh_c), reset_t = inputs
        dh = dh_out + dh_next
        dc = dc_next + dh * o * (1.0 - tanh_c * tanh_c)
        dz = jnp.concatenate([dc * g * i * (1.0 - i), dc * c * f * (1.0 - f),
                              dc * i * (1.0 - g * g), dh * tanh_c * o * (1.0 - o)], axis=-1)
        dxh = dz @ kernel.T  # one matmul gives both the input's and the carry's gradient
        forget = reset_t[:, None]  # nothing flows back past a reset
        carry = (jnp.where(forget, 0.0, dc * f), jnp.where(forget, 0.0, dxh[:, input_size:]))
        return carry, (dz, dxh[:, :input_size])

    (dc0, dh0), (dz, dx) = jax.lax.scan(step, (dc_last, dh_last), (dhs, residuals, reset),
                                        reverse=True)
    d_kernel = jnp.einsum("tbk,tbg->kg", residuals[1], dz)  # all T·B rows in one matmul
    return (d_kernel[:input_size], d_kernel[input_size:], dz.sum((0, 1)), dx, None, dc0, dh0)


lstm_scan.defvjp(_lstm_fwd, _lstm_bwd)
