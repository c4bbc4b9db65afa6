"""The benchmark's recurrent-PPO peer: the common single-file JAX recurrent PPO design
(Dense-128 + ReLU embedding, GRU-128 scanned over time with resets, actor and critic heads
of 128 units, PPO with value clipping, minibatches of whole env-sequences), written here
against the same `TrialWrapper` env as belief_jax and sharing nothing else with it, so the
benchmark can put the two side by side in one process (`kind = peer_gru_ppo`).

Discrete actions only (the bandit, NumPad). Not a learner of the library: it exists to be
timed, so it keeps no metrics beyond the loss.
"""
from __future__ import annotations

from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

import envs

HIDDEN = 128


class _GRUStep(nn.Module):
    @nn.compact
    def __call__(self, h: jax.Array, inputs: tuple[jax.Array, jax.Array]):
        x, reset = inputs
        h = jnp.where(reset[:, None], 0.0, h)
        return nn.GRUCell(HIDDEN, name="gru")(h, x)


class ActorCriticGRU(nn.Module):
    num_actions: int

    @nn.compact
    def __call__(self, h: jax.Array, x: jax.Array, reset: jax.Array):
        """Time-major x [T, B, F] and reset [T, B] → (h, logits [T, B, A], value [T, B])."""
        embedding = nn.relu(nn.Dense(HIDDEN)(x))
        scan = nn.scan(_GRUStep, variable_broadcast="params", split_rngs={"params": False})
        h, y = scan(name="core")(h, (embedding, reset))
        logits = nn.Dense(self.num_actions)(nn.relu(nn.Dense(HIDDEN)(y)))
        value = nn.Dense(1)(nn.relu(nn.Dense(HIDDEN)(y)))[..., 0]
        return h, logits, value


class Batch(NamedTuple):
    x: jax.Array
    reset: jax.Array
    action: jax.Array
    log_prob: jax.Array
    value: jax.Array
    reward: jax.Array
    done: jax.Array  # trial end: the return is not bootstrapped across it


class PeerState(NamedTuple):
    params: dict
    opt_state: optax.OptState
    env_state: envs.TrialState
    x: jax.Array      # next input: obs, previous action (one-hot), reward, episode start
    reset: jax.Array  # next step starts a trial
    h: jax.Array
    key: jax.Array


class GRUPPO:
    def __init__(self, env: envs.MetaEnv, num_envs: int, rollout_length: int, num_epochs: int,
                 num_minibatches: int, gamma: float = 0.99, gae_lambda: float = 0.95,
                 clip_eps: float = 0.2, lr: float = 2.5e-4):
        if not isinstance(env.action_space, envs.Discrete):
            raise ValueError("peer_gru_ppo needs a discrete action space")
        self.env, self.trial = env, envs.TrialWrapper(env)
        self.num_actions = env.action_space.n
        self.net = ActorCriticGRU(self.num_actions)
        self.num_envs, self.rollout_length = num_envs, rollout_length
        self.num_epochs, self.num_minibatches = num_epochs, num_minibatches
        self.gamma, self.gae_lambda, self.clip_eps = gamma, gae_lambda, clip_eps
        self.optimizer = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(lr, eps=1e-5))

    def _input(self, obs, action, reward, episode_start):
        return jnp.concatenate([obs, jax.nn.one_hot(action, self.num_actions),
                                reward[:, None], episode_start[:, None]], axis=-1)

    def init(self, key: jax.Array) -> PeerState:
        n = self.num_envs
        key, env_key, param_key = jax.random.split(key, 3)
        obs, env_state = jax.vmap(self.trial.reset)(jax.random.split(env_key, n))
        x = self._input(obs, jnp.zeros(n, jnp.int32), jnp.zeros(n), jnp.ones(n))
        h, reset = jnp.zeros((n, HIDDEN)), jnp.ones(n, bool)
        params = self.net.init(param_key, h, x[None], reset[None])
        return PeerState(params, self.optimizer.init(params), env_state, x, reset, h, key)

    def _env_step(self, state: PeerState, key: jax.Array) -> tuple[PeerState, Batch]:
        act_key, step_key = jax.random.split(key)
        h, logits, value = self.net.apply(state.params, state.h, state.x[None],
                                          state.reset[None])
        logits, value = logits[0], value[0]
        action = jax.random.categorical(act_key, logits)
        log_prob = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], -1)[:, 0]
        obs, env_state, reward, episode_end, info = jax.vmap(self.trial.step)(
            jax.random.split(step_key, self.num_envs), state.env_state, action)
        batch = Batch(state.x, state.reset, action, log_prob, value, reward, info.trial_end)
        x = self._input(obs, action, reward, episode_end.astype(jnp.float32))
        return state._replace(env_state=env_state, x=x, reset=info.trial_end, h=h), batch

    def _advantages(self, batch: Batch, last_value: jax.Array):
        def step(carry, t):
            gae, next_value = carry
            delta = t.reward + self.gamma * next_value * (1 - t.done) - t.value
            gae = delta + self.gamma * self.gae_lambda * (1 - t.done) * gae
            return (gae, t.value), gae

        _, adv = jax.lax.scan(step, (jnp.zeros_like(last_value), last_value), batch,
                              reverse=True)
        return adv, adv + batch.value

    def _loss(self, params, h0, batch: Batch, adv, targets):
        _, logits, value = self.net.apply(params, h0, batch.x, batch.reset)
        log_probs = jax.nn.log_softmax(logits)
        log_prob = jnp.take_along_axis(log_probs, batch.action[..., None], -1)[..., 0]
        clipped = batch.value + jnp.clip(value - batch.value, -self.clip_eps, self.clip_eps)
        value_loss = 0.5 * jnp.maximum((value - targets) ** 2, (clipped - targets) ** 2).mean()
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = jnp.exp(log_prob - batch.log_prob)
        actor_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - self.clip_eps,
                                                        1 + self.clip_eps) * adv).mean()
        entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
        return actor_loss + 0.5 * value_loss - 0.01 * entropy

    def iteration(self, state: PeerState, _=None) -> tuple[PeerState, jax.Array]:
        h0 = state.h
        key, rollout_key, update_key = jax.random.split(state.key, 3)
        state, batch = jax.lax.scan(self._env_step, state,
                                    jax.random.split(rollout_key, self.rollout_length))
        _, _, last_value = self.net.apply(state.params, state.h, state.x[None],
                                          state.reset[None])
        adv, targets = self._advantages(batch, jnp.where(state.reset, 0.0, last_value[0]))
        grad_fn = jax.value_and_grad(self._loss)

        def minibatch(carry, mb):
            params, opt_state = carry
            loss, grads = grad_fn(params, *mb)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        def epoch(carry, epoch_key):
            perm = jax.random.permutation(epoch_key, self.num_envs)
            split = lambda x, axis: jnp.moveaxis(jnp.take(x, perm, axis=axis).reshape(
                *x.shape[:axis], self.num_minibatches, -1, *x.shape[axis + 1:]), axis, 0)
            mbs = (split(h0, 0), *jax.tree.map(lambda x: split(x, 1), (batch, adv, targets)))
            return jax.lax.scan(minibatch, carry, mbs)

        (params, opt_state), loss = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(update_key, self.num_epochs))
        return state._replace(params=params, opt_state=opt_state, key=key), loss.mean()
