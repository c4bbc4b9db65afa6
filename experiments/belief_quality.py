"""Belief quality on the bandit, where the exact posterior is known: after s_k successes and
f_k failures of arm k (uniform prior), p_k ~ Beta(1 + s_k, 1 + f_k), independently over arms.
`python -m experiments.belief_quality --out DIR [--quick]`.

Per step t of validation trials, on the true arm probabilities p:
- learned_nll: −log q_t(p) under the trained belief network's output (a diagonal Gaussian);
- exact_nll: −log Π_k Beta(p_k; 1 + s_k, 1 + f_k), the Bayes-optimal log loss;
- best_gaussian_nll: −log of the Gaussian moment-matched to each Beta posterior, the best any
  diagonal-Gaussian belief can do in expectation (it minimises KL(posterior ‖ Gaussian)).
In expectation learned ≥ best_gaussian ≥ exact; learned − best_gaussian is what training
can still gain, best_gaussian − exact what the Gaussian head costs (≈ 3.5 nats at t = 0,
where the posterior is uniform). Counts at step t use only the pulls before t, which is
what the belief at t has seen.

Writes belief_quality.csv (t, learned_nll, exact_nll, best_gaussian_nll, gap_se, n_tasks)
and belief_quality.png. The default preset is sized for one GPU/TPU; `--quick` trains the
belief agent for 1M env steps with 64 envs on a laptop CPU (about 2 minutes)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import beta as beta_dist
from jax.scipy.stats import norm

from belief_jax.losses import task_log_likelihood
from experiments.common import (
    check_positive,
    cli,
    mean_se,
    sample_tasks,
    sized,
    train,
    validation_trials,
    write_csv,
)
from experiments.presets import preset

COLUMNS = ("t", "learned_nll", "exact_nll", "best_gaussian_nll", "gap_se", "n_tasks")


def counts_before(actions: jax.Array, rewards: jax.Array, num_arms: int):
    """Successes and failures of each arm over the pulls strictly before each step:
    [T, ...] actions and rewards of one trial → two [T, ..., K] arrays."""
    pulled = jax.nn.one_hot(actions, num_arms)
    hits, misses = pulled * rewards[..., None], pulled * (1.0 - rewards[..., None])
    before = lambda x: jnp.cumsum(x, axis=0) - x
    return before(hits), before(misses)


def exact_nll(arm_probs: jax.Array, successes: jax.Array, failures: jax.Array) -> jax.Array:
    return -beta_dist.logpdf(arm_probs, 1.0 + successes, 1.0 + failures).sum(-1)


def best_gaussian_nll(arm_probs: jax.Array, successes: jax.Array, failures: jax.Array):
    a, b = 1.0 + successes, 1.0 + failures
    mean, var = a / (a + b), a * b / ((a + b) ** 2 * (a + b + 1.0))
    return -norm.logpdf(arm_probs, mean, jnp.sqrt(var)).sum(-1)


def nll_per_step(belief: jax.Array, actions: jax.Array, rewards: jax.Array,
                 arm_probs: jax.Array, spec) -> dict[str, jax.Array]:
    """The three log losses [T, N] for N trials: belief [T, N, 2K], actions and rewards
    [T, N], true arm probabilities [N, K]."""
    successes, failures = counts_before(actions, rewards, arm_probs.shape[-1])
    p = jnp.broadcast_to(arm_probs, successes.shape)
    return {"learned_nll": -task_log_likelihood(belief, p, spec),
            "exact_nll": exact_nll(p, successes, failures),
            "best_gaussian_nll": best_gaussian_nll(p, successes, failures)}


def table(losses: dict[str, np.ndarray]) -> list[dict]:
    """Rows per step from losses [S, T, N]: each trial's loss averaged over seeds, then mean
    over trials; gap_se is the s.e. of the paired difference learned − exact."""
    per_task = {k: np.asarray(v, np.float64).mean(0) for k, v in losses.items()}  # [T, N]
    gap_se = mean_se(per_task["learned_nll"] - per_task["exact_nll"], axis=1)[1]
    n = per_task["exact_nll"].shape[1]
    return [dict(t=t, **{k: float(v[t].mean()) for k, v in per_task.items()},
                 gap_se=float(gap_se[t]), n_tasks=n) for t in range(len(gap_se))]


@dataclasses.dataclass(frozen=True)
class Args:
    out: Path = Path("runs/belief_quality")
    quick: bool = False
    """CPU-sized preset (about a minute); without it the preset is sized for one GPU/TPU"""
    agent: str = "belief"
    """belief or aux_head (the agents with a belief head)"""
    learner: str = "ppo"
    total_env_steps: int | None = None
    """default: 1M quick, the preset's otherwise"""
    num_envs: int | None = None
    num_seeds: int | None = None
    """default: 1 quick, 3 full"""
    num_tasks: int | None = None
    """validation trials (default: 1000 quick, 4000 full)"""
    seed: int = 0
    overwrite: bool = False
    """replace results (CSV/PNG) already in --out; without it such an --out is refused"""


def config_for(args: Args):
    if args.agent not in ("belief", "aux_head"):
        raise ValueError(f"agent={args.agent!r} has no belief to score; choose one of "
                         "['belief', 'aux_head']")
    check_positive(args, "total_env_steps", "num_envs", "num_seeds", "num_tasks")
    config = preset("bandit", args.learner, args.quick)
    steps = args.total_env_steps or (1_000_000 if args.quick else config.total_env_steps)
    # quick: 64 envs give 4x the updates per env step of the preset's 256
    num_envs = args.num_envs or (64 if args.quick else None)
    return sized(config, steps, 10, num_envs, agent=args.agent, seed=args.seed,
                 num_seeds=args.num_seeds or (1 if args.quick else 3))


def run(args: Args, log=print) -> dict[str, Path]:
    config = config_for(args)
    from belief_jax.train import validate
    env = validate(config)
    num_tasks = args.num_tasks or (1000 if args.quick else 4000)
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    tasks = sample_tasks(env, key, num_tasks)
    trained = train(config, log)
    actor, transitions, _ = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
    trainer = trained.trainer
    belief = jax.jit(jax.vmap(trainer.belief_over))(trained.params, actor, transitions)
    per_seed = lambda b, tr: nll_per_step(b, tr.action, tr.reward, tasks.arm_probs,
                                          trainer.agent.task_info_spec)
    losses = jax.device_get(jax.jit(jax.vmap(per_seed))(belief, transitions))
    rows = table(losses)
    for t in (0, 1, 10, 50, len(rows) - 1):
        r = rows[t]
        log(f"t={t:3d}: learned {r['learned_nll']:7.2f}  best Gaussian "
            f"{r['best_gaussian_nll']:7.2f}  exact {r['exact_nll']:7.2f} nats")
    csv_path = write_csv(args.out / "belief_quality.csv", COLUMNS, rows)
    from experiments.plotting import plot_belief_quality
    png = plot_belief_quality(rows, args.out / "belief_quality.png",
                              f"bandit, {config.agent} + {config.learner}, "
                              f"{config.total_env_steps:,} env steps")
    return {"csv": csv_path, "png": png}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())

