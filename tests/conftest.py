import os
from pathlib import Path

# Compile fast, run slow: the tests' programs are tiny, so XLA:CPU's compile time (LLVM
# optimisation and the fusion emitters) is most of every test. Without LLVM optimisation and
# with the older loop emitters a training program compiles ~2.4x faster (5.7 s -> 2.4 s for the
# small bandit loop on this CPU), while its run time stays well under a second. The flags do not
# change what is computed: the jit-vs-eager and determinism tests hold to the same tolerances.
# One XLA thread per process: the two xdist workers already fill both cores. CLI subprocesses
# started by the tests inherit these (test_runner adds a host-device count to them), except the
# learning check, which times a real training run with the library's own flags.
FAST_COMPILE_FLAGS = ("--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=0 "
                      "--xla_llvm_disable_expensive_passes=true "
                      "--xla_cpu_use_fusion_emitters=false")
os.environ.setdefault("XLA_FLAGS", FAST_COMPILE_FLAGS)
# JAX's persistent compilation cache, shared by the xdist workers and the CLI subprocesses the
# tests start (they inherit the environment): a program compiled once in a run is read back
# everywhere else, and a second run reads it all. Set before any test imports JAX.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR",
                      str(Path(__file__).resolve().parents[1] / ".cache" / "jax"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")


def pytest_collection_modifyitems(config, items):
    """The learning check (a ~4-minute training run) goes first, so that one xdist worker runs
    it while the other works through the rest of the slow step, instead of it starting last."""
    items.sort(key=lambda item: item.path.name != "test_learning.py")
