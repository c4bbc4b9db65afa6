"""Belief quality on the bandit, where the exact posterior is known: after s_k successes and
f_k failures of arm k (uniform prior), p_k ~ Beta(1 + s_k, 1 + f_k), independently over arms.
`python -m experiments.belief_quality --out DIR [--quick]`.

Per step t of validation trials, on the true arm probabilities p:
- learned_nll: −log q_t(p) under the trained belief network's output (a Beta per arm, which
  can represent the exact posterior);
- exact_nll: −log Π_k Beta(p_k; 1 + s_k, 1 + f_k), the Bayes-optimal log loss;
- best_gaussian_nll: −log of the Gaussian moment-matched to each Beta posterior, the best any
  diagonal-Gaussian belief could do in expectation (it minimises KL(posterior ‖ Gaussian)):
  what a Gaussian head would cost (≈ 3.5 nats at t = 0, where the posterior is uniform).
In expectation learned ≥ exact; learned − exact is what training can still gain. Counts at
step t use only the pulls before t, which is what the belief at t has seen.

`--env semicircle` (sparse reward, kinematic ball): the goal angle θ ~ U(0, π) is the task,
and each step's reward says whether the ball ended within `goal_radius` of the goal. The
exact posterior is uniform on S_t, the angles consistent with every (position, reward) pair
before t, so its log loss is log |S_t| (measured on a grid of `ARC_GRID` angles). The learned
belief is a 2-D Gaussian on the goal; restricted to the arc and renormalised it is a density
on θ, q_t(θ) ∝ N(R·(cos θ, sin θ); μ_t, σ_t²), and learned_nll is −log q_t(θ_true). Both live
on θ, so learned − exact ≥ 0 in expectation (no best-Gaussian column there).

Writes belief_quality.csv (t, learned_nll, exact_nll, best_gaussian_nll [bandit only],
gap_se, n_tasks) and belief_quality.png. The default preset is sized for one GPU/TPU;
`--quick` trains the belief agent for 2M env steps with 64 envs (the bandit's quick preset)
on a laptop CPU (about 5 minutes)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.stats import beta as beta_dist
from jax.scipy.stats import norm

from belief_jax import agents
from belief_jax.losses import task_log_likelihood
from envs.ball import KinematicBall
from experiments.common import (
    ExperimentArgs,
    cli,
    mean_se,
    sample_tasks,
    train,
    validation_trials,
    write_csv,
)
from experiments.presets import preset

ENVS = ("bandit", "semicircle")
COLUMNS = {"bandit": ("t", "learned_nll", "exact_nll", "best_gaussian_nll", "gap_se", "n_tasks"),
           "semicircle": ("t", "learned_nll", "exact_nll", "gap_se", "n_tasks")}
# Angles on [0, π] normalising the learned belief on the arc: cells of 0.77 mrad, below the
# smallest σ the belief head allows (e^-7 ≈ 0.9 mrad), where a midpoint sum of a smooth
# density is already accurate to many digits.
ARC_GRID = 4096


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


def arc_grid(size: int = ARC_GRID) -> jax.Array:
    """Midpoints of `size` equal cells covering the goal angles [0, π]."""
    return (jnp.arange(size) + 0.5) * (math.pi / size)


def arc_interval(positions: np.ndarray, radius: float, goal_radius: float):
    """The goal angles θ ∈ [0, π] with ‖x − R·u(θ)‖ ≤ ρ, one interval [lo, hi] per position
    (lo > hi when empty): cos(θ − φ) ≥ (|x|² + R² − ρ²) / (2R|x|), φ the angle of x."""
    x = np.asarray(positions, np.float64)
    distance = np.hypot(x[..., 0], x[..., 1])
    phi = np.arctan2(x[..., 1], x[..., 0])
    phi = np.where(phi < -math.pi / 2, phi + 2 * math.pi, phi)  # the copy that can meet [0, π]
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_half = (distance**2 + radius**2 - goal_radius**2) / (2 * radius * distance)
    half = np.where(cos_half <= 1.0, np.arccos(np.clip(cos_half, -1.0, 1.0)), -np.inf)
    return np.maximum(phi - half, 0.0), np.minimum(phi + half, math.pi)


def arc_exact_nll(positions, rewards, radius: float, goal_radius: float) -> np.ndarray:
    """log |S_t| [T, N], S_t the goal angles consistent with the sparse rewards of the steps
    before t: the hits' intervals intersected, minus the union of the misses' intervals.
    positions [T, N, 2] are where the ball ended each step, rewards [T, N] what that step paid.
    Computed exactly with intervals (in float64): a ball moving along the goal's edge can
    confine θ to less than any fixed grid cell."""
    lo, hi = arc_interval(positions, radius, goal_radius)
    miss = np.asarray(rewards) < 0.5
    removes = miss & (lo <= hi)  # misses whose interval meets the arc
    low, high = np.zeros(lo.shape[1]), np.full(lo.shape[1], math.pi)
    out = np.empty(lo.shape)
    for t in range(lo.shape[0]):
        if t > 0:
            low = np.where(miss[t - 1], low, np.maximum(low, lo[t - 1]))
            high = np.where(miss[t - 1], high, np.minimum(high, hi[t - 1]))
        # the misses so far, clipped to [low, high]; a hit or an empty interval adds nothing
        a = np.where(removes[:t], np.clip(lo[:t], low, high), low)
        b = np.where(removes[:t], np.clip(hi[:t], low, high), low)
        order = np.argsort(a, axis=0)
        a, b = np.take_along_axis(a, order, 0), np.take_along_axis(b, order, 0)
        covered = np.maximum.accumulate(np.concatenate([low[None], b]), axis=0)[:-1]
        removed = np.clip(b - np.maximum(a, covered), 0.0, None).sum(0)
        out[t] = np.log(np.maximum(high - low, 0.0) - removed)
    return out


def arc_learned_nll(belief: jax.Array, theta: jax.Array, radius: float,
                    grid: jax.Array) -> jax.Array:
    """−log q_t(θ) [T, N] for the belief [T, N, 4] (mean, log_std of the goal) restricted to
    the arc: q_t(θ) = N(R·u(θ); μ_t, σ_t²) / ∫_0^π N(R·u(θ'); μ_t, σ_t²) dθ', the integral as
    a midpoint sum over `grid`. theta [N] is the true goal angle."""
    on_arc = lambda angle: radius * jnp.stack([jnp.cos(angle), jnp.sin(angle)], axis=-1)
    cell = math.pi / grid.shape[0]

    def step(_, belief_t):
        mean, log_std = jnp.split(belief_t[:, None], 2, axis=-1)  # [N, 1, 2]
        log_density = lambda goals: norm.logpdf(goals, mean, jnp.exp(log_std)).sum(-1)
        log_norm = jax.nn.logsumexp(log_density(on_arc(grid)[None]), axis=-1) + math.log(cell)
        return None, log_norm - log_density(on_arc(theta)[:, None])[:, 0]

    return jax.lax.scan(step, None, belief)[1]


def ball_positions(physics, observations: jax.Array, actions: jax.Array) -> jax.Array:
    """Where each step left the ball: the physics stepped from the observed state with the
    env's clipped action (the kinematic ball's observation is its whole state)."""
    step = lambda obs, action: physics.position(physics.step(obs, jnp.clip(action, -1.0, 1.0)))
    return jax.vmap(jax.vmap(step))(observations, actions)


def semicircle_nll_per_step(env, belief: jax.Array, transitions, goals: jax.Array
                            ) -> dict[str, jax.Array]:
    """learned_nll and exact_nll [T, N] on the goal angle, for N trials of `env`."""
    if env.reward != "sparse" or not isinstance(env.physics, KinematicBall):
        raise ValueError("the exact semicircle posterior needs reward='sparse' and "
                         f"physics='kinematic', got reward={env.reward!r}, "
                         f"physics={type(env.physics).__name__}")
    positions = ball_positions(env.physics, transitions.inputs.obs, transitions.action)
    theta = jnp.arctan2(goals[:, 1], goals[:, 0])
    return {"learned_nll": np.asarray(arc_learned_nll(belief, theta, env.semicircle_radius,
                                                      arc_grid())),
            "exact_nll": arc_exact_nll(positions, transitions.reward, env.semicircle_radius,
                                       env.goal_radius)}


def table(losses: dict[str, np.ndarray]) -> list[dict]:
    """Rows per step from losses [S, T, N]: each trial's loss averaged over seeds, then mean
    over trials; gap_se is the s.e. of the paired difference learned − exact."""
    per_task = {k: np.asarray(v, np.float64).mean(0) for k, v in losses.items()}  # [T, N]
    gap_se = mean_se(per_task["learned_nll"] - per_task["exact_nll"], axis=1)[1]
    n = per_task["exact_nll"].shape[1]
    return [dict(t=t, **{k: float(v[t].mean()) for k, v in per_task.items()},
                 gap_se=float(gap_se[t]), n_tasks=n) for t in range(len(gap_se))]


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/belief_quality")
    env: str = "bandit"
    """bandit or semicircle (sparse reward, kinematic ball)"""
    agent: str = "belief"
    """an agent with a belief head (belief or aux_head)"""
    learner: str = "ppo"

    quick_tasks, full_tasks = 1000, 4000  # validation trials

    def steps(self, env: str, learner: str) -> int:
        if self.total_env_steps or self.size == "cpu":
            return super().steps(env, learner)
        return 2_000_000 if self.size == "quick" else preset(env, learner, False).total_env_steps


def config_for(args: Args):
    with_belief = [name for name in agents.names() if agents.get(name).has_belief]
    if args.agent not in with_belief:
        raise ValueError(f"agent={args.agent!r} has no belief to score; choose one of "
                         f"{with_belief}")
    if args.env not in ENVS:
        raise ValueError(f"env={args.env!r} has no exact posterior here; choose one of "
                         f"{list(ENVS)}")
    args.validate()
    # quick: 64 envs give 4x the updates per env step of the preset's 256
    return args.config(args.env, args.learner, num_envs=args.num_envs or
                       (64 if args.small else None), agent=args.agent,
                       num_eval_envs=args.base(args.env, args.learner).num_eval_envs)


def run(args: Args, log=print) -> dict[str, Path]:
    config = config_for(args)
    from belief_jax.train import validate
    env = validate(config)
    num_tasks = args.tasks
    key = jax.random.fold_in(jax.random.key(args.seed), 1)
    tasks = sample_tasks(env, key, num_tasks)
    trained = train(config, log)
    actor, transitions, _ = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
    trainer = trained.trainer
    belief = jax.jit(jax.vmap(trainer.validation.belief_over))(trained.params, actor,
                                                               transitions)
    if args.env == "bandit":
        per_seed = lambda b, tr: nll_per_step(b, tr.action, tr.reward, tasks.arm_probs,
                                              trainer.agent.task_info_spec)
        losses = jax.device_get(jax.jit(jax.vmap(per_seed))(belief, transitions))
    else:  # the exact posterior is computed in numpy, one seed at a time
        seed = lambda tree, i: jax.tree.map(lambda x: x[i], tree)
        per_seed = [semicircle_nll_per_step(env, belief[i], seed(transitions, i), tasks.goal)
                    for i in range(config.num_seeds)]
        losses = {k: np.stack([p[k] for p in per_seed]) for k in per_seed[0]}
    rows = table(losses)
    for t in sorted({0, 1, 10, 50, len(rows) - 1} & set(range(len(rows)))):
        log(f"t={t:3d}: " + "  ".join(f"{k.removesuffix('_nll')} {rows[t][k]:7.2f}"
                                      for k in COLUMNS[args.env] if k.endswith("_nll"))
            + " nats")
    gaps = [r["learned_nll"] - r["exact_nll"] for r in rows]
    log(f"learned − exact: {np.mean(gaps):.3f} nats averaged over the trial, "
        f"{gaps[-1]:.3f} at its last step, smallest {min(gaps):.3f} "
        f"(s.e. {rows[int(np.argmin(gaps))]['gap_se']:.3f})")
    csv_path = write_csv(args.out / "belief_quality.csv", COLUMNS[args.env], rows)
    from experiments.plotting import plot_belief_quality
    png = plot_belief_quality(rows, args.out / "belief_quality.png",
                              f"{args.env}, {config.agent} + {config.learner.name}, "
                              f"{config.total_env_steps:,} env steps")
    return {"csv": csv_path, "png": png}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())

