"""Per-env starting configurations, by size: `quick` runs on a laptop CPU in minutes, `cpu`
(where an env has one) is sized to learn on a 2-core CPU in tens of minutes, `full` is sized
for one accelerator. Every field can still be overridden on the command line.

Presets are data keyed by env and learner name; a learner without an entry here starts from
its config's defaults."""
from __future__ import annotations

import dataclasses

from belief_jax import learners
from belief_jax.config import LearnerConfig, NetworkConfig, PPOConfig, SVGConfig, TrainConfig

SIZES = ("quick", "cpu", "full")

# Bandit: rewards come every pull, and a low γλ keeps the variance of advantages built from
# 0/1 rewards small; the belief agent's feed-forward policy acts on a sufficient statistic.
# SVG(0) on the bandit: λ = 0.5 keeps the variance of Retrace targets built from 0/1 rewards
# low; α starts high (explore while Q is still flat) and anneals slowly to a low entropy;
# periodic target copies, with which it was tuned (Polyak, the learner's default, is untried).
# PPO on the bandit: γ = 0.97 (γ = 0.9 caps even the Gittins policy near 83.9 of its 85.4) and
# 64 envs per iteration (4x the gradient steps per env step of 256).
_LEARNERS: dict[str, dict[str, LearnerConfig]] = {
    "bandit": {
        "ppo": PPOConfig(num_envs=64, rollout_length=100, num_epochs=4, num_minibatches=4,
                         gamma=0.97, gae_lambda=0.9, learning_rate=1e-3, max_grad_norm=100.0),
        "svg0": SVGConfig(gamma=0.9, retrace_lambda=0.5, learning_rate=1e-3,
                          replay_ratio=0.01, tune_alpha=True, alpha=0.1, target_entropy=0.5,
                          alpha_learning_rate=1e-4, target_update="periodic")},
}
# The bandit's belief agent (SPEC §3.3-3.5): a Beta belief per arm, learned with its own
# optimiser from chrono-initialised gates and reward-split action inputs; a factored policy
# scoring each arm from its own Beta and the trial's progress ('auto': the other agents, and
# bottlenecked or task-id variants, keep the generic head).
_NETWORKS = {
    "bandit": NetworkConfig(policy_head="auto", head_sizes=(64,), trial_progress=True,
                            reward_by_action=True, chrono_init=100, belief_learning_rate=6e-3,
                            belief_lr_schedule="cosine"),
}
_CONTROL = {"ppo": PPOConfig(num_envs=128, rollout_length=100, num_epochs=4, num_minibatches=4,
                             gamma=0.99, gae_lambda=0.95, learning_rate=3e-4, ent_coef=0.001),
            "svg0": SVGConfig(tune_alpha=True)}


@dataclasses.dataclass(frozen=True)
class _Quick:
    """What `--quick` changes: env steps per learner, and for MJX envs fewer envs, shorter
    episodes, a smaller validation batch and a smaller replay, so a run fits in minutes on a
    2-core CPU."""

    steps: dict
    env_kwargs: dict = dataclasses.field(default_factory=dict)
    num_envs: int | None = None
    num_eval_envs: int = 256
    learner_changes: dict = dataclasses.field(default_factory=dict)
    """per learner name: field changes"""
    iterations_per_chunk: int | None = None
    """None: the learner's; more makes each chunk's validation pass a smaller share"""
    network_changes: dict = dataclasses.field(default_factory=dict)
    """NetworkConfig field changes"""


_SMALL_REPLAY = {"svg0": {"min_replay": 2_000, "replay_size": 40_000}}
_QUICK = {
    "bandit": _Quick(steps={"ppo": 2_000_000, "svg0": 3_000_000}),
    "semicircle": _Quick(steps={"ppo": 2_000_000, "svg0": 1_000_000}),
    "numpad": _Quick(steps={"ppo": 1_000_000, "svg0": 300_000},
                     env_kwargs={"episode_length": 100}, num_envs=64, num_eval_envs=64),
    "cheetah_vel": _Quick(steps={"ppo": 64_000, "svg0": 24_000},
                          env_kwargs={"episode_length": 50}, num_envs=16, num_eval_envs=16,
                          learner_changes=_SMALL_REPLAY),
    "quadruped_semicircle": _Quick(steps={"ppo": 32_000, "svg0": 16_000},
                                   env_kwargs={"episode_length": 50}, num_envs=16,
                                   num_eval_envs=8, learner_changes=_SMALL_REPLAY),
}
_DEFAULT_QUICK_STEPS = 500_000
# The full preset: 4x the envs (and, for replay, 4x the capacity), 50M env steps per seed.
_FULL_SCALE = 4
_FULL_STEPS = 50_000_000


# SVG(0) on the brax bodies, in the bodies' cpu shapes (64 envs of 200-step episodes,
# observation normalisation): 2 gradient steps per 100 env steps (a third of semicircle's
# cpu ratio: each gradient step replays 32 x 20 steps through both LSTMs, and on a 2-core
# CPU the ratio sets the wall time), 1M env steps; cheetah_vel with PPO's gamma 0.95.
# Measured (seed 0, 1.1M env steps, 2026-12-07, README): on cheetah_vel it learns, |v_x - v*|
# 0.58 m/s in episode 2 against a random policy's 1.69 after 688 s of training (PPO at the
# same env steps is ahead); on quadruped_semicircle (shaped) it does not (606 s).
_SVG_BODY = {"replay_ratio": 0.02}
_SVG_BODY_STEPS = 1_000_000

# cpu: the shape of an env whose quick shape is too small to learn in (an env without an
# entry trains its quick shape for longer). cheetah_vel: the env's own 200-step episodes, 64
# envs; value normalisation (returns near -500 per trial otherwise set the scale of the
# clipped gradient); 8 epochs of 8 minibatches (4x the gradient steps per env step of the
# control preset, at ~0.77x its env steps/s) and gamma 0.95, as brax's halfcheetah PPO: in one
# 3M-step probe (seed 0) these reached a validation return near -340 where the control
# preset with value normalisation was still near -500 at 0.8M; a validation pass of 32 trials
# once per 160k env steps. Observation normalisation (the body's raw qvel reaches O(10) beside
# angles of O(0.1)): in a 1.4M-step probe of the same shape (seed 0) the training return
# reached -309 at 1.0M env steps against -428 without it (which needed 2.3M for -327).
# Per-module gradient clip: in one 5.49M-step velocity_trials run (seed 0) the belief agent's
# second-episode |v_x - v*| fell from 0.47 (global clip) to 0.16, the oracle's from 0.92 to
# 0.22 (README, cheetah_vel: velocity trials).
_CPU = {
    "cheetah_vel": _Quick(steps={"ppo": 8_000_000, "svg0": _SVG_BODY_STEPS},
                          num_envs=64, num_eval_envs=32,
                          learner_changes={"ppo": {"rollout_length": 50, "num_epochs": 8,
                                                   "num_minibatches": 8, "gamma": 0.95,
                                                   "normalize_values": True,
                                                   "clip_per_module": True},
                                           "svg0": {**_SVG_BODY, "gamma": 0.95}},
                          network_changes={"normalize_observations": True},
                          iterations_per_chunk=50),
    # quadruped_semicircle: the env's 200-step episodes (a goal 1 m away is out of reach in
    # the quick preset's 50), 64 envs, value and observation normalisation as cheetah_vel;
    # the control preset's gamma 0.99 and 4 x 4 minibatches (a sparse reward, seen rarely).
    # At 5.5M env steps (shaped training reward, seed 0) the oracle, given the goal, reaches
    # it in 66% of episodes; the belief agent in 13-19%, no more than random, and it does
    # not return to a goal found in episode 1, nor with the per-module clip or four episodes
    # per trial, where it walks to the top of the arc every episode (README, goal trials).
    # Its belief does localise a found goal (0.19 m off, std 0.11 m); given the true goal as
    # its belief, the policy still reaches it in only 18-20% of episodes.
    "quadruped_semicircle": _Quick(steps={"ppo": 8_000_000, "svg0": _SVG_BODY_STEPS},
                                   num_envs=64, num_eval_envs=32,
                                   learner_changes={"ppo": {"rollout_length": 50,
                                                            "normalize_values": True},
                                                    "svg0": _SVG_BODY},
                                   network_changes={"normalize_observations": True},
                                   iterations_per_chunk=50),
    # numpad: 200-step episodes (in the quick preset's 100 a uniformly random policy lights
    # 0.23 tiles per trial and the ball crosses the pad about twice; 0.37 in 200), 256 envs
    # (the kinematic pad steps at ~2M env steps/s, so the learner sets the speed: ~30k env
    # steps/s here) and the PPO default entropy bonus 0.01 (the control preset's 0.001 let
    # the policy's std collapse before it had found a second tile). Probes, seed 0, 6.1M env
    # steps each (3.5 min): entropy bonus 0.01 reached 1.70 tiles per trial, 0.003 with Adam
    # 1e-3 1.52 (std collapsing), 64 envs x 8 epochs 1.0 at 1.4M with its entropy gone.
    "numpad": _Quick(steps={"ppo": 12_000_000}, env_kwargs={"episode_length": 200},
                     num_envs=256, num_eval_envs=256,
                     learner_changes={"ppo": {"rollout_length": 100, "ent_coef": 0.01}}),
}
# cpu: env steps per learner, sized to learn on a 2-core CPU (bandit ppo: about 15 minutes;
# cheetah_vel ppo: about 50 minutes at the 2.7k env steps/s of a 5.5M-step run with
# observation normalisation).
_CPU_STEPS = {"bandit": {"ppo": 8_000_000},
              **{env: q.steps for env, q in _CPU.items()}}


def learner_preset(env: str, learner: str) -> LearnerConfig:
    return _LEARNERS.get(env, _CONTROL).get(learner) or learners.config_type(learner)()


def check_size(env: str, learner: str, size: str) -> None:
    """A ValueError naming the valid sizes (and, for `cpu`, the envs that have one)."""
    if size not in SIZES:
        raise ValueError(f"preset={size!r} is not valid; choose one of {list(SIZES)}")
    if size == "cpu" and learner not in _CPU_STEPS.get(env, {}):
        have = [f"{e}/{name}" for e, table in _CPU_STEPS.items() for name in table]
        raise ValueError(f"there is no cpu preset for env={env!r} with learner={learner!r}; "
                         f"cpu presets exist for {have} (use quick or full otherwise)")


def preset(env: str, learner: str, quick: bool | str) -> TrainConfig:
    """The preset of one size: `quick` (True), `cpu`, or `full` (False)."""
    size = {True: "quick", False: "full"}.get(quick, quick)
    check_size(env, learner, size)
    config = _preset(env, learner, size)
    if size == "cpu":
        config = config.replace(total_env_steps=_CPU_STEPS[env][learner])
    return config


def has_cpu_shape(env: str) -> bool:
    """Whether the env's cpu preset has its own shape (else the quick one, trained longer)."""
    return env in _CPU


def _preset(env: str, learner: str, size: str) -> TrainConfig:
    config = learner_preset(env, learner)
    chunk = config.iterations_per_chunk
    network = _NETWORKS.get(env, NetworkConfig())
    if size != "full":
        q = (_CPU.get(env) if size == "cpu" else None) or _QUICK.get(env, _Quick(steps={}))
        if q.num_envs:
            # a rollout of half an episode keeps iterations (and chunks) short
            rollout = min(config.rollout_length,
                          q.env_kwargs.get("episode_length", 10**9) // 2)
            config = config.with_num_envs(q.num_envs).replace(rollout_length=rollout)
        config = config.replace(**q.learner_changes.get(learner, {}))
        return TrainConfig(env=env, learner=config,
                           network=dataclasses.replace(network, **q.network_changes),
                           total_env_steps=q.steps.get(learner, _DEFAULT_QUICK_STEPS),
                           env_kwargs=dict(q.env_kwargs), num_eval_envs=q.num_eval_envs,
                           iterations_per_chunk=q.iterations_per_chunk or chunk)
    return TrainConfig(env=env, learner=config.scaled(_FULL_SCALE), total_env_steps=_FULL_STEPS,
                       network=network, iterations_per_chunk=chunk)


# Env steps per run in the experiments' sweeps with --quick: a few minutes for a whole sweep
# on a 2-core CPU, so far from converged (the MJX envs most of all). Off-policy learners get
# two thirds of it (each env step costs them more).
_EXPERIMENT_QUICK_STEPS = {"bandit": 300_000, "semicircle": 300_000, "numpad": 200_000,
                           "cheetah_vel": 16_000, "quadruped_semicircle": 8_000}


# cpu: env steps per run in the experiments that have a cpu preset, sized to learn on a
# 2-core CPU within about an hour for the whole experiment (3 vmapped seeds). Semicircle: PPO
# first reaches a validation return of 90 near 1.9M env steps (mean curve of 3 seeds; the
# first seed there at 1.54M); SVG(0) (at the experiments' replay ratio) near 0.36M.
# quadruped_semicircle: 3M (3.27M in 64-env chunks), about 28 minutes per run of 3 seeds in
# its cpu shape; there the generalisation gap fell 19.3 / 7.6 / -0.4 at 4 / 16 / 64 training
# tasks (README), where the train preset's 8M would take about 70 minutes per run.
_EXPERIMENT_CPU_STEPS = {"bandit": {"ppo": 8_000_000},
                         "semicircle": {"ppo": 1_600_000, "svg0": 400_000},
                         "numpad": {"ppo": 12_000_000},
                         "quadruped_semicircle": {"ppo": 3_000_000}}
# cpu: learner changes in the experiments. SVG(0) at 0.06 gradient steps per env step (6x the
# default) learns semicircle in about a fifth of PPO's env steps (sample_efficiency results),
# at about 5x the wall time per env step of 0.01.
_EXPERIMENT_CPU_LEARNER = {"semicircle": {"svg0": {"replay_ratio": 0.06}}}


def experiment_learner_changes(env: str, learner: str, size: str) -> dict:
    """Learner fields the experiments' preset of this size changes (cpu only)."""
    return _EXPERIMENT_CPU_LEARNER.get(env, {}).get(learner, {}) if size == "cpu" else {}


def experiment_steps(env: str, learner: str, size: str | bool) -> int:
    """Env steps per run of an experiment sweep: the quick table, the cpu table, or the full
    preset's. (`size` True / False: quick / full.)"""
    size = {True: "quick", False: "full"}.get(size, size)
    if size == "quick":
        steps = _EXPERIMENT_QUICK_STEPS.get(env, 200_000)
        return (2 * steps) // 3 if learners.config_type(learner).spec.off_policy else steps
    if size == "cpu":
        if learner not in _EXPERIMENT_CPU_STEPS.get(env, {}):
            have = [f"{e}/{name}" for e, table in _EXPERIMENT_CPU_STEPS.items()
                    for name in table]
            raise ValueError(f"there is no cpu preset for env={env!r} with learner="
                             f"{learner!r} in the experiments; they exist for {have} (pass "
                             "--total-env-steps, or use --quick or the full preset)")
        return _EXPERIMENT_CPU_STEPS[env][learner]
    return preset(env, learner, False).total_env_steps
