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


_REFERENCE_STYLES = (":", "--", "-.", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 3)))


def plot_curves(curves: list[dict], key: str, png: str | Path,
                baselines: dict[str, float] | None = None) -> Path:
    """One panel per value of `key` (method, β, ...): train return (on the training tasks)
    and validation return against env steps with 95% bands over seeds, and optional
    baselines as horizontal lines."""
    plt = _pyplot()
    labels = list(dict.fromkeys(c[key] for c in curves))
    fig, axes = plt.subplots(1, len(labels), figsize=(3.4 * len(labels), 3.2),
                             squeeze=False, sharey=True)
    for ax, label in zip(axes[0], labels, strict=True):
        for split, color in (("train", "C0"), ("validation", "C1")):
            rows = [c for c in curves if c[key] == label and c["split"] == split]
            x = [r["env_steps"] for r in rows]
            mean = [r["return_mean"] for r in rows]
            band = [r["return_band"] for r in rows]
            ax.plot(x, mean, color=color, label=split)
            ax.fill_between(x, [m - b for m, b in zip(mean, band, strict=True)],
                            [m + b for m, b in zip(mean, band, strict=True)],
                            color=color, alpha=0.2)
        for (name, value), style in zip((baselines or {}).items(), _REFERENCE_STYLES,
                                        strict=False):
            ax.axhline(value, color="0.3", linestyle=style, linewidth=0.8, label=name)
        ax.set(title=f"{key} {label}" if key != "method" else str(label), xlabel="env steps")
    axes[0][0].set_ylabel("return per trial")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_gap(rows: list[dict], key: str, png: str | Path, title: str) -> Path:
    """Left: return on training vs fresh tasks per value of `key`; right: the
    generalisation gap with ±1.96 s.e. Categorical keys are spaced evenly."""
    plt = _pyplot()
    labels = [r[key] for r in rows]
    x = list(range(len(rows)))
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax.plot(x, [r["train_return"] for r in rows], "o-", label="training tasks")
    ax.plot(x, [r["validation_return"] for r in rows], "s-", label="fresh tasks")
    ax.set(xlabel=key, ylabel="return per trial", title=title)
    ax.legend(fontsize=8)
    ax_gap.errorbar(x, [r["gap"] for r in rows], yerr=[1.96 * r["gap_se"] for r in rows],
                    fmt="o-", color="C3", capsize=3)
    ax_gap.axhline(0.0, color="k", linewidth=0.8)
    ax_gap.set(xlabel=key, ylabel="train − validation return", title="generalisation gap")
    for a in (ax, ax_gap):
        a.set_xticks(x, [f"{v:g}" if isinstance(v, float) else str(v) for v in labels])
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_belief_quality(rows: list[dict], png: str | Path, title: str) -> Path:
    """Log loss of the true task per step: learned belief, best Gaussian (bandit only), exact
    posterior; and the learned − exact gap with a 95% band."""
    plt = _pyplot()
    t = [r["t"] for r in rows]
    bandit = "best_gaussian_nll" in rows[0]
    fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(10, 3.6))
    lines = (("learned_nll", "learned belief"), ("best_gaussian_nll", "best diagonal Gaussian"),
             ("exact_nll", "exact posterior (Beta)" if bandit else "exact posterior"))
    for name, label in lines:
        if name in rows[0]:
            ax.plot(t, [r[name] for r in rows], label=label)
    ax.set(xlabel="pulls so far" if bandit else "steps so far",
           ylabel="−log q(p | history) (nats)" if bandit else "−log q(θ | history) (nats)",
           title=title)
    ax.legend()
    gap = [r["learned_nll"] - r["exact_nll"] for r in rows]
    band = [1.96 * r["gap_se"] for r in rows]
    ax_gap.plot(t, gap, color="C3", label="learned − exact")
    ax_gap.fill_between(t, [g - b for g, b in zip(gap, band, strict=True)],
                        [g + b for g, b in zip(gap, band, strict=True)], color="C3", alpha=0.2)
    if bandit:
        ax_gap.plot(t, [r["best_gaussian_nll"] - r["exact_nll"] for r in rows], color="C1",
                    linestyle="--", label="best Gaussian − exact")
    ax_gap.axhline(0.0, color="k", linewidth=0.8)
    ax_gap.set(xlabel=ax.get_xlabel(), ylabel="gap (nats)", title="gap to Bayes-optimal")
    ax_gap.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_adaptation(rows: list[dict], png: str | Path, title: str) -> Path:
    """Return per episode within a trial, one line per agent, ±1.96 s.e."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for agent in dict.fromkeys(r["agent"] for r in rows):
        mine = [r for r in rows if r["agent"] == agent]
        ax.errorbar([r["episode"] for r in mine], [r["return_mean"] for r in mine],
                    yerr=[1.96 * r["return_se"] for r in mine], fmt="o-", capsize=3,
                    label=agent)
    ax.set(xlabel="episode within the trial", ylabel="return per episode", title=title)
    ax.set_xticks(sorted({r["episode"] for r in rows}))
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_sample_efficiency(curves: list[dict], target: float, png: str | Path,
                           title: str) -> Path:
    """Validation return against env steps (left) and wall time (right), one line per
    learner with 95% bands over seeds, and the target return as a dotted line."""
    import numpy as np

    from belief_jax.stats import mean_se
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for learner in dict.fromkeys(c["learner"] for c in curves):
        mine = [c for c in curves if c["learner"] == learner]
        seeds = sorted({c["seed"] for c in mine})
        values = np.array([[c["validation_return"] for c in mine if c["seed"] == s]
                           for s in seeds])
        first = [c for c in mine if c["seed"] == seeds[0]]
        mean, se = mean_se(values, axis=0)  # one seed: se NaN, drawn as no band
        for ax, x in zip(axes, ("env_steps", "wall_s"), strict=True):
            _band(ax, [c[x] for c in first], mean, se, label=learner)
    for ax, xlabel in zip(axes, ("env steps", "wall time without compilation (s)"),
                          strict=True):
        ax.axhline(target, color="0.3", linestyle=":", linewidth=0.8)
        ax.set(xlabel=xlabel)
    axes[0].set(ylabel="validation return per trial", title=title)
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def _band(ax, x, mean, se, **kwargs):
    import numpy as np
    mean, se = np.asarray(mean, float), np.nan_to_num(np.asarray(se, float))
    line, = ax.plot(x, mean, **kwargs)
    ax.fill_between(x, mean - 1.96 * se, mean + 1.96 * se, color=line.get_color(), alpha=0.2)


def plot_loglik(rows: list[dict], png: str | Path) -> Path:
    """log q(true task | history) per step within a trial, one panel per env, 95% bands."""
    plt = _pyplot()
    names = list(dict.fromkeys(r["env"] for r in rows))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        mine = [r for r in rows if r["env"] == name]
        _band(ax, [r["t"] for r in mine], [r["log_likelihood_mean"] for r in mine],
              [r["log_likelihood_se"] for r in mine])
        ax.set(title=name, xlabel="step in trial")
    axes[0][0].set_ylabel("log q(true task | history)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_discovery(rows: list[dict], png: str | Path) -> Path:
    """NumPad: log-likelihood of the true sequence around the discovery of each tile."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for tile in dict.fromkeys(r["tile"] for r in rows):
        mine = [r for r in rows if r["tile"] == tile and r["n_trials"] > 0]
        if mine:
            _band(ax, [r["offset"] for r in mine], [r["log_likelihood_mean"] for r in mine],
                  [r["log_likelihood_se"] for r in mine],
                  label=f"tile {tile} ({max(r['n_trials'] for r in mine)} trials)")
    ax.axvline(0.0, color="k", linewidth=0.8)
    ax.set(xlabel="steps from the discovery", ylabel="log q(true sequence | history)",
           title="NumPad: belief around each discovered tile")
    if ax.lines[1:]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_numpad_hinton(marginals, times, sequences, side: int, png: str | Path) -> Path:
    """Hinton diagrams of the belief's per-position marginals just before each discovery, in
    the trial that discovered the most tiles: row k = before the k-th discovery, column j =
    position j of the sequence drawn as the pad (square area ∝ probability; the true tile
    outlined in red). marginals [T, N, L, side²], times [L, N], sequences [T, N, L]."""
    import numpy as np
    plt = _pyplot()
    found = (times >= 0).sum(0)
    trial = int(found.argmax())
    length = marginals.shape[2]
    steps = [int(t) for t in times[:, trial] if t >= 0] or [0]
    fig, axes = plt.subplots(len(steps), length, figsize=(1.6 * length, 1.6 * len(steps)),
                             squeeze=False)
    truth = sequences[0, trial]
    for row, t in enumerate(steps):
        for j in range(length):
            ax = axes[row][j]
            p = marginals[t, trial, j]
            for tile in range(side * side):
                x, y = tile % side, tile // side
                size = float(np.sqrt(p[tile]))
                ax.add_patch(plt.Rectangle((x - size / 2, y - size / 2), size, size,
                                           color="k"))
                if tile == truth[j]:
                    ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False,
                                               edgecolor="r", linewidth=1.5))
            ax.set(xlim=(-0.5, side - 0.5), ylim=(-0.5, side - 0.5), aspect="equal",
                   xticks=[], yticks=[])
            if row == 0:
                ax.set_title(f"position {j + 1}", fontsize=8)
            if j == 0:
                ax.set_ylabel(f"before tile {row + 1}\n(t={t})", fontsize=8)
    fig.suptitle(f"NumPad belief marginals, trial {trial} ({int(found[trial])} tiles found)",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_velocity_trials(rows: list[dict], png: str | Path, title: str) -> Path:
    """One panel per trial: each agent's forward velocity against v* (dashed), the belief's
    estimate of v* (mean ± std) where the agent has one, episode boundaries dotted."""
    import numpy as np
    plt = _pyplot()
    trials = sorted({r["trial"] for r in rows})
    fig, axes = plt.subplots(len(trials), 1, figsize=(7, 2.2 * len(trials)), squeeze=False,
                             sharex=True)
    for ax, trial in zip(axes[:, 0], trials, strict=True):
        mine = [r for r in rows if r["trial"] == trial]
        for i, agent in enumerate(dict.fromkeys(r["agent"] for r in mine)):
            path = [r for r in mine if r["agent"] == agent]
            t = np.array([r["t"] for r in path])
            ax.plot(t, [r["v_x"] for r in path], color=f"C{i}", lw=1, label=f"{agent} v_x")
            belief = np.array([r["belief_v"] for r in path])
            if np.isfinite(belief).any():
                std = np.array([r["belief_std"] for r in path])
                ax.plot(t, belief, color=f"C{i}", ls="--", lw=1, label=f"{agent}: estimate of v*")
                ax.fill_between(t, belief - std, belief + std, color=f"C{i}", alpha=0.15)
        ax.plot([r["t"] for r in path], [r["v_target"] for r in path], "k--", lw=1.2,
                label="v*")
        starts = {}
        for r in mine:
            starts[r["episode"]] = min(r["t"], starts.get(r["episode"], r["t"]))
        for episode, start in starts.items():
            if episode > 1:
                ax.axvline(start, color="grey", ls=":")
        ax.set(ylabel="m/s")
    axes[0, 0].set_title(title)
    axes[0, 0].legend(fontsize=7, ncol=3)
    axes[-1, 0].set_xlabel("step of the trial")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)


def plot_goal_trials(rows: list[dict], png: str | Path, title: str) -> Path:
    """One panel per agent and trial: the torso's path in each episode (episode 1 light,
    the last dark) from its start, the semicircle of goals, the goal's disc, and the belief's
    estimate of the goal at the end of each episode where the agent has one. Axes are shared
    along an agent's row only (the random policy's 3-5 m paths would shrink the others)."""
    import numpy as np
    plt = _pyplot()
    agents = list(dict.fromkeys(r["agent"] for r in rows))
    trials = sorted({r["trial"] for r in rows})
    fig, axes = plt.subplots(len(agents), len(trials), figsize=(2.6 * len(trials),
                                                                2.6 * len(agents)),
                             squeeze=False, sharex="row", sharey="row")
    arc = np.linspace(0, np.pi, 64)
    for i, agent in enumerate(agents):
        for ax, trial in zip(axes[i], trials, strict=True):
            path = [r for r in rows if r["agent"] == agent and r["trial"] == trial]
            ax.plot(np.cos(arc), np.sin(arc), color="grey", lw=0.6, ls=":")
            goal = (path[0]["goal_x"], path[0]["goal_y"])
            ax.add_patch(plt.Circle(goal, 0.2, color="k", alpha=0.2))
            episodes = sorted({r["episode"] for r in path})
            for episode in episodes:
                steps = [r for r in path if r["episode"] == episode]
                alpha = 0.4 + 0.6 * (episode - 1) / max(len(episodes) - 1, 1)  # later: darker
                ax.plot([r["x"] for r in steps], [r["y"] for r in steps], lw=1,
                        color=f"C{i}", alpha=alpha, label=f"episode {episode}")
                if np.isfinite(steps[-1]["belief_x"]):
                    ax.plot(steps[-1]["belief_x"], steps[-1]["belief_y"], "x", color=f"C{i}",
                            alpha=alpha)
            ax.set_aspect("equal")
            ax.set_title(f"{agent}, trial {trial}", fontsize=8)
    axes[0, 0].legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return Path(png)
