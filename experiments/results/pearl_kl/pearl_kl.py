"""Provenance of the README table "What it learns on semicircle" (PEARL-style agent): a
diagnostic script, not a tested module. Every log but the held_policy_z_* ones ran before
network.pearl_policy_z existed, with the policy on the learner's z: add
network.pearl_policy_z=learner to repeat them. From the repository root:

    python experiments/results/pearl_kl/pearl_kl.py 0.1,0.01,0.001,0 300000
    python experiments/results/pearl_kl/pearl_kl.py 1.0,0.1,0.01 300000 \
        network.pearl_train_z=trial

(resampled.log and trial_z.log), and with another swept field (free nats, free_nats.log):

    python experiments/results/pearl_kl/pearl_kl.py 1,3,6 300000 \
        sweep=network.pearl_free_nats

with PEARL's sparse-reward recipe, the RL losses on the dense reward while the agent sees
the sparse one (training_reward_dense.log; then the 1M and whole-trial runs):

    python experiments/results/pearl_kl/pearl_kl.py 0.1,0.01,0.001 300000 \
        env.training_reward=dense
    python experiments/results/pearl_kl/pearl_kl.py 0.1,0.001 1000000 \
        env.training_reward=dense
    python experiments/results/pearl_kl/pearl_kl.py 0.1,0.01 300000 \
        env.training_reward=dense network.pearl_train_z=trial \
        learner.replay_whole_trials=True learner.sequence_length=300 learner.batch_size=4 \
        learner.replay_ratio=0.032

(training_reward_dense_1m.log, training_reward_dense_whole_trials.log), and with the
sparse reward plus potential-based shaping instead (training_reward_shaped.log):

    python experiments/results/pearl_kl/pearl_kl.py 0.1,0.01,0.001 300000 \
        env.training_reward=shaped
    python experiments/results/pearl_kl/pearl_kl.py 0.01 1000000 env.training_reward=shaped

(the second: training_reward_shaped_1m.log), then KL weights between (the learner's policy
on the critic's z, as before 2026-12-06; training_reward_shaped_mid_kl_1m.log) and with the
policy on the z the actor held (network.pearl_policy_z's default since; held_policy_z_1m.log):

    python experiments/results/pearl_kl/pearl_kl.py 0.02,0.05 1000000 \
        env.training_reward=shaped network.pearl_policy_z=learner
    python experiments/results/pearl_kl/pearl_kl.py 0.01,0.05 1000000 \
        env.training_reward=shaped network.pearl_policy_z=held

and the held z with twin critics (held_policy_z_twin_critics_1m.log):

    python experiments/results/pearl_kl/pearl_kl.py 0.05 1000000 \
        env.training_reward=shaped learner.twin_critics=True

and with each replayed sequence's context recomputed by today's encoder from its trial's
start, a burn-in of the trial's 300 steps less the sequence's 20 (the adaptation experiment's
--pearl-refresh-context; training_reward_shaped_burn_in_280_1m.log; the policy on the held
z, as the β 0.01 run of held_policy_z_1m.log):

    python experiments/results/pearl_kl/pearl_kl.py 0.01 1000000 \
        env.training_reward=shaped learner.burn_in=280

and with whole-trial replay (whole_trials_trial_z.log, whole_trials_held.log):

    python experiments/results/pearl_kl/pearl_kl.py 0.1,0.01 300000 \
        network.pearl_train_z=trial learner.replay_whole_trials=True \
        learner.sequence_length=300 learner.batch_size=4 learner.replay_ratio=0.032
    python experiments/results/pearl_kl/pearl_kl.py 3,8 300000 sweep=network.pearl_free_nats \
        network.pearl_train_z=held learner.replay_whole_trials=True \
        learner.sequence_length=300 learner.batch_size=8 learner.replay_ratio=0.06

 Every value of network.pearl_kl trains in one vmapped
program (1 seed each, the adaptation experiment's cpu config, 3-episode trials); then per
value: the validation curve, the KL and critic metrics, and one trial on each of 1,000 fresh
tasks with z sampled and with its posterior mean: return per episode, the rate of episodes
with a hit, and episodes 2-3 split by whether episode 1 hit the goal."""
import dataclasses
import sys
import time

import jax
import numpy as np

from belief_jax.sweep import make_sweep, with_value
from belief_jax.train import Trainer, validate
from experiments.adaptation import Args, episode_returns
from experiments.common import _trained, sample_tasks

FIELD = "network.pearl_kl"  # the swept field unless a sweep=FIELD argument names another


def build(values_arg: str, steps: int, changes: list[str]):
    args = Args(preset="cpu", num_seeds=1, total_env_steps=steps, agents=("pearl",))
    config = args.config(args.env, args.learner, agent="pearl", num_eval_envs=256,
                         episodes_per_trial=3)
    for change in changes:  # any network.*, learner.* or env.* field, not only sweepable ones
        field, text = change.split("=")
        group, _, name = field.partition(".")
        if group == "env":  # an env kwarg, given as text (env.training_reward=dense)
            config = config.replace(env_kwargs={**config.env_kwargs, name: text})
            continue
        owner = config.network if group == "network" else config.learner
        kind = type(getattr(owner, name))
        value = text == "True" if kind is bool else kind(text)
        changed = dataclasses.replace(owner, **{name: value})
        config = (config.replace(network=changed) if group == "network"
                  else config.replace(learner=changed))
    return config, [float(v) for v in values_arg.split(",")]


def report(trained, metrics, tasks) -> None:
    print(" validation curve", np.round(trained.validation_return[0], 1))
    for name in ("ib_kl_belief", "critic_loss", "q_mean", "entropy", "alpha"):
        series = np.asarray(metrics[name], np.float64).reshape(-1)
        print(f" {name}", np.round(series[:: max(1, len(series) // 10)], 4))
    for eval_mean in (False, True):
        config = trained.config.replace(network=dataclasses.replace(
            trained.config.network, latent_eval_mean=eval_mean))
        run = dataclasses.replace(trained, config=config, trainer=Trainer(config))
        _, transitions, _ = run.trials(run.params, tasks, jax.random.key(3))
        episodes = episode_returns(np.asarray(transitions.reward, np.float64), 3)[0]
        hit = episodes > 0
        print(f" eval_mean={eval_mean} per-episode", np.round(episodes.mean(1), 2),
              "hit rate", hit.mean(1).round(3))
        for e in (1, 2):
            first = hit[0]
            print(f"  ep{e + 1} | ep1 hit: {episodes[e][first].mean():.2f} (n={first.sum()}),"
                  f" | ep1 miss: {episodes[e][~first].mean():.2f}; "
                  f"ep1 given hit {episodes[0][first].mean():.2f}")


def main() -> None:
    sweep = [a.partition("=")[2] for a in sys.argv[3:] if a.startswith("sweep=")]
    field = sweep[-1] if sweep else FIELD
    changes = [a for a in sys.argv[3:] if not a.startswith("sweep=")]
    config, values = build(sys.argv[1], int(sys.argv[2]), changes)
    print(config.env_kwargs, config.total_env_steps, flush=True)
    env = validate(config)
    program = jax.jit(make_sweep(config, field, values))
    start = time.perf_counter()
    state, (metrics, evaluation) = jax.block_until_ready(
        program(jax.random.split(jax.random.key(0), 1)))
    print("wall", time.perf_counter() - start, flush=True)
    tasks = sample_tasks(env, jax.random.fold_in(jax.random.key(0), 1), 1000)
    for i, value in enumerate(values):
        variant = with_value(config, field, value)
        pick = lambda tree, i=i: jax.tree.map(lambda x: x[i], tree)
        picked = jax.device_get(pick(metrics))
        print(f"--- {field}={value}")
        report(_trained(variant, Trainer(variant), pick(state), picked, pick(evaluation), 0.0),
               picked, tasks)


if __name__ == "__main__":
    main()
