"""Belief analysis: how the belief's log-likelihood of the true task grows within a trial,
and, on NumPad, around the discovery of each tile of the hidden sequence.
`python -m experiments.belief_analysis --out DIR [--quick]`.

For each env the belief agent (PPO) is trained, then run on fresh validation tasks; at
every step t, log q_t(true task | history so far) is scored under its belief head (a
density for continuous task embeddings, a log-probability for NumPad's sequence).
On NumPad, the k-th reward of a trial's first round marks the discovery of the k-th tile:
the log-likelihood is aligned to each discovery (offset 0 is the step whose action
reaches the tile; the belief at offset 1 has seen it), and Hinton diagrams show the
per-position marginals of the belief just before each discovery in one trial that found
the whole sequence (or got furthest). Writes belief_loglik.csv (env, t, log_likelihood_mean,
log_likelihood_se, n_tasks), belief_loglik.png, and for numpad numpad_discovery.csv (tile,
offset, log_likelihood_mean, log_likelihood_se, n_trials), numpad_discovery.png,
numpad_hinton.png and numpad_tiles.csv (tiles lit per trial and trials reaching each
discovery, the belief agent against uniformly random actions on the same tasks).

The default preset is sized for one GPU/TPU (all five envs, 50M env steps each); `--quick`
runs the pure-JAX envs on a laptop CPU in a few minutes (bandit and semicircle 300k env
steps, numpad 200k with 100-step episodes), so its beliefs are far from trained."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

from belief_jax.losses import task_log_likelihood
from belief_jax.train import validate
from experiments.common import (
    ExperimentArgs,
    check_positive,
    cli,
    mean_se,
    random_policy_trials,
    sample_tasks,
    train,
    validation_trials,
    write_csv,
)

LOGLIK_COLUMNS = ("env", "t", "log_likelihood_mean", "log_likelihood_se", "n_tasks")
DISCOVERY_COLUMNS = ("tile", "offset", "log_likelihood_mean", "log_likelihood_se", "n_trials")
TILES_COLUMNS = ("agent", "tiles_mean", "tiles_se_seeds", "tiles_se_trials", "rounds_mean",
                 "reached_1", "reached_2", "reached_3", "reached_4", "n_trials", "n_seeds")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/belief_analysis")
    envs: tuple[str, ...] | None = None
    """default: bandit semicircle numpad quick, all five envs full"""
    learner: str = "ppo"
    window: int = 20
    """NumPad: steps before and after each discovery"""

    quick_tasks, full_tasks = 256, 1000  # validation trials per env


def configs(args: Args) -> list:
    args.validate()
    check_positive(args, "window")
    import envs
    names = args.envs or (("bandit", "semicircle", "numpad") if args.small else envs.names())
    # the preset's validation batch: the belief is scored on it during training
    out = [args.config(env, args.learner, agent="belief",
                       num_eval_envs=args.base(env, args.learner).num_eval_envs)
           for env in names]
    for config in out:
        validate(config)
    return out


def discovery_times(rewards: np.ndarray, length: int) -> np.ndarray:
    """[T, N] rewards → [length, N]: the step of the k-th reward of each trial (the k-th
    tile of the first round), or −1 if the trial never got that far."""
    count = np.cumsum(rewards > 0, axis=0)
    times = np.full((length, rewards.shape[1]), -1)
    for k in range(1, length + 1):
        reached = count >= k
        times[k - 1] = np.where(reached.any(0), reached.argmax(0), -1)
    return times


def aligned(loglik: np.ndarray, times: np.ndarray, window: int) -> list[dict]:
    """Log-likelihood [T, N] around each discovery time [L, N]: one row per (tile, offset)."""
    rows = []
    for k, when in enumerate(times, start=1):
        for offset in range(-window, window + 1):
            t = when + offset
            valid = (when >= 0) & (t >= 0) & (t < loglik.shape[0])
            values = loglik[t[valid], np.flatnonzero(valid)]
            mean, se = mean_se(values) if values.size else (np.nan, np.nan)
            rows.append(dict(tile=k, offset=offset, log_likelihood_mean=float(mean),
                             log_likelihood_se=float(se), n_trials=int(values.size)))
    return rows


def tiles_row(agent: str, rewards: np.ndarray, length: int) -> dict:
    """Rewards [S, T, N] (seeds, steps, trials) → tiles lit per trial (each reward is one
    newly lit tile), with standard errors over seeds (of the per-seed means) and over trials
    (of the per-trial means over seeds), rounds completed, and the fraction of trials whose
    first round reached the k-th discovery (k = 1..4; the sequence may be shorter)."""
    tiles = (rewards > 0).sum(1).astype(np.float64)  # [S, N]
    mean, se_trials = mean_se(tiles.mean(0))
    se_seeds = mean_se(tiles.mean(1))[1]
    reached = {f"reached_{k}": float((tiles >= k).mean()) if k <= length else np.nan
               for k in range(1, 5)}
    return dict(agent=agent, tiles_mean=float(mean), tiles_se_seeds=float(se_seeds),
                tiles_se_trials=float(se_trials), rounds_mean=float((tiles // length).mean()),
                **reached, n_trials=tiles.shape[1], n_seeds=tiles.shape[0])


def numpad_tiles(trained, tasks, transitions, key: jax.Array) -> list[dict]:
    """The belief agent's tiles per trial beside uniformly random actions on the same tasks."""
    trial_env = trained.trainer.eval_env
    env = trial_env.env
    length = transitions.reward.shape[1]
    random_rewards = random_policy_trials(trial_env, env.action_space, tasks, key, length)[0]
    return [tiles_row("belief", np.asarray(transitions.reward), env.length),
            tiles_row("random", random_rewards, env.length)]


def run(args: Args, log=print) -> dict[str, Path]:
    runs = configs(args)
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    loglik_rows, paths = [], {}
    from experiments import plotting
    for config in runs:
        env = validate(config)
        tasks = sample_tasks(env, key, args.tasks)
        trained = train(config, log)
        actor, transitions, _ = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
        trainer = trained.trainer
        belief = jax.jit(jax.vmap(trainer.validation.belief_over))(trained.params, actor,
                                                                   transitions)
        spec = trainer.agent.task_info_spec
        loglik = np.asarray(task_log_likelihood(belief, transitions.task_info, spec))
        per_task = loglik.mean(0)  # [T, N], over seeds
        mean, se = mean_se(per_task, axis=1)
        loglik_rows += [dict(env=config.env, t=t, log_likelihood_mean=float(m),
                             log_likelihood_se=float(s), n_tasks=per_task.shape[1])
                        for t, (m, s) in enumerate(zip(mean, se, strict=True))]
        log(f"  {config.env}: log q(task) {mean[0]:.2f} at t=0 → {mean[-1]:.2f} at the end")
        if config.env == "numpad":
            seed0 = lambda x: np.asarray(x[0])
            times = discovery_times(seed0(transitions.reward), env.length)
            rows = aligned(seed0(loglik), times, args.window)
            paths["discovery"] = write_csv(args.out / "numpad_discovery.csv",
                                           DISCOVERY_COLUMNS, rows)
            paths["discovery_png"] = plotting.plot_discovery(rows,
                                                             args.out / "numpad_discovery.png")
            marginals = np.exp(seed0(belief).reshape(*belief.shape[1:-1], spec.size,
                                                     spec.num_classes))
            paths["hinton_png"] = plotting.plot_numpad_hinton(
                marginals, times, seed0(transitions.task_info), env.side,
                args.out / "numpad_hinton.png")
            tiles = numpad_tiles(trained, tasks, transitions, jax.random.fold_in(key, 4))
            paths["tiles"] = write_csv(args.out / "numpad_tiles.csv", TILES_COLUMNS, tiles)
            log("  numpad tiles per trial: " + ", ".join(
                f"{r['agent']} {r['tiles_mean']:.2f} ± {r['tiles_se_trials']:.2f}"
                for r in tiles))
    paths["loglik"] = write_csv(args.out / "belief_loglik.csv", LOGLIK_COLUMNS, loglik_rows)
    paths["loglik_png"] = plotting.plot_loglik(loglik_rows, args.out / "belief_loglik.png")
    return paths


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
