"""Frozen, validated configs. Each field can be overridden from the CLI (tyro).

Checks that need only the config run in `__post_init__`; those that need the env (trial
length, task-info kind) run in `validate`, still before anything is compiled.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import math
from dataclasses import dataclass, field

AGENTS = ("rnn", "aux_head", "belief", "pearl")
LEARNERS = ("ppo", "svg0")
TARGET_UPDATES = ("polyak", "periodic")
CELLS = ("lstm", "gru")
POLICY_CORES = ("feedforward", "recurrent")
TASK_INFO_TARGETS = ("embedding", "task_id")


_DEFER = contextvars.ContextVar("defer_validation", default=False)


@contextlib.contextmanager
def deferred_validation():
    """Build configs without checking them (the CLI parser would swallow our messages into
    its own box); call `config.validate()` afterwards."""
    token = _DEFER.set(True)
    try:
        yield
    finally:
        _DEFER.reset(token)


class _Validated:
    def __post_init__(self):
        if not _DEFER.get():
            self.validate()

    def validate(self) -> None:
        raise NotImplementedError


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(valid)}")


def _positive(obj: object, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")


def _non_negative(obj: object, *names: str) -> None:
    for name in names:
        if getattr(obj, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(obj, name)!r}")


@dataclass(frozen=True)
class NetworkConfig(_Validated):
    """Sizes and options of the agent's networks (the agent kind is `TrainConfig.agent`)."""

    cell: str = "lstm"
    """recurrent cell: lstm or gru"""
    hidden_size: int = 128
    torso_sizes: tuple[int, ...] = (128, 128)
    """hidden layers of a feed-forward policy/critic torso (belief agent)"""
    head_sizes: tuple[int, ...] = (128,)
    """hidden layers of the policy and critic heads"""
    policy_core: str = "feedforward"
    """belief agent: policy/critic torso on top of the belief, feedforward or recurrent"""
    share_policy_critic: bool = False
    """belief agent: one torso for policy and critic"""
    aux_weight: float = 1.0
    """weight of the auxiliary (belief) log loss"""
    task_info_target: str = "embedding"
    """privileged info to predict: the env's embedding, or task_id (needs num_train_tasks)"""
    ib_belief: float = 0.0
    """β of the information bottleneck on the belief features (0 = off)"""
    ib_policy: float = 0.0
    """β of the information bottleneck on the policy input (0 = off)"""
    ib_critic: float = 0.0
    """β of the information bottleneck on the critic input (0 = off)"""
    ib_size: int = 8
    latent_size: int = 8
    """pearl: size of the task latent z"""
    ib_eval_mean: bool = True
    """evaluate with the bottleneck mean μ instead of a sample"""

    def validate(self) -> None:
        _choice("network.cell", self.cell, CELLS)
        _choice("network.policy_core", self.policy_core, POLICY_CORES)
        _choice("network.task_info_target", self.task_info_target, TASK_INFO_TARGETS)
        _positive(self, "hidden_size", "ib_size", "latent_size")
        _non_negative(self, "aux_weight", "ib_belief", "ib_policy", "ib_critic")
        if any(s <= 0 for s in (*self.torso_sizes, *self.head_sizes)):
            raise ValueError("network.torso_sizes and network.head_sizes must be positive")


@dataclass(frozen=True)
class PPOConfig(_Validated):
    num_envs: int = 64
    rollout_length: int = 100
    """env steps per rollout; at most one trial"""
    num_epochs: int = 4
    num_minibatches: int = 4
    """minibatches of whole env-sequences; must divide num_envs"""
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.01
    learning_rate: float = 3e-4
    max_grad_norm: float = 0.5
    normalize_advantages: bool = True

    def validate(self) -> None:
        _positive(self, "num_envs", "rollout_length", "num_epochs", "num_minibatches",
                  "learning_rate", "max_grad_norm")
        _non_negative(self, "clip_eps", "vf_coef", "ent_coef")
        if self.num_envs % self.num_minibatches:
            raise ValueError(f"ppo.num_minibatches={self.num_minibatches} must divide "
                             f"ppo.num_envs={self.num_envs}")
        if not (0 <= self.gamma <= 1 and 0 <= self.gae_lambda <= 1):
            raise ValueError("ppo.gamma and ppo.gae_lambda must lie in [0, 1]")

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.rollout_length


@dataclass(frozen=True)
class SVGConfig(_Validated):
    """Entropy-regularised SVG(0) with a Retrace critic, learning from sequence replay."""

    num_envs: int = 64
    rollout_length: int = 10
    """env steps per env between learning phases"""
    sequence_length: int = 20
    """length of replayed sequences; at most one trial"""
    batch_size: int = 32
    """sequences per gradient step"""
    replay_size: int = 100_000
    """env steps kept in replay (over all envs)"""
    min_replay: int = 5_000
    """env steps in replay before learning starts"""
    replay_ratio: float = 0.01
    """gradient steps per env step"""
    gamma: float = 0.99
    retrace_lambda: float = 1.0
    learning_rate: float = 3e-4
    max_grad_norm: float = 40.0
    target_update: str = "periodic"
    """polyak or periodic"""
    target_period: int = 100
    """gradient steps between target-network copies (periodic)"""
    polyak_tau: float = 0.005
    alpha: float = 0.01
    """entropy weight α (initial value when tuned)"""
    tune_alpha: bool = False
    """tune α towards target_entropy"""
    alpha_learning_rate: float = 3e-5
    """Adam step size of log α; small, so α anneals over the run instead of collapsing"""
    target_entropy: float | None = None
    """None: −|A| for continuous actions, 0.5·log n for n discrete actions"""

    def validate(self) -> None:
        _positive(self, "num_envs", "rollout_length", "sequence_length", "batch_size",
                  "replay_size", "replay_ratio", "learning_rate", "alpha_learning_rate",
                  "max_grad_norm",
                  "target_period", "polyak_tau")
        _non_negative(self, "min_replay", "alpha")
        _choice("svg0.target_update", self.target_update, TARGET_UPDATES)
        if self.replay_size < self.batch_size * self.sequence_length:
            raise ValueError(f"svg0.replay_size={self.replay_size} is smaller than one batch "
                             f"(batch_size x sequence_length = "
                             f"{self.batch_size * self.sequence_length})")
        if self.replay_size // self.num_envs < max(self.sequence_length,
                                                    self.min_replay // self.num_envs):
            raise ValueError(f"svg0.replay_size={self.replay_size} holds fewer steps per env "
                             "than svg0.sequence_length or svg0.min_replay need")
        if not (0 <= self.gamma <= 1 and 0 <= self.retrace_lambda <= 1):
            raise ValueError("svg0.gamma and svg0.retrace_lambda must lie in [0, 1]")

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.rollout_length

    @property
    def updates_per_iteration(self) -> int:
        return max(1, round(self.replay_ratio * self.steps_per_iteration))


@dataclass(frozen=True)
class TrainConfig(_Validated):
    env: str = "bandit"
    """bandit or semicircle (see envs.names())"""
    agent: str = "belief"
    """rnn, aux_head, belief or pearl (pearl: svg0 only)"""
    learner: str = "ppo"
    """ppo"""
    seed: int = 0
    num_seeds: int = 1
    """seeds trained at once with jax.vmap"""
    total_env_steps: int = 1_000_000
    """per seed; rounded up to whole chunks"""
    env_kwargs: dict[str, int | float | bool | str] = field(default_factory=dict)
    """keyword arguments of envs.make, e.g. --env-kwargs physics kinematic reward dense"""
    episodes_per_trial: int | None = None
    """None = the env's default"""
    num_train_tasks: int = 0
    """size of the finite training task set; 0 = a fresh task every trial"""
    task_set_seed: int = 12345
    num_eval_envs: int = 256
    """validation trials per evaluation (fresh tasks)"""
    iterations_per_chunk: int = 10
    """iterations per jitted chunk; metrics are logged and validation runs once per chunk"""
    checkpoint_every: int = 1
    """save a checkpoint every this many chunks (0 = only at the end)"""
    keep_checkpoints: int = 3
    """how many of the latest checkpoints to keep"""
    num_devices: int = 0
    """devices to split the envs over (0 = all local devices)"""
    network: NetworkConfig = NetworkConfig()
    ppo: PPOConfig = PPOConfig()
    svg0: SVGConfig = SVGConfig()

    def validate(self) -> None:
        import envs  # names only; cheap

        self.network.validate()
        self.ppo.validate()
        self.svg0.validate()

        _choice("env", self.env, envs.names())
        _choice("agent", self.agent, AGENTS)
        _choice("learner", self.learner, LEARNERS)
        _positive(self, "num_seeds", "total_env_steps", "num_eval_envs", "iterations_per_chunk")
        _positive(self, "keep_checkpoints")
        _non_negative(self, "num_train_tasks", "checkpoint_every", "num_devices")
        if self.episodes_per_trial is not None and self.episodes_per_trial < 1:
            raise ValueError(f"episodes_per_trial must be >= 1, got {self.episodes_per_trial}")
        if self.agent == "pearl" and self.learner != "svg0":
            raise ValueError("agent='pearl' is trained with learner='svg0' (valid learners for "
                             "pearl: ['svg0'])")
        if self.network.task_info_target == "task_id" and self.num_train_tasks < 1:
            raise ValueError("network.task_info_target='task_id' needs num_train_tasks >= 1 "
                             "(a task id exists only in a finite task set)")

    @property
    def learner_config(self) -> PPOConfig | SVGConfig:
        """The config of the chosen learner (it sets num_envs and rollout_length)."""
        return self.svg0 if self.learner == "svg0" else self.ppo

    @property
    def num_chunks(self) -> int:
        iterations = math.ceil(self.total_env_steps / self.learner_config.steps_per_iteration)
        return math.ceil(iterations / self.iterations_per_chunk)

    @property
    def num_iterations(self) -> int:
        return self.num_chunks * self.iterations_per_chunk

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)
