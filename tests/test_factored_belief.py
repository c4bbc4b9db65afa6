"""The bandit's belief agent parts (SPEC §3.3-3.5): the Beta belief's log-likelihood and
features, the factored policy head (equivariant, no gradient into the belief), trial progress
as acting fills it, chrono initialisation, and the belief's own optimiser."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.stats

import envs
from belief_jax.agents import Agent, AgentInput, sample_ib_noise
from belief_jax.config import NetworkConfig, PPOConfig, SVGConfig, TrainConfig
from belief_jax.learners.ppo import PPO, Minibatch, minibatch_step
from belief_jax.losses import task_log_likelihood
from belief_jax.networks import AuxHead, belief_features
from belief_jax.train import Trainer
from belief_jax.types import Transition
from envs.core import Discrete, TaskInfoSpec

K, T, B = 5, 4, 3
SPEC = TaskInfoSpec(kind="beta", size=K)
NET = NetworkConfig(hidden_size=16, head_sizes=(16,), policy_head="factored",
                    trial_progress=True, reward_by_action=True)


def test_beta_log_likelihood_matches_scipy_and_is_finite_at_the_edges():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.2, 50, (6, K)), rng.uniform(0.2, 50, (6, K))
    p = rng.uniform(0.01, 0.99, (6, K))
    belief = jnp.log(jnp.asarray(np.concatenate([a, b], -1), jnp.float32))
    ours = task_log_likelihood(belief, jnp.asarray(p, jnp.float32), SPEC)
    np.testing.assert_allclose(ours, scipy.stats.beta.logpdf(p, a, b).sum(-1), rtol=2e-4)
    # p ~ U[0, 1) can be exactly 0; α < 1 there would be an infinite density
    edge = task_log_likelihood(jnp.log(jnp.array([[0.5, 2.0]])), jnp.array([[0.0]]),
                               TaskInfoSpec("beta", 1))
    assert np.isfinite(edge).all()


def test_beta_head_and_its_features():
    head = AuxHead(SPEC)
    h = 30 * jax.random.normal(jax.random.key(0), (7, 16))
    out = head.apply(head.init(jax.random.key(1), h), h)
    assert out.shape == (7, 2 * K) and float(out.min()) >= -4 and float(out.max()) <= 8
    alpha, beta = np.array([3.0, 1.0]), np.array([1.0, 7.0])
    features = belief_features(jnp.log(jnp.array(np.concatenate([alpha, beta]))),
                               TaskInfoSpec("beta", 2))
    np.testing.assert_allclose(features, [0.75, 0.125, np.log(4.0), np.log(8.0)], rtol=1e-5)


def _agent(**changes):
    net = dataclasses.replace(NET, **changes)
    agent = Agent("belief", net, SPEC, Discrete(K))
    keys = jax.random.split(jax.random.key(0), 4)
    x = AgentInput(obs=jnp.zeros((T, B, 0)),
                   prev_action=jax.nn.one_hot(jax.random.randint(keys[0], (T, B), 0, K), K),
                   prev_reward=jax.random.bernoulli(keys[1], 0.5, (T, B)).astype(jnp.float32),
                   episode_start=jnp.zeros((T, B)).at[0].set(1.0),
                   trial_start=jnp.zeros((T, B), bool).at[0].set(True),
                   trial_progress=jnp.broadcast_to(jnp.arange(T)[:, None] / T, (T, B)))
    noise = sample_ib_noise(keys[2], net, (T, B))
    carry = agent.initial_carry(B)
    return agent, agent.init(keys[3], carry, x, noise), carry, x, noise


def test_factored_policy_is_equivariant_and_critic_invariant_to_permuting_arms():
    agent, params, carry, x, noise = _agent()
    belief = jax.random.normal(jax.random.key(5), (T, B, 2 * K))
    perm = np.array([3, 0, 4, 1, 2])
    permuted = jnp.concatenate([belief[..., :K][..., perm], belief[..., K:][..., perm]], -1)
    _, out = agent.apply(params, carry, x, noise, belief)
    _, out_p = agent.apply(params, carry, x, noise, permuted)
    np.testing.assert_allclose(out_p.policy_params, out.policy_params[..., perm], atol=1e-5)
    np.testing.assert_allclose(out_p.value, out.value, atol=1e-5)
    # the shared input matters: trial progress changes the logits
    _, late = agent.apply(params, carry, x._replace(trial_progress=x.trial_progress + 0.5),
                          noise, belief)
    assert not np.allclose(late.policy_params, out.policy_params)


def test_factored_heads_pass_no_rl_gradient_into_the_belief():
    agent, params, carry, x, noise = _agent()

    def rl_objective(p):
        _, out = agent.apply(p, carry, x, noise)
        return jax.nn.log_softmax(out.policy_params)[..., 0].sum() + out.value.sum()

    grads = jax.grad(rl_objective)(params)["params"]
    for name in ("belief_core", "belief_head"):
        assert all(np.all(np.asarray(g) == 0) for g in jax.tree.leaves(grads[name]))
    assert sum(float(jnp.abs(g).sum()) for g in jax.tree.leaves(grads["factored"])) > 0


def test_chrono_init_sets_forget_and_input_gate_biases():
    _, params, *_ = _agent(chrono_init=100)
    lstm = params["params"]["belief_core"]["cell"]["lstm"]
    forget, inputs = np.asarray(lstm["hf"]["bias"]), np.asarray(lstm["hi"]["bias"])
    assert forget.min() >= 0 and forget.max() <= np.log(99) and forget.std() > 0.5
    np.testing.assert_allclose(inputs, -forget)
    _, plain, *_ = _agent()
    assert np.all(np.asarray(plain["params"]["belief_core"]["cell"]["lstm"]["hf"]["bias"]) == 0)


def test_trial_progress_is_the_fraction_of_the_trial_elapsed():
    config = TrainConfig(env="bandit", env_kwargs={"num_arms": 3, "num_pulls": 5},
                         episodes_per_trial=2, learner=PPOConfig(num_envs=2, rollout_length=10,
                                                                 num_minibatches=1),
                         network=NetworkConfig(hidden_size=8, head_sizes=(8,)))
    trainer = Trainer(config)
    state = trainer.init(jax.random.key(0))
    _, rollout, _ = trainer.acting.rollout(trainer.learner.acting_params(state.learner),
                                           state.actor, jax.random.key(1), 10)
    np.testing.assert_allclose(rollout.transitions.inputs.trial_progress[:, 0],
                               np.arange(10) / 10, atol=1e-6)


def test_belief_network_has_its_own_optimiser():
    """RL learning rate ~0, belief rate 1e-2: after one Adam step only the belief moves,
    by about its learning rate per parameter."""
    agent, params, carry, x, noise = _agent(belief_learning_rate=1e-2)
    ppo = PPO(agent, agent.config, PPOConfig(num_envs=B, num_minibatches=1,
                                             learning_rate=1e-12))
    batch = Transition(inputs=x, noise=noise, belief_features=jnp.zeros((T, B, 2 * K)),
                       action=jnp.zeros((T, B), jnp.int32), log_prob=jnp.full((T, B), -1.6),
                       value=jnp.zeros((T, B)), reward=x.prev_reward,
                       trial_end=jnp.zeros((T, B), bool),
                       task_info=jax.random.uniform(jax.random.key(9), (T, B, K)))
    state = ppo.init(jax.random.key(0), params, batch)
    minibatch = Minibatch(carry, batch, jnp.ones((T, B)), jnp.ones((T, B)))
    new, _ = minibatch_step(ppo, state, minibatch)
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max()), new.params["params"],
                         params["params"])
    assert max(jax.tree.leaves(moved["factored"])) < 1e-9
    assert 5e-3 < max(jax.tree.leaves(moved["belief_head"])) <= 1.01e-2
    assert isinstance(state.opt_state, optax.MultiTransformState)


@pytest.mark.parametrize("changes,message", [
    (dict(agent="rnn"), "policy_head='factored' needs agent in"),
    (dict(env="semicircle"), "actions index its task embedding"),
])
def test_factored_head_needs_a_belief_over_the_actions(changes, message):
    from belief_jax.train import validate
    config = TrainConfig(network=NetworkConfig(policy_head="factored")).replace(**changes)
    with pytest.raises(ValueError, match=message):
        validate(config)


@pytest.mark.parametrize("network,message", [
    (dict(policy_head="factored", ib_belief=0.1), "set network.ib_belief"),
    (dict(chrono_init=50, cell="gru"), "chrono_init needs cell='lstm'"),
    (dict(chrono_init=1), "chrono_init must be 0"),
    (dict(policy_head="deep"), "network.policy_head"),
    (dict(belief_learning_rate=-1.0), "belief_learning_rate"),
])
def test_bad_belief_options_name_the_field(network, message):
    with pytest.raises(ValueError, match=message):
        NetworkConfig(**network)


def test_bandit_declares_its_factors():
    env = envs.make("bandit")
    assert env.action_factors and env.task_info_spec.kind == "beta"
    assert not envs.make("semicircle").action_factors


def _trainer(**changes):
    config = TrainConfig(env="bandit", env_kwargs={"num_arms": 3, "num_pulls": 5},
                         learner=PPOConfig(num_envs=8, rollout_length=5, num_minibatches=1),
                         network=NetworkConfig(hidden_size=8, head_sizes=(8,)), **changes)
    return Trainer(config)


def test_exploring_envs_are_marked_and_act_epsilon_greedily():
    trainer = _trainer(belief_exploration_envs=3)
    acting = trainer.acting
    actor = acting.reset(jax.random.key(0), 8)
    assert np.all(np.asarray(actor.epsilon[:5]) == 0) and np.all(actor.epsilon[5:] > 0)
    policy = jnp.zeros(4000, jnp.int32)
    always = acting.behave(jax.random.key(1), jnp.ones(4000), policy)
    never = acting.behave(jax.random.key(1), jnp.zeros(4000), policy)
    counts = np.bincount(np.asarray(always), minlength=3) / 4000
    np.testing.assert_allclose(counts, 1 / 3, atol=0.03)  # ε = 1: uniform over the arms
    assert np.all(np.asarray(never) == 0)                 # ε = 0: the policy's action
    state = trainer.init(jax.random.key(2))
    _, rollout, _ = acting.rollout(trainer.learner.acting_params(state.learner), state.actor,
                                   jax.random.key(3), 5)
    np.testing.assert_array_equal(rollout.transitions.explore[0], np.arange(8) >= 5)


def test_ppo_rl_loss_ignores_exploring_steps_and_the_belief_loss_does_not():
    agent, params, carry, x, noise = _agent()
    ppo = PPO(agent, agent.config, PPOConfig(num_envs=B, num_minibatches=1))
    explore = jnp.zeros((T, B), bool).at[:, -1].set(True)
    batch = Transition(inputs=x, noise=noise, belief_features=jnp.zeros((T, B, 2 * K)),
                       action=jnp.ones((T, B), jnp.int32), log_prob=jnp.full((T, B), -1.6),
                       value=jnp.zeros((T, B)), reward=x.prev_reward,
                       trial_end=jnp.zeros((T, B), bool), explore=explore,
                       task_info=jax.random.uniform(jax.random.key(9), (T, B, K)))
    advantages = jax.random.normal(jax.random.key(4), (T, B))
    targets = jax.random.normal(jax.random.key(5), (T, B))
    _, out = agent.apply(params, carry, x, noise, batch.belief_features)
    loss = lambda adv, tgt: ppo.rl_loss(out, batch, adv, tgt)[0]
    changed = (advantages.at[:, -1].add(7.0), targets.at[:, -1].add(-3.0))
    np.testing.assert_allclose(loss(*changed), loss(advantages, targets), rtol=1e-6)
    on_policy = (advantages.at[:, 0].add(7.0), targets.at[:, 0].add(-3.0))
    assert not np.isclose(loss(*on_policy), loss(advantages, targets))
    # the belief's loss still sees the exploring env
    mb = Minibatch(carry, batch, advantages, targets)
    aux = lambda task_info: ppo.loss(params, mb._replace(
        transitions=batch._replace(task_info=task_info)))[1]["aux_log_likelihood"]
    assert not np.isclose(aux(batch.task_info.at[:, -1].set(0.5)), aux(batch.task_info))


@pytest.mark.parametrize("changes,message", [
    (dict(belief_exploration_envs=8), "must be below ppo.num_envs=8"),
    (dict(belief_exploration_envs=2, agent="rnn"), "trains a belief: agent must be one of"),
])
def test_bad_exploration_settings_name_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        _trainer(**changes)
    from belief_jax.train import validate
    with pytest.raises(ValueError, match="'svg0' does not"):
        validate(TrainConfig(learner=SVGConfig(), belief_exploration_envs=2))


@pytest.mark.parametrize("changes,head", [
    (dict(), "factored"),
    (dict(agent="rnn"), "generic"),
    (dict(env="semicircle"), "generic"),
    (dict(network=NetworkConfig(policy_head="auto", ib_belief=0.1)), "generic"),
])
def test_auto_policy_head_is_factored_only_where_it_applies(changes, head):
    from belief_jax.train import resolved_network, validate
    config = TrainConfig(network=NetworkConfig(policy_head="auto")).replace(**changes)
    assert resolved_network(config, validate(config)).policy_head == head


def test_cosine_belief_schedule_decays_over_the_run():
    """Adam's first steps move a parameter by about the rate: at the start 1e-2, and after
    the schedule's whole horizon 3% of it."""
    agent, params, carry, x, noise = _agent(belief_learning_rate=1e-2,
                                            belief_lr_schedule="cosine")
    ppo = PPO(agent, agent.config, PPOConfig(num_envs=B, num_minibatches=1, num_epochs=1,
                                             learning_rate=1e-12), num_iterations=50)
    batch = Transition(inputs=x, noise=noise, belief_features=jnp.zeros((T, B, 2 * K)),
                       action=jnp.zeros((T, B), jnp.int32), log_prob=jnp.full((T, B), -1.6),
                       value=jnp.zeros((T, B)), reward=x.prev_reward,
                       trial_end=jnp.zeros((T, B), bool),
                       task_info=jax.random.uniform(jax.random.key(9), (T, B, K)))
    minibatch = Minibatch(carry, batch, jnp.ones((T, B)), jnp.ones((T, B)))
    state = ppo.init(jax.random.key(0), params, batch)
    step = jax.jit(lambda s: minibatch_step(ppo, s, minibatch)[0])
    moves = []
    for _ in range(51):
        new = step(state)
        moves.append(max(jax.tree.leaves(jax.tree.map(
            lambda a, b: float(jnp.abs(a - b).max()), new.params["params"]["belief_head"],
            state.params["params"]["belief_head"]))))
        state = new
    assert 5e-3 < moves[0] <= 1.01e-2
    assert moves[-1] < 0.05 * moves[0]
