import dataclasses

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from belief_jax.agents import Agent, AgentInput, sample_ib_noise
from belief_jax.config import NetworkConfig, PPOConfig
from belief_jax.learners.ppo import PPO
from belief_jax.losses import aux_and_ib_loss, task_log_likelihood
from belief_jax.types import Transition
from envs.core import Box, Discrete, TaskInfoSpec

T, B = 6, 3
SPEC = TaskInfoSpec(kind="gaussian", size=3)


def _setup(kind, space=None, **network):
    space = space or Discrete(4)
    net = NetworkConfig(hidden_size=16, torso_sizes=(16,), head_sizes=(16,), **network)
    agent = Agent(kind, net, SPEC, space)
    keys = jax.random.split(jax.random.key(0), 6)
    x = AgentInput(obs=jax.random.normal(keys[0], (T, B, 2)),
                   prev_action=jax.random.normal(keys[1], (T, B, space.size)),
                   prev_reward=jax.random.normal(keys[2], (T, B)),
                   episode_start=jnp.zeros((T, B)).at[0].set(1.0),
                   trial_start=jnp.zeros((T, B), bool).at[0].set(True))
    noise = sample_ib_noise(keys[3], net, (T, B))
    carry = agent.initial_carry(B)
    params = agent.init(keys[4], carry, x, noise)
    if isinstance(space, Discrete):
        action = jax.random.randint(keys[5], (T, B), 0, space.n)
    else:
        action = jax.random.normal(keys[5], (T, B, space.size))
    batch = Transition(inputs=x, noise=noise, belief_features=jnp.zeros((T, B, 0)),
                       action=action, log_prob=jnp.full((T, B), -1.0),
                       value=jnp.zeros((T, B)), reward=jnp.ones((T, B)),
                       trial_end=jnp.zeros((T, B), bool),
                       task_info=jax.random.uniform(keys[2], (T, B, 3)))
    return agent, net, params, carry, batch


def _grads(agent, net, params, carry, batch, which):
    learner = PPO(agent, net, PPOConfig(num_envs=B, num_minibatches=1))
    adv = jnp.linspace(-1.0, 1.0, T * B).reshape(T, B)

    def loss(p):
        _, out = agent.apply(p, carry, batch.inputs, batch.noise)  # belief recomputed
        if which == "rl":
            return learner.rl_loss(out, batch, adv, jnp.ones((T, B)))[0]
        return -task_log_likelihood(out.belief, batch.task_info, SPEC).mean()

    return jax.grad(loss)(params)["params"]


def _norm(tree) -> float:
    return float(sum(jnp.sum(jnp.abs(x)) for x in jax.tree.leaves(tree)))


@pytest.mark.parametrize("policy_core", ["feedforward", "recurrent"])
@pytest.mark.parametrize("ib_belief", [0.0, 0.1])
def test_belief_network_gets_exactly_zero_rl_gradient(policy_core, ib_belief):
    agent, net, params, carry, batch = _setup("belief", policy_core=policy_core,
                                              ib_belief=ib_belief)
    rl = _grads(agent, net, params, carry, batch, "rl")
    for name in ("belief_core", "belief_head"):
        assert all(np.all(np.asarray(g) == 0.0) for g in jax.tree.leaves(rl[name])), name
    torso = "policy_torso" if policy_core == "feedforward" else "policy_core"
    assert _norm(rl[torso]) > 0 and _norm(rl["policy_head"]) > 0
    aux = _grads(agent, net, params, carry, batch, "aux")
    assert _norm(aux["belief_core"]) > 0 and _norm(aux["belief_head"]) > 0


def test_aux_head_core_receives_both_rl_and_aux_gradients():
    agent, net, params, carry, batch = _setup("aux_head")
    rl = _grads(agent, net, params, carry, batch, "rl")
    aux = _grads(agent, net, params, carry, batch, "aux")
    assert _norm(rl["core"]) > 0 and _norm(aux["core"]) > 0
    assert _norm(aux["policy_head"]) == 0.0  # the aux loss only shapes the core and its head


def test_rnn_agent_has_no_belief():
    agent, net, params, carry, batch = _setup("rnn")
    _, out = agent.apply(params, carry, batch.inputs, batch.noise)
    assert out.belief is None and "aux_head" not in params["params"]


@pytest.mark.parametrize("kind", ["rnn", "aux_head", "belief"])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_state_resets_at_trial_start(kind, cell):
    agent, net, params, carry, batch = _setup(kind, cell=cell, policy_core="recurrent")
    x = batch.inputs._replace(trial_start=batch.inputs.trial_start.at[3].set(True))
    _, whole = agent.apply(params, carry, x, batch.noise)
    tail = jax.tree.map(lambda a: a[3:], (x, batch.noise))
    _, alone = agent.apply(params, carry, *tail)
    np.testing.assert_allclose(whole.policy_params[3:], alone.policy_params, atol=1e-6)
    np.testing.assert_allclose(whole.value[3:], alone.value, atol=1e-6)


def test_ib_kl_is_reported_and_trained():
    agent, net, params, carry, batch = _setup("belief", ib_belief=0.5, ib_policy=0.5,
                                              ib_critic=0.5)
    _, out = agent.apply(params, carry, batch.inputs, batch.noise)
    for kl in (out.kl_belief, out.kl_policy, out.kl_critic):
        assert kl.shape == (T, B) and float(kl.min()) > 0
    loss = lambda p: aux_and_ib_loss(agent.apply(p, carry, batch.inputs, batch.noise)[1],
                                     batch.task_info, agent)[0]
    grads = jax.grad(loss)(params)["params"]
    for name in ("ib_belief", "ib_policy", "ib_critic"):
        assert _norm(grads[name]) > 0


def test_continuous_policy_head_outputs_mean_and_log_std():
    agent, net, params, carry, batch = _setup("belief", space=Box(-1.0, 1.0, (2,)))
    _, out = agent.apply(params, carry, batch.inputs, batch.noise)
    assert out.policy_params.shape == (T, B, 4)
    np.testing.assert_allclose(out.policy_params[..., 2:], -0.5)


def _encode(x, episode_start, trial_start, noise, latent=4, z_from="held"):
    from belief_jax.networks import PosteriorSamplingEncoder
    encoder = PosteriorSamplingEncoder(latent, (16,), z_from=z_from)
    carry = PosteriorSamplingEncoder.initial_carry(x.shape[1], latent)
    params = encoder.init(jax.random.key(0), carry, x, episode_start, trial_start, noise)
    z, _, posterior, kl = encoder.apply(params, carry, x, episode_start, trial_start, noise)[1]
    return z, posterior, kl


def test_last_of_trial_against_a_loop():
    from belief_jax.networks import last_of_trial
    T, B = 9, 3
    values = jax.random.normal(jax.random.key(4), (T, B, 2))
    trial_start = np.zeros((T, B), bool)
    trial_start[[0, 4], 0] = True  # column 1: one trial; column 2: a start at the last step
    trial_start[[2, 8], 2] = True
    expected = np.empty((T, B, 2))
    for b in range(B):
        for t in range(T):
            last = t
            while last + 1 < T and not trial_start[last + 1, b]:
                last += 1
            expected[t, b] = values[last, b]
    np.testing.assert_array_equal(last_of_trial(values, jnp.asarray(trial_start)), expected)


def test_pearl_trial_latent_knows_the_rest_of_its_trial():
    """z_from='trial': every step of a trial segment takes the sample drawn at its last
    step, so z at step t depends on later context of the same trial (hindsight, as PEARL's
    task context) and on nothing from another trial; 'resampled' sees the past only."""
    T, B, latent = 8, 1, 4
    x = jax.random.normal(jax.random.key(1), (T, B, 5))
    episode_start = jnp.zeros((T, B)).at[jnp.array([0, 3, 5])].set(1.0)
    trial_start = jnp.zeros((T, B), bool).at[jnp.array([0, 5])].set(True)
    noise = jax.random.normal(jax.random.key(2), (T, B, latent))
    z, posterior, _ = _encode(x, episode_start, trial_start, noise, latent, "trial")
    resampled = _encode(x, episode_start, trial_start, noise, latent, "resampled")[0]
    for t in range(5):
        np.testing.assert_array_equal(z[t], resampled[4])
    for t in range(5, T):
        np.testing.assert_array_equal(z[t], resampled[T - 1])
    dz1_dx4 = jax.jacobian(lambda x4: _encode(x.at[4].set(x4), episode_start, trial_start,
                                             noise, latent, "trial")[0][1])(x[4])
    assert float(jnp.abs(dz1_dx4).sum()) > 0  # a later step of the trial informs z
    dz1_dx6 = jax.jacobian(lambda x6: _encode(x.at[6].set(x6), episode_start, trial_start,
                                             noise, latent, "trial")[0][1])(x[6])
    assert float(jnp.abs(dz1_dx6).sum()) == 0  # the next trial does not


def test_pearl_latent_is_held_within_an_episode_and_resampled_at_its_start():
    T, B, latent = 8, 2, 4
    x = jax.random.normal(jax.random.key(1), (T, B, 5))
    episode_start = jnp.zeros((T, B)).at[0].set(1.0).at[5].set(1.0)
    trial_start = jnp.zeros((T, B), bool).at[0].set(True)
    noise = jax.random.normal(jax.random.key(2), (T, B, latent))
    z, posterior, kl = _encode(x, episode_start, trial_start, noise, latent)
    for t in range(1, 5):
        np.testing.assert_array_equal(z[t], z[0])
    assert not np.allclose(z[5], z[4])
    np.testing.assert_array_equal(z[6], z[5])
    # the first step of a trial has seen nothing: the posterior is the N(0, I) prior
    np.testing.assert_allclose(posterior[0], 0.0, atol=1e-6)
    np.testing.assert_allclose(z[0], noise[0], atol=1e-6)
    assert float(kl[0].max()) < 1e-6 and float(kl[4].min()) > 0
    # the posterior sample at an episode start is μ + σ·ε of that step's posterior
    mean, log_std = np.split(np.asarray(posterior[5]), 2, axis=-1)
    np.testing.assert_allclose(z[5], mean + np.exp(log_std) * noise[5], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("policy_z", ["held", "learner"])
def test_pearl_policy_reads_the_actors_latent_in_the_learner_pass(policy_z):
    """With pearl_policy_z='held' the learner's policy reads the z the actor held (its
    output equals the acting pass's, the same params, inputs and noise), while the critic
    reads the z resampled from the context so far, which also holds the current episode's
    steps; with 'learner' the policy reads the critic's z."""
    agent, net, params, carry, batch = _setup("pearl", policy_core="feedforward",
                                              pearl_policy_z=policy_z)
    x = batch.inputs._replace(episode_start=batch.inputs.episode_start.at[3].set(1.0))
    _, acting = agent.apply(params, carry, x, batch.noise)
    learner = agent.clone(config=dataclasses.replace(net, latent_learner_pass=True))
    _, learning = learner.apply(params, carry, x, batch.noise)
    assert not np.allclose(learning.critic_features, acting.critic_features)
    same = np.allclose(learning.policy_params, acting.policy_params, rtol=1e-6, atol=1e-6)
    assert same == (policy_z == "held")


def test_pearl_posterior_is_permutation_invariant():
    T, B, latent = 6, 1, 4
    x = jax.random.normal(jax.random.key(3), (T, B, 5))
    start = jnp.zeros((T, B)).at[0].set(1.0)
    trial = jnp.zeros((T, B), bool).at[0].set(True)
    noise = jnp.zeros((T, B, latent))
    order = jnp.array([0, 4, 2, 5, 1, 3])  # keep the trial's first step first
    _, posterior, _ = _encode(x, start, trial, noise, latent)
    _, shuffled, _ = _encode(x[order], start, trial, noise, latent)
    np.testing.assert_allclose(posterior[-1], shuffled[-1], rtol=1e-5, atol=1e-6)


def test_pearl_needs_the_off_policy_learner():
    from belief_jax import TrainConfig
    with pytest.raises(ValueError, match=r"agent='pearl' needs an off-policy learner, not "
                       r"learner='ppo' \(valid learners for it: \['svg0'\]\)"):
        TrainConfig(agent="pearl", learner=PPOConfig())


def test_pearl_kl_has_its_own_weight():
    """pearl's posterior KL is weighted by network.pearl_kl, not by the belief IB's β."""
    agent, net, params, carry, batch = _setup("pearl", pearl_kl=0.0, ib_belief=0.7,
                                              pearl_free_nats=0.0)
    out = agent.apply(params, carry, batch.inputs, batch.noise)[1]
    assert float(out.kl_belief.mean()) > 0
    assert float(aux_and_ib_loss(out, batch.task_info, agent)[0]) == 0.0
    agent = Agent("pearl", dataclasses.replace(net, pearl_kl=0.25), SPEC, Discrete(4))
    loss = float(aux_and_ib_loss(out, batch.task_info, agent)[0])
    np.testing.assert_allclose(loss, 0.25 * float(out.kl_belief.mean()), rtol=1e-6)


def test_pearl_free_nats_leave_the_kl_below_them_unpenalised():
    """With free nats F the KL term is β·mean(max(KL_t, F)) (numpy reference); a step whose
    KL is under F passes no gradient to the encoder through it, one above F does."""
    agent, net, params, carry, batch = _setup("pearl", pearl_kl=0.5, pearl_free_nats=0.0)
    kl = lambda p: agent.apply(p, carry, batch.inputs, batch.noise)[1].kl_belief
    steps = np.asarray(kl(params))
    ranked = np.unique(steps)
    free = float(ranked[len(ranked) // 2 - 1:len(ranked) // 2 + 1].mean())  # no KL equals it
    assert steps.min() < free < steps.max()
    floored = Agent("pearl", dataclasses.replace(net, pearl_free_nats=free), SPEC, Discrete(4))
    loss = lambda p, a: aux_and_ib_loss(agent.apply(p, carry, batch.inputs, batch.noise)[1],
                                        batch.task_info, a)[0]
    np.testing.assert_allclose(float(loss(params, floored)),
                               0.5 * np.maximum(steps, free).mean(), rtol=1e-5)
    grad = jax.grad(loss)(params, floored)["params"]
    per_step = jax.jacobian(lambda p: kl(p))(params)["params"]
    mask = jnp.asarray(steps > free, jnp.float32)
    expected = jax.tree.map(lambda j: 0.5 * jnp.tensordot(mask, j, axes=mask.ndim) / mask.size,
                            per_step)
    chex.assert_trees_all_close(grad, expected, rtol=1e-4, atol=1e-7)
    above = Agent("pearl", dataclasses.replace(net, pearl_free_nats=float(steps.max()) + 1.0),
                  SPEC, Discrete(4))
    untouched = jax.grad(loss)(params, above)["params"]
    assert all(float(jnp.abs(g).max()) == 0 for g in jax.tree.leaves(untouched))


def test_pearl_max_nats_charge_only_the_kl_above_the_ceiling():
    """With a ceiling C the loss adds MAX_NATS_WEIGHT·mean(max(KL_t − C, 0)) to β·mean(KL_t)
    (numpy reference); with β = 0 only steps above C pass gradient to the encoder."""
    from belief_jax.losses import MAX_NATS_WEIGHT
    agent, net, params, carry, batch = _setup("pearl", pearl_kl=0.0, pearl_free_nats=0.0)
    kl = lambda p: agent.apply(p, carry, batch.inputs, batch.noise)[1].kl_belief
    steps = np.asarray(kl(params))
    ranked = np.unique(steps)
    ceiling = float(ranked[len(ranked) // 2 - 1:len(ranked) // 2 + 1].mean())
    assert steps.min() < ceiling < steps.max()
    capped = lambda beta: Agent("pearl", dataclasses.replace(
        net, pearl_kl=beta, pearl_max_nats=ceiling), SPEC, Discrete(4))
    loss = lambda p, a: aux_and_ib_loss(agent.apply(p, carry, batch.inputs, batch.noise)[1],
                                        batch.task_info, a)[0]
    np.testing.assert_allclose(
        float(loss(params, capped(0.3))),
        0.3 * steps.mean() + MAX_NATS_WEIGHT * np.maximum(steps - ceiling, 0.0).mean(),
        rtol=1e-5)
    grad = jax.grad(loss)(params, capped(0.0))["params"]
    per_step = jax.jacobian(lambda p: kl(p))(params)["params"]
    mask = jnp.asarray(steps > ceiling, jnp.float32)
    expected = jax.tree.map(
        lambda j: MAX_NATS_WEIGHT * jnp.tensordot(mask, j, axes=mask.ndim) / mask.size,
        per_step)
    chex.assert_trees_all_close(grad, expected, rtol=1e-4, atol=1e-7)
    assert float(loss(params, agent)) == 0.0  # no ceiling, β = 0: nothing


def test_lstm_core_matches_a_plain_lstm_with_resets():
    """The scanned LSTM core (embedding, resets at trial starts) against the textbook
    equations stepped in numpy: a reset row must forget its carry, the others keep it."""
    from belief_jax.networks import RecurrentCore

    T, B, D, F = 6, 3, 5, 4
    core = RecurrentCore("lstm", F)
    x = jax.random.normal(jax.random.key(0), (T, B, D))
    reset = jnp.zeros((T, B), bool).at[3, 1].set(True).at[0].set(True)
    carry = (jnp.ones((B, F)), jnp.ones((B, F)))
    params = core.init(jax.random.key(1), carry, x, reset)
    (c_out, h_out), ys = core.apply(params, carry, x, reset)

    p = jax.tree.map(np.asarray, params["params"])
    sigmoid = lambda a: 1 / (1 + np.exp(-a))
    c, h = np.ones((B, F)), np.ones((B, F))
    for t in range(T):
        keep = ~np.asarray(reset[t])[:, None]
        c, h = c * keep, h * keep
        e = np.maximum(np.asarray(x[t]) @ p["embed"]["kernel"] + p["embed"]["bias"], 0)
        lstm = p["cell"]["lstm"]
        i, f, g, o = (e @ lstm["i" + k]["kernel"] + h @ lstm["h" + k]["kernel"]
                      + lstm["h" + k]["bias"] for k in "ifgo")
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        np.testing.assert_allclose(ys[t], h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c_out, c, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h_out, h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", ["after_loop", "in_loop"])
def test_lstm_backward_matches_autodiff_of_flax_cell(batch):
    """`lstm_scan`'s hand-written backward pass against `jax.grad` through flax's own
    `OptimizedLSTMCell` scanned with the same resets: gradients of every parameter, of the
    inputs and of the initial carry, for a loss reading the outputs and the final carry.
    Both ways of forming the weight gradient (one matmul after the loop for small batches,
    accumulated in the loop from `_IN_LOOP_ROWS` rows) are checked."""
    import flax.linen as nn

    from belief_jax.lstm import _IN_LOOP_ROWS
    from belief_jax.networks import RecurrentCore

    T, D, F = 7, 5, 6
    B = 4 if batch == "after_loop" else _IN_LOOP_ROWS
    assert B < _IN_LOOP_ROWS or batch == "in_loop"
    x = jax.random.normal(jax.random.key(0), (T, B, D))
    reset = jnp.zeros((T, B), bool).at[0, :2].set(True).at[4, 1].set(True).at[2, 3].set(True)
    carry = (jax.random.normal(jax.random.key(2), (B, F)),
             jax.random.normal(jax.random.key(3), (B, F)))
    params = RecurrentCore("lstm", F).init(jax.random.key(1), carry, x, reset)

    class FlaxReference(nn.Module):
        @nn.compact
        def __call__(self, carry, x, reset):
            x = nn.relu(nn.Dense(F, name="embed")(x))

            class Step(nn.Module):
                @nn.compact
                def __call__(self, carry, inputs):
                    x_t, reset_t = inputs
                    carry = jax.tree.map(lambda c: jnp.where(reset_t[:, None], 0.0, c), carry)
                    return nn.OptimizedLSTMCell(F, name="lstm")(carry, x_t)

            scan = nn.scan(Step, variable_broadcast="params", split_rngs={"params": False})
            return scan(name="cell")(carry, (x, reset))

    def loss(module):
        def f(params, x, carry):
            (c, h), ys = module.apply(params, carry, x, reset)
            return jnp.sum(jnp.sin(ys)) + jnp.sum(c * h) + 0.5 * jnp.sum(c)
        return jax.value_and_grad(f, argnums=(0, 1, 2))(params, x, carry)

    (value, grads), (ref_value, ref_grads) = loss(RecurrentCore("lstm", F)), loss(FlaxReference())
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    assert jax.tree.structure(grads) == jax.tree.structure(ref_grads)
    for got, want in zip(jax.tree.leaves(grads), jax.tree.leaves(ref_grads), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_squashed_policy_fills_the_box_bounds_with_a_corrected_density():
    """SVG(0)'s tanh-Gaussian on a Box(-2, 3): samples stay inside [-2, 3] and reach both
    ends, and log π(a) is the Gaussian density of u = atanh((a − 0.5) / 2.5) minus
    log |da/du| = log 2.5 + log(1 − tanh² u), computed here by hand."""
    from scipy.stats import norm

    from belief_jax.agents import policy_distribution

    space = Box(low=-2.0, high=3.0, shape=(2,))
    mean, log_std = jnp.array([0.3, -0.4]), jnp.array([0.2, 0.5])
    dist = policy_distribution(jnp.concatenate([mean, log_std]), space, squash=True)
    actions = dist.sample(seed=jax.random.key(0), sample_shape=(4000,))
    assert float(actions.min()) >= -2.0 and float(actions.max()) <= 3.0
    assert float(actions.min()) < -1.5 and float(actions.max()) > 2.5

    a = np.asarray(actions[:5], np.float64)
    u = np.arctanh((a - 0.5) / 2.5)
    want = (norm.logpdf(u, np.asarray(mean), np.exp(np.asarray(log_std)))
            - np.log(2.5) - np.log1p(-np.tanh(u) ** 2)).sum(-1)
    np.testing.assert_allclose(dist.log_prob(actions[:5]), want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("latent_eval_mean", [False, True])
def test_evaluation_noise_zeroes_the_bottlenecks_but_samples_pearls_latent(latent_eval_mean):
    net = NetworkConfig(latent_eval_mean=latent_eval_mean)
    noise = sample_ib_noise(jax.random.key(0), net, (5,), deterministic=True)
    for ib in (noise.belief, noise.policy, noise.critic):
        assert np.all(np.asarray(ib) == 0)
    assert np.all(np.asarray(noise.latent) == 0) == latent_eval_mean
    training = sample_ib_noise(jax.random.key(0), net, (5,))
    assert all(float(jnp.abs(n).sum()) > 0 for n in training)


def test_the_oracle_acts_on_the_task_and_needs_it():
    net = NetworkConfig(hidden_size=16, torso_sizes=(16,), head_sizes=(16,))
    agent = Agent("oracle", net, SPEC, Box(-1.0, 1.0, (2,)))
    keys = jax.random.split(jax.random.key(0), 3)
    x = AgentInput(obs=jax.random.normal(keys[0], (T, B, 2)), prev_action=jnp.zeros((T, B, 2)),
                   prev_reward=jnp.zeros((T, B)), episode_start=jnp.zeros((T, B)).at[0].set(1.0),
                   trial_start=jnp.zeros((T, B), bool).at[0].set(True),
                   task=jax.random.normal(keys[1], (T, B, 3)))
    noise, carry = sample_ib_noise(keys[2], net, (T, B)), agent.initial_carry(B)
    params = agent.init(keys[2], carry, x, noise)
    mean = lambda task: agent.apply(params, carry, x._replace(task=task), noise)[1]\
        .policy_params[..., :2]
    # the policy at step 0 reads the task at step 0 (and nothing else of it)
    jac = jax.jacobian(lambda task: mean(task)[0])(x.task)
    assert float(jnp.abs(jac[:, :, 0]).sum()) > 0 and float(jnp.abs(jac[:, :, 1:]).sum()) == 0
    with pytest.raises(ValueError, match="agent='oracle' reads AgentInput.task, which is None"):
        agent.apply(params, carry, x._replace(task=None), noise)
