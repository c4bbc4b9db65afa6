"""SVG(0): Retrace targets, sequence replay and the belief's isolation from the RL loss."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from belief_jax import NetworkConfig, TrainConfig, Trainer, make_train
from belief_jax.config import SVGConfig
from belief_jax.learners.svg0 import retrace_targets


def retrace_reference(q, v, r, discount, log_rho, lam):
    """Retrace from the definition (Munos et al. 2016), as a plain backward loop:
    G_t = r_t + γ_t [V_{t+1} + c_{t+1}(G_{t+1} − Q_{t+1})], c = λ min(1, π/μ)."""
    L = len(q)
    targets = np.zeros(L - 1)
    g = r[L - 2] + discount[L - 2] * v[L - 1]
    targets[L - 2] = g
    for t in range(L - 3, -1, -1):
        c = lam * min(1.0, np.exp(log_rho[t + 1]))
        g = r[t] + discount[t] * (v[t + 1] + c * (g - q[t + 1]))
        targets[t] = g
    return targets


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("lam", [1.0, 0.7])
def test_retrace_matches_the_definition_off_policy_with_trial_ends(jit, lam):
    rng = np.random.default_rng(0)
    fn = jax.jit(retrace_targets, static_argnums=5) if jit else retrace_targets
    for _ in range(20):
        L = 12
        q, v, r = (rng.normal(size=L).astype(np.float32) for _ in range(3))
        ends = rng.random(L) < 0.25
        discount = (0.95 * (1 - ends)).astype(np.float32)
        log_rho = rng.normal(scale=1.0, size=L).astype(np.float32)  # π ≠ μ
        ours = fn(q, v, r, discount, log_rho, lam)
        np.testing.assert_allclose(ours, retrace_reference(q, v, r, discount, log_rho, lam),
                                   rtol=1e-5, atol=1e-5)


def test_retrace_on_policy_with_lambda_one_is_the_discounted_return_plus_bootstrap():
    r = np.array([1.0, 0.0, 2.0, 5.0], np.float32)
    discount = np.array([0.5, 0.5, 0.5, 0.5], np.float32)
    q = np.array([9.0, 9.0, 9.0, 9.0], np.float32)  # Q cancels on-policy when V = Q
    v = np.array([9.0, 9.0, 9.0, 4.0], np.float32)
    targets = retrace_targets(q, v, r, discount, np.zeros(4, np.float32), 1.0)
    # G_2 = 2 + 0.5·4 = 4; G_1 = 0 + 0.5·4 = 2; G_0 = 1 + 0.5·2 = 2
    np.testing.assert_allclose(targets, [2.0, 2.0, 4.0])


def _tiny(agent="belief", env="bandit", **svg):
    return TrainConfig(
        env=env, agent=agent, total_env_steps=8 * 5 * 8,
        iterations_per_chunk=4, num_eval_envs=4,
        env_kwargs={"num_arms": 3, "num_pulls": 10} if env == "bandit" else {
            "episode_length": 10},
        network=NetworkConfig(hidden_size=8, torso_sizes=(8,), head_sizes=(8,),
                              policy_core="recurrent"),
        learner=SVGConfig(num_envs=8, rollout_length=5, sequence_length=4, batch_size=4,
                       replay_size=400, min_replay=80, replay_ratio=0.05, **svg))


@pytest.mark.parametrize("burn_in", [0, 3])
def test_replayed_sequences_start_from_the_actors_recurrent_state(burn_in):
    """Every stored state is the actor's at that step, with or without a burn-in prefix; the
    burn-in, unrolled with the acting parameters, arrives at the state stored at its end."""
    from belief_jax.replay import add_time_major
    trainer = Trainer(_tiny(burn_in=burn_in))
    state = jax.jit(trainer.init)(jax.random.key(0))
    params = trainer.learner.acting_params(state.learner)
    step = jax.jit(lambda actor, key: trainer.acting.step(params, actor, key))
    actor, actor_carries, transitions = state.actor, [], []
    for t in range(12):
        actor_carries.append(actor.carry)  # the state the actor has before step t
        actor, (transition, _) = step(actor, jax.random.key(100 + t))
        transitions.append(transition)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *transitions)  # [T, B]
    learner = trainer.learner
    buffer = add_time_major(learner.buffer, state.learner.buffer, stacked)
    # The IB noise (drawn every step) fingerprints each (time, env) step.
    fingerprints = np.asarray(stacked.noise.belief[..., 0])
    for key in range(3):
        sample = learner.buffer.sample(buffer, jax.random.key(key)).experience
        for n in range(sample.action.shape[0]):
            t, e = map(int, np.argwhere(fingerprints == float(sample.noise.belief[n, 0, 0]))[0])
            L = sample.action.shape[1]
            np.testing.assert_array_equal(stacked.noise.belief[t:t + L, e],
                                          sample.noise.belief[n])
            assert L == burn_in + 4
            for k in range(L):  # every stored state is the actor's state at that step
                for stored, actual in zip(jax.tree.leaves(sample.carry),
                                          jax.tree.leaves(actor_carries[t + k]), strict=True):
                    np.testing.assert_array_equal(stored[n, k], actual[e])
        replayed = jax.tree.map(lambda x: x.swapaxes(0, 1), sample)
        prefix, _ = learner.split_burn_in(replayed)
        refreshed = learner.burned_in_carry(params, prefix, replayed)
        for got, stored in zip(jax.tree.leaves(refreshed),
                               jax.tree.leaves(replayed.carry), strict=True):
            np.testing.assert_allclose(got, stored[burn_in], atol=1e-5)
    # ...and the actor's state really is what its network produced one step earlier.
    x = jax.tree.map(lambda a: a[3:4], stacked.inputs)
    noise = jax.tree.map(lambda a: a[3:4], stacked.noise)
    next_carry, _ = trainer.agent.apply(params, actor_carries[3], x, noise)
    for a, b in zip(jax.tree.leaves(next_carry), jax.tree.leaves(actor_carries[4]), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-6)


def _replayed_batch(config):
    """A trainer after 3 iterations, its state, and a time-major batch from its replay."""
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    for _ in range(3):
        state, _ = jax.jit(trainer.iteration)(state)
    batch = jax.tree.map(lambda x: x.swapaxes(0, 1), trainer.learner.buffer.sample(
        state.learner.buffer, jax.random.key(1)).experience)
    return trainer, state, batch


def test_belief_network_gets_no_rl_gradient_under_svg0():
    trainer, state, batch = _replayed_batch(_tiny())
    learner = trainer.learner
    p = state.learner.params

    def rl_only(params):
        agent = learner.agent
        learner.agent = agent.clone(config=NetworkConfig(**{**agent.config.__dict__,
                                                            "aux_weight": 0.0}))
        try:
            return learner.loss(params, state.learner.target_params, state.learner.log_alpha,
                                batch, jax.random.key(2))[0]
        finally:
            learner.agent = agent

    grads = jax.grad(rl_only)(p)["agent"]["params"]
    for name in ("belief_core", "belief_head"):
        assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads[name])), name
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(grads["policy_core"]))
    full = jax.grad(lambda q: learner.loss(q, state.learner.target_params,
                                           state.learner.log_alpha, batch,
                                           jax.random.key(2))[0])(p)["agent"]["params"]
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(full["belief_core"]))


# Every agent and every pure-JAX env once (a covering set, not the 3 x 3 product: each case
# compiles a whole loop, and CI time is bounded).
@pytest.mark.parametrize("agent,env", [("rnn", "numpad"), ("aux_head", "bandit"),
                                       ("belief", "semicircle")])
def test_every_agent_trains_with_svg0(agent, env):
    config = _tiny(agent, env, target_update="polyak", tune_alpha=True)
    config = config.replace(network=NetworkConfig(hidden_size=8, torso_sizes=(8,),
                                                  head_sizes=(8,), ib_policy=0.01))
    state, (metrics, evaluation) = jax.jit(make_train(config))(jax.random.key(0))
    losses = np.asarray(metrics["loss"])
    assert np.isnan(losses[0, 0])  # no learning before min_replay steps are stored
    assert np.isfinite(losses[0, 1])  # 2 iterations x 5 steps x 8 envs = 80 stored
    assert np.isfinite(losses[-1]).all() and int(state.learner.num_updates) > 0
    assert np.isfinite(np.asarray(evaluation["validation_return"])).all()


def test_periodic_target_copies_every_period():
    config = _tiny(target_update="periodic", target_period=3)
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    online = state.learner.params
    target = trainer.learner._update_target(state.learner.target_params,
                                            jax.tree.map(lambda x: x + 1, online),
                                            jnp.int32(2))
    for a, b in zip(jax.tree.leaves(target), jax.tree.leaves(online), strict=True):
        np.testing.assert_array_equal(a, b)
    copied = trainer.learner._update_target(state.learner.target_params,
                                            jax.tree.map(lambda x: x + 1, online),
                                            jnp.int32(3))
    for a, b in zip(jax.tree.leaves(copied), jax.tree.leaves(online), strict=True):
        np.testing.assert_allclose(a, b + 1)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_cosine_schedule_decays_the_agent_and_critic_steps_over_the_run(schedule):
    """Adam's steps on a constant gradient move each parameter by the rate: with the cosine
    schedule 1e-2 at the first gradient step and 3% of it at the run's last, in the agent
    and in the critic; constant, 1e-2 throughout."""
    config = _tiny(lr_schedule=schedule, learning_rate=1e-2)
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0)).learner
    learner = trainer.learner
    num_updates = config.num_iterations * config.learner.updates_per_iteration
    grads = jax.tree.map(jnp.ones_like, state.params)
    step = jax.jit(lambda opt_state: learner.optimizer.update(grads, opt_state, state.params))
    opt_state, moves = state.opt_state, []
    for _ in range(num_updates):
        updates, opt_state = step(opt_state)
        moves.append([max(float(jnp.abs(u).max()) for u in jax.tree.leaves(updates[part]))
                      for part in ("agent", "q")])
    np.testing.assert_allclose(moves[0], [1e-2, 1e-2], rtol=1e-3)
    final = 1e-2 * (0.03 + 0.97 * 0.5 * (1 + np.cos(np.pi * (num_updates - 1) / num_updates)))
    expected = final if schedule == "cosine" else 1e-2
    np.testing.assert_allclose(moves[-1], [expected, expected], rtol=1e-3)


@pytest.mark.slow  # 23-34 s (off-by-default option or rare edge): keeps `make test` < 10 min
def test_stored_actions_on_the_box_edge_are_rescored_finitely():
    """A pre-tanh sample beyond ~8.3 is stored as exactly ±1.0 in float32; re-scoring it
    must give a finite log-probability, and the loss on such a batch must stay finite."""
    trainer, state, batch = _replayed_batch(_tiny("belief", "semicircle"))
    learner = trainer.learner
    batch = batch._replace(action=batch.action.at[:, :, 0].set(1.0).at[:, :, 1].set(-1.0))
    from belief_jax.agents import policy_distribution
    dist = policy_distribution(jnp.zeros((4,)), trainer.agent.action_space, squash=True)
    assert not np.isfinite(float(dist.log_prob(jnp.array([1.0, -1.0]))))  # the hazard
    assert np.isfinite(float(dist.log_prob(learner._rescorable(jnp.array([1.0, -1.0])))))
    loss, metrics = learner.loss(state.learner.params, state.learner.target_params,
                                 state.learner.log_alpha, batch, jax.random.key(2))
    assert np.isfinite(float(loss)) and np.isfinite(float(metrics["importance_weight"]))


@pytest.mark.slow  # 23-34 s (off-by-default option or rare edge): keeps `make test` < 10 min
def test_twin_critics_target_and_act_on_their_minimum():
    """With twin critics, Retrace's target Q and E_π Q and the policy's E_π Q use the minimum of
    the two heads (inside the expectation), and each head regresses on those targets; checked
    against a reference assembled by hand from each head alone."""
    from belief_jax.agents import policy_distribution

    trainer, state, batch = _replayed_batch(_tiny(twin_critics=True))
    learner, params, target = trainer.learner, state.learner.params, state.learner.target_params
    heads = lambda q_params: [jax.tree.map(lambda x, i=i: x[i], q_params) for i in range(2)]
    assert not np.allclose(*[jax.tree.leaves(h)[0] for h in heads(params["q"])])
    q_all = lambda q, features: learner.q_head.apply(q, features)  # [L, N, arms]
    out = learner._forward(params["agent"], batch)
    target_out = learner._forward(target["agent"], batch)
    probs = policy_distribution(out.policy_params, trainer.agent.action_space, squash=True).probs
    taken = lambda q: jnp.take_along_axis(q, batch.action[..., None], -1)[..., 0]

    target_all = jnp.minimum(*[q_all(h, target_out.critic_features) for h in heads(target["q"])])
    log_rhos = jnp.log(jnp.take_along_axis(probs, batch.action[..., None], -1)[..., 0]) \
        - batch.log_prob
    discounts = 0.99 * (1.0 - batch.trial_end.astype(jnp.float32))
    target_v = (probs * target_all).sum(-1)
    targets = jnp.stack([retrace_reference(taken(target_all)[:, n], target_v[:, n],
                                           batch.reward[:, n], discounts[:, n], log_rhos[:, n],
                                           1.0) for n in range(batch.reward.shape[1])], 1)
    want_critic = sum(0.5 * jnp.mean((taken(q_all(h, out.critic_features))[:-1] - targets) ** 2)
                      for h in heads(params["q"]))
    online_min = jnp.minimum(*[q_all(h, out.critic_features) for h in heads(params["q"])])
    entropy = -(probs * jnp.log(probs)).sum(-1)
    want_policy = -jnp.mean((probs * online_min).sum(-1) + learner.config.alpha * entropy)

    _, metrics = learner.loss(params, target, state.learner.log_alpha, batch,
                              jax.random.key(2))
    np.testing.assert_allclose(metrics["critic_loss"], want_critic, rtol=1e-4)
    np.testing.assert_allclose(metrics["policy_loss"], want_policy, rtol=1e-4)


@pytest.mark.parametrize("env", ["semicircle", "bandit"])
def test_policy_eval_mode_acts_with_the_most_likely_action(env):
    """With network.policy_eval_mode, validation acts with tanh(mean) squashed into the box
    (or the argmax), the same for any action key; without it, actions are sampled."""
    config = _tiny("belief", env)
    config = config.replace(network=dataclasses.replace(config.network, policy_eval_mode=True))
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    params = trainer.learner.acting_params(state.learner)
    acting = trainer.validation
    actor = acting.reset(jax.random.key(3), 4)
    step = jax.jit(lambda key: acting.step(params, actor, key)[1][0].action)
    first, second = step(jax.random.key(4)), step(jax.random.key(5))
    np.testing.assert_array_equal(first, second)
    from belief_jax.agents import sample_ib_noise
    noise = sample_ib_noise(jax.random.key(6), config.network, (4,), True)
    add_time = lambda tree: jax.tree.map(lambda x: x[None], tree)
    _, out = trainer.agent.apply(params, actor.carry, add_time(actor.next_input),
                                 add_time(noise))
    logits_or_mean = out.policy_params[0]
    if env == "bandit":
        np.testing.assert_array_equal(first, np.argmax(logits_or_mean, -1))
    else:
        space = trainer.agent.action_space
        mean = np.split(np.asarray(logits_or_mean), 2, -1)[0]
        np.testing.assert_allclose(first, space.low + (space.high - space.low)
                                   * (np.tanh(mean) + 1) / 2, rtol=1e-5, atol=1e-6)
    sampled = Trainer(_tiny("belief", env)).validation
    draw = jax.jit(lambda key: sampled.step(params, actor, key)[1][0].action)
    assert not np.array_equal(draw(jax.random.key(4)), draw(jax.random.key(5)))


@pytest.mark.slow  # 23-34 s (off-by-default option or rare edge): keeps `make test` < 10 min
def test_burn_in_steps_carry_no_gradient_and_no_loss():
    """With a burn-in, the loss depends on the burn-in steps only through the refreshed state
    and passes no gradient back into them; the learned steps do get gradient."""
    trainer, state, batch = _replayed_batch(_tiny(burn_in=3))
    learner = trainer.learner
    assert batch.reward.shape[0] == 3 + 4

    def loss_of_rewards(prev_reward):
        replayed = batch._replace(inputs=batch.inputs._replace(prev_reward=prev_reward))
        return learner.loss(state.learner.params, state.learner.target_params,
                            state.learner.log_alpha, replayed, jax.random.key(2))[0]

    grads = np.asarray(jax.grad(loss_of_rewards)(batch.inputs.prev_reward))
    assert np.all(grads[:3] == 0)
    assert np.any(grads[3:] != 0)


def test_burn_in_to_the_trial_start_recomputes_pearls_context_with_current_parameters():
    """The PEARL-style agent's context sums are running totals since the trial's start. With
    a burn-in that reaches back over the trial's start (experiments.adaptation's
    pearl_refresh_context), the learned steps start from the sums of today's encoder over the
    trial's steps so far: an unroll of the current parameters from the trial's first step,
    not the stored state, which an older encoder wrote."""
    config = _tiny("pearl", "semicircle", burn_in=16)  # trials of 2 x 10 steps, sequences of 4
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    acting = trainer.learner.acting_params(state.learner)
    step = jax.jit(lambda actor, key: trainer.acting.step(acting, actor, key))
    actor, transitions = state.actor, []
    for t in range(30):
        actor, (transition, _) = step(actor, jax.random.key(100 + t))
        transitions.append(transition)
    stacked = jax.tree.map(lambda *x: jnp.stack(x), *transitions)  # [30, B]; trials at 0, 20
    assert np.all(np.asarray(stacked.inputs.trial_start[20]))
    # today's parameters: the acting ones moved, as by many gradient steps since the storing
    current = jax.tree.map(lambda p, k: p + 0.3 * jax.random.normal(k, p.shape), acting,
                           _keys_like(acting))
    learner = trainer.learner
    replayed = jax.tree.map(lambda x: x[10:30], stacked)  # burn-in 10..25, learned 26..29
    refreshed = learner.burned_in_carry(current, learner.split_burn_in(replayed)[0], replayed)
    from_trial_start, _ = trainer.agent.apply(
        current, trainer.agent.initial_carry(config.learner.num_envs),
        jax.tree.map(lambda x: x[20:26], stacked.inputs),
        jax.tree.map(lambda x: x[20:26], stacked.noise))
    stored = jax.tree.map(lambda x: x[26], stacked.carry)
    for name in ("eta", "precision"):
        got, want = getattr(refreshed, name), getattr(from_trial_start, name)
        assert np.all(np.isfinite(got)) and np.any(got != 0), name
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        assert not np.allclose(got, getattr(stored, name), atol=1e-3), name  # not the stale sums


def _keys_like(tree):
    leaves, treedef = jax.tree.flatten(tree)
    return jax.tree.unflatten(treedef, list(jax.random.split(jax.random.key(7), len(leaves))))


@pytest.mark.parametrize("train_z", ["trial", "resampled", "held"])
def test_pearl_encoder_learns_from_the_critic_without_an_episode_start(train_z):
    """On replayed sequences that hold no episode start, PEARL's encoder gets gradient from
    the critic loss only when z is drawn from the trial's context in the loss ('trial',
    'resampled'); with the actor's held z it gets none (the stored z is data)."""
    config = _tiny("pearl", "semicircle")
    config = config.replace(network=dataclasses.replace(config.network, pearl_train_z=train_z,
                                                        policy_core="feedforward"))
    trainer, state, batch = _replayed_batch(config)
    batch = batch._replace(inputs=batch.inputs._replace(
        episode_start=jnp.zeros_like(batch.inputs.episode_start),
        trial_start=jnp.zeros_like(batch.inputs.trial_start)))
    learner = trainer.learner
    critic_loss = lambda p: learner.loss(p, state.learner.target_params, state.learner.log_alpha,
                                         batch, jax.random.key(2))[1]["critic_loss"]
    grads = jax.grad(critic_loss)(state.learner.params)["agent"]["params"]["context"]
    norm = float(sum(jnp.abs(g).sum() for g in jax.tree.leaves(grads)))
    assert (norm > 0) == (train_z != "held"), norm


def test_whole_trials_are_replayed_from_their_first_step_across_wraps():
    """Each sampled sequence is one whole trial, from its first step, among the trials the
    buffer holds entirely; every such trial is sampled (checked against the set of trials in
    the last `capacity` steps, worked out from absolute times), also after the writes wrap
    inside a trial."""
    from belief_jax.replay import add_time_major, make_sequence_buffer, sample_whole_trials
    num_envs, trial, chunk = 3, 6, 4
    buffer = make_sequence_buffer(num_envs, trial, 64, 3 * 20, 2 * trial, whole_trials=True)
    per_env = 18  # 20 cut to a multiple of the trial
    item = {"time": jnp.zeros((), jnp.int32), "env": jnp.zeros((), jnp.int32)}
    state = buffer.init(item)
    sample = jax.jit(lambda s, k: sample_whole_trials(s, k, 64, trial))
    for c in range(20):
        time = jnp.arange(c * chunk, (c + 1) * chunk)
        data = {"time": jnp.broadcast_to(time[:, None], (chunk, num_envs)),
                "env": jnp.broadcast_to(jnp.arange(num_envs), (chunk, num_envs))}
        state = add_time_major(buffer, state, data)
        written = (c + 1) * chunk
        if not bool(buffer.can_sample(state)):
            assert written < 2 * trial
            continue
        expected = {(e, s) for e in range(num_envs) for s in range(0, written, trial)
                    if s >= written - per_env and s + trial <= written}
        got = set()
        for k in range(4):
            batch = sample(state, jax.random.key(k))  # [L, N]
            times, rows = np.asarray(batch["time"]), np.asarray(batch["env"])
            np.testing.assert_array_equal(times - times[0], np.arange(trial)[:, None]
                                          * np.ones_like(times[0]))
            assert np.all(rows == rows[0])
            got |= set(zip(rows[0].tolist(), times[0].tolist(), strict=True))
        assert got == expected, (written, got ^ expected)


def test_whole_trial_replay_trains_pearl_from_trial_starts():
    """With whole-trial replay, every replayed sequence of a training run starts a trial and
    holds no other trial start, and the run stays finite; a sequence length other than the
    trial's and a burn-in are refused before compiling."""
    config = _tiny("pearl", "semicircle", replay_whole_trials=True)
    config = config.replace(learner=config.learner.replace(sequence_length=20))
    trainer = Trainer(config)
    state = jax.jit(trainer.init)(jax.random.key(0))
    iteration = jax.jit(trainer.iteration)
    for _ in range(5):  # 25 steps per env: one whole trial of 20 stored
        state, metrics = iteration(state)
    assert float(metrics["learning"]) == 1.0 and np.isfinite(float(metrics["loss"]))
    batch = trainer.learner._sample(state.learner.buffer, jax.random.key(1))
    starts = np.asarray(batch.inputs.trial_start)
    assert starts.shape == (20, 4) and starts[0].all() and not starts[1:].any()
    from belief_jax.train import validate
    with pytest.raises(ValueError, match="svg0.sequence_length=4 with svg0.replay_whole_trials "
                                         "must be the trial's length; valid: 20"):
        validate(_tiny("pearl", "semicircle", replay_whole_trials=True))
    with pytest.raises(ValueError, match="svg0.burn_in=2 with svg0.replay_whole_trials"):
        SVGConfig(sequence_length=20, burn_in=2, replay_whole_trials=True).validate()


def test_a_chunk_reports_the_grad_norm_of_the_iterations_that_learned():
    """The first chunk's first iteration stores 40 of the 80 `min_replay` steps and does not
    learn (NaN); the chunk's gradient norm is the mean of the three that did, as its other
    learner metrics are, not NaN."""
    from experiments.common import train as train_run
    trained = train_run(_tiny(), log=lambda _: None)
    assert trained.grad_norm.shape == trained.validation_return.shape
    assert np.isfinite(trained.grad_norm).all() and (trained.grad_norm > 0).all()
    np.testing.assert_array_equal(trained.grad_norm, trained.learner_metrics["grad_norm"])
    assert np.isnan(trained.learner_metrics["critic_loss"]).sum() == 0
