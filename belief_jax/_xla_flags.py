"""XLA:CPU runtime flags set before JAX creates its CPU backend.

With JAX 0.10.2 on CPU, a vmapped-over-seeds training iteration (LSTM-128, >= 16 envs,
2 seeds) wedged every run: all threads idle inside `block_until_ready`, compilation long
done. Disabling the concurrency-optimised scheduler removed the hang in every run we tried
(`--xla_cpu_multi_thread_eigen=false` did not). The flag only reorders independent ops, so
results are unchanged. A user's own setting of the flag wins.
"""
from __future__ import annotations

import os

_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"


def apply() -> None:
    flags = os.environ.get("XLA_FLAGS", "")
    if _FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}=false".strip()
