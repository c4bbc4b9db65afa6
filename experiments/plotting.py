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
