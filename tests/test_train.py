"""The training loop: determinism across jit, vmap and chunking, and the PPO data path."""
import jax
import numpy as np
import pytest

from belief_jax import NetworkConfig, PPOConfig, TrainConfig, Trainer, make_train

TINY = TrainConfig(
    env="bandit", agent="belief", env_kwargs={"num_arms": 3, "num_pulls": 8},
    total_env_steps=4 * 8 * 4, iterations_per_chunk=2, num_eval_envs=4,
    network=NetworkConfig(hidden_size=8, torso_sizes=(8,), head_sizes=(8,)),
    learner=PPOConfig(num_envs=4, rollout_length=8, num_epochs=2, num_minibatches=2))


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def _assert_trees_close(a, b, **tol):
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_allclose(x, y, **tol)


# The smallest run that still has an update (one iteration of a 4-pull trial, one epoch)
# and a validation pass.
SMALL = TINY.replace(env_kwargs={"num_arms": 3, "num_pulls": 4}, total_env_steps=4 * 4,
                     iterations_per_chunk=1,
                     learner=PPOConfig(num_envs=4, rollout_length=4, num_epochs=1,
                                       num_minibatches=2))


def test_train_is_deterministic():
    train = make_train(SMALL)
    key = jax.random.key(3)
    jitted = jax.jit(train)(key)
    again = jax.jit(make_train(SMALL))(key)  # a second trace and compilation
    _assert_trees_close(jitted[0].learner.params, again[0].learner.params, rtol=0, atol=0)
    _assert_trees_close(jitted[1], again[1], rtol=0, atol=0)


@pytest.mark.slow
def test_jit_matches_eager():
    """Eager execution compiles every primitive on its own (~26 s here, ~140 s on CI's cores):
    a slow test, on the smallest run."""
    train = make_train(SMALL)
    key = jax.random.key(3)
    jitted = jax.jit(train)(key)
    with jax.disable_jit():
        eager = train(key)
    _assert_trees_close(jitted[0].learner.params, eager[0].learner.params, rtol=1e-4, atol=1e-5)
    _assert_trees_close(jitted[1][0]["loss"], eager[1][0]["loss"], rtol=1e-4, atol=1e-5)


def test_vmapped_seeds_match_single_seed_runs():
    train = jax.jit(make_train(TINY))
    keys = jax.random.split(jax.random.key(0), 2)
    batched_state, (batched_metrics, _) = jax.jit(jax.vmap(train))(keys)
    for i in range(2):
        state, (metrics, _) = train(keys[i])
        _assert_trees_close(jax.tree.map(lambda x, i=i: x[i], batched_state.learner.params),
                            state.learner.params, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(batched_metrics["loss"][i], metrics["loss"], rtol=1e-5)
    assert not np.allclose(batched_metrics["loss"][0], batched_metrics["loss"][1])


def test_chunked_and_unchunked_training_agree():
    one_chunk = TINY.replace(iterations_per_chunk=4)
    state_a, (metrics_a, _) = jax.jit(make_train(one_chunk))(jax.random.key(1))
    assert TINY.num_chunks == 2 and one_chunk.num_chunks == 1
    trainer = Trainer(TINY)
    chunk = jax.jit(trainer.chunk)
    state_b = trainer.init(jax.random.key(1))
    losses = []
    for _ in range(TINY.num_chunks):
        state_b, metrics, _ = chunk(state_b)
        losses.append(metrics["loss"])
    _assert_trees_close(state_a.learner.params, state_b.learner.params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics_a["loss"].reshape(-1), np.concatenate(losses), rtol=1e-5)


def _rollout(trainer, state, key=1):
    rollout = jax.jit(trainer.acting.rollout, static_argnums=3)
    return rollout(state.learner.params, state.actor, jax.random.key(key),
                   trainer.config.learner.rollout_length)


def test_first_update_sees_the_actors_log_probs():
    """The update re-runs the policy on the stored belief and IB noise; before any gradient
    step it must give back exactly the log-probabilities the actor sampled with."""
    for config in (TINY, TINY.replace(agent="aux_head"),
                   TINY.replace(network=TINY.network.__class__(
                       hidden_size=8, torso_sizes=(8,), head_sizes=(8,), ib_policy=0.1,
                       ib_belief=0.1, policy_core="recurrent"))):
        trainer = Trainer(config)
        state = trainer.init(jax.random.key(0))
        _, rollout, _ = _rollout(trainer, state)
        out = trainer.learner.forward(state.learner.params, rollout.start_carry,
                                      rollout.transitions)
        from belief_jax.agents import policy_distribution
        log_prob = policy_distribution(out.policy_params, trainer.agent.action_space).log_prob(
            rollout.transitions.action)
        np.testing.assert_allclose(log_prob, rollout.transitions.log_prob, atol=1e-5)
        np.testing.assert_allclose(out.value, rollout.transitions.value, atol=1e-5)


def test_rollout_records_trial_returns_and_the_true_task():
    trainer = Trainer(TINY)
    state = trainer.init(jax.random.key(0))
    actor, rollout, completed = _rollout(trainer, state)
    tr = rollout.transitions
    # one 8-pull trial per rollout: it ends at the last step and its return is the reward sum
    np.testing.assert_array_equal(tr.trial_end[-1], True)
    np.testing.assert_allclose(completed[-1], tr.reward.sum(0))
    np.testing.assert_allclose(tr.task_info[0], state.actor.env_state.env_state.task.arm_probs)
    assert bool(actor.next_input.trial_start.all())
    # the next input carries the previous action one-hot and reward...
    np.testing.assert_allclose(tr.inputs.prev_action[1:].argmax(-1), tr.action[:-1])
    np.testing.assert_allclose(tr.inputs.prev_reward[1:], tr.reward[:-1])
    # ...except at a new trial's first step, which sees zeros as after a reset: the last
    # trial's action and reward say nothing about the new task
    assert float(np.abs(tr.reward[-1]).sum()) > 0  # there was a reward to leak
    np.testing.assert_array_equal(actor.next_input.prev_action, 0.0)
    np.testing.assert_array_equal(actor.next_input.prev_reward, 0.0)
    np.testing.assert_array_equal(tr.inputs.prev_action[0], 0.0)


def test_the_oracle_reads_the_true_task_at_every_step():
    """Its task input is the embedding of the task it acts in, across trial boundaries
    (checked against the task info stored from the env state before each step); agents that
    do not read the task get none."""
    trainer = Trainer(TINY.replace(agent="oracle"))
    state = trainer.init(jax.random.key(0))
    actor, rollout, _ = jax.jit(trainer.acting.rollout, static_argnums=3)(
        state.learner.params, state.actor, jax.random.key(1), 20)
    tr = rollout.transitions
    assert bool(tr.trial_end[7].all()) and bool(tr.trial_end[15].all())  # 3 trials
    np.testing.assert_array_equal(tr.inputs.task, tr.task_info)
    assert not np.allclose(tr.task_info[0], tr.task_info[8])  # the task did change
    np.testing.assert_array_equal(actor.next_input.task,
                                  actor.env_state.env_state.task.arm_probs)
    belief = Trainer(TINY)
    assert belief.init(jax.random.key(0)).actor.next_input.task is None


def test_a_belief_given_the_task_is_what_the_policy_acts_on():
    """`Acting.given_task(σ)` (the goal-trials probe): along a validation trial the policy
    acted on [true task, log σ] in place of its belief network's output, checked by re-running
    the agent over the recorded trial with those features passed explicitly; without them the
    same actions have other log-probabilities, so the probe did change the policy's input."""
    from belief_jax.agents import policy_distribution
    config = TINY.replace(env="semicircle", env_kwargs={"episode_length": 5},
                          total_env_steps=4 * 10)
    trainer = Trainer(config)
    params = trainer.init(jax.random.key(0)).learner.params
    actor, tr, _ = jax.jit(trainer.validation.given_task(0.1).trials, static_argnums=2)(
        params, jax.random.key(1), 4)
    goal = tr.task_info  # [T, B, 2]: the goal before each step, changing with the task
    given = np.concatenate([goal, np.full_like(goal, np.log(0.1))], axis=-1)

    def log_prob(features):
        _, out = trainer.agent.apply(params, actor.carry, tr.inputs, tr.noise, features)
        space = trainer.agent.action_space
        return policy_distribution(out.policy_params, space).log_prob(tr.action)

    np.testing.assert_allclose(log_prob(given), tr.log_prob, atol=1e-5)
    assert np.abs(log_prob(None) - tr.log_prob).max() > 1e-3
    with pytest.raises(ValueError, match="given_task needs an agent with a belief over "
                                         "Gaussian task info; got agent='belief' with task "
                                         "info of kind 'beta'"):
        Trainer(TINY).validation.given_task(0.1)
    with pytest.raises(ValueError, match="given_task std must be > 0, got 0"):
        trainer.validation.given_task(0.0)


# The fast suite keeps a covering set (every agent, env, physics and NumPad's index task
# info once); the other cases, a whole loop compile each, run in the slow step.
_SLOW = pytest.mark.slow


@pytest.mark.parametrize("agent,env,env_kwargs", [
    pytest.param("rnn", "semicircle", {}, marks=_SLOW), ("aux_head", "semicircle", {}),
    pytest.param("belief", "semicircle", {}, marks=_SLOW),
    ("belief", "semicircle", {"physics": "mjx"}), ("rnn", "numpad", {}),
    pytest.param("aux_head", "numpad", {"task_info": "index"}, marks=_SLOW),
    ("belief", "numpad", {"physics": "mjx"}),
    pytest.param("oracle", "semicircle", {}, marks=_SLOW),
    ("oracle", "numpad", {"task_info": "index"})])
def test_every_agent_trains_on_the_ball_envs(agent, env, env_kwargs):
    config = TINY.replace(env=env, agent=agent, env_kwargs={"episode_length": 8, **env_kwargs},
                          learner=PPOConfig(num_envs=4, rollout_length=8, num_minibatches=2))
    state, (metrics, evaluation) = jax.jit(make_train(config))(jax.random.key(0))
    assert np.isfinite(np.asarray(metrics["loss"])).all()
    assert np.isfinite(np.asarray(evaluation["validation_return"])).all()
    assert int(state.iteration) == config.num_iterations


def test_bandit_policy_improves_quickly_with_a_belief():
    """A short run must already move the policy away from uniform and raise the return."""
    config = TrainConfig(env="bandit", agent="belief", env_kwargs={"num_arms": 5,
                         "num_pulls": 30}, total_env_steps=64 * 30 * 60, iterations_per_chunk=60,
                         num_eval_envs=512,
                         network=NetworkConfig(hidden_size=32, torso_sizes=(64,),
                                               head_sizes=(64,)),
                         learner=PPOConfig(num_envs=64, rollout_length=30, gamma=0.9,
                                       gae_lambda=0.8, learning_rate=3e-3, max_grad_norm=100.0))
    _, (metrics, evaluation) = jax.jit(make_train(config))(jax.random.key(0))
    first, last = np.asarray(metrics["train_return"])[0, :5].mean(), float(
        evaluation["validation_return"][-1])
    assert first < 16.5  # random: 30 pulls × E[p] = 15
    assert last > first + 2.5, (first, last)


@pytest.mark.parametrize("groups", [1, 2, 4])
def test_minibatches_take_an_equal_share_of_every_shuffle_group(groups):
    """Each epoch's minibatches hold every env exactly once, minibatch k holds the k-th slice
    of each group's own permutation (so with the groups on their own devices nothing moves
    between them), and the carries and time-major arrays follow the same envs."""
    import jax.numpy as jnp

    from belief_jax.learners.ppo import Minibatch, split_minibatches

    num_envs, minibatches, T = 16, 2, 3
    envs = jnp.arange(num_envs, dtype=jnp.float32)
    data = Minibatch(start_carry=envs, transitions=jnp.tile(envs, (T, 1)),
                     advantages=jnp.tile(envs, (T, 1)) + 100, targets=jnp.tile(envs, (T, 1)))
    size = num_envs // groups
    order = jax.vmap(jax.random.permutation, (0, None))(
        jax.random.split(jax.random.key(0), groups), size)
    out = split_minibatches(data, order, minibatches)
    assert out.start_carry.shape == (minibatches, num_envs // minibatches)
    assert out.transitions.shape == (minibatches, T, num_envs // minibatches)
    ids = np.asarray(out.start_carry).astype(int)
    assert sorted(ids.ravel()) == list(range(num_envs))
    share = size // minibatches
    for k in range(minibatches):  # the reference, by hand: slice k of each group's order
        want = [g * size + int(order[g, j]) for g in range(groups)
                for j in range(k * share, (k + 1) * share)]
        assert ids[k].tolist() == want
        np.testing.assert_array_equal(out.transitions[k], np.tile(ids[k], (T, 1)))
        np.testing.assert_array_equal(out.advantages[k], np.tile(ids[k], (T, 1)) + 100)


def test_shuffle_groups_must_split_the_envs():
    with pytest.raises(ValueError, match=r"ppo.shuffle_groups=3 x ppo.num_minibatches=2 must "
                                         r"divide ppo.num_envs=8"):
        PPOConfig(num_envs=8, num_minibatches=2, shuffle_groups=3)


def test_keep_best_holds_the_params_of_the_best_validation_pass():
    """Against a reference run stepped chunk by chunk without keep_best: training is the
    same, and best holds the acting params of the pass with the highest validation return."""
    config = TINY.replace(total_env_steps=4 * 8 * 6, iterations_per_chunk=1, num_eval_envs=16)
    trainer = Trainer(config)
    chunk = jax.jit(trainer.chunk)
    state = trainer.init(jax.random.key(5))
    params, returns = [], []
    for _ in range(config.num_chunks):
        state, _, evaluation = chunk(state)
        params.append(trainer.learner.acting_params(state.learner))
        returns.append(float(evaluation["validation_return"]))
    best_state, (_, best_evaluation) = jax.jit(make_train(config.replace(keep_best=True)))(
        jax.random.key(5))
    np.testing.assert_array_equal(best_evaluation["validation_return"], returns)
    _assert_trees_close(best_state.learner.params, state.learner.params, rtol=0, atol=0)
    best = int(np.argmax(returns))
    assert best < config.num_chunks - 1, "the last pass is the best: the test shows nothing"
    _assert_trees_close(best_state.best.params, params[best], rtol=0, atol=0)
    assert float(best_state.best.validation_return) == max(returns)
    assert int(best_state.best.env_steps) == (best + 1) * config.steps_per_chunk
    assert state.best is None  # off by default: nothing extra carried or checkpointed
