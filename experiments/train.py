"""Train one agent, e.g. `python -m experiments.train --env bandit --agent belief --learner ppo
--quick --out runs/bandit`.

--learner NAME picks the learner (ppo or svg0); its settings are then the flags --NAME.FIELD
(e.g. --ppo.num-envs 64, --svg0.replay-ratio 0.05), and only that learner's fields exist.
Besides the config flags below: --quick (= --preset quick) picks the small preset that runs
on a laptop CPU in minutes; --preset cpu a longer one sized to learn on a 2-core CPU (the
bandit: 8M env steps, about 15 minutes; cheetah_vel and quadruped_semicircle: their own
200-step episodes, 64 envs, value and observation normalisation, 8M env steps, about 50
minutes for cheetah_vel at the 2.7k env steps/s measured (its episode-2 tracking error
reached 0.16 m/s after 3.3M, 23 minutes); with --learner svg0 the same shape for 1M env
steps, about 18 minutes, not yet shown to learn; numpad (ppo): 200-step episodes,
256 envs, 12M env steps, about 7 minutes); without either, the
preset is sized for one GPU/TPU (--preset full); --out DIR is where config.json,
metrics.csv, summary.json and learning_curves.png go (default runs/ENV_AGENT_LEARNER_sSEED);
an earlier run there is kept unless --overwrite is given; --resume continues the run in
--out from its latest checkpoint (give the same flags; only --total-env-steps may change).
--env, --learner and --quick / --preset choose the preset; every other flag overrides it.

Several processes (one per host, or several on one machine) train one run together with
--coordinator HOST:PORT --num-processes N --process-id I (process 0 serves the coordinator
at HOST:PORT), or with --distributed alone under SLURM, Open MPI or on a Cloud TPU slice,
whose environment names them; --coordinator-timeout S (default 300) bounds the wait for
them. Every process runs the same command; the envs are split over all their devices, process
0 writes the results, and --out must be a directory all of them share."""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import tyro

from belief_jax import learners
from belief_jax.config import TrainConfig, deferred_validation
from belief_jax.distributed import DistributedConfig
from experiments.presets import preset


def _cli_type(default: TrainConfig) -> type:
    """TrainConfig with its `learner` field typed as the chosen learner's config and its
    flags prefixed by the learner's name, so tyro parses only that learner's fields."""
    learner = default.learner
    annotated = Annotated[type(learner), tyro.conf.arg(name=learner.name)]
    cli_type = dataclasses.make_dataclass(
        "TrainConfig", [("learner", annotated, dataclasses.field(default=learner))],
        bases=(TrainConfig,), frozen=True)
    cli_type.__doc__ = TrainConfig.__doc__
    return cli_type


def _fields(config: TrainConfig) -> dict:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(TrainConfig)}


def parse(argv: list[str]) -> tuple[TrainConfig, Path, argparse.Namespace]:
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--quick", action="store_true")
    pre.add_argument("--preset", default=None)
    pre.add_argument("--env", default="bandit")
    pre.add_argument("--learner", default="ppo")
    pre.add_argument("--out", default=None)
    pre.add_argument("--overwrite", action="store_true")
    pre.add_argument("--resume", action="store_true")
    pre.add_argument("--distributed", action="store_true")
    pre.add_argument("--coordinator", default=None)
    pre.add_argument("--num-processes", type=int, default=None)
    pre.add_argument("--process-id", type=int, default=None)
    pre.add_argument("--coordinator-timeout", type=int, default=300)
    known, rest = pre.parse_known_args(argv)
    learners.config_type(known.learner)  # an unknown learner: one line naming the valid ones
    with deferred_validation():
        size = known.preset or ("quick" if known.quick else "full")
        if known.quick and known.preset not in (None, "quick"):
            raise ValueError(f"--quick is --preset quick; it contradicts --preset "
                             f"{known.preset}")
        default = preset(known.env, known.learner, size) if known.env in _envs() \
            else TrainConfig(learner=learners.config_type(known.learner)())
        cli_type = _cli_type(default)
        # tyro turns a non-empty dict default into fixed per-key flags, which would refuse
        # `--env-kwargs physics mjx` on a preset with env kwargs: parse against an empty
        # dict, then let the command line's kwargs override the preset's.
        parsed = tyro.cli(cli_type, default=cli_type(**_fields(default.replace(env_kwargs={}))),
                          args=["--env", known.env, *rest], description=__doc__)
        config = TrainConfig(**_fields(parsed))
        config = config.replace(env_kwargs={**default.env_kwargs, **config.env_kwargs})
    config.validate()
    out = Path(known.out or
               f"runs/{config.env}_{config.agent}_{config.learner.name}_s{config.seed}")
    return config, out, known


def _envs() -> tuple[str, ...]:
    import envs
    return envs.names()


def distributed_config(flags: argparse.Namespace) -> DistributedConfig | None:
    """The multi-process settings of the command line; None for a run in this process only."""
    explicit = (flags.coordinator, flags.num_processes, flags.process_id)
    if not flags.distributed and all(x is None for x in explicit):
        return None
    return DistributedConfig(*explicit, timeout_s=flags.coordinator_timeout)


def main(argv: list[str] | None = None) -> int:
    from belief_jax import distributed
    from belief_jax.runner import CheckpointError, NonFiniteError, run
    from experiments.plotting import plot_learning_curves

    try:
        config, out, flags = parse(sys.argv[1:] if argv is None else argv)
        multi_process = distributed_config(flags)
        if multi_process is not None:  # after parsing: a bad flag fails before connecting
            distributed.initialize(multi_process)
        summary = run(config, out, overwrite=flags.overwrite, resume=flags.resume)
    except (ValueError, CheckpointError, distributed.CoordinatorError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except NonFiniteError as error:
        print(f"error: {error}; the last good checkpoint in {out}/checkpoints is intact",
              file=sys.stderr)
        return 1
    if not distributed.is_main_process():
        return 0
    plot_learning_curves(out / "metrics.csv", out / "learning_curves.png",
                         f"{config.env} · {config.agent} · {config.learner.name}")
    print(f"final validation return {summary['final_validation_return']:.2f} "
          f"(train {summary['final_train_return']:.2f}); results in {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
