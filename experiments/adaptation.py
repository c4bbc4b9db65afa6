"""Adaptation within a trial: the belief agent against the posterior-sampling (PEARL-style)
agent, return per episode of a multi-episode trial on the same fresh tasks.
`python -m experiments.adaptation --out DIR [--quick]`.

Both train with SVG(0) (the PEARL-style agent is off-policy) on semicircle with
`episodes_per_trial` episodes per trial. The belief agent updates its belief every step;
the PEARL-style agent samples a task latent from its context posterior once per episode, so
it can only change behaviour between episodes. The paper reports the belief agent adapting
much faster: a high return already in the first episode. By default the PEARL-style agent's
critic learns from the sparse reward plus potential-based shaping (`--pearl-training-reward
shaped`, KL weight 0.01, its policy on the critic's z), as PEARL trains its critic on a
denser reward than its context sees; with the sparse reward alone it learns one fixed sweep
and does not adapt. Writes
adaptation.csv (agent, episode, return_mean, return_se over tasks, return_se_seeds over
seeds, n_tasks, n_seeds), adaptation_seeds.csv (each seed's return per episode, and the
env steps of the parameters measured: the last, or with `--keep-best` those of the seed's
best validation pass), adaptation_curves.csv (the learning curves, 95% bands over seeds),
adaptation_learner.csv (the learner's metrics per validation pass: critic loss, Q's mean, the
posterior's KL, ...; 95% bands over seeds) and adaptation.png.

The default preset is sized for one GPU/TPU (3 seeds, 50M env steps per agent); `--preset
cpu` trains 3 seeds for 300k env steps per agent at SVG(0) replay ratio 0.06 (11-25
minutes on a 2-core CPU); `--quick` runs in about 4 minutes (1 seed, 600k env steps per agent
at ratio 0.01), far too short for either agent to solve the task: a smoke test. Trained
longer on SVG(0)'s default 100k-step replay, the PEARL-style agent's return peaks and then
declines in every recipe tried (its context recomputed from the trial's start,
`--pearl-refresh-context`; a ceiling on its posterior's KL, `--pearl-max-nats`); with a
replay that keeps the whole run (`--svg0-replay-size 1100000` for 1M env steps) it rose to a
plateau instead (3 seeds). `--keep-best` measures each seed at its best validation pass
(README, *Adaptation*)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import jax
import numpy as np

import envs
from experiments.common import (
    CURVE_COLUMNS,
    LEARNER_COLUMNS,
    ExperimentArgs,
    check_positive,
    cli,
    learner_rows,
    mean_se,
    sweep,
    validation_trials,
    write_csv,
)

COLUMNS = ("agent", "episode", "return_mean", "return_se", "return_se_seeds", "n_tasks",
           "n_seeds")
SEED_COLUMNS = ("agent", "seed", "episode", "return_mean", "params_env_steps")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/adaptation")
    env: str = "semicircle"
    agents: tuple[str, ...] = ("belief", "pearl")
    learner: str = "svg0"
    """an off-policy learner (the PEARL-style agent needs one)"""
    episodes_per_trial: int = 3
    pearl_free_nats: float | None = None
    """the PEARL-style agent's free nats (None: network.pearl_free_nats' default)"""
    pearl_max_nats: float | None = None
    """the PEARL-style agent's ceiling on each step's KL (None: network.pearl_max_nats'
    default, none). 10 held its KL at 2-14 nats but not its return: peak 38.2 at 0.45M env
    steps, 7.9 at 1.05M (3 seeds; README, *Adaptation*)"""
    pearl_kl: float | None = 0.01
    """the PEARL-style agent's KL weight (None: network.pearl_kl's default, PEARL's 0.1).
    0.01 with the shaped training reward: at 0.1 its posterior collapsed onto the prior
    (0.2 nats; README, *PEARL-style agent*)"""
    pearl_policy_z: str | None = "learner"
    """which z the PEARL-style agent's policy learns on (None: network.pearl_policy_z's
    default, 'held'). 'learner', the z the critic reads: at the cpu preset's 324k env steps
    it adapts between episodes (3 seeds), but by 1.1M it has unlearnt; 'held' with
    --pearl-kl 0.05 had not unlearnt by 1.1M but did not adapt either, and declined by 2.2M
    (README, *Adaptation*)"""
    pearl_train_z: str | None = None
    """the z the PEARL-style agent's critic (and through it its encoder) learns on (None:
    network.pearl_train_z's default, 'resampled'); 'trial' is PEARL's z from the task's
    context (with the held policy z and --pearl-kl 0.05 it peaked at 0.2M and scored 4.4 /
    0.9 / 0.4 at 1.1M, 3 seeds: README, *Adaptation*)"""
    pearl_training_reward: str | None = "shaped"
    """the PEARL-style agent's RL losses learn from this reward of the env while its context,
    its input and the returns reported keep the env's sparse reward; the belief agent is
    unchanged. `shaped` (the default): the sparse reward plus the speed towards the goal,
    potential-based, as PEARL trains its critic on a denser reward than its context sees;
    `dense`: PEARL's own recipe for its sparse point robot, −‖x − g‖; None: the env's sparse
    reward, as the belief agent (the PEARL-style agent then learns one fixed sweep and does
    not adapt: README, *Adaptation*)"""
    pearl_refresh_context: bool = False
    """replay the PEARL-style agent's sequences after a burn-in back to their trial's start
    (svg0.burn_in = trial length - svg0.sequence_length), so the encoder's context sums are
    recomputed with today's parameters instead of read from the replayed, stored state an
    older encoder wrote, as PEARL recomputes z from raw context. Off: with it the default
    recipe still peaked (31.0 at 0.4M env steps, 3 seeds) and declined (3.9 at 1.05M), at
    about twice the wall time (README, *Adaptation*)"""

    quick_tasks, full_tasks = 256, 1000  # evaluation trials

    def steps(self, env: str, learner: str) -> int:
        if self.size == "cpu" and not self.total_env_steps and (env, learner) == (
                "semicircle", "svg0"):
            # both agents in 11-25 minutes (three idle runs, two machines); SVG(0) at the cpu
            # preset's replay ratio first reaches 90 at 258k env steps in the
            # sample-efficiency experiment
            return 300_000
        # quick: 3x the sweeps' budget, since adaptation shows only once the task is learnt
        scale = 3 if self.size == "quick" and not self.total_env_steps else 1
        return scale * super().steps(env, learner)


def configs(args: Args) -> list:
    args.validate()
    check_positive(args, "episodes_per_trial")
    for name in ("pearl_free_nats", "pearl_max_nats", "pearl_kl"):
        if getattr(args, name) is not None and getattr(args, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(args, name)}")
    # the full validation batch of the earlier preset: adaptation is measured on it too
    out = [args.config(args.env, args.learner, agent=agent, num_eval_envs=256,
                       episodes_per_trial=args.episodes_per_trial) for agent in args.agents]
    return [_pearl_changes(args, c) if c.agent == "pearl" else c for c in out]


def _pearl_changes(args: Args, config):
    network = {name: getattr(args, name)
               for name in ("pearl_free_nats", "pearl_max_nats", "pearl_kl", "pearl_policy_z",
                            "pearl_train_z")
               if getattr(args, name) is not None}
    if network:
        config = config.replace(network=dataclasses.replace(config.network, **network))
    if args.pearl_training_reward is not None:
        config = config.replace(env_kwargs={**config.env_kwargs,
                                            "training_reward": args.pearl_training_reward})
    if args.pearl_refresh_context:
        trial = envs.TrialWrapper(envs.make(config.env, **config.env_kwargs),
                                  config.episodes_per_trial)
        config = config.replace(learner=config.learner.replace(
            burn_in=trial.trial_length - config.learner.sequence_length))
    return config


def episode_returns(rewards: np.ndarray, episodes: int) -> np.ndarray:
    """[S, T, N] rewards of whole trials → [S, episodes, N] return per episode."""
    s, t, n = rewards.shape
    return rewards.reshape(s, episodes, t // episodes, n).sum(2)


def measure(trained, tasks, key) -> list[dict]:
    """Return per episode of a trial on each task, averaged over seeds: its s.e. over tasks
    (of the seed-averaged return) and over seeds (of each seed's mean over tasks); under
    `seeds`, each seed's mean and the env steps its parameters were trained for."""
    _, transitions, _ = validation_trials(trained, tasks, jax.random.fold_in(key, 3))
    returns = episode_returns(np.asarray(transitions.reward, np.float64),
                              trained.config.episodes_per_trial)  # [seeds, episodes, tasks]
    measured_at = (trained.best_env_steps if trained.best_env_steps is not None else
                   np.full(returns.shape[0], trained.env_steps[-1]))
    rows = []
    for episode in range(returns.shape[1]):
        mean, se = mean_se(returns[:, episode].mean(0))
        per_seed = returns[:, episode].mean(1)
        rows.append(dict(episode=episode + 1, return_mean=float(mean), return_se=float(se),
                         return_se_seeds=float(mean_se(per_seed)[1]),
                         n_tasks=returns.shape[2], n_seeds=trained.config.num_seeds,
                         seeds=[dict(seed=seed, return_mean=float(value),
                                     params_env_steps=int(measured_at[seed]))
                                for seed, value in enumerate(per_seed)]))
    return rows


def run(args: Args, log=print) -> dict[str, Path]:
    runs = configs(args)
    learner = []

    def measure_and_keep_learner_metrics(trained, tasks, key):
        learner.extend(learner_rows(trained, agent=trained.config.agent))
        return measure(trained, tasks, key)

    rows, curves = sweep([({"agent": config.agent}, config) for config in runs], args.tasks,
                         args.seed, measure_and_keep_learner_metrics, log)
    seeds = [dict(agent=row["agent"], episode=row["episode"], **seed)
             for row in rows for seed in row.pop("seeds")]
    from experiments.plotting import plot_adaptation
    return {"csv": write_csv(args.out / "adaptation.csv", COLUMNS, rows),
            "seeds": write_csv(args.out / "adaptation_seeds.csv", SEED_COLUMNS, seeds),
            "curves": write_csv(args.out / "adaptation_curves.csv",
                                ("agent", *CURVE_COLUMNS), curves),
            "learner": write_csv(args.out / "adaptation_learner.csv",
                                 ("agent", *LEARNER_COLUMNS), learner),
            "png": plot_adaptation(rows, args.out / "adaptation.png",
                                   f"{args.env}, {args.learner}, "
                                   f"{runs[0].trained_env_steps:,} env steps")}


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
