"""Information bottleneck: a β sweep on semicircle with a finite training task set, measuring
the generalisation gap (return on training tasks − return on fresh tasks) and sample
efficiency (validation return averaged over the learning curve) per β.
`python -m experiments.information_bottleneck --out DIR [--quick]`.

The bottleneck sits on the belief agent's belief features (`--target belief`), or on the
policy / critic inputs; β weighs KL(q(z | ·) ‖ N(0, I)) in the loss, and validation uses
the bottleneck's mean (`--eval-sample`: a sample, as in training). Writes ib_results.csv
(beta, train_return, validation_return, gap, gap_se, validation_auc, n_tasks, n_seeds),
ib_curves.csv, ib_gap.png and ib_curves.png.

The default preset is sized for one GPU/TPU (3 seeds, 50M env steps per β); `--quick` runs
on a laptop CPU in a few minutes (1 seed, 300k env steps per β, 10 training tasks), which is
far from converged: read its gap as a smoke test, not a finding."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from experiments.common import (
    ExperimentArgs,
    check_positive,
    cli,
    run_sweep,
    train,
    train_in_one_program,
    write_sweep,
)

TARGETS = ("belief", "policy", "critic")


@dataclasses.dataclass(frozen=True)
class Args(ExperimentArgs):
    out: Path = Path("runs/information_bottleneck")
    betas: tuple[float, ...] = (0.0, 0.01, 0.1, 1.0)
    target: str = "belief"
    """where the bottleneck sits: belief (features), policy or critic"""
    env: str = "semicircle"
    learner: str = "ppo"
    num_train_tasks: int | None = None
    """default: 10 quick, 100 full"""
    eval_sample: bool = False
    """validation and the gap's evaluation read a sample of the bottleneck, as training does,
    instead of its mean μ (`network.ib_eval_mean`)"""
    one_program: bool = True
    """train the positive βs (and all seeds) in one vmapped, jitted program, compiled once;
    False: one compilation and run per β. β = 0 (no bottleneck) always runs on its own"""

    quick_tasks, full_tasks = 256, 1000  # evaluation trials on training and on fresh tasks


def configs(args: Args) -> list:
    if args.target not in TARGETS:
        raise ValueError(f"target={args.target!r} is not valid; choose one of {list(TARGETS)}")
    if not args.betas or any(b < 0 for b in args.betas):
        raise ValueError(f"betas must be >= 0, got {list(args.betas)}")
    args.validate()
    check_positive(args, "num_train_tasks")
    network = args.base(args.env, args.learner).network
    return [args.config(args.env, args.learner, agent="belief",
                        network=dataclasses.replace(network, **{f"ib_{args.target}": beta},
                                                    ib_eval_mean=not args.eval_sample),
                        num_train_tasks=args.num_train_tasks or (10 if args.small else 100))
            for beta in args.betas]


def train_all(args: Args, configs: list, log=print) -> list:
    """The finished run of every β (configs already validated): the positive ones in one
    program if `one_program`."""
    positive = [i for i, beta in enumerate(args.betas) if beta > 0] if args.one_program else []
    runs = {}
    if len(positive) > 1:
        group = train_in_one_program(configs[positive[0]], f"network.ib_{args.target}",
                                     [args.betas[i] for i in positive], log)
        runs = dict(zip(positive, group, strict=True))
    return [runs[i] if i in runs else train(config, log) for i, config in enumerate(configs)]


def run(args: Args, log=print) -> dict[str, Path]:
    variants = [({"beta": beta}, config) for beta, config in zip(args.betas, configs(args),
                                                                  strict=True)]
    results, curves = run_sweep(variants, args.tasks, args.seed, log,
                                train_all=lambda configs: train_all(args, configs, log))
    from experiments.plotting import plot_curves, plot_gap
    return {
        **write_sweep(args.out, "ib", ("beta",), results, curves),
        "gap_png": plot_gap(results, "beta", args.out / "ib_gap.png",
                            f"{args.env}: information bottleneck on the {args.target}"),
        "curves_png": plot_curves(curves, "beta", args.out / "ib_curves.png"),
    }


def main(argv: list[str] | None = None) -> int:
    return cli(Args, run, argv, __doc__)


if __name__ == "__main__":
    raise SystemExit(main())
