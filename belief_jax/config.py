"""The run's config: frozen, validated, every field overridable from the CLI (tyro).

Checks that need only the config run in `__post_init__`; those that need the env (trial
length, task-info kind) run in `train.validate`, still before anything is compiled. The
learner is one typed value, `learner: LearnerConfig` (a `PPOConfig`, an `SVGConfig`, or any
registered learner's config); only that learner's fields exist and are checked.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from belief_jax import agents, learners
from belief_jax.agents.config import NetworkConfig
from belief_jax.learners import LearnerConfig, PPOConfig, SVGConfig
from belief_jax.validation import Validated, choice, deferred_validation, non_negative, positive

__all__ = ["NetworkConfig", "LearnerConfig", "PPOConfig", "SVGConfig", "TrainConfig",
           "deferred_validation"]


@dataclass(frozen=True)
class TrainConfig(Validated):
    env: str = "bandit"
    """see envs.names()"""
    agent: str = "belief"
    """rnn, aux_head, belief, oracle (rnn given the true task) or pearl (pearl needs an
    off-policy learner)"""
    learner: LearnerConfig = PPOConfig()
    """the learner and its settings (chosen on the command line with --learner NAME)"""
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
    keep_best: bool = False
    """also carry, per seed, the acting parameters of the validation pass with the highest
    validation return (RunnerState.best, checkpointed with the run); the experiments then
    measure those instead of the last ones. Model selection on the validation passes' fresh
    tasks, for a learner whose return peaks and then declines"""
    belief_exploration_envs: int = 0
    """of the learner's envs, this many act ε-greedily around the policy (ε ~ U[0, 1] per
    trial) to show the belief more varied histories; their steps train the belief only (the
    RL loss masks them) and count as env steps"""
    num_devices: int = 0
    """devices to split the envs over (0 = all local devices)"""
    network: NetworkConfig = NetworkConfig()

    def validate(self) -> None:
        import envs  # names only; cheap

        self.network.validate()
        if not isinstance(self.learner, LearnerConfig):
            raise ValueError(f"learner must be a learner config (one of "
                             f"{list(learners.names())}), got {self.learner!r}")
        self.learner.validate()
        choice("env", self.env, envs.names())
        choice("agent", self.agent, agents.names())
        positive(self, "", "num_seeds", "total_env_steps", "num_eval_envs",
                 "iterations_per_chunk", "keep_checkpoints")
        non_negative(self, "", "num_train_tasks", "checkpoint_every", "num_devices",
                     "belief_exploration_envs")
        if self.episodes_per_trial is not None and self.episodes_per_trial < 1:
            raise ValueError(f"episodes_per_trial must be >= 1, got {self.episodes_per_trial}")
        if agents.get(self.agent).requires_off_policy and not self.learner.spec.off_policy:
            raise ValueError(f"agent={self.agent!r} needs an off-policy learner, not "
                             f"learner={self.learner.name!r} (valid learners for it: "
                             f"{learners.base.off_policy_names()})")
        if self.network.task_info_target == "task_id" and self.num_train_tasks < 1:
            raise ValueError("network.task_info_target='task_id' needs num_train_tasks >= 1 "
                             "(a task id exists only in a finite task set)")

    @property
    def num_chunks(self) -> int:
        iterations = math.ceil(self.total_env_steps / self.learner.steps_per_iteration)
        return math.ceil(iterations / self.iterations_per_chunk)

    @property
    def num_iterations(self) -> int:
        return self.num_chunks * self.iterations_per_chunk

    @property
    def steps_per_chunk(self) -> int:
        """Env steps per seed in one chunk."""
        return self.iterations_per_chunk * self.learner.steps_per_iteration

    @property
    def trained_env_steps(self) -> int:
        """Env steps per seed a run trains: the budget rounded up to whole chunks."""
        return self.num_chunks * self.steps_per_chunk

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


def config_to_dict(config: TrainConfig) -> dict:
    """JSON-ready: the learner as its name plus its fields under that name
    (`"learner": "ppo", "ppo": {...}`), tuples as lists, as on disk."""
    import json
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    learner = values.pop("learner")
    values = {**values, "learner": learner.name, learner.name: dataclasses.asdict(learner)}
    return json.loads(json.dumps({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v)
                                  else v for k, v in values.items()}))
