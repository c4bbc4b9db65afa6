"""matplotlib figures; matplotlib is imported here only, never by the library."""
from __future__ import annotations

import csv
import math
from pathlib import Path


def read_csv(path: str | Path) -> list[dict]:
    with open(path) as f:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _number(value: str):
    try:
        return float(value)
    except ValueError:
        return value


def plot_learning_curves(metrics_csv: str | Path, png: str | Path, title: str = "") -> Path:
    """Train and validation return per trial against env steps, with ±1 s.e. bands over
    seeds when there are several."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_csv(metrics_csv)
    steps = [r["env_steps"] for r in rows]
    fig, (ax_ret, ax_aux) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, color in (("train_return", "C0"), ("validation_return", "C1")):
        mean = [r[name] for r in rows]
        se = [r.get(f"{name}_se", math.nan) for r in rows]
        ax_ret.plot(steps, mean, color=color, label=name.replace("_", " "))
        lo = [m - s if math.isfinite(s) else m for m, s in zip(mean, se, strict=True)]
        hi = [m + s if math.isfinite(s) else m for m, s in zip(mean, se, strict=True)]
        ax_ret.fill_between(steps, lo, hi, color=color, alpha=0.2)
    ax_ret.set(xlabel="env steps", ylabel="return per trial", title=title)
    ax_ret.legend()
    for name in ("aux_log_likelihood", "validation_aux_log_likelihood"):
        values = [r[name] for r in rows]
        if any(math.isfinite(v) for v in values):
            ax_aux.plot(steps, values, label=name.replace("_", " "))
    ax_aux.set(xlabel="env steps", ylabel="log q(task | history) per step (nats)",
               title="belief")
    if ax_aux.lines:
        ax_aux.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_method_bars(rows: list[dict], png: str | Path, title: str, ylabel: str) -> Path:
    """One bar per method (`method`, `total_reward_mean`, `total_reward_se`), ±1.96 s.e."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(rows)), 3.6))
    names = [r["method"] for r in rows]
    se = [1.96 * r["total_reward_se"] if math.isfinite(r["total_reward_se"]) else 0.0
          for r in rows]
    ax.bar(names, [r["total_reward_mean"] for r in rows], yerr=se, capsize=3,
           color=["C7" if "_" not in n else "C0" for n in names])
    ax.set(ylabel=ylabel, title=title)
    ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_bandit_curves(curves: list[dict], baselines: dict[str, float],
                       png: str | Path) -> Path:
    """Train (finite task set) and validation return per method against env steps, with
    95% bands over seeds and the baselines as horizontal lines."""
    plt = _pyplot()
    methods = sorted({c["method"] for c in curves})
    fig, axes = plt.subplots(1, len(methods), figsize=(3.4 * len(methods), 3.2),
                             squeeze=False, sharey=True)
    for ax, method in zip(axes[0], methods, strict=True):
        for split, color in (("train", "C0"), ("validation", "C1")):
            rows = [c for c in curves if c["method"] == method and c["split"] == split]
            x = [r["env_steps"] for r in rows]
            mean = [r["return_mean"] for r in rows]
            band = [r["return_band"] for r in rows]
            ax.plot(x, mean, color=color, label=split)
            ax.fill_between(x, [m - b for m, b in zip(mean, band, strict=True)],
                            [m + b for m, b in zip(mean, band, strict=True)],
                            color=color, alpha=0.2)
        for (name, value), style in zip(baselines.items(), (":", "--"), strict=False):
            ax.axhline(value, color="k", linestyle=style, linewidth=0.8, label=name)
        ax.set(title=method, xlabel="env steps")
    axes[0][0].set_ylabel("total reward per trial")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_belief_quality(rows: list[dict], png: str | Path, title: str) -> Path:
    """Log loss of the true task per step: learned belief, best Gaussian, exact posterior;
    and the learned − exact gap with a 95% band."""
    plt = _pyplot()
    t = [r["t"] for r in rows]
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(10, 3.6))
    for name, label in (("learned_nll", "learned belief"),
                        ("best_gaussian_nll", "best diagonal Gaussian"),
                        ("exact_nll", "exact posterior (Beta)")):
        ax.plot(t, [r[name] for r in rows], label=label)
    ax.set(xlabel="pulls so far", ylabel="−log q(p | history) (nats)", title=title)
    ax.legend()
    gap = [r["learned_nll"] - r["exact_nll"] for r in rows]
    band = [1.96 * r["gap_se"] for r in rows]
    ax_gap.plot(t, gap, color="C3", label="learned − exact")
    ax_gap.fill_between(t, [g - b for g, b in zip(gap, band, strict=True)],
                        [g + b for g, b in zip(gap, band, strict=True)], color="C3", alpha=0.2)
    ax_gap.plot(t, [r["best_gaussian_nll"] - r["exact_nll"] for r in rows], color="C1",
                linestyle="--", label="best Gaussian − exact")
    ax_gap.axhline(0.0, color="k", linewidth=0.8)
    ax_gap.set(xlabel="pulls so far", ylabel="gap (nats)", title="gap to Bayes-optimal")
    ax_gap.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)
