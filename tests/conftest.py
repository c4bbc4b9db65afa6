import os
from pathlib import Path

# Tests are small; keep XLA from grabbing every core so pytest stays responsive.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false")
# JAX's persistent compilation cache, shared by the xdist workers and the CLI subprocesses the
# tests start (they inherit the environment): a program compiled once in a run is read back
# everywhere else, and a second run reads it all. Set before any test imports JAX.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      str(Path(__file__).resolve().parents[1] / ".cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
